"""rate-limiting: limit how many requests a client may make per second/minute/hour/day/month/year.

Kong's bundled plugin, with fixed windows aligned to UTC calendar boundaries. The client is
counted by ``limit_by`` (consumer, credential, ip, service, header or path; falling back to the
client IP) in counters keyed by the route and service the *plugin instance* is attached to, so a
global instance shares one counter per client across all routes (as Kong does).

Policies: ``local`` (this runtime's memory; ``cluster`` is the same on a single-node desktop
gateway) and ``redis`` (shared by every runtime using the same Redis). Both check and count in
one atomic step, so a limit of N lets exactly N requests through under concurrency; a rejected
request is not counted. ``sync_rate`` is accepted for compatibility; counting is always
synchronous here, which is the exact end of what it trades off.

Responses carry Kong's headers (``X-RateLimit-Limit-<Period>``, ``X-RateLimit-Remaining-<Period>``,
``RateLimit-Limit/Remaining/Reset``, and ``Retry-After`` on rejections) unless
``hide_client_headers``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..jsontypes import JSONObject
from ..model.paths import validate_host, validate_service_path
from ..model.schema import (
    AtLeastOneOf,
    Boolean,
    Conditional,
    Integer,
    Number,
    Record,
    String,
    foreign_id,
)
from .base import (
    Decision,
    Handler,
    PluginExit,
    PluginSpec,
    RequestContext,
    moved_fields,
)
from .http_util import UNEXPECTED, header_name_error
from .rate_limiting_policies import (
    EXPIRATION,
    NULL_ID,
    PERIODS,
    Counter,
    LocalPolicy,
    PolicyError,
    RedisPolicy,
    periods_order_error,
    window_end,
    window_starts,
)

NAME = "rate-limiting"
PRIORITY = 910
SYNC_RATE_REALTIME = -1
DEFAULT_MESSAGE = "API rate limit exceeded"

X_LIMIT = {p: f"X-RateLimit-Limit-{p.capitalize()}" for p in PERIODS}
X_REMAINING = {p: f"X-RateLimit-Remaining-{p.capitalize()}" for p in PERIODS}
RATELIMIT_LIMIT = "RateLimit-Limit"
RATELIMIT_REMAINING = "RateLimit-Remaining"
RATELIMIT_RESET = "RateLimit-Reset"
RETRY_AFTER = "Retry-After"


# -- schema ---------------------------------------------------------------------------------------
def _validate_config(config: dict[str, Any]) -> str | None:
    """Kong's record-level check: longer periods may not have lower limits; sync_rate rules."""
    order = periods_order_error(config)
    if order is not None:
        return order
    sync_rate = config.get("sync_rate")
    if config.get("policy") != "redis" and sync_rate != SYNC_RATE_REALTIME:
        return "sync_rate can only be used with the redis policy"
    if config.get("policy") == "redis" and sync_rate != SYNC_RATE_REALTIME and isinstance(sync_rate, (int, float)) \
            and sync_rate < 0.02:
        return "sync_rate must be greater than 0.02, or -1 to disable"
    return None


def _path_check(v: str) -> str | None:
    return validate_service_path(v)


REDIS = Record(
    [
        ("host", String(custom=validate_host, description="Host name or IP address of the Redis server.")),
        ("port", Integer(between=(0, 65535), default=6379, description="Port of the Redis server.")),
        ("timeout", Integer(between=(0, 2**31 - 2), default=2000,
                            description="Connect, send and read timeout for Redis, in milliseconds.")),
        ("username", String(referenceable=True, description="Username for Redis ACL authentication (Redis 6+). When unset, no ACL authentication is done.")),
        ("password", String(len_min=0, secret=True, referenceable=True, description="Password for Redis. When unset, no AUTH command is sent.")),
        ("database", Integer(default=0, description="Redis database number to keep the counters in.")),
        ("ssl", Boolean(required=True, default=False, description="Connect to Redis over TLS.")),
        ("ssl_verify", Boolean(required=True, default=False, description="Verify the Redis server's TLS certificate.")),
        ("server_name", String(custom=validate_host, description="Server name (SNI) for the TLS connection to Redis.")),
    ],
    nullable=False,
    description="Redis connection, used when `policy` is `redis`.",
)

