"""http-log's cost per request against the plain proxy, as ratios. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free; the shared set-up is wrk_harness.py's):
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

from pathlib import Path

from wrk_harness import Contender, interleaved, report, upstream_and_gateway, write_deck, wrk_args


def gateway_yaml(tmp: Path, upstream_port: int) -> Path:
    log = f"http://127.0.0.1:{upstream_port}/log"
    return write_deck(tmp, upstream_port, f"""      - name: log1
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


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    # the log server takes request bodies (nginx's return 200 discards them)
    with upstream_and_gateway("bench-http-log-", gateway_yaml,
                              upstream_directives="client_max_body_size 64m;") as rig:
        if rig is None:
            return 0
        rig.banner(args, load="nginx (upstream + log server)")
        gw = rig.gateway.pid
        contenders = [
            Contender("plain proxy", rig.url("/plain"), pid=gw),
            Contender("http-log, batch 1", rig.url("/log1"), pid=gw),
            Contender("http-log, batch 100", rig.url("/log100"), pid=gw),
        ]
        runs = interleaved(contenders, rig.load_cpu, args.duration, args.connections, args.repeat)
        report(runs, contenders, args.duration, "plain proxy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
