"""hmac-auth credentials through the Admin API (spec/03-plugins/19-hmac-auth/02-api_spec.lua)
and the plugin's config schema (spec/03-plugins/19-hmac-auth/01-schema_spec.lua)."""

from __future__ import annotations

import pytest
from admin_support import admin_client, call
from aiohttp.test_utils import TestClient

from konnect_desktop import plugins


@pytest.fixture
async def client(tmp_path):
    async with admin_client(tmp_path / "kong.db") as c:
        yield c



async def test_hmac_credentials_api(client: TestClient) -> None:
    """02-api_spec.lua: "[SUCCESS] should create a hmac-auth credential", "... with a random
    secret", "... with tags", "[FAILURE] should return proper errors" (POST, PATCH, PUT), "should
    retrieve by id", "should retrieve by username", "[SUCCESS] should update a credential by id",
    "... by username", PUT "[SUCCESS] should create and update", "[SUCCESS] should delete a
    credential", "retrieves all the hmac-auths with trailing slash"."""
    _, bob = await call(client, "POST", "/consumers", {"username": "bob"})
    status, cred = await call(client, "POST", "/consumers/bob/hmac-auth", {"username": "bob", "secret": "1234"})
    assert status == 201 and cred["consumer"]["id"] == bob["id"] and cred["secret"] == "1234"
    status, rnd = await call(client, "POST", "/consumers/bob/hmac-auth", {"username": "bob2", "tags": ["tag1", "tag2"]})
    assert status == 201 and isinstance(rnd["secret"], str) and len(rnd["secret"]) >= 24 and rnd["tags"] == ["tag1", "tag2"]
    status, body = await call(client, "POST", "/consumers/bob/hmac-auth", {})
    assert status == 400 and body["fields"] == {"username": "required field missing"}
    assert (await call(client, "GET", f"/consumers/bob/hmac-auth/{cred['id']}"))[1]["id"] == cred["id"]
    assert (await call(client, "GET", "/consumers/bob/hmac-auth/bob"))[1]["id"] == cred["id"]
    status, upd = await call(client, "PATCH", f"/consumers/bob/hmac-auth/{cred['id']}", {"username": "alice"})
    assert status == 200 and upd["username"] == "alice"
    status, upd = await call(client, "PATCH", "/consumers/bob/hmac-auth/alice", {"username": "aliceUPD"})
    assert status == 200 and upd["username"] == "aliceUPD"
    status, body = await call(client, "PATCH", f"/consumers/bob/hmac-auth/{cred['id']}", {"username": ""})
    assert status == 400 and body["fields"] == {"username": "length must be at least 1"}
    status, put = await call(client, "PUT", "/consumers/bob/hmac-auth/foo", {"secret": "1234"})
    assert status == 200 and put["username"] == "foo" and put["consumer"]["id"] == bob["id"]
    status, body = await call(client, "PUT", "/consumers/bob/hmac-auth/foo", {"secret": 123})
    assert status == 400 and body["fields"] == {"secret": "expected a string"}
    status, listing = await call(client, "GET", "/hmac-auths/")
    assert status == 200 and len(listing["data"]) == 3
    assert (await call(client, "DELETE", "/consumers/bob/hmac-auth/foo"))[0] == 204
    assert (await call(client, "DELETE", "/consumers/bob/hmac-auth/foo"))[0] == 404


def test_schema() -> None:
    """01-schema_spec.lua: "accepts empty config", "accepts correct clock skew", "errors with
    negative clock skew", "errors with wrong algorithm"."""
    ok, errors = plugins.check_plugin({"name": "hmac-auth", "config": {}})
    assert errors == {} and ok["config"] == {
        "hide_credentials": False, "clock_skew": 300, "anonymous": None, "validate_request_body": False,
        "enforce_headers": [], "algorithms": ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"], "realm": None,
    }
    assert plugins.check_plugin({"name": "hmac-auth", "config": {"clock_skew": 10}})[1] == {}
    assert plugins.check_plugin({"name": "hmac-auth", "config": {"clock_skew": -10}})[1]["config"] == {
        "clock_skew": "value must be greater than 0"}
    errors = plugins.check_plugin({"name": "hmac-auth", "config": {"algorithms": ["sha1024"]}})[1]
    assert errors["config"]["algorithms"][0] == "expected one of: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512"
