"""Replication without widgets: read a source and a target, plan, apply, dump.

A side (``Endpoint``) is a saved connection plus a runtime group, or a decK file. Connections are
opened through a ``Connections`` provider — the GUI's session, which caches the control planes
every page uses; a Konnect control plane other than the connection's own is opened fresh and
closed after use. Files and exports go through the CLI's helpers in ``commands.py`` so the GUI's
Replication page and ``konnect-desktop replicate`` read sides, apply select-tags and plan alike.
Everything here is a coroutine; disk and CPU-heavy steps run in worker threads, so a GUI loop
awaiting them never blocks. The second half turns a plan's changes into words for people
(fields old → new, foreign keys by name, secrets masked).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..credentials import mask_text
from ..errors import AppError
from ..model import declarative
from ..model.diff import MASK, Change, Index, Plan, masked, plan
from ..model.entities import ENTITIES
from ..settings import Profile
from . import commands
from .base import ControlPlane
from .sync import ApplyReport, Outcome, apply


class Connections(Protocol):
    """Where the saved connections and their control planes come from (the GUI's ``Session``)."""

    def find(self, conn_id: str) -> Profile | None: ...

    async def control_plane_for(self, conn: Profile) -> ControlPlane:
        """The connection's control plane, kept open by the provider."""
        ...

    async def build_control_plane(self, conn: Profile) -> ControlPlane:
        """A fresh control plane the caller closes."""
        ...


CONNECTION, FILE = "connection", "file"
SOURCE, TARGET = "source", "target"


class ReplicationError(AppError):
    """A side that cannot be used, in words for people (``message`` like the control plane's)."""


@dataclass(frozen=True)
class Endpoint:
    """One side of a replication: a connection's runtime group, or a decK file."""

    kind: str  # CONNECTION | FILE
    conn_id: str | None = None
    group: str | None = None  # runtime group (Konnect control plane name); None: the connection's own
    path: str | None = None

    @property
    def usable(self) -> bool:
        return bool(self.conn_id) if self.kind == CONNECTION else bool((self.path or "").strip())

    def same_as(self, other: Endpoint) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == FILE:
            return Path(self.path or "").expanduser().resolve() == Path(other.path or "").expanduser().resolve()
        return self.conn_id == other.conn_id and (self.group or "") == (other.group or "")

    def describe(self, conns: Connections) -> str:
        """``Local · us``, ``Konnect eu · prod``, ``file kong.yaml``."""
        if self.kind == FILE:
            return f"file {Path(self.path or '').name or '(none)'}"
        conn = conns.find(self.conn_id or "")
        if conn is None:
            return "(no connection)"
        if conn.kind == "konnect" and self.group and self.group != conn.control_plane:
            return f"Konnect {conn.region or ''} · {self.group}"
        return conn.label

    def group_name(self, conns: Connections) -> str | None:
        conn = conns.find(self.conn_id or "") if self.kind == CONNECTION else None
        if conn is None:
            return None
        if conn.kind == "konnect":
            return self.group or conn.control_plane or conn.name
        return conn.runtime_name


def file_format(path: str) -> str:
    """``json`` for ``.json`` files, otherwise decK's usual YAML."""
    return "json" if path.lower().endswith(".json") else "yaml"


# -- opening sides -------------------------------------------------------------------------------
def _connection(conns: Connections, ep: Endpoint) -> Profile:
    conn = conns.find(ep.conn_id or "")
    if conn is None:
        raise ReplicationError("The chosen connection no longer exists: pick another one.")
    return conn


async def open_control_plane(conns: Connections, ep: Endpoint) -> tuple[Any, bool]:
    """The side's control plane and whether the caller must close it (a Konnect control plane
    other than the connection's own is built for this operation; the rest are the provider's)."""
    conn = _connection(conns, ep)
    if conn.kind == "konnect" and ep.group and ep.group != conn.control_plane:
        return await conns.build_control_plane(dataclasses.replace(conn, control_plane=ep.group)), True
    return await conns.control_plane_for(conn), False


async def list_groups(conns: Connections, conn: Profile) -> list[str]:
    """The runtime groups a connection offers (Konnect: its control planes; others: one)."""
    if conn.kind != "konnect":
        return [conn.runtime_name]
    cp = await conns.control_plane_for(conn)
    return [g.name for g in await cp.list_groups()]


@dataclass
class Side:
    """What was read from one side."""

    config: dict[str, list[dict[str, Any]]]
    tags: list[str] = field(default_factory=list)  # select-tags in force (a source file adds its own)
    writable: bool = True
    why_read_only: str = ""


async def read_side(conns: Connections, ep: Endpoint, role: str, tags: list[str]) -> Side:
    """The whole configuration of a side, filtered by ``tags`` the way decK does."""
    if ep.kind == FILE:
        path = (ep.path or "").strip()
        if role == TARGET and not Path(path).expanduser().exists():
            return Side(declarative.Config(), list(tags))  # a new file: everything is a create
        try:
            if role == SOURCE:
                config, used = await asyncio.to_thread(commands._load_file, str(Path(path).expanduser()), tags)
                return Side(config, used)
            config = await asyncio.to_thread(declarative.load, Path(path).expanduser())
            return Side(config, list(tags))
        except declarative.FileFormatError as exc:
            raise ReplicationError(str(exc)) from None
        except declarative.DeclarativeError as exc:
            raise ReplicationError(f"{path} is not a valid decK file:\n" + str(exc)) from None
        except OSError as exc:
            raise ReplicationError(f"Cannot read {path}: {exc.strerror or exc}") from None
    cp, owned = await open_control_plane(conns, ep)
    try:
        config = await commands._export(cp, tags)
        caps = cp.capabilities
        why = ""
        if not caps.writable:
            why = "it is a read-only DB-less node" if caps.dbless else "it is read-only"
        return Side(config, list(tags), caps.writable, why)
    finally:
        if owned:
            await cp.close()


# -- planning ------------------------------------------------------------------------------------
@dataclass
class PlanResult:
    plan: Plan
    source: Endpoint
    target: Endpoint
    source_label: str
    target_label: str
    target_writable: bool = True
    why_read_only: str = ""


async def _both(a: Coroutine[Any, Any, Side], b: Coroutine[Any, Any, Side]) -> tuple[Side, Side]:
    """Read both sides at once; when one fails, the other is cancelled and the failure raised as
    it is (not wrapped in a group: the page shows its words)."""
    try:
        async with asyncio.TaskGroup() as tg:
            ta, tb = tg.create_task(a), tg.create_task(b)
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return ta.result(), tb.result()


def check_sides(source: Endpoint, target: Endpoint) -> str | None:
    """Why this pair cannot be planned, or None."""
    if not source.usable:
        return "Choose a source: a connection or a decK file to read."
    if not target.usable:
        return "Choose a target: a connection or a decK file to write."
    if source.same_as(target):
        return "Source and target are the same: choose two different runtime groups or files."
    return None


async def compute_plan(conns: Connections, source: Endpoint, target: Endpoint, tags: list[str]) -> PlanResult:
    """Read both sides and plan what turns the target into the source."""
    problem = check_sides(source, target)
    if problem:
        raise ReplicationError(problem)
    if source.kind == FILE:
        # a source file's own select_tags apply to the target too (as the CLI's sync does)
        src = await read_side(conns, source, SOURCE, tags)
        dst = await read_side(conns, target, TARGET, src.tags)
    else:
        src, dst = await _both(read_side(conns, source, SOURCE, tags), read_side(conns, target, TARGET, tags))
    the_plan = await asyncio.to_thread(plan, dst.config, src.config, select_tags=src.tags)
    return PlanResult(the_plan, source, target, source.describe(conns), target.describe(conns),
                      dst.writable, dst.why_read_only)


# -- applying ------------------------------------------------------------------------------------
ProgressFn = Callable[[int, int, Change, str], None]


async def apply_plan(conns: Connections, result: PlanResult, progress: ProgressFn | None = None) -> ApplyReport:
    """Apply the plan to its target; a file target is (re)written with the source's content."""
    the_plan, target = result.plan, result.target
    if target.kind == FILE:
        path = str(Path(target.path or "").expanduser())
        await write_dump(the_plan.desired, path, tags=the_plan.select_tags)
        report = ApplyReport()
        total = len(the_plan.changes)
        for i, c in enumerate(the_plan.changes, 1):
            report.outcomes.append(Outcome(c, "applied"))
            if progress:
                progress(i, total, c, "applied")
        return report
    cp, owned = await open_control_plane(conns, target)
    try:
        return await apply(the_plan, cp, progress=progress)
    finally:
        if owned:
            await cp.close()


# -- dumping -------------------------------------------------------------------------------------
async def write_dump(config: dict[str, list[dict[str, Any]]], path: str, *, tags: list[str] | None = None,
                     with_id: bool = False) -> None:
    """decK text of ``config`` written to ``path`` (format from the extension) in a worker thread.
    Written to a temporary file first and renamed, so a failure leaves the old file whole."""

    def work() -> None:
        text = declarative.dump(config, with_id=with_id, select_tags=tags or None, fmt=file_format(path))
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)

    try:
        await asyncio.to_thread(work)
    except OSError as exc:
        raise ReplicationError(f"Cannot write {path}: {exc.strerror or exc}") from None


