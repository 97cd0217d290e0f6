"""Store speed: single inserts per second, listing 10k services page by page, replace_all of 10k
entities, export. Prints medians of a few runs; never fails on time.

    .venv/bin/python bench/bench_store.py [--runs 3] [--n 10000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from konnect_desktop.runtime.store import Store


def _config(n: int) -> dict[str, list[dict]]:
    """n entities: n/2 services, n/2 routes (one per service), tagged."""
    half = n // 2
    services = [{"id": str(uuid.uuid4()), "name": f"svc-{i}", "host": "example.com", "tags": [f"team-{i % 10}"]}
                for i in range(half)]
    routes = [{"id": str(uuid.uuid4()), "name": f"route-{i}", "paths": [f"/r/{i}"],
               "service": {"id": services[i]["id"]}} for i in range(half)]
    return {"services": services, "routes": routes}


def run_once(folder: Path, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with Store(folder / "insert.db") as s:
        k = 2000
        t0 = time.perf_counter()
        for i in range(k):
            s.insert("services", {"name": f"s{i}", "host": "example.com"})
        out["insert/s (own commit each)"] = k / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with s.transaction():
            for i in range(k):
                s.insert("consumers", {"username": f"u{i}"})
        out["insert/s (one transaction)"] = k / (time.perf_counter() - t0)

    with Store(folder / "big.db") as s:
        cfg = _config(n)
        t0 = time.perf_counter()
        s.replace_all(cfg)
        out[f"replace_all {n} entities (s)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        s.replace_all(cfg)
        out[f"replace_all {n} again, over itself (s)"] = time.perf_counter() - t0

        services = {"services": [dict(e) for e in _config(2 * n)["services"]]}
        s.replace_all(services)  # n services
        t0 = time.perf_counter()
        offset, pages = None, 0
        while True:
            _page, offset = s.page("services", size=1000, offset=offset)
            pages += 1
            if offset is None:
                break
        out[f"page through {n} services, size 1000 (ms)"] = (time.perf_counter() - t0) * 1000
        middle = _page_offset(s, n // 2)
        t0 = time.perf_counter()
        s.page("services", size=100, offset=middle)
        out["one page of 100 from the middle (ms)"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        s.page("services", size=100, tags=["team-3"])
        out["one tag-filtered page of 100 (ms)"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        s.all("services")
        out[f"all() of {n} services (ms)"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        s.get("services", f"svc-{n // 2}")
        out["get by name (ms)"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        s.export()
        out[f"export of {n} services (ms)"] = (time.perf_counter() - t0) * 1000
    return out


def _page_offset(s: Store, skip: int) -> str | None:
    offset = None
    while skip > 0:
        _p, offset = s.page("services", size=min(1000, skip), offset=offset)
        skip -= 1000
    return offset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            for k, v in run_once(Path(d), args.n).items():
                results.setdefault(k, []).append(v)
    width = max(map(len, results))
    for k, vs in results.items():
        print(f"{k:<{width}}  median {statistics.median(vs):10.2f}   (runs: {', '.join(f'{v:.2f}' for v in vs)})")


if __name__ == "__main__":
    main()
