"""Cost per request of the authentication plugins, as ratios to the plain proxy. Prints, never fails.

Same setup as bench_proxy.py (all on 127.0.0.1): nginx upstream answering ``return 200`` and wrk
on the last core, our gateway (``konnect-desktop gateway run``) pinned to core 0, one route per
contender on the same gateway, rounds interleaved so a change in the machine's load hits every
contender alike, medians reported:

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
to ``/plain`` on both (per round, then the median). ``--inprocess`` also times each plugin's access
phase alone (no sockets, no proxy): µs of CPU per call, for a steadier view on a busy machine.
Without wrk/nginx/taskset only the in-process figures are printed.

    .venv/bin/python bench/bench_auth.py [--duration 5] [--connections 32] [--repeat 3] [--inprocess]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_proxy import (
    PY,
    ROOT,
    cpus,
    free_port,
    stop,
    summarize,
    upstream_conf,
    wait_port,
    wrk,
    wrk_args,
)

sys.path.insert(0, str(ROOT))


def keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    public = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def setup(tmp: Path, upstream_port: int) -> tuple[Path, dict[str, list[str]]]:
    """The gateway's decK file and the request headers of each route."""
    from konnect_desktop.plugins.jwt_parser import encode

    private, public = keys()
    hs = encode({"iss": "bench-hs"}, "bench-hs-secret", "HS256")
    rs = encode({"iss": "bench-rs"}, private, "RS256")
    indented = "\n".join("          " + line for line in public.strip().splitlines())
    p = tmp / "kong.yaml"
    p.write_text(f"""
_format_version: "3.0"
services:
  - name: bench
    host: 127.0.0.1
    port: {upstream_port}
    routes:
      - name: plain
        paths: [/plain]
      - name: jwt-hs256
        paths: [/jwt-hs256]
        plugins: [{{name: jwt}}]
      - name: jwt-rs256
        paths: [/jwt-rs256]
        plugins: [{{name: jwt}}]
      - name: basic
        paths: [/basic]
        plugins: [{{name: basic-auth}}]
      - name: key-auth
        paths: [/key-auth]
        plugins: [{{name: key-auth}}]
consumers:
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
    return p, {
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

    path, headers = setup(tmp, 9)
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
    tmp = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    try:
        tools = all(shutil.which(t) or Path(f"/usr/sbin/{t}").exists() for t in ("nginx", "wrk", "taskset"))
        if tools:
            sockets(tmp, args)
        else:
            print("nginx, wrk or taskset not found: socket benchmark skipped (in-process figures only)")
        if args.inprocess or not tools:
            inprocess(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def sockets(tmp: Path, args: argparse.Namespace) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proxy_cpu, load_cpu = cpus()
    up_port, gw_port, adm_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    config, route_headers = setup(tmp, up_port)
    try:
        up = subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(up)
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        errors = (tmp / "gateway.err").open("wb")
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
             "--db", str(tmp / "gw.db"), "--config", str(config),
             "--access-log", "off"],  # as bench_proxy: nobody reads the pipe after the ready line
            stdout=subprocess.PIPE, stderr=errors, env=env, cwd=str(ROOT),
        )
        procs.append(gw)
        wait_port(up_port)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, (tmp / "gateway.err").read_text(errors="replace"))
            return
        print(f"gateway on cpu {proxy_cpu}, upstream nginx + wrk on cpu {load_cpu}; wrk -t1 -c{args.connections} "
              f"-d{args.duration}s, {args.repeat} interleaved rounds (medians)")
        names = list(route_headers)
        for route in names:  # warm-up
            wrk(f"http://127.0.0.1:{gw_port}{route}", load_cpu, 1, args.connections, route_headers[route])
        runs: dict[str, list[tuple[float, float, float, float, float]]] = {r: [] for r in names}
        for _ in range(args.repeat):
            for route in names:
                r = wrk(f"http://127.0.0.1:{gw_port}{route}", load_cpu, args.duration, args.connections,
                        route_headers[route], gw.pid)
                if r:
                    runs[route].append(r)
        for route in names:
            summarize(route, runs[route], True, args.duration)
        base = runs["/plain"]
        for route in names[1:]:
            mine = runs[route]
            if not (base and mine):
                continue
            per_core = statistics.median(m[3] / b[3] for m, b in zip(mine, base, strict=False) if b[3])
            wall = statistics.median(m[0] / b[0] for m, b in zip(mine, base, strict=False) if b[0])
            cost = (1 / per_core - 1) * 100 if per_core else float("nan")
            print(f"ratio to the plain proxy, {route:<11} {per_core:.2f}x req per CPU-second"
                  f" (≈{cost:+.0f}% CPU per request), {wall:.2f}x wall req/s")
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    sys.exit(main())
