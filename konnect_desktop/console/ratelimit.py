"""Rate-limit response headers → quota per period, in words ("minute 3/5 left, resets in 41 s").

Kong's rate-limiting plugin answers with (KONG-REFERENCE §4.4):

* ``X-RateLimit-Limit-<Period>`` / ``X-RateLimit-Remaining-<Period>`` for each configured period
  (Second, Minute, Hour, Day, Month, Year; Kong Enterprise's sliding windows use seconds, e.g.
  ``-60``);
* ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` for the period with the
  lowest remaining count (a tie goes to the longer window);
* ``Retry-After`` on rejected requests.

Other gateways send the IETF draft's combined ``RateLimit: limit=…, remaining=…, reset=…``; that
is read too. Reset times: the period the ``RateLimit-*`` headers describe takes the server's
``RateLimit-Reset``; the others are computed as the end of their fixed calendar window (UTC),
which is how Kong counts — and marked as computed.

Pure and forgiving: any header text is accepted; what cannot be read is left out, never raised.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

PERIODS = ("second", "minute", "hour", "day", "month", "year")
WINDOW = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 2592000, "year": 31536000}

_X_LIMIT = "x-ratelimit-limit-"
_X_REMAINING = "x-ratelimit-remaining-"
_NUM = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


def _number(v: str) -> float | None:
    m = _NUM.match(v or "")
    if not m:
        return None
    try:
        n = float(m.group(1))
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def fmt_num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def fmt_duration(seconds: float) -> str:
    """41 → "41 s", 125 → "2 min 5 s", 7300 → "2 h 1 min", 200000 → "2 d 7 h"."""
    s = max(0, int(math.ceil(seconds - 1e-9)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m} min {r} s" if r else f"{m} min"
    if s < 86400:
        h, r = divmod(s, 3600)
        m = r // 60
        return f"{h} h {m} min" if m else f"{h} h"
    d, r = divmod(s, 86400)
    h = r // 3600
    return f"{d} d {h} h" if h else f"{d} d"


def window_reset(period: str, now: float) -> float:
    """Seconds until the fixed UTC window of ``period`` that contains ``now`` ends."""
    if period in ("second", "minute", "hour", "day"):
        w = WINDOW[period]
        return w - (now % w)
    dt = datetime.fromtimestamp(now, UTC)
    if period == "month":
        nxt = datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)
    elif period == "year":
        nxt = datetime(dt.year + 1, 1, 1, tzinfo=UTC)
    else:
        raise ValueError(period)
    return nxt.timestamp() - now


@dataclass(frozen=True)
class Quota:
    """One period's quota as the response reported it."""

    period: str  # "minute", … or "60 s" for a window given in seconds, "window" when unnamed
    limit: float | None
    remaining: float | None
    reset: float | None = None  # seconds until the window resets, when known
    reset_source: str = ""  # "header" (RateLimit-Reset) | "window" (computed) | ""

    @property
    def window(self) -> float | None:
        if self.period in WINDOW:
            return WINDOW[self.period]
        m = re.match(r"^(\d+) s$", self.period)
        return float(m.group(1)) if m else None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def describe(self) -> str:
        left = "?" if self.remaining is None else fmt_num(self.remaining)
        of = "" if self.limit is None else f"/{fmt_num(self.limit)}"
        text = f"{self.period} {left}{of} left"
        if self.reset is not None:
            approx = "~" if self.reset_source == "window" else ""
            text += f", resets in {approx}{fmt_duration(self.reset)}"
        return text


@dataclass(frozen=True)
class RateLimitInfo:
    quotas: list[Quota] = field(default_factory=list)
    limit: float | None = None  # RateLimit-Limit
    remaining: float | None = None  # RateLimit-Remaining
    reset: float | None = None  # RateLimit-Reset (seconds)
    retry_after: float | None = None  # seconds
    headline_period: str | None = None  # the period RateLimit-* describes

    @property
    def present(self) -> bool:
        return bool(self.quotas) or self.limit is not None or self.retry_after is not None

    def quota(self, period: str) -> Quota | None:
        return next((q for q in self.quotas if q.period == period), None)

    def lines(self) -> list[str]:
        out = [q.describe() for q in self.quotas]
        if not self.quotas and self.limit is not None:
            out.append(Quota("window", self.limit, self.remaining, self.reset,
                             "header" if self.reset is not None else "").describe())
        if self.retry_after is not None:
            out.append(f"retry after {fmt_duration(self.retry_after)}")
        return out

    def summary(self) -> str:
        return " · ".join(self.lines())


