"""oauth2 entities through the Admin API (spec/03-plugins/25-oauth2/02-api_spec.lua), the plugin
schema (01-schema_spec.lua), the secret hashing (05-kdf_spec.lua's PBKDF2 strings) and decK files
carrying oauth2_credentials nested under consumers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from admin_support import admin_client, call
from aiohttp.test_utils import TestClient
from test_store_support import drift_after_edit

from konnect_desktop import plugins
from konnect_desktop.model import declarative, diff
from konnect_desktop.model.entities import oauth2_secret_hash, oauth2_secret_verify
from konnect_desktop.runtime.store import Store


@pytest.fixture
async def client(tmp_path):
    async with admin_client(tmp_path / "kong.db") as c:
        yield c



def test_secret_hashing() -> None:
    phc = oauth2_secret_hash("test")
    assert re.fullmatch(r"\$pbkdf2-sha512\$i=10000,l=32\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", phc)
    assert oauth2_secret_verify("test", phc) and not oauth2_secret_verify("invalid", phc)
    assert not oauth2_secret_verify("test", "test") and not oauth2_secret_verify(None, phc)


async def test_credentials_api(client: TestClient) -> None:
    """02-api_spec.lua /consumers/:consumer/oauth2/: "creates a oauth2 credential", "... with
    multiple redirect_uris", "creates multiple oauth2 credentials with the same client_secret",
    "creates oauth2 credential with a hashed auto-generated client_secret", "... with a hashed
    client_secret", "... without hashing the auto-generated client_secret", "... without hashing the
    client_secret", "returns bad request", "returns bad request with invalid redirect_uris", PUT
    "creates an oauth2 credential", GET "retrieves oauth2 credential by client id", "retrieves
    credential by clientid only if the credential belongs to the specified consumer", PATCH
    "updates a credential by client id", "handles invalid input", "updating client_secret requires
    hash_secret", "updating hash_secret requires client_secret"; /oauth2 "does not create oauth2
    credential when missing consumer"; /oauth2_tokens "creates a oauth2 token", "returns bad
    request", "retrieves oauth2 token by access_token"."""
    _, bob = await call(client, "POST", "/consumers", {"username": "bob"})
    await call(client, "POST", "/consumers", {"username": "alice"})
    status, cred = await call(client, "POST", "/consumers/bob/oauth2", {"name": "Test APP", "redirect_uris": ["http://google.test/"]})
    assert status == 201 and cred["consumer"]["id"] == bob["id"] and cred["hash_secret"] is False
    assert re.fullmatch(r"\w{32}", cred["client_id"]) and re.fullmatch(r"\w{32}", cred["client_secret"])
    assert cred["client_type"] == "confidential"
    status, multi = await call(client, "POST", "/consumers/bob/oauth2", {"name": "Multi", "redirect_uris": ["http://a.test/", "http://b.test/"]})
    assert status == 201 and multi["redirect_uris"] == ["http://a.test/", "http://b.test/"]
    for _ in range(2):
        status, same = await call(client, "POST", "/consumers/bob/oauth2", {"name": "Same", "client_secret": "shared"})
        assert status == 201 and same["client_secret"] == "shared"
    status, hashed = await call(client, "POST", "/consumers/bob/oauth2", {"name": "H", "hash_secret": True})
    assert status == 201 and hashed["client_secret"].startswith("$pbkdf2-sha512$")
    status, hashed = await call(client, "POST", "/consumers/bob/oauth2", {"name": "H2", "hash_secret": True, "client_secret": "test"})
    assert oauth2_secret_verify("test", hashed["client_secret"]) and not oauth2_secret_verify("invalid", hashed["client_secret"])
    status, plain = await call(client, "POST", "/consumers/bob/oauth2", {"name": "P", "client_secret": "test"})
    assert plain["client_secret"] == "test"

    status, body = await call(client, "POST", "/consumers/bob/oauth2", {})
    assert status == 400 and body["fields"] == {"name": "required field missing"}
    for uris, expected in ((["not-valid"], ["cannot parse 'not-valid'"]),
                           (["http://test.test/#with-fragment"], ["fragment not allowed in 'http://test.test/#with-fragment'"]),
                           (["http://valid.test", "not-valid"], [None, "cannot parse 'not-valid'"])):
        status, body = await call(client, "POST", "/consumers/bob/oauth2", {"name": "Bad", "redirect_uris": uris})
        assert status == 400 and body["fields"] == {"redirect_uris": expected}

    status, put = await call(client, "PUT", "/consumers/bob/oauth2/client-one", {"name": "Put APP", "redirect_uris": ["http://google.test/"]})
    assert status == 200 and put["client_id"] == "client-one"
    assert (await call(client, "GET", "/consumers/bob/oauth2/client-one"))[1]["id"] == put["id"]
    assert (await call(client, "GET", "/consumers/alice/oauth2/client-one"))[0] == 404
    status, upd = await call(client, "PATCH", "/consumers/bob/oauth2/client-one", {"name": "4321"})
    assert status == 200 and upd["name"] == "4321"
    status, body = await call(client, "PATCH", "/consumers/bob/oauth2/client-one", {"redirect_uris": ["not-valid"]})
    assert status == 400 and body["fields"] == {"redirect_uris": ["cannot parse 'not-valid'"]}
    together = {"@entity": ["all or none of these fields must be set: 'hash_secret', 'client_secret'"]}
    for patch in ({"client_secret": "test"}, {"hash_secret": True}):
        status, body = await call(client, "PATCH", "/consumers/bob/oauth2/client-one", patch)
        assert status == 400 and body["fields"] == together
    status, both = await call(client, "PATCH", "/consumers/bob/oauth2/client-one", {"client_secret": "new", "hash_secret": True})
    assert status == 200 and oauth2_secret_verify("new", both["client_secret"])

    status, body = await call(client, "POST", "/oauth2", {"name": "orphan"})
    assert status == 400 and body["message"] == "schema violation (consumer: required field missing)"
    _, svc = await call(client, "POST", "/services", {"name": "s", "host": "oauth2_token.test"})
    status, token = await call(client, "POST", "/oauth2_tokens", {"credential": {"id": cred["id"]}, "service": {"id": svc["id"]}, "expires_in": 10})
    assert status == 201 and token["expires_in"] == 10 and token["token_type"] == "bearer" and token["refresh_token"] is None
    assert re.fullmatch(r"\w{32}", token["access_token"])
    status, body = await call(client, "POST", "/oauth2_tokens", {})
    assert status == 400 and body["fields"] == {"expires_in": "required field missing", "credential": "required field missing"}
    assert (await call(client, "GET", f"/oauth2_tokens/{token['access_token']}"))[1]["id"] == token["id"]
    # tokens are runtime data: served by the Admin API, never in the configuration
    assert "oauth2_tokens" not in client.store.export()  # type: ignore[attr-defined]


