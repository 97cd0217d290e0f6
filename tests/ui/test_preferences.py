"""File › Preferences opens a real dialog (it used to jump to the Runtime Manager): theme,
the local runtime's default ports, history retention and extra secret names, saved in the
settings file and applied at once."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from konnect_desktop.console.request import RequestSpec
from konnect_desktop.settings import SettingsStore
from konnect_desktop.ui import preferences, theme
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.preferences import PreferencesDialog
from konnect_desktop.ui.session import Session


def test_preferences_dialog_saves_and_applies(qtbot: Any, arun: Any, session: Any, tmp_path: Any) -> None:
    conn = session.create_local_group(f"p-{uuid.uuid4().hex[:6]}")
    arun(session.switch(conn))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    before = win.current_page()
    win.act_prefs.trigger()
    dlg = win.preferences_dialog
    assert isinstance(dlg, PreferencesDialog) and dlg.isVisible()
    assert win.current_page() is before  # it no longer jumps to the Runtime Manager
    app = QApplication.instance()
    try:
        dlg.theme.setCurrentIndex(dlg.theme.findData("dark"))
        dlg.proxy_port.setValue(18000)
        dlg.admin_port.setValue(18000)
        dlg.save()
        assert dlg.isVisible() and "different ports" in dlg.problem.text()  # refused, nothing saved
        dlg.admin_port.setValue(18001)
        dlg.history_max.setValue(300)
        dlg.redact.setText("x-tenant-secret, session_ref")
        dlg.save()
        assert not dlg.isVisible()
        assert theme.is_dark() and app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        assert session.listen == ("127.0.0.1:18000", "127.0.0.1:18001")
        console = win.show_page("console")
        qtbot.waitUntil(lambda: console.history is not None, timeout=10000)
        assert console.history.max_entries == 300
        console.load_spec(RequestSpec("GET", "http://127.0.0.1:9/x?session_ref=abc123",
                                      headers=[("X-Tenant-Secret", "t0p")]))
        curl = console.curl_text()
        assert "abc123" not in curl and "t0p" not in curl and "REDACTED" in curl

        arun(session.flush())
        again = Session(SettingsStore(session.store.path))
        saved = preferences.load(again)
        assert saved == {"theme": "dark", "proxy_port": 18000, "admin_port": 18001, "history_max": 300,
                         "redact_names": ["x-tenant-secret", "session_ref"]}
        arun(again.close())
    finally:
        theme.apply(app, "light")
        theme.apply(app, "system")
        session.listen = ("127.0.0.1:0", "127.0.0.1:0")
        console = win.pages.get("console")
        if console is not None:
            arun(console.aclose())