def _pairs(headers: Iterable[tuple[str, str]] | Mapping[str, str] | Iterable[list[str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for kv in items:
        try:
            k, v = kv
        except (TypeError, ValueError):
            continue
        out.append((str(k).strip().lower(), str(v)))
    return out


def _period_name(suffix: str) -> str | None:
    s = suffix.strip().lower()
    if s in WINDOW:
        return s
    if s.isdigit() and 0 < len(s) <= 10:
        return f"{int(s)} s"
    return None


def _retry_after(value: str, date: str | None, now: float) -> float | None:
    v = value.strip()
    if re.fullmatch(r"\d{1,10}", v):
        return float(int(v))
    try:
        when = parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = now
    if date:
        try:
            d = parsedate_to_datetime(date)
            if d is not None:
                base = (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return max(0.0, when.timestamp() - base)


def _combined(value: str) -> dict[str, float]:
    """``limit=5, remaining=3, reset=41`` (IETF draft ``RateLimit`` header)."""
    out: dict[str, float] = {}
    for part in re.split(r"[,;]", value):
        k, eq, v = part.partition("=")
        if eq:
            n = _number(v.strip().strip('"'))
            if n is not None:
                out.setdefault(k.strip().lower(), n)
    return out


def parse_ratelimit(
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | Iterable[list[str]],
    *,
    now: float | None = None,
) -> RateLimitInfo:
    """Read every rate-limit header in ``headers`` (pairs or a mapping; any case)."""
    now = time.time() if now is None else now
    pairs = _pairs(headers)
    limits: dict[str, float] = {}
    remaining: dict[str, float] = {}
    rl_limit = rl_remaining = rl_reset = retry = None
    date = next((v for k, v in pairs if k == "date"), None)
    for k, v in pairs:
        if k.startswith(_X_LIMIT):
            p = _period_name(k[len(_X_LIMIT):])
            n = _number(v)
            if p and n is not None:
                limits.setdefault(p, n)
        elif k.startswith(_X_REMAINING):
            p = _period_name(k[len(_X_REMAINING):])
            n = _number(v)
            if p and n is not None:
                remaining.setdefault(p, n)
        elif k == "ratelimit-limit" and rl_limit is None:
            rl_limit = _number(v)
        elif k == "ratelimit-remaining" and rl_remaining is None:
            rl_remaining = _number(v)
        elif k == "ratelimit-reset" and rl_reset is None:
            rl_reset = _number(v)
            if rl_reset is not None and rl_reset < 0:
                rl_reset = None
        elif k == "ratelimit":
            c = _combined(v)
            rl_limit = c.get("limit", rl_limit) if rl_limit is None else rl_limit
            rl_remaining = c.get("remaining", rl_remaining) if rl_remaining is None else rl_remaining
            if rl_reset is None and c.get("reset") is not None and c["reset"] >= 0:
                rl_reset = c["reset"]
        elif k == "retry-after" and retry is None:
            retry = _retry_after(v, date, now)

    def order(p: str) -> tuple[int, float]:
        if p in WINDOW:
            return (0, WINDOW[p])
        return (1, float(p.split()[0]))

    periods = sorted(set(limits) | set(remaining), key=order)
    # the period RateLimit-* describes: lowest remaining, tie → the longer window (Kong's rule)
    headline: str | None = None
    if rl_remaining is not None:
        matching = [p for p in periods if remaining.get(p) == rl_remaining
                    and (rl_limit is None or limits.get(p) == rl_limit)]
        if matching:
            headline = max(matching, key=order)
    quotas = []
    for p in periods:
        reset: float | None = None
        source = ""
        if p == headline and rl_reset is not None:
            reset, source = rl_reset, "header"
        elif p in WINDOW:
            reset, source = window_reset(p, now), "window"
        quotas.append(Quota(p, limits.get(p), remaining.get(p), reset, source))
    return RateLimitInfo(quotas, rl_limit, rl_remaining, rl_reset, retry, headline)
