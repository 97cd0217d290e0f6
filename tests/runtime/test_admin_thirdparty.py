"""A third-party Kong client against our Admin API, unchanged.

``aio-kong`` (PyPI, asynchronous Kong Admin API client) is what a Python shop would point at Kong.
Its typical flows run here against the local runtime's Admin API on 127.0.0.1: services and
routes, plugins on each scope, consumers with key-auth and basic-auth credentials (posted as
url-encoded forms, as the library does), ACL groups, pagination with ``size``, its JSON
``apply_json`` import, deletes, and its error type carrying Kong's error body; and the jwt flows of
its own test suite (tests/test_plugins.py: ``test_jwt_create``, ``test_jwt_delete``,
``test_get_or_create_jwt``), plus a jwt plugin and an RS256 secret posted as a form.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from konnect_desktop.runtime.admin_api import create_admin_app
from konnect_desktop.runtime.store import Store

kong = pytest.importorskip("kong", reason="aio-kong (in the test extra) is not installed")
from kong.client import Kong, KongResponseError  # noqa: E402

PLUGIN = "request-transformer"


@pytest.fixture
async def cli(tmp_path):
    store = Store(tmp_path / "kong.db")
    server = TestServer(create_admin_app(store), host="127.0.0.1")
    await server.start_server()
    client = Kong(url=str(server.make_url("")).rstrip("/"))
    try:
        yield client, store
    finally:
        await client.close()
        await server.close()
        store.close()


async def test_services_routes_plugins(cli) -> None:
    client, store = cli
    srv = await client.services.create(name="billing", host="billing.internal", port=8080)
    assert srv.name == "billing" and srv["port"] == 8080
    assert await client.services.has("billing")
    assert not await client.services.has("nope")
    fetched = await client.services.get(srv.id)
    assert fetched.host == "billing.internal"
    updated = await client.services.update("billing", path="/v1")
    assert updated["path"] == "/v1"
    route = await srv.routes.create(name="billing-r", paths=["/billing"], methods=["GET", "POST"])
    assert route["service"] == {"id": srv.id}
    assert [r.name for r in await srv.routes.get_list()] == ["billing-r"]
    plugin = await srv.plugins.create(name=PLUGIN, config={"add": {"headers": ["x-team:billing"]}})
    assert plugin["service"] == {"id": srv.id}
    route_plugin = await route.plugins.create(name=PLUGIN, config={"remove": {"headers": ["x-debug"]}})
    assert route_plugin["route"] == {"id": route.id}
    assert len(await client.plugins.get_full_list()) == 2
    # its delete removes the routes and plugins first, then the service
    assert await client.services.delete("billing") is True
    assert store.count("services") == store.count("routes") == store.count("plugins") == 0


async def test_consumers_credentials_and_acls(cli) -> None:
    client, store = cli
    consumer = await client.consumers.create(username="alice", custom_id="a-1")
    key = await consumer.keyauths.create_or_update_credentials({"key": "alice-key"})
    assert key["key"] == "alice-key" and key["consumer"] == {"id": consumer.id}
    # same key again: found and updated, not duplicated
    again = await consumer.keyauths.create_or_update_credentials({"key": "alice-key", "tags": "t1"})
    assert again["id"] == key["id"] and again["tags"] == ["t1"]
    basic = await consumer.basicauths.create_or_update_credentials({"username": "alice-b", "password": "pw"})
    assert basic["username"] == "alice-b"
    generated = await consumer.keyauths.get_or_create()
    assert generated["key"]
    acl = await consumer.acls.create(group="gold")
    assert acl["group"] == "gold"
    assert [a["group"] for a in await consumer.acls.get_list()] == ["gold"]
    assert store.count("keyauth_credentials") == 1 and store.count("basicauth_credentials") == 1
    await consumer.acls.delete(acl.id)
    assert await client.consumers.delete("alice") is True
    assert store.count("keyauth_credentials") == 0  # cascaded with the consumer


async def test_pagination(cli) -> None:
    client, _store = cli
    for i in range(25):
        await client.consumers.create(username=f"user-{i:02}")
    everyone = await client.consumers.get_full_list(size=7)
    assert [c.username for c in everyone] == [f"user-{i:02}" for i in range(25)]
    first = await client.consumers.get_list(size=10)
    assert len(first) == 10
    assert await client.consumers.delete_all() == 25


async def test_apply_json(cli) -> None:
    client, store = cli
    result = await client.apply_json({
        "services": [{
            "name": "catalog", "host": "catalog.internal", "port": 80,
            "routes": [{"name": "catalog-r", "paths": ["/catalog"]}],
            "plugins": [{"name": PLUGIN, "config": {"add": {"headers": ["x-a:1"]}}}],
        }],
        "consumers": [{"username": "bob", "groups": ["silver"],
                       "auths": [{"type": "key-auth", "config": {"key": "bob-key"}}]}],
    })
    assert result["services"][0]["name"] == "catalog"
    assert store.find("routes", "catalog-r") is not None
    assert store.find("keyauth_credentials", "bob-key") is not None
    assert [a["group"] for a in store.all("acls")] == ["silver"]


async def test_errors_carry_kong_bodies(cli) -> None:
    client, _store = cli
    await client.services.create(name="dup", host="h")
    with pytest.raises(KongResponseError) as info:
        await client.services.create(name="dup", host="h")
    assert info.value.status == 409
    assert info.value.message["message"] == "UNIQUE violation detected on '{name=\"dup\"}'"
    with pytest.raises(KongResponseError) as info:
        await client.services.get("missing")
    assert info.value.status == 404 and info.value.message["message"] == "Not found"
    with pytest.raises(KongResponseError) as info:
        await client.routes.create(paths=["no-slash"])
    assert info.value.status == 400 and info.value.message["code"] == 2


async def test_jwt_flows(cli) -> None:
    """aio-kong's tests/test_plugins.py: test_jwt_create, test_jwt_delete, test_get_or_create_jwt."""
    client, store = cli
    consumer = await client.consumers.create(username="test-xx")
    jwt = await consumer.jwts.create()
    assert jwt["consumer"]["id"] == consumer.id and jwt["algorithm"] == "HS256" and jwt["key"] and jwt["secret"]
    listed = [d for d in await consumer.jwts.get_list() if d["id"] == jwt["id"]]
    assert listed
    jwt2 = await consumer.jwts.get(jwt["id"])
    assert jwt.data == jwt2.data

    gone = await consumer.jwts.create()
    await consumer.jwts.delete(gone["id"])
    with pytest.raises(KongResponseError) as e:
        await consumer.jwts.delete(gone["id"])
    assert e.value.response.status == 404

    other = await client.consumers.create(username="test-yy")
    first = await other.jwts.get_or_create()
    second = await other.jwts.get_or_create()
    assert first.data == second.data
    assert store.count("jwt_secrets") == 2


