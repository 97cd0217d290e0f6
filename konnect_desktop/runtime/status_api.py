"""The Status API (Kong's ``status_listen``): health probes for load balancers and orchestrators,
on a listener of its own, without the Admin API's power.

* ``GET /status`` — the node's status, the same body as the Admin API's ``/status``
  (``status_body``, shared by both);
* ``GET /status/ready`` — 200 ``{"message": "ready"}`` once the store answers and the proxy serves
  a compiled configuration; 503 with Kong's reason otherwise (``kong/status/ready.lua``:
  "failed to connect to database", "router builds not yet complete", "draining");
* ``POST /status/ready`` with ``status=draining`` — from then on ``/status/ready`` answers 503
  "draining" (so a load balancer stops sending before the node stops); anything else: 400;
* ``GET /upstreams/{u}/targets``, ``/targets/all`` and ``/upstreams/{u}/health`` — read only, as
  Kong's Status API exposes them (no writes: the Admin API does those).

Like the Admin API it binds to loopback unless an admin token is configured (``check_bind``);
its answers carry no secrets and need no token.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ..jsontypes import JSONObject, JSONValue
from ..model.errors import NotFound
from .admin_upstreams import health_body, upstream_and_targets

if TYPE_CHECKING:
    from .health import HealthRegistry
    from .store import Store


def status_body(store: Store, stats: dict[str, int], reachable: bool) -> JSONObject:
    """Kong's ``/status`` answer."""
    try:
        import resource  # Unix only; Windows has no peak-RSS counter here

        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except ImportError:  # pragma: no cover
        rss_kib = 0
    total = stats.get("total_requests", 0)
    active = stats.get("active", 0)
    return {
        "database": {"reachable": reachable},
        "server": {
            "connections_accepted": total,
            "connections_active": active,
            "connections_handled": total,
            "connections_reading": 0,
            "connections_writing": active,
            "connections_waiting": 0,
            "total_requests": total,
        },
        "memory": {
            "workers_lua_vms": [{"http_allocated_gc": f"{rss_kib / 1024:.2f} MiB", "pid": os.getpid()}],
            "lua_shared_dicts": {},
        },
        "configuration_hash": f"{getattr(store, 'version', 0):032x}",
    }


def store_reachable(store: Store) -> bool:
    try:
        store.count("services")
        return True
    except Exception:
        return False


def _json(status: int, body: JSONValue = None) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json", charset="utf-8")


class StatusAPI:
    """``ready()`` tells whether the proxy serves a compiled configuration (the runtime's)."""

    def __init__(self, store: Store, ready: Callable[[], bool], health: HealthRegistry | None = None, node_id: str = "") -> None:
        self.store = store
        self.ready = ready
        self.health = health
        self.node_id = node_id
        self.draining = False
        self.stats = {"total_requests": 0, "active": 0}
        self.app = web.Application(client_max_size=64 * 1024)
        self.app.router.add_get("/status", self._status)
        self.app.router.add_get("/status/ready", self._ready)
        self.app.router.add_post("/status/ready", self._drain)
        if health is not None:
            self.app.router.add_get("/upstreams/{u}/health", self._upstream_health)
            self.app.router.add_get("/upstreams/{u}/targets", self._targets)
            self.app.router.add_get("/upstreams/{u}/targets/all", self._targets)
        self.app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _reachable(self) -> bool:
        return await asyncio.to_thread(store_reachable, self.store)

    async def _status(self, _request: web.Request) -> web.Response:
        self.stats["total_requests"] += 1
        return _json(200, status_body(self.store, self.stats, await self._reachable()))

    async def _ready(self, _request: web.Request) -> web.Response:
        self.stats["total_requests"] += 1
        if self.draining:
            return _json(503, {"message": "draining"})
        if not await self._reachable():
            return _json(503, {"message": "failed to connect to database"})
        if not self.ready():
            return _json(503, {"message": "router builds not yet complete"})
        return _json(200, {"message": "ready"})

    async def _drain(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            try:
                params = await request.json()
            except ValueError:
                params = {}
        else:
            params = dict(await request.post())
        params = {**request.query, **(params if isinstance(params, dict) else {})}
        if params.get("status") == "draining":
            self.draining = True
            return _json(204)
        return _json(400)

    async def _upstream(self, request: web.Request) -> tuple[JSONObject, list[JSONObject]] | None:
        try:
            return await asyncio.to_thread(upstream_and_targets, self.store, request.match_info["u"])
        except NotFound:
            return None

    async def _upstream_health(self, request: web.Request) -> web.Response:
        found = await self._upstream(request)
        if found is None or self.health is None:  # (routed only with a registry)
            return _json(404, {"message": "Not found"})
        upstream, targets = found
        return _json(200, health_body(self.health, upstream, targets,
                                      request.query.get("balancer_health") == "1", self.node_id))

    async def _targets(self, request: web.Request) -> web.Response:
        found = await self._upstream(request)
        if found is None:
            return _json(404, {"message": "Not found"})
        return _json(200, {"data": found[1], "next": None})

    async def _not_found(self, _request: web.Request) -> web.Response:
        return _json(404, {"message": "Not found"})


__all__ = ["StatusAPI", "status_body", "store_reachable"]
