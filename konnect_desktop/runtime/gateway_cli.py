"""``konnect-desktop gateway run``: the bundled gateway without the GUI.

Prints one line when both listeners are up (the real ports, also when asked for port 0), serves
until SIGINT/SIGTERM, then drains in-flight requests and exits 0. ``--config kong.yaml`` makes the
store match a decK file before serving (an invalid file prints every located problem and exits
1, leaving the store untouched). A store that is empty on first start gets the sample
configuration, so there is something to call right away.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    run_p.add_argument("--status-listen", type=_listen, default=None, metavar="HOST:PORT",
                       help="serve Kong's Status API (/status, /status/ready) at HOST:PORT")
    run_p.add_argument("--db", type=Path, default=None, metavar="PATH",
                       help="SQLite store (default: the app's data folder, per --name)")
    run_p.add_argument("--config", type=Path, default=None, metavar="KONG_YAML",
                       help="decK file to load at start (replaces the stored configuration)")
    run_p.add_argument("--name", default="default", help="runtime name (default: default)")
    run_p.add_argument("--admin-token", default=None, metavar="TOKEN",
                       help="require the header Kong-Admin-Token: TOKEN on the Admin API")
    run_p.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="how long to let in-flight requests finish on shutdown (default 10)")


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sample_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "sample" / "kong.yaml"


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


def _store_is_empty(store: Any) -> bool:
    return all(store.count(t) == 0 for t in ("services", "routes", "plugins", "consumers", "upstreams"))


async def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from ..model.errors import KongError
    from .runtime import LocalRuntime
    from .store import Store

    config = None
    if args.config is not None:
        config = _load_file(args.config)
        if config is None:
            return 1
    rt = LocalRuntime(args.name, db_path=args.db, proxy_listen=args.proxy_listen,
                      admin_listen=args.admin_listen, admin_token=args.admin_token,
                      proxy_listen_tls=args.proxy_listen_tls, status_listen=args.status_listen)
    store = await asyncio.to_thread(Store, rt.db_path)
    try:
        if config is not None:
            await asyncio.to_thread(store.replace_all, config)
        elif _store_is_empty(store):
            sample = _load_file(sample_config_path())
            if sample is not None:
                try:
                    await asyncio.to_thread(store.replace_all, sample)
                except KongError as exc:  # a sample the bundled plugins can't take: serve empty
                    _err(f"sample configuration not loaded: {exc}")
    except KongError as exc:
        _err(f"{args.config}: configuration rejected: {exc}")
        store.close()
        return 1
    rt.store = store
    try:
        await rt.start()
    except OSError as exc:
        _err(f"gateway: cannot listen: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    proxy = rt.proxy_url if rt.proxy_tls_url is None else f"{rt.proxy_url}  https {rt.proxy_tls_url}"
    print(READY.format(proxy=proxy, admin=rt.admin_url), flush=True)
    await stop.wait()
    await rt.stop(drain_timeout=args.drain_timeout)
    return 0


def run(args: argparse.Namespace) -> int:
    import asyncio

    if getattr(args, "gateway_command", None) != "run":
        _err("usage: konnect-desktop gateway run [--proxy-listen HOST:PORT] [--proxy-listen-tls HOST:PORT] "
             "[--admin-listen HOST:PORT] "
             "[--db PATH] [--config KONG_YAML] [--name NAME] [--admin-token TOKEN]")
        return 2
    try:
        import uvloop  # optional: faster loop for the headless gateway when installed
    except ImportError:
        uvloop = None
    if uvloop is not None:
        return uvloop.run(_serve(args))
    return asyncio.run(_serve(args))