def test_schema() -> None:
    """01-schema_spec.lua: "does not require `scopes` when `mandatory_scope` is false", "valid when
    both `scopes` when `mandatory_scope` are given", "autogenerates `provision_key` when not
    given", "does not autogenerate `provision_key` when it is given", "sets default
    `auth_header_name` when not given", "sets refresh_token_ttl to default value if not set",
    "sets refresh_token_ttl to too large a value", "defaults to non-persistent refresh tokens",
    "requires at least one flow", "requires `scopes` when `mandatory_scope` is true"."""
    def check(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return plugins.check_plugin({"name": "oauth2", "config": config})

    assert check({"enable_authorization_code": True, "mandatory_scope": False})[1] == {}
    ok, errors = check({"enable_authorization_code": True, "mandatory_scope": True, "scopes": ["email", "info"]})
    assert errors == {} and re.fullmatch(r"\w{32}", ok["config"]["provision_key"])
    assert ok["config"]["auth_header_name"] == "authorization" and ok["config"]["refresh_token_ttl"] == 1209600
    assert ok["config"]["reuse_refresh_token"] is False and ok["config"]["pkce"] == "lax"
    ok, _ = check({"enable_authorization_code": True, "provision_key": "hello", "auth_header_name": "custom_header_name"})
    assert ok["config"]["provision_key"] == "hello" and ok["config"]["auth_header_name"] == "custom_header_name"
    assert check({"enable_authorization_code": True, "refresh_token_ttl": 252979200})[1] == {
        "config": {"refresh_token_ttl": "value should be between 0 and 100000000"}}
    assert check({})[1] == {"config": "at least one of these fields must be true: enable_authorization_code, "
                                      "enable_implicit_grant, enable_client_credentials, enable_password_grant"}
    assert check({"enable_authorization_code": True, "mandatory_scope": True})[1]["config"]["scopes"] == "required field missing"


def test_deck_nested_oauth2_credentials(tmp_path: Any) -> None:
    """decK nests oauth2_credentials under consumers: load, dump and diff round-trip; a hashed
    secret from a Kong dump is kept; the client secret is masked in diff output."""
    phc = oauth2_secret_hash("s3cret")
    text = f"""
_format_version: "3.0"
consumers:
- username: bob
  oauth2_credentials:
  - name: app
    client_id: app-client
    client_secret: "{phc}"
    hash_secret: true
    redirect_uris: [http://app.test/cb]
"""
    store = Store(tmp_path / "kong.db")
    try:
        store.replace_all(declarative.load(text.encode()))
        [cred] = store.all("oauth2_credentials")
        assert cred["client_secret"] == phc and oauth2_secret_verify("s3cret", cred["client_secret"])
        dumped = declarative.to_deck_dict(store.export())
        assert dumped["consumers"][0]["oauth2_credentials"][0]["client_id"] == "app-client"
        plan, change = drift_after_edit(store, text, "http://app.test/cb", "http://app.test/other")
        assert change.table == "oauth2_credentials" and change.fields == ["redirect_uris"]
        assert phc not in diff.render_text(plan)
    finally:
        store.close()


def test_console_redacts_oauth2_parameters() -> None:
    """What a client sends to /oauth2/token and /oauth2/authorize is blanked in the request
    console's history and exports (the provision key included)."""
    from konnect_desktop.console.redact import Redactor

    r = Redactor()
    for name in ("client_secret", "provision_key", "code_verifier", "access_token", "refresh_token"):
        assert r.secret_param(name), name


def test_console_learns_the_runtime_auth_secrets(tmp_path: Any) -> None:
    """The request console scrubs every stored auth secret and the names the auth plugins read
    credentials from (console.redact.runtime_secrets)."""
    from konnect_desktop.console.redact import runtime_secrets

    store = Store(tmp_path / "kong.db")
    try:
        bob = store.insert("consumers", {"username": "bob"})
        ref = {"id": bob["id"]}
        store.insert("jwt_secrets", {"consumer": ref, "key": "iss", "secret": "jwt-secret-value"})
        store.insert("hmacauth_credentials", {"consumer": ref, "username": "h", "secret": "hmac-secret-value"})
        cred = store.insert("oauth2_credentials", {"consumer": ref, "name": "app", "client_secret": "oauth-secret-value"})
        store.insert("oauth2_tokens", {"credential": {"id": cred["id"]}, "expires_in": 5, "access_token": "issued-token-value"})
        store.insert("plugins", {"name": "jwt", "config": {"cookie_names": ["jwt_cookie"]}})
        store.insert("plugins", {"name": "session", "config": {"cookie_name": "sess"}})
        names, values = runtime_secrets(store)
        assert {"jwt_cookie", "jwt", "authorization", "sess", "remember"} <= set(names)
        assert {"jwt-secret-value", "hmac-secret-value", "oauth-secret-value", "issued-token-value"} <= set(values)
    finally:
        store.close()
