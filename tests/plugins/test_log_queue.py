"""Kong's plugin queue (plugins/log_queue.py) under an injected clock: batching, coalescing,
retries with backoff, max_retry_time, max_entries and max_bytes. Mirrors Kong's
spec/01-unit/27-queue_spec.lua (titles named per test); no test waits for the wall clock — the
fake ``sleep`` advances the fake clock and yields to the loop."""

from __future__ import annotations

import asyncio
from typing import Any

from konnect_desktop.plugins.log_queue import LogQueue, QueueRegistry, queue_params


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def params(**kw: Any) -> dict[str, Any]:
    return queue_params("test", {"queue": kw}, "q")


class Recorder:
    def __init__(self, fail: int = 0, forever: bool = False) -> None:
        self.batches: list[list[Any]] = []
        self.fail = fail
        self.forever = forever
        self.calls = 0

    async def __call__(self, conf: Any, entries: list[Any]) -> tuple[bool, str | None]:
        self.calls += 1
        if self.forever or self.calls <= self.fail:
            return False, "down"
        self.batches.append(list(entries))
        return True, None


async def drain(q: LogQueue) -> None:
    for _ in range(10_000):  # bounded; the fake clock makes every wait instant
        if q.task is None:
            return
        await asyncio.sleep(0)
    raise AssertionError("queue did not drain")


async def test_batch_size_one_sends_each_entry_at_once() -> None:
    """it("gives up sending after retrying") neighbour: max_batch_size 1 → one call per entry,
    no coalescing wait."""
    t, rec = FakeTime(), Recorder()
    q = LogQueue(params(), rec, None, clock=t.clock, sleep=t.sleep)
    for i in range(3):
        q.enqueue(i)
    await drain(q)
    assert rec.batches == [[0], [1], [2]] and t.sleeps == []


async def test_coalesces_until_batch_full() -> None:
    """it("batches messages during shutdown")-style: entries already waiting fill the batch at
    once, the rest waits for more."""
    t, rec = FakeTime(), Recorder()
    q = LogQueue(params(max_batch_size=3, max_coalescing_delay=10), rec, None, clock=t.clock, sleep=t.sleep)
    for i in range(7):
        q.enqueue(i)
    await drain(q)
    assert rec.batches == [[0, 1, 2], [3, 4, 5], [6]]
    # the last, partial batch waited out the coalescing delay (in 1-second polls, by the fake clock)
    assert sum(t.sleeps) >= 10 - 0.05 and max(t.sleeps) <= 1.0


async def test_coalescing_sends_partial_batch_after_delay() -> None:
    """it("observes the `max_coalescing_delay` parameter")."""
    t, rec = FakeTime(), Recorder()
    q = LogQueue(params(max_batch_size=10, max_coalescing_delay=2.5), rec, None, clock=t.clock, sleep=t.sleep)
    q.enqueue("a")
    await drain(q)
    assert rec.batches == [["a"]]
    assert 2.45 <= sum(t.sleeps) <= 2.5 + 1e-9


async def test_retries_with_exponential_backoff() -> None:
    """it("retries sending messages"): delays double from initial_retry_delay, capped at
    max_retry_delay."""
    t, rec = FakeTime(), Recorder(fail=5)
    q = LogQueue(params(initial_retry_delay=0.5, max_retry_delay=3, max_retry_time=100), rec, None,
                 clock=t.clock, sleep=t.sleep)
    q.enqueue("x")
    await drain(q)
    assert rec.batches == [["x"]] and t.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert q.sent == 1 and q.lost == 0


async def test_gives_up_after_max_retry_time() -> None:
    """it("gives up sending after retrying"): the batch is dropped once max_retry_time passed."""
    t, rec = FakeTime(), Recorder(forever=True)
    q = LogQueue(params(initial_retry_delay=1, max_retry_delay=4, max_retry_time=10), rec, None,
                 clock=t.clock, sleep=t.sleep)
    q.enqueue("x")
    await drain(q)
    assert q.lost == 1 and rec.batches == []
    assert t.sleeps == [1, 2, 4, 4]  # 11 s passed > max_retry_time on the 5th failure


async def test_drops_oldest_when_max_entries_reached() -> None:
    """it("drops entries when it reaches its max_entries")."""
    t = FakeTime()
    gate = asyncio.Event()
    sent: list[list[Any]] = []

    async def slow(conf: Any, entries: list[Any]) -> tuple[bool, str | None]:
        await gate.wait()
        sent.append(entries)
        return True, None

    q = LogQueue(params(max_entries=3), slow, None, clock=t.clock, sleep=t.sleep)
    for i in range(6):
        q.enqueue(i)
    await asyncio.sleep(0)  # the task took entry 0 and waits in the handler
    assert q.dropped >= 1 and len(q.entries) <= 3
    gate.set()
    await drain(q)
    assert [e for b in sent for e in b][-3:] == [3, 4, 5]


async def test_max_bytes() -> None:
    """it("queue does not accept entries larger than max_bytes") / it("drops entries when it
    reaches its max_bytes")."""
    t, rec = FakeTime(), Recorder()
    gate = asyncio.Event()

    async def held(conf: Any, entries: list[Any]) -> tuple[bool, str | None]:
        await gate.wait()
        return await rec(conf, entries)

    q = LogQueue(params(max_bytes=10), held, None, clock=t.clock, sleep=t.sleep)
    ok, err = q.enqueue("x" * 11)
    assert not ok and err == "string to be queued is longer (11 bytes) than the queue's max_bytes (10 bytes)"
    for s in ("aaaa", "bbbb", "cccc", "dddd"):
        assert q.enqueue(s)[0]
    assert q.bytes_queued <= 10 and q.dropped >= 1
    gate.set()
    await drain(q)


async def test_legacy_parameters_take_over() -> None:
    """02-schema_spec.lua it("converts legacy queue parameters")."""
    p = queue_params("http-log", {"retry_count": 23, "queue_size": 46, "flush_timeout": 92, "queue": {}}, "n")
    assert p["max_batch_size"] == 46 and p["max_coalescing_delay"] == 92


async def test_registry_shares_queues_by_name_and_flushes_on_last_release() -> None:
    """Same name → one queue (04-legacy_queue_sharing_spec.lua); a later enqueue swaps in its
    handler configuration; releasing the last user sends what is left."""
    t, rec = FakeTime(), Recorder()
    reg = QueueRegistry()
    reg.acquire("q")
    reg.acquire("q")
    p = params(max_batch_size=10, max_coalescing_delay=3600)
    _ok, _e, q1 = reg.enqueue(p, rec, "conf1", "a", clock=t.clock, sleep=t.sleep)
    _ok, _e, q2 = reg.enqueue(p, rec, "conf2", "b", clock=t.clock, sleep=t.sleep)
    assert q1 is q2 and q1.handler_conf == "conf2"
    await reg.release("q")
    assert "q" in reg.queues
    await reg.release("q")  # the last user: flushed without waiting out the coalescing delay
    assert rec.batches == [["a", "b"]] and "q" not in reg.queues


async def test_unlimited_concurrency_skips_queue() -> None:
    """it("should not use queue when queue.concurrency_limit is -1") (unit form)."""
    t, rec = FakeTime(), Recorder()
    q = LogQueue(params(concurrency_limit=-1), rec, None, clock=t.clock, sleep=t.sleep)
    q.enqueue("a")
    q.enqueue("b")
    assert not q.entries
    for _ in range(100):
        if len(rec.batches) == 2:
            break
        await asyncio.sleep(0)
    assert sorted(b[0] for b in rec.batches) == ["a", "b"]

