"""HTTPS against HTTP on the same gateway: what TLS termination costs. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free; helpers from bench_proxy.py):
  * upstream: nginx answering ``return 200``, with wrk on the last core;
  * ``konnect-desktop gateway run --proxy-listen-tls`` pinned to core 0, one route, no plugins;
  * nginx as an HTTPS reverse proxy with the same certificate, as the baseline for TLS;
  * wrk ``-t1 -c32`` over keep-alive connections (the handshake is paid once per connection),
    repeated in interleaved rounds; medians, and per round the ratios HTTPS/HTTP of the gateway
    and gateway/nginx over HTTPS (requests per CPU-second of the proxy process).

    .venv/bin/python bench/bench_tls.py [--duration 5] [--connections 32] [--repeat 3]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_proxy import (
    PY,
    ROOT,
    cpus,
    find_nginx,
    free_port,
    stop,
    summarize,
    upstream_conf,
    wait_port,
    wrk,
    wrk_args,  # noqa: E402
)


def nginx_tls_conf(tmp: Path, upstream_port: int, port: int, cert: Path, key: Path) -> Path:
    conf = tmp / "nginx-tls.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx-tls.pid;
error_log {tmp}/tls-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/tbody;
    proxy_temp_path {tmp}/tproxy;
    fastcgi_temp_path {tmp}/tfcgi;
    uwsgi_temp_path {tmp}/tuwsgi;
    scgi_temp_path {tmp}/tscgi;
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }}
    }}
}}
""")
    return conf


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    nginx = find_nginx()
    if nginx is None:
        return 0
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    up_port, gw_port, gw_tls, adm_port, ng_tls = (free_port() for _ in range(5))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port)),
                                       "-p", str(tmp)], stderr=subprocess.DEVNULL))
        config = tmp / "kong.yaml"
        config.write_text(f"""_format_version: "3.0"
services:
- name: bench
  host: 127.0.0.1
  port: {up_port}
  routes:
  - name: plain
    paths: [/plain]
""")
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        db = tmp / "gw.db"
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--proxy-listen-tls", f"127.0.0.1:{gw_tls}",
             "--admin-listen", f"127.0.0.1:{adm_port}", "--db", str(db), "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
        procs.append(gw)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, gw.stderr.read().decode() if gw.stderr else "")
            return 0
        # nginx serves the very certificate the gateway made for itself (kept beside its store)
        cert, key = Path(f"{db}.default-cert.pem"), Path(f"{db}.default-key.pem")
        ng = subprocess.Popen(["taskset", "-c", proxy_cpu, nginx, "-c",
                               str(nginx_tls_conf(tmp, up_port, ng_tls, cert, key)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(ng)
        wait_port(up_port)
        wait_port(ng_tls)
        print(f"proxy on cpu {proxy_cpu}, upstream nginx + wrk on cpu {load_cpu}; wrk -t1 -c{args.connections} "
              f"-d{args.duration}s, {args.repeat} interleaved rounds (medians); the machine is shared")
        contenders = [
            ("nginx, https", f"https://127.0.0.1:{ng_tls}/plain", ng.pid),
            ("konnect-desktop, http", f"http://127.0.0.1:{gw_port}/plain", gw.pid),
            ("konnect-desktop, https", f"https://127.0.0.1:{gw_tls}/plain", gw.pid),
        ]
        for _name, url, _pid in contenders:  # warm-up
            wrk(url, load_cpu, 1, args.connections, [])
        runs: dict[str, list[tuple[float, float, float, float, float]]] = {c[0]: [] for c in contenders}
        for _ in range(args.repeat):
            for name, url, pid in contenders:
                r = wrk(url, load_cpu, args.duration, args.connections, [], pid)
                if r:
                    runs[name].append(r)
        for name, _u, _p in contenders:
            summarize(name, runs[name], True, args.duration)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)

    def ratio(a: str, b: str) -> str:
        pairs = [(x[3], y[3]) for x, y in zip(runs.get(a) or [], runs.get(b) or [], strict=False) if y[3]]
        if not pairs:
            return "n/a"
        rs = sorted(x / y for x, y in pairs)
        return f"{statistics.median(rs):.2f}x (rounds {rs[0]:.2f}-{rs[-1]:.2f})"

    print("gateway https / http, req per CPU-second:", ratio("konnect-desktop, https", "konnect-desktop, http"))
    print("gateway / nginx over https, req per CPU-second:", ratio("konnect-desktop, https", "nginx, https"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
