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
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def cpus() -> tuple[str, str]:
    n = os.cpu_count() or 1
    return "0", str(n - 1)


def nginx_conf(tmp: Path, upstream_port: int, proxy_port: int) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_pass http://backend;
        }}
    }}
}}
""")
    return conf


def upstream_conf(tmp: Path, upstream_port: int) -> Path:
    conf = tmp / "upstream.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/upstream.pid;
error_log {tmp}/upstream-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/ubody;
    server {{
        listen 127.0.0.1:{upstream_port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    return conf


def plugins_available() -> bool:
    from konnect_desktop import plugins

    return all(plugins.get(n) for n in ("key-auth", "acl", "rate-limiting", "request-transformer"))


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
    p = tmp / "kong.yaml"
    if not plugins_available():
        p.write_text(f"""
_format_version: "3.0"
services:
  - name: bench
    host: 127.0.0.1
    port: {upstream_port}
    routes:
      - name: plain
        paths: [/plain]
""")
        return p
    p.write_text(f"""
_format_version: "3.0"
services:
  - name: bench
    host: 127.0.0.1
    port: {upstream_port}
    routes:
      - name: plain
        paths: [/plain]
      - name: plugins
        paths: [/plugins]
        plugins:
          - name: key-auth
          - name: acl
            config: {{allow: [bench]}}
          - name: rate-limiting
            config: {{second: 1000000000, policy: local}}
          - name: request-transformer
            config: {{add: {{headers: ["X-Bench:1"]}}}}
consumers:
  - username: bench
    keyauth_credentials: [{{key: bench-key}}]
    acls: [{{group: bench}}]
""")
    return p


_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children (nginx workers)."""
    if pid is None:
        return 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, cpu: str, duration: int, conns: int, headers: list[str],
        pid: int | None = None, script: str | None = None) -> tuple[float, float, float, float, float] | None:
    """(wall req/s, p50 ms, p99 ms, req per CPU-second of ``pid``, CPU seconds ``pid`` used);
    ``script``: a wrk Lua script (e.g. one that varies the request)."""
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    for h in headers:
        cmd += ["-H", h]
    c0 = tree_cpu(pid)
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    cpu_used = tree_cpu(pid) - c0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        print(out)
        return None
    lat = {}
    for pct, val, unit in _LAT.findall(out):
        lat[pct] = float(val) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        print(f"    ({non2xx.group(1)} non-2xx responses)")
    n = re.search(r"(\d+) requests in", out)
    per_core = int(n.group(1)) / cpu_used if n and cpu_used > 0 else 0.0
    return float(m.group(1)), lat.get("50", 0.0), lat.get("99", 0.0), per_core, cpu_used


def summarize(name: str, runs: list[tuple[float, float, float, float, float]], per_core: bool,
              duration: int = 0) -> tuple[float, float, float, float] | None:
    if not runs:
        print(f"{name:<30} failed")
        return None
    rps = statistics.median(r[0] for r in runs)
    p50 = statistics.median(r[1] for r in runs)
    p99 = statistics.median(r[2] for r in runs)
    pc = statistics.median(r[3] for r in runs)
    pcs = f"{pc:>8.0f} req/CPU-s" if per_core else " " * 17
    print(f"{name:<30} {rps:>8.0f} req/s  {pcs}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
          f"  (runs: {', '.join(f'{r[0]:.0f}' for r in runs)})")
    if per_core:
        # the basis of req/CPU-s: CPU seconds the proxy process (and its children) used per run
        print(f"{'':<30} per-core runs: {', '.join(f'{r[3]:.0f}' for r in runs)};"
              f" proxy CPU s per {duration}s run: {', '.join(f'{r[4]:.2f}' for r in runs)}")
    return rps, p50, p99, pc


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def wrk_args(doc: str | None, repeat: int) -> argparse.ArgumentParser:
    """The options every wrk-driven bench takes (--duration, --connections, --repeat)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=repeat)
    return ap


def find_nginx() -> str | None:
    """nginx's path when nginx, wrk and taskset are all installed (else None, and says which is not)."""
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} not found: skipping the benchmark")
            return None
    return shutil.which("nginx") or "/usr/sbin/nginx"


