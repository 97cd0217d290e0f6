"""The one async interface to any control plane: local runtime, Kong Admin API or Konnect.

The GUI, the CLI and the replication engine hold a ``ControlPlane`` and never ask which kind it
is; what differs between backends is stated up front in ``Capabilities`` (read-only DB-less
node, no consumer groups, which plugins exist ...), so the UI can grey out what cannot work
instead of failing later.

Entities are plain dicts in Kong's Admin API shape (every schema field present, unset ones
``None``), tables are Kong's table names (``services``, ``keyauth_credentials`` ...). Every
failure is one of ``controlplanes.errors``. Nothing here imports Qt.
"""

from __future__ import annotations

import builtins  # ``list`` is a method name in ControlPlane; annotations after it say builtins.list
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..jsontypes import JSONObject
from ..model.entities import DEPENDENCY_ORDER, ENTITIES
from .errors import ControlPlaneError, NotFound, Unsupported

Parent = tuple[str, str]
"""A parent entity for nested collections: ``("services", "<id or name>")``."""

MEMBERSHIP_TABLE = "consumer_group_consumers"
_MEMBERSHIP_NS = uuid.UUID("5b1f3c0e-7d1a-4d55-9a51-6c0d6f0a7e21")


@dataclass(frozen=True)
class Capabilities:
    """What a control plane can do, known before the user tries."""

    kind: str  # "local" | "kong-admin" | "konnect"
    writable: bool = True
    dbless: bool = False  # a DB-less Kong node: configuration only through /config
    consumer_groups: bool = True
    konnect: bool = False
    supports_tags: bool = True
    supports_patch: bool = True  # Konnect's core entities take PUT only; PATCH is emulated
    plugins: tuple[str, ...] = ()  # plugin names the gateway knows (empty: unknown yet)
    tables: tuple[str, ...] = DEPENDENCY_ORDER
    version: str | None = None
    probed: bool = False  # False until the server was asked (defaults are assumptions)

    def to_dict(self) -> JSONObject:
        return {
            "kind": self.kind, "writable": self.writable, "dbless": self.dbless,
            "consumer_groups": self.consumer_groups, "konnect": self.konnect,
            "supports_tags": self.supports_tags, "supports_patch": self.supports_patch,
            "plugins": list(self.plugins), "tables": list(self.tables), "version": self.version,
            "probed": self.probed,
        }


@dataclass
class RuntimeGroup:
    """A runtime group: a Konnect control plane, a Kong Admin URL, or a local runtime."""

    id: str
    name: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    extra: JSONObject = field(default_factory=dict)


@dataclass
class Node:
    """A data plane node serving a runtime group."""

    id: str
    hostname: str | None
    version: str | None
    last_seen: float | None  # Unix seconds
    status: str  # "connected" | "disconnected" | "unknown" | a server-given state
    extra: JSONObject = field(default_factory=dict)


@dataclass
class ConnectionReport:
    """What ``test_connection`` reached, or exactly why not. Holds no secret."""

    ok: bool
    target: str
    kind: str
    version: str | None = None
    node_count: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    error_type: str | None = None
    details: JSONObject = field(default_factory=dict)

    def __str__(self) -> str:
        if self.ok:
            parts = [f"reached {self.target}"]
            if self.version:
                parts.append(f"version {self.version}")
            if self.node_count is not None:
                parts.append(f"{self.node_count} node(s)")
            if self.latency_ms is not None:
                parts.append(f"{self.latency_ms:.0f} ms")
            return ", ".join(parts)
        return f"could not use {self.target}: {self.error}"


def check_table(table: str) -> None:
    if table not in ENTITIES:
        raise Unsupported(f"unknown table '{table}' (expected one of: {', '.join(sorted(ENTITIES))})")


def membership_entity(group_id: str, consumer_id: str, created_at: int | None = None) -> JSONObject:
    """A ``consumer_group_consumers`` row for backends that do not expose membership ids.

    The id is derived from the pair so two exports of the same membership compare equal.
    """
    return {
        "id": str(uuid.uuid5(_MEMBERSHIP_NS, f"{group_id}/{consumer_id}")),
        "created_at": created_at,
        "consumer_group": {"id": group_id},
        "consumer": {"id": consumer_id},
    }


# Fields Kong's Admin API adds to answers but never stores: a certificate's ``snis`` (its SNI
# entities' names; the SNIs themselves are listed as their own table).
PSEUDO_FIELDS: dict[str, tuple[str, ...]] = {"certificates": ("snis",)}


def normalize_entity(table: str, data: JSONObject) -> JSONObject:
    """Every schema field present (missing ones ``None``); unknown keys kept as the server sent
    them, except Kong's pseudo-fields."""
    d = ENTITIES.get(table)
    if d is None or not isinstance(data, dict):
        return data
    out = dict.fromkeys(d.schema.field_names)
    out.update(data)
    for f in PSEUDO_FIELDS.get(table, ()):
        out.pop(f, None)
    return out


def tags_param(tags: str | Sequence[str] | None, mode: str = "and") -> str | None:
    """Kong's ``tags`` query value: ``a,b`` (all of) or ``a/b`` (any of)."""
    if tags is None:
        return None
    if isinstance(tags, str):
        return tags
    if mode not in ("and", "or"):
        raise ValueError("tags_mode must be 'and' or 'or'")
    return ("," if mode == "and" else "/").join(tags)


