"""The Admin API over real HTTP (aiohttp server on 127.0.0.1, real SQLite store in tmp_path).

Each test states one thing a Kong client relies on: paths and verbs, status codes, Kong's error
bodies word for word, pagination links, form decoding, and that a refused change leaves the
store as it was.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from admin_support import Api, admin_client
from aiohttp.test_utils import TestClient, TestServer
from pem_fixture import CA_CERT, CERT, KEY

from konnect_desktop import plugins as registry
from konnect_desktop.runtime.admin_api import create_admin_app, require_token_for
from konnect_desktop.runtime.store import Store

PLUGIN = "request-transformer"


@pytest.fixture
async def api(tmp_path):
    async with admin_client(tmp_path / "kong.db") as client:
        yield Api(client, client.store)


def needs_plugin() -> None:
    if registry.get(PLUGIN) is None:  # pragma: no cover - the plugin module is part of the app
        pytest.fail(f"plugin module {PLUGIN} missing")




async def seed(api: Api) -> dict[str, Any]:
    """One of each parent the other entities hang off."""
    out = {
        "service": await api.ok("POST", "/services", 201, json={"name": "svc", "url": "http://up.local:8080/base"}),
        "consumer": await api.ok("POST", "/consumers", 201, json={"username": "alice"}),
        "upstream": await api.ok("POST", "/upstreams", 201, json={"name": "up.local"}),
        "certificate": await api.ok("POST", "/certificates", 201, json={"cert": CERT, "key": KEY}),
    }
    return out


# -- CRUD for every entity ------------------------------------------------------------------------
# (collection, body for POST, patch, field the patch changes, endpoint-key value or None)
def entity_cases(parents: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    sid = parents["service"]["id"]
    cid = parents["consumer"]["id"]
    uid = parents["upstream"]["id"]
    crt = parents["certificate"]["id"]
    return [
        ("/services", {"name": "s2", "host": "a.local"}, {"port": 8081}, "port"),
        ("/routes", {"name": "r2", "paths": ["/r2"], "service": {"id": sid}}, {"strip_path": False}, "strip_path"),
        ("/consumers", {"username": "bob"}, {"custom_id": "b-1"}, "custom_id"),
        ("/consumer_groups", {"name": "gold"}, {"tags": ["t"]}, "tags"),
        ("/plugins", {"name": PLUGIN, "config": {"add": {"headers": ["x-a:1"]}}},
         {"enabled": False}, "enabled"),
        ("/key-auths", {"key": "secret-key-1", "consumer": {"id": cid}}, {"tags": ["k"]}, "tags"),
        ("/acls", {"group": "admins", "consumer": {"id": cid}}, {"tags": ["a"]}, "tags"),
        ("/basic-auths", {"username": "bob-basic", "password": "pw", "consumer": {"id": cid}},
         {"tags": ["b"]}, "tags"),
        ("/jwts", {"key": "iss-1", "secret": "s3cr3t", "consumer": {"id": cid}}, {"algorithm": "HS512"},
         "algorithm"),
        ("/hmac-auths", {"username": "bob-hmac", "consumer": {"id": cid}}, {"tags": ["h"]}, "tags"),
        ("/upstreams", {"name": "other.local"}, {"slots": 100}, "slots"),
        ("/targets", {"target": "10.0.0.1:80", "upstream": {"id": uid}}, {"weight": 5}, "weight"),
        ("/certificates", {"cert": CERT, "key": KEY}, {"tags": ["c"]}, "tags"),
        ("/snis", {"name": "a.example.com", "certificate": {"id": crt}}, {"tags": ["s"]}, "tags"),
        ("/ca_certificates", {"cert": CA_CERT}, {"tags": ["ca"]}, "tags"),
        ("/vaults", {"prefix": "my-env", "name": "env"}, {"description": "d"}, "description"),
    ]


async def test_crud_every_entity(api: Api) -> None:
    needs_plugin()
    parents = await seed(api)
    for path, body, patch, changed in entity_cases(parents):
        created = await api.ok("POST", path, 201, json=body)
        eid = created["id"]
        assert created["created_at"] > 0
        # every schema field is present; unset ones are null
        got = await api.ok("GET", f"{path}/{eid}")
        if path == "/consumer_groups":  # Enterprise wraps it: {"consumer_group": ..., "consumers": [...]}
            got = got["consumer_group"]
        assert got == created, path
        patched = await api.ok("PATCH", f"{path}/{eid}", json=patch)
        assert patched[changed] == patch[changed], path
        listed = await api.ok("GET", path)
        assert eid in [e["id"] for e in listed["data"]], path
        # PUT replaces: fields left out fall back to their defaults
        put = await api.ok("PUT", f"{path}/{eid}", json=body)
        assert put["id"] == eid, path
        await api.ok("DELETE", f"{path}/{eid}", 204)
        assert (await api.call("GET", f"{path}/{eid}")) == (404, {"message": "Not found"}), path
        # deleting again is not an error (idempotent at top level)
        await api.ok("DELETE", f"{path}/{eid}", 204)


async def test_put_upserts_by_id_and_by_endpoint_key(api: Api) -> None:
    created = await api.ok("PUT", "/services/by-name", json={"host": "a.local"})
    assert created["name"] == "by-name"
    again = await api.ok("PUT", "/services/by-name", json={"host": "b.local"})
    assert again["id"] == created["id"] and again["host"] == "b.local"
    new_id = "5a5a5a5a-1111-4222-8333-444455556666"
    by_id = await api.ok("PUT", f"/services/{new_id}", json={"name": "by-id", "host": "c.local"})
    assert by_id["id"] == new_id
    assert (await api.ok("GET", "/services/by-id"))["id"] == new_id
    # no endpoint key on certificates, but Kong's certificates route reads a non-UUID key as an SNI
    # name: PUT creates the certificate with that SNI (routes/certificates.lua prepare_params)
    created = await api.ok("PUT", "/certificates/not-a-uuid", json={"cert": CERT, "key": KEY})
    assert created["snis"] == ["not-a-uuid"]
    # other entities without an endpoint key still need a UUID
    status, body = await api.call("PUT", "/ca_certificates/not-a-uuid", json={"cert": CA_CERT})
    assert status == 400 and body["code"] == 1 and body["name"] == "invalid primary key"


async def test_patch_missing_entity_is_404(api: Api) -> None:
    assert await api.call("PATCH", "/services/nope", json={"port": 1}) == (404, {"message": "Not found"})
    assert await api.call("GET", "/consumers/nope") == (404, {"message": "Not found"})


async def test_endpoint_keys_lookups(api: Api) -> None:
    parents = await seed(api)
    cid = parents["consumer"]["id"]
    await api.ok("POST", f"/consumers/{cid}/key-auth", 201, json={"key": "the-key"})
    assert (await api.ok("GET", "/key-auths/the-key"))["consumer"] == {"id": cid}
    assert (await api.ok("GET", "/consumers/alice"))["id"] == cid
    await api.ok("POST", "/snis", 201, json={"name": "x.example.com", "certificate": {"id": parents["certificate"]["id"]}})
    # a certificate answers to one of its SNI names, as in Kong
    assert (await api.ok("GET", "/certificates/x.example.com"))["id"] == parents["certificate"]["id"]


# -- nested paths ---------------------------------------------------------------------------------
async def test_nested_collections_set_the_parent(api: Api) -> None:
    needs_plugin()
    parents = await seed(api)
    sid = parents["service"]["id"]
    route = await api.ok("POST", "/services/svc/routes", 201, json={"name": "r1", "paths": ["/a"]})
    assert route["service"] == {"id": sid}
    # the body cannot move the child elsewhere: the path's parent wins
    other = await api.ok("POST", "/services", 201, json={"name": "other", "host": "o.local"})
    route2 = await api.ok("POST", "/services/svc/routes", 201,
                          json={"name": "r2", "paths": ["/b"], "service": {"id": other["id"]}})
    assert route2["service"] == {"id": sid}
    plugin = await api.ok("POST", "/routes/r1/plugins", 201, json={"name": PLUGIN})
    assert plugin["route"] == {"id": route["id"]} and plugin["service"] is None
    cred = await api.ok("POST", "/consumers/alice/key-auth", 201, json={})
    assert cred["consumer"] == {"id": parents["consumer"]["id"]} and len(cred["key"]) >= 16
    for nested in ("acls", "basic-auth", "jwt", "hmac-auth", "plugins"):
        assert (await api.ok("GET", f"/consumers/alice/{nested}"))["data"] == []
    acl = await api.ok("POST", "/consumers/alice/acls", 201, json={"group": "g1"})
    # acls answer to their group name under their consumer
    assert (await api.ok("GET", "/consumers/alice/acls/g1"))["id"] == acl["id"]
    target = await api.ok("POST", "/upstreams/up.local/targets", 201, json={"target": "10.1.1.1:8000"})
    assert target["upstream"] == {"id": parents["upstream"]["id"]}
    assert (await api.ok("GET", "/upstreams/up.local/targets/10.1.1.1:8000"))["id"] == target["id"]
    sni = await api.ok("POST", f"/certificates/{parents['certificate']['id']}/snis", 201, json={"name": "n.example.com"})
    assert sni["certificate"] == {"id": parents["certificate"]["id"]}
    listed = await api.ok("GET", "/services/svc/routes")
    assert {r["name"] for r in listed["data"]} == {"r1", "r2"}
    assert (await api.ok("GET", "/services/other/routes"))["data"] == []


async def test_nested_entity_via_wrong_parent_is_404(api: Api) -> None:
    await seed(api)
    await api.ok("POST", "/services", 201, json={"name": "other", "host": "o.local"})
    route = await api.ok("POST", "/services/svc/routes", 201, json={"name": "r1", "paths": ["/a"]})
    assert (await api.ok("GET", f"/services/svc/routes/{route['id']}"))["id"] == route["id"]
    assert (await api.ok("GET", "/services/svc/routes/r1"))["id"] == route["id"]
    nf = (404, {"message": "Not found"})
    assert await api.call("GET", f"/services/other/routes/{route['id']}") == nf
    assert await api.call("PATCH", f"/services/other/routes/{route['id']}", json={"name": "x"}) == nf
    assert await api.call("DELETE", f"/services/other/routes/{route['id']}") == nf
    assert await api.call("GET", "/services/missing/routes") == nf
    assert await api.call("POST", "/services/missing/routes", json={"paths": ["/x"]}) == nf
    # the route is untouched
    assert (await api.ok("GET", "/routes/r1"))["name"] == "r1"
    patched = await api.ok("PATCH", "/services/svc/routes/r1", json={"paths": ["/z"]})
    assert patched["paths"] == ["/z"]
    await api.ok("DELETE", "/services/svc/routes/r1", 204)
    assert await api.call("GET", "/routes/r1") == nf


async def test_foreign_entity_endpoint(api: Api) -> None:
    await seed(api)
    route = await api.ok("POST", "/services/svc/routes", 201, json={"name": "r1", "paths": ["/a"]})
    svc = await api.ok("GET", "/routes/r1/service")
    assert svc["name"] == "svc"
    assert (await api.ok("PATCH", "/routes/r1/service", json={"port": 9000}))["port"] == 9000
    assert await api.call("DELETE", "/routes/r1/service") == (405, {"message": "Method not allowed"})
    # a serviceless route: PUT creates the service and points the route at it, in one change
    lone = await api.ok("POST", "/routes", 201, json={"name": "lone", "paths": ["/l"]})
    assert await api.call("GET", "/routes/lone/service") == (404, {"message": "Not found"})
    assert await api.call("DELETE", "/routes/lone/service") == (404, {"message": "Not found"})
    version = api.store.version
    status, body = await api.call("PUT", "/routes/lone/service", json={"name": "made", "host": 5})
    assert status == 400 and body["fields"] == {"host": "expected a string"}
    assert api.store.version == version and api.store.find("services", "made") is None
    made = await api.ok("PUT", "/routes/lone/service", json={"name": "made", "host": "m.local"})
    assert (await api.ok("GET", f"/routes/{lone['id']}"))["service"] == {"id": made["id"]}
    assert route["service"] is not None


# -- bodies: JSON, forms, multipart --------------------------------------------------------------
async def test_form_bodies_are_decoded_and_typed_by_schema(api: Api) -> None:
    needs_plugin()
    svc = await api.ok("POST", "/services", 201, data={
        "name": "f", "host": "f.local", "port": "8081", "retries": "0", "enabled": "false",
        "tags[]": "a",
    })
    assert (svc["port"], svc["retries"], svc["enabled"], svc["tags"]) == (8081, 0, False, ["a"])
    # repeated keys, name[] and name[n] all make arrays; a lone value for an array field too
    r1 = await api.ok("POST", "/services/f/routes", 201,
                      data=aiohttp.FormData([("paths", "/a"), ("paths", "/b"), ("methods", "GET")]))
    assert r1["paths"] == ["/a", "/b"] and r1["methods"] == ["GET"]
    r2 = await api.ok("POST", "/services/f/routes", 201,
                      data=aiohttp.FormData([("paths[1]", "/c"), ("paths[2]", "/d"), ("strip_path", "false")]))
    assert r2["paths"] == ["/c", "/d"] and r2["strip_path"] is False
    # nested records with dots; inference reaches into the plugin's own config schema
    p = await api.ok("POST", "/services/f/plugins", 201, data=aiohttp.FormData([
        ("name", PLUGIN), ("config.add.headers", "x-a:1"), ("config.add.headers", "x-b:2"),
        ("config.remove.querystring[]", "q"),
    ]))
    assert p["config"]["add"]["headers"] == ["x-a:1", "x-b:2"]
    assert p["config"]["remove"]["querystring"] == ["q"]
    # PATCH by form keeps the other config fields (deep merge)
    p2 = await api.ok("PATCH", f"/plugins/{p['id']}", data={"config.append.headers": "x-c:3"})
    assert p2["config"]["append"]["headers"] == ["x-c:3"] and p2["config"]["add"]["headers"] == ["x-a:1", "x-b:2"]
    # an empty form value means null
    s2 = await api.ok("PATCH", "/services/f", data={"path": ""})
    assert s2["path"] is None
    # a form value that is not a number stays a string and the schema names the field
    status, body = await api.call("PATCH", "/services/f", data={"port": "eighty"})
    assert status == 400 and body["fields"] == {"port": "expected an integer"}


async def test_multipart_bodies(api: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("name", "mp")
    form.add_field("host", "mp.local")
    form.add_field("port", "9090")
    form.add_field("tags", json.dumps(["x", "y"]), content_type="application/json")
    svc = await api.ok("POST", "/services", 201, data=form)
    assert (svc["name"], svc["port"], svc["tags"]) == ("mp", 9090, ["x", "y"])


async def test_body_errors(api: Api) -> None:
    assert await api.call("POST", "/services", data=b"{nope", headers={"Content-Type": "application/json"}) == (
        400, {"message": "Cannot parse JSON body"})
    assert await api.call("POST", "/services", data=b"", headers={"Content-Type": "application/json"}) == (
        400, {"message": "Cannot parse JSON body"})
    bad_utf8 = b'{"name": "\xff\xfe", "host": "x"}'
    assert await api.call("POST", "/services", data=bad_utf8, headers={"Content-Type": "application/json"}) == (
        400, {"message": "Cannot parse JSON body"})
    assert await api.call("POST", "/services", data=b"NaN", headers={"Content-Type": "application/json"}) == (
        400, {"message": "Cannot parse JSON body"})
    status, body = await api.call("POST", "/services", data=b"host=x", headers={"Content-Type": "text/plain"})
    assert status == 415
    status, body = await api.call("POST", "/services", data=b"\xff=\xfe",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "UTF-8" in body["message"]
    status, body = await api.call("POST", "/services", json=[1, 2])
    assert status == 400 and body["code"] == 2
    # numbers too large for anything still get a field error, not a crash
    status, body = await api.call("POST", "/services", json={"host": "h", "port": 10**40})
    assert status == 400 and body["fields"] == {"port": "value should be between 0 and 65535"}
    status, body = await api.call("POST", "/routes", json={"paths": ["/x"], "regex_priority": 10**400})
    assert status == 400 and body["fields"] == {"regex_priority": "expected an integer"}
    status, body = await api.call("POST", "/services", data={"host": "h", "port": "9" * 500})
    assert status == 400 and body["fields"] == {"port": "expected an integer"}
    status, body = await api.call("POST", "/services", data=b'{"host": "h", "port": 1e999}',
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and body["fields"] == {"port": "expected an integer"}
    assert api.store.count("services") == 0


async def test_body_size_limit(tmp_path) -> None:
    store = Store(tmp_path / "k.db")
    async with TestClient(TestServer(create_admin_app(store, max_body=1024))) as client:
        r = await client.post("/services", json={"name": "big", "host": "h", "tags": ["x" * 2000]})
        assert r.status == 413 and await r.json() == {"message": "Request body too large"}
        # chunked upload without Content-Length
        async def gen():
            for _ in range(10):
                yield b"a" * 200

        r = await client.post("/config", data=gen(), headers={"Content-Type": "text/yaml"})
        assert r.status == 413 and await r.json() == {"message": "Request body too large"}
    store.close()


# -- errors ---------------------------------------------------------------------------------------
async def test_error_shapes(api: Api) -> None:
    status, body = await api.call("POST", "/services", json={"name": "s"})
    assert status == 400
    assert body == {"code": 2, "name": "schema violation",
                    "message": "schema violation (host: required field missing)",
                    "fields": {"host": "required field missing"}}
    status, body = await api.call("POST", "/routes", json={"protocols": ["http", "bogus"], "paths": ["/x"]})
    assert status == 400 and body["message"] == (
        "schema violation (protocols.2: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)")
    await api.ok("POST", "/services", 201, json={"name": "svc1", "host": "h"})
    status, body = await api.call("POST", "/services", json={"name": "svc1", "host": "h"})
    assert (status, body) == (409, {"code": 5, "name": "unique constraint violation",
                                    "message": "UNIQUE violation detected on '{name=\"svc1\"}'",
                                    "fields": {"name": "svc1"}})
    missing = "00000000-0000-4000-8000-000000000001"
    status, body = await api.call("POST", "/routes", json={"paths": ["/x"], "service": {"id": missing}})
    assert status == 400 and body == {
        "code": 4, "name": "foreign key violation",
        "message": f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity.",
        "fields": {"service": {"id": missing}}}
    await api.ok("POST", "/services/svc1/routes", 201, json={"paths": ["/y"]})
    status, body = await api.call("DELETE", "/services/svc1")
    assert (status, body) == (400, {"code": 4, "name": "foreign key violation",
                                    "message": "an existing 'routes' entity references this 'services' entity",
                                    "fields": {"@referenced_by": "routes"}})
    assert await api.call("GET", "/no/such/path") == (404, {"message": "Not found"})
    assert await api.call("DELETE", "/services") == (405, {"message": "Method not allowed"})
    assert await api.call("POST", "/services/svc1", json={}) == (405, {"message": "Method not allowed"})
    assert await api.call("GET", "/services/%ff%fe") == (404, {"message": "Not found"})


async def test_unexpected_errors_are_500_without_details(api: Api, caplog) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internals")

    api.store.page = boom  # type: ignore[method-assign]  # a fault inside the store
    status, body = await api.call("GET", "/services")
    assert (status, body) == (500, {"message": "An unexpected error occurred"})
    assert "secret internals" in caplog.text  # logged for the developer, not sent to the client


async def test_trailing_slash_and_head(api: Api) -> None:
    await api.ok("POST", "/services/", 201, json={"name": "t", "host": "h"})
    assert (await api.ok("GET", "/services/t/"))["name"] == "t"
    r = await api.client.head("/services")
    assert r.status == 200 and await r.read() == b""
    r = await api.client.options("/services")
    assert r.status == 204 and "POST" in r.headers["Allow"]


# -- lists ----------------------------------------------------------------------------------------
async def test_pagination(api: Api) -> None:
    assert await api.ok("GET", "/services") == {"data": [], "next": None}
    for i in range(7):
        await api.ok("POST", "/services", 201, json={"name": f"s{i}", "host": "h", "tags": ["all", f"n{i % 2}"]})
    page = await api.ok("GET", "/services?size=3")
    assert [s["name"] for s in page["data"]] == ["s0", "s1", "s2"]
    assert page["next"] == f"/services?offset={page['offset']}&size=3"
    names = [s["name"] for s in page["data"]]
    while page["next"]:
        page = await api.ok("GET", page["next"])
        names += [s["name"] for s in page["data"]]
    assert names == [f"s{i}" for i in range(7)]
    assert "offset" not in page and page["next"] is None
    # tags: a,b is AND, a/b is OR; the next link repeats them
    page = await api.ok("GET", "/services?tags=all,n1&size=2")
    assert [s["name"] for s in page["data"]] == ["s1", "s3"]
    assert page["next"] == f"/services?offset={page['offset']}&tags=all%2Cn1&size=2"
    page = await api.ok("GET", page["next"])
    assert [s["name"] for s in page["data"]] == ["s5"] and page["next"] is None
    page = await api.ok("GET", "/services?tags=n0/n1")
    assert len(page["data"]) == 7
    assert (await api.ok("GET", "/services?tags=nope"))["data"] == []


async def test_default_page_size_is_100(api: Api) -> None:
    api.store.import_entities({"consumers": [{"username": f"u{i:03}"} for i in range(105)]})
    page = await api.ok("GET", "/consumers")
    assert len(page["data"]) == 100 and page["next"] == f"/consumers?offset={page['offset']}"
    page = await api.ok("GET", "/consumers?size=1000")
    assert len(page["data"]) == 105 and page["next"] is None


async def test_nested_pagination_links(api: Api) -> None:
    await seed(api)
    for i in range(3):
        await api.ok("POST", "/services/svc/routes", 201, json={"paths": [f"/p{i}"]})
    page = await api.ok("GET", "/services/svc/routes?size=2")
    assert len(page["data"]) == 2
    assert page["next"] == f"/services/svc/routes?offset={page['offset']}"
    page = await api.ok("GET", page["next"] + "&size=2")
    assert len(page["data"]) == 1 and page["next"] is None


async def test_list_parameter_errors(api: Api) -> None:
    for size in ("abc", ""):
        assert await api.call("GET", f"/services?size={size}") == (
            400, {"code": 9, "name": "invalid size", "message": "size must be a number"})
    for size in ("0", "1001", "2.5", "-1"):
        assert await api.call("GET", f"/services?size={size}") == (
            400, {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"})
    status, body = await api.call("GET", "/services?offset=%%%")
    assert status == 400 and body["code"] == 7 and body["name"] == "invalid offset"
    assert body["message"].startswith("'%%%' is not a valid offset: ")
    status, body = await api.call("GET", "/services?tags=a,b/c")
    assert (status, body) == (400, {"code": 11, "name": "invalid options",
                                    "message": "invalid option (tags: invalid filter syntax)",
                                    "options": {"tags": "invalid filter syntax"}})
    status, body = await api.call("GET", "/services?tags=a,b,c,d,e,f")
    assert status == 400 and body["options"] == {"tags": "cannot query more than 5 tags"}


# -- consumer groups ------------------------------------------------------------------------------
async def test_consumer_group_membership(api: Api) -> None:
    needs_plugin()
    await api.ok("POST", "/consumers", 201, json={"username": "alice"})
    bob = await api.ok("POST", "/consumers", 201, json={"username": "bob"})
    group = await api.ok("POST", "/consumer_groups", 201, json={"name": "gold"})
    added = await api.ok("POST", "/consumer_groups/gold/consumers", 201, json={"consumer": ["alice", bob["id"]]})
    assert added["consumer_group"]["id"] == group["id"]
    assert [c["username"] for c in added["consumers"]] == ["alice", "bob"]
    got = await api.ok("GET", "/consumer_groups/gold")
    assert got["consumer_group"] == group and len(got["consumers"]) == 2
    assert "consumers" not in await api.ok("GET", "/consumer_groups/gold?list_consumers=false")
    members = await api.ok("GET", "/consumer_groups/gold/consumers")
    assert [c["username"] for c in members["data"]] == ["alice", "bob"]
    assert [g["name"] for g in (await api.ok("GET", "/consumers/bob/consumer_groups"))["data"]] == ["gold"]
    # already a member: Kong's unique violation, nothing added
    status, body = await api.call("POST", "/consumer_groups/gold/consumers", json={"consumer": "alice"})
    assert status == 409 and body["code"] == 5
    status, body = await api.call("POST", "/consumer_groups/gold/consumers", json={"consumer": "nobody"})
    assert status == 404 and "nobody" in body["message"]
    status, body = await api.call("POST", "/consumer_groups/gold/consumers", json={})
    assert status == 400 and body["fields"] == {"consumer": "required field missing"}
    plugin = await api.ok("POST", "/consumer_groups/gold/plugins", 201, json={"name": PLUGIN})
    assert plugin["consumer_group"] == {"id": group["id"]}
    await api.ok("DELETE", "/consumer_groups/gold/consumers/alice", 204)
    assert await api.call("DELETE", "/consumer_groups/gold/consumers/alice") == (404, {"message": "Not found"})
    joined = await api.ok("POST", "/consumers/alice/consumer_groups", 201, json={"group": "gold"})
    assert [g["name"] for g in joined["consumer_groups"]] == ["gold"]
    await api.ok("DELETE", "/consumers/alice/consumer_groups/gold", 204)
    await api.ok("DELETE", "/consumer_groups/gold/consumers", 204)
    assert (await api.ok("GET", "/consumer_groups/gold/consumers"))["data"] == []
    # deleting a group removes its memberships and its plugins with it
    await api.ok("POST", "/consumer_groups/gold/consumers", 201, json={"consumer": "bob"})
    await api.ok("DELETE", "/consumer_groups/gold", 204)
    assert (await api.ok("GET", "/consumers/bob/consumer_groups"))["data"] == []
    assert api.store.count("plugins") == 0


# -- information ----------------------------------------------------------------------------------
async def test_root_info(tmp_path) -> None:
    store = Store(tmp_path / "k.db")
    info = {"node_id": "11111111-2222-4333-8444-555555555555", "proxy_listen": ["127.0.0.1:8000"],
            "admin_listen": ["127.0.0.1:8001"]}
    async with TestClient(TestServer(create_admin_app(store, info=lambda: info))) as client:
        needs_plugin()
        await client.post("/plugins", json={"name": PLUGIN})
        body = await (await client.get("/")).json()
    store.close()
    assert body["version"].startswith("3.") and body["tagline"] and body["hostname"]
    assert body["node_id"] == info["node_id"]
    conf = body["configuration"]
    assert conf["database"] == "sqlite" and conf["router_flavor"] == "traditional_compatible"
    assert conf["proxy_listen"] == ["127.0.0.1:8000"] and conf["admin_listen"] == ["127.0.0.1:8001"]
    assert body["plugins"]["enabled_in_cluster"] == [PLUGIN]
    spec = registry.get(PLUGIN)
    assert body["plugins"]["available_on_server"][PLUGIN] == {"version": spec.version, "priority": spec.priority}


async def test_status_and_enabled_plugins(api: Api) -> None:
    status = await api.ok("GET", "/status")
    assert status["database"] == {"reachable": True}
    assert status["server"]["total_requests"] >= 1 and "connections_active" in status["server"]
    assert "workers_lua_vms" in status["memory"]
    enabled = await api.ok("GET", "/plugins/enabled")
    assert PLUGIN in enabled["enabled_plugins"]
    endpoints = (await api.ok("GET", "/endpoints"))["data"]
    for e in ("/services/{services}/routes/{routes}", "/routes/{routes}/service", "/consumers/{consumers}/key-auth",
              "/upstreams/{upstreams}/targets", "/certificates/{certificates}/snis", "/consumer_groups/{consumer_groups}/consumers"):
        assert e in endpoints


async def test_schemas(api: Api) -> None:
    needs_plugin()
    svc = await api.ok("GET", "/schemas/services")
    fields = {next(iter(f)): next(iter(f.values())) for f in svc["fields"]}
    assert fields["host"]["required"] is True and fields["port"]["default"] == 80
    assert fields["protocol"]["one_of"][:2] == ["grpc", "grpcs"]
    assert await api.call("GET", "/schemas/nope") == (404, {"message": "No entity named 'nope'"})
    plugin = await api.ok("GET", f"/schemas/plugins/{PLUGIN}")
    names = [next(iter(f)) for f in plugin["fields"]]
    assert "config" in names and "protocols" in names
    config = next(f["config"] for f in plugin["fields"] if "config" in f)
    assert config["type"] == "record" and any("add" in f for f in config["fields"])
    assert await api.call("GET", "/schemas/plugins/nope") == (404, {"message": "No plugin named 'nope'"})
    ok = {"message": "schema validation successful"}
    assert await api.call("POST", "/schemas/services/validate", json={"host": "h"}) == (200, ok)
    status, body = await api.call("POST", "/schemas/services/validate", json={"port": "x"})
    assert status == 400 and body["code"] == 2 and body["fields"]["host"] == "required field missing"
    assert await api.call("POST", "/schemas/plugins/validate", json={"name": PLUGIN}) == (200, ok)
    status, body = await api.call("POST", "/schemas/plugins/validate", json={"name": "not-a-plugin"})
    assert status == 400 and "not enabled" in body["fields"]["name"]
    # validation stores nothing
    assert api.store.count("services") == 0 and api.store.count("plugins") == 0


async def test_tags_endpoints(api: Api) -> None:
    await api.ok("POST", "/services", 201, json={"name": "a", "host": "h", "tags": ["t1", "t2"]})
    await api.ok("POST", "/consumers", 201, json={"username": "u", "tags": ["t1"]})
    rows = (await api.ok("GET", "/tags"))["data"]
    assert {(r["entity_name"], r["tag"]) for r in rows} == {("services", "t1"), ("services", "t2"), ("consumers", "t1")}
    rows = (await api.ok("GET", "/tags/t1?size=1"))
    assert len(rows["data"]) == 1 and rows["next"].startswith("/tags/t1?offset=")
    rest = await api.ok("GET", rows["next"])
    assert len(rest["data"]) == 1 and rest["next"] is None


# -- safety ---------------------------------------------------------------------------------------
async def test_admin_token(tmp_path) -> None:
    store = Store(tmp_path / "k.db")
    async with TestClient(TestServer(create_admin_app(store, admin_token="s3cret"))) as client:
        for headers in ({}, {"Kong-Admin-Token": "wrong"}, {"Kong-Admin-Token": "s3cret2"}):
            r = await client.get("/services", headers=headers)
            assert r.status == 401 and await r.json() == {"message": "Invalid admin token"}
            r = await client.get("/no/such/path", headers=headers)
            assert r.status == 401
        r = await client.post("/services", json={"host": "h"}, headers={"Kong-Admin-Token": "s3cret"})
        assert r.status == 201
        r = await client.options("/services")  # OPTIONS carries no token: answered without one
        assert r.status == 204 and r.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
        # CORS headers only for an origin the user allowed (test_admin_security)
        assert "Access-Control-Allow-Headers" not in r.headers
    store.close()


def test_require_token_for() -> None:
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"):
        assert require_token_for(host) is False, host
    for host in ("0.0.0.0", "::", "", None, "192.168.1.5", "example.com", "10.0.0.1"):
        assert require_token_for(host) is True, host


# -- declarative /config --------------------------------------------------------------------------
DECK = """\
_format_version: "3.0"
services:
- name: echo
  url: http://httpbin.local:80/anything
  routes:
  - name: echo-r
    paths: [/echo]
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
  acls: [{group: gold}]
