"""GUI test fixtures: a qasync loop around pytest-qt's QApplication, helpers to wait on it, a
session, and a Konnect organisation served on 127.0.0.1.

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


def _idle_keepalive(task: asyncio.Task[Any]) -> bool:
    """An HTTP server's connection task waiting for the next request on a kept-alive connection
    (e.g. a runtime's Admin API, kept open by a Kong Admin connection's client until the session
    closes): it serves nobody now, and ends when the client's connection closes."""
    coro = task.get_coro()
    if getattr(coro, "__qualname__", "") != "RequestHandler.start":  # aiohttp's per-connection task
        return False
    frame = getattr(coro, "cr_frame", None)
    handler = frame.f_locals.get("self") if frame is not None else None
    return getattr(handler, "_waiter", None) is not None  # parked between requests


def _drain(arun: Callable[..., Any]) -> None:
    """Wait for what the test's widgets still have in flight (a worker thread may be inside the
    store): closing a SQLite connection under a running query is not safe."""

    from konnect_desktop.runtime.healthcheck import BACKGROUND_TASK

    async def wait() -> None:
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        end = loop.time() + 20  # a bound for work that hangs, not a pause: this returns when it ends
        while True:
            # a running runtime's active health checker lives until the runtime stops, and a
            # server's idle keep-alive connection until its client closes: neither is the test's
            pending = {t for t in asyncio.all_tasks()
                       if t is not me and not t.done() and t.get_name() != BACKGROUND_TASK
                       and not _idle_keepalive(t)}
            if not pending:
                return
            left = end - loop.time()
            assert left > 0, f"the test left work running: {sorted(t.get_name() for t in pending)}"
            # wakes when one ends (it may start others), or after a while to look at idle keep-alives again
            await asyncio.wait(pending, timeout=min(left, 0.2), return_when=asyncio.FIRST_COMPLETED)

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


@pytest.fixture
def konnect_org(arun: Callable[..., Any], session: Any, tmp_path: Any, session_tokens: None) -> Iterator[Any]:
    """A Konnect API server built from Konnect's OpenAPI files (tests/controlplanes/konnect_server.py)
    with the control planes prod-eu and staging-eu, and the session's connection "org" to it (its
    token in the session's token store). Skips where the OpenAPI files are not available."""

    from controlplanes.konnect_server import KonnectTestServer, specs_available

    from konnect_desktop import credentials
    from konnect_desktop.settings import Profile
    if not specs_available():
        pytest.skip("Konnect OpenAPI files are not available here")
    token = "kpat_" + "Ui7" * 14
    server = KonnectTestServer(token=token, tmp=tmp_path)
    arun(server.start())
    try:
        server.add_control_plane("prod-eu")
        server.add_control_plane("staging-eu")
        credentials.store_token("org", token)
        org = Profile(kind="konnect", auth="konnect-token", name="org", region="eu", base_url=server.base_url)
        session.add_connection(org)
        yield org
    finally:
        arun(session.flush())
        arun(server.stop())
