"""A store's write lock that tells a test when another thread reached it, so the test knows
without sleeping that the other thread got there and had to wait."""

from __future__ import annotations

import threading
from typing import Any


class WatchedLock:
    """Wraps ``lock``. A thread other than ``owner`` (None: nobody yet, set it later) tries it
    without blocking first: ``found_held`` is set when such a try found the lock held, then
    ``tried`` (in that order, so a test that waited on ``tried`` reads ``found_held`` right)."""

    def __init__(self, lock: Any, owner: int | None = None) -> None:
        self.lock = lock
        self.owner = owner
        self.tried = threading.Event()
        self.found_held = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.owner is not None and threading.get_ident() != self.owner:
            got = self.lock.acquire(blocking=False)
            if not got:
                self.found_held.set()
            self.tried.set()
            if got:
                return True
        return bool(self.lock.acquire(blocking, timeout))

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
