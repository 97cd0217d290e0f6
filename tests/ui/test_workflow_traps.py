"""Workflow traps a new user fell into, each through the real widgets against a real store (and
a real local runtime where a request proves the result)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from PySide6.QtCore import Qt
from ui_support import current_local_runtime, show_loaded

from konnect_desktop.ui.entity_editor import EntityEditor
from konnect_desktop.ui.pages.consumers import ConsumersPage, RegisterApplicationDialog


def test_a_field_error_goes_once_the_value_is_fixed(qtbot: Any) -> None:
    """Issue: field errors stayed after the value was fixed, until the next Save."""
    saved: list[dict[str, Any]] = []

    async def save(data: dict[str, Any], _existing: Any) -> dict[str, Any]:
        saved.append(data)
        return {**data, "id": "x"}

    ed = EntityEditor("services", save=save)
    qtbot.addWidget(ed)
    ed.load(None)
    ed.form.editors["host"].edit.setText("")
    ed.save()
    assert "host" in ed.form.errors_shown()
    assert ed.summary.isVisibleTo(ed) or ed.summary.text()
    ed.form.editors["host"].edit.setText("billing.internal")
    assert "host" not in ed.form.errors_shown()
    assert ed.summary.text() == ""
    assert not saved  # fixing a value does not save by itself


def _consumers(qtbot: Any, arun: Any, session: Any) -> tuple[ConsumersPage, dict[str, Any]]:
    consumer = arun(session.create("consumers", {"username": "migrated"}))
    page = show_loaded(qtbot, ConsumersPage(session), ready=lambda p: p.model.rowCount() == 1)
    qtbot.waitUntil(lambda: page.credentials.consumer is not None)
    return page, consumer


def test_a_key_can_be_typed_not_only_generated(qtbot: Any, arun: Any, local_session: Any) -> None:
    page, consumer = _consumers(qtbot, arun, local_session)
    box = page.credentials
    box.key_input.setText("existing-key-from-the-old-gateway")
    assert box.generate_button.text() == "Add key"
    box.generate_button.click()
    qtbot.waitUntil(lambda: len(box.keys) == 1 and not page.runner.busy)
    assert box.keys[0]["key"] == "existing-key-from-the-old-gateway"
    assert box.key_input.text() == "" and box.generate_button.text() == "Generate key"
    box.generate_button.click()  # nothing typed: Kong makes one
    qtbot.waitUntil(lambda: len(box.keys) == 2 and not page.runner.busy)
    assert all(k["key"] for k in box.keys)


def test_enter_creates_the_consumer_group(qtbot: Any, arun: Any, local_session: Any) -> None:
    page, _ = _consumers(qtbot, arun, local_session)
    page.tabs.setCurrentIndex(1)
    page.group_name.setText("gold")
    qtbot.keyClick(page.group_name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.group_model.rowCount() == 1 and not page.runner.busy)
    assert page.group_model.entity(0)["name"] == "gold"


def test_register_application_protects_the_service_with_key_auth(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: Register application made a consumer and a key but left the service open; key-auth
    had to be added by hand. Now it offers (on by default) to add it, and shows the request."""
    _conn, rt = current_local_runtime(arun, session, "reg")
    svc = arun(session.create("services", {"name": "orders", "url": "http://127.0.0.1:9"}))
    arun(session.create("routes", {"name": "orders-r", "paths": ["/orders"], "service": {"id": svc["id"]}}))
    arun(session.create("plugins", {"name": "request-termination", "service": {"id": svc["id"]},
                                    "config": {"status_code": 200, "message": "ok"}}))
    arun(rt.wait_synced())

    async def call(headers: dict[str, str]) -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{rt.proxy_url}/orders", headers=headers)).status_code

    assert arun(call({})) == 200  # open before

    dlg = RegisterApplicationDialog(session, [("orders", svc["id"])], [])
    qtbot.addWidget(dlg)
    dlg.app_name.setText("mobile-app")
    dlg.service.setCurrentIndex(dlg.service.findData(svc["id"]))
    assert dlg.protect.isEnabled() and dlg.protect.isChecked()
    dlg.register_button.click()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=15000)
    key = dlg.result["key"]["key"]
    assert dlg.result["plugin"]["name"] == "key-auth"
    assert dlg.full_request == f"curl -H 'apikey: {key}' {rt.proxy_url}/orders"
    assert key not in dlg.request.text() and dlg.request.isVisibleTo(dlg)
    arun(rt.wait_synced())
    assert arun(call({})) == 401
    assert arun(call({"apikey": key})) == 200

    # a second application: key-auth is there already, none is added
    again = RegisterApplicationDialog(session, [("orders", svc["id"])], [])
    qtbot.addWidget(again)
    again.app_name.setText("web-app")
    again.service.setCurrentIndex(again.service.findData(svc["id"]))
    again.register_button.click()
    qtbot.waitUntil(lambda: again.result is not None, timeout=15000)
    assert again.result["plugin"] is None
    keyauth = [p for p in arun(session.cp.list_all("plugins")) if p["name"] == "key-auth"]
    assert len(keyauth) == 1


