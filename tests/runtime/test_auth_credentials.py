"""Auth credentials as entities. basic-auth: Kong's hashing on write through the Admin API (ported
from spec/03-plugins/10-basic-auth/02-api_spec.lua and 01-crypto_spec.lua), decK files carrying
the hash, and a diff that shows no drift for it (decK never compares basic-auth passwords). All
three kinds nested under consumers in decK files, round-tripped through the store."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from admin_support import admin_client, call
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from test_store_support import drift_after_edit

from konnect_desktop.model import declarative, diff
from konnect_desktop.model.entities import basicauth_hash
from konnect_desktop.runtime.store import Store

API = "spec/03-plugins/10-basic-auth/02-api_spec.lua"


@pytest.fixture
async def client(tmp_path):
    async with admin_client(tmp_path / "kong.db") as c:
        yield c



def test_crypto() -> None:
    """01-crypto_spec.lua: "hashs a credential with consumer_id salt", "substitutes empty string
    for password equal to nil"."""
    value = basicauth_hash("id123", "pass123")
    assert len(value) == 40 and value == hashlib.sha1(b"pass123id123").hexdigest()
    assert basicauth_hash("id123", None) == basicauth_hash("id123", "")


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40), st.uuids())
def test_crypto_matches_kong_formula(password: str, consumer_id: Any) -> None:
    assert basicauth_hash(str(consumer_id), password) == hashlib.sha1((password + str(consumer_id)).encode()).hexdigest()


async def test_admin_api_hashes_on_write(client: TestClient) -> None:
    """02-api_spec.lua: "creates a basic-auth credential", "hashes the password", "hashes the
    password without trimming whitespace", "returns bad request", "cannot create two identical
    usernames", PUT "creates a basic-auth credential", PATCH "updates a credential by id",
    "ignores a nil password when updated by id", "updates a credential by username", "ignores a
    nil password when updated by username", "retrieves basic-auth credential by username",
    "retrieves credential by id only if the credential belongs to the specified consumer",
    /basic-auths "retrieves all the basic-auths with trailing slash"."""
    status, bob = await call(client, "POST", "/consumers", {"username": "bob"})
    assert status == 201
    await call(client, "POST", "/consumers", {"username": "alice"})
    status, cred = await call(client, "POST", "/consumers/bob/basic-auth", {"username": "bob", "password": "kong"})
    assert status == 201
    assert cred["password"] == basicauth_hash(bob["id"], "kong") != "kong"
    assert cred["consumer"] == {"id": bob["id"]}
    status, spaced = await call(client, "POST", "/consumers/bob/basic-auth", {"username": "sp", "password": " kong "})
    assert spaced["password"] == basicauth_hash(bob["id"], " kong ")

    status, body = await call(client, "POST", "/consumers/bob/basic-auth", {})
    assert status == 400 and body["fields"] == {"username": "required field missing", "password": "required field missing"}
    status, _ = await call(client, "POST", "/consumers/bob/basic-auth", {"username": "bob", "password": "kong"})
    assert status == 409

    status, put = await call(client, "PUT", "/consumers/bob/basic-auth/robert", {"password": "kong"})
    assert status == 200 and put["username"] == "robert" and put["password"] == basicauth_hash(bob["id"], "kong")

    status, upd = await call(client, "PATCH", f"/consumers/bob/basic-auth/{cred['id']}", {"password": "4321"})
    assert status == 200 and upd["password"] == basicauth_hash(bob["id"], "4321")
    status, upd2 = await call(client, "PATCH", f"/consumers/bob/basic-auth/{cred['id']}", {"username": "Tyrion Lannister"})
    assert upd2["username"] == "Tyrion Lannister" and upd2["password"] == upd["password"]
    status, upd3 = await call(client, "PATCH", "/consumers/bob/basic-auth/Tyrion Lannister", {"password": "upd4321"})
    assert upd3["password"] == basicauth_hash(bob["id"], "upd4321")

    status, got = await call(client, "GET", "/consumers/bob/basic-auth/robert")
    assert status == 200 and got["id"] == put["id"]
    assert (await call(client, "GET", f"/consumers/alice/basic-auth/{put['id']}"))[0] == 404
    status, listing = await call(client, "GET", "/basic-auths/")
    assert status == 200 and len(listing["data"]) == 3
    status, top = await call(client, "GET", f"/basic-auths/{put['id']}")
    assert status == 200 and top["username"] == "robert"


