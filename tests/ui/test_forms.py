"""The schema-driven form generator: every field kind, unset vs default, errors on fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from konnect_desktop.model import ENTITIES, check_entity
from konnect_desktop.model.schema import (
    Array,
    Boolean,
    Integer,
    Map,
    Number,
    Record,
    Set,
    String,
    field_from_kong,
    field_to_kong,
)
from konnect_desktop.ui import forms
from konnect_desktop.ui.forms import FormEditor, FormLayout

AUTO = {"id", "created_at", "updated_at"}


@pytest.mark.parametrize("table", sorted(ENTITIES))
def test_every_entity_round_trips_through_its_form(qtbot: Any, table: str) -> None:
    form = FormEditor(ENTITIES[table].schema.fields, hide=AUTO)
    qtbot.addWidget(form)
    entity, _ = check_entity(table, {})
    form.set_value(entity)
    assert form.value() == entity


def test_editor_kinds_follow_the_schema(qtbot: Any) -> None:
    fields = [
        ("name", String(required=True)),
        ("policy", String(one_of=("local", "redis"), default="local")),
        ("port", Integer(between=(0, 65535), default=80)),
        ("ratio", Number(gt=0)),
        ("on", Boolean(default=True)),
        ("verify", Boolean()),
        ("paths", Array(String())),
        ("protocols", Set(String(one_of=("http", "https")))),
        ("headers", Map(String(), Array(String()))),
        ("redis", Record([("host", String()), ("port", Integer(default=6379))])),
        ("items", Array(Record([("k", String())]))),
    ]
    form = FormEditor(fields)
    qtbot.addWidget(form)
    kinds = {n: type(e).__name__ for n, e in form.editors.items()}
    assert kinds == {
        "name": "StringEditor", "policy": "EnumEditor", "port": "NumberEditor", "ratio": "NumberEditor",
        "on": "BoolEditor", "verify": "BoolEditor", "paths": "ListEditor", "protocols": "CheckListEditor",
        "headers": "MapEditor", "redis": "RecordEditor", "items": "RecordListEditor",
    }
    port = form.editors["port"]
    assert isinstance(port, forms.NumberEditor)
    assert port.spin.maximum() == 65535
    # optional: one slot under the range means "unset"
    assert port.spin.minimum() == -1 and port.spin.specialValueText() == "unset"
    # descriptions and rules become the tooltip
    assert "between 0 and 65535" in port.toolTip()


def test_unset_is_not_the_default(qtbot: Any) -> None:
    fields = [("port", Integer(between=(1, 10), default=5)), ("verify", Boolean()), ("host", String(default="x"))]
    form = FormEditor(fields)
    qtbot.addWidget(form)
    form.set_value({"port": None, "verify": None, "host": None})
    assert form.value() == {"port": None, "verify": None, "host": None}
    form.set_value({"port": 5, "verify": False, "host": "x"})
    assert form.value() == {"port": 5, "verify": False, "host": "x"}


def test_lists_maps_and_records_edit(qtbot: Any) -> None:
    fields = [
        ("paths", Array(String())),
        ("codes", Array(Integer())),
        ("headers", Map(String(), Array(String()))),
        ("redis", Record([("host", String()), ("port", Integer(default=6379))])),
        ("items", Array(Record([("k", String())]))),
    ]
    form = FormEditor(fields)
    qtbot.addWidget(form)
    form.set_value({"paths": ["/a"], "codes": [429], "headers": {"x-a": ["1", "2"]},
                    "redis": {"host": "h", "port": 1}, "items": [{"k": "v"}]})
    paths = form.editors["paths"]
    assert isinstance(paths, forms.ListEditor)
    paths.add_item("/b")
    form.editors["headers"].add_row("x-b", "3")  # type: ignore[attr-defined]
    items = form.editors["items"]
    assert isinstance(items, forms.RecordListEditor)
    items.add_item({"k": "w"})
    assert form.value() == {
        "paths": ["/a", "/b"], "codes": [429], "headers": {"x-a": ["1", "2"], "x-b": ["3"]},
        "redis": {"host": "h", "port": 1}, "items": [{"k": "v"}, {"k": "w"}],
    }


def test_errors_land_on_the_fields_they_name(qtbot: Any) -> None:
    form = FormEditor(ENTITIES["services"].schema.fields, hide=AUTO)
    qtbot.addWidget(form)
    entity, _ = check_entity("services", {"host": "example.com"})
    entity["port"] = 70000  # beyond the spin box: the model still answers with Kong's words
    _, errors = check_entity("services", {**entity, "host": None, "retries": 99999})
    rest = form.set_errors({**errors, "@entity": ["something global"]})
    shown = form.errors_shown()
    assert "host" in shown and "required field missing" in shown["host"]
    assert "retries" in shown and "between 0 and 32767" in shown["retries"]
    assert rest == ["something global"]
    form.clear_errors()
    assert form.errors_shown() == {}


def test_nested_errors_reach_nested_fields(qtbot: Any) -> None:
    fields = [("config", Record([("minute", Number(gt=0)), ("redis", Record([("host", String())]))]))]
    form = FormEditor(fields)
    qtbot.addWidget(form)
    form.set_errors({"config": {"minute": "value must be greater than 0", "redis": {"host": "bad host"}}})
    shown = form.errors_shown()
    assert "value must be greater than 0" in shown["config.minute"]
    assert "bad host" in shown["config.redis.host"]
    assert form.editor_at("config.redis.host") is not None


def test_side_by_side_groups_radios_and_conditional_rows(qtbot: Any) -> None:
    fields = [
        ("second", Number(gt=0)), ("minute", Number(gt=0)),
        ("policy", String(one_of=("local", "redis"), default="local", required=True)),
        ("redis", Record([("host", String())])),
    ]
    layout = FormLayout(groups=[("Limits", ["second", "minute"])], radio={"policy"},
                        visible_when={"redis": ("policy", ("redis",))})
    form = FormEditor(fields, layout=layout)
    qtbot.addWidget(form)
    form.set_value({"second": None, "minute": 10, "policy": "local", "redis": {"host": None}})
    assert isinstance(form.editors["policy"], forms.RadioEditor)
    assert not form.is_field_visible("redis")
    form.set_value({**form.value(), "policy": "redis"})
    assert form.is_field_visible("redis")
    # both limits live in one row
    assert form.editors["second"].parentWidget() is form.editors["minute"].parentWidget()
    assert form.value()["minute"] == 10


def test_hidden_and_unknown_keys_survive_an_edit(qtbot: Any) -> None:
    form = FormEditor([("name", String())], hide={"id"})
    qtbot.addWidget(form)
    form.set_value({"name": "a", "id": "x", "extra": 1})
    form.editors["name"].set_value("b")
    assert form.value() == {"name": "b", "id": "x", "extra": 1}


def test_remote_schema_builds_the_same_form(qtbot: Any) -> None:
    f = Record([("minute", Number(gt=0, description="per minute")), ("policy", String(one_of=("local", "redis")))])
    rebuilt = field_from_kong(field_to_kong(f))
    form = FormEditor(rebuilt.fields or [])
    qtbot.addWidget(form)
    assert set(form.editors) == {"minute", "policy"}
    assert "per minute" in form.editors["minute"].toolTip()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.one_of(st.none(), st.text(alphabet="abcxyz-_.", min_size=1, max_size=12)),
    port=st.integers(0, 65535),  # required: a spin box has no unset slot
    tags=st.one_of(st.none(), st.lists(st.text(alphabet="abc123", min_size=1, max_size=6), max_size=4)),
    enabled=st.booleans(),
)
def test_service_values_round_trip(qapp: Any, name: Any, port: Any, tags: Any, enabled: bool) -> None:
    # one form reused across examples (the point: any value set is the value read back)
    form = _service_form()
    value = {**form.value(), "name": name, "port": port, "tags": tags, "enabled": enabled}
    form.set_value(value)
    assert form.value() == value


_FORM: dict[str, FormEditor] = {}


def _service_form() -> FormEditor:
    if "svc" not in _FORM:
        form = FormEditor(ENTITIES["services"].schema.fields, hide=AUTO)
        entity, _ = check_entity("services", {"host": "h"})
        form.set_value(entity)
        _FORM["svc"] = form
    return _FORM["svc"]
