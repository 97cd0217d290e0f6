"""What the local Dev Portal's pages cost. Prints, never fails.

One in-process runtime with the portal (examples/openai-portal), an aiohttp client on 127.0.0.1
keeping one connection, rounds interleaved so a change in the machine's load hits every page
alike; medians of the per-round medians:

  * ``/static/portal.css``  a file, no template (the baseline)
  * ``/``                   the catalog (one store read per product)
  * ``/products/…/v1``      a version page: the OpenAPI document parsed and rendered
  * sign-up                 one Argon2id hash (argon2-cffi defaults), in-process

    .venv/bin/python bench/bench_portal.py [--requests 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def main(requests: int, repeat: int) -> None:
    import aiohttp

    from konnect_desktop.model import declarative
    from konnect_desktop.runtime.portal.accounts import PasswordHasher
    from konnect_desktop.runtime.runtime import LocalRuntime

    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    rt = LocalRuntime("bench", db_path=tmp / "b.db", admin_listen=None, portal_listen=("127.0.0.1", 0))
    await rt.start()
    try:
        rt.store.replace_all(declarative.load(ROOT / "examples" / "openai-portal" / "kong.yaml"))
        rt.portal.catalog.load_side_file(ROOT / "examples" / "openai-portal" / "kong.yaml")
        [p] = rt.portal.catalog.list_products()
        pages = {"css": "/static/portal.css", "catalog": "/", "version": f"/products/{p['id']}/v1"}
        per: dict[str, list[float]] = {k: [] for k in pages}
        async with aiohttp.ClientSession(base_url=rt.portal_url) as http:
            for _ in range(repeat):
                for name, path in pages.items():
                    times = []
                    for _ in range(requests):
                        t0 = time.perf_counter()
                        async with http.get(path) as r:
                            await r.read()
                            assert r.status == 200
                        times.append(time.perf_counter() - t0)
                    per[name].append(statistics.median(times))
        base = statistics.median(per["css"])
        print(f"portal pages, median of {repeat} rounds x {requests} requests (shared machine: noisy)")
        for name, vals in per.items():
            m = statistics.median(vals)
            print(f"  {name:8s} {m * 1000:7.2f} ms   x{m / base:5.1f} the static file")
        hasher = PasswordHasher()
        hashes = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            hasher.hash("correct horse battery")
            hashes.append(time.perf_counter() - t0)
        print(f"  argon2id hash (sign-up / failed-log-in cost): {statistics.median(hashes) * 1000:.1f} ms")
    finally:
        await rt.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(main(args.requests, args.repeat))
