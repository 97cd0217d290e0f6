"""The Request Console's collection tree against a real local runtime loaded with the users-api
example (examples/users-api: kong.yaml + consumers.yaml), offscreen: open, run all, a broken
copy, edit + Save, New / Delete, Import, and a run that is cancelled."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from console.keyring_fixture import secret_service  # noqa: F401  (fixture, from tests/console)
from PySide6.QtCore import Qt
from ui_support import current_local_runtime

from konnect_desktop.console import collection as col
from konnect_desktop.console.environments import Environment, Variable
from konnect_desktop.model.declarative import load_document, merge_documents, read_source
from konnect_desktop.ui.console.collection_panel import NOT_LOCAL, RECENT_KEY
from konnect_desktop.ui.pages.request_console import RequestConsolePage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "users-api"


@pytest.fixture
def users_runtime(session: Any, arun: Any) -> Any:
    """A local runtime group, current in the session, running the example's configuration."""
    _conn, rt = current_local_runtime(arun, session, "coll")
    doc = merge_documents([read_source(EXAMPLE / "kong.yaml"), read_source(EXAMPLE / "consumers.yaml")])
    arun(rt.load_config(load_document(doc, strict_plugins=True)), timeout=30)
    return rt


def _page(qtbot: Any, session: Any, tmp_path: Path) -> RequestConsolePage:
    page = RequestConsolePage(session, history_path=tmp_path / "hist" / "history.db",
                              environments_path=tmp_path / "envs.json")
    qtbot.addWidget(page)
    page.resize(1280, 900)
    page.show()
    qtbot.waitUntil(lambda: page.history is not None and not page.runner.busy, timeout=10000)
    return page


def _open(qtbot: Any, page: RequestConsolePage, folder: Path) -> Any:
    panel = page.collections
    panel.open_collection(folder)
    qtbot.waitUntil(lambda: not page.runner.busy and panel.collection is not None, timeout=10000)
    return panel


def _run_all(qtbot: Any, page: RequestConsolePage) -> None:
    page.collections.run_all_button.click()
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=30000)


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "users-api"
    shutil.copytree(EXAMPLE / "collection", dst)
    return dst


def test_run_all_passes_and_each_request_says_so(qtbot: Any, session: Any, users_runtime: Any, tmp_path: Path,
                                                  arun: Any) -> None:
    page = _page(qtbot, session, tmp_path)
    try:
        panel = _open(qtbot, page, _copy(tmp_path))
        assert panel.env.currentText() == "local"
        assert len(panel.items) == 4
        _run_all(qtbot, page)
        texts = [it.text(1) for it in panel.items.values()]
        assert all(t == "PASS" for t in texts), texts
        assert all(not it.icon(1).isNull() for it in panel.items.values())  # icon beside the text
        assert panel.note.text().startswith("4 passed, 0 failed.")
        # selecting a request loads it into the editor and lists its checks
        key = next(k for k in panel.items if "03-user-with-key" in k)
        panel.select(key)
        assert page.url.text() == "{{base}}/users/42"
        assert ("apikey", "{{free_key}}") in page.headers.pairs()
        lines = panel.check_lines()
        assert any(ln.startswith("✓ gateway.consumer: expected 'free-app', got 'free-app'") for ln in lines), lines
        # remembered for next time
        assert session.store.get_value(RECENT_KEY)[0] == str(tmp_path / "users-api")
    finally:
        arun(page.aclose())


def test_broken_copy_marks_the_failing_request_with_expected_and_got(qtbot: Any, session: Any, users_runtime: Any,
                                                                     tmp_path: Path, arun: Any) -> None:
    folder = _copy(tmp_path)
    broken = folder / "01-health.yaml"
    doc = yaml.safe_load(broken.read_text())
    doc["expect"]["gateway"]["upstream"]["headers"]["x-api-version"] = "2"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    (folder / "04-gold-limit.yaml").unlink()  # keeps the test short; the burst is covered above
    page = _page(qtbot, session, tmp_path)
    try:
        panel = _open(qtbot, page, folder)
        _run_all(qtbot, page)
        assert panel.items[str(broken)].text(1) == "FAIL 1 of 6"
        others = [it.text(1) for k, it in panel.items.items() if k != str(broken)]
        assert all(t.startswith("PASS") for t in others), others
        panel.select(broken)
        failed = [ln for ln in panel.check_lines() if ln.startswith("✗")]
        assert failed == ["✗ gateway.upstream.header x-api-version: expected '2', got '1'"], panel.check_lines()
        assert panel.note.text().startswith("2 passed, 1 failed.")
    finally:
        arun(page.aclose())


