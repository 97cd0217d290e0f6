"""The Request Console against a real local runtime (sample configuration), offscreen."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from console.keyring_fixture import secret_service  # noqa: F401  (fixture, from tests/console)
from fake_clock import hold_rate_limiting
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from widget_checks import assert_looks_right, chart_label_problems, save_shot

from konnect_desktop.console.curl import parse_curl
from konnect_desktop.console.environments import Environment, Variable
from konnect_desktop.ui.pages.request_console import RequestConsolePage

SHOTS = os.environ.get("KONNECT_DESKTOP_SHOTS")  # folder: also save the screenshots there


@pytest.fixture
def runtime(session: Any, arun: Any) -> Any:
    name = f"console-{uuid.uuid4().hex[:8]}"
    rt = arun(session.start_runtime(name), timeout=30)
    return rt


def _page(qtbot: Any, session: Any, tmp_path: Path, arun: Any, size: tuple[int, int] = (1280, 900)) -> RequestConsolePage:
    page = RequestConsolePage(session, history_path=tmp_path / "hist" / "history.db",
                              environments_path=tmp_path / "envs.json")
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    qtbot.waitUntil(lambda: page.history is not None and not page.runner.busy, timeout=10000)
    return page


def _send(qtbot: Any, page: RequestConsolePage, url: str, headers: list[tuple[str, str]] | None = None) -> None:
    page.url.setText(url)
    page.headers.set_rows(headers or [])
    before = page.exchange
    page.url.setFocus()
    qtbot.keyClick(page.url, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter
    qtbot.waitUntil(lambda: not page.runner.busy and (page.exchange is not before or page.error_panel.isVisible()),
                    timeout=10000)


def _close(arun: Any, page: RequestConsolePage) -> None:
    arun(page.aclose())


def test_transformer_header_shows_in_the_upstream_view(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        _send(qtbot, page, "{{base}}/transformed?x=1", [("X-Mine", "1")])
        ex = page.exchange
        assert ex is not None and ex.status == 200
        assert page.response.status.text().startswith("200 OK · ")
        assert "x-sample-greeting" in ex.text()  # the echo upstream got it
        qtbot.waitUntil(lambda: page.insight.insight is not None, timeout=3000)
        assert "+ X-Sample-Greeting: hello from the gateway" in page.insight.diff_lines()
        assert "~ path: /transformed?x=1 → /?x=1" in page.insight.diff_lines()
        info = page.insight.info.text()
        assert "echo-transformed" in info and "request-transformer" in info
        # timings are labelled honestly
        rows = {page.response.timing.item(r, 0).text(): page.response.timing.item(r, 2).text()
                for r in range(page.response.timing.rowCount())}
        assert "DNS" in rows["Connect"] and "TTFB" in " ".join(rows)
    finally:
        _close(arun, page)


def test_quota_and_errors_as_sentences(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        hold_rate_limiting(runtime)
        _send(qtbot, page, "{{base}}/limited")
        qtbot.waitUntil(lambda: page.insight.insight is not None, timeout=3000)
        assert "quota: minute 4/5 left, resets in" in page.insight.info.text()
        page.url.setText("http://127.0.0.1:1/nothing-listens")
        page.send()
        qtbot.waitUntil(lambda: page.error_panel.isVisible(), timeout=10000)
        assert page.error_panel.message.text() == "Could not connect to 127.0.0.1:1: connection refused"
        assert "connection refused" in page.response.status.text()
        page.url.setText("{{nope}}/x")
        page.send()
        qtbot.waitUntil(lambda: "Unknown variable {{nope}} in the URL" in page.error_panel.message.text(), timeout=5000)
    finally:
        _close(arun, page)


def test_burst_of_ten_against_minute_five(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        hold_rate_limiting(runtime)
        page.url.setText("{{base}}/limited")
        page.bottom.setCurrentWidget(page.burst_panel)
        page.burst_panel.count.setValue(10)
        page.burst_panel.mode.setCurrentIndex(0)  # one at a time
        qtbot.mouseClick(page.burst_panel.start, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.burst is not None and page.burst.result.state != "running"
                        and not page.burst_panel.running, timeout=20000)
        res = page.burst.result
        assert res.statuses() == [200] * 5 + [429] * 5
        assert res.trip is not None and res.trip.index == 5 and res.trip.retry_after is not None
        data = page.burst_panel.chart.series()
        assert [s[1] for s in data["status"]] == [200] * 5 + [429] * 5
        assert [s[2] for s in data["status"]] == ["2xx/3xx"] * 5 + ["rejected"] * 5
        assert [r for _, r in data["remaining"]] == [4, 3, 2, 1, 0, 0, 0, 0, 0, 0]
        assert data["limit"] == 5
        assert data["trip"]["index"] == 5 and data["trip"]["retry_after"] == res.trip.retry_after
        assert "limit tripped at request #6 after 5 successes" in page.burst_panel.summary.text()
        assert page.burst_panel.progress.value() == 10
        chart = page.burst_panel.chart
        save_shot(chart, tmp_path / "burst-chart.png", SHOTS)  # painted: its labels are placed
        texts = [t for t, _ in chart.text_boxes]
        assert any(t.startswith("limit tripped") for t in texts), texts
        assert chart_label_problems(chart) == []
        assert_looks_right(page, key=[chart, page.burst_panel.summary, page.burst_panel.start],
                           min_sizes={chart: (300, chart.minimumHeight())})
    finally:
        _close(arun, page)


def test_burst_can_be_cancelled(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        page.url.setText("{{base}}/echo")
        page.burst_panel.count.setValue(10_000)
        page.burst_panel.mode.setCurrentIndex(1)
        page.burst_panel.rate.setValue(50)
        page.burst_panel.start.click()
        qtbot.waitUntil(lambda: page.burst is not None and len(page.burst.result.samples) >= 3, timeout=10000)
        assert page.burst_panel.start.text() == "Cancel burst"
        page.burst_panel.start.click()
        qtbot.waitUntil(lambda: not page.burst_panel.running, timeout=5000)
        assert page.burst.result.state == "cancelled" and len(page.burst.result.samples) < 10_000
    finally:
        _close(arun, page)


def test_curl_round_trips_through_import_and_copy(qtbot: Any, session: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        cmd = ("curl -X PATCH 'http://127.0.0.1:8000/echo/items?id=7&tag=a%20b' \\\n"
               "  -H 'X-Trace: on' -H 'Content-Type: application/json' \\\n"
               "  --data-raw '{\"name\": \"widget\", \"qty\": 3}'")
        qtbot.keyClicks(page.url, "")  # focus
        page.url.setText("")
        page.url.textEdited.emit(cmd)  # as if pasted into the URL field
        spec = page.build_spec()
        assert spec == parse_curl(cmd).request
        assert page.method.currentText() == "PATCH"
        assert page.params.pairs() == [("id", "7"), ("tag", "a b")]
        assert page.body_editor.kind() == "json"
        copied = page.curl_text()
        assert parse_curl(copied).request == spec
        page.copy_curl(False)
        assert parse_curl(QGuiApplication.clipboard().text()).request == spec
        assert page.response.curl.toPlainText() == copied
        # a bad command is a sentence in the error panel, editors untouched
        assert not page.import_curl("curl 'unclosed")
        assert "could not be read" in page.error_panel.message.text()
        assert page.build_spec() == spec
    finally:
        _close(arun, page)


def test_history_survives_a_restart_and_is_searchable(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        _send(qtbot, page, "{{base}}/echo/one")
        _send(qtbot, page, "{{base}}/transformed")
        _send(qtbot, page, "{{base}}/private")  # 401
        qtbot.waitUntil(lambda: page.history_panel.model.rowCount() == 3, timeout=5000)
    finally:
        _close(arun, page)
    page.deleteLater()
    page = _page(qtbot, session, tmp_path, arun)
    try:
        assert page.history_panel.model.rowCount() == 3
        page.history_panel.search.setText("401")
        qtbot.waitUntil(lambda: page.history_panel.model.rowCount() == 1, timeout=5000)
        e = page.history_panel.model.entries[0]
        assert e.url.endswith("/private") and e.status == 401
        page.history_panel.search.setText("GET transformed")
        qtbot.waitUntil(lambda: [e.url.rsplit("/", 1)[-1] for e in page.history_panel.model.entries] == ["transformed"],
                        timeout=5000)
        page.history_panel.table.selectRow(0)
        page.history_panel.replay.click()  # loads and sends again
        qtbot.waitUntil(lambda: page.exchange is not None and page.exchange.status == 200, timeout=10000)
        assert page.url.text() == "{{base}}/transformed"
    finally:
        _close(arun, page)


def test_no_secret_is_written_in_clear(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any,
                                       secret_service: Any) -> None:  # noqa: F811
    secret_value = "env-secret-" + uuid.uuid4().hex[:10]
    page = _page(qtbot, session, tmp_path, arun)
    try:
        # a secret variable saved through the Environment tab goes to the keyring
        page.env_editor.set_environment(Environment("local", [Variable("base", ""), Variable("secret", "", True)]))
        edit = page.env_editor.table.cellWidget(1, 1)
        edit.setText(secret_value)
        page.env_editor.save.click()
        qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
        assert secret_service.get_password("konnect-desktop", "console-env/local/secret") == secret_value
        assert secret_value.encode() not in (tmp_path / "envs.json").read_bytes()
        _send(qtbot, page, "{{base}}/private?token=qs-tok-4455",
              [("apikey", "demo-key"), ("Authorization", "Bearer xyz"), ("X-Env", "{{secret}}")])
        ex = page.exchange
        assert ex is not None and ex.status == 200
        echoed = json.loads(ex.body)["headers"]
        assert echoed["x-env"] == secret_value and echoed["apikey"] == "demo-key"  # really sent
        qtbot.waitUntil(lambda: page.insight.insight is not None, timeout=3000)
        assert "consumer <b>demo</b>" in page.insight.info.text()
        out_json, out_curl = tmp_path / "export.json", tmp_path / "export.sh"
        arun(page.export_history("json", out_json))
        arun(page.export_history("curl", out_curl))
        page.copy_curl(False)
        clip = QGuiApplication.clipboard().text()
    finally:
        _close(arun, page)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "hist").rglob("*") if p.is_file())
    assert stored  # the DB (and WAL) exist
    everything = stored + out_json.read_bytes() + out_curl.read_bytes() + clip.encode() + (tmp_path / "envs.json").read_bytes()
    for secret in ("demo-key", "xyz", secret_value, "qs-tok-4455"):
        assert secret.encode() not in everything, secret
    exported = json.loads(out_json.read_text())["requests"][0]
    assert exported["request"]["headers"][2] == ["X-Env", "{{secret}}"]


def test_shortcuts(qtbot: Any, session: Any, tmp_path: Path, arun: Any) -> None:
    page = _page(qtbot, session, tmp_path, arun)
    try:
        page.body_editor.json.setFocus()
        qtbot.keyClick(page.body_editor.json, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
        assert page.url.hasFocus()
        assert page.url.selectedText() == page.url.text()
    finally:
        _close(arun, page)


def test_screenshot(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any, qapp: Any) -> None:
    from konnect_desktop.ui import theme

    theme.apply(qapp)
    page = _page(qtbot, session, tmp_path, arun, size=(1280, 720))  # the size the app must fit
    page.on_shown()  # as the window does when it shows the page: the splitters share its height
    hold_rate_limiting(runtime)
    try:
        _send(qtbot, page, "{{base}}/echo/anything")
        _send(qtbot, page, "{{base}}/private", [("apikey", "demo-key")])
        for _ in range(3):
            _send(qtbot, page, "{{base}}/limited")
        _send(qtbot, page, "{{base}}/transformed?x=1", [("X-Demo", "1")])
        qtbot.waitUntil(lambda: page.insight.insight is not None, timeout=3000)
        assert page.params.pairs() == [("x", "1")] and page.request_tabs.tabText(1) == "Headers (1)"
        QApplication.processEvents()
        key = [page.method, page.url, page.send_button, page.request_tabs, page.response, page.insight, page.bottom]
        sizes = {page.response: (400, 180), page.insight: (250, 150), page.url: (300, 18)}
        save_shot(page, tmp_path / "request-console.png", SHOTS)  # first: to look at when the next line fails
        assert_looks_right(page, key, min_sizes=sizes)
        _send(qtbot, page, "{{base}}/limited")
        qtbot.waitUntil(lambda: "quota" in page.insight.info.text(), timeout=3000)
        assert "quota: minute 1/5 left" in page.insight.info.text()  # the fourth of five this minute
        QApplication.processEvents()
        save_shot(page, tmp_path / "request-console-quota.png", SHOTS)
        assert_looks_right(page, key, min_sizes=sizes)
    finally:
        _close(arun, page)


def test_auth_tab_api_key_against_private(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, arun: Any,
                                          qapp: Any) -> None:
    from konnect_desktop.console.auth import Auth
    from konnect_desktop.ui import theme

    theme.apply(qapp)
    page = _page(qtbot, session, tmp_path, arun, size=(1280, 720))  # the size the app must fit
    page.on_shown()  # as the window does when it shows the page
    auth = page.auth_editor
    try:
        _send(qtbot, page, "{{base}}/private")
        assert page.exchange is not None and page.exchange.status == 401
        assert page.request_tabs.tabText(page.request_tabs.indexOf(auth)) == "Auth"
        page.request_tabs.setCurrentWidget(auth)
        auth.kind_combo.setCurrentIndex(auth.kind_combo.findData("apikey"))
        assert auth.key_name.text() == "apikey"  # Kong key-auth's default key name
        assert "Nothing is sent" in auth.note.text()
        qtbot.keyClicks(auth.key_value, "demo-key")
        assert auth.key_value.echoMode() == auth.key_value.EchoMode.Password  # masked
        assert page.request_tabs.tabText(page.request_tabs.indexOf(auth)) == "Auth (API key)"
        assert "Sent as the header “apikey”" in auth.note.text()
        assert page.build_spec().auth == Auth("apikey", "apikey", "demo-key")
        assert "apikey: REDACTED" in page.curl_text() and "demo-key" not in page.curl_text()
        page.insight.insight = None
        _send(qtbot, page, "{{base}}/private")
        assert page.exchange is not None and page.exchange.status == 200
        qtbot.waitUntil(lambda: page.insight.insight is not None, timeout=3000)
        assert "consumer <b>demo</b>" in page.insight.info.text()
        # a typed header of the same name is replaced, and the tab says so
        page.headers.set_rows([("apikey", "typed-wrong")])
        assert "replaces the “apikey” typed in Headers" in auth.note.text()
        page.headers.set_rows([])
        QApplication.processEvents()
        save_shot(page, tmp_path / "request-console-auth.png", SHOTS)
        assert_looks_right(page, [auth.kind_combo, auth.key_name, auth.key_value, auth.note, page.request_tabs,
                                  page.response, page.insight])
        auth.show_secrets.setChecked(True)
        assert auth.key_value.echoMode() == auth.key_value.EchoMode.Normal
        # cURL import fills the Auth tab: -u is Basic, an Authorization: Bearer header is Bearer
        assert page.import_curl("curl -u alice:pw-9 http://127.0.0.1:8000/echo")
        assert auth.kind() == "basic" and auth.user.text() == "alice" and auth.password.text() == "pw-9"
        assert page.headers.pairs() == []
        assert page.import_curl("curl -H 'Authorization: Bearer {{token}}' http://127.0.0.1:8000/echo")
        assert auth.kind() == "bearer" and auth.token.text() == "{{token}}"
        assert page.request_tabs.tabText(page.request_tabs.indexOf(auth)) == "Auth (Bearer)"
    finally:
        _close(arun, page)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "hist").rglob("*") if p.is_file())
    assert stored and b"demo-key" not in stored


@pytest.mark.parametrize("clipboard", [
    "sk_live_51HxQ2eKEY0123456789",  # a copied API key, not a command
    "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "curl -F sk_live_51HxQ2eKEY0123456789 http://127.0.0.1:8000/echo",
])
def test_paste_curl_never_shows_the_clipboard(qtbot: Any, session: Any, tmp_path: Path, arun: Any, clipboard: str) -> None:
    """Before: "This is not a curl command: it starts with “sk_live_…”" — the key in a banner
    (and in screenshots and bug reports)."""
    page = _page(qtbot, session, tmp_path, arun)
    try:
        QGuiApplication.clipboard().setText(clipboard)
        qtbot.mouseClick(page.paste_curl, Qt.MouseButton.LeftButton)
        shown = " ".join([page.error_panel.title.text(), page.error_panel.message.text(), page.error_panel.details.text()])
        assert page.error_panel.isVisible() and "curl" in shown
        secret = clipboard.split()[-1] if not clipboard.startswith("curl") else clipboard.split()[2]
        assert secret not in shown and secret[:8] not in shown
    finally:
        _close(arun, page)