def _hub(qtbot: Any, arun: Any, session: Any) -> Any:
    from konnect_desktop.ui.pages.service_hub import ServiceHubPage

    return show_loaded(qtbot, ServiceHubPage(session))


def test_the_service_url_comes_first_and_a_url_in_host_gets_a_hint(qtbot: Any, arun: Any, local_session: Any) -> None:
    """Issue: no URL field; a URL pasted into Host gave "invalid value" with no hint."""
    hub = _hub(qtbot, arun, local_session)
    hub.new()
    row = hub.detail.url_row
    form = hub.detail.overview.form
    assert row.isVisibleTo(hub) and row.y() < hub.detail.overview.tabs.y()  # above the form
    qtbot.keyClicks(row.edit, "https://api.example.com:8443/v1")
    assert (form.editors["protocol"].value(), form.editors["host"].value(), form.editors["port"].value(),
            form.editors["path"].value()) == ("https", "api.example.com", 8443, "/v1")
    form.editors["name"].edit.setText("billing")
    hub.detail.overview.save()
    qtbot.waitUntil(lambda: hub.model.rowCount() == 1 and not hub.detail.overview.runner.busy)
    saved = arun(local_session.cp.get("services", "billing"))
    assert (saved["protocol"], saved["host"], saved["port"], saved["path"]) == ("https", "api.example.com", 8443, "/v1")

    hub.new()
    assert row.edit.text() == ""
    qtbot.keyClicks(form.editors["host"].edit, "http://orders.internal:8080/x")
    assert row.hint_box.isVisibleTo(hub)
    row.use_button.click()
    assert form.editors["host"].value() == "orders.internal" and form.editors["port"].value() == 8080
    assert row.edit.text() == "http://orders.internal:8080/x" and not row.hint_box.isVisibleTo(hub)
    row.edit.clear()
    qtbot.keyClicks(row.edit, "http://orders.internal:99999/x")
    assert row.error.isVisibleTo(hub) and "port" in row.error.text()
    assert form.editors["port"].value() == 9999  # the last URL that was valid while typing


def test_deleting_a_service_with_routes_says_so_and_can_delete_them_too(qtbot: Any, arun: Any,
                                                                        local_session: Any) -> None:
    """Issue: the confirmation did not mention the routes, then failed with "an existing 'routes'
    entity references this 'services' entity"."""
    cp = local_session.cp
    svc = arun(cp.create("services", {"name": "old", "url": "http://127.0.0.1:9"}))
    arun(cp.create("routes", {"name": "old-a", "paths": ["/a"], "service": {"id": svc["id"]}}))
    arun(cp.create("routes", {"name": "old-b", "paths": ["/b"], "service": {"id": svc["id"]}}))
    hub = _hub(qtbot, arun, local_session)
    hub.select_service(svc["id"])
    hub.detail.overview.delete_button.click()
    box = hub.detail.delete_box
    qtbot.waitUntil(box.isVisible)
    assert "2 routes" in box.text() and "old-a" in box.text() and "old-b" in box.text()
    hub.detail.delete_all_button.click()
    qtbot.waitUntil(lambda: hub.model.rowCount() == 0 and not hub.detail.overview.runner.busy)
    assert arun(cp.list_all("services")) == [] and arun(cp.list_all("routes")) == []
    assert hub.detail_stack.currentWidget() is hub.empty


def test_konnect_test_works_without_a_control_plane(qtbot: Any, session: Any, konnect_org: Any) -> None:
    """Issue: the dialog says "Control plane (optional: pick later)" but Test refused without one.
    A Konnect API server built from Konnect's OpenAPI files (the ``konnect_org`` fixture)."""
    from konnect_desktop.ui.connection_dialog import ConnectionDialog

    dlg = ConnectionDialog(session, konnect_org)
    qtbot.addWidget(dlg)
    assert dlg.control_plane.text() == ""
    dlg.test()
    qtbot.waitUntil(lambda: not dlg.runner.busy, timeout=15000)
    text = dlg.test_result.text()
    assert text.startswith("✓") and "2 control planes" in text and "prod-eu" in text, text


