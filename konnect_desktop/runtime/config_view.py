"""The compiled snapshot of one configuration: everything the proxy's hot path reads.

Built from the store's tables whenever configuration changes (off the hot path, in a worker
thread) and swapped in atomically by ``LocalRuntime``: a request keeps the snapshot it started
with, so a rebuild never changes the rules under a request in flight.

A snapshot holds the compiled router, the plugin index (one handler per enabled plugin
instance), the ``plugins.config_view.ConfigIndex`` plugins read through ``ConfigView`` (consumers,
credentials, ACL groups, consumer groups; also the chain resolver's consumer-group ids), the upstream balancers, and a memo of resolved plugin chains per
(route, service, consumer).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..model.entities import CREDENTIAL_TABLES
from ..model.schema import foreign_id
from ..plugins.base import Handler, RuntimeServices
from ..plugins.config_view import ConfigIndex
from .balancer import Balancer
from .health import HealthRegistry
from .upstream_tls import UpstreamTls, build_profiles

# Tables a snapshot is built from.
TABLES: tuple[str, ...] = (
    "services", "routes", "plugins", "consumers", "consumer_groups", "consumer_group_consumers",
    "upstreams", "targets", *CREDENTIAL_TABLES,
)

_CHAIN_MEMO_MAX = 20000


def _overrides(handler: Handler, phase: str) -> bool:
    return getattr(type(handler), phase) is not getattr(Handler, phase)


class ChainEntry(NamedTuple):
    """One plugin instance in a resolved chain, with which of its phases the proxy must call
    (a phase the handler does not override is skipped without a call)."""

    handler: Handler
    name: str
    header_filter: bool
    body_filter: bool
    log: bool
    access: bool
    buffers_response: bool
    phases: int  # the response-side flags above as bits (``FILTERS``, ``LOGS``, ``BUFFERS``), OR-ed per request

    @classmethod
    def of(cls, name: str, h: Handler) -> ChainEntry:
        header_filter, body_filter = _overrides(h, "header_filter"), _overrides(h, "body_filter")
        logs, buffers = _overrides(h, "log"), bool(h.buffers_response)
        phases = (FILTERS if header_filter or body_filter else 0) | (LOGS if logs else 0) | (BUFFERS if buffers else 0)
        return cls(h, name, header_filter, body_filter, logs, _overrides(h, "access"), buffers, phases)


FILTERS, LOGS, BUFFERS = 1, 2, 4  # ``ChainEntry.phases``: a header or body filter, a log phase, buffering


class Snapshot:
    """One compiled configuration. ``inflight`` counts requests running on it."""

    def __init__(self, version: int, config: dict[str, list[dict[str, Any]]], router: Any,
                 plugins: Any, view: ConfigIndex, balancers: dict[str, Balancer]) -> None:
        self.version = version
        self.config = config
        self.router = router
        self.plugins = plugins  # plugins.chain.PluginIndex or None
        self.view = view
        self.balancers = balancers
        self.upstream_tls: dict[str, UpstreamTls] = {}  # service id -> TLS settings to its upstream
        self.errors: list[str] = []  # problems found while compiling (besides router and plugins)
        names = plugins.names_by_priority if plugins is not None else ()
        self.names: tuple[str, ...] = tuple(names() if callable(names) else names)
        # False: a chain is the same for every consumer (no instance scoped to one or a group)
        self.consumer_scoped: bool = bool(getattr(plugins, "consumer_scoped", True))
        self._chains: dict[tuple[str | None, str | None, str | None], tuple[Any, ...]] = {}
        self.cache: dict[Any, Any] = {}  # per-snapshot memo of the proxy (e.g. service params)
        self.inflight = 0
        self.retired = False
        self.closed = False

    def chain(self, route_id: str | None, service_id: str | None,
              consumer_id: str | None) -> tuple[ChainEntry | None, ...]:
        """``ChainEntry`` (or None) aligned with ``names`` for this route/service/consumer;
        ``()`` when no plugin applies. Resolved once per combination and memoised."""
        key = (route_id, service_id, consumer_id)
        chain = self._chains.get(key)
        if chain is not None:
            return chain
        if not self.names:
            chain = ()
        else:
            groups = self.view.group_ids(consumer_id) if consumer_id else ()
            out: list[ChainEntry | None] = []
            for name in self.names:
                h = self.plugins.lookup(name, route_id, service_id, consumer_id, groups)
                if h is None:
                    out.append(None)
                    continue
                protocols = (getattr(h, "plugin", None) or {}).get("protocols")
                if protocols and "http" not in protocols:
                    out.append(None)
                    continue
                out.append(ChainEntry.of(name, h))
            chain = tuple(out) if any(x is not None for x in out) else ()
        if len(self._chains) >= _CHAIN_MEMO_MAX:
            self._chains.clear()
        self._chains[key] = chain
        return chain

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.plugins is not None:
            await self.plugins.close()


def build_snapshot(version: int, config: dict[str, list[dict[str, Any]]],
                   runtime: RuntimeServices, health: HealthRegistry | None = None) -> Snapshot:
    """Compile ``config`` (table → entities, Admin API shape). Pure CPU; safe in a thread.
    ``health``: the runtime's target health, which the balancers consult on every pick."""
    from ..plugins.chain import PluginIndex
    from .router import Router

    services = {s["id"]: s for s in config.get("services", ())}
    # the router leaves out routes of disabled services (Kong does too)
    router = Router.compile(config.get("routes", ()), services)
    plugins = [p for p in config.get("plugins", ()) if p.get("enabled", True) is not False]
    index = PluginIndex.build(plugins, runtime) if plugins else None
    view = ConfigIndex.build(config)
    targets_by_upstream: dict[str, list[dict[str, Any]]] = {}
    for t in config.get("targets", ()):
        uid = foreign_id(t.get("upstream"))
        if uid:
            targets_by_upstream.setdefault(uid, []).append(t)
    balancers = {u["name"]: Balancer(u, targets_by_upstream.get(u["id"], []), health)
                 for u in config.get("upstreams", ())}
    snap = Snapshot(version, config, router, index, view, balancers)
    snap.upstream_tls, snap.errors = build_profiles(config)
    if index is not None:
        # Kong's plugins iterator: each route's chain is resolved here, off the hot path (a
        # consumer's own chain is resolved on its first request, then kept)
        for r in config.get("routes", ())[:_CHAIN_MEMO_MAX // 2]:
            sid = foreign_id(r.get("service"))
            if sid is not None:
                snap.chain(r.get("id"), sid, None)
    return snap
