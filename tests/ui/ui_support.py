"""Helpers for the GUI tests (no tests here): a page shown and loaded, a local runtime group
started and made current, and the main window opened on the Runtime Manager. The fixtures they
lean on (``qtbot``, ``arun``, ``session``) are in conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages.runtime_manager import RuntimeManagerPage

P = TypeVar("P")


def show_loaded(qtbot: Any, page: P, size: tuple[int, int] | None = (1200, 800),
                ready: Callable[[P], bool] | None = None, timeout: int = 5000) -> P:
    """``page`` owned by ``qtbot``, sized (unless ``size`` is None), shown and refreshed; returned
    once its runner is idle and ``ready(page)`` holds (within ``timeout`` ms)."""
    qtbot.addWidget(page)
    if size is not None:
        page.resize(*size)  # type: ignore[attr-defined]
    page.show()  # type: ignore[attr-defined]
    page.refresh()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: (ready is None or ready(page)) and not page.runner.busy,  # type: ignore[attr-defined]
                    timeout=timeout)
    return page


def current_local_runtime(arun: Any, session: Any, prefix: str, sample: bool = False) -> tuple[Any, Any]:
    """A new local runtime group ``<prefix>-<random>``, its runtime started (with or without the
    sample configuration) and the group made current: (connection, runtime)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    conn = session.create_local_group(name)
    rt = arun(session.start_runtime(name, sample=sample), timeout=30)
    arun(session.switch(conn))
    return conn, rt


def runtime_manager(qtbot: Any, session: Any) -> tuple[MainWindow, RuntimeManagerPage]:
    """The main window, shown, on its Runtime Manager page."""
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    rm = win.show_page("runtimes")
    assert isinstance(rm, RuntimeManagerPage)
    return win, rm
