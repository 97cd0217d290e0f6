"""Which plugin instance applies to a request: compiled once per configuration, looked up per request.

``PluginIndex.build(plugins, runtime)`` takes the enabled plugin entities (configs already
validated), builds one handler per instance (handlers compile what they can in ``__init__``) and
indexes them by scope. The data plane walks ``names_by_priority`` (Kong's PRIORITY order, higher
first, ties by name) and, for each name, asks ``lookup(name, route_id, service_id, consumer_id,
consumer_group_ids)`` with the consumer known at that moment — so consumer-scoped instances apply
after an auth plugin has identified the consumer, as in Kong.

When several instances of one plugin could apply, the most specific wins and only it runs. The
order is Kong Enterprise/Konnect's (consumer groups included; KONG-REFERENCE §1.4):

 1 consumer + route + service      5 consumer group + route      9 consumer group
 2 consumer group + service + route 6 consumer group + service  10 route
 3 consumer + route                 7 route + service           11 service
 4 consumer + service               8 consumer                  12 global

``consumer_group_ids`` are the consumer's groups in name order (as ``ConfigView.consumer_groups``
returns them): when two groups both have an instance at the same level, the group whose name sorts
first wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..jsontypes import JSONObject
from . import get as get_spec
from .base import Handler, RuntimeServices

log = logging.getLogger(__name__)

# scope shape: which of (route, service, consumer, consumer_group) an instance is bound to
Shape = tuple[bool, bool, bool, bool]
_R, _S, _C, _G = 0, 1, 2, 3
PRECEDENCE: tuple[Shape, ...] = (
    (True, True, True, False),    # 1 consumer + route + service
    (True, True, False, True),    # 2 consumer group + service + route
    (True, False, True, False),   # 3 consumer + route
    (False, True, True, False),   # 4 consumer + service
    (True, False, False, True),   # 5 consumer group + route
    (False, True, False, True),   # 6 consumer group + service
    (True, True, False, False),   # 7 route + service
    (False, False, True, False),  # 8 consumer
    (False, False, False, True),  # 9 consumer group
    (True, False, False, False),  # 10 route
    (False, True, False, False),  # 11 service
    (False, False, False, False),  # 12 global
)
_RANK = {shape: i for i, shape in enumerate(PRECEDENCE)}

ScopeKey = tuple[str | None, str | None, str | None, str | None]


def _ref(entity: JSONObject, name: str) -> str | None:
    ref = entity.get(name)
    if isinstance(ref, dict):
        v = ref.get("id")
        return str(v) if v else None
    return str(ref) if ref else None


@dataclass
class _Plugin:
    """All instances of one plugin name."""

    priority: int
    by_scope: dict[ScopeKey, Handler] = field(default_factory=dict)
    shapes: list[Shape] = field(default_factory=list)  # the shapes present, most specific first


@dataclass
class Skipped:
    plugin: JSONObject
    reason: str


class PluginIndex:
    """The compiled plugin instances of one configuration (immutable once built)."""

    def __init__(self, plugins: dict[str, _Plugin], handlers: list[Handler], skipped: list[Skipped]) -> None:
        self._plugins = plugins
        self.handlers = handlers
        self.skipped = skipped
        self.names_by_priority: tuple[str, ...] = tuple(
            sorted(plugins, key=lambda n: (-plugins[n].priority, n)))
        # whether any instance is scoped to a consumer or a consumer group: if none is, the
        # consumer an auth plugin identifies never changes which instances apply
        self.consumer_scoped = any(shape[_C] or shape[_G] for p in plugins.values() for shape in p.shapes)

    @classmethod
    def build(cls, plugins: Iterable[JSONObject], runtime: RuntimeServices) -> PluginIndex:
        by_name: dict[str, _Plugin] = {}
        handlers: list[Handler] = []
        skipped: list[Skipped] = []
        for entity in plugins:
            if entity.get("enabled") is False:
                continue
            name = entity.get("name")
            spec = get_spec(name) if isinstance(name, str) else None
            if spec is None or spec.handler is None:
                skipped.append(Skipped(entity, f"plugin '{name}' is not bundled with this gateway"))
                continue
            key: ScopeKey = (_ref(entity, "route"), _ref(entity, "service"),
                             _ref(entity, "consumer"), _ref(entity, "consumer_group"))
            shape: Shape = (key[0] is not None, key[1] is not None, key[2] is not None, key[3] is not None)
            if shape not in _RANK:  # e.g. consumer and consumer group together: never applies
                skipped.append(Skipped(entity, "scoped to both a consumer and a consumer group"))
                continue
            entry = by_name.setdefault(spec.name, _Plugin(spec.priority))
            if key in entry.by_scope:
                skipped.append(Skipped(entity, "another instance has the same scope"))
                continue
            try:
                handler = spec.handler(entity.get("config") or {}, entity, runtime)
            except Exception as exc:  # a config the handler cannot compile must not take the gateway down
                log.exception("plugin %s (%s) could not be built", spec.name, entity.get("id"))
                skipped.append(Skipped(entity, f"could not be built: {exc}"))
                continue
            entry.by_scope[key] = handler
            if shape not in entry.shapes:
                entry.shapes.append(shape)
            handlers.append(handler)
        for entry in by_name.values():
            entry.shapes.sort(key=_RANK.__getitem__)
        return cls({n: p for n, p in by_name.items() if p.by_scope}, handlers, skipped)

    def lookup(
        self,
        name: str,
        route_id: str | None = None,
        service_id: str | None = None,
        consumer_id: str | None = None,
        consumer_group_ids: Sequence[str] = (),
    ) -> Handler | None:
        """The one instance of ``name`` that applies to this request, or None."""
        entry = self._plugins.get(name)
        if entry is None:
            return None
        by_scope = entry.by_scope
        for shape in entry.shapes:
            r = route_id if shape[_R] else None
            s = service_id if shape[_S] else None
            c = consumer_id if shape[_C] else None
            if (shape[_R] and r is None) or (shape[_S] and s is None) or (shape[_C] and c is None):
                continue
            if shape[_G]:
                for g in consumer_group_ids:
                    h = by_scope.get((r, s, None, g))
                    if h is not None:
                        return h
                continue
            h = by_scope.get((r, s, c, None))
            if h is not None:
                return h
        return None

    def chain(
        self,
        route_id: str | None = None,
        service_id: str | None = None,
        consumer_id: str | None = None,
        consumer_group_ids: Sequence[str] = (),
    ) -> list[Handler]:
        """Every applicable handler in priority order for a fixed consumer (for tools and the GUI;
        the data plane looks up name by name as the consumer becomes known)."""
        out = []
        for name in self.names_by_priority:
            h = self.lookup(name, route_id, service_id, consumer_id, consumer_group_ids)
            if h is not None:
                out.append(h)
        return out

    @property
    def buffers_response(self) -> bool:
        """Whether any instance may need whole response bodies."""
        return any(h.buffers_response for h in self.handlers)

    async def close(self) -> None:
        """Release handler resources (e.g. Redis connection pools)."""
        results = await asyncio.gather(*(h.close() for h in self.handlers), return_exceptions=True)
        for h, res in zip(self.handlers, results, strict=True):
            if isinstance(res, BaseException):
                log.warning("closing plugin %s failed: %s", h.plugin.get("name"), res)


__all__ = ["PluginIndex", "PRECEDENCE", "Skipped"]
