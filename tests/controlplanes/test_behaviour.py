"""The same behaviour from every backend: local store, Kong Admin API over HTTP, Konnect.

What a user of the GUI/CLI relies on whichever control plane they point at: listing streams
every entity exactly once across pages, CRUD keeps Kong's semantics, errors carry Kong's code
and the fields they concern, entities come back in the Admin API shape.
"""

from __future__ import annotations

import uuid

import pytest
from controlplane_support import Backend

from konnect_desktop.controlplanes.errors import ApiError, NotFound
from konnect_desktop.model.entities import ENTITIES


def _services(n: int, prefix: str = "svc", tags: list[str] | None = None) -> list[dict]:
    return [{"id": str(uuid.uuid4()), "name": f"{prefix}-{i:05d}", "host": f"h{i}.example.test", "tags": tags}
            for i in range(n)]


@pytest.mark.parametrize("page_size", [1000, 333])
async def test_list_streams_2500_entities_once_each_in_order(backend: Backend, page_size: int) -> None:
    seeded = _services(2500)
    backend.store.import_entities({"services": seeded})
    seen = [e async for e in backend.cp.list("services", page_size=page_size)]
    assert len(seen) == 2500
    assert [e["id"] for e in seen] == [s["id"] for s in seeded]
    assert len({e["id"] for e in seen}) == 2500


async def test_list_pages_follow_server_size(backend: Backend) -> None:
    backend.store.import_entities({"services": _services(7)})
    names = [e["name"] async for e in backend.cp.list("services", page_size=2)]
    assert names == [f"svc-{i:05d}" for i in range(7)]


async def test_empty_table_lists_nothing(backend: Backend) -> None:
    assert [e async for e in backend.cp.list("routes")] == []


async def test_entities_come_back_in_admin_api_shape(backend: Backend) -> None:
    created = await backend.cp.create("services", {"name": "shape", "url": "https://upstream.test:8443/base"})
    fields = set(ENTITIES["services"].schema.field_names)
    assert fields <= set(created)
    assert created["host"] == "upstream.test" and created["port"] == 8443 and created["protocol"] == "https"
    assert created["path"] == "/base"
    assert created["tags"] is None and created["client_certificate"] is None  # unset → None, not missing
    got = await backend.cp.get("services", created["id"])
    listed = [e async for e in backend.cp.list("services")]
    assert got == created == listed[0]


async def test_crud_round_trip(backend: Backend) -> None:
    cp = backend.cp
    svc = await cp.create("services", {"name": "crud", "host": "a.test", "tags": ["t1"]})
    assert (await cp.get("services", "crud"))["id"] == svc["id"]  # by endpoint key
    assert (await cp.get("services", svc["id"]))["name"] == "crud"

    updated = await cp.update("services", svc["id"], {"port": 8080, "tags": ["t2"]})
    assert updated["port"] == 8080 and updated["tags"] == ["t2"]
    assert updated["host"] == "a.test"  # untouched fields stay
    assert updated["id"] == svc["id"] and updated["created_at"] == svc["created_at"]

    replaced = await cp.upsert("services", "crud", {"host": "b.test"})
    assert replaced["id"] == svc["id"] and replaced["host"] == "b.test"
    assert replaced["port"] == 80  # PUT replaces: defaults again
    new = await cp.upsert("services", "made-by-put", {"host": "c.test"})
    assert new["name"] == "made-by-put"

    await cp.delete("services", svc["id"])
    with pytest.raises(NotFound):
        await cp.get("services", svc["id"])
    await cp.delete("services", svc["id"])  # deleting again is not an error (Kong: 204)
    assert [e["name"] async for e in cp.list("services")] == ["made-by-put"]


async def test_nested_collections(backend: Backend) -> None:
    cp = backend.cp
    svc = await cp.create("services", {"name": "parent", "host": "p.test"})
    other = await cp.create("services", {"name": "other", "host": "o.test"})
    r1 = await cp.create("routes", {"name": "r1", "paths": ["/one"]}, parent=("services", "parent"))
    await cp.create("routes", {"name": "r2", "paths": ["/two"], "service": {"id": other["id"]}})
    assert r1["service"] == {"id": svc["id"]}
    assert [r["name"] async for r in cp.list("routes", parent=("services", "parent"))] == ["r1"]
    assert sorted([r["name"] async for r in cp.list("routes")]) == ["r1", "r2"]
    cons = await cp.create("consumers", {"username": "alice"})
    cred = await cp.create("keyauth_credentials", {"key": "alice-secret-key"}, parent=("consumers", "alice"))
    assert cred["consumer"] == {"id": cons["id"]}
    assert [c["key"] async for c in cp.list("keyauth_credentials", parent=("consumers", cons["id"]))] == ["alice-secret-key"]


async def test_tags_filter_and_or(backend: Backend) -> None:
    backend.store.import_entities({"services": _services(3, "a", ["x", "y"]) + _services(2, "b", ["x"]) + _services(1, "c", ["z"])})
    both = [e["name"] async for e in backend.cp.list("services", tags=["x", "y"])]
    assert both == ["a-00000", "a-00001", "a-00002"]
    either = [e["name"] async for e in backend.cp.list("services", tags=["y", "z"], tags_mode="or")]
    assert sorted(either) == ["a-00000", "a-00001", "a-00002", "c-00000"]


