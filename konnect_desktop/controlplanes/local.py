"""The bundled gateway as a control plane: entities straight from its SQLite ``Store``.

Wraps a ``LocalRuntime`` (the store, and the running proxy/Admin API when started) or, for a
runtime that is not running (CLI ``dump`` of a stopped runtime, offline editing), just its
``Store``. The store is synchronous; every call runs in a worker thread so the event loop (the
GUI's qasync loop) never waits on SQLite. Store errors (``KongError``, ``NotFound``) become the
common control plane errors with Kong's body intact, so forms show the same field messages
whichever backend answered.
"""

from __future__ import annotations

import asyncio
import builtins  # ``list`` is a method name here; annotations after it say builtins.list
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from .. import __version__
from ..jsontypes import JSONObject
from ..model.entities import DEPENDENCY_ORDER, ENTITIES
from ..model.errors import KongError
from .base import (
    MEMBERSHIP_TABLE,
    Capabilities,
    ControlPlane,
    Node,
    Parent,
    RuntimeGroup,
    check_table,
)
from .errors import ApiError, ControlPlaneError, NotFound, Unsupported

if TYPE_CHECKING:
    from ..runtime.runtime import LocalRuntime
    from ..runtime.store import Store

T = TypeVar("T")
P = ParamSpec("P")


def _bundled_plugins() -> tuple[str, ...]:
    from .. import plugins

    return tuple(s.name for s in plugins.all_specs())


