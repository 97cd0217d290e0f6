"""Proxy throughput against nginx: req/s on one core and p50/p99 latency. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free):
  * upstream: nginx answering ``return 200`` (a fast, neutral upstream), pinned to the last core;
  * proxy under test, pinned to core 0: nginx as a keep-alive reverse proxy, then our gateway
    (``konnect-desktop gateway run``) without plugins, then with key-auth + acl +
    rate-limiting (huge limit) + request-transformer on the route;
  * load: wrk on the last core, ``-t1 -c32 -d5s`` by default, repeated, medians reported.

Two throughput figures: wall req/s, and requests per CPU-second of the proxy process (its
user + system time from /proc): the second is "req/s per core" and stays meaningful when other
work shares the machine. The ratios to nginx are printed for both. Then p50 latency at ONE
connection (the proxy's own added latency, over nginx's), each of the four plugins' cost alone
in µs per request, and a profile summary (top functions by own time while driving requests
through the proxy in-process), so the next person starts where the last one stopped.

Needs wrk, nginx and taskset (Debian: ``wrk nginx-light util-linux``); ``scripts/bench``
installs them and runs this:

    scripts/bench bench_proxy.py [--duration 5] [--connections 32] [--repeat 5]
    .venv/bin/python bench/bench_proxy.py ...   (when the tools are there)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# the helpers other benches took from here live in wrk_harness; they stay importable from here
from wrk_harness import (  # noqa: F401
    PY,
    ROOT,
    Contender,
    cpus,
    find_nginx,
    free_port,
    interleaved,
    nginx_proxy_conf,
    report,
    stop,
    summarize,
    tree_cpu,
    upstream_and_gateway,
    upstream_conf,
    wait_port,
    write_deck,
    wrk,
    wrk_args,
)


def plugins_available() -> bool:
    from konnect_desktop import plugins

    return all(plugins.get(n) for n in ("key-auth", "acl", "rate-limiting", "request-transformer"))


PLUGIN_ALONE = {
    "key-auth": "          - name: key-auth\n",
    "acl": "          - name: acl\n            config: {allow: [bench]}\n",
    "rate-limiting": "          - name: rate-limiting\n            config: {second: 1000000000, policy: local}\n",
    "request-transformer": "          - name: request-transformer\n            config: {add: {headers: [\"X-Bench:1\"]}}\n",
}


def _route(name: str, plugins: str) -> str:
    """A decK route item ``/<name>`` with the plugin items ``plugins``."""
    return f"      - name: {name}\n        paths: [/{name}]\n        plugins:\n{plugins}"


PLUGINS_ROUTE = _route("plugins", "".join(PLUGIN_ALONE.values()))
CONSUMERS = """consumers:
  - username: bench
    keyauth_credentials: [{key: bench-key}]
    acls: [{group: bench}]
