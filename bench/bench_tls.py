"""HTTPS against HTTP on the same gateway: what TLS termination costs. Prints, never fails.

Setup (all on 127.0.0.1, ports picked free; the shared set-up is wrk_harness.py's):
  * upstream: nginx answering ``return 200``, with wrk on the last core;
  * ``konnect-desktop gateway run --proxy-listen-tls`` pinned to core 0, one route, no plugins;
  * nginx as an HTTPS reverse proxy with the same certificate (the one the gateway generated
    for itself), as the baseline for TLS;
  * wrk ``-t1 -c32`` over keep-alive connections (the handshake is paid once per connection),
    repeated in interleaved rounds; medians, and per round the ratios HTTPS/HTTP of the gateway
    and gateway/nginx over HTTPS (requests per CPU-second of the proxy process).

    .venv/bin/python bench/bench_tls.py [--duration 5] [--connections 32] [--repeat 3]
"""

from __future__ import annotations

from pathlib import Path

from wrk_harness import (
    Contender,
    free_port,
    interleaved,
    nginx_proxy_conf,
    print_ratio,
    report,
    upstream_and_gateway,
    write_deck,
    wrk_args,
)


def main() -> int:
    args = wrk_args(__doc__, repeat=3).parse_args()
    gw_tls, ng_tls = free_port(), free_port()
    with upstream_and_gateway("bench-tls-", write_deck, "--proxy-listen-tls", f"127.0.0.1:{gw_tls}") as rig:
        if rig is None:
            return 0
        # nginx serves the very certificate the gateway made for itself (kept beside its store)
        cert, key = Path(f"{rig.db}.default-cert.pem"), Path(f"{rig.db}.default-key.pem")
        ng = rig.start_nginx(nginx_proxy_conf(rig.tmp, rig.upstream_port, ng_tls, (cert, key)), ng_tls)
        rig.banner(args, proxy="proxy")
        gw = rig.gateway.pid
        contenders = [
            Contender("nginx, https", f"https://127.0.0.1:{ng_tls}/plain", pid=ng.pid),
            Contender("konnect-desktop, http", rig.url("/plain"), pid=gw),
            Contender("konnect-desktop, https", f"https://127.0.0.1:{gw_tls}/plain", pid=gw),
        ]
        runs = interleaved(contenders, rig.load_cpu, args.duration, args.connections, args.repeat)
        report(runs, contenders, args.duration, "konnect-desktop, http", ["konnect-desktop, https"])
        print_ratio("konnect-desktop, https", runs["konnect-desktop, https"], "nginx, https", runs["nginx, https"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
