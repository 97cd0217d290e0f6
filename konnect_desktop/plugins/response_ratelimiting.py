"""response-ratelimiting: limits the upstream counts, by named quota (Kong's plugin).

The upstream says how much of which quota a response used, in a header (``X-Kong-Limit:
video=1, image=2`` by default, ``header_name``); the gateway keeps the counters per client and
period and, once a quota is used up, answers 429 instead of the next responses that would use it.

Per request, as Kong does it:
* access: read each limit's usage (counters of the client — ``limit_by`` consumer, credential or
  IP — for the quota and period); with ``block_on_first_violation`` a request is refused (429,
  "API rate limit exceeded for '<name>'") as soon as any quota is used up. The client response
  gets ``X-RateLimit-Remaining-<name>`` (the lowest over the periods).
* header_filter: parse the upstream's header (then removed), add
  ``X-RateLimit-Limit-<name>-<period>`` / ``X-RateLimit-Remaining-<name>-<period>`` unless
  ``hide_client_headers``, and answer 429 with no body when the response uses a quota that was
  already used up.
* log: add the reported increments to every period's counter of each quota (all six periods, as
  Kong does), so the next request sees them.

Counters live in the ``local`` policy (this runtime; ``cluster`` is the same on a desktop) or in
Redis, through ``rate_limiting_policies`` (the rate-limiting plugin's windows and stores). With
Redis, the log phase's increment runs in the background, as Kong's timer does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.schema import AtLeastOneOf, Boolean, Check, Conditional, Map, Number, Record, String
from .base import (
    Decision,
    Handler,
    PluginExit,
    PluginSpec,
    RequestContext,
    ResponseContext,
    RuntimeServices,
)
from .http_util import UNEXPECTED
from .rate_limiting import REDIS, _fk_id, _shorthands
from .rate_limiting_policies import (
    PERIODS,
    Counter,
    LocalPolicy,
    PolicyError,
    RedisPolicy,
    periods_order_error,
    window_end,
    window_starts,
)

log = logging.getLogger(__name__)

NAME = "response-ratelimiting"
PRIORITY = 900
RATELIMIT_LIMIT = "X-RateLimit-Limit"
RATELIMIT_REMAINING = "X-RateLimit-Remaining"


def _periods_order(limit: JSONObject) -> str | None:
    """Kong's custom validator of one named limit: longer periods may not have lower limits."""
    return periods_order_error(limit, word="the")


LIMIT = Record(
    [(p, Number(gt=0, description=f"Units of this quota a client may use per {p}.")) for p in PERIODS],
    [AtLeastOneOf(list(PERIODS))],
    required=True,
    custom=_periods_order,
    description="The quota's limit per period.",
)

CONFIG = Record(
    [
        ("header_name", String(default="x-kong-limit",
                               description="The name of the response header used to increment the counters.")),
        ("limit_by", String(one_of=("consumer", "credential", "ip"), default="consumer",
                            description="The entity that will be used when aggregating the limits: `consumer`, `credential`, `ip`. If the `consumer` or the `credential` cannot be determined, the system will always fallback to `ip`.")),
        ("policy", String(one_of=("local", "cluster", "redis"), default="local",
                          description="The rate-limiting policies to use for retrieving and incrementing the limits.")),
        ("fault_tolerant", Boolean(required=True, default=True,
                                   description="Proxy requests even when the counter store cannot be reached (`true`), or answer 500 (`false`).")),
        ("redis", REDIS),
        ("block_on_first_violation", Boolean(required=True, default=False,
                                             description="Block requests as soon as one limit is being exceeded, even those that would consume other limits.")),
        ("hide_client_headers", Boolean(required=True, default=False,
                                        description="Optionally hide informative response headers.")),
        ("limits", Map(String(), LIMIT, required=True, len_min=1,
                       description="A map that defines rate limits for the plugin: quota name → limit per period.")),
    ],
    nullable=False,
    description="Quotas the upstream consumes, and where counters are kept.",
)