class LocalControlPlane(ControlPlane):
    """A local runtime group. ``runtime`` is a ``LocalRuntime``; pass ``store=`` alone for a
    runtime that is not running."""

    kind = "local"

    def __init__(self, runtime: LocalRuntime | None = None, *, store: Store | None = None, name: str | None = None) -> None:
        super().__init__()
        if store is None:
            if runtime is None:
                raise ValueError("LocalControlPlane needs a LocalRuntime or a Store")
            store = runtime.store
            if store is None:  # every call would fail on it: say so now
                raise ValueError("LocalControlPlane needs a started LocalRuntime (its store is not open)")
        self.runtime = runtime
        self.store: Store = store
        self.name = name or getattr(runtime, "name", None) or self.store.path.stem
        self.capabilities = Capabilities(
            kind=self.kind, writable=True, consumer_groups=True, supports_tags=True,
            supports_patch=True, plugins=_bundled_plugins(), version=__version__, probed=True,
        )
        self._closed = False

    @property
    def target(self) -> str:
        return f"local runtime '{self.name}'"

    async def _call(self, fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        if self._closed:
            raise ControlPlaneError("this connection was closed", target=self.target)
        try:
            return await asyncio.to_thread(fn, *args, **kw)
        except NotFound as exc:  # the store's own 404, said with which control plane answered
            raise NotFound(exc.message, target=self.target) from None
        except KongError as exc:
            raise ApiError(exc.message, status=exc.status, code=exc.code, name=exc.name,
                           fields=exc.fields, body=exc.to_dict(), target=self.target) from None
        except ValueError as exc:  # unknown table / filter: a programming error, said plainly
            raise Unsupported(str(exc), target=self.target) from None

    # -- identity and health -------------------------------------------------------------------
    async def info(self) -> JSONObject:
        counts = await self._call(lambda: {t: self.store.count(t) for t in DEPENDENCY_ORDER})
        rt = self.runtime
        return {
            "kind": self.kind,
            "target": self.target,
            "version": __version__,
            "hostname": socket.gethostname(),
            "node_id": getattr(rt, "node_id", None),
            "state": str(getattr(rt, "state", "stopped")) if rt is not None else "stopped",
            "proxy_url": getattr(rt, "proxy_url", None),
            "admin_url": getattr(rt, "admin_url", None),
            "database": str(self.store.path),
            "counts": counts,
            "plugins_available": list(self.capabilities.plugins),
        }

    async def list_groups(self) -> list[RuntimeGroup]:
        return [RuntimeGroup(id=self.name, name=self.name, kind=self.kind, description="Local runtime",
                             extra={"database": str(self.store.path)})]

    async def nodes(self) -> list[Node]:
        rt = self.runtime
        state = getattr(rt, "state", None)
        state_name = getattr(state, "value", state)
        running = rt is not None and str(state_name).lower() in ("running", "started")
        return [Node(id=str(getattr(rt, "node_id", None) or self.name), hostname=socket.gethostname(),
                     version=__version__, last_seen=time.time() if running else None,
                     status="connected" if running else ("stopped" if rt is None else str(state_name).lower()),
                     extra={"proxy_url": getattr(rt, "proxy_url", None)})]

    async def upstream_health(self, upstream: str) -> dict[str, str] | None:
        """From the running runtime's health registry (what its Admin API's health endpoint says)."""
        health = getattr(self.runtime, "health", None)
        if health is None:
            return None
        up = await self.get("upstreams", upstream)
        targets = await self.list_all("targets", parent=("upstreams", up["id"]))
        return {str(t["target"]): str(health.target_report(up, t)["health"]) for t in targets}

    # -- entities ------------------------------------------------------------------------------
    def _fk_to(self, table: str, parent_table: str) -> str:
        for fname, f in ENTITIES[table].foreign_keys.items():
            if f.reference == parent_table:
                return fname
        raise Unsupported(f"'{table}' cannot be nested under '{parent_table}'", target=self.target)

    async def _where(self, table: str, parent: Parent | None) -> JSONObject | None:
        if parent is None:
            return None
        ptable, pkey = parent
        check_table(ptable)
        fk = self._fk_to(table, ptable)
        p = await self._call(self.store.get, ptable, pkey)
        return {fk: p["id"]}

    async def _under(self, table: str, data: JSONObject, parent: Parent | None) -> JSONObject:
        """A copy of ``data`` with its foreign key set to ``parent`` (create/upsert under a parent)."""
        data = dict(data)
        for fk, pid in (await self._where(table, parent) or {}).items():
            data[fk] = {"id": pid}
        return data

    async def list(
        self,
        table: str,
        *,
        page_size: int = 1000,
        tags: str | Sequence[str] | None = None,
        tags_mode: str = "and",
        parent: Parent | None = None,
    ) -> AsyncIterator[JSONObject]:
        check_table(table)
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        where = await self._where(table, parent)
        if isinstance(tags, str):
            tags = [t for t in tags.replace("/", ",").split(",") if t] if tags else None
        offset: str | None = None
        while True:
            items, offset = await self._call(self.store.page, table, page_size, offset, tags, tags_mode, where)
            for item in items:
                yield item
            if offset is None:
                return

    async def get(self, table: str, id_or_key: str, *, parent: Parent | None = None) -> JSONObject:
        check_table(table)
        return await self._call(self.store.get, table, id_or_key, where=await self._where(table, parent))

    async def create(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        check_table(table)
        return await self._call(self.store.insert, table, await self._under(table, data, parent))

    async def update(self, table: str, id: str, patch: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        check_table(table)
        return await self._call(self.store.update, table, id, patch, where=await self._where(table, parent))

    async def upsert(self, table: str, id_or_key: str, data: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        check_table(table)
        return await self._call(self.store.upsert, table, id_or_key, await self._under(table, data, parent))

    async def delete(self, table: str, id: str, *, parent: Parent | None = None) -> None:
        check_table(table)
        await self._call(self.store.delete, table, id, where=await self._where(table, parent))

    # -- consumer groups -----------------------------------------------------------------------
    async def _pair(self, group: str, consumer: str) -> tuple[str, str]:
        g = await self._call(self.store.get, "consumer_groups", group)
        c = await self._call(self.store.get, "consumers", consumer)
        return g["id"], c["id"]

    async def add_consumer_to_group(self, group: str, consumer: str) -> None:
        gid, cid = await self._pair(group, consumer)
        await self._call(self.store.insert, MEMBERSHIP_TABLE, {"consumer_group": {"id": gid}, "consumer": {"id": cid}})

    async def remove_consumer_from_group(self, group: str, consumer: str) -> None:
        gid, cid = await self._pair(group, consumer)
        rows = await self._call(self.store.all, MEMBERSHIP_TABLE, where={"consumer_group": gid, "consumer": cid})
        if not rows:
            raise NotFound(target=self.target)
        await self._call(self.store.delete, MEMBERSHIP_TABLE, rows[0]["id"])

    async def group_consumers(self, group: str) -> AsyncIterator[JSONObject]:
        g = await self._call(self.store.get, "consumer_groups", group)
        rows = await self._call(self.store.all, MEMBERSHIP_TABLE, where={"consumer_group": g["id"]})
        for row in rows:
            consumer = await self._call(self.store.find, "consumers", row["consumer"]["id"])
            if consumer is not None:
                yield consumer

    async def memberships(self) -> AsyncIterator[JSONObject]:
        for row in await self._call(self.store.all, MEMBERSHIP_TABLE):
            yield row

    async def export(self, tables: Iterable[str] | None = None) -> dict[str, builtins.list[JSONObject]]:
        """One consistent snapshot straight from the store."""
        config = await self._call(self.store.export)
        if tables is not None:
            wanted = set(tables)
            config = {t: v for t, v in config.items() if t in wanted}
        return config

    async def schema(self, plugin_name: str) -> JSONObject:
        from .. import plugins

        if plugins.get(plugin_name) is None:
            raise NotFound(f"No plugin named '{plugin_name}'", target=self.target)
        return plugins.entity_schema(plugin_name).to_kong()

    async def close(self) -> None:
        # The runtime and its store belong to whoever started them; we only stop using them.
        self._closed = True


__all__ = ["LocalControlPlane"]
