"""One current connection/runtime group that every view follows: a switch or a failed read
clears or reloads each view, so no page ever shows another group's data, and the connection
bar, the status bar and the combo always name the same group. Real SQLite stores behind local
runtime groups; a Konnect connection without a saved token stands for one that cannot be read."""

from __future__ import annotations

import uuid
from typing import Any

from ui_support import runtime_manager, show_loaded

from konnect_desktop.settings import Profile
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages.runtime_manager import CONN_ROLE, RuntimeManagerPage
from konnect_desktop.ui.pages.service_hub import ServiceHubPage


def _group(session: Any, prefix: str) -> Profile:
    return session.create_local_group(f"{prefix}-{uuid.uuid4().hex[:6]}")


def _item(page: RuntimeManagerPage, conn: Profile) -> Any:
    for r in range(page.tree.topLevelItemCount()):
        root = page.tree.topLevelItem(r)
        for i in range(root.childCount()):
            if root.child(i).data(0, CONN_ROLE) == conn.id:
                return root.child(i)
    raise AssertionError(f"{conn.name} not in the tree")


def _badges(page: RuntimeManagerPage) -> list[str]:
    out = []
    for i in range(page.badges.count()):
        w = page.badges.itemAt(i).widget()
        if w is not None:
            out.append(w.text())
    return out


def _konnect(session: Any, name: str = "acme") -> Profile:
    conn = Profile(kind="konnect", auth="konnect-token", name=name, region="eu", control_plane="prod")
    session.add_connection(conn)
    return conn


def test_a_failed_read_leaves_nothing_of_the_previous_connection(qtbot: Any, arun: Any, session: Any,
                                                                 no_keyring: None) -> None:
    """Issue: after "Reading acme failed" the pane kept the previous connection's badges,
    counts and node."""
    a = _group(session, "a")
    cp = arun(session.control_plane_for(a))
    arun(cp.create("services", {"name": "one", "url": "http://127.0.0.1:9"}))
    acme = _konnect(session)
    page = RuntimeManagerPage(session)
    qtbot.addWidget(page)
    page.show()
    page.tree.setCurrentItem(_item(page, a))
    qtbot.waitUntil(lambda: page.count_labels["services"].text() == "1" and not page.runner.busy)
    assert page.nodes.rowCount() == 1 and "writable" in _badges(page)

    page.tree.setCurrentItem(_item(page, acme))
    qtbot.waitUntil(lambda: not page.runner.busy and page.error_panel.isVisibleTo(page))
    assert "Reading acme" in page.error_panel.text()
    assert {lab.text() for lab in page.count_labels.values()} == {"—"}
    assert page.nodes.rowCount() == 0
    assert _badges(page) == ["unreachable"]
    assert page.target.text() == ""


def test_counts_are_read_again_when_the_page_is_shown_again(qtbot: Any, arun: Any, session: Any) -> None:
    a = _group(session, "a")
    arun(session.switch(a))
    win, rm = runtime_manager(qtbot, session)
    rm.tree.setCurrentItem(_item(rm, a))
    qtbot.waitUntil(lambda: rm.count_labels["services"].text() == "0" and not rm.runner.busy)
    win.show_page("services")
    arun(session.create("services", {"name": "later", "url": "http://127.0.0.1:9"}))
    win.show_page("runtimes")
    qtbot.waitUntil(lambda: rm.count_labels["services"].text() == "1", timeout=5000)


def _hub_with_plugin(qtbot: Any, arun: Any, session: Any) -> tuple[ServiceHubPage, dict[str, Any], dict[str, Any]]:
    a = _group(session, "a")
    arun(session.switch(a))
    svc_a = arun(session.create("services", {"name": "svc-a", "url": "http://127.0.0.1:9"}))
    svc_b = arun(session.create("services", {"name": "svc-b", "url": "http://127.0.0.1:9"}))
    arun(session.create("plugins", {"name": "cors", "service": {"id": svc_a["id"]}}))
    hub = show_loaded(qtbot, ServiceHubPage(session), ready=lambda h: h.model.rowCount() == 2)
    hub.select_service(svc_a["id"])
    panel = hub.detail.plugins
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 1)
    panel.table.selectRow(0)
    qtbot.waitUntil(lambda: panel.editor is not None and not hub.runner.busy)
    assert panel.editor is not None and panel.editor.entity is not None
    assert panel.editor.entity["service"]["id"] == svc_a["id"]
    return hub, svc_a, svc_b


