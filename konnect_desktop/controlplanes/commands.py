"""decK-like commands: ``dump``, ``diff``, ``sync`` and ``replicate``.

A SOURCE or TARGET is one of:

* a saved connection profile's name (``settings.py``; tokens come from the keyring),
* a Kong Admin API URL (``http://127.0.0.1:8001``; ``--header`` adds headers, the
  ``KONG_ADMIN_TOKEN`` environment variable sends ``Kong-Admin-Token``),
* ``konnect:REGION/CONTROL_PLANE_NAME`` (token from the ``KONNECT_TOKEN`` environment variable or
  the keyring entry of a profile for that region),
* ``local:NAME`` — a local runtime group's store on this machine.

Words and output follow decK: ``creating service echo``, ``updating route r1`` with the changed
fields, ``Summary:``; ``--json-output`` prints decK's JSON shape. Exit codes: 0 ok, 1 error,
2 with ``--exit-on-drift`` when ``diff`` finds changes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AppError
from ..jsontypes import JSONObject
from .errors import ControlPlaneError, NotFound

if TYPE_CHECKING:  # the commands import their rooms when run, to start fast
    from ..model.diff import Change, Plan
    from ..runtime.catalog import Catalog
    from .base import ControlPlane

EXIT_OK, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2


class UsageError(AppError):
    """A source/target the user named that cannot be used; printed as one line."""


async def open_target(spec: str, *, headers: list[str] | None = None, konnect_url: str | None = None) -> ControlPlane:
    """A ``ControlPlane`` for a SOURCE/TARGET string (see the module docstring)."""
    extra = _parse_headers(headers or [])
    if spec.startswith(("http://", "https://")):
        from .kong_admin import KongAdminControlPlane

        return KongAdminControlPlane(spec, extra, admin_token=os.environ.get("KONG_ADMIN_TOKEN") or None)
    if spec.startswith("konnect:"):
        region, _, cp_name = spec[len("konnect:"):].partition("/")
        if not region or not cp_name:
            raise UsageError(f"'{spec}': expected konnect:REGION/CONTROL_PLANE_NAME, e.g. konnect:eu/prod")
        from .konnect import KonnectControlPlane

        token = os.environ.get("KONNECT_TOKEN") or await _konnect_token_for(region)
        if not token:
            raise UsageError(
                f"no Konnect token for region '{region}': set KONNECT_TOKEN or save a Konnect connection "
                "for that region in the app (its token is kept in the keyring)"
            )
        return KonnectControlPlane(region, token, cp_name, base_url=konnect_url, headers=extra)
    if spec.startswith("local:"):
        from ..runtime.store import Store
        from .local import LocalControlPlane

        name = spec[len("local:"):]
        return LocalControlPlane(store=Store.open_default(name), name=name)
    from ..settings import Settings
    from . import open_profile

    profile = Settings.load().profiles.get(spec)
    if profile is None:
        raise UsageError(
            f"'{spec}' is not a saved connection, a Kong Admin URL (http://…), "
            "konnect:REGION/NAME or local:NAME"
        )
    return await open_profile(profile)


async def _konnect_token_for(region: str) -> str | None:
    from .. import credentials
    from ..settings import Settings

    for prof in Settings.load().profiles.values():
        if prof.kind == "konnect" and prof.region == region:
            secret = await credentials.aget_token(prof.name)
            if secret:
                return credentials.reveal(secret)
    return None


def _parse_headers(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header '{item}': expected 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--select-tag", action="append", default=[], metavar="TAG",
                   help="only manage entities carrying this tag (repeatable; all must match)")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra header for Kong Admin API requests (repeatable)")
    p.add_argument("--konnect-url", default=None, help=argparse.SUPPRESS)  # tests and proxies


def _print_plan(plan: Plan, json_output: bool) -> None:
    from ..model.diff import render_json, render_text

    sys.stdout.write(render_json(plan) if json_output else render_text(plan))


def _fail(msg: str) -> int:
    print(f"Error: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _run(coro: Coroutine[object, None, int]) -> int:
    try:
        return asyncio.run(coro)
    except UsageError as exc:
        return _fail(str(exc))
    except (ControlPlaneError, NotFound) as exc:
        return _fail(exc.message)


async def _export(cp: ControlPlane, select_tags: list[str]) -> dict[str, list[JSONObject]]:
    from ..model.diff import _filter_tags

    config = await cp.export()
    return _filter_tags(config, select_tags) if select_tags else config


def _load_file(path: str, select_tags: list[str]) -> tuple[dict[str, list[JSONObject]], list[str]]:
    from ..model import declarative

    config = declarative.load(Path(path))
    file_tags = list(config.info.get("select_tags") or [])
    for t in select_tags:
        if t not in file_tags:
            file_tags.append(t)
    if file_tags:
        for items in config.values():
            for e in items:
                if "tags" in e:
                    tags = list(e.get("tags") or [])
                    e["tags"] = tags + [t for t in file_tags if t not in tags]
    return config, file_tags


async def _apply_and_report(plan: Plan, target: ControlPlane, json_output: bool) -> int:
    from ..model.diff import render_change, render_json, render_summary
    from .sync import apply, render_report

    def progress(done: int, total: int, change: Change, status: str) -> None:
        if not json_output and status == "applied":
            sys.stdout.write(render_change(change))
            sys.stdout.flush()

    report = await apply(plan, target, progress=progress)
    if json_output:
        sys.stdout.write(render_json(plan, errors=[o.error or "" for o in report.failed]))
    else:
        sys.stdout.write(render_summary(report.summary()))
        if not report.ok:
            sys.stderr.write(render_report(report))
    return EXIT_OK if report.ok else EXIT_ERROR


# -- API products (local runtime groups only) ------------------------------------------------------
# decK files carry no products: they travel in the side file next to the decK file
# (kong.yaml -> kong.products.yaml, see runtime/catalog.py). Only local runtime groups keep a
# catalog; for other targets the products are reported as not carried over.
def _catalog(cp: ControlPlane) -> Catalog | None:
    store = getattr(cp, "store", None) if getattr(cp, "kind", "") == "local" else None
    if store is None:
        return None
    from ..runtime.catalog import Catalog

    return Catalog(store)


async def _dump_products(cp: ControlPlane, deck_path: str) -> None:
    def work() -> Path | None:
        cat = _catalog(cp)
        return cat.save_side_file(deck_path) if cat is not None and cat.list_products() else None

    side = await asyncio.to_thread(work)
    if side is not None:
        sys.stderr.write(f"API products written to {side}\n")


async def _sync_products(cp: ControlPlane, deck_path: str) -> int:
    """Apply the side file after the decK file (its versions name the services). A bad side file
    leaves the catalog as it was and fails the command with the problem named."""
    import yaml

    from ..model.errors import KongError
    from ..runtime.catalog import side_file_for

    side = side_file_for(deck_path)
    if not side.exists():
        return EXIT_OK
    cat = await asyncio.to_thread(_catalog, cp)
    if cat is None:
        sys.stderr.write(f"note: {side.name} not applied: API products are kept by local runtime groups only\n")
        return EXIT_OK
    try:
        n = await asyncio.to_thread(cat.load_side_file, deck_path)
    except (KongError, yaml.YAMLError) as exc:
        sys.stderr.write(f"{side}: API products not applied: {exc}\n")
        return EXIT_ERROR
    sys.stdout.write(f"API products: {n} version(s) from {side.name}\n")
    return EXIT_OK



async def _replicate_products(src: ControlPlane, dst: ControlPlane) -> None:
    def work() -> str | None:
        source = _catalog(src)
        if source is None or not source.list_products():
            return None
        target = _catalog(dst)
        if target is None:
            return "note: API products not replicated: they are kept by local runtime groups only\n"
        n = target.import_products(source.export_products())
        return f"API products: {n} version(s) replicated\n"

    msg = await asyncio.to_thread(work)
    if msg:
        (sys.stderr if msg.startswith("note") else sys.stdout).write(msg)


# -- dump -----------------------------------------------------------------------------------------
class dump:  # noqa: N801 - a command, named as the user types it
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                       help="profile name, Kong Admin URL, konnect:REGION/NAME or local:NAME")
        p.add_argument("-o", "--output-file", default="-", help="where to write (default: stdout)")
        p.add_argument("--format", choices=("yaml", "json"), default="yaml")
        p.add_argument("--with-id", action="store_true", help="include entity ids")
        _common(p)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            from ..model import declarative

            async with await open_target(args.source, headers=args.header, konnect_url=args.konnect_url) as cp:
                config = await _export(cp, args.select_tag)
                text = declarative.dump(config, with_id=args.with_id, select_tags=args.select_tag or None,
                                        fmt=args.format)
                if args.output_file == "-":
                    sys.stdout.write(text)
                else:
                    Path(args.output_file).write_text(text, encoding="utf-8")
                    await _dump_products(cp, args.output_file)
            return EXIT_OK

        return _run(go())


# -- diff / sync ----------------------------------------------------------------------------------
def _file_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="decK file (YAML or JSON)")
    p.add_argument("--to", dest="target", required=True, metavar="TARGET",
                   help="profile name, Kong Admin URL, konnect:REGION/NAME or local:NAME")
    p.add_argument("--json-output", action="store_true", help="print decK's JSON shape")
    _common(p)


async def _plan_file(args: argparse.Namespace) -> tuple[Plan, ControlPlane]:
    from ..model import declarative
    from ..model.diff import plan

    try:
        desired, tags = _load_file(args.file, args.select_tag)
    except declarative.FileFormatError as exc:
        raise UsageError(str(exc)) from None
    except declarative.DeclarativeError as exc:
        raise UsageError(f"{args.file} is not valid:\n  " + str(exc).replace("\n", "\n  ")) from None
    target = await open_target(args.target, headers=args.header, konnect_url=args.konnect_url)
    try:
        current = await _export(target, tags)
    except BaseException:
        await target.close()
        raise
    return plan(current, desired, select_tags=tags), target


class diff:  # noqa: N801
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        _file_target_args(p)
        p.add_argument("--exit-on-drift", action="store_true", help="exit 2 when there are changes")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            the_plan, target = await _plan_file(args)
            await target.close()
            _print_plan(the_plan, args.json_output)
            return EXIT_DRIFT if args.exit_on_drift and not the_plan.empty else EXIT_OK

        return _run(go())


class sync:  # noqa: N801
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        _file_target_args(p)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            the_plan, target = await _plan_file(args)
            async with target:
                rc = await _apply_and_report(the_plan, target, args.json_output)
                if rc == EXIT_OK:
                    rc = await _sync_products(target, args.file)
                return rc

        return _run(go())


# -- replicate ------------------------------------------------------------------------------------
class replicate:  # noqa: N801
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from", dest="source", required=True, metavar="SOURCE")
        p.add_argument("--to", dest="target", required=True, metavar="TARGET")
        p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        p.add_argument("--json-output", action="store_true", help="print decK's JSON shape")
        _common(p)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            from ..model.diff import plan

            async with await open_target(args.source, headers=args.header, konnect_url=args.konnect_url) as src:
                desired = await _export(src, args.select_tag)
                async with await open_target(args.target, headers=args.header, konnect_url=args.konnect_url) as dst:
                    current = await _export(dst, args.select_tag)
                    the_plan = plan(current, desired, select_tags=args.select_tag)
                    if args.dry_run:
                        _print_plan(the_plan, args.json_output)
                        return EXIT_OK
                    rc = await _apply_and_report(the_plan, dst, args.json_output)
                    if rc == EXIT_OK:  # then the products, whose versions name the services just made
                        await _replicate_products(src, dst)
                    return rc

        return _run(go())