async def dump_source(conns: Connections, source: Endpoint, tags: list[str], path: str, *, with_id: bool = False) -> int:
    """Write the source's configuration to ``path``; returns the number of entities written."""
    if not source.usable:
        raise ReplicationError("Choose a source to dump: a connection or a decK file.")
    side = await read_side(conns, source, SOURCE, tags)
    await write_dump(side.config, path, tags=side.tags, with_id=with_id)
    return sum(len(v) for v in side.config.values())


async def export_plan(result: PlanResult, path: str) -> None:
    """The plan in decK's ``--json-output`` shape (secrets masked), written in a worker thread."""
    from ..model.diff import render_json

    def work() -> None:
        Path(path).write_text(render_json(result.plan), encoding="utf-8")

    try:
        await asyncio.to_thread(work)
    except OSError as exc:
        raise ReplicationError(f"Cannot write {path}: {exc.strerror or exc}") from None


# -- showing an update's fields ------------------------------------------------------------------
_SECRET_NAME = re.compile(r"(pass(word)?|secret|token|private_key|api_?key|credential)s?$", re.I)


def _mask_record(fields: list[tuple[str, Any]] | None, value: Any) -> Any:
    """Secrets masked at any depth of a record the schema knows; for unknown (opaque) records,
    keys that are named like secrets."""
    if isinstance(value, list):
        return [_mask_record(fields, v) for v in value]
    if not isinstance(value, dict):
        return value
    fmap = dict(fields or ())
    out = {}
    for k, v in value.items():
        f = fmap.get(k)
        if v is not None and ((f is not None and f.secret) or (f is None and _SECRET_NAME.search(str(k)))):
            out[k] = MASK
        elif f is not None and f.type == "record":
            out[k] = _mask_record(f.fields, v)
        else:
            out[k] = _mask_record(None, v) if f is None else v
    return out


