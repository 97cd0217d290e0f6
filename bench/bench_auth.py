"""Cost per request of the authentication plugins, as ratios to the plain proxy. Prints, never fails.

Same setup as bench_proxy.py (all on 127.0.0.1, through wrk_harness.py): nginx upstream
answering ``return 200`` and wrk on the last core, our gateway (``konnect-desktop gateway run``)
pinned to core 0, one route per contender on the same gateway, rounds interleaved so a change in
the machine's load hits every contender alike, medians reported:

  * ``/plain``      no plugin (the baseline)
  * ``/jwt-hs256``  jwt, an HS256 token in ``Authorization: Bearer``
  * ``/jwt-rs256``  jwt, an RS256 token (2048-bit key)
  * ``/basic``      basic-auth (SHA1 of password + consumer id, as Kong)
  * ``/key-auth``   key-auth, for reference (sockets only). It still has ``access_sync``, which
                    the proxy runs on its callback lane; the plugins above have only the plain
                    ``access`` of the plugin contract, which today's proxy runs on its general
                    (coroutine) path — most of the gap between them is that path, not the checks
                    (compare the in-process figures)

Figures: wall req/s and requests per CPU-second of the gateway process, and each plugin's ratio
to ``/plain`` on both (per round, then the median), with the CPU per request that implies.
``--inprocess`` also times each plugin's access phase alone (no sockets, no proxy): µs of CPU
per call, for a steadier view on a busy machine.
Without wrk/nginx/taskset only the in-process figures are printed.

    .venv/bin/python bench/bench_auth.py [--duration 5] [--connections 32] [--repeat 3] [--inprocess]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wrk_harness import (
    Contender,
    find_nginx,
    interleaved,
    report,
    upstream_and_gateway,
    write_deck,
    wrk_args,
)


def keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    public = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def setup() -> tuple[Callable[[Path, int], Path], dict[str, list[str]]]:
    """The gateway's decK file (a function of the folder and the upstream port, as
    ``upstream_and_gateway`` takes it) and the request headers of each route."""
    from konnect_desktop.plugins.jwt_parser import encode

    private, public = keys()
    hs = encode({"iss": "bench-hs"}, "bench-hs-secret", "HS256")
    rs = encode({"iss": "bench-rs"}, private, "RS256")
    indented = "\n".join("          " + line for line in public.strip().splitlines())

    def deck(tmp: Path, upstream_port: int) -> Path:
        return write_deck(tmp, upstream_port, """      - name: jwt-hs256
        paths: [/jwt-hs256]
        plugins: [{name: jwt}]
      - name: jwt-rs256
        paths: [/jwt-rs256]
        plugins: [{name: jwt}]
      - name: basic
        paths: [/basic]
        plugins: [{name: basic-auth}]
      - name: key-auth
        paths: [/key-auth]
        plugins: [{name: key-auth}]
""", f"""consumers:
  - username: bench
    keyauth_credentials: [{{key: bench-key}}]
    basicauth_credentials: [{{username: bench, password: bench-password}}]
    jwt_secrets:
      - key: bench-hs
        secret: bench-hs-secret
      - key: bench-rs
        algorithm: RS256
        rsa_public_key: |
{indented}
""")

    basic = "Basic " + base64.b64encode(b"bench:bench-password").decode()
    return deck, {
        "/plain": [],
        "/jwt-hs256": [f"Authorization: Bearer {hs}"],
        "/jwt-rs256": [f"Authorization: Bearer {rs}"],
        "/basic": [f"Authorization: {basic}"],
        "/key-auth": ["apikey: bench-key"],
    }


def inprocess(tmp: Path, n: int = 5000) -> None:
    """Each plugin's access phase alone, on a prepared request context (µs of CPU per call)."""
    from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

    from konnect_desktop import plugins
    from konnect_desktop.model import declarative
    from konnect_desktop.plugins.base import OriginalRequest, RequestContext
    from konnect_desktop.plugins.config_view import ConfigIndex
    from konnect_desktop.runtime.dataplane import Services
    from konnect_desktop.runtime.store import Store

    deck, headers = setup()
    path = deck(tmp, 9)
    store = Store(tmp / "inproc.db")  # the file goes through the store: basic-auth hashes on load
    try:
        store.replace_all(declarative.load(path))
        index = ConfigIndex.build(store.export())
    finally:
        store.close()
    services = Services("bench")

    def per_call(route: str, handler: Any) -> float:
        pairs = [tuple(h.split(": ", 1)) for h in headers[route]]
        times = []
        for _ in range(3):
            c0 = time.process_time()
            for _ in range(n):
                h = CIMultiDict(pairs)
                orig = OriginalRequest("GET", route, route, MultiDict(), CIMultiDictProxy(CIMultiDict(pairs)), "http",
                                       "127.0.0.1", 8000)
                ctx = RequestContext("r", "127.0.0.1", orig, "GET", route, MultiDict(), h, None, None, index, services)
                if handler is not None:
                    handler.access(ctx)
                    assert ctx.consumer is not None
            times.append((time.process_time() - c0) / n * 1e6)
        return statistics.median(times)

    base = per_call("/basic", None)  # building the request context alone, subtracted below
    print(f"in-process: building a request context costs {base:.1f} µs CPU (subtracted)")
    for route, plugin in (("/jwt-hs256", "jwt"), ("/jwt-rs256", "jwt"), ("/basic", "basic-auth")):
        spec = plugins.get(plugin)
        assert spec is not None and spec.handler is not None
        config = plugins.validate_plugin({"name": plugin, "config": {}})["config"]
        handler = spec.handler(config, {"name": plugin}, services)
        print(f"in-process {route:<11} access phase {per_call(route, handler) - base:7.1f} µs CPU per call")


def main() -> int:
    ap = wrk_args(__doc__, repeat=3)
    ap.add_argument("--inprocess", action="store_true", help="also time each plugin's access phase alone")
    args = ap.parse_args()
    tools = find_nginx("the socket benchmark (in-process figures only)") is not None
    if tools:
        sockets(args)
    if args.inprocess or not tools:
        with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
            inprocess(Path(tmp))
    return 0


def sockets(args: argparse.Namespace) -> None:
    deck, route_headers = setup()
    with upstream_and_gateway("bench-auth-", deck) as rig:
        if rig is None:
            return
        rig.banner(args)
        contenders = [Contender(route, rig.url(route), headers, rig.gateway.pid)
                      for route, headers in route_headers.items()]
        runs = interleaved(contenders, rig.load_cpu, args.duration, args.connections, args.repeat)
        report(runs, contenders, args.duration, "/plain")


if __name__ == "__main__":
    sys.exit(main())
