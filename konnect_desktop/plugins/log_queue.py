"""Kong's plugin queue (kong/tools/queue.lua), restated on asyncio: the batching, retrying,
bounded buffer between a logging plugin's log phase and its slow sink (http-log's HTTP server).

The log phase only appends to the queue (``enqueue`` never blocks nor does I/O); one task per
queue takes entries off and calls the queue's handler with a batch:

- up to ``max_batch_size`` entries; a batch is sent when full or ``max_coalescing_delay`` seconds
  after its first entry (with ``max_batch_size`` 1, at once);
- a failing batch is retried after ``initial_retry_delay`` seconds, doubling up to
  ``max_retry_delay``, until ``max_retry_time`` seconds have passed since the first try, then
  dropped (counted in ``lost``);
- at most ``max_entries`` entries (and ``max_bytes`` bytes, when set) wait; when full, the oldest
  is dropped to make room (Kong: "queue full, dropping old entries");
- ``concurrency_limit`` -1 sends each entry on its own, without queueing.

Queues are shared by name (Kong names http-log's from its endpoint and legacy parameters), so
plugin instances logging to the same server share one, and a queue outlives configuration
rebuilds; a queue whose task has drained everything is removed, as Kong's timer exits. The
queue's parameters are those of the instance that created it; later instances only replace the
handler's configuration (Kong does the same).

Time is read through ``clock`` and waited through ``sleep`` (both injectable), so tests drive
the coalescing and retry schedule without waiting for the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..jsontypes import JSONObject
from .base import RuntimeServices

log = logging.getLogger(__name__)

COALESCE_POLL_TIME = 1.0  # Kong: wake at least this often while coalescing
COALESCE_MIN_TIME = 0.05  # Kong: below this remaining delay, send what is there
CAPACITY_WARNING_THRESHOLD = 0.8  # Kong's share of max_entries that counts as "filling up"
SHUTDOWN_GRACE = 2.0  # seconds a stopping runtime gives a queue to send what it holds

# handler(handler_conf, entries) -> (True, None) when sent, or (False, "why")
# entries are whatever the plugin queues (bytes, records): the queue only counts and batches them
QueueHandler = Callable[[JSONObject, list[Any]], Awaitable[tuple[bool, str | None]]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def queue_params(plugin_name: str, config: JSONObject, name: str) -> JSONObject:
    """Kong's ``Queue.get_plugin_params``: the ``queue`` record, with the deprecated top-level
    ``queue_size`` / ``flush_timeout`` taking over when set to a non-default value."""
    q = dict(config.get("queue") or {})
    q.setdefault("max_batch_size", 1)
    q.setdefault("max_coalescing_delay", 1)
    q.setdefault("max_entries", 10000)
    q.setdefault("max_bytes", None)
    q.setdefault("max_retry_time", 60)
    q.setdefault("initial_retry_delay", 0.01)
    q.setdefault("max_retry_delay", 60)
    q.setdefault("concurrency_limit", 1)
    q["name"] = q.get("name") or name
    q["log_tag"] = f"{plugin_name} plugin"
    if config.get("queue_size") not in (None, 1):
        q["max_batch_size"] = config["queue_size"]
        log.warning("%s: the queue_size parameter is deprecated, please update your configuration to use "
                    "queue.max_batch_size instead", plugin_name)
    if config.get("flush_timeout") not in (None, 2):
        q["max_coalescing_delay"] = config["flush_timeout"]
        log.warning("%s: the flush_timeout parameter is deprecated, please update your configuration to use "
                    "queue.max_coalescing_delay instead", plugin_name)
    if config.get("retry_count") not in (None, 10):
        log.warning("%s: the retry_count parameter no longer works, please update your configuration to use "
                    "initial_retry_delay and max_retry_time instead", plugin_name)
    return q


class LogQueue:
    """One named queue and the task that empties it."""

    def __init__(self, params: JSONObject, handler: QueueHandler, handler_conf: JSONObject, *,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 on_idle: Callable[[LogQueue], None] | None = None) -> None:
        self.name: str = params["name"]
        self.max_batch_size = int(params["max_batch_size"])
        self.max_coalescing_delay = float(params["max_coalescing_delay"])
        self.max_entries = int(params["max_entries"])
        self.max_bytes: int | None = params.get("max_bytes")
        self.max_retry_time = float(params["max_retry_time"])
        self.initial_retry_delay = float(params["initial_retry_delay"])
        self.max_retry_delay = float(params["max_retry_delay"])
        self.concurrency_limit = int(params["concurrency_limit"])
        self.tag = params.get("log_tag") or ""
        self.handler = handler
        self.handler_conf = handler_conf
        self.clock = clock
        self.sleep = sleep
        self.on_idle = on_idle
        self.entries: deque[Any] = deque()
        self.bytes_queued = 0
        self.task: asyncio.Task[None] | None = None
        self.single_tasks: set[asyncio.Task[bool]] = set()
        self.exiting = False
        self.already_dropped = False
        self._arrived: asyncio.Event | None = None
        # counters, for the traffic insight and tests
        self.sent = 0  # entries the handler accepted
        self.lost = 0  # entries dropped after max_retry_time
        self.dropped = 0  # entries dropped because the queue was full
        self.batches: int = 0

    def count(self) -> int:
        return len(self.entries)

    # -- log phase side -------------------------------------------------------------------------
    def enqueue(self, entry: Any) -> tuple[bool, str | None]:
        """Add one entry (never blocks). Returns (ok, error)."""
        if entry is None:
            return False, "entry must be a non-nil value"
        if self.concurrency_limit == -1:
            t = asyncio.get_running_loop().create_task(self._handle([entry]))
            self.single_tasks.add(t)
            t.add_done_callback(self.single_tasks.discard)
            return True, None
        size = len(entry) if isinstance(entry, bytes | str) else 0
        if self.max_bytes is not None and size > self.max_bytes:
            msg = (f"string to be queued is longer ({size} bytes) than the queue's max_bytes "
                   f"({self.max_bytes} bytes)")
            log.error("[%s] queue %s: %s", self.tag, self.name, msg)
            return False, msg
        if len(self.entries) >= self.max_entries:
            # Kong logs this for every entry dropped; once per episode here (a flood of error
            # lines would cost more than the logging it reports on), ``dropped`` counts them
            if not self.already_dropped:
                log.error("[%s] queue %s: queue full, dropping old entries until processing is successful again",
                          self.tag, self.name)
                self.already_dropped = True
            self._drop_oldest()
        if self.max_bytes is not None:
            dropped = 0
            while self.entries and self.bytes_queued + size > self.max_bytes:
                self._drop_oldest()
                dropped += 1
            if dropped:
                log.error("[%s] queue %s: byte capacity exceeded, %d queue entries were dropped",
                          self.tag, self.name, dropped)
        self.entries.append(entry)
        self.bytes_queued += size
        if self._arrived is not None:
            self._arrived.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        return True, None

    def _drop_oldest(self) -> None:
        old = self.entries.popleft()
        if isinstance(old, bytes | str):
            self.bytes_queued -= len(old)
        self.dropped += 1

    # -- the queue's task -----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self.entries:
                await self._process_once()
        finally:
            self.task = None
            if self.on_idle is not None and not self.entries:
                self.on_idle(self)

    async def _wait_entry(self, timeout: float) -> None:
        """Until a new entry arrives or ``timeout`` seconds pass (by the injected sleep)."""
        arrived = self._arrived = asyncio.Event()
        waiter = asyncio.ensure_future(arrived.wait())
        sleeper = asyncio.ensure_future(self.sleep(timeout))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._arrived = None
            for t in (waiter, sleeper):
                if not t.done():
                    t.cancel()
                    with contextlib.suppress(BaseException):
                        await t

    async def _process_once(self) -> None:
        started = self.clock()
        count = 1
        while count < self.max_batch_size:
            if len(self.entries) > count:  # already waiting: take it (Kong's semaphore wait(0))
                count += 1
                continue
            remaining = self.max_coalescing_delay - (self.clock() - started)
            if remaining < COALESCE_MIN_TIME:
                break
            if self.exiting:
                break
            await self._wait_entry(min(remaining, COALESCE_POLL_TIME))
        count = min(count, len(self.entries))
        batch = [self.entries.popleft() for _ in range(count)]
        if self.max_bytes is not None:
            self.bytes_queued -= sum(len(e) for e in batch if isinstance(e, bytes | str))
        if self.already_dropped and len(self.entries) < self.max_entries * CAPACITY_WARNING_THRESHOLD:
            # (below Kong's warning threshold, not merely one entry under the limit: a queue
            # that stays full would otherwise log "full"/"resumed" for every batch)
            log.info("[%s] queue %s: queue resumed processing", self.tag, self.name)
            self.already_dropped = False
        if batch:
            await self._handle(batch)

    async def _handle(self, batch: list[Any]) -> bool:
        """Kong's ``handle``: call the handler until it succeeds or max_retry_time is up."""
        start = self.clock()
        retry = 0
        self.batches += 1
        while True:
            try:
                ok, err = await self.handler(self.handler_conf, batch)
            except Exception as exc:  # a handler bug must not kill the queue
                ok, err = False, f"{type(exc).__name__}: {exc}"
            if ok:
                self.sent += len(batch)
                return True
            log.warning("[%s] queue %s: handler could not process entries: %s", self.tag, self.name,
                        err or "no error details returned by handler")
            if self.clock() - start > self.max_retry_time or self.exiting:
                log.error("[%s] queue %s: could not send entries due to max_retry_time exceeded. "
                          "%d queue entries were lost", self.tag, self.name, len(batch))
                self.lost += len(batch)
                return False
            await self.sleep(min(self.max_retry_delay, 2 ** retry * self.initial_retry_delay))
            retry += 1

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Send what is queued without further coalescing, for at most ``grace`` seconds (real
        time: this runs when the runtime stops); what is left then is counted lost."""
        self.exiting = True
        if self._arrived is not None:
            self._arrived.set()
        tasks = [t for t in (self.task, *self.single_tasks) if t is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
                with contextlib.suppress(BaseException):
                    await t
        if self.entries:
            self.lost += len(self.entries)
            log.error("[%s] queue %s: stopped with %d entries unsent", self.tag, self.name, len(self.entries))
            self.entries.clear()


class QueueRegistry:
    """The runtime's queues by name, and which live plugin handlers use each.

    Lives in the runtime's shared state so queues survive configuration rebuilds; a queue none
    of the current handlers uses any more (the runtime stopped, or the plugin was removed) is
    flushed and closed when its last handler closes.
    """

    def __init__(self) -> None:
        self.queues: dict[str, LogQueue] = {}
        self.users: dict[str, int] = {}

    @classmethod
    def of(cls, runtime: RuntimeServices) -> QueueRegistry:
        state = runtime.shared_state("log-queues")
        reg = state.get("registry")
        if not isinstance(reg, cls):
            reg = state["registry"] = cls()
        return reg

    def acquire(self, name: str) -> None:
        self.users[name] = self.users.get(name, 0) + 1

    async def release(self, name: str) -> None:
        n = self.users.get(name, 0) - 1
        if n > 0:
            self.users[name] = n
            return
        self.users.pop(name, None)
        q = self.queues.pop(name, None)
        if q is not None:
            await q.shutdown()

    def enqueue(self, params: JSONObject, handler: QueueHandler, handler_conf: JSONObject, entry: Any, *,
                clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> tuple[bool, str | None, LogQueue]:
        """Kong's ``Queue.enqueue``: the queue called ``params["name"]`` (created on first use)
        gets the entry; an existing queue only takes the new handler configuration."""
        name = params["name"]
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = LogQueue(params, handler, handler_conf, clock=clock, sleep=sleep,
                                             on_idle=self._idle)
        else:
            q.handler_conf = handler_conf
        ok, err = q.enqueue(entry)
        return ok, err, q

    def _idle(self, q: LogQueue) -> None:
        if self.queues.get(q.name) is q:
            del self.queues[q.name]


__all__ = ["LogQueue", "QueueRegistry", "queue_params", "COALESCE_POLL_TIME", "COALESCE_MIN_TIME"]