def display_entity(table: str, e: dict[str, Any] | None) -> dict[str, Any]:
    """The entity as the GUI may show it: ``diff.masked`` plus secrets nested in plugin configs."""
    out = masked(table, e) or {}
    if table == "plugins" and isinstance(out.get("config"), dict):
        from ..plugins import get

        spec = get(str(out.get("name") or ""))
        out["config"] = _mask_record(spec.config.fields if spec else None, out["config"])
    return out


def _dig(d: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _ref_text(ref: Any) -> Any:
    """A natural key from ``Index.ref`` as words: ``('name', 'echo')`` → ``echo``."""
    if ref is None:
        return None
    if isinstance(ref, tuple):
        parts = [p for p in ref if p is not None and p not in ("id", "name", "username", "custom_id", "plugin")]
        return " / ".join(_ref_text(p) if isinstance(p, tuple) else str(p) for p in parts) or None
    return str(ref)


def value_text(v: Any, limit: int = 160) -> str:
    """A field value on one line: JSON, trimmed; ``null`` for unset."""
    if v is None:
        return "null"
    text = v if isinstance(v, str) and v == MASK else json.dumps(v, ensure_ascii=False, sort_keys=True)
    text = mask_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def secret(self) -> bool:
        return bool(self.old == MASK or self.new == MASK)


class FieldView:
    """The changed fields of an update, old → new, with foreign keys by name and secrets masked.
    Built once per plan (the indexes resolve foreign keys on both sides)."""

    def __init__(self, the_plan: Plan) -> None:
        self.ci = Index(the_plan.current)
        self.di = Index(the_plan.desired)

    def fields(self, c: Change) -> list[FieldChange]:
        old_m, new_m = display_entity(c.table, c.old), display_entity(c.table, c.new)
        fks = ENTITIES[c.table].foreign_keys
        out = []
        for name in c.fields:
            top = name.split(".")[0]
            if top in fks:
                ref = fks[top].reference or ""
                o = _ref_text(self.ci.ref(ref, (c.old or {}).get(top)))
                n = _ref_text(self.di.ref(ref, (c.new or {}).get(top)))
            else:
                o, n = _dig(old_m, name.split(".")), _dig(new_m, name.split("."))
            out.append(FieldChange(name, o, n))
        return out


def _blank(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_blank(x) for x in v.values())
    return v is None or v == [] or v is False


def _non_default(fields: list[tuple[str, Any]] | None, value: dict[str, Any]) -> dict[str, Any]:
    from ..model.schema import UNSET

    fmap = dict(fields or ())
    out = {}
    for k, v in value.items():
        f = fmap.get(k)
        if f is not None and f.type == "record" and isinstance(v, dict):
            v = _non_default(f.fields, v)
        default = None if f is None or f.default is UNSET else f.default
        if not _blank(v) and v != default:
            out[k] = v
    return out


def brief(table: str, e: dict[str, Any] | None) -> str:
    """A few words on what a created entity is (its address, paths, config), secrets masked."""
    d = display_entity(table, e)
    if table == "services":
        port = d.get("port")
        return f"{d.get('protocol') or 'http'}://{d.get('host') or ''}{f':{port}' if port else ''}{d.get('path') or ''}"
    if table == "routes":
        parts = [" ".join(d.get(k) or []) for k in ("methods", "hosts", "paths") if d.get(k)]
        return "  ".join(parts)
    if table == "plugins":
        from ..plugins import get

        spec = get(str(d.get("name") or ""))
        # what the user set: values that differ from the plugin's defaults
        cfg = _non_default(spec.config.fields if spec else None, d.get("config") or {})
        off = "" if d.get("enabled", True) else "disabled · "
        text = ", ".join(f"{k}={value_text(v, 60)}" for k, v in sorted(cfg.items()))
        return off + (text if len(text) <= 140 else text[:139] + "…") if cfg else off + "default config"
    if table == "targets":
        return f"weight {d.get('weight')}"
    return ", ".join(f"{k} {value_text(d[k], 40)}" for k in ("group", "username", "custom_id") if d.get(k)) or ""
