"""TrafficLog's subscribers: ``async for`` over ``subscribe()``, and a subscription leaves the
log when closed or dropped (so a gone viewer's queue does not keep filling)."""

from __future__ import annotations

import gc

from konnect_desktop.runtime.traffic import TrafficEntry, TrafficLog


def _entry(rid: str) -> TrafficEntry:
    e = TrafficEntry()
    e.request_id = rid
    return e


async def test_a_subscription_gets_what_is_recorded_after_it_in_order() -> None:
    log = TrafficLog()
    log.record(_entry("before"))
    sub = log.subscribe()
    for rid in ("a", "b"):
        log.record(_entry(rid))
    got = []
    async for e in sub:
        got.append(e.request_id)
        if len(got) == 2:
            break
    assert got == ["a", "b"]


async def test_a_closed_or_dropped_subscription_leaves_the_log() -> None:
    log = TrafficLog()
    closed, dropped = log.subscribe(), log.subscribe()
    assert len(log._queues) == 2
    await closed.aclose()
    assert len(log._queues) == 1
    del dropped
    gc.collect()
    assert log._queues == []
    log.record(_entry("nobody listens"))  # no queue fills up behind a gone viewer
    assert log.dropped == 0


async def test_a_slow_subscriber_misses_entries_and_they_are_counted() -> None:
    log = TrafficLog()
    sub = log.subscribe(maxsize=2)
    for rid in ("1", "2", "3"):
        log.record(_entry(rid))
    assert log.dropped == 1
    assert [(await sub.__anext__()).request_id for _ in range(2)] == ["1", "2"]


def test_a_log_that_keeps_none_still_counts_and_tells_its_listeners() -> None:
    """``gateway run``'s log (capacity 0): no ring, yet the access log and metrics see all."""
    log = TrafficLog(capacity=0)
    heard: list[str] = []
    log.add_listener(lambda e: heard.append(e.request_id))
    for rid in ("1", "2"):
        log.record(_entry(rid))
    assert heard == ["1", "2"] and log.total == 2
    assert log.recent() == [] and log.get("1") is None and len(log) == 0
