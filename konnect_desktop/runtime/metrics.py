"""Prometheus metrics of a local runtime, for the Admin API's ``GET /metrics`` and any other
listener that wants to serve them (a status endpoint mounts ``metrics_handler``).

The per-request counters live with the prometheus plugin (``plugins.prometheus.Metrics``, in the
runtime's shared state); this module adds what only the runtime knows at scrape time — its
connections, requests served, whether its store answers, its node id and upstream targets — and
renders Kong's text exposition.

Connection states: ``active`` (open client connections), ``writing`` (requests in progress),
``waiting`` (idle keep-alive connections) and ``total`` (requests served); nginx's ``accepted``,
``handled`` and ``reading`` counters have no counterpart in the proxy yet and are left out.
Each target reports its health as the Admin API does (``runtime.health``): ``healthy`` or
``unhealthy`` when its upstream uses health checks, else ``healthchecks_off``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..plugins.prometheus import CONTENT_TYPE, Metrics, NodeFacts, render

if TYPE_CHECKING:  # the runtime imports this module
    from aiohttp import web

    from .runtime import LocalRuntime


async def node_facts(rt: LocalRuntime) -> NodeFacts:
    """Scrape-time facts of a ``LocalRuntime``."""
    from .dataplane import KONG_VERSION

    facts = NodeFacts(node_id=rt.node_id, version=KONG_VERSION, total_requests=rt.traffic.total)
    proxy = rt.proxy
    if proxy is not None:
        active = len(proxy.connections)
        writing = min(proxy.inflight, active)
        facts.connections = {"active": active, "writing": writing, "waiting": active - writing,
                             "total": rt.traffic.total}
        snap = proxy.snapshot
        for name, balancer in sorted((getattr(snap, "balancers", None) or {}).items()):
            for host, port, weight, _cw in balancer.peers:
                state = rt.health.address_health(balancer.upstream, host, port, weight).lower()
                facts.upstream_targets.append((name, f"{host}:{port}", f"{host}:{port}", state))
    store = rt.store
    if store is None:
        facts.datastore_reachable = False
    else:
        try:
            await store.aio.count("services")
        except Exception:
            facts.datastore_reachable = False
    return facts


async def prometheus_text(rt: LocalRuntime) -> str:
    """The runtime's metrics in the Prometheus text format."""
    metrics: Metrics | None = rt.services.shared_state("prometheus").get("metrics")
    return render(metrics, await node_facts(rt))


def metrics_handler(rt: LocalRuntime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler serving ``prometheus_text(rt)`` (mount it on ``GET /metrics``)."""
    from aiohttp import web

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=(await prometheus_text(rt)).encode(), headers={"Content-Type": CONTENT_TYPE})

    return handle


__all__ = ["node_facts", "prometheus_text", "metrics_handler", "CONTENT_TYPE"]
