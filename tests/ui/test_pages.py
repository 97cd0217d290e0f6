"""Runtime Manager, Consumers, Plugins, main window and app entry, against real parts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from ui_support import current_local_runtime, show_loaded

from konnect_desktop.ui import app as app_module
from konnect_desktop.ui.connection_dialog import ConnectionDialog, parse_headers
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages import PAGES
from konnect_desktop.ui.pages.consumers import ConsumersPage, register_application
from konnect_desktop.ui.pages.plugins import PluginsPage
from konnect_desktop.ui.pages.runtime_manager import RuntimeManagerPage


def _runtime(arun: Any, session: Any, sample: bool = True) -> tuple[Any, Any]:
    return current_local_runtime(arun, session, "t", sample=sample)


# -- app entry ------------------------------------------------------------------------------------
def test_no_display_is_detected() -> None:
    assert not app_module.display_available({}, "linux")
    assert app_module.display_available({"DISPLAY": ":0"}, "linux")
    assert app_module.display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert app_module.display_available({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not app_module.display_available({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert app_module.display_available({}, "darwin")


def test_without_a_display_the_command_says_what_to_do(tmp_path: Any) -> None:
    """The hints name the command as it was run (here ``python -m konnect_desktop``): the old
    ``xvfb-run konnect-desktop`` was not on the PATH of a checkout. test_app_shell runs them."""
    env = {"PATH": "/usr/bin:/bin", "KONNECT_DESKTOP_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "konnect_desktop"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "No display found" in proc.stderr
    assert f"`xvfb-run -a {sys.executable} -m konnect_desktop`" in proc.stderr
    assert f"`{sys.executable} -m konnect_desktop gateway run`" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- main window ------------------------------------------------------------------------------------
def test_main_window_pages_shortcuts_and_status(qtbot: Any, arun: Any, session: Any) -> None:
    conn, rt = _runtime(arun, session)
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    for spec in PAGES:
        page = win.show_page(spec.id)
        assert page.title_label.text()
        assert type(page).__name__ != "ErrorPage", spec.id
    assert win.act_find.shortcut() == QKeySequence(QKeySequence.StandardKey.Find)
    assert win.act_new.shortcut() == QKeySequence(QKeySequence.StandardKey.New)
    assert not win.act_refresh.shortcut().isEmpty() and not win.act_prefs.shortcut().isEmpty()
    win._update_status()
    assert f"runtime group: {conn.name}" in win.status_group.text()
    assert "running" in win.runtime_status.text()  # a word, not only a colour
    assert rt.proxy_url in win.runtime_addresses.text()
    # the HTTPS listener is on by default (a free port), its address next to the HTTP one
    assert rt.proxy_tls_url and rt.proxy_tls_url.startswith("https://127.0.0.1:")
    assert f"https {rt.proxy_tls_url}" in win.runtime_addresses.text()
    # stop from the status bar
    win.toggle_runtime()
    qtbot.waitUntil(lambda: session.runtime_state(conn.name) == "stopped", timeout=15000)
    qtbot.waitUntil(lambda: "stopped" in win.runtime_status.text())
    assert win.runtime_button.text() == "Start"
    # icon-only buttons carry accessible names
    for w in win.findChildren(object):
        if type(w).__name__ == "QToolButton" and w.text() in ("+", "−", "✕"):
            assert w.accessibleName(), w


def test_window_state_is_remembered(qtbot: Any, session: Any) -> None:
    win = MainWindow(session)
    qtbot.addWidget(win)
    # the offscreen screen is 800x600 and restoring clamps to it: use a height that fits
    win.resize(900, 560)
    win.show()
    win.sidebar.setCurrentRow(2)
    win.save_state()
    saved_size = win.size()
    win2 = MainWindow(session)
    qtbot.addWidget(win2)
    win2.restore_state()
    win2.show()
    assert win2.sidebar.currentRow() == 2
    assert win2.size().height() == saved_size.height() == 560
    assert session.store.get_value("window/page") == PAGES[2].id


# -- runtime manager --------------------------------------------------------------------------------
def test_runtime_manager_overview_of_a_local_group(qtbot: Any, arun: Any, session: Any) -> None:
    conn, rt = _runtime(arun, session)
    page = RuntimeManagerPage(session)
    qtbot.addWidget(page)
    page.show()
    root = page.tree.topLevelItem(0)
    item = next(root.child(i) for i in range(root.childCount()) if conn.name in root.child(i).text(0))
    page.tree.setCurrentItem(item)
    qtbot.waitUntil(lambda: not page.runner.busy and page.nodes.rowCount() == 1, timeout=15000)
    assert page.count_labels["services"].text() == "1"  # the sample configuration
    assert "connected" in page.nodes.cellWidget(0, 3).text()
    assert rt.proxy_url in page.target.text()
    page.test_selected()
    qtbot.waitUntil(lambda: page.test_result.text().startswith("✓"), timeout=15000)


def test_add_kong_connection_to_a_real_admin_api(qtbot: Any, arun: Any, session: Any) -> None:
    _conn, rt = _runtime(arun, session)
    dlg = ConnectionDialog(session)
    qtbot.addWidget(dlg)
    dlg.kind.setCurrentIndex(dlg.kind.findData("kong-admin"))
    assert dlg.pages.currentIndex() == 1  # only the Admin API fields
    assert dlg.kong_token.edit.echoMode() == dlg.kong_token.edit.EchoMode.Password
    dlg.name.setText("local-admin")
    dlg.url.setText("not a url")
    dlg.save()
    assert "http://" in dlg.problem.text()
    dlg.url.setText(rt.admin_url)
    dlg.test()
    qtbot.waitUntil(lambda: dlg.test_result.text().startswith(("✓", "✕")), timeout=15000)
    assert dlg.test_result.text().startswith("✓") and "version" in dlg.test_result.text()
    qtbot.waitUntil(lambda: "stored in" in dlg.kong_token.where.text() or "keyring" in dlg.kong_token.where.text(),
                    timeout=15000)
    dlg.save()
    qtbot.waitUntil(lambda: dlg.result_connection is not None, timeout=15000)
    saved = next(c for c in session.connections if c.name == "local-admin")
    assert saved.url == rt.admin_url and not saved.has_token
    # the connection works as a control plane
    cp = arun(session.switch(saved))
    assert [s["name"] for s in arun(cp.list_all("services"))] == ["echo"]


def test_headers_are_parsed_with_line_errors() -> None:
    assert parse_headers("X-A: 1\n\nX-B:two") == ({"X-A": "1", "X-B": "two"}, None)
    assert parse_headers("nonsense")[1] == "line 1: expected “Header-Name: value”"


# -- consumers ------------------------------------------------------------------------------------
def test_consumers_keys_acls_and_groups(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    gold = arun(store_cp.create("consumer_groups", {"name": "gold"}))
    page = show_loaded(qtbot, ConsumersPage(local_session), None)
    page.new()
    page.editor.form.editors["username"].set_value("bob")
    page.editor.save()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not page.runner.busy, timeout=10000)
    bob = arun(store_cp.get("consumers", "bob"))
    page.credentials.generate()
    qtbot.waitUntil(lambda: page.credentials.table.rowCount() == 1, timeout=10000)
    key = arun(store_cp.list_all("keyauth_credentials"))[0]["key"]
    assert page.credentials.table.item(0, 0).text() != key  # masked
    page.credentials._reveal(page.credentials.keys[0])
    assert page.credentials.table.item(0, 0).text() == key
    page.groups_box.acl_name.setText("demo-users")
    page.groups_box.add_acl()
    qtbot.waitUntil(lambda: page.groups_box.acls.count() == 1, timeout=10000)
    item = page.groups_box.groups.item(0)
    assert item.text() == "gold"
    item.setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: [c["id"] for c in arun(_members(store_cp, gold["id"]))] == [bob["id"]], timeout=10000)
    qtbot.waitUntil(lambda: page.model.index(0, 2).data() == "gold", timeout=10000)


async def _members(cp: Any, gid: str) -> list[dict[str, Any]]:
    return [c async for c in cp.group_consumers(gid)]


def test_register_application_makes_a_working_key(qtbot: Any, arun: Any, session: Any) -> None:
    _conn, rt = _runtime(arun, session)  # sample config: /private needs key-auth + acl demo-users
    cp = session.cp
    gold = arun(cp.create("consumer_groups", {"name": "gold"}))
    echo = arun(cp.get("services", "echo"))
    result = arun(register_application(session, "mobile-app", echo["id"], [gold["id"]], "demo-users"))
    key = result["key"]["key"]
    assert [c["username"] for c in arun(_members(cp, gold["id"]))] == ["mobile-app"]
    arun(rt.wait_synced())

    async def call(k: str | None) -> int:
        async with httpx.AsyncClient() as client:
            headers = {"apikey": k} if k else {}
            return (await client.get(f"{rt.proxy_url}/private", headers=headers)).status_code

    assert arun(call(key)) == 200
    assert arun(call(None)) == 401
    # a failed registration leaves nothing behind (the name is taken now)
    try:
        arun(register_application(session, "mobile-app", None, [], None))
    except Exception as exc:
        assert "UNIQUE" in str(exc)
    assert len([c for c in arun(cp.list_all("consumers")) if c["username"] == "mobile-app"]) == 1


def test_group_plugin_a_gold_tier_limit(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    gold = arun(store_cp.create("consumer_groups", {"name": "gold"}))
    page = show_loaded(qtbot, ConsumersPage(local_session), None, lambda p: p.group_model.rowCount() == 1, 10000)
    page.tabs.setCurrentIndex(1)
    page.group_table.selectRow(0)
    panel = page.group_plugins
    panel.add_combo.setCurrentText("rate-limiting")
    panel.add_selected()
    qtbot.waitUntil(lambda: panel.editor is not None, timeout=10000)
    assert panel.editor.scope.describe() == "consumer group: gold"
    panel.editor.form.editor_at("config.minute").set_value(100)
    panel.editor.save()
    qtbot.waitUntil(lambda: panel.editor is not None and panel.editor.summary.text() == "Saved.", timeout=10000)
    stored = arun(store_cp.list_all("plugins"))
    assert stored[0]["consumer_group"] == {"id": gold["id"]} and stored[0]["config"]["minute"] == 100


# -- plugins page -----------------------------------------------------------------------------------
def test_plugins_page_lists_every_instance_with_its_scope(qtbot: Any, arun: Any, session: Any) -> None:
    _runtime(arun, session)
    page = show_loaded(qtbot, PluginsPage(session), None, lambda p: p.panel.model.rowCount() == 4, 15000)
    scopes = {page.panel.model.index(r, 0).data(): page.panel.model.index(r, 1).data() for r in range(4)}
    assert scopes["rate-limiting"] == "route echo-limited"
    summaries = {page.panel.model.index(r, 0).data(): page.panel.model.index(r, 3).data() for r in range(4)}
    assert summaries["rate-limiting"].startswith("5/minute")
    page.search.setText("acl")
    assert page.panel.proxy.rowCount() == 1
