"""Listing: stable pagination with opaque offsets, the tags filter (AND / OR), nested collections
(``where``), and the whole-config doors ``export`` / ``replace_all`` / ``import_entities``."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pem_fixture import CERT, KEY
from test_store_support import Factory, new_store

from konnect_desktop.model import DEPENDENCY_ORDER
from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.store import Store


def _walk(store: Store, table: str, size: int, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = None
    pages = 0
    while True:
        page, offset = store.page(table, size=size, offset=offset, **kw)
        pages += 1
        assert len(page) <= size
        if offset is not None:
            assert len(page) == size  # only the last page is short
        out.extend(page)
        if offset is None:
            return out
        assert pages < 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """2,500 services: tagged a (every 2nd), b (every 3rd), c (every 5th)."""
    path = tmp_path_factory.mktemp("big")
    s = new_store(path)
    services = []
    for i in range(2500):
        tags = [t for t, m in (("a", 2), ("b", 3), ("c", 5)) if i % m == 0]
        services.append({"id": str(uuid.uuid4()), "name": f"s{i:05d}", "host": "h", "tags": tags or None})
    s.replace_all({"services": services})
    yield s
    s.close()


@pytest.mark.parametrize("size", [1000, 7, 1])
def test_walk_all_pages(big: Store, size: int) -> None:
    walked = _walk(big, "services", size)
    ids = [e["id"] for e in walked]
    assert len(ids) == 2500 and len(set(ids)) == 2500  # no gaps, no duplicates
    assert [e["name"] for e in walked] == [f"s{i:05d}" for i in range(2500)]  # insertion order
    assert walked == big.all("services")


def test_page_sizes_and_last_page(big: Store) -> None:
    page, offset = big.page("services")
    assert len(page) == 100 and offset is not None  # default size 100
    offsets = []
    offset = None
    for _ in range(5):  # 2,500 = 5 x 500: the last page is exactly full
        page, offset = big.page("services", size=500, offset=offset)
        assert len(page) == 500
        offsets.append(offset)
    # Kong looks one row ahead, so an exactly-full last page has no offset (no empty page)
    assert offset is None and None not in offsets[:-1]
    page, offset = big.page("services", size=1000, offset=offsets[2])  # 1,000 left
    assert len(page) == 1000 and offset is None


def test_empty_collection(store: Store) -> None:
    assert store.page("services") == ([], None)
    assert store.all("services") == [] and store.count("services") == 0


@pytest.mark.parametrize("bad", [0, 1001, -1, "10", 2.0, None])
def test_invalid_size(store: Store, bad: Any) -> None:
    with pytest.raises(KongError) as ei:
        store.page("services", size=bad)
    assert ei.value.to_dict() == {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"}


@pytest.mark.parametrize(("token", "why"), [
    ("!!!notbase64", "bad base64 encoding"),
    (base64.b64encode(b"{not json").decode(), "bad json encoding"),
    (base64.b64encode(b'{"a": 1}').decode(), "bad json encoding"),
    (base64.b64encode(b'["x"]').decode(), "bad json encoding"),
    ("", "bad base64 encoding"),
])
def test_invalid_offset(store: Store, token: str, why: str) -> None:
    with pytest.raises(KongError) as ei:
        store.page("services", offset=token)
    assert ei.value.status == 400
    assert ei.value.to_dict() == {"code": 7, "name": "invalid offset", "message": f"'{token}' is not a valid offset: {why}"}


def test_offset_survives_deletes_and_inserts(store: Store) -> None:
    for i in range(10):
        store.insert("services", {"name": f"s{i}", "host": "h"})
    page, offset = store.page("services", size=4)
    store.delete("services", "s3")  # the offset's own row
    store.delete("services", "s4")
    store.insert("services", {"name": "late", "host": "h"})
    rest = _walk_from(store, offset)
    assert [e["name"] for e in page] == ["s0", "s1", "s2", "s3"]
    assert [e["name"] for e in rest] == ["s5", "s6", "s7", "s8", "s9", "late"]


def _walk_from(store: Store, offset: str | None) -> list[dict[str, Any]]:
    out = []
    while offset is not None:
        page, offset = store.page("services", size=3, offset=offset)
        out.extend(page)
    return out


# -- tags ---------------------------------------------------------------------------------------
def test_tags_and(big: Store) -> None:
    got = _walk(big, "services", 100, tags=["a", "b"])
    assert [e["name"] for e in got] == [f"s{i:05d}" for i in range(2500) if i % 6 == 0]
    got = _walk(big, "services", 37, tags=["a", "b", "c"], tags_mode="and")
    assert [e["name"] for e in got] == [f"s{i:05d}" for i in range(2500) if i % 30 == 0]


def test_tags_or(big: Store) -> None:
    got = _walk(big, "services", 100, tags=["b", "c"], tags_mode="or")
    assert [e["name"] for e in got] == [f"s{i:05d}" for i in range(2500) if i % 3 == 0 or i % 5 == 0]


def test_tags_single_and_unknown(big: Store) -> None:
    assert len(_walk(big, "services", 1000, tags=["c"])) == 500
    assert len(_walk(big, "services", 1000, tags="c")) == 500  # a lone string is one tag
    assert big.page("services", tags=["nope"]) == ([], None)
    assert big.page("services", tags=["a", "nope"]) == ([], None)
    assert len(big.page("services", tags=["a", "nope"], tags_mode="or")[0]) == 100
    assert big.page("consumer_group_consumers", tags=["a"]) == ([], None)  # kind without tags
    with pytest.raises(ValueError):
        big.page("services", tags=["a"], tags_mode="xor")


def test_tags_follow_updates(store: Store) -> None:
    s = store.insert("services", {"name": "s", "host": "h", "tags": ["old", "keep"]})
    store.update("services", "s", {"tags": ["new", "keep"]})
    assert store.page("services", tags=["old"])[0] == []
    assert [e["id"] for e in store.page("services", tags=["new", "keep"])[0]] == [s["id"]]
    store.update("services", "s", {"tags": None})
    assert store.page("services", tags=["keep"])[0] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tagsets=st.lists(st.sets(st.sampled_from(["a", "b", "c", "d", "é", "x.y"]), max_size=4), min_size=0, max_size=40),
    query=st.sets(st.sampled_from(["a", "b", "c", "d", "é", "x.y", "zz"]), min_size=1, max_size=3),
    mode=st.sampled_from(["and", "or"]),
    size=st.integers(1, 12),
)
def test_tags_filter_matches_a_plain_filter(tmp_path_factory, tagsets, query, mode, size) -> None:
    with new_store(tmp_path_factory.mktemp("h")) as s:
        s.replace_all({"services": [
            {"id": str(uuid.uuid4()), "name": f"s{i}", "host": "h", "tags": sorted(ts) or None}
            for i, ts in enumerate(tagsets)
        ]})
        got = [e["name"] for e in _walk(s, "services", size, tags=sorted(query), tags_mode=mode)]
        pick = (lambda ts: query <= ts) if mode == "and" else (lambda ts: bool(query & ts))
        assert got == [f"s{i}" for i, ts in enumerate(tagsets) if pick(ts)]


# -- nested collections -------------------------------------------------------------------------
def test_where_filters_foreign_keys(store: Store) -> None:
    make = Factory(store)
    s1, s2 = make("services"), make("services")
    r1 = [make("routes", service={"id": s1["id"]}) for _ in range(5)]
    r2 = [make("routes", service={"id": s2["id"]}, tags=["t"]) for _ in range(3)]
    loose = make("routes", service=None)
    assert _walk(store, "routes", 2, where={"service": s1["id"]}) == r1
    assert _walk(store, "routes", 2, where={"service": {"id": s2["id"]}}) == r2
    assert _walk(store, "routes", 2, where={"service": None}) == [loose]
    assert store.count("routes", where={"service": s1["id"]}) == 5
    assert store.all("routes", where={"service": s2["id"]}) == r2
    assert store.page("routes", where={"service": s1["id"]}, tags=["t"]) == ([], None)
    assert store.page("routes", where={"service": str(uuid.uuid4())}) == ([], None)


# -- export / replace_all / import ----------------------------------------------------------------
def _config() -> dict[str, list[dict[str, Any]]]:
    ids = {k: str(uuid.uuid4()) for k in ("svc", "route", "consumer", "group", "up", "cert")}
    return {
        "_format_version": "3.0",  # type: ignore[dict-item]  # metadata is ignored
        "services": [{"id": ids["svc"], "name": "svc", "host": "example.com", "tags": ["x"]}],
        "routes": [{"id": ids["route"], "name": "r", "paths": ["/"], "service": {"id": ids["svc"]}}],
        "consumers": [{"id": ids["consumer"], "username": "alice"}],
        "consumer_groups": [{"id": ids["group"], "name": "gold"}],
        "consumer_group_consumers": [{"consumer": {"id": ids["consumer"]}, "consumer_group": {"id": ids["group"]}}],
        "keyauth_credentials": [{"consumer": {"id": ids["consumer"]}, "key": "alice-key"}],
        "acls": [{"consumer": {"id": ids["consumer"]}, "group": "admins"}],
        "upstreams": [{"id": ids["up"], "name": "up.internal"}],
        "targets": [{"upstream": {"id": ids["up"]}, "target": "10.0.0.1:80"}],
        "certificates": [{"id": ids["cert"], "cert": CERT, "key": KEY}],
        "snis": [{"name": "a.example.com", "certificate": {"id": ids["cert"]}}],
        "vaults": [{"prefix": "env-vault", "name": "env"}],
    }


def test_export_replace_all_round_trip(store: Store, tmp_path) -> None:
    counts = store.replace_all(_config())
    assert counts["services"] == 1 and counts["plugins"] == 0
    exported = store.export()
    assert list(exported) == list(DEPENDENCY_ORDER)  # every table, parents first
    assert exported["keyauth_credentials"][0]["key"] == "alice-key"
    with new_store(tmp_path / "other") as other:
        other.replace_all(exported)
        assert other.export() == exported  # ids and timestamps kept


def test_replace_all_replaces_everything_in_one_change(store: Store) -> None:
    make = Factory(store)
    make("routes")
    make("keyauth_credentials")
    seen: list[int] = []
    store.subscribe(seen.append)
    v = store.version
    store.replace_all(_config())
    assert store.version == v + 1 and seen == [v + 1]
    assert [s["name"] for s in store.all("services")] == ["svc"]
    assert store.count("routes") == 1 and store.count("keyauth_credentials") == 1
    store.replace_all({})
    assert all(store.count(t) == 0 for t in DEPENDENCY_ORDER)


def test_replace_all_collects_every_error_and_changes_nothing(store: Store) -> None:
    Factory(store)("routes", name="before")
    before, v = store.export(), store.version
    cfg = _config()
    ghost = str(uuid.uuid4())
    cfg["services"].append({"name": "bad one", "host": "h"})  # schema: name
    cfg["services"].append({"name": "svc", "host": "h"})  # duplicate name
    cfg["routes"].append({"paths": ["/x"], "service": {"id": ghost}})  # dangling reference
    cfg["acls"].append({"consumer": cfg["acls"][0]["consumer"], "group": "admins"})  # duplicate cache key
    cfg["keyauth_credentials"].append({"consumer": cfg["acls"][0]["consumer"], "key": "alice-key"})
    with pytest.raises(KongError) as ei:
        store.replace_all(cfg)
    err = ei.value
    assert err.code == 14 and err.name == "invalid declarative configuration"
    assert err.message.startswith("declarative config is invalid: ")
    f = err.fields
    assert f["services"][0] is None
    assert "invalid value 'bad one'" in f["services"][1]["name"]
    assert f["services"][2]["name"] == "uniqueness violation: 'services' entity with name set to 'svc' already declared"
    assert f["routes"][1]["service"] == (
        f"the foreign key '{{id=\"{ghost}\"}}' does not reference an existing 'services' entity.")
    assert "uniqueness violation" in f["acls"][1]["@entity"][0]
    assert "alice-key" not in str(f["keyauth_credentials"])  # secrets stay out of errors
    assert store.export() == before and store.version == v


def test_replace_all_refuses_unknown_tables_and_plugins(store: Store) -> None:
    with pytest.raises(KongError) as ei:
        store.replace_all({"apis": [{"name": "x"}]})
    assert ei.value.code == 14 and ei.value.fields == {"apis": "unknown entity type"}
    with pytest.raises(KongError) as ei:
        store.replace_all({"plugins": [{"name": "not-bundled"}]})
    assert ei.value.fields["plugins"][0]["name"].startswith("plugin 'not-bundled' not enabled")


def test_replace_all_duplicate_ids(store: Store) -> None:
    sid = str(uuid.uuid4())
    with pytest.raises(KongError) as ei:
        store.replace_all({"services": [{"id": sid, "host": "a"}, {"id": sid, "host": "b"}]})
    assert ei.value.fields["services"][1]["id"] == (
        f"uniqueness violation: 'services' entity with primary key set to '{sid}' already declared")


def test_import_entities_all_or_nothing(store: Store) -> None:
    cfg = _config()
    store.import_entities({"services": cfg["services"]})
    cfg2 = _config()
    cfg2["services"][0]["name"] = "svc"  # clashes with the stored one
    v = store.version
    with pytest.raises(KongError) as ei:
        store.import_entities({"consumers": cfg2["consumers"], "services": cfg2["services"]})
    assert ei.value.code == 5
    assert store.count("consumers") == 0 and store.version == v
    counts = store.import_entities({k: v for k, v in cfg.items() if k not in ("services", "_format_version")})
    assert counts["routes"] == 1 and store.version == v + 1
    assert store.get("routes", "r")["service"] == {"id": cfg["services"][0]["id"]}