def test_edit_save_new_and_delete_write_the_files(qtbot: Any, session: Any, users_runtime: Any, tmp_path: Path,
                                                  arun: Any) -> None:
    folder = _copy(tmp_path)
    page = _page(qtbot, session, tmp_path)
    try:
        panel = _open(qtbot, page, folder)
        target = folder / "02-user-needs-a-key.yaml"
        panel.select(target)
        page.url.setText("{{base}}/users/43?verbose=1")
        page.headers.set_rows([("x-trace", "on")])
        # looking at another request keeps the edits as a draft, marked in the tree
        panel.select(folder / "01-health.yaml")
        assert page.url.text() == "{{base}}/health"
        assert panel.items[str(target)].text(0) == "GET A user needs a key • edited"
        panel.select(target)
        assert page.url.text() == "{{base}}/users/43?verbose=1"
        page.url.setFocus()
        qtbot.keyClick(page.url, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        again = col.load(folder)
        req = next(r for r in again.requests if r.path == target)
        assert req.spec.url == "{{base}}/users/43?verbose=1"
        assert req.spec.headers == [("x-trace", "on")]
        assert req.expect["gateway"]["plugins"] == {"key-auth": "reject"}  # the checks are kept
        assert panel.note.text().startswith("Saved 02-user-needs-a-key.yaml")
        assert panel.items[str(target)].text(0) == "GET A user needs a key"
        assert panel.drafts == {}

        panel.new_button.click()
        qtbot.waitUntil(lambda: not page.runner.busy and len(panel.items) == 5, timeout=10000)
        new = panel.current_request()
        assert new is not None and new.path is not None and new.path.name == "05-new-request.yaml"
        assert page.url.text() == "{{base}}/"
        panel.delete_request(confirm=False)
        qtbot.waitUntil(lambda: not page.runner.busy and len(panel.items) == 4, timeout=10000)
        assert not new.path.exists()
    finally:
        arun(page.aclose())


def test_client_side_only_when_not_local_and_a_run_can_be_cancelled(qtbot: Any, session: Any, store_cp: Any,
                                                                    users_runtime: Any, tmp_path: Path,
                                                                    arun: Any) -> None:
    from konnect_desktop.settings import Profile

    folder = _copy(tmp_path)
    env = folder / "environments" / "local.yaml"
    data = yaml.safe_load(env.read_text())
    data["variables"]["base"] = users_runtime.proxy_url
    env.write_text(yaml.safe_dump(data))
    # a connection that is not a running local runtime (a store-backed control plane)
    session.use(Profile(kind="kong-admin", name="elsewhere", url="http://127.0.0.1:9"), store_cp)
    page = _page(qtbot, session, tmp_path)
    try:
        panel = _open(qtbot, page, folder)
        panel.select(folder / "01-health.yaml")
        panel.run_button.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        it = panel.items[str(folder / "01-health.yaml")]
        assert it.text(1) == "PASS, 5 skipped"
        assert NOT_LOCAL in panel.note.text()
        assert any(ln.startswith("~ gateway.route") for ln in panel.check_lines())

        # cancel: the burst of 7 is stopped between requests; nothing is left marked as running
        panel.select(folder / "04-gold-limit.yaml")
        task = panel.run_selected()
        assert task is not None and panel.run_all_button.text() == "Cancel"
        panel.run_all_button.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert task.cancelled()
        assert panel.items[str(folder / "04-gold-limit.yaml")].text(1) == ""
        assert panel.run_all_button.text() == "Run all"
    finally:
        arun(page.aclose())


def test_import_postman_into_a_new_collection_shows_the_warnings(qtbot: Any, session: Any, tmp_path: Path,
                                                                 arun: Any) -> None:
    postman = {
        "info": {"name": "Shop", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [
            {"name": "orders", "item": [
                {"name": "List orders", "request": {"method": "GET", "url": "{{base}}/orders"}},
            ]},
            {"name": "Login", "request": {"method": "POST", "url": "{{base}}/login",
                                          "auth": {"type": "oauth2"}}},
        ],
    }
    src = tmp_path / "shop.postman.json"
    src.write_text(yaml.safe_dump(postman))
    page = _page(qtbot, session, tmp_path)
    try:
        panel = page.collections
        panel.import_into(src, tmp_path / "shop")
        qtbot.waitUntil(lambda: not page.runner.busy and panel.collection is not None, timeout=10000)
        assert [r.title for r in panel.collection.requests] == ["orders / List orders", "Login"]
        assert (tmp_path / "shop" / "01-orders" / "01-list-orders.yaml").is_file()
        assert panel.note.text().startswith("Imported 2 requests from Postman")
        assert "⚠" in panel.note.text() and "oauth2" in panel.note.text()
        # a folder that is not empty is refused, nothing is written into it
        panel.import_into(src, tmp_path / "shop")
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert page.error_panel.isVisible() and "not empty" in page.error_panel.message.text()
    finally:
        arun(page.aclose())


def test_a_key_only_in_the_keyring_reaches_the_request(qtbot: Any, session: Any, users_runtime: Any, tmp_path: Path,
                                                       arun: Any, secret_service: Any) -> None:  # noqa: F811
    """The collection's files name {{free_key}} but do not hold it: the console's environment of the
    same name keeps it as a secret (OS keyring), and the run uses it."""
    folder = _copy(tmp_path)
    env_file = folder / "environments" / "local.yaml"
    env_file.write_text(yaml.safe_dump({"variables": {"gold_key": "demo-gold-key"}}))
    page = _page(qtbot, session, tmp_path)
    try:
        page.env_editor.set_environment(Environment("local", [Variable("base", ""), Variable("free_key", "", True)]))
        page.env_editor.table.cellWidget(1, 1).setText("demo-free-key")
        page.env_editor.save.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert b"demo-free-key" not in (tmp_path / "envs.json").read_bytes()
        panel = _open(qtbot, page, folder)
        panel.select(folder / "03-user-with-key.yaml")
        panel.run_button.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert panel.items[str(folder / "03-user-with-key.yaml")].text(1) == "PASS", panel.check_lines()
        assert b"demo-free-key" not in env_file.read_bytes()
    finally:
        arun(page.aclose())


def test_a_stopped_local_runtime_is_named_not_guessed(qtbot: Any, local_session: Any, tmp_path: Path,
                                                     arun: Any) -> None:
    folder = _copy(tmp_path)
    page = _page(qtbot, local_session, tmp_path)
    try:
        panel = _open(qtbot, page, folder)
        panel.run_all_button.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert page.error_panel.isVisible()
        assert page.error_panel.title.text() == "Running the collection failed"
        assert page.error_panel.message.text() == ("The local runtime “ui-test” is not running: start it "
                                                   "(Start in the status bar), then run again.")
        assert all(it.text(1) == "" for it in panel.items.values())  # nothing marked as run
    finally:
        arun(page.aclose())
