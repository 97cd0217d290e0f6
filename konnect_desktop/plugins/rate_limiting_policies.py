"""Counter stores for the rate-limiting plugin: fixed UTC windows, checked and counted atomically.

Each request asks one question of a policy: "for these counters (one per configured period) and
these limits, is every counter below its limit? If so, count this request in all of them" — and
gets back the counts *before* this request. Answering it in one step is what keeps a limit of N
at exactly N under concurrency:

* ``LocalPolicy`` keeps counters in a dict owned by the runtime (they survive config rebuilds)
  and answers synchronously, so nothing else runs on the event loop between check and count.
* ``RedisPolicy`` runs one Lua script on Redis, which Redis executes atomically, so several
  runtimes (or a Kong node using the same key format) share one exact limit.

Counter keys follow Kong's: ``ratelimit:<route_id>:<service_id>:<identifier>:<window start ms>:<period>``.

response-ratelimiting counts differently (Kong's own protocol: read the usage before proxying,
add what the upstream reports after answering), so both policies also offer ``usage`` (read
counters) and ``increment`` (add to counters).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..jsontypes import JSONObject

PERIODS: tuple[str, ...] = ("second", "minute", "hour", "day", "month", "year")


def periods_order_error(limits: JSONObject, *, word: str = "The") -> str | None:
    """Both plugins' schema check: a longer period may not have a lower limit than a shorter one.
    ``word`` starts the sentence (rate-limiting says "The limit", response-ratelimiting "the limit",
    as in Kong)."""
    for i, lower in enumerate(PERIODS):
        v1 = limits.get(lower)
        if isinstance(v1, (int, float)) and not isinstance(v1, bool):
            for upper in PERIODS[i + 1:]:
                v2 = limits.get(upper)
                if isinstance(v2, (int, float)) and not isinstance(v2, bool) and v2 < v1:
                    return f"{word} limit for {upper}({v2:.1f}) cannot be lower than the limit for {lower}({v1:.1f})"
    return None
# window lengths Kong uses for RateLimit-Reset (month = 30 days, year = 365 days)
EXPIRATION: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
                              "month": 2592000, "year": 31536000}
NULL_ID = "00000000-0000-0000-0000-000000000000"


_last_starts: tuple[int, dict[str, int]] = (-1, {})


def window_starts(now: float) -> dict[str, int]:
    """Start of the current fixed window of every period, in Unix milliseconds (UTC).
    Computed once per second (the hot path asks on every request)."""
    global _last_starts
    sec = math.floor(now)
    cached_sec, cached = _last_starts
    if sec == cached_sec:
        return cached
    starts = _compute_starts(sec)
    _last_starts = (sec, starts)
    return starts


def _compute_starts(sec: int) -> dict[str, int]:
    dt = datetime.fromtimestamp(sec, UTC)
    month = calendar.timegm((dt.year, dt.month, 1, 0, 0, 0))
    year = calendar.timegm((dt.year, 1, 1, 0, 0, 0))
    return {
        "second": sec * 1000,
        "minute": (sec - sec % 60) * 1000,
        "hour": (sec - sec % 3600) * 1000,
        "day": (sec - sec % 86400) * 1000,
        "month": month * 1000,
        "year": year * 1000,
    }


def window_end(period: str, start_ms: int) -> float:
    """When the window starting at ``start_ms`` ends (Unix seconds); calendar-aware."""
    start = start_ms / 1000
    if period == "month":
        dt = datetime.fromtimestamp(start, UTC)
        y, m = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return float(calendar.timegm((y, m, 1, 0, 0, 0)))
    if period == "year":
        dt = datetime.fromtimestamp(start, UTC)
        return float(calendar.timegm((dt.year + 1, 1, 1, 0, 0, 0)))
    return start + EXPIRATION[period]


@dataclass(frozen=True)
class Counter:
    key: str
    limit: float
    expires_at: float  # Unix seconds: end of the window


class PolicyError(Exception):
    """The counter store could not answer (Redis down, timeout, ...)."""


class LocalPolicy:
    """Counters in one runtime's memory. ``state`` is a dict that outlives handler rebuilds."""

    name = "local"
    _SWEEP_EVERY = 1.0

    def __init__(self, state: dict[str, Any]) -> None:
        self.counters: dict[str, list[float]] = state.setdefault("counters", {})
        self._state = state
        state.setdefault("next_sweep", 0.0)

    def _sweep(self, now: float) -> None:
        if now < self._state["next_sweep"]:
            return
        self._state["next_sweep"] = now + self._SWEEP_EVERY
        dead = [k for k, (_count, exp) in self.counters.items() if exp <= now]
        for k in dead:
            del self.counters[k]

    def check_and_count(self, counters: Sequence[Counter], now: float) -> tuple[list[float], bool]:
        """Synchronous on purpose: no other request can run between the check and the count."""
        if now >= self._state["next_sweep"]:
            self._sweep(now)
        table = self.counters
        usages: list[float] = []
        allowed = True
        for c in counters:
            entry = table.get(c.key)
            u = entry[0] if entry is not None and entry[1] > now else 0
            usages.append(u)
            if not u < c.limit:
                allowed = False
        if allowed:
            for u, c in zip(usages, counters, strict=True):
                table[c.key] = [u + 1, c.expires_at]
        return usages, allowed

    def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        """The current value of each counter (0 when absent or expired)."""
        table = self.counters
        out: list[float] = []
        for c in counters:
            entry = table.get(c.key)
            out.append(entry[0] if entry is not None and entry[1] > now else 0)
        return out

    def increment(self, counters: Sequence[Counter], amount: float, now: float) -> None:
        """Add ``amount`` to each counter (a counter lives until its window ends)."""
        if now >= self._state["next_sweep"]:
            self._sweep(now)
        table = self.counters
        for c in counters:
            entry = table.get(c.key)
            base = entry[0] if entry is not None and entry[1] > now else 0
            table[c.key] = [base + amount, c.expires_at]

    async def close(self) -> None:
        return None


