"""proxy-cache's cost per request against the plain proxy: a cache hit and a cache miss, as
ratios. Prints, never fails.

Setup as bench_proxy.py (all on 127.0.0.1): nginx answering ``return 200 "ok"`` (text/plain) as
the upstream and wrk on the last core, our gateway (``konnect-desktop gateway run``) pinned to
core 0 with three routes on that upstream:
  * ``/plain``: no plugins (the baseline);
  * ``/trivial``: bot-detection, which passes wrk's requests (no User-Agent) at once: the cost of
    running any plugin at all, which a hit also pays;
  * ``/hit``: proxy-cache (memory strategy); every request asks for the same URL, so after the
    first one every request is answered from the cache without reaching the upstream;
  * ``/miss``: proxy-cache; a wrk script gives every request its own query string, so every request
    is a miss that goes upstream and stores its response.
wrk ``-t1 -c32 -d5s`` by default, contenders interleaved round by round, medians reported. The
figure that counts is requests per CPU-second of the gateway process (its user + system time
from /proc), as a ratio to the plain proxy measured in the same round.

    .venv/bin/python bench/bench_proxy_cache.py [--duration 5] [--connections 32] [--repeat 3]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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
    wrk_args,
)

MISS_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/miss?n=" .. n)
end
"""


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
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
      - name: trivial
        paths: [/trivial]
        plugins:
          - name: bot-detection
      - name: hit
        paths: [/hit]
        plugins:
          - name: proxy-cache
            config: {{strategy: memory, cache_ttl: 3600}}
      - name: miss
        paths: [/miss]
        plugins:
          - name: proxy-cache
            config: {{strategy: memory, cache_ttl: 3600}}
""")
    return p


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    nginx = find_nginx()
    if nginx is None:
        return 0
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-cache-"))
    script = tmp / "miss.lua"
    script.write_text(MISS_SCRIPT)
    up_port, gw_port, adm_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[tuple[float, float, float, float, float]]] = {}
    try:
        up = subprocess.Popen(["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port)), "-p", str(tmp)],
                              stderr=subprocess.DEVNULL)
        procs.append(up)
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        gw = subprocess.Popen(
            ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
             "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
             "--db", str(tmp / "gw.db"), "--config", str(gateway_yaml(tmp, up_port)),
             "--access-log", "off"],  # nobody reads the pipe after the ready line
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT),
        )
        procs.append(gw)
        wait_port(up_port)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line, gw.stderr.read().decode() if gw.stderr else "")
            return 0
        print(f"gateway on cpu {proxy_cpu}, upstream nginx + wrk on cpu {load_cpu}; wrk -t1 -c{args.connections} "
              f"-d{args.duration}s, {args.repeat} interleaved rounds (medians)")
        base = f"http://127.0.0.1:{gw_port}"
        contenders: list[tuple[str, str, str | None]] = [
            ("plain proxy", f"{base}/plain", None),
            ("one trivial plugin", f"{base}/trivial", None),
            ("proxy-cache hit", f"{base}/hit", None),
            ("proxy-cache miss", base, str(script)),
        ]
        for _name, url, scr in contenders:  # warm-up (and the first, storing, request of /hit)
            wrk(url, load_cpu, 1, args.connections, [], None, scr)
        runs = {c[0]: [] for c in contenders}
        for _ in range(args.repeat):
            for name, url, scr in contenders:
                r = wrk(url, load_cpu, args.duration, args.connections, [], gw.pid, scr)
                if r:
                    runs[name].append(r)
        for name, _u, _s in contenders:
            summarize(name, runs[name], True, args.duration)
        stop(gw)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    base_runs = runs.get("plain proxy") or []
    for name in ("one trivial plugin", "proxy-cache hit", "proxy-cache miss"):
        mine = runs.get(name) or []
        ratios = sorted(b[3] / m[3] for m, b in zip(mine, base_runs, strict=False) if m[3])
        if ratios:
            print(f"{name}: {statistics.median(ratios):.2f}x the plain proxy's CPU per request"
                  f" (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}; below 1 = cheaper)")
    print("(per-core figures: CPU time of the gateway process per request; wall req/s is capped by"
          " wrk and the upstream sharing one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