async def test_schema_violation_carries_fields(backend: Backend) -> None:
    with pytest.raises(ApiError) as ei:
        await backend.cp.create("services", {"name": "nohost"})
    err = ei.value
    assert err.status == 400 and err.code == 2 and err.name == "schema violation"
    assert err.fields == {"host": "required field missing"}
    assert err.message == "schema violation (host: required field missing)"
    assert [e async for e in backend.cp.list("services")] == []  # nothing half-stored


async def test_unique_violation_is_409_with_fields(backend: Backend) -> None:
    await backend.cp.create("services", {"name": "dup", "host": "a.test"})
    with pytest.raises(ApiError) as ei:
        await backend.cp.create("services", {"name": "dup", "host": "b.test"})
    assert ei.value.status == 409 and ei.value.code == 5
    assert ei.value.fields == {"name": "dup"}
    assert "UNIQUE violation detected on '{name=\"dup\"}'" in ei.value.message


async def test_update_missing_entity_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        await backend.cp.update("services", str(uuid.uuid4()), {"port": 1})


async def test_delete_parent_still_referenced_is_refused(backend: Backend) -> None:
    await backend.cp.create("services", {"name": "busy", "host": "a.test"})
    await backend.cp.create("routes", {"name": "r", "paths": ["/r"]}, parent=("services", "busy"))
    with pytest.raises(ApiError) as ei:
        await backend.cp.delete("services", "busy")
    assert ei.value.code == 4 and ei.value.fields == {"@referenced_by": "routes"}
    assert (await backend.cp.get("services", "busy"))["name"] == "busy"


async def test_plugin_update_merges_config_deeply(backend: Backend) -> None:
    p = await backend.cp.create("plugins", {"name": "request-transformer",
                                            "config": {"add": {"headers": ["x-a:1"]}, "remove": {"headers": ["x-old"]}}})
    updated = await backend.cp.update("plugins", p["id"], {"config": {"add": {"querystring": ["q:1"]}}})
    assert updated["config"]["add"]["headers"] == ["x-a:1"]
    assert updated["config"]["add"]["querystring"] == ["q:1"]
    assert updated["config"]["remove"]["headers"] == ["x-old"]


async def test_consumer_group_membership(backend: Backend) -> None:
    cp = backend.cp
    alice = await cp.create("consumers", {"username": "alice"})
    await cp.create("consumers", {"username": "bob"})
    gold = await cp.create("consumer_groups", {"name": "gold"})
    await cp.add_consumer_to_group("gold", "alice")
    await cp.add_consumer_to_group(gold["id"], "bob")
    assert sorted([c["username"] async for c in cp.group_consumers("gold")]) == ["alice", "bob"]
    await cp.remove_consumer_from_group("gold", alice["id"])
    assert [c["username"] async for c in cp.group_consumers("gold")] == ["bob"]
    with pytest.raises(NotFound):
        await cp.add_consumer_to_group("no-such-group", "bob")
    rows = [m async for m in cp.memberships()]
    assert len(rows) == 1 and rows[0]["consumer_group"] == {"id": gold["id"]}


async def test_export_has_every_table(backend: Backend) -> None:
    cp = backend.cp
    await cp.create("services", {"name": "e", "host": "e.test"})
    await cp.create("consumers", {"username": "u"})
    await cp.create("consumer_groups", {"name": "g"})
    await cp.add_consumer_to_group("g", "u")
    up = await cp.create("upstreams", {"name": "up.test"})
    await cp.create("targets", {"target": "10.0.0.1:80"}, parent=("upstreams", up["id"]))
    config = await cp.export()
    for table in ("services", "routes", "consumers", "consumer_groups", "consumer_group_consumers",
                  "plugins", "keyauth_credentials", "upstreams", "targets", "vaults"):
        assert table in config, table
    assert [s["name"] for s in config["services"]] == ["e"]
    assert len(config["consumer_group_consumers"]) == 1
    assert [t["target"] for t in config["targets"]] == ["10.0.0.1:80"]


async def test_capabilities_and_connection_report(backend: Backend) -> None:
    report = await backend.cp.test_connection()
    assert report.ok, report.error
    assert report.node_count == 1 and report.latency_ms is not None
    caps = backend.cp.capabilities
    assert caps.probed and caps.writable and caps.consumer_groups
    assert caps.konnect == (backend.kind == "konnect")
    assert caps.supports_patch == (backend.kind != "konnect")
    assert caps.kind == backend.kind
    groups = await backend.cp.list_groups()
    assert len(groups) >= 1
    nodes = await backend.cp.nodes()
    assert len(nodes) == 1 and nodes[0].status == "connected"


async def test_plugin_schema_for_forms(backend: Backend) -> None:
    schema = await backend.cp.schema("request-transformer")
    names = [next(iter(f)) for f in schema["fields"]]
    assert "config" in names
    with pytest.raises(NotFound):
        await backend.cp.schema("no-such-plugin")
