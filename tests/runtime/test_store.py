"""The store's CRUD contract: every entity kind, Kong's lookup rule, and Kong's error codes and
words for unique, foreign-key, restrict and schema problems. Real SQLite files in tmp_path."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from test_store_support import (
    ALL_TABLES,
    TAGGED_TABLES,
    Factory,
    bundled_plugin,
    needs_plugin,
    new_store,
)

from konnect_desktop import appdirs
from konnect_desktop.model import ENTITIES
from konnect_desktop.model.errors import KongError, NotFound
from konnect_desktop.runtime.store import Store


@pytest.fixture
def make(store):
    return Factory(store)


def _kong(exc_info: pytest.ExceptionInfo[KongError]) -> dict[str, Any]:
    return exc_info.value.to_dict()


# -- CRUD for every kind ------------------------------------------------------------------------
@pytest.mark.parametrize("table", ALL_TABLES)
def test_crud_every_table(store: Store, make: Factory, table: str) -> None:
    edef = ENTITIES[table]
    created = make(table)
    # Admin API shape: every schema field present, unset ones None, FKs as {"id": ...}.
    assert set(created) == set(edef.schema.field_names)
    assert uuid.UUID(created["id"])
    if "created_at" in created:
        assert isinstance(created["created_at"], int) and created["created_at"] > 1_600_000_000
    for fname, f in edef.schema.fields:
        if f.type == "foreign" and created[fname] is not None:
            assert set(created[fname]) == {"id"}

    assert store.get(table, created["id"]) == created
    if edef.endpoint_key and created.get(edef.endpoint_key):
        assert store.get(table, created[edef.endpoint_key]) == created
    assert store.count(table) == 1
    assert created in store.all(table)

    if table in TAGGED_TABLES:
        updated = store.update(table, created["id"], {"tags": ["edited"]})
        assert updated["tags"] == ["edited"]
        assert updated["id"] == created["id"]
        assert store.get(table, created["id"]) == updated
        assert [e["id"] for e in store.page(table, tags=["edited"])[0]] == [created["id"]]

    replaced = store.upsert(table, created["id"], {k: v for k, v in created.items() if k not in ("tags",)})
    assert replaced["id"] == created["id"] and replaced.get("tags") is None
    assert store.get(table, created["id"]) == replaced

    v = store.version
    # what the gateway writes while serving (oauth2 tokens and codes) is no configuration change
    bump = 0 if edef.runtime_data else 1
    assert store.delete(table, created["id"]) is True
    assert store.version == v + bump
    with pytest.raises(NotFound):
        store.get(table, created["id"])
    assert store.delete(table, created["id"]) is False  # idempotent, like DELETE's 204
    assert store.version == v + bump  # ...and no change was committed


def test_insert_fills_defaults_and_keeps_given_id(store: Store) -> None:
    sid = str(uuid.uuid4())
    svc = store.insert("services", {"id": sid, "url": "https://api.example.com:8443/v1"})
    assert svc["id"] == sid
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"]) == ("https", "api.example.com", 8443, "/v1")
    assert svc["retries"] == 5 and svc["connect_timeout"] == 60000 and svc["enabled"] is True
    assert svc["name"] is None and svc["tags"] is None
    assert svc["created_at"] == svc["updated_at"]


def test_generated_credential_key_is_stored(store: Store, make: Factory) -> None:
    c = make("consumers")
    cred = store.insert("keyauth_credentials", {"consumer": {"id": c["id"]}})
    assert isinstance(cred["key"], str) and len(cred["key"]) >= 16
    assert store.get("keyauth_credentials", cred["key"])["id"] == cred["id"]


def test_open_default_uses_the_app_data_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KONNECT_DESKTOP_HOME", str(tmp_path / "home"))
    with Store.open_default("dev") as s:
        s.insert("services", {"name": "a", "host": "h"})
        assert s.path == appdirs.runtime_db_path("dev")
    assert appdirs.runtime_db_path("dev").is_file()
    with Store.open_default("dev") as s:  # and it persists
        assert s.get("services", "a")["host"] == "h"


# -- Kong's lookup rule -------------------------------------------------------------------------
def test_uuid_looks_up_by_id_then_endpoint_key(store: Store) -> None:
    odd = str(uuid.uuid4())
    a = store.insert("services", {"name": odd, "host": "a"})  # a name that looks like a UUID
    b = store.insert("services", {"name": "b", "host": "b"})
    assert store.get("services", b["id"]) == b
    assert store.get("services", "b") == b
    assert store.get("services", odd) == a  # no service has that id: the name matches
    with pytest.raises(NotFound):
        store.get("services", str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.get("services", "nope")
    with pytest.raises(NotFound):
        store.get("certificates", "not-a-uuid")  # no endpoint key


def test_endpoint_keys_of_every_kind(store: Store, make: Factory) -> None:
    checks = {
        "consumers": "username", "consumer_groups": "name", "keyauth_credentials": "key",
        "upstreams": "name", "snis": "name", "vaults": "prefix", "routes": "name",
        "basicauth_credentials": "username", "jwt_secrets": "key", "hmacauth_credentials": "username",
    }
    for table, key in checks.items():
        e = make(table)
        assert store.get(table, e[key])["id"] == e["id"], table


def test_where_restricts_lookups_to_a_parent(store: Store, make: Factory) -> None:
    alice, bob = make("consumers"), make("consumers")
    cred = make("keyauth_credentials", consumer={"id": alice["id"]})
    assert store.get("keyauth_credentials", cred["id"], where={"consumer": alice["id"]}) == cred
    with pytest.raises(NotFound):
        store.get("keyauth_credentials", cred["key"], where={"consumer": {"id": bob["id"]}})
    with pytest.raises(NotFound):
        store.update("keyauth_credentials", cred["id"], {"tags": ["x"]}, where={"consumer": bob["id"]})
    assert store.delete("keyauth_credentials", cred["id"], where={"consumer": bob["id"]}) is False
    assert store.count("keyauth_credentials") == 1


# -- update (PATCH) -----------------------------------------------------------------------------
def test_update_merges_validates_and_keeps_identity(store: Store) -> None:
    store.import_entities({"services": [{"id": str(uuid.uuid4()), "name": "s", "host": "h",
                                         "created_at": 1000, "updated_at": 1000}]})
    s = store.get("services", "s")
    assert (s["created_at"], s["updated_at"]) == (1000, 1000)
    u = store.update("services", "s", {"port": 8080, "created_at": 5})
    assert u["port"] == 8080 and u["host"] == "h"
    assert u["created_at"] == 1000  # immutable
    assert u["updated_at"] > 1000  # bumped
    with pytest.raises(KongError) as ei:
        store.update("services", "s", {"id": str(uuid.uuid4())})
    assert ei.value.code == 2 and ei.value.fields == {"id": "immutable field cannot be updated"}
    assert store.update("services", "s", {"id": s["id"]})["id"] == s["id"]  # same id is fine


def test_update_with_url_shorthand(store: Store) -> None:
    store.insert("services", {"name": "s", "url": "http://a.example/x"})
    u = store.update("services", "s", {"url": "https://b.example"})
    assert (u["protocol"], u["host"], u["port"], u["path"]) == ("https", "b.example", 443, None)


def test_update_invalid_changes_nothing(store: Store) -> None:
    before = store.insert("services", {"name": "s", "host": "h"})
    v = store.version
    with pytest.raises(KongError) as ei:
        store.update("services", "s", {"port": 70000, "retries": "x"})
    d = _kong(ei)
    assert d["code"] == 2 and d["name"] == "schema violation"
    assert d["message"] == "2 schema violations (port: value should be between 0 and 65535; retries: expected an integer)"
    assert store.get("services", "s") == before and store.version == v


def test_update_missing_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.update("services", "ghost", {"port": 1})
    with pytest.raises(NotFound):
        store.update("services", str(uuid.uuid4()), {"port": 1})


def test_update_unique_and_fk_checks(store: Store, make: Factory) -> None:
    make("services", name="a")
    make("services", name="b")
    with pytest.raises(KongError) as ei:
        store.update("services", "b", {"name": "a"})
    assert _kong(ei)["message"] == "UNIQUE violation detected on '{name=\"a\"}'"
    store.update("services", "b", {"name": "b"})  # its own value is no conflict
    r = make("routes")
    ghost = str(uuid.uuid4())
    with pytest.raises(KongError) as ei:
        store.update("routes", r["id"], {"service": {"id": ghost}})
    assert ei.value.code == 4 and ei.value.fields == {"service": {"id": ghost}}


def test_patch_deep_merges_plugin_config(store: Store, make: Factory) -> None:
    name = needs_plugin()
    p = make("plugins", name=name)
    config = p["config"]
    assert isinstance(config, dict) and config
    first = next(iter(config))
    patched = store.update("plugins", p["id"], {"config": {first: config[first]}, "enabled": False})
    assert patched["config"] == config  # the other config fields survived the partial record
    assert patched["enabled"] is False


# -- upsert (PUT) -------------------------------------------------------------------------------
def test_upsert_by_name_creates_then_replaces(store: Store, make: Factory) -> None:
    created = store.upsert("services", "svc", {"host": "a", "port": 8000, "tags": ["t"]})
    assert created["name"] == "svc" and created["port"] == 8000
    route = make("routes", service={"id": created["id"]})
    replaced = store.upsert("services", "svc", {"host": "b"})
    assert replaced["id"] == created["id"] and replaced["created_at"] == created["created_at"]
    assert replaced["port"] == 80 and replaced["tags"] is None  # PUT replaces: omitted fields reset
    assert store.page("services", tags=["t"])[0] == []
    assert store.get("routes", route["id"])["service"] == {"id": created["id"]}  # no cascade on PUT
    assert store.count("services") == 1


def test_upsert_by_id_creates_with_that_id(store: Store) -> None:
    sid = str(uuid.uuid4())
    created = store.upsert("services", sid, {"name": "x", "host": "h", "id": str(uuid.uuid4())})
    assert created["id"] == sid  # the URL key wins
    again = store.upsert("services", sid, {"name": "y", "host": "h"})
    assert again["id"] == sid and again["name"] == "y"
    with pytest.raises(NotFound):
        store.get("services", "x")


def test_upsert_name_in_url_wins_and_unique_checked(store: Store) -> None:
    store.insert("services", {"name": "taken", "host": "h"})
    s = store.upsert("services", "mine", {"name": "other", "host": "h"})
    assert s["name"] == "mine"
    with pytest.raises(KongError) as ei:
        store.upsert("services", s["id"], {"name": "taken", "host": "h"})
    assert ei.value.status == 409


def test_upsert_without_endpoint_key_needs_uuid(store: Store) -> None:
    with pytest.raises(NotFound):
        store.upsert("certificates", "not-a-uuid", {"cert": "c", "key": "k"})


# -- errors -------------------------------------------------------------------------------------
def test_unique_violation_words(store: Store) -> None:
    store.insert("services", {"name": "svc1", "host": "h"})
    v = store.version
    with pytest.raises(KongError) as ei:
        store.insert("services", {"name": "svc1", "host": "other"})
    assert ei.value.status == 409
    assert _kong(ei) == {
        "code": 5, "name": "unique constraint violation",
        "message": "UNIQUE violation detected on '{name=\"svc1\"}'", "fields": {"name": "svc1"},
    }
    assert store.count("services") == 1 and store.version == v


def test_unique_consumer_custom_id(store: Store) -> None:
    store.insert("consumers", {"custom_id": "c-1"})
    with pytest.raises(KongError) as ei:
        store.insert("consumers", {"username": "x", "custom_id": "c-1"})
    assert _kong(ei)["message"] == "UNIQUE violation detected on '{custom_id=\"c-1\"}'"


def test_unique_secret_value_is_masked(store: Store, make: Factory) -> None:
    make("keyauth_credentials", key="top-secret-key")
    with pytest.raises(KongError) as ei:
        make("keyauth_credentials", key="top-secret-key")
    assert ei.value.code == 5
    assert "top-secret-key" not in str(ei.value.to_dict())


def test_primary_key_violation(store: Store) -> None:
    s = store.insert("services", {"host": "h"})
    with pytest.raises(KongError) as ei:
        store.insert("services", {"id": s["id"], "host": "h"})
    assert _kong(ei) == {
        "code": 3, "name": "primary key violation",
        "message": f"primary key violation on key '{{id=\"{s['id']}\"}}'", "fields": {"id": s["id"]},
    }


def test_composite_unique_acls_memberships_targets(store: Store, make: Factory) -> None:
    c = make("consumers")
    make("acls", consumer={"id": c["id"]}, group="admins")
    make("acls", consumer={"id": c["id"]}, group="users")
    make("acls", group="admins")  # another consumer: fine
    with pytest.raises(KongError) as ei:
        make("acls", consumer={"id": c["id"]}, group="admins")
    assert _kong(ei) == {
        "code": 5, "name": "unique constraint violation",
        "message": f"UNIQUE violation detected on '{{consumer={{id=\"{c['id']}\"}},group=\"admins\"}}'",
        "fields": {"consumer": {"id": c["id"]}, "group": "admins"},
    }
    g = make("consumer_groups")
    make("consumer_group_consumers", consumer={"id": c["id"]}, consumer_group={"id": g["id"]})
    with pytest.raises(KongError) as ei:
        make("consumer_group_consumers", consumer={"id": c["id"]}, consumer_group={"id": g["id"]})
    assert ei.value.code == 5 and ei.value.fields == {"consumer_group": {"id": g["id"]}, "consumer": {"id": c["id"]}}
    u = make("upstreams")
    make("targets", upstream={"id": u["id"]}, target="10.1.1.1:80")
    with pytest.raises(KongError) as ei:
        make("targets", upstream={"id": u["id"]}, target="10.1.1.1:80")
    assert ei.value.code == 5


def test_plugin_cache_key_unique(store: Store, make: Factory) -> None:
    name = needs_plugin()
    s = make("services")
    store.insert("plugins", {"name": name, "service": {"id": s["id"]}})
    store.insert("plugins", {"name": name})  # global: another scope
    with pytest.raises(KongError) as ei:
        store.insert("plugins", {"name": name, "service": {"id": s["id"]}})
    assert _kong(ei) == {
        "code": 5, "name": "unique constraint violation",
        "message": (f"UNIQUE violation detected on '{{consumer=null,consumer_group=null,name=\"{name}\","
                    f"route=null,service={{id=\"{s['id']}\"}}}}'"),
        "fields": {"name": name, "route": None, "service": {"id": s["id"]}, "consumer": None, "consumer_group": None},
    }
    with pytest.raises(KongError) as ei:
        store.insert("plugins", {"name": name})
    assert ei.value.code == 5  # a second global instance


def test_unknown_plugin_refused(store: Store) -> None:
    with pytest.raises(KongError) as ei:
        store.insert("plugins", {"name": "made-up"})
    assert _kong(ei)["message"] == (
        "schema violation (name: plugin 'made-up' not enabled; add it to the 'plugins' configuration property)"
    )
    assert store.count("plugins") == 0


def test_foreign_key_must_exist(store: Store) -> None:
    ghost = str(uuid.uuid4())
    v = store.version
    with pytest.raises(KongError) as ei:
        store.insert("routes", {"paths": ["/"], "service": {"id": ghost}})
    assert ei.value.status == 400
    assert _kong(ei) == {
        "code": 4, "name": "foreign key violation",
        "message": f"the foreign key '{{id=\"{ghost}\"}}' does not reference an existing 'services' entity.",
        "fields": {"service": {"id": ghost}},
    }
    assert store.count("routes") == 0 and store.version == v


@pytest.mark.parametrize(("child", "field", "parent"), [
    ("keyauth_credentials", "consumer", "consumers"),
    ("targets", "upstream", "upstreams"),
    ("snis", "certificate", "certificates"),
    ("consumer_group_consumers", "consumer_group", "consumer_groups"),
    ("services", "client_certificate", "certificates"),
])
def test_foreign_key_must_exist_every_kind(store: Store, make: Factory, child: str, field: str, parent: str) -> None:
    ghost = str(uuid.uuid4())
    data = make.data(child, **{field: {"id": ghost}})
    if child == "services":
        data["protocol"] = "https"
    with pytest.raises(KongError) as ei:
        store.insert(child, data)
    assert ei.value.code == 4 and ei.value.fields == {field: {"id": ghost}}
    assert f"an existing '{parent}' entity." in ei.value.message


def test_schema_violation_stores_nothing(store: Store) -> None:
    with pytest.raises(KongError) as ei:
        store.insert("services", {"name": "bad name!", "port": "80"})
    d = _kong(ei)
    assert d["code"] == 2 and d["name"] == "schema violation"
    assert d["fields"]["host"] == "required field missing"
    assert store.count("services") == 0 and store.version == 0
    with pytest.raises(KongError) as ei:
        store.insert("consumers", {})
    assert ei.value.message == "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
    with pytest.raises(KongError) as ei:
        store.insert("services", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert ei.value.code == 2


def test_unknown_table_is_a_programming_error(store: Store) -> None:
    with pytest.raises(ValueError):
        store.get("apis", "x")
    with pytest.raises(ValueError):
        store.page("services", where={"host": "x"})


# -- delete: restrict and cascade ---------------------------------------------------------------
def test_delete_restricted_by_routes(store: Store, make: Factory) -> None:
    s = make("services", name="svc")
    r = make("routes", service={"id": s["id"]})
    v = store.version
    with pytest.raises(KongError) as ei:
        store.delete("services", "svc")
    assert ei.value.status == 400
    assert _kong(ei) == {
        "code": 4, "name": "foreign key violation",
        "message": "an existing 'routes' entity references this 'services' entity",
        "fields": {"@referenced_by": "routes"},
    }
    assert store.get("services", "svc") == s and store.version == v
    store.delete("routes", r["id"])
    assert store.delete("services", "svc") is True


def test_delete_certificate_restricted_by_service(store: Store, make: Factory) -> None:
    cert = make("certificates")
    sni = make("snis", certificate={"id": cert["id"]})
    svc = make("services", protocol="https", client_certificate={"id": cert["id"]})
    with pytest.raises(KongError) as ei:
        store.delete("certificates", cert["id"])
    assert ei.value.fields == {"@referenced_by": "services"}
    assert store.get("snis", sni["id"])  # the failed delete cascaded nothing
    store.update("services", svc["id"], {"client_certificate": None})
    store.delete("certificates", cert["id"])
    assert store.count("snis") == 0  # snis cascade with their certificate


def test_delete_consumer_cascades(store: Store, make: Factory) -> None:
    c = make("consumers")
    other = make("consumers")
    kept = make("keyauth_credentials", consumer={"id": other["id"]})
    for table in ("keyauth_credentials", "acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials",
                  "consumer_group_consumers"):
        make(table, consumer={"id": c["id"]})
    make("keyauth_credentials", consumer={"id": c["id"]}, tags=["doomed"])
    v = store.version
    store.delete("consumers", c["id"])
    assert store.version == v + 1
    for table in ("acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials", "consumer_group_consumers"):
        assert store.count(table) == 0, table
    assert store.all("keyauth_credentials") == [kept]
    assert store.page("keyauth_credentials", tags=["doomed"])[0] == []
    assert store.count("consumer_groups") == 1  # the group stays, only the membership went


def test_delete_cascades_plugins_of_each_scope(store: Store, make: Factory) -> None:
    name = needs_plugin(group_scope=True)
    consumer_plugin = bundled_plugin(consumer_scope=True)
    s, c, g = make("services"), make("consumers"), make("consumer_groups")
    r = make("routes", service={"id": s["id"]})
    store.insert("plugins", {"name": name, "route": {"id": r["id"]}})
    store.insert("plugins", {"name": name, "consumer_group": {"id": g["id"]}})
    if consumer_plugin:  # key-auth and acl cannot be scoped to a consumer
        store.insert("plugins", {"name": consumer_plugin, "consumer": {"id": c["id"]}})
    svc_plugin = store.insert("plugins", {"name": name, "service": {"id": s["id"]}})
    store.delete("routes", r["id"])
    store.delete("consumers", c["id"])
    store.delete("consumer_groups", g["id"])
    assert store.all("plugins") == [svc_plugin]
    store.delete("services", s["id"])
    assert store.count("plugins") == 0


def test_delete_upstream_cascades_targets(store: Store, make: Factory) -> None:
    u = make("upstreams")
    for _ in range(3):
        make("targets", upstream={"id": u["id"]})
    store.delete("upstreams", u["name"])
    assert store.count("targets") == 0


def test_delete_by_endpoint_key(store: Store, make: Factory) -> None:
    make("consumers", username="bob")
    assert store.delete("consumers", "bob") is True
    assert store.count("consumers") == 0


# -- the file itself ----------------------------------------------------------------------------
def test_file_is_wal_with_foreign_keys(store: Store, make: Factory) -> None:
    make("routes")
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def test_data_survives_reopen(tmp_path) -> None:
    with new_store(tmp_path) as s:
        Factory(s)("routes", name="kept")
        v = s.version
    with new_store(tmp_path) as s:
        assert s.get("routes", "kept")["name"] == "kept"
        assert s.version == v


def test_layout_change_rebuilds_from_bodies(tmp_path) -> None:
    """A store written by an older build (different derived columns) is rebuilt on open."""
    with new_store(tmp_path) as s:
        f = Factory(s)
        r = f("routes", name="r1", tags=["a"])
        f("keyauth_credentials", key="k1")
        before = s.export()
    conn = sqlite3.connect(tmp_path / "runtime.db")
    conn.execute("UPDATE kd_meta SET value = 'old-layout' WHERE key = 'layout'")
    conn.execute("DROP INDEX e_routes_f_service")  # pretend the old layout lacked it
    conn.commit()
    conn.close()
    with new_store(tmp_path) as s:
        assert s.export() == before
        assert [e["id"] for e in s.page("routes", tags=["a"])[0]] == [r["id"]]
        assert s.get("keyauth_credentials", "k1")
        with pytest.raises(KongError):
            s.delete("services", r["service"]["id"])  # constraints are back
        assert sqlite3.connect(tmp_path / "runtime.db").execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'e_routes_f_service'").fetchone()[0] == 1


def test_closed_store_refuses(tmp_path) -> None:
    s = new_store(tmp_path)
    s.close()
    s.close()  # twice is fine
    with pytest.raises(KongError) as ei:
        s.get("services", "x")
    assert ei.value.code == 8
    with pytest.raises(KongError):
        s.insert("services", {"host": "h"})
