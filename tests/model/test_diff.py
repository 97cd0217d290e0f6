"""The replication plan: matching, no false drift, select_tags, ordering, decK's words."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.model import validate_entity
from konnect_desktop.model.diff import plan, render_json, render_text


def svc(name: str, **kw):
    return validate_entity("services", {"name": name, "host": kw.pop("host", "example.com"), **kw})


def route(name: str, service: dict, **kw):
    return validate_entity("routes", {"name": name, "paths": kw.pop("paths", ["/" + name]), "service": {"id": service["id"]}, **kw})


def plugin(name: str, strict: bool = False, **kw):
    return validate_entity("plugins", {"name": name, **kw}, strict=strict)


def test_same_config_with_other_ids_has_no_drift() -> None:
    a_s, b_s = svc("echo"), svc("echo")
    a = {"services": [a_s], "routes": [route("r", a_s)], "plugins": [plugin("cors", service={"id": a_s["id"]})]}
    b = {"services": [b_s], "routes": [route("r", b_s)], "plugins": [plugin("cors", service={"id": b_s["id"]})]}
    assert a_s["id"] != b_s["id"]
    p = plan(a, b)
    assert p.empty, render_text(p)
    # every desired entity is mapped to the current one it matched
    assert p.id_map[("services", b_s["id"])] == a_s["id"]


def test_update_lists_only_changed_fields_and_decks_words() -> None:
    cur_s = svc("svc1", host="mockbin.org")
    des_s = svc("svc1", host="mockbin.org", tags=["test"], retries=3)
    p = plan({"services": [cur_s]}, {"services": [des_s]})
    assert [c.fields for c in p.updates] == [["retries", "tags"]]
    text = render_text(p)
    assert text.startswith("updating service svc1  {\n")
    assert '-  "retries": 5,' in text and '+  "retries": 3,' in text
    assert '+  "tags": [' in text
    assert text.endswith("Summary:\n  Created: 0\n  Updated: 1\n  Deleted: 0\n")


def test_plugin_names_and_json_output_shape() -> None:
    s = svc("svc1")
    r = route("r1", s)
    desired = {
        "services": [s], "routes": [r],
        "plugins": [plugin("rate-limiting", config={"minute": 5}), plugin("cors", route={"id": r["id"]}, service={"id": s["id"]})],
    }
    p = plan({}, desired)
    names = sorted(c.name for c in p.creates)
    assert "rate-limiting (global)" in names
    assert "cors for service svc1 and route r1" in names
    body = json.loads(render_json(p))
    assert body["summary"] == {"creating": 4, "updating": 0, "deleting": 0, "total": 4}
    assert {c["kind"] for c in body["changes"]["creating"]} == {"service", "route", "plugin"}
    assert body["warnings"] == [] and body["errors"] == []


def test_secrets_are_masked_in_output() -> None:
    c = validate_entity("consumers", {"username": "alice"})
    k = validate_entity("keyauth_credentials", {"consumer": {"id": c["id"]}, "key": "super-secret-key-12345"})
    p = plan({}, {"consumers": [c], "keyauth_credentials": [k]})
    out = render_text(p) + render_json(p)
    assert "super-secret-key" not in out
    assert "creating key-auth 12345 for consumer alice" in out


def test_select_tags_leave_other_entities_alone() -> None:
    mine = svc("mine", tags=["team-a"])
    theirs = svc("theirs", tags=["team-b"])
    p = plan({"services": [mine, theirs]}, {"services": []}, select_tags=["team-a"])
    assert [(c.action, c.name) for c in p.changes] == [("delete", "mine")]


def test_dependency_order_parents_first_children_deleted_first() -> None:
    old_s = svc("old")
    old_r = route("old-r", old_s)
    new_s = svc("new")
    new_r = route("new-r", new_s)
    new_p = plugin("cors", route={"id": new_r["id"]})
    p = plan({"services": [old_s], "routes": [old_r]}, {"services": [new_s], "routes": [new_r], "plugins": [new_p]})
    order = [(c.action, c.table) for batch in p.steps() for c in batch]
    assert order.index(("create", "services")) < order.index(("create", "routes")) < order.index(("create", "plugins"))
    assert order.index(("delete", "routes")) < order.index(("delete", "services"))
    assert order.index(("create", "plugins")) < order.index(("delete", "routes"))


def test_rename_that_frees_a_unique_key_deletes_first() -> None:
    # consumer custom_id moves from one username to another: the old one must go first
    old = validate_entity("consumers", {"username": "bob", "custom_id": "c-1"})
    new = validate_entity("consumers", {"username": "robert", "custom_id": "c-1"})
    p = plan({"consumers": [old]}, {"consumers": [new]})
    steps = p.steps()
    assert steps[0][0].action == "delete" and steps[0][0].collides
    assert steps[1][0].action == "create"


names = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@st.composite
def configs(draw):
    svc_names = draw(st.lists(names, unique=True, max_size=5))
    services = [svc(n, retries=draw(st.integers(0, 10))) for n in svc_names]
    routes = []
    for s in services:
        for rn in draw(st.lists(names, unique=True, max_size=3)):
            routes.append(route(f"{s['name']}-{rn}", s))
    return {"services": services, "routes": routes}


@settings(max_examples=60, deadline=None)
@given(configs(), configs())
def test_plan_counts_are_consistent(a, b) -> None:
    p = plan(a, b)
    a_names = {(t, e["name"]) for t in a for e in a[t]}
    b_names = {(t, e["name"]) for t in b for e in b[t]}
    assert {(c.table, c.name) for c in p.creates} == b_names - a_names
    assert {(c.table, c.name) for c in p.deletes} == a_names - b_names
    assert all((c.table, c.name) in a_names & b_names for c in p.updates)
    assert plan(b, b).empty


def test_unknown_ids_render_without_crashing() -> None:
    orphan = validate_entity("routes", {"name": "orphan", "paths": ["/x"], "service": {"id": str(uuid.uuid4())}})
    p = plan({}, {"routes": [orphan]})
    assert "creating route orphan" in render_text(p)
