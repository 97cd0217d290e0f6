"""proxy-cache's cost per request against the plain proxy: a cache hit and a cache miss, as
ratios. Prints, never fails.

Setup as bench_proxy.py (all on 127.0.0.1, through wrk_harness.py): nginx answering ``return 200 "ok"`` (text/plain) as
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
from /proc), as a ratio to the plain proxy measured in the same round, and its inverse: the CPU
per request against the plain proxy's (below 1 = cheaper).

    .venv/bin/python bench/bench_proxy_cache.py [--duration 5] [--connections 32] [--repeat 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

from wrk_harness import Contender, interleaved, report, upstream_and_gateway, write_deck, wrk_args

MISS_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/miss?n=" .. n)
end
"""


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
    return write_deck(tmp, upstream_port, """      - name: trivial
        paths: [/trivial]
        plugins:
          - name: bot-detection
      - name: hit
        paths: [/hit]
        plugins:
          - name: proxy-cache
            config: {strategy: memory, cache_ttl: 3600}
      - name: miss
        paths: [/miss]
        plugins:
          - name: proxy-cache
            config: {strategy: memory, cache_ttl: 3600}
""")


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    with upstream_and_gateway("bench-proxy-cache-", gateway_yaml) as rig:
        if rig is None:
            return 0
        script = rig.tmp / "miss.lua"
        script.write_text(MISS_SCRIPT)
        rig.banner(args)
        gw = rig.gateway.pid
        contenders = [
            Contender("plain proxy", rig.url("/plain"), pid=gw),
            Contender("one trivial plugin", rig.url("/trivial"), pid=gw),
            # the warm-up makes the first, storing, request of /hit
            Contender("proxy-cache hit", rig.url("/hit"), pid=gw),
            Contender("proxy-cache miss", rig.url(""), pid=gw, script=str(script)),
        ]
        runs = interleaved(contenders, rig.load_cpu, args.duration, args.connections, args.repeat)
        report(runs, contenders, args.duration, "plain proxy")
    print("(per-core figures: CPU time of the gateway process per request; wall req/s is capped by"
          " wrk and the upstream sharing one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
