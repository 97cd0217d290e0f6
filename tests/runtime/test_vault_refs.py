"""Vault references as Kong OSS resolves them: ``{vault://env/NAME}`` (and ``/NAME/key`` for JSON
values, a ``vaults`` entity's ``config.prefix``) in referenceable certificate and plugin fields,
resolved when the runtime builds its configuration, never written back resolved.

Ported where they apply: spec/02-integration/13-vaults/01-vault_spec.lua "create certificates
with cert and key as secret" (the Admin API answers the references; the served certificate is
the resolved one; an unresolved alternative pair is left out), spec/02-integration/04-admin_api/
19-vaults_spec.lua "can create a vault by prefix with config (underscore/dash)", "handles invalid
input by id" (prefix env). Deliberate difference: "handles invalid input by prefix" (PUT
/vaults/env) answers Kong's schema violation (code 2) instead of its "invalid unique prefix"
(code 10): the store reports the field, the message is the same.
"""

from __future__ import annotations

import json

import pytest
from admin_support import admin_client
from test_proxy_support import Cfg, make_runtime
from test_proxy_tls import handshake
from tls_support import CA

from konnect_desktop.model import declarative
from konnect_desktop.runtime.vault import Resolver, VaultError, parse_reference, resolve

CA1 = CA("Vault CA")


def test_parse_and_resolve_env() -> None:
    assert parse_reference("{vault://env/db-password}") == ("env", "db-password", None, None)
    assert parse_reference("{vault://my-vault/creds/user#2}") == ("my-vault", "creds", "user", 2)
    env = {"DB_PASSWORD": "s3cret", "DB_PASSWORD_PREVIOUS": "old", "APP_CREDS": json.dumps({"user": "bob", "n": 7}),
           "SECRETS_TOKEN": "t"}
    r = Resolver([{"prefix": "app", "name": "env", "config": {"prefix": "app_"}},
                  {"prefix": "dash", "name": "env", "config": {"prefix": "secrets-"}}], env)
    assert r.resolve("{vault://env/db-password}") == "s3cret"
    assert r.resolve("{vault://env/db-password#2}") == "old"
    assert r.resolve("{vault://app/creds/user}") == "bob"
    assert r.resolve("{vault://app/creds/n}") == "7"
    assert r.resolve("{vault://dash/token}") == "t"
    for ref, words in (("{vault://env/missing}", "MISSING is not set"), ("{vault://nope/x}", "'nope' is not configured"),
                       ("{vault://app/creds/zzz}", "no key 'zzz'"), ("{vault://env/db-password/k}", "does not hold JSON")):
        with pytest.raises(VaultError, match=words):
            r.resolve(ref)


def test_resolve_only_referenceable_fields_and_never_in_place() -> None:
    config = {
        "plugins": [
            {"id": "p1", "name": "rate-limiting",
             "config": {"policy": "redis", "redis": {"host": "127.0.0.1", "password": "{vault://env/redis-pw}"}}},
            {"id": "p2", "name": "request-transformer",  # not referenceable: stays literal
             "config": {"add": {"headers": ["x-secret:{vault://env/redis-pw}"]}}},
        ],
    }
    out, errors = resolve(config, {"REDIS_PW": "hunter2"})
    assert errors == []
    assert out["plugins"][0]["config"]["redis"]["password"] == "hunter2"
    assert out["plugins"][1] is config["plugins"][1]
    assert config["plugins"][0]["config"]["redis"]["password"] == "{vault://env/redis-pw}"
    _out, errors = resolve(config, {})
    assert errors == ["plugin rate-limiting (p1) config.redis.password: could not resolve {vault://env/redis-pw}: "
                      "environment variable REDIS_PW is not set"]


@pytest.fixture
async def api(tmp_path):
    async with admin_client(tmp_path / "kong.db") as client:
        yield client


async def test_vaults_entity_and_schema(api) -> None:
    for prefix in ("secrets_", "secrets-"):
        r = await api.put("/vaults/put-env-prefix", json={"name": "env", "config": {"prefix": prefix}})
        assert r.status == 200 and (await r.json())["config"] == {"prefix": prefix}
    r = await api.put("/vaults/4a1b1ab5-7b07-4e1c-9ad9-3d0a4bb3a3b1", json={"name": "env", "prefix": "env"})
    assert await r.json() == {"code": 2, "name": "schema violation",
                              "message": "schema violation (prefix: must not be one of: env)",
                              "fields": {"prefix": "must not be one of: env"}}
    r = await api.post("/vaults", json={"name": "hcv", "prefix": "hashi"})
    assert r.status == 400 and (await r.json())["fields"] == {"name": "vault 'hcv' is not installed"}
    r = await api.post("/vaults", json={"name": "env", "prefix": "bad-cfg", "config": {"prefix": "1x", "x": 1}})
    assert (await r.json())["fields"] == {"config": {"prefix": "invalid value: 1x", "x": "unknown field"}}
    r = await api.post("/vaults", json={"name": "env", "prefix": "plain"})
    assert (await r.json())["config"] == {"prefix": None}
    r = await api.get("/schemas/vaults/env")
    body = await r.json()
    config = next(f["config"] for f in body["fields"] if "config" in f)
    assert r.status == 200 and config["fields"][0]["prefix"]["type"] == "string"
    r = await api.get("/schemas/vaults/aws")
    assert r.status == 404 and await r.json() == {"message": "No vault named 'aws'"}


async def test_certificate_from_env_references(tmp_path, monkeypatch) -> None:
    """create certificates with cert and key as secret: the Admin API, the store and a decK dump
    keep the references; the TLS listener serves the resolved certificate; the unresolved
    alternative pair is left out and reported (by field, without a value)."""
    pair = CA1.issue("vault.test", cn="vault.test")
    monkeypatch.setenv("KD_TEST_CERT", pair.cert)
    monkeypatch.setenv("SECRETS_TLS", json.dumps({"key": pair.key}))
    rt = await make_runtime(tmp_path, "vault", proxy_listen_tls=("127.0.0.1", 0))
    try:
        cfg = Cfg()
        cfg.add("vaults", prefix="my-secrets", name="env", config={"prefix": "secrets_"})
        c = cfg.add("certificates", cert="{vault://env/kd-test-cert}", key="{vault://my-secrets/tls/key}",
                    cert_alt="{vault://unknown/cert}", key_alt="{vault://unknown/missing-key}")
        cfg.add("snis", name="vault.test", certificate={"id": c["id"]})
        await rt.load_config(cfg.config())
        cn, _alpn, _ = await handshake(rt.proxy.tls_port, "vault.test", verify=True, ctx=CA1.client_context())
        assert cn == "vault.test"
        assert any(e.startswith(f"certificate {c['id']}.cert_alt: could not resolve {{vault://unknown/cert}}")
                   for e in rt.config_errors)
        assert not any(pair.key in e or pair.cert in e for e in rt.config_errors)
        stored = rt.store.get("certificates", c["id"])
        assert stored["cert"] == "{vault://env/kd-test-cert}" and stored["key"] == "{vault://my-secrets/tls/key}"
        text = declarative.dump(rt.store.export())
        assert "{vault://env/kd-test-cert}" in text and "BEGIN" not in text
        import aiohttp

        async with aiohttp.ClientSession() as s, s.get(f"{rt.admin_url}/certificates/{c['id']}") as r:
            body = await r.json()
        assert body["cert"] == "{vault://env/kd-test-cert}" and body["snis"] == ["vault.test"]
    finally:
        await rt.stop()