CONFIG = Record(
    [
        *[(p, Number(gt=0, description=f"How many HTTP requests a client may make per {p}."))
          for p in PERIODS],
        ("limit_by", String(one_of=("consumer", "credential", "ip", "service", "header", "path"), default="consumer",
                            description="What a client is counted by. When it cannot be determined (e.g. no consumer was identified), the client IP is used.")),
        ("header_name", String(custom=header_name_error, description="Header whose value identifies the client when `limit_by` is `header`.")),
        ("path", String(starts_with="/", custom=_path_check, description="Request path counted together when `limit_by` is `path` (exact match)." )),
        ("policy", String(one_of=("local", "cluster", "redis"), default="local", len_min=0,
                          description="Where counters are kept: `local` (this runtime's memory), `cluster` (same as local on a single-node gateway) or `redis` (shared by all runtimes using the same Redis).")),
        ("fault_tolerant", Boolean(required=True, default=True,
                                   description="When the counter store cannot be reached: proxy the request anyway (`true`), or answer 500 (`false`).")),
        ("redis", REDIS),
        ("hide_client_headers", Boolean(required=True, default=False,
                                        description="Do not send the rate-limit headers to the client.")),
        ("error_code", Number(gt=0, default=429, description="Status code answered when the limit is exceeded.")),
        ("error_message", String(default=DEFAULT_MESSAGE, description="Message answered when the limit is exceeded.")),
        ("sync_rate", Number(required=True, default=-1,
                             description="How often (seconds) counters are synchronized with Redis; -1 counts synchronously. Only with the redis policy (this gateway always counts synchronously).")),
    ],
    nullable=False,
    custom=_validate_config,
    description="Limits per period and where counters are kept.",
)

ENTITY_CHECKS = [
    AtLeastOneOf([f"config.{p}" for p in PERIODS]),
    Conditional("config.policy", {"eq": "redis"}, "config.redis.host", {"required": True}),
    Conditional("config.policy", {"eq": "redis"}, "config.redis.port", {"required": True}),
    Conditional("config.policy", {"eq": "redis"}, "config.redis.timeout", {"required": True}),
    Conditional("config.limit_by", {"eq": "header"}, "config.header_name", {"required": True}),
    Conditional("config.limit_by", {"eq": "path"}, "config.path", {"required": True}),
]

_SHORTHANDS = ("host", "port", "password", "username", "ssl", "ssl_verify", "server_name", "timeout", "database")


# deprecated flat ``redis_*`` fields (Kong < 3.6) move into ``redis``
_shorthands = moved_fields(*((f"redis_{k}", f"redis.{k}") for k in _SHORTHANDS))


# -- handler --------------------------------------------------------------------------------------
_ends: dict[tuple[str, int], float] = {}


_MEMO_MAX = 10000  # clients whose counters one handler remembers within a second


def _window_end(period: str, start_ms: int) -> float:
    end = _ends.get((period, start_ms))
    if end is None:
        if len(_ends) > 4096:
            _ends.clear()
        end = _ends[(period, start_ms)] = window_end(period, start_ms)
    return end


def _num(v: float) -> str:
    if type(v) is int:
        return str(v)
    return str(int(v)) if float(v).is_integer() else str(v)


def _fk_id(entity: dict[str, Any], name: str) -> str:
    """The scope's id in counter keys; Kong's null UUID when the plugin has no such scope."""
    return foreign_id(entity.get(name)) or NULL_ID


