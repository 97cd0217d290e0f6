"""Service Hub against a real SQLite store: list, search, tags, sort, create/edit/delete, errors."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from konnect_desktop.ui.pages.service_hub import ServiceHubPage


def _seed(arun: Any, cp: Any) -> dict[str, Any]:
    a = arun(cp.create("services", {"name": "echo", "host": "echo.local", "tags": ["demo"]}))
    b = arun(cp.create("services", {"name": "openai", "url": "https://api.openai.com/v1", "tags": ["ai"]}))
    c = arun(cp.create("services", {"name": "billing", "host": "billing.internal", "tags": ["demo", "pay"]}))
    arun(cp.create("routes", {"name": "echo-r", "paths": ["/echo"], "service": {"id": a["id"]}}))
    arun(cp.create("routes", {"name": "echo-r2", "paths": ["/v1"], "hosts": ["api.local"], "service": {"id": a["id"]}}))
    arun(cp.create("routes", {"name": "ai-r", "paths": ["/ai"], "service": {"id": b["id"]}}))
    return {"echo": a, "openai": b, "billing": c}


def _page(qtbot: Any, session: Any) -> ServiceHubPage:
    page = ServiceHubPage(session)
    qtbot.addWidget(page)
    page.resize(1100, 800)
    page.show()
    return page


def _names(page: ServiceHubPage) -> list[str]:
    return [page.proxy.entity(r)["name"] for r in range(page.proxy.rowCount())]


def test_lists_services_with_route_counts(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    _seed(arun, store_cp)
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 3)
    assert sorted(_names(page)) == ["billing", "echo", "openai"]
    counts = {page.proxy.entity(r)["name"]: page.proxy.index(r, 3).data() for r in range(3)}
    assert counts == {"echo": "2", "openai": "1", "billing": "0"}
    assert "3 services" in page.count_label.text()


def test_search_as_you_type_and_tag_filter(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    _seed(arun, store_cp)
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 3)
    qtbot.keyClicks(page.search, "open")
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 1)
    assert _names(page) == ["openai"]
    page.search.clear()
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 3)
    page.tag.setCurrentIndex(page.tag.findData("demo"))
    assert sorted(_names(page)) == ["billing", "echo"]
    assert "2 of 3 services shown" in page.count_label.text()


def test_sorting_by_any_column(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    _seed(arun, store_cp)
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 3 and not page.runner.busy)
    page.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert _names(page) == ["billing", "echo", "openai"]
    page.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # routes count
    assert _names(page) == ["echo", "openai", "billing"]


def test_detail_shows_routes_plugins_and_yaml(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    seeded = _seed(arun, store_cp)
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 3 and not page.runner.busy)
    page.select_service(seeded["echo"]["id"])
    d = page.detail
    assert d.service is not None and d.service["name"] == "echo"
    assert d.routes.model.rowCount() == 2
    d.tabs.setCurrentWidget(d.yaml)
    text = d.yaml.text.toPlainText()
    assert "name: echo" in text and "routes:" in text and "/echo" in text
    assert "created_at" not in text


def test_create_edit_delete_service_through_widgets(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: not page.runner.busy)
    page.new()
    ed = page.detail.overview
    ed.form.editors["name"].set_value("orders")
    ed.form.editors["host"].set_value("orders.internal")
    ed.save()
    qtbot.waitUntil(lambda: ed.summary.text() == "Saved.")
    stored = arun(store_cp.get("services", "orders"))
    assert stored["host"] == "orders.internal"
    assert page.model.rowCount() == 1
    # edit
    ed.form.editors["port"].set_value(8080)
    ed.save()
    qtbot.waitUntil(lambda: arun(store_cp.get("services", "orders"))["port"] == 8080)
    # delete (the confirmation is a dialog; call what it calls)
    ed.delete()
    qtbot.waitUntil(lambda: page.model.rowCount() == 0)
    assert arun(store_cp.list_all("services")) == []


def test_local_schema_violation_shows_on_the_field(qtbot: Any, local_session: Any) -> None:
    page = _page(qtbot, local_session)
    page.new()
    ed = page.detail.overview
    ed.form.editors["name"].set_value("bad name!")
    ed.save()
    shown = ed.form.errors_shown()
    assert set(shown) == {"host", "name"}
    assert "required field missing" in shown["host"]
    assert "⚠" in ed.summary.text()


def test_server_error_lands_on_the_field(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    arun(store_cp.create("services", {"name": "dup", "host": "a.local"}))
    page = _page(qtbot, local_session)
    page.new()
    ed = page.detail.overview
    ed.form.editors["name"].set_value("dup")
    ed.form.editors["host"].set_value("b.local")
    ed.save()
    qtbot.waitUntil(lambda: "name" in ed.form.errors_shown())
    assert "already used" in ed.form.errors_shown()["name"]
    assert "UNIQUE violation" in ed.summary.text()


def test_route_created_from_the_service_page(qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    svc = arun(store_cp.create("services", {"name": "echo", "host": "echo.local"}))
    page = _page(qtbot, local_session)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not page.runner.busy)
    page.select_service(svc["id"])
    tab = page.detail.routes
    tab.new_route()
    tab.editor.form.editors["name"].set_value("r1")
    tab.editor.form.editors["paths"].set_value(["no-slash"])
    tab.editor.save()
    assert "paths" in tab.editor.form.errors_shown()  # Kong's path rule, on the field
    tab.editor.form.editors["paths"].set_value(["/orders"])
    tab.editor.save()
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1)
    route = arun(store_cp.get("routes", "r1"))
    assert route["service"] == {"id": svc["id"]} and route["paths"] == ["/orders"]
    qtbot.waitUntil(lambda: page.proxy.index(0, 3).data() == "1")
