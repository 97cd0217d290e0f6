"""``konnect-desktop gateway run``: the bundled gateway without the GUI.

Prints one line when both listeners are up (the real ports, also when asked for port 0), serves
until SIGINT/SIGTERM, then drains in-flight requests and exits 0. ``--config kong.yaml`` makes the
store match a decK file before serving (an invalid file prints every located problem and exits
1, leaving the store untouched). A new store starts empty, as Kong does; ``--sample`` loads the
app's sample configuration into an empty store (the GUI does that for its own first run). The
runtime starts through ``manager.RuntimeManager``, as the GUI's do, without its fallback to free
ports: a port that is taken is an error here.

The Admin API stays on loopback unless ``--admin-listen`` opens it, and then only with a token:
from ``--admin-token-file PATH`` (a private file), the ``KONG_ADMIN_TOKEN`` environment variable,
or ``--admin-token`` (works, but other local users can read it in the process list, so we warn).
Without one, a non-loopback ``--admin-listen`` is refused with exit code 2 and the fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import native
from ..applog import add_log_level_argument
from ..errors import AppError

OWNER = "konnect-desktop gateway run"
READY = "Konnect Desktop gateway ready: proxy {proxy}  admin {admin}"


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    run_p = sub.add_parser("run", help="serve the proxy and the Admin API until interrupted",
                           description="Serve the local gateway (proxy + Admin API) until SIGINT/SIGTERM.")
    run_p.add_argument("--proxy-listen", type=_listen, default=("127.0.0.1", 8000), metavar="HOST:PORT",
                       help="proxy address (default 127.0.0.1:8000; port 0 picks a free port)")
    run_p.add_argument("--proxy-listen-tls", type=_listen, default=None, metavar="HOST:PORT",
                       help="also serve HTTPS (Kong's proxy_listen ... ssl) at HOST:PORT; certificates "
                            "per SNI from the store, else a self-signed one kept beside it")
    run_p.add_argument("--admin-listen", type=_listen, default=("127.0.0.1", 8001), metavar="HOST:PORT",
                       help="Admin API address (default 127.0.0.1:8001)")
    run_p.add_argument("--portal-listen", type=_listen, default=None, metavar="HOST:PORT",
                       help="also serve the local Dev Portal there (published API products, developer "
                            "sign-up, application registration); loopback unless an admin token is set")
    run_p.add_argument("--status-listen", type=_listen, default=None, metavar="HOST:PORT",
                       help="serve Kong's Status API (/status, /status/ready) at HOST:PORT")
    run_p.add_argument("--db", type=Path, default=None, metavar="PATH",
                       help="SQLite store (default: the app's data folder, per --name)")
    run_p.add_argument("--config", type=Path, default=None, metavar="KONG_YAML",
                       help="decK file to load at start (replaces the stored configuration)")
    run_p.add_argument("--name", default="default", help="runtime name (default: default)")
    run_p.add_argument("--sample", action="store_true",
                       help="load the app's sample configuration when the store is empty "
                            "(default: start empty, as Kong does)")
    run_p.add_argument("--admin-token-file", type=Path, default=None, metavar="PATH",
                       help="require the header Kong-Admin-Token with the token in PATH (a file only "
                            "you can read); also: the KONG_ADMIN_TOKEN environment variable")
    run_p.add_argument("--admin-token", default=None, metavar="TOKEN",
                       help="the token on the command line (visible to other local users in the "
                            "process list: prefer --admin-token-file or KONG_ADMIN_TOKEN)")
    run_p.add_argument("--admin-allow-host", action="append", default=[], metavar="NAME",
                       help="also answer Admin API requests whose Host is NAME (repeatable; loopback "
                            "names and the bound address are always allowed)")
    run_p.add_argument("--admin-allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages from ORIGIN (e.g. http://localhost:3000) call the Admin "
                            "API, with CORS answers (repeatable; none by default)")
    run_p.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="how long to let in-flight requests finish on shutdown (default 10)")
    run_p.add_argument("--access-log", default="-", metavar="FILE",
                       help="one line per proxied request, nginx combined format + Kong latencies: "
                            "'-' for stdout (default), a file to append to (created 0600), or 'off'")
    add_log_level_argument(run_p, default="info")
    # the proxy's limits on client requests, with nginx's (Kong's) names and defaults
    lim = run_p.add_argument_group("client request limits (nginx's names and defaults)")
    lim.add_argument("--client-header-timeout", type=float, default=None, metavar="SECONDS",
                     help="time to send the whole request head, else 408 (default 60)")
    lim.add_argument("--large-client-header-buffers", default=None, metavar="'NUMBER SIZE'",
                     help="a header line must fit SIZE (else 400), the head NUMBER x SIZE (else 431) "
                          "(default '4 8k')")
    lim.add_argument("--client-body-buffer-size", default=None, metavar="SIZE",
                     help="a body read whole stays in memory up to SIZE, beyond it in a temporary file "
                          "(default 8k)")
    lim.add_argument("--client-max-body-size", default=None, metavar="SIZE",
                     help="larger request bodies get 413 (default 0: no limit)")


class ConfigNotLoaded(AppError):
    """The store refused ``--config`` (or its products side file could not be read); the store
    was left as it was. (The Admin API's answer to a bad ``POST /config`` is
    ``admin_config.ConfigRejected``.)"""


GC_YOUNG_THRESHOLD = 20_000  # see _serve_running
# The traffic log's ring of finished requests feeds the app's traffic page and request console;
# headless nothing reads it (the access log listens to each entry as it is recorded, the metrics
# count them). Kept anyway, each request's objects were freed a thousand requests later, from
# cold memory: 3 µs of the 4-plugin route's ~55 µs under load (perf, TrafficEntry teardown).
HEADLESS_TRAFFIC_CAPACITY = 0


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load_file(path: Path) -> Any:
    """The Config in ``path``, or None after printing every problem."""
    from ..model import declarative

    try:
        return declarative.load(path)
    except declarative.FileFormatError as exc:
        _err(f"{path}: {exc}")
    except declarative.DeclarativeError as exc:
        _err(f"{path}: invalid configuration ({len(exc.problems)} problem(s)):")
        for p in exc.problems:
            _err(f"  {p}")
    return None


def admin_token(args: argparse.Namespace) -> str | None:
    """The Admin API token from the file, the environment or argv (in that order of preference);
    raises ``TokenFileError`` for an unusable file."""
    import os

    from .admin_guard import TOKEN_ENV, read_token_file

    if args.admin_token_file is not None:
        return read_token_file(args.admin_token_file)
    if args.admin_token:
        _err("warning: --admin-token is visible to other users of this machine in the process "
             f"list; prefer --admin-token-file PATH or the {TOKEN_ENV} environment variable")
        return str(args.admin_token)
    return os.environ.get(TOKEN_ENV) or None


def limits_from_args(args: argparse.Namespace) -> Any:
    """The ``ProxyLimits`` the options ask for (a ValueError names the bad option)."""
    from .limits import DEFAULT_LIMITS, ProxyLimits, parse_header_buffers, parse_size

    kw: dict[str, Any] = {}
    if getattr(args, "client_header_timeout", None) is not None:
        kw["client_header_timeout"] = args.client_header_timeout
    if getattr(args, "large_client_header_buffers", None) is not None:
        kw["header_buffers"], kw["header_buffer_size"] = parse_header_buffers(args.large_client_header_buffers)
    for name in ("client_body_buffer_size", "client_max_body_size"):
        if getattr(args, name, None) is not None:
            kw[name] = parse_size(getattr(args, name), name)
    return ProxyLimits(**kw) if kw else DEFAULT_LIMITS


async def _serve(args: argparse.Namespace) -> int:
    from ..model.errors import KongError
    from .admin_guard import TokenFileError, UnsafeBindError, check_bind, check_portal_bind
    from .catalog import Catalog
    from .manager import RuntimeManager
    from .store_lock import StoreInUse

    try:
        token = admin_token(args)
        check_bind(args.admin_listen[0], token)  # before the store is opened or a file loaded
        if args.portal_listen is not None:
            check_portal_bind(args.portal_listen[0], token)
    except (TokenFileError, UnsafeBindError) as exc:
        _err(f"gateway: {exc}")
        return 2
    config = None
    if args.config is not None:
        config = _load_file(args.config)
        if config is None:
            return 1
    try:
        limits = limits_from_args(args)
    except ValueError as exc:
        _err(f"gateway: {exc}")
        return 2

    def load_config(store: Any) -> None:
        # the API products travel in a side file next to the decK file (kong.products.yaml);
        # one transaction: a bad side file leaves the store as it was
        catalog = Catalog(store)
        try:
            with store.transaction():
                store.replace_all(config)
                catalog.load_side_file(args.config)
        except (KongError, OSError) as exc:  # told apart from a port that cannot be bound
            raise ConfigNotLoaded(str(exc)) from exc

    # the ports asked for or none: a script waiting on them must not find the gateway elsewhere
    manager = RuntimeManager(free_ports_when_busy=False, owner=OWNER)
    try:
        # the store lock is taken before --config touches the store: it must not replace a
        # store another process serves
        rt = await manager.start(
            args.name, db_path=args.db, sample=args.sample, prepare=load_config if config is not None else None,
            proxy_listen=args.proxy_listen, admin_listen=args.admin_listen, admin_token=token,
            admin_allow_hosts=args.admin_allow_host, admin_allow_origins=args.admin_allow_origin,
            limits=limits, portal_listen=args.portal_listen, proxy_listen_tls=args.proxy_listen_tls,
            status_listen=args.status_listen, traffic_capacity=HEADLESS_TRAFFIC_CAPACITY)
    except StoreInUse as exc:
        _err(f"gateway: {exc}")
        return 3
    except ConfigNotLoaded as exc:
        _err(f"{args.config}: configuration rejected: {exc}")
        return 1
    except OSError as exc:
        _err(f"gateway: cannot listen: {exc}")
        return 1
    return await _serve_running(args, manager, rt)


async def _serve_running(args: argparse.Namespace, manager: Any, rt: Any) -> int:
    import asyncio
    import gc
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    access = _open_access_log(args.access_log, rt)
    # A long-running server: what start-up built (modules, the configuration, the store) stays
    # for good, so the cyclic collector need not walk it again on every full pass (per-request
    # objects are what it still looks at).
    gc.collect()
    gc.freeze()
    # Each request allocates a few hundred objects that die young by reference counting: at
    # Python's default (a young collection every 700 net allocations) the collector took a
    # fifth of the CPU under load for almost no garbage (measured under wrk with four plugins:
    # 19% of CPU in the collector, 2% after).
    # Young collections 30× rarer: each pauses a few milliseconds at most (3 ms measured under
    # load), and cyclic garbage waits a little longer.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    # the addresses actually bound (0.0.0.0 when asked for it), not where a local client connects
    proxy = f"http://{rt.proxy_bound}"
    if rt.proxy_tls_bound:
        proxy += f"  https https://{rt.proxy_tls_bound}"
    ready = READY.format(proxy=proxy, admin=", ".join(f"http://{a}" for a in rt.admin_bound))
    _err(f"proxy modules: {native.status}")  # whether the hot path runs compiled, and if not why
    print(ready + (f"  portal {rt.portal_url}" if rt.portal_url else ""), flush=True)
    try:
        await stop.wait()
        await manager.stop(rt.name, drain_timeout=args.drain_timeout)
    finally:
        if access is not None:
            access.close()
            if access.stream is not sys.stdout:
                access.stream.close()
    return 0


def _open_access_log(where: str, rt: Any) -> Any:
    from ..applog import open_private
    from .access_log import AccessLog

    if where == "off":
        return None
    stream = sys.stdout if where == "-" else open_private(Path(where))
    return AccessLog(rt.traffic, stream)


def _setup_logging(level: str) -> None:
    """Log lines to stderr (stdout carries the ready line and the access log)."""
    import logging

    from ..credentials import install_log_filter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    install_log_filter(root)


def run(args: argparse.Namespace) -> int:
    import asyncio

    if getattr(args, "gateway_command", None) != "run":
        _err("usage: konnect-desktop gateway run [--proxy-listen HOST:PORT] [--proxy-listen-tls HOST:PORT] "
             "[--admin-listen HOST:PORT] [--status-listen HOST:PORT] "
             "[--db PATH] [--config KONG_YAML] [--name NAME] [--admin-token-file PATH] "
             "[--admin-allow-host NAME] [--admin-allow-origin ORIGIN]")
        return 2
    _setup_logging(getattr(args, "log_level", "info"))
    try:
        import uvloop  # optional: faster loop for the headless gateway when installed
    except ImportError:
        return asyncio.run(_serve(args))
    return uvloop.run(_serve(args))
