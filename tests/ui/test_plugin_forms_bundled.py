"""The plugin editor for every bundled plugin (offscreen): the schema-driven form builds, shows a
plugin created from its required fields exactly as stored and validates it clean, the scope
picker offers exactly the scopes Kong accepts, and the plugins the local runtime only carries
wear the "not run locally" badge there (and only there)."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_examples import KONG_SCOPES, minimal

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