class ControlPlane(ABC):
    """One control plane. Use as ``async with`` or call ``close()``."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.capabilities = Capabilities(kind=self.kind)

    # -- identity and health -------------------------------------------------------------------
    @property
    @abstractmethod
    def target(self) -> str:
        """Where this control plane is, for people: a URL, ``konnect us / cp-name``, ``local x``."""

    async def probe(self) -> Capabilities:
        """Ask the server what it can do; updates and returns ``capabilities``."""
        return self.capabilities

    @abstractmethod
    async def info(self) -> JSONObject:
        """Version, node id, hostname, and whatever counts the backend knows."""

    async def test_connection(self) -> ConnectionReport:
        """Reach the control plane once and report what was found (never raises for I/O)."""
        start = time.perf_counter()
        try:
            info = await self.info()
            latency = (time.perf_counter() - start) * 1000
            await self.probe()
            nodes = await self.nodes()
        except (ControlPlaneError, NotFound) as exc:
            return ConnectionReport(
                ok=False, target=self.target, kind=self.kind, error=exc.message,
                error_type=type(exc).__name__, latency_ms=None,
            )
        return ConnectionReport(
            ok=True, target=self.target, kind=self.kind, version=info.get("version"),
            node_count=len(nodes), latency_ms=latency, details=info,
        )

    @abstractmethod
    async def list_groups(self) -> list[RuntimeGroup]:
        """Runtime groups reachable with this connection."""

    @abstractmethod
    async def nodes(self) -> list[Node]:
        """Data plane nodes of the current runtime group."""

    async def upstream_health(self, upstream: str) -> dict[str, str] | None:
        """Target address → Kong's health word (HEALTHY, UNHEALTHY, DNS_ERROR, HEALTHCHECKS_OFF)
        for an upstream, as ``GET /upstreams/{u}/health`` reports it; None when this backend
        cannot tell (a control plane without data plane health, a store without a runtime)."""
        return None

    # -- entities ------------------------------------------------------------------------------
    @abstractmethod
    def list(
        self,
        table: str,
        *,
        page_size: int = 1000,
        tags: str | Sequence[str] | None = None,
        tags_mode: str = "and",
        parent: Parent | None = None,
    ) -> AsyncIterator[JSONObject]:
        """Stream every entity of ``table`` (optionally nested under ``parent``), page by page."""

    async def list_all(self, table: str, **kw: Any) -> builtins.list[JSONObject]:
        return [e async for e in self.list(table, **kw)]

    @abstractmethod
    async def get(self, table: str, id_or_key: str, *, parent: Parent | None = None) -> JSONObject:
        """One entity by id or endpoint key; ``NotFound`` when missing."""

    @abstractmethod
    async def create(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        """Create (POST); returns the stored entity."""

    @abstractmethod
    async def update(self, table: str, id: str, patch: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        """Partial update as Kong's PATCH (records merge deeply); ``NotFound`` when missing."""

    @abstractmethod
    async def upsert(self, table: str, id_or_key: str, data: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        """Create or replace (PUT) at ``id_or_key``."""

    @abstractmethod
    async def delete(self, table: str, id: str, *, parent: Parent | None = None) -> None:
        """Delete; deleting a missing entity is not an error (Kong answers 204)."""

    # -- consumer group membership -------------------------------------------------------------
    @abstractmethod
    async def add_consumer_to_group(self, group: str, consumer: str) -> None:
        """Make ``consumer`` (id or username) a member of ``group`` (id or name)."""

    @abstractmethod
    async def remove_consumer_from_group(self, group: str, consumer: str) -> None:
        """End a membership; ``NotFound`` when the group or consumer does not exist."""

    @abstractmethod
    def group_consumers(self, group: str) -> AsyncIterator[JSONObject]:
        """The consumers (entities) that are members of ``group``."""

    async def memberships(self) -> AsyncIterator[JSONObject]:
        """Every membership as a ``consumer_group_consumers`` row."""
        async for group in self.list("consumer_groups"):
            async for consumer in self.group_consumers(group["id"]):
                yield membership_entity(group["id"], consumer["id"])

    # -- whole configuration -------------------------------------------------------------------
    async def export(self, tables: Iterable[str] | None = None) -> dict[str, builtins.list[JSONObject]]:
        """Every entity of every table (``Config`` shape), parents first."""
        await self._ensure_probed()
        wanted = list(tables) if tables is not None else list(DEPENDENCY_ORDER)
        out: dict[str, list[JSONObject]] = {}
        for table in DEPENDENCY_ORDER:
            if table not in wanted:
                continue
            if table not in self.capabilities.tables or (
                table in ("consumer_groups", MEMBERSHIP_TABLE) and not self.capabilities.consumer_groups
            ):
                out[table] = []
                continue
            try:
                if table == MEMBERSHIP_TABLE:
                    out[table] = [m async for m in self.memberships()]
                else:
                    out[table] = await self.list_all(table)
            except NotFound:  # the gateway has no such collection (plugin DAO not loaded)
                out[table] = []
        return out

    async def _ensure_probed(self) -> None:
        if not self.capabilities.probed:
            await self.probe()

    # -- plugin schemas ------------------------------------------------------------------------
    @abstractmethod
    async def schema(self, plugin_name: str) -> JSONObject:
        """The gateway's ``/schemas/plugins/{name}`` JSON, to render forms for unbundled plugins."""

    # -- lifetime ------------------------------------------------------------------------------
    @abstractmethod
    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    async def __aenter__(self) -> ControlPlane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target}>"


__all__ = [
    "ControlPlane", "Capabilities", "RuntimeGroup", "Node", "ConnectionReport", "Parent",
    "MEMBERSHIP_TABLE", "check_table", "membership_entity", "normalize_entity", "tags_param",
]