async def test_jwt_plugin_and_rs256_secret(cli) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    client, store = cli
    srv = await client.services.create(name="api", host="api.internal")
    plugin = await srv.plugins.create(name="jwt", config={"claims_to_verify": ["exp"], "key_claim_name": "kid"})
    assert plugin["config"]["claims_to_verify"] == ["exp"] and plugin["config"]["uri_param_names"] == ["jwt"]
    with pytest.raises(KongResponseError) as e:
        await srv.plugins.create(name="jwt", config={"maximum_expiration": 60, "claims_to_verify": ["nbf"]})
    assert e.value.response.status == 400
    consumer = await client.consumers.create(username="rsa-user")
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    secret = await consumer.jwts.create_credentials(data={"key": "rsa-kid", "algorithm": "RS256", "rsa_public_key": pem})
    assert secret["algorithm"] == "RS256" and secret["rsa_public_key"] == pem
    with pytest.raises(KongResponseError) as e:
        await consumer.jwts.create_credentials(data={"key": "bad", "algorithm": "RS256", "rsa_public_key": "test"})
    assert e.value.response.status == 400
    assert store.count("jwt_secrets") == 1


# -- certificates: aio-kong's own tests/test_kong.py flows (test_add_certificate, test_snis) -------
async def test_add_certificate(cli) -> None:
    """aio-kong test_add_certificate: a certificate answers its ``snis`` (none yet), its nested
    SNI list is empty, and it can be deleted."""
    from tls_support import CA

    pair = CA().issue("one.test", kind="rsa")
    client, store = cli
    c = await client.certificates.create(cert=pair.cert, key=pair.key)
    assert c.id
    assert len(c.data["snis"]) == 0
    assert await c.snis.get_list() == []
    await client.certificates.delete(c.id)
    assert store.count("certificates") == 0


async def test_snis_apply_json(cli) -> None:
    """aio-kong test_snis: SNIs created, re-pointed to the other certificate and listed through
    ``apply_json``. Deliberate difference from the library's own assertion: Kong 3.x answers SNIs
    with ``updated_at`` too, so it is dropped with ``created_at`` and ``id`` before comparing."""
    from tls_support import CA

    ca = CA()
    client, _store = cli
    p1, p2 = ca.issue("c1.test"), ca.issue("c2.test", kind="rsa")
    c1 = await client.certificates.create(cert=p1.cert, key=p1.key)
    c2 = await client.certificates.create(cert=p2.cert, key=p2.key)
    config = {"snis": [
        {"name": "a1.example.com", "certificate": {"id": c1["id"]}, "tags": ["foo"]},
        {"name": "a2.example.com", "certificate": {"id": c2["id"]}, "tags": ["one", "two"]},
    ]}

    def strip(snis: list[dict]) -> list[dict]:
        return [{k: v for k, v in s.items() if k not in ("created_at", "updated_at", "id")} for s in snis]

    resp = await client.apply_json(config)
    assert strip(resp["snis"]) == config["snis"]
    config["snis"][0]["certificate"] = {"id": c2["id"]}
    config["snis"][1]["certificate"] = {"id": c1["id"]}
    resp = await client.apply_json(config)
    assert strip(resp["snis"]) == config["snis"]
    snis = await client.snis.get_list()
    assert {s.data["name"]: s.data["certificate"]["id"] for s in snis} == {
        s["name"]: s["certificate"]["id"] for s in config["snis"]}
    # the certificates answer their SNIs by name
    assert (await client.certificates.get(c1.id)).data["snis"] == ["a2.example.com"]
