"""The Replication page driven through its widgets against real runtimes.

"us" is a local runtime group started through the session (the page reaches it as a
``LocalControlPlane``); "eu" is a second ``LocalRuntime`` reached over its real Admin API as a
Kong Gateway connection (``KongAdminControlPlane``). Plans, applies, failures, cancellation,
files and the screenshot all go through the page as a user would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from konnect_desktop.model import declarative
from konnect_desktop.runtime.runtime import LocalRuntime
from konnect_desktop.settings import Profile
from konnect_desktop.ui.pages.replication import ReplicationPage, parse_tags

US = b"""
_format_version: "3.0"
services:
  - name: echo
    host: echo.internal
    port: 8080
    tags: [team-a]
    routes:
      - name: echo-r
        paths: [/echo]
        tags: [team-a]
        plugins:
          - name: rate-limiting
            tags: [team-a]
            config: {minute: 5, policy: local}
consumers:
  - username: demo
    tags: [team-a]
    keyauth_credentials: [{key: demo-key-us-0001}]
    hmacauth_credentials: [{username: h1, secret: s3cr3t-us}]
"""

EU = b"""
_format_version: "3.0"
services:
  - name: echo
    host: echo.internal
    port: 80
    tags: [team-a]
  - name: legacy
    host: old.internal
consumers:
  - username: demo
    tags: [team-a]
    hmacauth_credentials: [{username: h1, secret: s3cr3t-eu}]
"""

BAD_FILE = """
_format_version: "3.0"
services:
  - name: s2
    host: x.internal
    plugins:
      - name: not-a-plugin
        config: {a: 1}
      - name: cors