"""


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
    """/plain (no plugins) and, when the four plugins are there, /plugins with all four."""
    if not plugins_available():
        return write_deck(tmp, upstream_port)
    return write_deck(tmp, upstream_port, PLUGINS_ROUTE, CONSUMERS)


def main() -> int:
    ap = wrk_args(__doc__, repeat=5)
    ap.add_argument("--no-inprocess", action="store_true",
                    help="skip the in-process part (per-plugin cost, profile summary)")
    ap.add_argument("--profile-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_only:  # the plain-Python child inprocess() starts for its profile
        inprocess(timings=False)
        return 0
    with upstream_and_gateway("bench-proxy-", gateway_yaml) as rig:
        if rig is None:
            return 0
        ng_port = free_port()
        ng = rig.start_nginx(nginx_proxy_conf(rig.tmp, rig.upstream_port, ng_port), ng_port)
        rig.banner(args, proxy="proxy")
        gw = rig.gateway.pid
        contenders = [
            Contender("upstream nginx (direct)", f"http://127.0.0.1:{rig.upstream_port}/"),
            Contender("nginx reverse proxy", f"http://127.0.0.1:{ng_port}/", pid=ng.pid),
            Contender("konnect-desktop, no plugins", rig.url("/plain"), pid=gw),
        ]
        if plugins_available():
            contenders.append(Contender("konnect-desktop, 4 plugins", rig.url("/plugins"),
                                        ["apikey: bench-key"], gw))
        else:
            print("plugins not available: skipping the plugin run")
        runs = interleaved(contenders, rig.load_cpu, args.duration, args.connections, args.repeat)
        report(runs, contenders, args.duration, "nginx reverse proxy")
        print("(wall req/s of the proxies is capped by the load generator and upstream sharing one core;"
              " the per-core figure is the comparison that counts)")
        # latency at one connection: what the proxy adds to a single request
        lat1 = interleaved(contenders, rig.load_cpu, max(2, args.duration // 2), 1, args.repeat, warmup=False)
        print("p50 at 1 connection (medians): " + ", ".join(
            f"{name} {statistics.median(r[1] for r in v) * 1000:.0f} µs" for name, v in lat1.items() if v))
        base = [r[1] for r in lat1["nginx reverse proxy"]]
        for c in contenders[2:]:
            mine = [r[1] for r in lat1[c.name]]
            if base and mine:
                deltas = sorted((m - b) * 1000 for m, b in zip(mine, base, strict=False))
                print(f"  {c.name}: +{statistics.median(deltas):.0f} µs p50 over nginx (rounds "
                      f"{', '.join(f'{d:+.0f}' for d in deltas)})")
    if not args.no_inprocess:
        inprocess()
    return 0


def single_plugin_yaml(tmp: Path) -> Path:
    """One route per plugin alone (/only-<name>), for the per-plugin cost. acl alone still needs
    a consumer: key-auth identifies one on that route too, and its cost is subtracted."""
    routes = "".join(_route(f"only-{name}", (PLUGIN_ALONE["key-auth"] if name == "acl" else "") + block)
                     for name, block in PLUGIN_ALONE.items())
    return write_deck(tmp, 9, routes + PLUGINS_ROUTE, CONSUMERS, name="single.yaml")


def inprocess(n: int = 20000, rounds: int = 5, timings: bool = True) -> None:
    """The proxy's per-request Python cost without sockets (fake transports on both sides):
    each plugin's cost alone, and a profile summary of the 4-plugin route.

    The timings are of the proxy modules as this process runs them (compiled when built, see
    konnect_desktop/native.py). cProfile cannot see inside compiled modules, so when they are,
    the call counts and the profile come from a child running the same sources as plain Python
    (``timings=False``): where the time goes, function by function."""
    import asyncio
    import gc

    from konnect_desktop import native
    from konnect_desktop.model import declarative
    from konnect_desktop.runtime.config_view import build_snapshot
    from konnect_desktop.runtime.dataplane import ClientConnection, ProxyServer, Services
    from konnect_desktop.runtime.gateway_cli import GC_YOUNG_THRESHOLD
    from konnect_desktop.runtime.traffic import TrafficLog
    from konnect_desktop.runtime.upstream import UpstreamConnection

    canned = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")

    class _Sock:
        def setsockopt(self, *a: object) -> None:
            pass

    class _T(asyncio.Transport):
        def __init__(self, on_write: object) -> None:
            super().__init__()
            self.on_write = on_write

        def get_extra_info(self, name: str, default: object = None) -> object:
            return {"peername": ("127.0.0.1", 40000), "socket": _Sock()}.get(name, default)

        def write(self, data: bytes) -> None:  # type: ignore[override]
            self.on_write()  # type: ignore[operator]

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

    async def run(tmp: Path) -> None:
        services = Services("bench")
        if not plugins_available():
            print("plugins not available: no per-plugin cost")
            return
        snap = build_snapshot(1, declarative.load(single_plugin_yaml(tmp)), services)
        loop = asyncio.get_running_loop()
        srv = ProxyServer(snap, services, TrafficLog(), loop)
        srv.port = 8000
        up = UpstreamConnection(srv.pool, ("127.0.0.1", 9))
        up.connection_made(_T(lambda: loop.call_soon(up.data_received, canned)))
        srv.pool._release(up)
        paths = ["/plain", "/plugins"] + [f"/only-{name}" for name in PLUGIN_ALONE]
        drivers = {}
        for path in paths:
            done: list[asyncio.Future[None]] = []
            conn = ClientConnection(srv)
            conn.connection_made(_T(lambda done=done: done[-1].set_result(None)))
            req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\napikey: bench-key\r\nUser-Agent: wrk\r\n\r\n".encode()

            async def drive(k: int, conn=conn, req=req, done=done) -> None:
                for _ in range(k):
                    done.append(loop.create_future())
                    conn.data_received(req)
                    await done[-1]
                    done.clear()
            drivers[path] = drive
            await drive(500)  # warm-up (router cache, chains, pool)
        if not timings:
            await _calls_and_profile(drivers, n)
            return
        # as served: ``gateway run``'s collector setting, on one core (less noise between rounds)
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(cpus()[0])})
        times: dict[str, list[float]] = {p: [] for p in paths}
        slow: dict[str, list[int]] = {p: [0, 0] for p in paths}  # steps that waited, heads rebuilt
        for _ in range(rounds):  # interleaved: a change in the machine's load hits every path alike
            for path in paths:
                w0, h0 = srv.waits, srv.head_rebuilds
                c0 = time.process_time()
                await drivers[path](n)
                times[path].append((time.process_time() - c0) / n * 1e6)
                slow[path][0] += srv.waits - w0
                slow[path][1] += srv.head_rebuilds - h0
        med = {p: statistics.median(v) for p, v in times.items()}
        print(f"in-process, proxy modules {native.status}")
        print(f"in-process CPU per request (no syscalls; medians of {rounds} rounds of {n}): "
              f"no plugins {med['/plain']:.1f} µs, 4 plugins {med['/plugins']:.1f} µs")
        # each plugin's cost: the difference to the plain route within each round (the two ran
        # back to back, under the same load), then the median of those differences
        for name in PLUGIN_ALONE:
            base = "/only-key-auth" if name == "acl" else "/plain"  # acl needs key-auth's consumer
            diffs = [t - b for t, b in zip(times[f"/only-{name}"], times[base], strict=True)]
            print(f"  cost of {name} alone: {statistics.median(diffs):5.1f} µs/request (rounds "
                  f"{min(diffs):.1f} to {max(diffs):.1f})"
                  + (" (over key-auth's route: acl needs a consumer)" if name == "acl" else ""))
        # the fast path's two counts (ProxyServer): any step that waited or head rebuilt here is
        # a plugin leaving the plain-call, pass-the-bytes path
        print("slow-path steps per 1,000 requests (waited / response head rebuilt): " + ", ".join(
            f"{p} {w * 1000 / (n * rounds):g}/{h * 1000 / (n * rounds):g}" for p, (w, h) in slow.items()))
        if not native.status.compiled:
            await _calls_and_profile(drivers, 5000)

    try:  # the loop ``gateway run`` uses, so the figures and the profile are the served ones
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with tempfile.TemporaryDirectory(prefix="bench-proxy-inprocess-") as tmp:
        runner(run(Path(tmp)))
    if timings and native.status.compiled:
        import subprocess

        print("(calls and profile: the same sources as plain Python, in a child process — cProfile "
              "cannot see inside compiled modules)", flush=True)
        env = dict(os.environ, **{native.ENV_PURE: "1"})
        subprocess.run([sys.executable, __file__, "--profile-only"], env=env, check=False)


async def _calls_and_profile(drivers: dict, n: int) -> None:
    """Function calls per request and the top functions by own time, 4-plugin route."""
    import cProfile
    import io
    import pstats

    # calls per request: a count, the same on a quiet machine and a busy one (times are not)
    calls = {}
    for path in ("/plain", "/plugins"):
        counter = cProfile.Profile()
        counter.enable()
        await drivers[path](1000)
        counter.disable()
        calls[path] = pstats.Stats(counter).total_calls / 1000
    print(f"function calls per request (cProfile's count; deterministic): no plugins {calls['/plain']:.0f}, "
          f"4 plugins {calls['/plugins']:.0f}")
    prof = cProfile.Profile()
    prof.enable()
    await drivers["/plugins"](n)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    print(f"profile, 4-plugin route ({n} requests in-process): top functions by own time")
    for ln in lines[start:start + 16]:
        print("  " + ln.replace(str(ROOT) + "/", "").replace(os.path.dirname(os.__file__) + "/", ""))


if __name__ == "__main__":
    sys.exit(main())
