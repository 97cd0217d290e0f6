"""A clock tests hold in their hand: pieces that read the time take a callable, and tests hand
them this one and move ``now`` instead of waiting for the wall clock.

Pieces that also wait (pacing, backoff) take a ``sleep`` coroutine function as well: hand them
``clock.sleep``, which moves ``now`` by the delay at once, records it, and yields to the loop once
so other tasks run as they would while a real sleep waits.
"""

from __future__ import annotations

import asyncio
from typing import Any


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now  # seconds (Unix time, or any origin the piece under test accepts)
        self.reads = 0  # how often the piece under test looked (a thread can wait for a look)
        self.slept: list[float] = []  # the delays ``sleep`` was asked for, in order

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


MINUTE_START = 1_700_000_040.25  # a quarter second into a minute: a test's requests share one window


def hold_rate_limiting(runtime: Any, at: float = MINUTE_START) -> FakeClock:
    """Hold the rate-limiting plugin's clock (it reads ``shared_state("rate-limiting")["clock"]``)
    at ``at``, so the test's counts never straddle a window's turn; returns it to move."""
    clock = FakeClock(at)
    runtime.services.shared_state("rate-limiting")["clock"] = clock
    return clock