def test_deck_file_hash_and_no_drift(tmp_path: Any) -> None:
    """A decK dump of Kong carries the hash: loading it stores the hash as is (it verifies, see
    test_e2e_plugins_basic_auth.py), the dump writes it back, and diffing the file against the
    store — or a file with the plain password against the store — plans nothing (decK ignores
    basic-auth passwords)."""
    store = Store(tmp_path / "kong.db")
    try:
        consumer_id = "5b8f3a2e-8c1b-4a57-9f0e-0a6c3c2b9d10"
        stored = basicauth_hash(consumer_id, "kong")
        text = f"""
_format_version: "3.0"
consumers:
- username: bob
  id: {consumer_id}
  basicauth_credentials:
  - username: bob
    password: {stored}
"""
        cfg = declarative.load(text.encode())
        store.replace_all(cfg)
        [cred] = store.all("basicauth_credentials")
        assert cred["password"] == stored
        dumped = declarative.to_deck_dict(store.export())
        assert dumped["consumers"][0]["basicauth_credentials"][0]["password"] == stored
        assert not diff.plan(store.export(), cfg).changes
        plain = declarative.load(text.replace(stored, "kong").encode())
        assert not diff.plan(store.export(), plain).changes

        # a plain password in a file is hashed on load like Kong's declarative import
        store.replace_all(plain)
        assert store.all("basicauth_credentials")[0]["password"] == stored
        # `_transform: false` stores the file's value untouched
        raw = declarative.load(("_transform: false\n" + text.replace(stored, "kong")).encode())
        store.replace_all(raw)
        assert store.all("basicauth_credentials")[0]["password"] == "kong"
    finally:
        store.close()


def test_deck_nested_credentials_round_trip(tmp_path: Any) -> None:
    """decK nests every auth credential under its consumer (basicauth_credentials, jwt_secrets,
    hmacauth_credentials): load → store → dump gives the same nesting, and diffing the dump
    against the store plans nothing. Secrets are masked in diff output."""
    text = """
_format_version: "3.0"
consumers:
- username: alice
  basicauth_credentials:
  - username: alice
    password: open-sesame
  jwt_secrets:
  - key: alice-iss
    secret: alice-jwt-secret
    algorithm: HS256
  hmacauth_credentials:
  - username: alice-hmac
    secret: alice-hmac-secret
plugins:
- name: jwt
  config:
    claims_to_verify: [exp]
- name: hmac-auth
  config:
    enforce_headers: [date]
"""
    store = Store(tmp_path / "kong.db")
    try:
        store.replace_all(declarative.load(text.encode()))
        dumped = declarative.to_deck_dict(store.export())
        [alice] = dumped["consumers"]
        assert [c["key"] for c in alice["jwt_secrets"]] == ["alice-iss"]
        assert [c["username"] for c in alice["hmacauth_credentials"]] == ["alice-hmac"]
        assert alice["basicauth_credentials"][0]["password"] == basicauth_hash(store.all("consumers")[0]["id"], "open-sesame")
        # a changed jwt secret is drift, shown masked
        plan, change = drift_after_edit(store, text, "alice-jwt-secret", "rotated")
        assert change.table == "jwt_secrets" and change.fields == ["secret"]
        assert "rotated" not in diff.render_text(plan) and "alice-jwt-secret" not in diff.render_text(plan)
    finally:
        store.close()


async def test_sync_to_local_then_no_drift(tmp_path: Any) -> None:
    """decK sync of every auth credential kind into the local runtime's store (through the
    replication engine, as `konnect-desktop sync` does), then a diff of the same file: nothing to
    do — the basic-auth password and the hashed oauth2 client secret are stored hashed and still
    match what the file says."""
    from konnect_desktop.controlplanes.local import LocalControlPlane
    from konnect_desktop.controlplanes.sync import apply

    text = b"""
_format_version: "3.0"
consumers:
- username: alice
  basicauth_credentials: [{username: alice, password: open-sesame}]
  jwt_secrets: [{key: alice-iss, secret: alice-jwt-secret}]
  hmacauth_credentials: [{username: alice-hmac, secret: alice-hmac-secret}]
  oauth2_credentials:
  - {name: app, client_id: app-client, client_secret: app-secret, hash_secret: true, redirect_uris: [http://app.test/cb]}
  - {name: plain-app, client_id: plain-client, client_secret: plain-secret, redirect_uris: [http://app.test/cb]}
"""
    store = Store(tmp_path / "kong.db")
    cp = LocalControlPlane(store=store, name="sync-test")
    try:
        desired = declarative.load(text)
        report = await apply(diff.plan(await cp.export(), desired), cp)
        assert report.ok, report.failed
        assert store.all("basicauth_credentials")[0]["password"] == basicauth_hash(store.all("consumers")[0]["id"], "open-sesame")
        hashed = store.get("oauth2_credentials", "app-client")["client_secret"]
        assert hashed.startswith("$pbkdf2-sha512$")
        assert not diff.plan(await cp.export(), declarative.load(text)).changes
        changed = declarative.load(text.replace(b"app-secret", b"other-secret"))
        [change] = diff.plan(await cp.export(), changed).changes
        assert change.table == "oauth2_credentials" and change.fields == ["client_secret"]
    finally:
        await cp.close()
        store.close()
