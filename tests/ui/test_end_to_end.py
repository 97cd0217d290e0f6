"""End to end through the widgets against a real local runtime, real sockets and real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
from fake_clock import hold_rate_limiting
from PySide6.QtCore import QTimer
from ui_support import current_local_runtime, show_loaded

from konnect_desktop.settings import Profile
from konnect_desktop.ui.pages.runtime_manager import RuntimeManagerPage
from konnect_desktop.ui.pages.service_hub import ServiceHubPage
from konnect_desktop.ui.plugin_editor import PluginEditor


def _start_local(arun: Any, session: Any) -> tuple[Any, Any]:
    return current_local_runtime(arun, session, "e2e")


def test_service_route_and_rate_limit_made_in_the_gui_limit_real_requests(qtbot: Any, arun: Any, session: Any) -> None:
    _conn, rt = _start_local(arun, session)
    assert session.runtime_state(_conn.name) == "running"
    page = show_loaded(qtbot, ServiceHubPage(session), (1200, 900))

    # service
    page.new()
    svc_ed = page.detail.overview
    svc_ed.form.editors["name"].set_value("limited")
    svc_ed.form.editors["host"].set_value("echo.internal")  # the runtime's built-in echo upstream
    svc_ed.save()
    qtbot.waitUntil(lambda: svc_ed.summary.text() == "Saved.", timeout=10000)

    # route
    routes = page.detail.routes
    routes.new_route()
    routes.editor.form.editors["name"].set_value("limited-r")
    routes.editor.form.editors["paths"].set_value(["/limited"])
    routes.editor.save()
    qtbot.waitUntil(lambda: routes.model.rowCount() == 1, timeout=10000)

    # rate-limiting plugin, 3 per minute, on the service
    panel = page.detail.plugins
    page.detail.tabs.setCurrentWidget(panel)
    panel.add_combo.setCurrentText("rate-limiting")
    panel.add_selected()
    qtbot.waitUntil(lambda: isinstance(panel.editor, PluginEditor), timeout=10000)
    editor = panel.editor
    assert editor is not None
    assert editor.scope.describe() == "service: limited"
    editor.form.editor_at("config.minute").set_value(3)  # type: ignore[union-attr]
    editor.save()
    qtbot.waitUntil(lambda: editor.summary.text() == "Saved.", timeout=10000)
    assert panel.model.rowCount() == 1

    arun(rt.wait_synced())
    # the four requests fall in one minute: the plugin reads a clock held past a minute's start
    hold_rate_limiting(rt)

    async def hit() -> list[int]:
        async with httpx.AsyncClient() as client:
            return [(await client.get(f"{rt.proxy_url}/limited")).status_code for _ in range(4)]

    assert arun(hit()) == [200, 200, 200, 429]


def test_kong_schema_violation_shows_on_the_plugin_field(qtbot: Any, arun: Any, local_session: Any) -> None:
    editor = PluginEditor("rate-limiting", save=lambda d, e: local_session.save("plugins", d, e))
    qtbot.addWidget(editor)
    editor.load(None)
    editor.form.editor_at("config.second").set_value(10)  # type: ignore[union-attr]
    editor.form.editor_at("config.minute").set_value(3)  # type: ignore[union-attr]
    editor.save()
    shown = editor.form.errors_shown()
    assert any("cannot be lower than the limit for second" in t for t in shown.values()), shown
    assert "config" in shown
    assert editor.summary.text().startswith("⚠")
    # nothing was stored
    assert arun(local_session.cp.list_all("plugins")) == []


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now: connections are refused
    return port


class _BlockingCallWatch:
    """Notes calls that would block the thread that entered it: socket calls on sockets in
    blocking mode, name look-ups and ``time.sleep`` (worker threads are free to block)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _BlockingCallWatch:
        ui = threading.get_ident()

        def watch(owner: Any, name: str, blocks: Any) -> None:
            real = getattr(owner, name)

            def wrapper(*args: Any, **kw: Any) -> Any:
                if threading.get_ident() == ui and blocks(*args):
                    self.calls.append(f"{getattr(owner, '__name__', owner)}.{name}")
                return real(*args, **kw)

            self._saved.append((owner, name, real))
            setattr(owner, name, wrapper)

        for method in ("connect", "recv", "recv_into", "send", "sendall", "accept"):
            watch(socket.socket, method, lambda sock, *_: sock.gettimeout() != 0.0)
        watch(socket, "getaddrinfo", lambda *_: True)
        watch(time, "sleep", lambda seconds=0, *_: seconds > 0)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, real in reversed(self._saved):
            setattr(owner, name, real)


def test_dead_address_shows_an_error_while_the_ui_keeps_responding(qtbot: Any, arun: Any, session: Any) -> None:
    arun(session.warm_up())  # as the app does at start-up
    conn = Profile(kind="kong-admin", name="dead", url=f"http://127.0.0.1:{_dead_port()}")
    session.add_connection(conn)
    page = RuntimeManagerPage(session)
    qtbot.addWidget(page)
    page.show()
    # select the dead connection
    root = page.tree.topLevelItem(1)
    page.tree.setCurrentItem(root.child(0))

    # "keeps responding", without timing it: no call that blocks (a blocking socket, a DNS
    # look-up, a sleep) is made on the UI thread while the attempts run, and the UI's own timer
    # keeps firing meanwhile
    blocking = _BlockingCallWatch()
    ticks_while_testing = [0]

    def tick() -> None:
        if page.runner.busy:
            ticks_while_testing[0] += 1

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    with blocking:
        page.test_selected()
        qtbot.waitUntil(lambda: page.test_result.text().startswith("✕"), timeout=30000)
    timer.stop()
    assert "127.0.0.1" in page.test_result.text() or "refused" in page.test_result.text().lower()
    assert "Traceback" not in page.test_result.text()
    assert blocking.calls == []
    assert ticks_while_testing[0] > 0  # the loop ran other work between the attempts
