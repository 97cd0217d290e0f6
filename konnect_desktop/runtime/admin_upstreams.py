"""The Admin API's upstream health endpoints, as Kong 3.x writes them by hand
(``kong/api/routes/upstreams.lua``, ``kong/db/dao/targets.lua``):

* ``GET /upstreams/{u}/health`` — the upstream's targets, each with ``health`` (HEALTHY,
  UNHEALTHY or HEALTHCHECKS_OFF) and ``data`` (addresses and weights), plus ``node_id``;
  ``?balancer_health=1`` answers the upstream as a whole (``data.health``, ``data.details``).
* ``GET /upstreams/{u}/targets/all`` — every target row, paginated (Kong's "raw" list; this
  store keeps one row per target, so it holds what ``/targets`` holds).
* ``PUT /upstreams/{u}/targets/{t}/healthy|unhealthy`` and
  ``PUT /upstreams/{u}/targets/{t}/{address}/healthy|unhealthy`` — set a target (or one address
  of it) by hand: 204, 404 for an unknown upstream or target.

The state lives in the ``HealthRegistry`` the runtime shares with its balancers (``api.health``);
store reads run on the Admin API's worker thread, the registry is touched on the loop.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from ..jsontypes import JSONObject, JSONValue
from ..model import ENTITIES
from ..model.errors import NotFound
from .health import HealthRegistry, target_key

if TYPE_CHECKING:  # admin_api imports this module to register it
    from .admin_api import AdminAPI, Call, Handler
    from .store import Store


def _json(status: int, body: JSONValue = None) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json", charset="utf-8")


def upstream_and_targets(store: Store, key: str) -> tuple[JSONObject, list[JSONObject]]:
    """An upstream (by id or name) and its targets, newest first as Kong walks its target
    history (ties: the later insert first). ``NotFound`` for an unknown upstream."""
    upstream = store.find("upstreams", key)
    if upstream is None:
        raise NotFound()
    targets = store.all("targets", where={"upstream": upstream["id"]})[::-1]
    targets.sort(key=lambda t: t.get("created_at") or 0, reverse=True)
    return upstream, targets


def health_body(registry: HealthRegistry, upstream: JSONObject, targets: list[JSONObject],
                balancer_health: bool, node_id: str) -> JSONObject:
    """``GET /upstreams/{u}/health`` (Admin API and Status API)."""
    if balancer_health:
        return {"data": registry.balancer_report(upstream, targets), "next": None, "node_id": node_id}
    return {"data": [registry.target_report(upstream, t) for t in targets], "next": None, "node_id": node_id}


def register(api: AdminAPI) -> None:
    """Add the health endpoints to an ``AdminAPI`` (``api.health`` is its registry)."""
    if getattr(api, "health", None) is None:
        api.health = HealthRegistry()

    def upstream_and_targets_of(key: str) -> tuple[JSONObject, list[JSONObject]]:
        return upstream_and_targets(api.store, key)

    async def health(call: Call) -> web.StreamResponse:
        upstream, targets = await api.run(lambda: upstream_and_targets_of(call.params[0]))
        return _json(200, health_body(api.health, upstream, targets, str(call.arg("balancer_health")) == "1",
                                      api.node_id))

    def set_health(healthy: bool) -> Handler:
        async def handler(call: Call) -> web.StreamResponse:
            def find() -> tuple[JSONObject, JSONObject]:
                upstream, targets = upstream_and_targets_of(call.params[0])
                key = call.params[1]
                for t in targets:
                    if t["id"] == key or t["target"] == key:
                        return upstream, t
                raise NotFound()

            upstream, target = await api.run(find)
            if len(call.params) > 2:  # one address of the target
                host, port = target_key(call.params[2])
            else:
                host, port = target_key(target["target"])
            api.health.set_health(upstream["id"], host, port, healthy)
            return _json(204)

        return handler

    base = "/upstreams/{upstreams}"
    api.route(f"{base}/health", "GET", health)
    api.route(f"{base}/targets/all", "GET",
              api._list_handler(ENTITIES["targets"], "upstream", ENTITIES["upstreams"], "targets/all"))
    # Kong 3.x answers PUT; Kong 2.x clients (and its older specs) POST: both are accepted
    for word, healthy in (("healthy", True), ("unhealthy", False)):
        for verb in ("PUT", "POST"):
            api.route(f"{base}/targets/{{targets}}/{word}", verb, set_health(healthy), raw_body=True)
            api.route(f"{base}/targets/{{targets}}/{{address}}/{word}", verb, set_health(healthy), raw_body=True)


__all__ = ["health_body", "register", "upstream_and_targets"]
