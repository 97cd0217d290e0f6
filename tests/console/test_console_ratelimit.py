"""Rate-limit headers → quota per period (KONG-REFERENCE §4.4)."""

from __future__ import annotations

import math
from email.utils import formatdate

from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.console.ratelimit import (
    PERIODS,
    WINDOW,
    fmt_duration,
    parse_ratelimit,
    window_reset,
)

NOW = 1_699_999_999.0  # 19 s into a minute


def test_kong_headers_on_a_passing_request() -> None:
    info = parse_ratelimit([
        ("X-RateLimit-Limit-Minute", "5"), ("X-RateLimit-Remaining-Minute", "3"),
        ("X-RateLimit-Limit-Hour", "100"), ("X-RateLimit-Remaining-Hour", "98"),
        ("RateLimit-Limit", "5"), ("RateLimit-Remaining", "3"), ("RateLimit-Reset", "41"),
    ], now=NOW)
    assert [q.period for q in info.quotas] == ["minute", "hour"]
    assert info.headline_period == "minute"
    assert info.quota("minute").describe() == "minute 3/5 left, resets in 41 s"
    # the hour's reset is not in the headers: computed from Kong's fixed window, and says so
    assert info.quota("hour").reset_source == "window"
    assert info.quota("hour").describe().startswith("hour 98/100 left, resets in ~")
    assert info.retry_after is None


def test_rejected_request_carries_retry_after() -> None:
    info = parse_ratelimit({"x-ratelimit-limit-minute": "5", "x-ratelimit-remaining-minute": "0",
                            "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "41",
                            "retry-after": "41"}, now=NOW)
    assert info.quota("minute").exhausted
    assert info.lines() == ["minute 0/5 left, resets in 41 s", "retry after 41 s"]


def test_retry_after_as_http_date_against_the_date_header() -> None:
    info = parse_ratelimit([("Date", formatdate(NOW, usegmt=True)),
                            ("Retry-After", formatdate(NOW + 90, usegmt=True))], now=NOW + 500)
    assert info.retry_after == 90


def test_ietf_combined_header_and_seconds_windows() -> None:
    info = parse_ratelimit([("RateLimit", "limit=10, remaining=7, reset=12")], now=NOW)
    assert (info.limit, info.remaining, info.reset) == (10, 7, 12)
    assert info.lines() == ["window 7/10 left, resets in 12 s"]
    info = parse_ratelimit([("X-RateLimit-Limit-60", "10"), ("X-RateLimit-Remaining-60", "4")], now=NOW)
    assert info.quotas[0].period == "60 s" and info.quotas[0].window == 60


def test_tie_goes_to_the_longer_window_like_kong() -> None:
    info = parse_ratelimit([("X-RateLimit-Limit-Second", "5"), ("X-RateLimit-Remaining-Second", "0"),
                            ("X-RateLimit-Limit-Minute", "5"), ("X-RateLimit-Remaining-Minute", "0"),
                            ("RateLimit-Limit", "5"), ("RateLimit-Remaining", "0"), ("RateLimit-Reset", "30")],
                           now=NOW)
    assert info.headline_period == "minute"
    assert info.quota("minute").reset == 30 and info.quota("second").reset_source == "window"


def test_durations_and_windows() -> None:
    assert [fmt_duration(s) for s in (0, 41, 60, 125, 3600, 7300, 200000)] == [
        "0 s", "41 s", "1 min", "2 min 5 s", "1 h", "2 h 1 min", "2 d 7 h"]
    assert window_reset("minute", NOW) == 41
    assert window_reset("second", NOW + 0.25) == 0.75
    assert 0 < window_reset("month", NOW) <= 31 * 86400
    assert 0 < window_reset("year", NOW) <= 366 * 86400


# -- properties -------------------------------------------------------------------------------------

@st.composite
def kong_answers(draw: st.DrawFn) -> tuple[dict[str, tuple[int, int]], list[tuple[str, str]], float]:
    """Headers as Kong's plugin writes them, from random limits and usage."""
    periods = draw(st.lists(st.sampled_from(PERIODS), min_size=1, max_size=6, unique=True))
    quotas = {}
    for p in periods:
        limit = draw(st.integers(1, 10**6))
        quotas[p] = (limit, draw(st.integers(0, limit)))
    now = draw(st.floats(1e9, 2e9))
    headers = []
    for p, (limit, rem) in quotas.items():
        headers.append((f"X-RateLimit-Limit-{p.capitalize()}", str(limit)))
        headers.append((f"X-RateLimit-Remaining-{p.capitalize()}", str(rem)))
    best = min(quotas.items(), key=lambda kv: (kv[1][1], -WINDOW[kv[0]]))
    reset = max(1, WINDOW[best[0]] - math.floor(now % 60))
    headers += [("RateLimit-Limit", str(best[1][0])), ("RateLimit-Remaining", str(best[1][1])),
                ("RateLimit-Reset", str(reset))]
    if best[1][1] == 0:
        headers.append(("Retry-After", str(reset)))
    order = draw(st.permutations(headers))
    return quotas, [(k.lower() if draw(st.booleans()) else k, v) for k, v in order], float(reset)


@settings(max_examples=200, deadline=None)
@given(kong_answers())
def test_every_period_kong_reports_is_read_back(case: tuple[dict[str, tuple[int, int]], list[tuple[str, str]], float]) -> None:
    quotas, headers, reset = case
    info = parse_ratelimit(headers)
    assert {q.period: (q.limit, q.remaining) for q in info.quotas} == {p: (float(a), float(b)) for p, (a, b) in quotas.items()}
    assert [q.period for q in info.quotas] == [p for p in PERIODS if p in quotas]  # shortest window first
    head = info.quota(info.headline_period)
    assert head is not None and head.reset == reset and head.reset_source == "header"
    assert (info.retry_after is not None) == (head.remaining == 0)
    for line in info.lines():
        assert "left" in line or line.startswith("retry after")


_header_text = st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.sampled_from(["X-RateLimit-Limit-Minute", "x-ratelimit-remaining-hour", "RateLimit-Limit",
                               "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "RateLimit", "Date",
                               "X-RateLimit-Limit-", "X-RateLimit-Remaining-99999999999"]), _header_text),
    _header_text), max_size=8))
def test_any_header_text_is_read_without_raising(headers: list[tuple[str, str]]) -> None:
    info = parse_ratelimit(headers, now=NOW)
    for q in info.quotas:
        assert q.limit is None or math.isfinite(q.limit)
        assert q.reset is None or q.reset >= 0
    assert isinstance(info.summary(), str)
