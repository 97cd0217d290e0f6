"""The reference workflow, start to finish, in one main window as a new user does it: service
(URL first) → route → request-transformer → rate limit → a consumer with a typed key and a
consumer group → Register application (which protects the service with key-auth) → a console
request → a burst that trips the limit → the traffic page → replicate to a second runtime group.
Real local runtime, real sockets, real SQLite stores; no traceback anywhere on the way."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from konnect_desktop.console.burst import BurstPlan
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages.consumers import RegisterApplicationDialog
from konnect_desktop.ui.plugin_editor import PluginEditor


def _idle(qtbot: Any, *runners: Any, timeout: int = 15000) -> None:
    QApplication.processEvents()
    qtbot.waitUntil(lambda: not any(r.busy for r in runners), timeout=timeout)


def _add_plugin(qtbot: Any, hub: Any, name: str, values: dict[str, Any]) -> None:
    panel = hub.detail.plugins
    hub.detail.tabs.setCurrentWidget(panel)
    panel.add_combo.setCurrentIndex(panel.add_combo.findData(name))
    panel.add_selected()
    qtbot.waitUntil(lambda: isinstance(panel.editor, PluginEditor) and panel.editor.plugin_name == name,
                    timeout=10000)
    editor = panel.editor
    for path, value in values.items():
        editor.form.editor_at(path).set_value(value)
    editor.save()
    qtbot.waitUntil(lambda: editor.summary.text() == "Saved.", timeout=10000)


def test_reference_workflow_end_to_end(qtbot: Any, arun: Any, session: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    a = session.create_local_group(f"ref-a-{uuid.uuid4().hex[:6]}")
    b = session.create_local_group(f"ref-b-{uuid.uuid4().hex[:6]}")
    rt = arun(session.start_runtime(a.name, sample=False), timeout=30)
    arun(session.switch(a))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()

    # -- service (URL first), route, request-transformer, rate limit ---------------------------
    hub = win.show_page("services")
    _idle(qtbot, hub.runner)
    hub.new()
    qtbot.keyClicks(hub.detail.url_row.edit, "http://echo.internal")  # the runtime's built-in echo
    hub.detail.overview.form.editors["name"].set_value("orders")
    hub.detail.overview.save()
    qtbot.waitUntil(lambda: hub.detail.overview.summary.text() == "Saved.", timeout=10000)
    routes = hub.detail.routes
    hub.detail.tabs.setCurrentWidget(routes)
    routes.new_route()
    routes.editor.form.editors["name"].set_value("orders-r")
    routes.editor.form.editors["paths"].set_value(["/orders"])
    routes.editor.save()
    qtbot.waitUntil(lambda: routes.model.rowCount() == 1, timeout=10000)
    _add_plugin(qtbot, hub, "request-transformer", {"config.add.headers": ["x-demo:1"]})
    _add_plugin(qtbot, hub, "rate-limiting", {"config.minute": 5})
    service = arun(session.cp.get("services", "orders"))

    # -- consumer with a typed key, a consumer group, membership ---------------------------------
    consumers = win.show_page("consumers")
    _idle(qtbot, consumers.runner)
    consumers.new()
    consumers.editor.form.editors["username"].set_value("alice")
    consumers.editor.save()
    qtbot.waitUntil(lambda: consumers.model.rowCount() == 1 and consumers.credentials.consumer is not None,
                    timeout=10000)
    consumers.credentials.key_input.setText("alice-migrated-key")
    consumers.credentials.generate_button.click()
    qtbot.waitUntil(lambda: len(consumers.credentials.keys) == 1, timeout=10000)
    consumers.tabs.setCurrentIndex(1)
    consumers.group_name.setText("gold")
    qtbot.keyClick(consumers.group_name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: consumers.group_model.rowCount() == 1 and not consumers.runner.busy, timeout=10000)
    consumers.tabs.setCurrentIndex(0)
    consumers.reload_consumer()
    qtbot.waitUntil(lambda: consumers.groups_box.groups.count() == 1 and not consumers.runner.busy, timeout=10000)
    consumers.groups_box.groups.item(0).setCheckState(Qt.CheckState.Checked)
    _idle(qtbot, consumers.runner)
    gold = consumers.group_model.entity(0)
    assert [c["username"] for c in arun(_members(session.cp, gold["id"]))] == ["alice"]

    # -- register application: consumer, key, group, and key-auth on the service ---------------
    consumers.register_application()
    qtbot.waitUntil(lambda: isinstance(getattr(consumers, "register_dialog", None), RegisterApplicationDialog),
                    timeout=10000)
    dlg = consumers.register_dialog
    dlg.app_name.setText("mobile-app")
    dlg.service.setCurrentIndex(dlg.service.findData(service["id"]))
    for i in range(dlg.groups.count()):
        dlg.groups.item(i).setCheckState(Qt.CheckState.Checked)
    assert dlg.protect.isChecked()
    dlg.register_button.click()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=15000)
    key = dlg.result["key"]["key"]
    assert dlg.result["plugin"]["name"] == "key-auth"
    assert dlg.full_request == f"curl -H 'apikey: {key}' {rt.proxy_url}/orders"
    dlg.accept()
    arun(rt.wait_synced())

    # -- console: the ready request, then a burst that trips the limit --------------------------
    console = win.show_page("console")
    qtbot.waitUntil(lambda: console.history is not None and not console.runner.busy, timeout=10000)
    console.url.setText(f"{rt.proxy_url}/orders")
    console.send()
    qtbot.waitUntil(lambda: console.exchange is not None and not console.runner.busy, timeout=10000)
    assert console.exchange.status == 401  # key-auth protects the service now
    console.headers.set_rows([("apikey", key)])
    first = console.exchange
    console.send()
    qtbot.waitUntil(lambda: console.exchange is not first and not console.runner.busy, timeout=10000)
    assert console.exchange.status == 200
    assert json.loads(console.exchange.body)["headers"]["x-demo"] == "1"  # the transformer ran
    qtbot.waitUntil(lambda: console.insight.insight is not None, timeout=5000)
    assert "request-transformer" in console.insight.info.text()
    console.bottom.setCurrentWidget(console.burst_panel)
    console.start_burst(BurstPlan(count=8))
    qtbot.waitUntil(lambda: console.burst is not None and console.burst.result.state != "running"
                    and not console.runner.busy, timeout=30000)
    result = console.burst.result
    assert result.trip is not None and result.trip.index == 4  # 1 + 4 allowed of 5 a minute
    assert result.statuses() == [200] * 4 + [429] * 4

    # -- traffic ---------------------------------------------------------------------------------
    traffic = win.show_page("traffic")
    qtbot.waitUntil(lambda: traffic.proxy.rowCount() >= 10, timeout=10000)

    # -- replicate to the second runtime group ----------------------------------------------------
    replication = win.show_page("replication")
    _idle(qtbot, replication.runner)
    for picker, conn in ((replication.source, a), (replication.target, b)):
        picker.use_connection.click()
        picker.connection.setCurrentIndex(picker.connection.findData(conn.id))
    qtbot.mouseClick(replication.plan_button, Qt.MouseButton.LeftButton)
    _idle(qtbot, replication.runner, timeout=20000)
    assert replication.error_panel.isHidden(), replication.error_panel.text()
    qtbot.mouseClick(replication.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: replication.confirm_box is not None and replication.confirm_box.isVisible(), timeout=5000)
    replication.confirm_apply_button.click()
    qtbot.waitUntil(lambda: not replication.runner.busy and replication.result is not None, timeout=20000)
    cp_b = arun(session.control_plane_for(b))
    assert [s["name"] for s in arun(cp_b.list_all("services"))] == ["orders"]
    assert sorted(p["name"] for p in arun(cp_b.list_all("plugins"))) == ["key-auth", "rate-limiting",
                                                                         "request-transformer"]
    assert sorted(c["username"] for c in arun(cp_b.list_all("consumers"))) == ["alice", "mobile-app"]

    # -- no traceback anywhere ---------------------------------------------------------------------
    for page in win.pages.values():
        assert page.error_panel.isHidden() or "Traceback" not in page.error_panel.text(), page.title
    assert not any("Traceback" in text for _at, text in win.notifications.messages)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    arun(console.aclose())


async def _members(cp: Any, gid: str) -> list[dict[str, Any]]:
    return [c async for c in cp.group_consumers(gid)]