class RateLimitingHandler(Handler):
    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, plugin, runtime)
        self.limits: dict[str, float] = {p: config[p] for p in PERIODS if config.get(p) is not None}
        # per period: (period, limit, limit as shown, window length, header names)
        self._periods = tuple((p, limit, _num(limit), EXPIRATION[p], X_LIMIT[p], X_REMAINING[p])
                              for p, limit in self.limits.items())
        self._memo: tuple[dict[str, int] | None, dict[str, list[Counter]]] = (None, {})
        self.limit_by: str = config.get("limit_by") or "consumer"
        self.route_id = _fk_id(plugin, "route")
        self.service_id = _fk_id(plugin, "service")
        self.hide = bool(config.get("hide_client_headers"))
        self.error_code = int(config.get("error_code") or 429)
        self.error_message = config.get("error_message")
        if self.error_message is None:
            self.error_message = DEFAULT_MESSAGE
        self.fault_tolerant = config.get("fault_tolerant", True) is not False
        self.state = runtime.shared_state(NAME)
        # Unix seconds: the runtime's shared state may hold a ``clock`` (as response-ratelimiting's
        # does) that every handler built now or later reads; a unit test may replace ``clock``
        self.clock: Callable[[], float] = self._shared_clock
        self.policy: LocalPolicy | RedisPolicy
        if config.get("policy") == "redis":
            self.policy = RedisPolicy(config.get("redis") or {})
        else:
            self.policy = LocalPolicy(self.state)

    def _shared_clock(self) -> float:
        return float(self.state.get("clock", time.time)())

    def identifier(self, ctx: RequestContext) -> tuple[str, str]:
        """(identifier, how it was found) per Kong's ``get_identifier``."""
        by = self.limit_by
        ident: str | None = None
        if by == "service":
            ident = (ctx.service or {}).get("id")
        elif by == "consumer":
            ident = (ctx.consumer or {}).get("id") or (ctx.credential or {}).get("id")
        elif by == "credential":
            ident = (ctx.credential or {}).get("id")
        elif by == "header":
            name = self.config.get("header_name")
            ident = ctx.headers.get(name) if name else None
        elif by == "path":
            if ctx.original.path == self.config.get("path"):
                ident = ctx.original.path
        if ident:
            return str(ident), by
        return ctx.client_ip, "ip"

    def _counters(self, ctx: RequestContext, now: float) -> tuple[str, str, dict[str, int], list[Counter]]:
        ident, kind = self.identifier(ctx)
        starts = window_starts(now)
        # the counters of one client are the same for a whole second: built once per second
        # (``window_starts`` hands out one dict per second, so its identity marks the second)
        memo_starts, memo = self._memo
        if memo_starts is not starts:
            memo = {}
            self._memo = (starts, memo)
        counters = memo.get(ident)
        if counters is None:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            prefix = f"ratelimit:{self.route_id}:{self.service_id}:{ident}:"
            counters = memo[ident] = [Counter(f"{prefix}{starts[p]}:{p}", limit, _window_end(p, starts[p]))
                                      for p, limit in self.limits.items()]
        return ident, kind, starts, counters

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        """A plain call with the ``local`` policy (atomic on the event loop); with a remote
        one (redis, cluster) it returns the coroutine that asks the store."""
        now = self.clock()
        ident, kind, starts, counters = self._counters(ctx, now)
        if not isinstance(self.policy, LocalPolicy):
            return self._access_remote(ctx, now, ident, kind, starts, counters)
        try:
            usages, _allowed = self.policy.check_and_count(counters, now)
        except PolicyError as exc:
            self._policy_failed(ctx, exc)
            return None
        self._conclude(ctx, now, ident, kind, starts, usages)
        return None

    async def _access_remote(self, ctx: RequestContext, now: float, ident: str, kind: str,
                             starts: dict[str, int], counters: list[Counter]) -> None:
        try:
            usages, _allowed = await self.policy.check_and_count(counters, now)  # type: ignore[misc]
        except PolicyError as exc:
            self._policy_failed(ctx, exc)
            return
        self._conclude(ctx, now, ident, kind, starts, usages)

    def _policy_failed(self, ctx: RequestContext, exc: PolicyError) -> None:
        if self.fault_tolerant:
            ctx.decisions.append(Decision(NAME, "error", f"{self.policy.name} store unavailable; request allowed (fault_tolerant): {exc}",
                                          {"policy": self.policy.name, "fault_tolerant": True, "error": str(exc)}))
            return
        ctx.decisions.append(Decision(NAME, "error", f"{self.policy.name} store unavailable: {exc}",
                                      {"policy": self.policy.name, "fault_tolerant": False, "error": str(exc),
                                       "status": 500}))
        raise ctx.kong_error(500, UNEXPECTED) from None

    def _conclude(self, ctx: RequestContext, now: float, ident: str, kind: str, starts: dict[str, int],
                  usages: list[float]) -> None:
        periods = self._periods
        stop: str | None = None
        for p, used in zip(periods, usages, strict=True):
            if p[1] - used <= 0:
                stop = p[0]
        # what each period has left after this request (the exceeded one and, when one is
        # exceeded, the others uncounted: Kong counts nothing for a rejected request)
        remaining: list[float] = []
        headers: dict[str, str] = {}
        # the period shown in RateLimit-*: the least remaining, the longest window among equals
        best: tuple[float, int, str, str] | None = None  # (remaining, window, limit, remaining as shown)
        reset = 1
        now_ms = now * 1000
        for (period, limit, limit_s, window, x_limit, x_remaining), used in zip(periods, usages, strict=True):
            current = limit - used
            if stop is None or stop == period:
                current = current - 1
            current = current if current > 0 else 0  # (as max(0, current): an int 0)
            remaining.append(current)
            current_s = str(current) if type(current) is int else _num(current)
            if best is None or current < best[0] or (current == best[0] and window > best[1]):
                best = (current, window, limit_s, current_s)
                reset = max(1, window - math.floor((now_ms - starts[period]) / 1000))
            headers[x_limit] = limit_s
            headers[x_remaining] = current_s
        if best is not None:
            headers[RATELIMIT_LIMIT] = best[2]
            headers[RATELIMIT_REMAINING] = best[3]
            headers[RATELIMIT_RESET] = str(reset)
        if stop is not None:
            summary, data = self._explain(ident, kind, remaining)
            data["status"] = self.error_code
            data["exceeded"] = stop
            ctx.decisions.append(Decision(NAME, "reject", f"{stop} limit exceeded ({summary})", data))
            exit_headers = {} if self.hide else {**headers, RETRY_AFTER: str(reset)}
            raise PluginExit(self.error_code, {"message": self.error_message, "request_id": ctx.request_id},
                             exit_headers)
        ctx.decisions.append(Decision.later(NAME, "pass", RateLimitingHandler._explain, self, ident, kind, remaining))
        if not self.hide:
            # Kong sets them in header_filter (from kong.ctx.plugin); ``response_headers`` are
            # set on whatever answers the request — the upstream's response, a 502/504, another
            # plugin's exit — replacing the same names, before the header filters run
            ctx.response_headers.update(headers)

    def _explain(self, ident: str, kind: str, remaining: list[float]) -> tuple[str, JSONObject]:
        """The decision's sentence and facts (made when somebody reads them)."""
        shown: dict[str, dict[str, float]] = {}
        parts: list[str] = []
        for (period, limit, limit_s, *_rest), current in zip(self._periods, remaining, strict=True):
            shown[period] = {"limit": limit, "remaining": current}
            parts.append(f"{period} {_num(current)}/{limit_s} left")
        data: JSONObject = {
            "policy": self.policy.name, "limit_by": kind, "periods": shown,
            "identifier": ident if kind in ("ip", "consumer", "credential", "service", "path")
            else f"header {self.config.get('header_name')}"}
        return ", ".join(parts), data

    async def close(self) -> None:
        await self.policy.close()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Limit how many requests clients can make per second, minute, hour, day, month or year.",
    handler=RateLimitingHandler,
    entity_checks=ENTITY_CHECKS,
    shorthands=_shorthands,
    consumer_groups=True,
)
