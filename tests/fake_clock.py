"""A clock tests hold in their hand: pieces that read the time take a callable, and tests hand
them this one and move ``now`` instead of waiting for the wall clock."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now  # seconds (Unix time, or any origin the piece under test accepts)

    def __call__(self) -> float:
        return self.now
