"""GUI test fixtures: a qasync loop around pytest-qt's QApplication, and helpers to wait on it.

The loop is created ``already_running`` so coroutines scheduled by widgets run whenever Qt
processes events (``qtbot.waitUntil``/``wait``), exactly as in the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import qasync


@pytest.fixture(scope="session")
def _session_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    # one loop for the whole run (like the app: one loop per QApplication)
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    for t in asyncio.all_tasks(loop):
        t.cancel()
    for _ in range(5):
        qapp.processEvents()
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # it never ran exec()
    loop.close()  # joins the worker threads of asyncio.to_thread
    asyncio.events._set_running_loop(None)


@pytest.fixture
def aloop(qapp: Any, _session_loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    asyncio.set_event_loop(_session_loop)
    asyncio.events._set_running_loop(_session_loop)
    yield _session_loop
    # cancel what a test left running, so it cannot touch the next test's widgets
    leftovers = [t for t in asyncio.all_tasks(_session_loop) if not t.done()]
    for t in leftovers:
        t.cancel()
    for _ in range(5):
        qapp.processEvents()
    # tests after this one (other folders) may start their own loops with asyncio.run()
    asyncio.events._set_running_loop(None)


@pytest.fixture
def arun(qtbot: Any, aloop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``arun(coro)``: await a coroutine on the running qasync loop while Qt processes events."""

    def run(coro: Any, timeout: float = 15.0) -> Any:
        task = aloop.create_task(coro)
        qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()

    return run


@pytest.fixture
def store_cp(tmp_path: Any, arun: Callable[..., Any]) -> Iterator[Any]:
    """A real SQLite store behind the local control plane (no runtime started)."""
    from konnect_desktop.controlplanes.local import LocalControlPlane
    from konnect_desktop.runtime.store import Store

    store = Store(tmp_path / "ui.db")
    cp = LocalControlPlane(store=store, name="ui-test")
    yield cp
    _drain(arun)
    arun(cp.close())
    store.close()


def _drain(arun: Callable[..., Any]) -> None:
    """Wait for what the test's widgets still have in flight (a worker thread may be inside the
    store): closing a SQLite connection under a running query is not safe."""

    from konnect_desktop.runtime.healthcheck import BACKGROUND_TASK

    async def wait() -> None:
        me = asyncio.current_task()
        for _ in range(200):
            # a running runtime's active health checker lives until the runtime stops: not the test's
            pending = [t for t in asyncio.all_tasks()
                       if t is not me and not t.done() and t.get_name() != BACKGROUND_TASK]
            if not pending:
                return
            await asyncio.sleep(0.05)

    arun(wait(), timeout=30)


@pytest.fixture
def session(tmp_path: Any, aloop: asyncio.AbstractEventLoop, arun: Callable[..., Any]) -> Iterator[Any]:
    from konnect_desktop.settings import SettingsStore
    from konnect_desktop.ui.session import Session

    s = Session(SettingsStore(tmp_path / "settings.json"))
    s.listen = ("127.0.0.1:0", "127.0.0.1:0")
    yield s
    _drain(arun)
    arun(s.close(), timeout=30)


@pytest.fixture
def local_session(session: Any, store_cp: Any) -> Any:
    """A session whose current connection is a real store-backed local control plane."""
    from konnect_desktop.settings import Profile

    session.use(Profile(kind="local", name="ui-test", id="ui-test"), store_cp)
    return session
