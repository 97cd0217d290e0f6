"""Service Hub's "Import OpenAPI…" against a real local runtime: preview (counts, YAML, plan),
Apply through the plan/sync path, then a real request through the runtime's proxy; readable
errors for files that cannot be converted or whose entities Kong would refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_support import current_local_runtime, show_loaded

from konnect_desktop.ui.openapi_import import OpenAPIImportDialog
from konnect_desktop.ui.pages.service_hub import ServiceHubPage

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "users-api" / "openapi.yaml"


@pytest.fixture
def empty_runtime(session: Any, arun: Any) -> Any:
    return current_local_runtime(arun, session, "oas")[1]


def _hub(qtbot: Any, session: Any) -> ServiceHubPage:
    return show_loaded(qtbot, ServiceHubPage(session), (1280, 720), timeout=10000)


def _preview(qtbot: Any, dlg: OpenAPIImportDialog, path: Path, tags: str = "", base: str = "") -> None:
    dlg.path.setText(str(path))
    dlg.tags.setText(tags)
    dlg.base_name.setText(base)
    dlg.preview_button.click()
    qtbot.waitUntil(lambda: not dlg.runner.busy, timeout=15000)


def test_import_openapi_creates_routes_that_serve_real_requests(qtbot: Any, session: Any, empty_runtime: Any,
                                                                arun: Any) -> None:
    hub = _hub(qtbot, session)
    dlg = hub.import_openapi()
    qtbot.addWidget(dlg)
    _preview(qtbot, dlg, SPEC, tags="users-api")
    assert not dlg.error_panel.isVisible()
    assert dlg.counts.text() == "openapi.yaml makes 1 service · 2 routes · 2 plugins."
    assert "name: users_getuser" in dlg.yaml.toPlainText()
    assert "5 to create, 0 to update, 0 to delete" in dlg.plan_label.text()
    assert "tagged users-api" in dlg.plan_label.text()
    assert dlg.apply_button.isEnabled()
    dlg.apply_button.click()
    qtbot.waitUntil(lambda: not dlg.runner.busy, timeout=15000)
    assert dlg.report is not None and dlg.report.ok
    assert dlg.plan_label.text() == "Applied: 5 created, 0 updated, 0 deleted."
    # the Service Hub hears about it and lists the new service
    qtbot.waitUntil(lambda: not hub.runner.busy and "users" in [s["name"] for s in hub.model.entities()], timeout=10000)
    routes = arun(session.cp.list_all("routes"))
    assert sorted(r["name"] for r in routes) == ["users_getuser", "users_health"]
    assert all(r["tags"] == ["users-api"] for r in routes)

    async def call() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{empty_runtime.proxy_url}/health")
            user = await client.get(f"{empty_runtime.proxy_url}/users/42")
            return health, user

    health, user = arun(call())
    assert health.status_code == 200
    echoed = health.json()
    assert echoed["path"] == "/api/health"
    assert echoed["headers"].get("x-api-version") == "1"  # the spec's request-transformer ran
    assert user.status_code == 401  # the operation's key-auth

    # the same import again: nothing to do
    _preview(qtbot, dlg, SPEC, tags="users-api")
    assert "0 to create, 0 to update, 0 to delete" in dlg.plan_label.text()
    assert not dlg.apply_button.isEnabled()


def test_without_tags_an_import_never_deletes(qtbot: Any, session: Any, empty_runtime: Any, arun: Any,
                                              tmp_path: Path) -> None:
    arun(session.cp.create("services", {"name": "keep-me", "url": "http://echo.internal"}))
    hub = _hub(qtbot, session)
    dlg = hub.import_openapi()
    qtbot.addWidget(dlg)
    _preview(qtbot, dlg, SPEC, base="people")
    assert "makes 1 service" in dlg.counts.text() and "name: people" in dlg.yaml.toPlainText()
    assert "0 to delete (no select tags: what the spec does not mention is left alone)" in dlg.plan_label.text()
    dlg.apply_button.click()
    qtbot.waitUntil(lambda: not dlg.runner.busy, timeout=15000)
    names = sorted(s["name"] for s in arun(session.cp.list_all("services")))
    assert names == ["keep-me", "people"]


def test_unconvertible_and_invalid_specs_read_as_sentences(qtbot: Any, session: Any, empty_runtime: Any,
                                                           tmp_path: Path) -> None:
    hub = _hub(qtbot, session)
    dlg = hub.import_openapi()
    qtbot.addWidget(dlg)
    swagger = tmp_path / "swagger.yaml"
    swagger.write_text("swagger: '2.0'\ninfo: {title: old}\npaths: {}\n")
    _preview(qtbot, dlg, swagger)
    assert dlg.error_panel.isVisible()
    assert dlg.error_panel.title.text() == "The OpenAPI file cannot be imported"
    assert "swagger.yaml cannot be converted: only OpenAPI 3.x" in dlg.error_panel.message.text()
    assert not dlg.apply_button.isEnabled()

    # a plugin config Kong's schema refuses: the error names the entity's field
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("key_names: [apikey]", "key_names: [apikey]\n          no_such_field: 1"))
    _preview(qtbot, dlg, bad)
    assert dlg.error_panel.isVisible()
    msg = dlg.error_panel.message.text()
    assert "declarative config is invalid" in msg and "no_such_field" in msg and "unknown field" in msg
    assert not dlg.apply_button.isEnabled()


def test_a_plan_is_only_applied_to_the_group_it_was_made_for(qtbot: Any, session: Any, empty_runtime: Any,
                                                             store_cp: Any, arun: Any) -> None:
    from konnect_desktop.settings import Profile

    hub = _hub(qtbot, session)
    dlg = hub.import_openapi()
    qtbot.addWidget(dlg)
    _preview(qtbot, dlg, SPEC)
    assert dlg.apply_button.isEnabled()
    session.use(Profile(kind="local", name="other", id="other"), store_cp)  # the user switches group
    assert not dlg.apply_button.isEnabled()
    assert dlg.apply() is None
    assert dlg.plan_label.text() == "The connection changed: Preview again to plan against it."
    assert arun(store_cp.list_all("routes")) == []  # nothing went to the group switched to
