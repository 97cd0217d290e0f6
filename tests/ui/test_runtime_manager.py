"""Runtime Manager: "Replicate to…" hands the selected group to the Replication page, and the
session closes the stores it opened — also while a page's worker thread is still reading."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from PySide6.QtCore import Qt
from ui_support import runtime_manager

from konnect_desktop.controlplanes.errors import ControlPlaneError
from konnect_desktop.runtime.store import StoreClosed
from konnect_desktop.settings import Profile
from konnect_desktop.ui.pages.replication import ReplicationPage
from konnect_desktop.ui.pages.runtime_manager import CONN_ROLE, GROUP_ROLE, RuntimeManagerPage


def _item(page: RuntimeManagerPage, conn: Profile, group: str | None = None) -> Any:
    for r in range(page.tree.topLevelItemCount()):
        root = page.tree.topLevelItem(r)
        for i in range(root.childCount()):
            item = root.child(i)
            if item.data(0, CONN_ROLE) != conn.id:
                continue
            if group is None:
                return item
            for j in range(item.childCount()):
                if item.child(j).data(0, GROUP_ROLE) == group:
                    return item.child(j)
    return None


def test_replicate_to_opens_replication_with_the_selected_group_as_source(qtbot: Any, arun: Any, session: Any) -> None:
    a = session.create_local_group(f"a-{uuid.uuid4().hex[:6]}")
    b = session.create_local_group(f"b-{uuid.uuid4().hex[:6]}")
    arun(session.switch(a))
    win, rm = runtime_manager(qtbot, session)
    assert rm.replicate_button.text() == "Replicate to…"
    rm.tree.setCurrentItem(_item(rm, b))
    assert rm.replicate_button.isEnabled()
    qtbot.mouseClick(rm.replicate_button, Qt.MouseButton.LeftButton)
    page = win.current_page()
    assert isinstance(page, ReplicationPage)
    assert win.sidebar.currentItem().text() == "Replication"
    src, dst = page.source.endpoint(), page.target.endpoint()
    assert src.conn_id == b.id
    assert dst.conn_id is not None and dst.conn_id != b.id  # never the group onto itself
    # again from another group: the page (already built) takes the new source
    win.show_page("runtimes")
    rm.tree.setCurrentItem(_item(rm, a))
    rm.replicate_selected()
    assert win.current_page() is page and page.source.endpoint().conn_id == a.id


def test_replicate_to_from_a_konnect_control_plane(qtbot: Any, session: Any, konnect_org: Profile) -> None:
    org = konnect_org
    win, rm = runtime_manager(qtbot, session)
    item = _item(rm, org)
    item.setExpanded(False)
    item.setExpanded(True)  # lists the organisation's control planes
    qtbot.waitUntil(lambda: _item(rm, org, "staging-eu") is not None, timeout=15000)
    rm.tree.setCurrentItem(_item(rm, org, "staging-eu"))
    assert "staging-eu" in rm.heading.text()
    rm.replicate_selected()
    page = win.current_page()
    assert isinstance(page, ReplicationPage)
    src = page.source.endpoint()
    assert (src.conn_id, src.group) == (org.id, "staging-eu")
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=15000)


# -- the session closes the stores it opened ----------------------------------------------------------
def test_starting_a_runtime_closes_the_store_a_page_is_reading_without_a_crash(arun: Any, session: Any) -> None:
    conn = session.create_local_group(f"c-{uuid.uuid4().hex[:6]}")
    cp = arun(session.switch(conn))
    store = cp.store
    arun(cp.create("services", {"name": "svc", "host": "h"}))
    outcome: list[str] = []
    started = threading.Event()

    def page_worker() -> None:  # what a page's asyncio.to_thread call does, without pause
        started.set()
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                store.all("services")
                store.export()
            except StoreClosed:
                outcome.append("closed")
                return
            except Exception as exc:  # pragma: no cover - reported below
                outcome.append(f"{type(exc).__name__}: {exc}")
                return
        outcome.append("never closed")

    t = threading.Thread(target=page_worker)
    t.start()
    assert started.wait(5)
    rt = arun(session.start_runtime(conn.name, sample=False), timeout=30)
    t.join(10)
    assert outcome == ["closed"]
    assert store.closed
    # the old control plane says so in words; the session's current one is the runtime's
    with pytest.raises(ControlPlaneError):
        arun(cp.list_all("services"))
    assert session.cp is not cp and session.cp.runtime is rt
    assert [s["name"] for s in arun(session.cp.list_all("services"))] == ["svc"]
    # stopping swaps back to a store the session opened; closing the session closes it
    arun(session.stop_runtime(conn.name), timeout=30)
    reopened = session.cp.store
    assert not reopened.closed and rt.store is None
    arun(session.close(), timeout=30)
    assert reopened.closed


def test_removing_a_connection_closes_its_store(arun: Any, session: Any) -> None:
    conn = session.create_local_group(f"d-{uuid.uuid4().hex[:6]}")
    cp = arun(session.control_plane_for(conn))
    arun(session.remove_connection(conn))
    assert cp.store.closed
    assert session.find(conn.id) is None


def test_app_refuses_a_local_runtime_admin_api_beyond_loopback(arun: Any, session: Any) -> None:
    """The app's local runtime has no admin token: an Admin API address beyond loopback is refused
    with the reason (the same rule as ``gateway run`` and ``LocalRuntime``), nothing keeps running."""
    from konnect_desktop.runtime.admin_guard import UnsafeBindError

    conn = session.create_local_group(f"open-{uuid.uuid4().hex[:6]}")
    session.listen = ("127.0.0.1:0", "0.0.0.0:0")
    with pytest.raises(UnsafeBindError, match="without an admin token"):
        arun(session.start_runtime(conn.runtime_name))
    assert session.runtime_state(conn.runtime_name) == "stopped"
    session.listen = ("127.0.0.1:0", "127.0.0.1:0")
    rt = arun(session.start_runtime(conn.runtime_name))
    assert rt.admin_bound and rt.admin_bound[0].startswith("127.0.0.1:")
    arun(session.stop_runtime(conn.runtime_name))
