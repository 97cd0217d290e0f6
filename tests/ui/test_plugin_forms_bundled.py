"""The plugin editor for every bundled plugin (offscreen): the schema-driven form builds, shows a
plugin created from its required fields exactly as stored and validates it clean, the scope
picker offers exactly the scopes Kong accepts, and the plugins the local runtime only carries
wear the "not run locally" badge there (and only there)."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_examples import KONG_SCOPES, minimal
from ui_support import show_loaded

from konnect_desktop import plugins
from konnect_desktop.ui.plugin_editor import NOT_RUN_BADGE, PluginEditor

NAMES = plugins.BUNDLED
AUTO = ("id", "created_at", "updated_at")


def offered_scopes(editor: PluginEditor) -> set[str]:
    kinds = {editor.scope.kind.itemData(i) for i in range(editor.scope.kind.count())}
    assert "global" in kinds or KONG_SCOPES[editor.plugin_name] == set()
    return kinds - {"global"}


@pytest.mark.parametrize("name", NAMES)
def test_form_builds_and_round_trips(qtbot: Any, name: str) -> None:
    editor = PluginEditor(name)
    qtbot.addWidget(editor)
    entity = plugins.validate_plugin({"name": name, "config": minimal(name)})
    editor.load(entity)
    value = editor.value()
    assert value["config"] == entity["config"]
    assert editor._validate(value) == {}
    assert offered_scopes(editor) == KONG_SCOPES[name]
    # a new one starts from Kong's defaults
    editor.load(None)
    assert set(editor.value()["config"]) == {n for n, _ in plugins.get(name).config.fields}  # type: ignore[union-attr]


@pytest.mark.parametrize("name", NAMES)
def test_not_run_badge_on_the_local_runtime_only(qtbot: Any, name: str) -> None:
    spec = plugins.get(name)
    assert spec is not None
    local = PluginEditor(name, strict=True)
    remote = PluginEditor(name, strict=False)  # a Kong gateway runs every plugin
    qtbot.addWidget(local)
    qtbot.addWidget(remote)
    assert remote.not_run_badge is None
    if spec.runs_locally:
        assert local.not_run_badge is None
    else:
        assert local.not_run_badge is not None and local.not_run_badge.text() == NOT_RUN_BADGE
        assert spec.not_run in local.not_run_badge.toolTip()


def test_remote_schema_without_consumer_groups_offers_none(qtbot: Any) -> None:
    """Kong OSS's plugin schemas have no consumer_group field: the picker leaves that scope out."""
    schema = plugins.entity_schema("rate-limiting").to_kong()
    schema["fields"] = [f for f in schema["fields"] if next(iter(f)) != "consumer_group"]
    editor = PluginEditor("rate-limiting", remote_schema=schema, strict=False)
    qtbot.addWidget(editor)
    assert offered_scopes(editor) == {"route", "service", "consumer"}


def test_plugin_list_badges_carried_plugins_and_group_page_offers_group_plugins(
        qtbot: Any, arun: Any, local_session: Any, store_cp: Any) -> None:
    from konnect_desktop.ui.pages.consumers import ConsumersPage
    from konnect_desktop.ui.pages.plugins import PluginsPage

    arun(store_cp.create("plugins", {"name": "zipkin", "config": {}}))
    arun(store_cp.create("plugins", {"name": "cors", "config": {}}))
    page = show_loaded(qtbot, PluginsPage(local_session), None, lambda p: p.panel.model.rowCount() == 2, 10000)
    shown = sorted(page.panel.model.index(r, 0).data() for r in range(2))
    assert shown == ["cors", f"zipkin  [{NOT_RUN_BADGE}]"]
    offered = {page.panel.add_combo.itemData(i): page.panel.add_combo.itemText(i)
               for i in range(page.panel.add_combo.count())}
    assert set(offered) >= set(NAMES) and offered["ldap-auth"] == f"ldap-auth  [{NOT_RUN_BADGE}]"

    arun(store_cp.create("consumer_groups", {"name": "gold"}))
    groups = show_loaded(qtbot, ConsumersPage(local_session), None, lambda p: p.group_model.rowCount() == 1, 10000)
    groups.tabs.setCurrentIndex(1)
    groups.group_table.selectRow(0)
    qtbot.waitUntil(lambda: groups.group_plugins.add_combo.count() > 0, timeout=10000)
    combo = groups.group_plugins.add_combo
    names = {combo.itemData(i) for i in range(combo.count())}
    assert names == {n for n in NAMES if "consumer_group" in KONG_SCOPES[n]}
