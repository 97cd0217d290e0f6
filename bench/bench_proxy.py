"""Proxy throughput against nginx: req/s on one core and p50/p99 latency. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free):
  * upstream: nginx answering ``return 200`` (a fast, neutral upstream), pinned to the last core;
  * proxy under test, pinned to core 0: nginx as a keep-alive reverse proxy, then our gateway
    (``konnect-desktop gateway run``) without plugins, then with key-auth + acl +
    rate-limiting (huge limit) + request-transformer on the route;
  * load: wrk on the last core, ``-t1 -c32 -d5s`` by default, repeated, medians reported.

Two throughput figures: wall req/s, and requests per CPU-second of the proxy process (its
user + system time from /proc): the second is "req/s per core" and stays meaningful when other
work shares the machine. The ratios to nginx are printed for both.

    .venv/bin/python bench/bench_proxy.py [--duration 5] [--connections 32] [--repeat 3]
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
        pid: int | None = None) -> tuple[float, float, float, float] | None:
    """(wall req/s, p50 ms, p99 ms, req per CPU-second of ``pid``)."""
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
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
    return float(m.group(1)), lat.get("50", 0.0), lat.get("99", 0.0), per_core


def measure(name: str, url: str, cpu: str, args: argparse.Namespace, headers: list[str] | None = None,
            pid: int | None = None) -> tuple[float, float, float, float] | None:
    wrk(url, cpu, 1, args.connections, headers or [])  # warm-up
    runs = [r for r in (wrk(url, cpu, args.duration, args.connections, headers or [], pid)
                        for _ in range(args.repeat)) if r]
    if not runs:
        print(f"{name:<34} failed")
        return None
    rps = statistics.median(r[0] for r in runs)
    p50 = statistics.median(r[1] for r in runs)
    p99 = statistics.median(r[2] for r in runs)
    per_core = statistics.median(r[3] for r in runs)
    pc = f"{per_core:>8.0f} req/CPU-s" if pid else " " * 17
    print(f"{name:<30} {rps:>8.0f} req/s  {pc}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
          f"  (runs: {', '.join(f'{r[0]:.0f}' for r in runs)})")
    return rps, p50, p99, per_core


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-nginx", action="store_true")
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} not found: skipping the benchmark")
            return 0
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    up_port, ng_port, gw_port, adm_port = free_port(), free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, tuple[float, float, float] | None] = {}
    try:
        up = subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(up)
        wait_port(up_port)
        print(f"proxy on cpu {proxy_cpu}, upstream nginx + wrk on cpu {load_cpu}; wrk -t1 -c{args.connections} "
              f"-d{args.duration}s x{args.repeat} (medians)")
        results["upstream direct"] = measure("upstream nginx (direct)", f"http://127.0.0.1:{up_port}/", load_cpu, args)
        if not args.skip_nginx:
            conf = nginx_conf(tmp, up_port, ng_port)
            ng = subprocess.Popen(["taskset", "-c", proxy_cpu, nginx, "-c", str(conf), "-p", str(tmp)],
                                  stderr=subprocess.DEVNULL)
            procs.append(ng)
            wait_port(ng_port)
            results["nginx"] = measure("nginx reverse proxy", f"http://127.0.0.1:{ng_port}/", load_cpu, args,
                                       pid=ng.pid)
            stop(ng)
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
             "--db", str(tmp / "gw.db"), "--config", str(gateway_yaml(tmp, up_port))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT),
        )
        procs.append(gw)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, gw.stderr.read().decode() if gw.stderr else "")
            return 0
        results["ours"] = measure("konnect-desktop, no plugins", f"http://127.0.0.1:{gw_port}/plain", load_cpu, args,
                                  pid=gw.pid)
        if not plugins_available():
            print("plugins not available: skipping the plugin run")
        else:
            results["ours+plugins"] = measure("konnect-desktop, 4 plugins", f"http://127.0.0.1:{gw_port}/plugins",
                                              load_cpu, args, ["apikey: bench-key"], pid=gw.pid)
        stop(gw)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    base = results.get("nginx")
    if base:
        for key, label in (("ours", "no plugins"), ("ours+plugins", "key-auth+acl+rate-limiting+request-transformer")):
            r = results.get(key)
            if r:
                print(f"ratio to nginx, {label}: {r[0] / base[0]:.2f}x wall req/s, "
                      f"{r[3] / base[3]:.2f}x req per CPU-second (per core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
