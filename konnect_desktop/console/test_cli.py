"""``konnect-desktop test COLLECTION``: run a request collection and its assertions, for CI.

By default the local runtime starts in-process on free ports with an empty store in a temporary
folder, loads ``--config`` (a decK file), runs the collection with ``{{base}}`` pointing at its
proxy, and stops — nothing is left behind. Gateway-side assertions (route, consumer, plugin
decisions, what the upstream received) are checked against its traffic log. With ``--target URL``
the requests go to that gateway instead and only the client's side is checked; the skipped
gateway checks are listed. One line per request, the failed checks under it (expected vs got);
``--junit FILE`` writes JUnit XML. Exit 0 when everything passed, 1 when a check failed, 2 when
the collection or the configuration could not be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .collection import Collection
    from .environments import Environment
    from .runner import RequestResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("collection", type=Path, metavar="COLLECTION",
                        help="a collection folder (or one request file)")
    parser.add_argument("--config", type=Path, action="append", default=[], metavar="KONG_YAML",
                        help="decK file the local runtime loads before the run (repeat to merge several)")
    parser.add_argument("--env", metavar="NAME", help="the collection's environment to use (environments/NAME.yaml)")
    parser.add_argument("--target", metavar="URL",
                        help="send to this gateway instead of an in-process local runtime (client-side checks only)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--only", metavar="TEXT", help="run only the requests whose title contains TEXT")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)")


def _pick_env(collection: Collection, name: str | None) -> Environment | None:
    from .collection import CollectionError

    envs = collection.environments
    if name is not None:
        if name not in envs:
            known = ", ".join(sorted(envs)) or "none"
            raise CollectionError(f"{collection.root}: no environment '{name}' (environments: {known})")
        return envs[name]
    if len(envs) == 1:
        return next(iter(envs.values()))
    return envs.get("local")


async def _run(args: argparse.Namespace) -> int:
    import tempfile

    from ..model.declarative import (
        DeclarativeError,
        FileFormatError,
        load_document,
        merge_documents,
        read_source,
    )
    from .collection import CollectionError, with_process_env
    from .collection import load as load_collection
    from .runner import run_collection
    from .sender import Sender

    try:
        collection = load_collection(args.collection)
        env = with_process_env(_pick_env(collection, args.env))
    except CollectionError as exc:
        print(f"konnect-desktop test: {exc}", file=sys.stderr)
        return 2
    if not collection.requests:
        print(f"konnect-desktop test: {args.collection}: no requests in the collection", file=sys.stderr)
        return 2
    if env is not None and env.get("base") is not None:  # the gateway under test is {{base}}
        from .environments import Environment

        env = Environment(env.name, [v for v in env.variables if v.name != "base"])
    only = (lambda r: args.only.lower() in r.title.lower()) if args.only else None

    def show(result: RequestResult) -> None:
        print("\n".join(result.lines()), flush=True)

    sender = Sender(timeout=args.timeout)
    try:
        if args.target:
            if args.config:
                print("note: --config is for the local runtime; with --target it is not loaded", file=sys.stderr)
            report = await run_collection(collection, sender, env, base=args.target.rstrip("/"), only=only,
                                          on_result=show)
        else:
            config = None
            if args.config:
                try:
                    doc = merge_documents([read_source(p) for p in args.config])
                    config = load_document(doc, strict_plugins=True)
                except (FileFormatError, DeclarativeError) as exc:
                    print(f"konnect-desktop test: {exc}", file=sys.stderr)
                    return 2
            from ..runtime.runtime import LocalRuntime

            with tempfile.TemporaryDirectory(prefix="konnect-test-") as tmp:
                rt = LocalRuntime("test", db_path=Path(tmp) / "test.db", proxy_listen=("127.0.0.1", 0),
                                  admin_listen=None, owner="konnect-desktop test")
                await rt.start()
                try:
                    if config is not None:
                        await rt.load_config(config)
                    loaded = ", ".join(map(str, args.config)) or "empty configuration"
                    print(f"local runtime on {rt.proxy_url} ({loaded})", flush=True)
                    report = await run_collection(collection, sender, env, base=rt.proxy_url, traffic=rt.traffic,
                                                  only=only, on_result=show)
                finally:
                    await rt.stop()
    finally:
        await sender.aclose()
    print(report.summary())
    if args.junit is not None:
        args.junit.write_text(report.junit_xml(), encoding="utf-8")
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_run(args))