def test_switching_the_group_closes_the_plugin_editor_of_the_old_one(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: the new group's services were listed next to service A's plugin editor; Save then
    said "Not found"."""
    hub, _svc_a, _svc_b = _hub_with_plugin(qtbot, arun, session)
    b = _group(session, "b")
    arun(session.switch(b))
    arun(session.create("services", {"name": "only-b", "url": "http://127.0.0.1:9"}))
    hub.refresh()
    qtbot.waitUntil(lambda: not hub.runner.busy and hub.model.rowCount() == 1)
    assert hub.detail.plugins.editor is None
    assert hub.detail.plugins.model.rowCount() == 0
    assert hub.detail.service is None and hub.detail_stack.currentWidget() is hub.empty
    assert [hub.model.entity(r)["name"] for r in range(hub.model.rowCount())] == ["only-b"]


def test_a_switch_clears_hidden_pages_at_once(qtbot: Any, arun: Any, session: Any) -> None:
    hub, _svc_a, _svc_b = _hub_with_plugin(qtbot, arun, session)
    hub.hide()
    arun(session.switch(_group(session, "b")))
    assert hub.model.rowCount() == 0 and hub.detail.plugins.editor is None


def test_the_plugin_editor_follows_the_selected_service(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: selecting another service updated the plugin list but not the editor."""
    hub, _svc_a, svc_b = _hub_with_plugin(qtbot, arun, session)
    hub.select_service(svc_b["id"])
    assert hub.detail.plugins.model.rowCount() == 0
    assert hub.detail.plugins.editor is None
    assert not hub.detail.plugins.hint.isHidden()


def _bars(win: MainWindow) -> tuple[str, str, str]:
    return win.connection_combo.currentText(), win.group_label.text(), win.status_group.text()


def test_header_status_bar_and_combo_always_agree(qtbot: Any, arun: Any, session: Any, store_cp: Any,
                                                  no_keyring: None) -> None:
    a = _group(session, "a")
    arun(session.switch(a))
    acme = _konnect(session)
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    combo, header, status = _bars(win)
    assert combo == a.label and header.startswith(f"runtime group: {a.name}") and status == f"runtime group: {a.name}"

    # a Konnect connection that cannot be opened (no token): everything stays on the group in use
    win.connection_combo.setCurrentIndex(win.connection_combo.findData(acme.id))
    win.connection_combo.activated.emit(win.connection_combo.currentIndex())
    qtbot.waitUntil(lambda: not session.runner.busy)
    assert session.current is a
    combo, header, status = _bars(win)
    assert combo == a.label and header.startswith(f"runtime group: {a.name}") and status == f"runtime group: {a.name}"

    # a Konnect connection in use: its control plane is the group everywhere
    konnect = Profile(kind="konnect", auth="konnect-token", name="org", region="eu", control_plane="prod", id="org")
    session.use(konnect, store_cp)
    combo, header, status = _bars(win)
    assert combo == konnect.label and header.startswith("runtime group: prod") and status == "runtime group: prod"

    # none in use: the combo names none
    arun(session.remove_connection(konnect))
    combo, header, status = _bars(win)
    assert combo == "" and header == "" and status == "runtime group: —"


def test_a_kong_admin_connection_shows_consumer_group_and_upstream_counts(qtbot: Any, arun: Any,
                                                                          session: Any) -> None:
    """Issue: a Kong Admin API connection showed "—" for consumer groups and upstreams although
    both endpoints answer (the node's info has no counts: they are counted from the lists)."""
    name = f"k-{uuid.uuid4().hex[:6]}"
    rt = arun(session.start_runtime(name, sample=False), timeout=30)
    arun(rt.store.aio.insert("upstreams", {"name": "orders.upstream"}))
    arun(rt.store.aio.insert("consumer_groups", {"name": "gold"}))
    kong = Profile(kind="kong-admin", name=f"admin-{name}", url=rt.admin_url)
    session.add_connection(kong)
    page = RuntimeManagerPage(session)
    qtbot.addWidget(page)
    page.show()
    page.tree.setCurrentItem(_item(page, kong))
    qtbot.waitUntil(lambda: not page.runner.busy and page.count_labels["services"].text() != "—", timeout=15000)
    assert page.count_labels["upstreams"].text() == "1"
    assert page.count_labels["consumer_groups"].text() == "1"


def test_a_switch_does_not_cancel_work_that_is_not_the_groups(qtbot: Any, arun: Any, session: Any,
                                                               tmp_path: Any, store_cp: Any) -> None:
    """The console's history opening (the app switches to the last connection right after the
    window shows a page) and a replication are not the current group's data: a switch leaves
    them running."""
    from konnect_desktop.ui.pages.request_console import RequestConsolePage

    page = RequestConsolePage(session, history_path=tmp_path / "h.db", environments_path=tmp_path / "e.json")
    qtbot.addWidget(page)
    page.show()
    assert "open" in page.runner.keys()
    session.use(Profile(kind="local", name="other", id="other"), store_cp)  # while "Opening history" runs
    qtbot.waitUntil(lambda: page.history is not None and not page.runner.busy, timeout=10000)
    arun(page.aclose())
