"""Running coroutines from widgets: the one way the GUI does I/O.

Every remote or disk operation is a coroutine scheduled on the qasync loop through a
``TaskRunner``. The runner keeps a reference to each task (so none is garbage-collected
mid-flight), names it, exposes a busy state the widget shows, lets the user cancel, and turns
failures into a readable ``ErrorInfo`` (never a traceback in the window).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from .errors import ErrorInfo, describe_error

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    """Schedules coroutines for one owner widget and reports busy/idle and errors.

    ``run(coro, key=...)`` cancels an older task with the same key first: reloading a list while
    the previous load is still running replaces it instead of racing it.
    """

    sig_busy = Signal(bool, str)  # busy?, label of the newest running task
    sig_error = Signal(object)  # ErrorInfo

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, tuple[asyncio.Task[Any], str]] = {}
        self._counter = 0

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def keys(self) -> list[str]:
        return list(self._tasks)

    def labels(self) -> list[str]:
        return [label for _, label in self._tasks.values()]

    def run(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        label: str,
        key: str | None = None,
        on_done: Callable[[Any], Any] | None = None,
        on_error: Callable[[ErrorInfo], Any] | None = None,
    ) -> asyncio.Task[Any]:
        if key is None:
            self._counter += 1
            key = f"task-{self._counter}"
        old = self._tasks.pop(key, None)
        if old is not None:
            old[0].cancel()
        task = asyncio.get_event_loop().create_task(coro, name=f"ui:{label}")
        self._tasks[key] = (task, label)
        self.sig_busy.emit(True, label)

        def finished(t: asyncio.Task[Any]) -> None:
            if not shiboken6.isValid(self):  # the owner widget is gone: nobody to tell
                if not t.cancelled():
                    t.exception()  # retrieved, so asyncio does not report it as lost
                return
            current = self._tasks.get(key)
            if current is not None and current[0] is t:
                del self._tasks[key]
            self.sig_busy.emit(self.busy, self.labels()[-1] if self._tasks else "")
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                info = describe_error(exc, action=label)
                log.info("%s failed: %s", label, info.message)
                if on_error is not None:
                    on_error(info)
                else:
                    self.sig_error.emit(info)
                return
            if on_done is not None:
                try:
                    on_done(t.result())
                except Exception as cb_exc:  # a bug in a callback must not kill the loop
                    log.exception("callback after %s failed", label)
                    self.sig_error.emit(describe_error(cb_exc, action=label))

        task.add_done_callback(finished)
        return task

    def cancel(self, key: str | None = None) -> None:
        """Cancel one task (by key) or all of them."""
        items = list(self._tasks.items()) if key is None else [(key, self._tasks[key])] if key in self._tasks else []
        for _k, (task, _label) in items:
            task.cancel()

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*(t for t, _ in list(self._tasks.values())), return_exceptions=True)


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a synchronous (disk) call in a worker thread so the UI thread never waits on it."""
    return await asyncio.to_thread(fn, *args)


async def maybe_await(value: Any) -> Any:
    if isinstance(value, Awaitable):
        return await value
    return value