def test_plus_in_a_list_editor_opens_the_new_rows_editor_in_view(qtbot: Any) -> None:
    """Issue: "+" added an empty row with no visible editor (below the list's visible rows, or
    a row too short for the inline editor)."""
    from PySide6.QtWidgets import QAbstractItemView, QLineEdit

    ed = EntityEditor("routes")
    qtbot.addWidget(ed)
    ed.resize(800, 900)
    ed.show()
    ed.load(None)
    paths = ed.form.editors["paths"]
    for n in range(1, 7):
        paths.buttons.add.click()
        lst = paths.list
        assert lst.state() == QAbstractItemView.State.EditingState
        item = lst.item(lst.count() - 1)
        rect = lst.visualItemRect(item)
        assert lst.currentItem() is item
        assert lst.viewport().rect().contains(rect), (n, rect)
        assert rect.height() >= lst.fontMetrics().height() + 6
        editor = lst.focusWidget() if isinstance(lst.focusWidget(), QLineEdit) else ed.focusWidget()
        assert isinstance(editor, QLineEdit)
        qtbot.keyClicks(editor, f"/p{n}")
        qtbot.keyClick(editor, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: paths.list.state() != QAbstractItemView.State.EditingState, timeout=2000)
    assert paths.value() == [f"/p{n}" for n in range(1, 7)]


def test_replaying_a_history_entry_asks_for_its_secret_instead_of_sending_redacted(
        qtbot: Any, arun: Any, session: Any, tmp_path: Any) -> None:
    """Issue: replaying a history entry sent the literal REDACTED. The sample's /private route
    needs key-auth (demo-key); the echo answer shows what the upstream received."""
    import json

    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui.pages.request_console import RequestConsolePage

    rt = arun(session.start_runtime(f"replay-{uuid.uuid4().hex[:6]}"), timeout=30)
    page = RequestConsolePage(session, history_path=tmp_path / "hist" / "history.db",
                              environments_path=tmp_path / "envs.json")
    qtbot.addWidget(page)
    page.resize(1280, 900)
    page.show()
    try:
        qtbot.waitUntil(lambda: page.history is not None and not page.runner.busy, timeout=10000)
        page.url.setText(f"{rt.proxy_url}/private")
        page.headers.set_rows([("apikey", "demo-key")])
        page.send()
        qtbot.waitUntil(lambda: page.exchange is not None and not page.runner.busy, timeout=10000)
        assert page.exchange.status == 200
        qtbot.waitUntil(lambda: page.history_panel.model.rowCount() == 1, timeout=5000)
        entry = page.history_panel.model.entries[0]
        assert entry.redacted == ["header apikey"]
        first = page.exchange

        page.replay(entry, send_now=True)
        prompt = page.secret_prompt
        qtbot.waitUntil(lambda: prompt.dialog is not None and prompt.dialog.isVisible())
        assert "header apikey" in prompt.dialog.labelText()
        assert page.exchange is first and not page.runner.busy  # nothing sent yet
        prompt.dialog.setTextValue("demo-key")
        prompt.dialog.accept()
        qtbot.waitUntil(lambda: page.exchange is not first and not page.runner.busy, timeout=10000)
        assert page.exchange.status == 200
        assert json.loads(page.exchange.body)["headers"]["apikey"] == "demo-key"

        # cancelling sends nothing
        page.replay(entry, send_now=True)
        second = page.exchange
        page.secret_prompt.dialog.reject()
        QApplication.processEvents()
        assert page.exchange is second and not page.runner.busy
    finally:
        arun(page.aclose())


def test_enter_confirms_the_register_application_dialog(qtbot: Any, arun: Any, local_session: Any) -> None:
    """Issue: Enter did not confirm the dialog that puts an application in consumer groups."""
    gold = arun(local_session.cp.create("consumer_groups", {"name": "gold"}))
    dlg = RegisterApplicationDialog(local_session, [], [("gold", gold["id"])])
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.groups.item(0).setCheckState(Qt.CheckState.Checked)
    dlg.app_name.setFocus()
    qtbot.keyClicks(dlg.app_name, "cli-tool")
    qtbot.keyClick(dlg.app_name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=10000)
    assert dlg.result["consumer"]["username"] == "cli-tool" and dlg.result["groups"] == [gold["id"]]
