"""The schema language: Kong's validation order, error shapes and messages, defaults, PATCH merge,
and the /schemas JSON."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from konnect_desktop.model.errors import flatten_messages, schema_violation
from konnect_desktop.model.schema import Array as ArrayF
from konnect_desktop.model.schema import (
    AtLeastOneOf,
    Boolean,
    Conditional,
    Field,
    Integer,
    Map,
    MutuallyExclusive,
    OnlyOneOf,
    Record,
    Schema,
    Set,
    String,
    field_from_kong,
    field_to_kong,
)

CONF = Schema("conf", [
    ("name", String(required=True)),
    ("minute", Integer(gt=0)),
    ("policy", String(one_of=("local", "redis"), default="local")),
    ("redis", Record([
        ("host", String()),
        ("port", Integer(between=(0, 65535), default=6379)),
    ])),
    ("tags", Set(String())),
    ("list", ArrayF(String(starts_with="/"))),
    ("headers", Map(String(), ArrayF(String()))),
    ("flag", Boolean(default=False)),
], [Conditional("policy", {"one_of": ["redis"]}, "redis.host", {"required": True})])


def test_defaults_filled_and_unset_fields_null() -> None:
    out, errors = CONF.check({"name": "x"})
    assert errors == {}
    assert out == {"name": "x", "minute": None, "policy": "local", "redis": {"host": None, "port": 6379},
                   "tags": None, "list": None, "headers": None, "flag": False}


@pytest.mark.parametrize(("data", "errors"), [
    ({}, {"name": "required field missing"}),
    ({"name": ""}, {"name": "length must be at least 1"}),
    ({"name": 5}, {"name": "expected a string"}),
    ({"name": "x", "minute": 0}, {"minute": "value must be greater than 0"}),
    ({"name": "x", "minute": 1.5}, {"minute": "expected an integer"}),
    ({"name": "x", "minute": True}, {"minute": "expected an integer"}),
    ({"name": "x", "policy": "cluster"}, {"policy": "expected one of: local, redis"}),
    ({"name": "x", "bogus": 1}, {"bogus": "unknown field"}),
    ({"name": "x", "flag": "yes"}, {"flag": "expected a boolean"}),
    ({"name": "x", "tags": "a"}, {"tags": "expected a set"}),
    ({"name": "x", "list": {"a": 1}}, {"list": "expected an array"}),
    ({"name": "x", "redis": "h"}, {"redis": "expected a record"}),
    ({"name": "x", "redis": {"port": 70000}}, {"redis": {"port": "value should be between 0 and 65535"}}),
])
def test_field_errors(data: dict, errors: dict) -> None:
    assert CONF.check(data)[1] == errors


def test_integer_valued_float_is_an_integer() -> None:
    out, errors = CONF.check({"name": "x", "minute": 5.0})
    assert errors == {} and out["minute"] == 5 and isinstance(out["minute"], int)


def test_array_errors_are_positioned_and_message_counts_from_one() -> None:
    _, errors = CONF.check({"name": "x", "list": ["/a", "b", "/c", "d"]})
    assert errors == {"list": [None, "should start with: /", None, "should start with: /"]}
    err = schema_violation(errors)
    assert err.message == "2 schema violations (list.2: should start with: /; list.4: should start with: /)"


def test_set_validates_as_given_then_drops_duplicates() -> None:
    out, errors = CONF.check({"name": "x", "tags": ["a", "a", "b"]})
    assert errors == {} and out["tags"] == ["a", "b"]
    _, errors = CONF.check({"name": "x", "tags": ["a", "a", 3]})
    assert errors == {"tags": [None, None, "expected a string"]}


def test_null_array_element_is_required_field_missing() -> None:
    assert CONF.check({"name": "x", "list": ["/a", None]})[1] == {"list": [None, "required field missing"]}


def test_map_reports_its_first_error_as_one_string() -> None:
    assert CONF.check({"name": "x", "headers": {"a": ["1"], "b": "no"}})[1] == {"headers": "expected an array"}
    assert CONF.check({"name": "x", "headers": {"a": None}})[1] == {"headers": "required field missing"}


def test_conditional_check_sets_field_and_entity_error() -> None:
    _, errors = CONF.check({"name": "x", "policy": "redis"})
    assert errors == {
        "@entity": ["failed conditional validation given value of field 'policy'"],
        "redis": {"host": "required field missing"},
    }
    err = schema_violation(errors)
    # entity-level errors first, then fields sorted, nested records as field.sub
    assert err.message == ("2 schema violations (failed conditional validation given value of field 'policy'; "
                           "redis.host: required field missing)")
    assert err.to_dict() == {"code": 2, "name": "schema violation", "message": err.message, "fields": errors}
    assert err.status == 400


def test_single_violation_message() -> None:
    err = schema_violation({"host": "required field missing"})
    assert err.to_dict() == {"code": 2, "name": "schema violation",
                             "message": "schema violation (host: required field missing)",
                             "fields": {"host": "required field missing"}}


def test_messages_sorted_by_field_name_entity_first() -> None:
    parts = flatten_messages({"b": "x", "a": "y", "@entity": ["e1", "e2"], "c": {"z": "1", "d": "2"}})
    assert parts == ["e1", "e2", "a: y", "b: x", "c.d: 2", "c.z: 1"]


def test_entity_checks() -> None:
    s = Schema("s", [("a", String()), ("b", String())], [AtLeastOneOf(("a", "b"))])
    assert s.check({})[1] == {"@entity": ["at least one of these fields must be non-empty: 'a', 'b'"]}
    assert s.check({"b": "x"})[1] == {}
    # Kong runs at_least_one_of even when one of its fields is invalid
    assert s.check({"a": ""})[1] == {
        "a": "length must be at least 1",
        "@entity": ["at least one of these fields must be non-empty: 'a', 'b'"],
    }
    only = Schema("s", [("a", String()), ("b", String())], [OnlyOneOf(("a", "b"))])
    assert only.check({"a": "1"})[1] == {}
    assert only.check({})[1] == {"@entity": ["exactly one of these fields must be non-empty: 'a', 'b'"]}
    assert only.check({"a": "1", "b": "2"})[1] == {"@entity": ["exactly one of these fields must be non-empty: 'a', 'b'"]}
    excl = Schema("s", [("a", String()), ("b", String())], [MutuallyExclusive(("a", "b"))])
    assert excl.check({})[1] == {}
    assert excl.check({"a": "1", "b": "2"})[1] == {"@entity": ["only one or none of these fields must be set: 'a', 'b'"]}


def test_not_a_table() -> None:
    assert CONF.check("nope")[1] == {"@entity": ["expected an input table"]}


def test_merge_is_kong_patch_records_deep_arrays_replaced() -> None:
    existing = CONF.validate({"name": "x", "redis": {"host": "r1"}, "list": ["/a", "/b"]})
    merged = CONF.merge(existing, {"redis": {"port": 7000}, "list": ["/c"]})
    assert merged["redis"] == {"host": "r1", "port": 7000}
    assert merged["list"] == ["/c"]
    assert merged["name"] == "x"
    assert CONF.merge(existing, {"redis": None})["redis"] is None
    # the inputs are not modified
    assert existing["redis"] == {"host": "r1", "port": 6379}


def test_validate_raises_kong_error() -> None:
    from konnect_desktop.model.errors import KongError

    with pytest.raises(KongError) as exc:
        CONF.validate({"minute": -1})
    assert exc.value.code == 2
    assert exc.value.message == "2 schema violations (minute: value must be greater than 0; name: required field missing)"


def test_to_kong_shape() -> None:
    d = CONF.to_kong()
    names = [next(iter(f)) for f in d["fields"]]
    assert names == CONF.field_names
    fields = {next(iter(f)): next(iter(f.values())) for f in d["fields"]}
    assert fields["name"] == {"type": "string", "required": True}
    assert fields["policy"] == {"type": "string", "default": "local", "one_of": ["local", "redis"]}
    assert fields["redis"]["type"] == "record"
    assert fields["redis"]["fields"] == [{"host": {"type": "string"}},
                                         {"port": {"type": "integer", "default": 6379, "between": [0, 65535]}}]
    assert fields["tags"] == {"type": "set", "elements": {"type": "string"}}
    assert d["entity_checks"] == [{"conditional": {"if_field": "policy", "if_match": {"one_of": ["redis"]},
                                                   "then_field": "redis.host", "then_match": {"required": True}}}]


def test_field_from_kong_rebuilds_a_validating_field() -> None:
    f = field_from_kong(field_to_kong(CONF.field("redis")))
    s = Schema("again", [("redis", f)])
    assert s.check({"redis": {"port": -1}})[1] == {"redis": {"port": "value should be between 0 and 65535"}}
    assert s.check({"redis": {}})[0] == {"redis": {"host": None, "port": 6379}}


_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5))
_json = st.recursive(_scalar, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c, max_size=3)), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["name", "minute", "policy", "redis", "tags", "list", "headers", "flag", "x"]), _json))
def test_check_never_crashes_and_errors_render(data: dict) -> None:
    """Any JSON input gives a processed entity or Kong-shaped errors that render as a message."""
    out, errors = CONF.check(data)
    assert isinstance(out, dict) and isinstance(errors, dict)
    if errors:
        msg = schema_violation(errors).message
        assert msg.startswith(("schema violation (", f"{len(flatten_messages(errors))} schema violations ("))
    else:
        assert set(out) == set(CONF.field_names)


def test_field_with_changes_keeps_original() -> None:
    f = Field("string", required=True)
    g = f.with_(required=False)
    assert f.required and not g.required


def test_input_key_named_at_entity_and_a_failing_entity_check_both_reported() -> None:
    """An input key "@entity" is an unknown field; an entity check failing too must not crash
    (found by the Admin API's OpenAPI fuzzing) — both errors are kept."""
    from konnect_desktop.model.schema import Custom, Schema, String

    schema = Schema("t", [("a", String())], [Custom(["a"], lambda e: "a is wrong")])
    _, errors = schema.check({"@entity": 1, "a": "x"})
    assert errors == {"@entity": ["unknown field", "a is wrong"]}


@pytest.mark.parametrize(("attrs", "value", "error"), [
    ({"eq": None}, {"id": "x"}, "value must be null"),
    ({"eq": True}, False, "value must be true"),
    ({"not_one_of": ("a", "b")}, "a", "must not be one of: a, b"),
])
def test_eq_and_not_one_of(attrs: dict, value: object, error: str) -> None:
    """Kong's eq (eq = null is checked before the type) and not_one_of validators."""
    from konnect_desktop.model.schema import Field, validate_value

    kind = "foreign" if attrs.get("eq", 0) is None else "boolean" if "eq" in attrs else "string"
    assert validate_value(Field(kind, **attrs), value)[1] == error


def test_referenceable_field_takes_a_vault_reference_unchecked() -> None:
    """Kong's validate_field: a referenceable string holding {vault://...} skips its validators."""
    from konnect_desktop.model import typedefs
    from konnect_desktop.model.schema import validate_value

    ref = "{vault://env/otel-endpoint}"
    assert validate_value(typedefs.url(referenceable=True), ref) == (ref, None)
    assert validate_value(typedefs.url(), ref)[1] == "missing host in url"
