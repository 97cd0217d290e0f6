"""Bursts: N copies of one request at a chosen rate or concurrency, to watch a limit trip.

Bounded on every side: at most ``MAX_REQUESTS`` requests, at most ``MAX_SECONDS`` of wall time,
at most ``MAX_CONCURRENCY`` in flight; cancelling stops new requests at once and abandons the
ones in flight. Each answer becomes a ``BurstSample`` (status, and the quota the rate-limit
headers reported); ``BurstResult`` knows when the limit tripped (the first rejection: 429, or any
4xx carrying ``Retry-After``), the ``Retry-After`` it announced, and when requests passed again.

With ``concurrency=1`` requests go one after another, so the sample order is the order the
gateway counted them — "five successes, then 429" lines up with ``minute: 5`` exactly.

Time is read through ``clock`` and the pacing waits through ``sleep`` (the event loop's clock and
``asyncio.sleep`` unless given), so a test paces a burst on a clock it holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .ratelimit import parse_ratelimit
from .request import RequestSpec
from .sender import Sender, SendError

MAX_REQUESTS = 10_000
MAX_SECONDS = 600.0
MAX_CONCURRENCY = 200


@dataclass(frozen=True)
class BurstSample:
    index: int  # 0-based position in the burst
    sent: float  # seconds since the burst started
    done: float
    status: int | None  # None: no response (error)
    error: str | None = None
    remaining: float | None = None  # RateLimit-Remaining (the tightest period)
    limit: float | None = None
    period: str | None = None
    retry_after: float | None = None
    reset: float | None = None

    @property
    def rejected(self) -> bool:
        return self.status == 429 or (self.status is not None and 400 <= self.status < 500
                                       and self.retry_after is not None)

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


@dataclass
class BurstPlan:
    count: int = 10
    rate: float | None = None  # requests per second; None = as fast as concurrency allows
    concurrency: int = 1
    time_limit: float = 60.0

    def check(self) -> BurstPlan:
        """A copy within bounds; raises ``ValueError`` with a sentence for nonsense."""
        if not 1 <= int(self.count) <= MAX_REQUESTS:
            raise ValueError(f"A burst sends between 1 and {MAX_REQUESTS:,} requests (got {self.count}).")
        if self.rate is not None and not 0 < float(self.rate) <= 10_000:
            raise ValueError("The rate is between 0 and 10,000 requests per second.")
        if not 1 <= int(self.concurrency) <= MAX_CONCURRENCY:
            raise ValueError(f"Concurrency is between 1 and {MAX_CONCURRENCY}.")
        if not 0 < float(self.time_limit) <= MAX_SECONDS:
            raise ValueError(f"The time limit is between 1 s and {int(MAX_SECONDS)} s.")
        return BurstPlan(int(self.count), None if self.rate is None else float(self.rate),
                         int(self.concurrency), float(self.time_limit))


@dataclass
class BurstResult:
    plan: BurstPlan
    started_at: float = 0.0  # Unix seconds
    samples: list[BurstSample] = field(default_factory=list)  # in completion order
    state: str = "running"  # running | done | cancelled | time limit
    elapsed: float = 0.0

    def by_index(self) -> list[BurstSample]:
        return sorted(self.samples, key=lambda s: s.index)

    def statuses(self) -> list[int | None]:
        return [s.status for s in self.by_index()]

    def counts(self) -> dict[str, int]:
        c = Counter("error" if s.status is None else str(s.status) for s in self.samples)
        return dict(sorted(c.items()))

    @property
    def trip(self) -> BurstSample | None:
        """The first rejected answer (by the time it came back)."""
        return next((s for s in sorted(self.samples, key=lambda s: s.done) if s.rejected), None)

    @property
    def recovery(self) -> BurstSample | None:
        """The first success after the trip: the window reset."""
        t = self.trip
        if t is None:
            return None
        return next((s for s in sorted(self.samples, key=lambda s: s.done)
                     if s.done > t.done and s.ok), None)

    def summary(self) -> str:
        n = len(self.samples)
        parts = [f"{n}/{self.plan.count} sent in {self.elapsed:.1f} s ({self.state})"]
        parts.append(", ".join(f"{k}×{v}" for k, v in self.counts().items()) or "no answers")
        t = self.trip
        if t is not None:
            ok_before = sum(1 for s in self.samples if s.ok and s.done <= t.done)
            ra = f", Retry-After {t.retry_after:g} s" if t.retry_after is not None else ""
            parts.append(f"limit tripped at request #{t.index + 1} after {ok_before} successes ({t.done:.2f} s{ra})")
            r = self.recovery
            if r is not None:
                parts.append(f"passing again at #{r.index + 1} ({r.done:.2f} s)")
        return " · ".join(parts)


class Burst:
    """Run a ``BurstPlan`` of ``spec`` (already resolved) through ``sender``."""

    def __init__(self, sender: Sender, spec: RequestSpec, plan: BurstPlan, *,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.sender = sender
        self.spec = spec
        self.plan = plan.check()
        self.result = BurstResult(self.plan)
        self.clock = clock  # None: the running loop's clock
        self.sleep = sleep

    async def run(self, on_sample: Callable[[BurstSample], None] | None = None) -> BurstResult:
        plan, res = self.plan, self.result
        loop = asyncio.get_running_loop()
        now = self.clock or loop.time
        res.started_at = time.time()
        t0 = now()
        deadline = t0 + plan.time_limit
        sem = asyncio.Semaphore(plan.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            sent = now() - t0
            try:
                try:
                    async with asyncio.timeout(max(0.05, deadline - now())):
                        ex = await self.sender.send(self.spec, read_body=True)
                except TimeoutError:
                    sample = BurstSample(i, sent, now() - t0, None, "time limit reached")
                else:
                    rl = parse_ratelimit(ex.headers)
                    head = rl.quota(rl.headline_period) if rl.headline_period else (rl.quotas[0] if rl.quotas else None)
                    sample = BurstSample(
                        i, sent, now() - t0, ex.status, None,
                        rl.remaining if rl.remaining is not None else (head.remaining if head else None),
                        rl.limit if rl.limit is not None else (head.limit if head else None),
                        head.period if head else None, rl.retry_after, rl.reset)
            except SendError as exc:
                sample = BurstSample(i, sent, now() - t0, None, exc.message)
            res.samples.append(sample)
            if on_sample is not None:
                on_sample(sample)

        try:
            for i in range(plan.count):
                # a free slot first, then the request's moment: with concurrency 1 the previous
                # answer is in before the pace moves on (the same schedule, in a fixed order)
                await sem.acquire()
                if plan.rate and now() < deadline:
                    delay = t0 + i / plan.rate - now()
                    if delay > 0:
                        await self.sleep(min(delay, max(0.0, deadline - now())))
                if now() >= deadline:
                    sem.release()
                    res.state = "time limit"
                    break
                task = loop.create_task(one(i), name=f"burst-{i}")
                tasks.add(task)

                def finished(t: asyncio.Task[None]) -> None:
                    tasks.discard(t)
                    sem.release()

                task.add_done_callback(finished)
            if tasks:
                await asyncio.wait(set(tasks), timeout=max(0.0, deadline - now()) + 1.0)
            if res.state == "running":
                res.state = "done" if len(res.samples) == plan.count else "time limit"
        except asyncio.CancelledError:
            res.state = "cancelled"
            raise
        finally:
            for t in list(tasks):
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            res.elapsed = now() - t0
        return res