"""


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def us_eu(request: Any, session: Any, arun: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    # the picture shows plain "us"; other tests keep their own store files apart
    name = "us" if "screenshot" in request.node.name else f"us-{uuid.uuid4().hex[:6]}"
    conn_us = session.create_local_group(name)
    us = arun(session.start_runtime(name, sample=False), timeout=30)
    arun(us.load_config(declarative.load(US)))
    eu = LocalRuntime("eu", tmp_path / "eu.db")
    arun(eu.start(), timeout=30)
    arun(eu.load_config(declarative.load(EU)))
    conn_eu = Profile(kind="kong-admin", name="eu", url=eu.admin_url)
    session.add_connection(conn_eu)
    yield {"us": us, "eu": eu, "conn_us": conn_us, "conn_eu": conn_eu}
    arun(eu.stop(), timeout=30)


def make_page(qtbot: Any, session: Any) -> ReplicationPage:
    page = ReplicationPage(session)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    return page


def idle(qtbot: Any, page: ReplicationPage, timeout: int = 20000) -> None:
    qtbot.wait(10)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=timeout)


def choose(page: ReplicationPage, source: Profile, target: Profile) -> None:
    """As a user does: radio 'Connection', then the connection in each combo."""
    for picker, conn in ((page.source, source), (page.target, target)):
        picker.use_connection.click()
        picker.connection.setCurrentIndex(picker.connection.findData(conn.id))


def plan(qtbot: Any, page: ReplicationPage) -> None:
    assert page.plan_button.isEnabled(), page.plan_button.toolTip()
    qtbot.mouseClick(page.plan_button, Qt.MouseButton.LeftButton)
    idle(qtbot, page)
    assert page.error_panel.isHidden(), page.error_panel.text()


def top_rows(page: ReplicationPage) -> list[str]:
    return page.tree.top_texts()


def entity_item(page: ReplicationPage, action: str, label: str) -> Any:
    for idx in page.tree.entity_indexes():
        c = idx.data(Qt.ItemDataRole.UserRole)
        if c.action == action and idx.data().endswith(label):
            return idx
    raise AssertionError(f"no {action} row {label!r} in\n{page.tree.text_dump()}")


def apply_confirmed(qtbot: Any, page: ReplicationPage) -> str:
    assert page.apply_button.isEnabled(), page.apply_button.toolTip()
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.confirm_box is not None and page.confirm_box.isVisible(), timeout=5000)
    box = page.confirm_box
    assert box is not None
    text = f"{box.text()}\n{box.informativeText()}"
    page.confirm_apply_button.click()
    qtbot.waitUntil(lambda: page.confirm_box is None, timeout=5000)
    idle(qtbot, page)
    qtbot.waitUntil(lambda: not page.runner.busy and page.result is not None and not page.plan_stale, timeout=20000)
    idle(qtbot, page)
    return text


# -- the main flow -------------------------------------------------------------------------------
def test_us_to_eu_plan_apply_and_in_sync(qtbot: Any, session: Any, us_eu: dict[str, Any]) -> None:
    page = make_page(qtbot, session)
    choose(page, us_eu["conn_us"], us_eu["conn_eu"])
    plan(qtbot, page)

    # counts in the header and in the tree
    assert page.summary.text().startswith("3 to create · 2 to update · 1 to delete")
    assert "us-" in page.summary.text() and "Kong · eu" in page.summary.text()
    assert top_rows(page) == ["+ Create (3)", "~ Update (2)", "− Delete (1)"]
    kinds = sorted(name for name, _ in page.tree.child_rows(page.tree.action_index("create")))
    assert kinds == ["key-auth (1)", "plugin (1)", "route (1)"]

    # an update opens onto its changed fields only, old → new
    echo = entity_item(page, "update", "echo")
    assert page.tree.isExpanded(echo)
    assert page.tree.child_rows(echo) == [("port", "80  →  8080")]
    assert echo.siblingAtColumn(1).data() == "1 field changed: port"
    # a secret that changed is shown as changed, never in clear
    hmac = entity_item(page, "update", "h1 for consumer demo")
    assert page.tree.child_rows(hmac) == [("secret", "[masked]  →  [masked]")]
    dump = page.tree.text_dump()
    assert "s3cr3t" not in dump and "demo-key-us-0001" not in dump
    # deletes are marked in words and struck out, not by colour alone
    legacy = entity_item(page, "delete", "legacy")
    assert legacy.data() == "− legacy" and legacy.data(Qt.ItemDataRole.FontRole).strikeOut()
    assert legacy.siblingAtColumn(1).data() == "removed from the target"
    # a created plugin says what it sets (not its defaults)
    assert entity_item(page, "create", "rate-limiting for route echo-r").siblingAtColumn(1).data() == "minute=5"

    # apply: the confirmation states the counts and the target
    text = apply_confirmed(qtbot, page)
    assert "Apply 6 changes to Kong · eu" in text
    assert "3 to create, 2 to update, 1 to delete" in text
    rows = page.results.rows()
    assert len(rows) == 6 and all(r[0] == "✓ applied" for r in rows), rows
    assert page.result_summary.text() == "Applied 6 of 6"
    # one bar per dependency level, all full
    assert len(page.progress.bars) == 4  # memberships/credentials/services · routes · plugins · deletes
    assert all(b.value() == b.maximum() for b in page.progress.bars)
    assert [lab.text().split(" · ")[0] for lab in page.progress.labels] == [
        f"Step {i + 1} of {len(page.progress.bars)}" for i in range(len(page.progress.bars))]

    # the automatic second plan is empty: in sync
    assert page.result is not None and page.result.plan.empty
    assert page.sync_state.text() == "✓ in sync"
    assert top_rows(page) == ["✓ In sync: the target now matches the source."]
    assert not page.apply_button.isEnabled()

    # eu's store holds the entities
    store = us_eu["eu"].store
    assert sorted(s["name"] for s in store.all("services")) == ["echo"]
    assert store.all("services")[0]["port"] == 8080
    assert [r["name"] for r in store.all("routes")] == ["echo-r"]
    (rl,) = store.all("plugins")
    assert rl["name"] == "rate-limiting" and rl["config"]["minute"] == 5
    assert [k["key"] for k in store.all("keyauth_credentials")] == ["demo-key-us-0001"]
    assert store.all("hmacauth_credentials")[0]["secret"] == "s3cr3t-us"


def test_failing_apply_shows_the_servers_error_and_the_rest_not_applied(
    qtbot: Any, session: Any, us_eu: dict[str, Any], tmp_path: Path
) -> None:
    src = tmp_path / "bad.yaml"
    src.write_text(BAD_FILE)
    page = make_page(qtbot, session)
    page.source.use_file.click()
    page.source.path.setText(str(src))
    page.target.connection.setCurrentIndex(page.target.connection.findData(us_eu["conn_eu"].id))
    plan(qtbot, page)
    assert page.summary.text().startswith("3 to create · 0 to update · ")
    apply_confirmed(qtbot, page)

    by_name = {r[1]: r for r in page.results.rows()}
    failed = by_name["create plugin not-a-plugin for service s2"]
    assert failed[0] == "✕ failed"
    assert "plugin 'not-a-plugin' not enabled" in failed[2]  # the server's words
    assert by_name["create service s2"][0] == "✓ applied"
    later = [r for r in page.results.rows() if r[1].startswith("delete ")]
    assert later and all(r[0] == "– not applied" for r in later)
    assert "1 failed" in page.result_summary.text() and f"{len(later)} not applied" in page.result_summary.text()
    assert page.error_panel.isHidden()  # per-entity failures live in the list, not a traceback
    # the re-plan shows what still differs; nothing was deleted on eu
    assert page.result is not None and not page.result.plan.empty
    assert "changes still differ" in page.result_summary.text()
    assert "legacy" in [s["name"] for s in us_eu["eu"].store.all("services")]


def test_cancelling_a_slow_plan_leaves_the_page_usable(qtbot: Any, session: Any, arun: Any, us_eu: dict[str, Any]) -> None:
    # a real server that accepts connections and never answers
    held: list[asyncio.StreamWriter] = []

    async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = arun(asyncio.start_server(hold, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    slow = Profile(kind="kong-admin", name="slow", url=f"http://127.0.0.1:{port}")
    session.add_connection(slow)
    try:
        page = make_page(qtbot, session)
        choose(page, slow, us_eu["conn_eu"])
        qtbot.mouseClick(page.plan_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.busy.isVisible() and bool(held), timeout=10000)
        assert not page.plan_button.isEnabled() and not page.source.isEnabled()
        qtbot.mouseClick(page.busy.cancel, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=5000)
        assert page.busy.isHidden()
        assert page.error_panel.isHidden()
        assert "cancelled" in page.tree.text_dump()
        assert page.plan_button.isEnabled() and page.source.isEnabled() and page.swap_button.isEnabled()
        # and the page still works: plan from us instead
        page.source.connection.setCurrentIndex(page.source.connection.findData(us_eu["conn_us"].id))
        plan(qtbot, page)
        assert page.result is not None and page.result.plan.summary()["total"] == 6
    finally:
        for w in held:
            w.close()
        server.close()
        arun(server.wait_closed())


def test_cancelling_an_apply_reports_what_was_done(
    qtbot: Any, session: Any, us_eu: dict[str, Any], tmp_path: Path
) -> None:
    many = tmp_path / "many.yaml"
    many.write_text('_format_version: "3.0"\nservices:\n' + "".join(
        f"  - {{name: s{i:03d}, host: h{i}.internal, tags: [bulk]}}\n" for i in range(300)))
    page = make_page(qtbot, session)
    page.source.use_file.click()
    page.source.path.setText(str(many))
    page.target.connection.setCurrentIndex(page.target.connection.findData(us_eu["conn_eu"].id))
    page.tags.setText("bulk")
    plan(qtbot, page)
    assert page.summary.text().startswith("300 to create · 0 to update · 0 to delete")
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.confirm_box is not None and page.confirm_box.isVisible(), timeout=5000)
    page.confirm_apply_button.click()
    bar = page.progress.bars[0]
    # press Cancel as soon as a few services are in (the bar moves per finished change)
    bar.valueChanged.connect(lambda v: page.busy.cancel.click() if v == 5 else None)
    idle(qtbot, page)

    rows = page.results.rows()
    applied = [r for r in rows if r[0] == "✓ applied"]
    cancelled = [r for r in rows if r[0] == "– not applied (cancelled)"]
    assert len(rows) == 300 and len(applied) >= 5 and cancelled and len(applied) + len(cancelled) == 300
    assert "(cancelled)" in page.result_summary.text() and "press Plan" in page.result_summary.text()
    assert "cancelled" in bar.format()
    assert page.error_panel.isHidden()
    assert not page.apply_button.isEnabled() and page.plan_button.isEnabled()
    # what reached eu is at least what was reported applied, and planning again shows the rest
    on_eu = {s["name"] for s in us_eu["eu"].store.all("services") if s["name"].startswith("s")}
    assert {r[1].split()[-1] for r in applied} <= on_eu and len(on_eu) < 300
    plan(qtbot, page)
    assert page.result is not None and len(page.result.plan.creates) == 300 - len(on_eu)


# -- files ---------------------------------------------------------------------------------------
def test_file_target_dump_export_and_in_sync(qtbot: Any, session: Any, us_eu: dict[str, Any], tmp_path: Path) -> None:
    page = make_page(qtbot, session)
    out = tmp_path / "us.yaml"
    page.source.connection.setCurrentIndex(page.source.connection.findData(us_eu["conn_us"].id))
    page.target.use_file.click()
    page.target.path.setText(str(out))
    plan(qtbot, page)
    s = page.result.plan.summary() if page.result else {}
    assert s["deleting"] == 0 and s["creating"] >= 6  # a new file: everything is a create
    text = apply_confirmed(qtbot, page)
    assert f"into {out}" in text
    assert out.exists() and page.result is not None and page.result.plan.empty
    assert page.sync_state.text() == "✓ in sync"
    written = declarative.load(out)
    assert [s["name"] for s in written["services"]] == ["echo"]

    # export the plan (decK's JSON shape, secrets masked): plan eu against us first
    page.target.use_connection.click()
    page.target.connection.setCurrentIndex(page.target.connection.findData(us_eu["conn_eu"].id))
    plan(qtbot, page)
    exported = tmp_path / "plan.json"
    page.export_plan(str(exported))
    idle(qtbot, page)
    body = json.loads(exported.read_text())
    assert set(body) == {"changes", "summary", "warnings", "errors"}
    assert body["summary"] == {"creating": 3, "updating": 2, "deleting": 1, "total": 6}
    assert "s3cr3t" not in exported.read_text() and "demo-key-us-0001" not in exported.read_text()

    # dump the source as JSON (with the select-tag) off the UI thread
    page.tags.setText("team-a")
    dumped = tmp_path / "dump.json"
    page.dump(str(dumped))
    idle(qtbot, page)
    assert page.error_panel.isHidden(), page.error_panel.text()
    doc = json.loads(dumped.read_text())
    assert doc["_info"]["select_tags"] == ["team-a"]
    assert [s["name"] for s in doc["services"]] == ["echo"]
    assert "Wrote" in page.sync_state.text()


def test_unreadable_source_file_is_a_sentence(qtbot: Any, session: Any, us_eu: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("_format_version: \"3.0\"\nservices:\n  - name: x\n    port: not-a-number\n    host: h\n")
    page = make_page(qtbot, session)
    page.source.use_file.click()
    page.source.path.setText(str(bad))
    qtbot.mouseClick(page.plan_button, Qt.MouseButton.LeftButton)
    idle(qtbot, page)
    assert page.error_panel.isVisible()
    msg = page.error_panel.text()
    assert "broken.yaml" in msg and "port" in msg and "Traceback" not in msg
    assert page.plan_button.isEnabled()


# -- pickers -------------------------------------------------------------------------------------
def test_swap_same_side_and_stale_plan(qtbot: Any, session: Any, us_eu: dict[str, Any]) -> None:
    page = make_page(qtbot, session)
    choose(page, us_eu["conn_us"], us_eu["conn_eu"])
    qtbot.mouseClick(page.swap_button, Qt.MouseButton.LeftButton)
    assert page.source.endpoint().conn_id == us_eu["conn_eu"].id
    assert page.target.endpoint().conn_id == us_eu["conn_us"].id
    qtbot.mouseClick(page.swap_button, Qt.MouseButton.LeftButton)
    plan(qtbot, page)
    assert page.apply_button.isEnabled()
    # changing a side makes the plan out of date: no applying a plan for other sides
    page.tags.setText("team-a")
    assert not page.apply_button.isEnabled() and "plan again" in page.apply_button.toolTip()
    assert "out of date" in page.sync_state.text()
    # the same group on both sides cannot be planned, and says why
    page.target.connection.setCurrentIndex(page.target.connection.findData(us_eu["conn_us"].id))
    assert not page.plan_button.isEnabled()
    assert "same" in page.plan_button.toolTip()
    page.make_plan()
    assert page.error_panel.isVisible() and "same" in page.error_panel.text()


def test_select_tags_limit_the_plan(qtbot: Any, session: Any, us_eu: dict[str, Any]) -> None:
    page = make_page(qtbot, session)
    choose(page, us_eu["conn_us"], us_eu["conn_eu"])
    page.tags.setText("team-a")
    plan(qtbot, page)
    assert page.result is not None and page.result.plan.select_tags == ["team-a"]
    # the untagged "legacy" service on eu is not managed, so not deleted
    assert "− Delete" not in " ".join(top_rows(page))
    assert parse_tags(" a, b  a,c ") == ["a", "b", "c"]


# -- picture -------------------------------------------------------------------------------------
def test_screenshot_with_a_plan(qtbot: Any, session: Any, arun: Any, us_eu: dict[str, Any], tmp_path: Path) -> None:
    """Renders the window with a plan shown; ``KONNECT_DESKTOP_SCREENSHOTS=<dir>`` keeps the PNG
    (as ``replication.png``) for the docs."""
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui.mainwindow import MainWindow

    keep = os.environ.get("KONNECT_DESKTOP_SCREENSHOTS")
    if keep:  # render as the screenshots of the other pages are rendered
        from konnect_desktop.ui import theme

        app = QApplication.instance()
        app.setStyle("Fusion")  # type: ignore[union-attr]
        theme.apply(app)  # type: ignore[arg-type]
    arun(session.switch(us_eu["conn_us"]))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1360, 860)
    win.show()
    page = win.show_page("replication")
    assert isinstance(page, ReplicationPage)
    choose(page, us_eu["conn_us"], us_eu["conn_eu"])
    plan(qtbot, page)
    page.tree.setCurrentIndex(entity_item(page, "update", "echo"))
    qtbot.wait(200)
    path = tmp_path / "replication.png"
    assert win.grab().save(str(path))
    assert path.stat().st_size > 10_000
    # and after applying: the outcomes, the bars per level, the second plan in sync
    apply_confirmed(qtbot, page)
    qtbot.wait(200)
    after = tmp_path / "replication-result.png"
    assert win.grab().save(str(after))
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / "replication.png")
        shutil.copy(after, Path(keep) / "replication-result.png")


# -- secrets never shown -------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(old=st.text(alphabet="abcdefghijkLMNOP", min_size=8, max_size=24),
       new=st.text(alphabet="qrstuvwxyzQRSTU", min_size=8, max_size=24))
def test_changed_secrets_are_masked_at_any_depth(old: str, new: str) -> None:
    """A plugin's nested Redis password, an HMAC secret and a key-auth key never appear in the
    field rows or the one-line summaries the plan tree shows."""
    from konnect_desktop.controlplanes.replication import FieldView, brief, value_text
    from konnect_desktop.model.diff import plan as make_plan

    def conf(secret: str) -> Any:
        return declarative.load(f"""
_format_version: "3.0"
plugins:
  - name: rate-limiting
    config: {{minute: 5, policy: redis, redis: {{host: r.internal, password: "{secret}"}}}}
consumers:
  - username: demo
    keyauth_credentials: [{{key: "k-{secret}"}}]
    hmacauth_credentials: [{{username: h1, secret: "{secret}"}}]
""".encode())

    p = make_plan(conf(old), conf(new))
    view = FieldView(p)
    shown = []
    for c in p.changes:
        shown.append(brief(c.table, c.new or c.old))
        for f in view.fields(c):
            shown += [f.field, value_text(f.old), value_text(f.new)]
    text = "\n".join(shown)
    assert {c.table for c in p.updates} >= {"plugins", "hmacauth_credentials"}
    assert old not in text and new not in text
    assert "[masked]" in text
