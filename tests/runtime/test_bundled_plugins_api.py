"""Every bundled plugin through the Admin API over real HTTP and through decK files: its schema is
served and it is listed as enabled, it is created from only its required fields with Kong's
defaults filled, it is accepted at exactly the scopes Kong accepts (refused elsewhere with Kong's
words), and it survives dump → load → diff with no drift.

Parametrized over ``plugins.BUNDLED``: the plugins the local runtime runs and the ones it only
carries alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from admin_support import Api, admin_client
from plugin_examples import KONG_SCOPES, assert_defaults, minimal

from konnect_desktop import plugins
from konnect_desktop.model import declarative
from konnect_desktop.model.diff import plan
from konnect_desktop.plugins.base import SCOPE_FIELDS
from konnect_desktop.runtime.store import Store

NAMES = plugins.BUNDLED
PARENTS = {"route": "routes", "service": "services", "consumer": "consumers", "consumer_group": "consumer_groups"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory):
    async with admin_client(tmp_path_factory.mktemp("bundled") / "kong.db") as client:
        yield Api(client, client.store)


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def parents(api: Api) -> dict[str, dict[str, Any]]:
    """One service, route, consumer and consumer group to scope plugins to (made once)."""
    found = {k: api.store.find(t, name_or_key) for k, (t, name_or_key) in {
        "service": ("services", "bundled-svc"), "route": ("routes", "bundled-route"),
        "consumer": ("consumers", "bundled-alice"), "consumer_group": ("consumer_groups", "bundled-gold")}.items()}
    if all(found.values()):
        return found  # type: ignore[return-value]
    svc = await api.ok("POST", "/services", 201, json={"name": "bundled-svc", "url": "http://up.test"})
    return {
        "service": svc,
        "route": await api.ok("POST", f"/services/{svc['id']}/routes", 201, json={"name": "bundled-route", "paths": ["/b"]}),
        "consumer": await api.ok("POST", "/consumers", 201, json={"username": "bundled-alice"}),
        "consumer_group": await api.ok("POST", "/consumer_groups", 201, json={"name": "bundled-gold"}),
    }


async def test_enabled_lists_every_bundled_plugin(api: Api) -> None:
    body = await api.ok("GET", "/plugins/enabled")
    assert set(NAMES) <= set(body["enabled_plugins"])


@pytest.mark.parametrize("name", NAMES)
async def test_schema_is_served(api: Api, name: str) -> None:
    body = await api.ok("GET", f"/schemas/plugins/{name}")
    fields = {k: v for item in body["fields"] for k, v in item.items()}
    assert fields["config"]["type"] == "record" and fields["config"]["fields"]
    assert fields["protocols"]["default"] == list(plugins.get(name).protocols)  # type: ignore[union-attr]
    for scope in SCOPE_FIELDS:
        # Kong's typedefs.no_consumer & co. show as "eq": null
        assert ("eq" in fields[scope] and fields[scope]["eq"] is None) == (scope not in KONG_SCOPES[name]), scope


@pytest.mark.parametrize("name", NAMES)
async def test_created_from_required_fields_with_kongs_defaults(api: Api, name: str) -> None:
    given = minimal(name)
    body = await api.ok("POST", "/plugins", 201, json={"name": name, "config": given, "instance_name": f"{name}-min"})
    spec = plugins.get(name)
    assert spec is not None and spec.config.fields is not None
    assert body["enabled"] is True and body["protocols"] == list(spec.protocols)
    assert_defaults(spec.config.fields, given, body["config"], "config")
    fetched = await api.ok("GET", f"/plugins/{body['id']}")
    assert fetched == body
    await api.ok("DELETE", f"/plugins/{body['id']}", 204)


@pytest.mark.parametrize("name", NAMES)
async def test_accepted_exactly_at_kongs_scopes(api: Api, name: str) -> None:
    p = await parents(api)
    for scope in SCOPE_FIELDS:
        parent = p[scope]
        path = f"/{PARENTS[scope]}/{parent['id']}/plugins"
        status, body = await api.call("POST", path, json={"name": name, "config": minimal(name)})
        if scope in KONG_SCOPES[name]:
            assert status == 201, (scope, body)
            assert body[scope] == {"id": parent["id"]}
            await api.ok("DELETE", f"/plugins/{body['id']}", 204)
        else:
            assert status == 400, (scope, body)
            assert body["fields"] == {scope: "value must be null"}
            assert body["message"] == f"schema violation ({scope}: value must be null)"
    assert api.store.count("plugins", where=None) == 0


@pytest.mark.parametrize("name", NAMES)
async def test_deck_dump_load_diff_has_no_drift(api: Api, name: str, tmp_path: Path) -> None:
    p = await parents(api)
    scope = next((s for s in ("service", "route", "consumer_group", "consumer") if s in KONG_SCOPES[name]), None)
    data: dict[str, Any] = {"name": name, "config": minimal(name), "tags": ["bundled"]}
    if scope is not None:
        data[scope] = {"id": p[scope]["id"]}
    created = await api.ok("POST", "/plugins", 201, json=data)
    try:
        current = api.store.export()
        text = declarative.dump(current)
        loaded = declarative.load(text, strict_plugins=True)
        changes = plan(current, loaded).changes
        assert changes == [], [(c.action, c.table, c.fields if hasattr(c, "fields") else None) for c in changes]
        # the file loaded into a fresh runtime store reads back the same
        other = Store(tmp_path / "other.db")
        try:
            other.replace_all(loaded)
            assert plan(other.export(), current).changes == []
            assert declarative.dump(other.export()) == text
        finally:
            other.close()
    finally:
        await api.ok("DELETE", f"/plugins/{created['id']}", 204)


async def test_patching_a_deprecated_field_changes_the_stored_value(api: Api) -> None:
    """spec/03-plugins/23-rate-limiting/06-shorthand_fields_spec.lua, it("POST/PATCH/GET request
    returns legacy fields"): a PATCH of ``redis_host`` lands in ``redis.host``. Deliberate
    difference: Kong also echoes the legacy fields in its answers; this app answers with the
    current structure only, so dumps and diffs carry each value once."""
    config = {"minute": 100, "policy": "redis", "redis_host": "custom-host.example.test", "redis_port": 55000,
              "redis_username": "test1", "redis_password": "testX", "redis_database": 1, "redis_timeout": 1100,
              "redis_ssl": True, "redis_ssl_verify": True, "redis_server_name": "example.test"}
    created = await api.ok("POST", "/plugins", 201, json={"name": "rate-limiting", "config": config})
    redis = created["config"]["redis"]
    assert (redis["host"], redis["port"], redis["username"], redis["password"], redis["database"], redis["timeout"],
            redis["ssl"], redis["ssl_verify"], redis["server_name"]) == (
        "custom-host.example.test", 55000, "test1", "testX", 1, 1100, True, True, "example.test")
    assert not any(k.startswith("redis_") for k in created["config"])
    patched = await api.ok("PATCH", f"/plugins/{created['id']}", json={"config": {"redis_host": "testhost"}})
    assert patched["config"]["redis"]["host"] == "testhost" and patched["config"]["redis"]["port"] == 55000
    assert (await api.ok("GET", f"/plugins/{created['id']}"))["config"]["redis"]["host"] == "testhost"
    await api.ok("DELETE", f"/plugins/{created['id']}", 204)