def main() -> int:
    ap = wrk_args(__doc__, repeat=5)
    ap.add_argument("--no-inprocess", action="store_true",
                    help="skip the in-process part (per-plugin cost, profile summary)")
    args = ap.parse_args()
    nginx = find_nginx()
    if nginx is None:
        return 0
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    up_port, ng_port, gw_port, adm_port = free_port(), free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up = subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(up)
        ng = subprocess.Popen(["taskset", "-c", proxy_cpu, nginx, "-c", str(nginx_conf(tmp, up_port, ng_port)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(ng)
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
             "--db", str(tmp / "gw.db"), "--config", str(gateway_yaml(tmp, up_port)),
             "--access-log", "off"],  # nobody reads the pipe after the ready line (nginx: access_log off)
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT),
        )
        procs.append(gw)
        wait_port(up_port)
        wait_port(ng_port)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, gw.stderr.read().decode() if gw.stderr else "")
            return 0
        print(f"proxy on cpu {proxy_cpu}, upstream nginx + wrk on cpu {load_cpu}; wrk -t1 -c{args.connections} "
              f"-d{args.duration}s, {args.repeat} interleaved rounds (medians)")
        contenders = [
            ("upstream nginx (direct)", f"http://127.0.0.1:{up_port}/", [], None),
            ("nginx reverse proxy", f"http://127.0.0.1:{ng_port}/", [], ng.pid),
            ("konnect-desktop, no plugins", f"http://127.0.0.1:{gw_port}/plain", [], gw.pid),
        ]
        if plugins_available():
            contenders.append(("konnect-desktop, 4 plugins", f"http://127.0.0.1:{gw_port}/plugins",
                               ["apikey: bench-key"], gw.pid))
        else:
            print("plugins not available: skipping the plugin run")
        for _name, url, headers, _pid in contenders:  # warm-up
            wrk(url, load_cpu, 1, args.connections, headers)
        runs: dict[str, list[tuple[float, float, float, float, float]]] = {c[0]: [] for c in contenders}
        # round by round, so that a change in the machine's load hits every contender alike
        for _ in range(args.repeat):
            for name, url, headers, pid in contenders:
                r = wrk(url, load_cpu, args.duration, args.connections, headers, pid)
                if r:
                    runs[name].append(r)
        results = {name: summarize(name, runs[name], pid is not None, args.duration)
                   for name, _u, _h, pid in contenders}
        # latency at one connection: what the proxy adds to a single request
        lat1: dict[str, list[float]] = {c[0]: [] for c in contenders}
        for _ in range(args.repeat):
            for name, url, headers, pid in contenders:
                r = wrk(url, load_cpu, max(2, args.duration // 2), 1, headers, pid)
                if r:
                    lat1[name].append(r[1])
        print("p50 at 1 connection (medians): " + ", ".join(
            f"{name} {statistics.median(v) * 1000:.0f} µs" for name, v in lat1.items() if v))
        base = lat1.get("nginx reverse proxy") or []
        for name in ("konnect-desktop, no plugins", "konnect-desktop, 4 plugins"):
            mine = lat1.get(name) or []
            if base and mine:
                deltas = sorted((m - b) * 1000 for m, b in zip(mine, base, strict=False))
                print(f"  {name}: +{statistics.median(deltas):.0f} µs p50 over nginx (rounds "
                      f"{', '.join(f'{d:+.0f}' for d in deltas)})")
        stop(gw)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    base_runs = runs.get("nginx reverse proxy") or []
    for name, label in (("konnect-desktop, no plugins", "no plugins"),
                        ("konnect-desktop, 4 plugins", "key-auth+acl+rate-limiting+request-transformer")):
        mine = runs.get(name) or []
        if base_runs and mine and results.get(name):
            # per-round ratios (same round = same machine load), then the median
            ratios = sorted(m[3] / b[3] for m, b in zip(mine, base_runs, strict=False) if b[3])
            per_core = statistics.median(ratios)
            wall = statistics.median(m[0] / b[0] for m, b in zip(mine, base_runs, strict=False) if b[0])
            print(f"ratio to nginx, {label}: {per_core:.2f}x req per CPU-second (per core; rounds"
                  f" {ratios[0]:.2f}-{ratios[-1]:.2f}), {wall:.2f}x wall req/s")
    print("(wall req/s of the proxies is capped by the load generator and upstream sharing one core;"
          " the per-core figure is the comparison that counts)")
    if not args.no_inprocess:
        inprocess(tmp)
    return 0


PLUGIN_ALONE = {
    "key-auth": "          - name: key-auth\n",
    "acl": "          - name: acl\n            config: {allow: [bench]}\n",
    "rate-limiting": "          - name: rate-limiting\n            config: {second: 1000000000, policy: local}\n",
    "request-transformer": "          - name: request-transformer\n            config: {add: {headers: [\"X-Bench:1\"]}}\n",
}


def single_plugin_yaml(tmp: Path) -> Path:
    """One route per plugin alone (/only-<name>), for the per-plugin cost. acl alone still needs
    a consumer: key-auth identifies one on that route too, and its cost is subtracted."""
    routes = ""
    for name, block in PLUGIN_ALONE.items():
        extra = PLUGIN_ALONE["key-auth"] if name == "acl" else ""
        routes += f"      - name: only-{name}\n        paths: [/only-{name}]\n        plugins:\n{extra}{block}"
    p = tmp / "single.yaml"
    p.write_text(gateway_yaml(tmp, 9).read_text().replace("consumers:", "").replace(
        "      - name: plugins\n", routes + "      - name: plugins\n").replace(
        "  - username: bench", "consumers:\n  - username: bench"))
    return p


def inprocess(tmp: Path, n: int = 5000, rounds: int = 5) -> None:
    """The proxy's per-request Python cost without sockets (fake transports on both sides):
    each plugin's cost alone, and a profile summary of the 4-plugin route."""
    import asyncio
    import cProfile
    import io
    import pstats

    from konnect_desktop.model import declarative
    from konnect_desktop.runtime.config_view import build_snapshot
    from konnect_desktop.runtime.dataplane import ClientConnection, ProxyServer, Services
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

    async def run() -> None:
        tmp.mkdir(parents=True, exist_ok=True)
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
        times: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(rounds):  # interleaved: a change in the machine's load hits every path alike
            for path in paths:
                c0 = time.process_time()
                await drivers[path](n)
                times[path].append((time.process_time() - c0) / n * 1e6)
        med = {p: statistics.median(v) for p, v in times.items()}
        print(f"in-process CPU per request (no syscalls; medians of {rounds} rounds of {n}): "
              f"no plugins {med['/plain']:.1f} µs, 4 plugins {med['/plugins']:.1f} µs")
        ka = med["/only-key-auth"] - med["/plain"]
        for name in PLUGIN_ALONE:
            cost = med[f"/only-{name}"] - med["/plain"] - (ka if name == "acl" else 0.0)
            print(f"  cost of {name} alone: {cost:5.1f} µs/request"
                  + (" (key-auth's cost subtracted: acl needs a consumer)" if name == "acl" else ""))
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

    try:  # the loop ``gateway run`` uses, so the figures and the profile are the served ones
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    sys.exit(main())