# KEYS: counter keys; ARGV: limits..., ttls (seconds)...
# Returns {allowed (0/1), usage1, usage2, ...} with the usages before this request.
_SCRIPT = """
local n = #KEYS
local usages = {}
local allowed = 1
for i = 1, n do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  usages[i] = v
  if v >= tonumber(ARGV[i]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, n do
    if redis.call('INCR', KEYS[i]) == 1 then
      redis.call('EXPIRE', KEYS[i], ARGV[n + i])
    end
  end
end
local out = {allowed}
for i = 1, n do out[i + 1] = usages[i] end
return out
"""


# KEYS: counter keys; ARGV: amount, ttls (seconds)... A counter's TTL is set when it is created.
_INCR_SCRIPT = """
local amount = ARGV[1]
local whole = tonumber(amount) == math.floor(tonumber(amount))
for i = 1, #KEYS do
  local created = redis.call('EXISTS', KEYS[i]) == 0
  if whole then redis.call('INCRBY', KEYS[i], amount) else redis.call('INCRBYFLOAT', KEYS[i], amount) end
  if created then redis.call('EXPIRE', KEYS[i], ARGV[i + 1]) end
end
return 1
"""


class RedisPolicy:
    """Counters in Redis, shared by every runtime that points at the same server and database."""

    name = "redis"

    def __init__(self, conf: JSONObject) -> None:
        import redis
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeout = (conf.get("timeout") or 2000) / 1000
        kwargs: dict[str, Any] = {
            "host": conf.get("host"),
            "port": conf.get("port") or 6379,
            "db": conf.get("database") or 0,
            "username": conf.get("username"),
            "password": conf.get("password"),
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # one try per request: a down Redis must not slow every request by retries
            "retry": Retry(NoBackoff(), 0),
        }
        if conf.get("ssl"):
            kwargs["ssl"] = True
            kwargs["ssl_cert_reqs"] = "required" if conf.get("ssl_verify") else "none"
            kwargs["ssl_check_hostname"] = bool(conf.get("ssl_verify"))
        self.client = aioredis.Redis(**kwargs)
        self.script = self.client.register_script(_SCRIPT)
        self.incr_script = self.client.register_script(_INCR_SCRIPT)
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError, TimeoutError)

    async def check_and_count(self, counters: Sequence[Counter], now: float) -> tuple[list[float], bool]:
        keys = [c.key for c in counters]
        ttls = [max(1, math.ceil(c.expires_at - now)) for c in counters]
        limits = [_num(c.limit) for c in counters]
        try:
            res = await self.script(keys=keys, args=[*limits, *ttls])
        except self._errors as exc:
            raise PolicyError(f"{type(exc).__name__}: {exc}") from exc
        allowed = bool(int(res[0]))
        return [float(x) if not isinstance(x, int) else x for x in res[1:]], allowed

    async def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        try:
            values = await self.client.mget([c.key for c in counters])
        except self._errors as exc:
            raise PolicyError(f"{type(exc).__name__}: {exc}") from exc
        return [0 if v is None else (int(v) if v.isdigit() else float(v)) for v in values]

    async def increment(self, counters: Sequence[Counter], amount: float, now: float) -> None:
        ttls = [max(1, math.ceil(c.expires_at - now)) for c in counters]
        try:
            await self.incr_script(keys=[c.key for c in counters], args=[_num(amount), *ttls])
        except self._errors as exc:
            raise PolicyError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except self._errors:  # pragma: no cover - closing a broken connection
            pass


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


__all__ = ["PERIODS", "EXPIRATION", "NULL_ID", "window_starts", "window_end", "Counter", "PolicyError",
           "LocalPolicy", "RedisPolicy"]