ENTITY_CHECKS: list[Check] = [
    Conditional("config.policy", {"eq": "redis"}, "config.redis.host", {"required": True}),
    Conditional("config.policy", {"eq": "redis"}, "config.redis.port", {"required": True}),
    Conditional("config.policy", {"eq": "redis"}, "config.redis.timeout", {"required": True}),
]


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _lua_number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return int(v) if v.is_integer() else v


def parse_increments(values: list[str], limits: JSONObject) -> dict[str, float]:
    """``video=1, image=2`` (one header, or several) → ``{"video": 1, "image": 2}``; names not
    configured and malformed parts are ignored."""
    parts = values if len(values) > 1 else (values[0].split(",") if values else [])
    out: dict[str, float] = {}
    for part in parts:
        pieces = part.split("=")
        if len(pieces) != 2:
            continue
        name = pieces[0].strip()
        if name in limits:
            value = _lua_number(pieces[1].strip())
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
    return out


class ResponseRateLimitingHandler(Handler):

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.buffers_response = True  # a refused response goes out without the upstream's body
        self.limits: dict[str, dict[str, float]] = {
            name: {p: v for p, v in (periods or {}).items() if v is not None}
            for name, periods in (config.get("limits") or {}).items()}
        self.route_id = _fk_id(plugin, "route")
        self.service_id = _fk_id(plugin, "service")
        self.header_name: str = config.get("header_name") or "x-kong-limit"
        self.state = runtime.shared_state(NAME)
        self.fault_tolerant = config.get("fault_tolerant", True) is not False
        self.policy: LocalPolicy | RedisPolicy
        if config.get("policy") == "redis":
            self.policy = RedisPolicy(config.get("redis") or {})
        else:
            self.policy = LocalPolicy(self.state)
        self._tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        """Unix seconds; tests put a clock in the shared state."""
        return float(self.state.get("clock", time.time)())

    def _identifier(self, ctx: RequestContext) -> str:
        by = self.config.get("limit_by") or "consumer"
        ident = None
        if by == "consumer":
            ident = (ctx.consumer or {}).get("id") or (ctx.credential or {}).get("id")
        elif by == "credential":
            ident = (ctx.credential or {}).get("id")
        return str(ident) if ident else ctx.client_ip

    def _counter(self, ident: str, name: str, period: str, starts: dict[str, int]) -> Counter:
        key = f"response-ratelimit:{self.route_id}:{self.service_id}:{ident}:{starts[period]}:{name}:{period}"
        return Counter(key, 0, window_end(period, starts[period]))

    # -- access -----------------------------------------------------------------------------
    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        if not self.limits:
            return None
        now = self.now()
        ident = self._identifier(ctx)
        starts = window_starts(now)
        wanted = [(name, period, limit) for name, periods in self.limits.items() for period, limit in periods.items()]
        counters = [self._counter(ident, name, period, starts) for name, period, _l in wanted]
        pc = ctx.plugin_ctx(self)
        pc.update(ident=ident, now=now, starts=starts)
        if isinstance(self.policy, LocalPolicy):
            self._conclude(ctx, wanted, self.policy.usage(counters, now))
            return None
        return self._access_remote(ctx, self.policy, wanted, counters, now)

    async def _access_remote(self, ctx: RequestContext, policy: RedisPolicy, wanted: list[tuple[str, str, float]],
                             counters: list[Counter], now: float) -> None:
        try:
            used = await policy.usage(counters, now)
        except PolicyError as exc:
            if not self.fault_tolerant:
                ctx.decisions.append(Decision(NAME, "error", f"{self.policy.name} store unavailable: {exc}",
                                              {"status": 500, "error": str(exc)}))
                raise ctx.kong_error(500, UNEXPECTED) from None
            ctx.decisions.append(Decision(NAME, "error", f"{self.policy.name} store unavailable; request allowed "
                                          f"(fault_tolerant): {exc}", {"error": str(exc)}))
            return
        self._conclude(ctx, wanted, used)

    def _conclude(self, ctx: RequestContext, wanted: list[tuple[str, str, float]], used: list[float]) -> None:
        usage: dict[str, dict[str, dict[str, float]]] = {}
        for (name, period, limit), u in zip(wanted, used, strict=True):
            usage.setdefault(name, {})[period] = {"limit": limit, "remaining": limit - u}
        block = self.config.get("block_on_first_violation")
        for name, periods in usage.items():
            remaining = None
            for lv in periods.values():
                if block and lv["remaining"] == 0:
                    ctx.decisions.append(Decision(NAME, "reject", f"quota '{name}' used up (block_on_first_violation)",
                                                  {"status": 429, "usage": usage}))
                    raise PluginExit(429, {"message": f"API rate limit exceeded for '{name}'"})
                if remaining is None or lv["remaining"] < remaining:
                    remaining = lv["remaining"]
            if remaining is not None:
                ctx.response_headers[f"{RATELIMIT_REMAINING}-{name}"] = _num(remaining)
        ctx.plugin_ctx(self)["usage"] = usage

    # -- response ---------------------------------------------------------------------------
    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        pc = ctx.plugin_ctx(self)
        if not self.limits:
            return
        increments = parse_increments(resp.headers.getall(self.header_name, []), self.limits)
        pc["increments"] = increments
        usage = pc.get("usage")
        if usage is None:
            return
        stop: str | None = None
        parts = []
        for name, periods in usage.items():
            inc = increments.get(name) or 0
            for period, lv in periods.items():
                remain = max(0, lv["remaining"] - inc)
                if not self.config.get("hide_client_headers"):
                    resp.headers[f"{RATELIMIT_LIMIT}-{name}-{period}"] = _num(lv["limit"])
                    resp.headers[f"{RATELIMIT_REMAINING}-{name}-{period}"] = _num(remain)
                parts.append(f"{name} {period} {_num(remain)}/{_num(lv['limit'])} left")
                if inc > 0 and lv["remaining"] <= 0:
                    stop = name
        resp.headers.popall(self.header_name, None)
        used = ", ".join(f"{k}={_num(v)}" for k, v in increments.items()) or "nothing"
        if stop is not None:
            pc["stop"] = True
            resp.status = 429
            ctx.decisions.append(Decision(NAME, "reject", f"quota '{stop}' used up; response replaced by 429 "
                                          f"(upstream reported {used})", {"status": 429, "usage": usage,
                                                                          "increments": increments}))
            return
        ctx.decisions.append(Decision(NAME, "pass", f"upstream used {used}; " + ", ".join(parts),
                                      {"usage": usage, "increments": increments}))

    def body_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if ctx.plugin_ctx(self).get("stop"):
            resp.body = b""  # Kong answers the 429 without a body
            resp.headers.popall("Content-Type", None)

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        pc = ctx.plugin_ctx(self)
        if pc.get("stop") or pc.get("usage") is None:
            return
        increments = {k: v for k, v in (pc.get("increments") or {}).items() if v and k in pc["usage"]}
        if not increments:
            return
        starts, now, ident = pc["starts"], pc["now"], pc["ident"]
        jobs = [([self._counter(ident, name, period, starts) for period in PERIODS], amount)
                for name, amount in increments.items()]
        if isinstance(self.policy, LocalPolicy):
            for counters, amount in jobs:
                self.policy.increment(counters, amount, now)
            return
        task = asyncio.get_running_loop().create_task(self._increment_remote(self.policy, jobs, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _increment_remote(self, policy: RedisPolicy, jobs: list[tuple[list[Counter], float]], now: float) -> None:
        for counters, amount in jobs:
            try:
                await policy.increment(counters, amount, now)
            except PolicyError as exc:
                log.error("response-ratelimiting: could not increment counters: %s", exc)

    async def flush(self) -> None:
        """Wait for background increments (tests; closing)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        await self.policy.close()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Limit how much of named quotas clients use, as counted by the upstream in a response header.",
    handler=ResponseRateLimitingHandler,
    entity_checks=ENTITY_CHECKS,
    shorthands=_shorthands,
)
