"""jwt secrets through the Admin API (spec/03-plugins/16-jwt/02-api_spec.lua) and the plugin's
config schema (spec/03-plugins/16-jwt/06-schema_spec.lua)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from admin_support import admin_client, call
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from konnect_desktop import plugins


@pytest.fixture
async def client(tmp_path):
    async with admin_client(tmp_path / "kong.db") as c:
        yield c



def public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


async def test_jwt_secrets_api(client: TestClient) -> None:
    """02-api_spec.lua POST: "creates a jwt secret", "accepts any given `secret` and `key`
    parameters", "accepts duplicate `secret` parameters across jwt_secrets", "accepts a valid
    public key for RS256 when posted urlencoded", "... as json", "fails with missing
    `rsa_public_key` parameter for RS256 algorithms", "fails with an invalid rsa_public_key for
    RS256 algorithms", "does not fail when `secret` parameter for HS256 algorithms is missing";
    GET "retrieves by id", "retrieves by key"; PATCH "updates a credential by key"; /jwts POST
    "does not create jwt credential when missing consumer"; /jwts/:jwt_key_or_id/consumer
    "retrieve consumer from a JWT id", "retrieve consumer from a JWT key"."""
    _, bob = await call(client, "POST", "/consumers", {"username": "bob"})
    status, created = await call(client, "POST", "/consumers/bob/jwt", {})
    assert status == 201 and created["consumer"] == {"id": bob["id"]} and created["algorithm"] == "HS256"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", created["secret"]) and created["key"]

    status, given = await call(client, "POST", "/consumers/bob/jwt", {"key": "bob2", "secret": "tooshort"})
    assert status == 201 and (given["key"], given["secret"]) == ("bob2", "tooshort")
    status, _ = await call(client, "POST", "/consumers/bob/jwt", {"key": "bob3", "secret": "tooshort"})
    assert status == 201

    pem = public_pem()
    status, _ = await call(client, "POST", "/consumers/bob/jwt/", data={"key": "bob4", "algorithm": "RS256", "rsa_public_key": pem})
    assert status == 201
    status, _ = await call(client, "POST", "/consumers/bob/jwt/", {"key": "bob5", "algorithm": "RS256", "rsa_public_key": pem})
    assert status == 201
    status, body = await call(client, "POST", "/consumers/bob/jwt/", {"key": "bob6", "algorithm": "RS256"})
    assert status == 400 and body["fields"] == {
        "rsa_public_key": "required field missing",
        "@entity": ["failed conditional validation given value of field 'algorithm'"],
    }
    status, body = await call(client, "POST", "/consumers/bob/jwt/", {"key": "bob6", "algorithm": "RS256", "rsa_public_key": "test"})
    assert status == 400 and body["fields"] == {
        "rsa_public_key": "invalid key",
        "@entity": ["failed conditional validation given value of field 'algorithm'"],
    }
    status, hs = await call(client, "POST", "/consumers/bob/jwt/", {"key": "bob7", "algorithm": "HS256"})
    assert status == 201 and re.fullmatch(r"[A-Za-z0-9]{32}", hs["secret"])

    assert (await call(client, "GET", f"/consumers/bob/jwt/{given['id']}"))[0] == 200
    assert (await call(client, "GET", "/consumers/bob/jwt/bob2"))[1]["id"] == given["id"]
    status, patched = await call(client, "PATCH", "/consumers/bob/jwt/bob2", {"key": "alice"})
    assert status == 200 and patched["key"] == "alice"

    status, body = await call(client, "POST", "/jwts", {"key": "orphan"})
    assert status == 400 and body["message"] == "schema violation (consumer: required field missing)"
    status, consumer = await call(client, "GET", f"/jwts/{given['id']}/consumer")
    assert status == 200 and consumer["id"] == bob["id"]
    status, consumer = await call(client, "GET", "/jwts/alice/consumer")
    assert status == 200 and consumer["id"] == bob["id"]


def test_schema() -> None:
    """06-schema_spec.lua: "validates 'maximum_expiration'", "when 'maximum_expiration' is
    negative", "when 'maximum_expiration' is specified without 'exp' in 'claims_to_verify'"."""
    def check(config: dict[str, Any]) -> dict[str, Any]:
        return plugins.check_plugin({"name": "jwt", "config": config})[1]

    ok, errors = plugins.check_plugin({"name": "jwt", "config": {"maximum_expiration": 60, "claims_to_verify": ["exp", "nbf"]}})
    assert errors == {}
    assert ok["config"] == {
        "uri_param_names": ["jwt"], "cookie_names": [], "key_claim_name": "iss", "secret_is_base64": False,
        "claims_to_verify": ["exp", "nbf"], "anonymous": None, "run_on_preflight": True,
        "maximum_expiration": 60, "header_names": ["authorization"], "realm": None,
    }
    for claims in (["exp", "nbf"], ["nbf"]):
        assert check({"maximum_expiration": -1, "claims_to_verify": claims})["config"] == {
            "maximum_expiration": "value should be between 0 and 31536000"}
    errors = check({"maximum_expiration": 60, "claims_to_verify": ["nbf"]})
    assert errors["config"]["claims_to_verify"] == "expected to contain: exp"
    assert check({"claims_to_verify": ["iat"]})["config"] == {"claims_to_verify": ["expected one of: exp, nbf"]}
    assert plugins.check_plugin({"name": "jwt", "consumer": {"id": "5fa9a0c8-4d1c-4b53-9f39-0c3f2a1b8e77"}})[1] == {
        "consumer": "value must be null"}