"""


async def test_config_post_and_get(api: Api) -> None:
    await api.ok("POST", "/services", 201, json={"name": "old", "host": "h"})
    loaded = await api.ok("POST", "/config", 201, data=DECK, headers={"Content-Type": "text/yaml"})
    assert {e["name"] for e in loaded["services"].values()} == {"echo"}
    assert {e["key"] for e in loaded["keyauth_credentials"].values()} == {"alice-key"}
    # it replaced everything
    assert await api.call("GET", "/services/old") == (404, {"message": "Not found"})
    assert (await api.ok("GET", "/routes/echo-r"))["paths"] == ["/echo"]
    current = (await api.ok("GET", "/config"))["config"]
    assert "echo-r" in current and "alice-key" in current
    # what GET /config gives loads back to the same entities (ids included)
    before = api.store.export()
    await api.ok("POST", "/config", 201, json={"config": current})
    assert api.store.export()["routes"][0]["id"] == before["routes"][0]["id"]
    # the other ways of posting it: a JSON document, a form field, a multipart file
    doc = {"_format_version": "3.0", "consumers": [{"username": "json-user"}]}
    await api.ok("POST", "/config", 201, json=doc)
    assert api.store.find("consumers", "json-user") is not None
    await api.ok("POST", "/config", 201, data={"config": "_format_version: '3.0'\nconsumers: [{username: form-user}]\n"})
    assert api.store.find("consumers", "form-user") is not None
    form = aiohttp.FormData()
    form.add_field("config", DECK.encode(), filename="kong.yaml", content_type="application/x-yaml")
    await api.ok("POST", "/config", 201, data=form)
    assert api.store.find("services", "echo") is not None


async def test_config_invalid_changes_nothing(api: Api) -> None:
    await api.ok("POST", "/config", 201, data=DECK, headers={"Content-Type": "text/yaml"})
    before = api.store.export()
    version = api.store.version
    bad = DECK.replace("paths: [/echo]", "paths: [echo]").replace("url: http://httpbin.local:80/anything", "host: 5")
    status, body = await api.call("POST", "/config", data=bad, headers={"Content-Type": "text/yaml"})
    assert status == 400
    assert body["code"] == 14 and body["name"] == "invalid declarative configuration"
    assert body["message"].startswith("declarative config is invalid: ")
    svc_err = body["fields"]["services"][0]
    assert svc_err["host"] == "expected a string"
    assert svc_err["routes"][0]["paths"] == ["should start with: / (fixed path) or ~/ (regex path)"]
    assert "flattened_errors" not in body
    assert api.store.export() == before and api.store.version == version
    # flattened errors on request, as Kong 3.x gives them
    status, body = await api.call("POST", "/config?flatten_errors=1", data=bad, headers={"Content-Type": "text/yaml"})
    flat = {(e["entity_type"], e.get("entity_name")): e for e in body["flattened_errors"]}
    assert flat[("service", "echo")]["errors"] == [{"type": "field", "field": "host", "message": "expected a string"}]
    route = flat[("route", "echo-r")]
    assert route["entity"]["paths"] == ["echo"]
    assert route["errors"] == [{"type": "field", "field": "paths.1",
                                "message": "should start with: / (fixed path) or ~/ (regex path)"}]
    for body_bytes in (b"", b"::: not yaml [", b"- a list"):
        status, body = await api.call("POST", "/config", data=body_bytes, headers={"Content-Type": "text/yaml"})
        assert status == 400 and body.get("code", 14) == 14, body
    assert api.store.export() == before


# -- change events --------------------------------------------------------------------------------
async def test_changes_reach_store_subscribers(api: Api) -> None:
    seen: list[int] = []
    api.store.subscribe(seen.append)
    await api.ok("POST", "/services", 201, json={"name": "ev", "host": "h"})
    await api.ok("PATCH", "/services/ev", json={"port": 1})
    await api.ok("DELETE", "/services/ev", 204)
    assert len(seen) == 3 and seen == sorted(seen)
    # refused changes commit nothing and notify nobody
    await api.call("POST", "/services", json={"host": 1})
    assert len(seen) == 3
