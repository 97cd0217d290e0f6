"""http-log's cost per request against the plain proxy, as ratios. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free; the helpers are bench_proxy.py's):
  * nginx answering ``return 200`` serves both as the upstream and as the log server;
  * the gateway (``konnect-desktop gateway run``, pinned to core 0) with three routes on one
    service: ``/plain`` (no plugin), ``/log1`` (http-log, Kong's default queue: one POST per
    request) and ``/log100`` (http-log with ``queue.max_batch_size`` 100, batches of JSON arrays);
  * load: wrk on the last core, ``-t1 -c32 -d5s`` by default, rounds interleaved, medians.

The figure that counts is requests per CPU-second of the gateway process: the log records are
serialized in the log phase and sent by the queue's task in the same process, so their whole
cost is in it. Ratios are per round (same machine load), then the median.

    .venv/bin/python bench/bench_http_log.py [--duration 5] [--connections 32] [--repeat 3]
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


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
    log = f"http://127.0.0.1:{upstream_port}/log"
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
      - name: log1
        paths: [/log1]
        plugins:
          - name: http-log
            config: {{http_endpoint: "{log}"}}
      - name: log100
        paths: [/log100]
        plugins:
          - name: http-log
            config: {{http_endpoint: "{log}", queue: {{max_batch_size: 100, max_coalescing_delay: 0.2}}}}
""")
    return p


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    nginx = find_nginx()
    if nginx is None:
        return 0
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-log-"))
    up_port, gw_port, adm_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[tuple[float, float, float, float, float]]] = {}
    try:
        conf = upstream_conf(tmp, up_port)
        # the log server takes request bodies (nginx's return 200 discards them)
        conf.write_text(conf.read_text().replace("access_log off;", "access_log off;\n    client_max_body_size 64m;"))
        up = subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(conf), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(up)
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
             "--db", str(tmp / "gw.db"), "--config", str(gateway_yaml(tmp, up_port)),
             "--access-log", "off"],  # nobody reads stdout after the ready line (nginx: access_log off)
            # stderr to a file: an unread pipe would stall the gateway once it filled up
            stdout=subprocess.PIPE, stderr=(tmp / "gateway.err").open("wb"), env=env, cwd=str(ROOT),
        )
        procs.append(gw)
        wait_port(up_port)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, (tmp / "gateway.err").read_text(errors="replace")[-2000:])
            return 0
        print(f"gateway on cpu {proxy_cpu}, nginx (upstream + log server) + wrk on cpu {load_cpu}; "
              f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.repeat} interleaved rounds (medians)")
        contenders = [
            ("plain proxy", f"http://127.0.0.1:{gw_port}/plain"),
            ("http-log, batch 1", f"http://127.0.0.1:{gw_port}/log1"),
            ("http-log, batch 100", f"http://127.0.0.1:{gw_port}/log100"),
        ]
        for _name, url in contenders:  # warm-up
            wrk(url, load_cpu, 1, args.connections, [])
        runs = {name: [] for name, _u in contenders}
        for _ in range(args.repeat):
            for name, url in contenders:
                r = wrk(url, load_cpu, args.duration, args.connections, [], gw.pid)
                if r:
                    runs[name].append(r)
        for name, _u in contenders:
            summarize(name, runs[name], True, args.duration)
        stop(gw)
        err = (tmp / "gateway.err").read_text(errors="replace").strip()
        if err:
            print("gateway stderr (last lines):", *err.splitlines()[-5:], sep="\n  ")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    base = runs.get("plain proxy") or []
    for name in ("http-log, batch 1", "http-log, batch 100"):
        mine = runs.get(name) or []
        if base and mine:
            ratios = sorted(m[3] / b[3] for m, b in zip(mine, base, strict=False) if b[3])
            if ratios:
                print(f"{name}: {statistics.median(ratios):.2f}x the plain proxy's req per CPU-second"
                      f" (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}); cost per request"
                      f" {1 / statistics.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
