"""key-auth and acl through real sockets: the rows of KONG-REFERENCE §5.1 and §5.2."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_plugin_support import Cfg, Gateway

from konnect_desktop.plugins import auth_common

pytestmark = pytest.mark.asyncio(loop_scope="module")


class World:
    """Consumers alice (custom_id, key 'kong', groups admin+ops), bob (key 'bobkey', group users),
    carol (key 'carolkey', no groups), anon (no key); an expired key 'oldkey' for bob."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.c, self.svc = gw.cfg()
        c = self.c
        self.alice = c.consumer("alice", custom_id="cust-alice")
        self.bob = c.consumer("bob")
        self.carol = c.consumer("carol")
        self.anon = c.consumer("anon")
        self.alice_cred = c.add("keyauth_credentials", key="kong", consumer={"id": self.alice["id"]})
        c.add("keyauth_credentials", key="bobkey", consumer={"id": self.bob["id"]})
        c.add("keyauth_credentials", key="carolkey", consumer={"id": self.carol["id"]})
        for consumer, group in ((self.alice, "admin"), (self.alice, "ops"), (self.bob, "users")):
            c.add("acls", consumer={"id": consumer["id"]}, group=group)

    def route(self, path: str, key_auth: dict[str, Any] | None = None, acl: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.c.route(self.svc, paths=[path])
        if key_auth is not None:
            self.c.plugin("key-auth", key_auth, route=r)
        if acl is not None:
            self.c.plugin("acl", acl, route=r)
        return r

    async def load(self) -> None:
        await self.gw.load(self.c)


def assert_401(r: Any, message: str, challenge: str = "Key") -> None:
    assert r.status == 401, r
    assert r.json()["message"] == message
    assert r.header("WWW-Authenticate") == challenge


# -- key-auth -------------------------------------------------------------------------------------
async def test_key_auth(gw: Gateway) -> None:
    w = World(gw)
    w.route("/ka", {})
    w.route("/realm", {"realm": "test-realm"})
    w.route("/hide", {"hide_credentials": True, "key_in_body": True})
    w.route("/body", {"key_in_body": True})
    w.route("/nopre", {"run_on_preflight": False})
    w.route("/anon", {"anonymous": w.anon["username"]})
    w.route("/ghost", {"anonymous": "ghost"})
    await w.load()

    # success: header or query; identity headers upstream, forged ones replaced
    r = await gw.request("GET", "/ka", [("apikey", "kong"), ("X-Consumer-Username", "forged"),
                                        ("X-Anonymous-Consumer", "true")])
    assert r.status == 200
    assert r.up_header("x-consumer-id") == w.alice["id"]
    assert r.up_header("x-consumer-custom-id") == "cust-alice"
    assert r.up_header("x-consumer-username") == "alice"
    assert r.up_header("x-credential-identifier") == w.alice_cred["id"]
    assert r.up_header("x-anonymous-consumer") is None
    assert r.up_header("apikey") == "kong"
    assert (await gw.request("GET", "/ka?apikey=kong")).status == 200
    r = await gw.request("GET", "/ka", [("apikey", "bobkey"), ("X-Consumer-Custom-ID", "forged")])
    assert r.up_header("x-consumer-custom-id") is None

    # failures
    assert_401(await gw.request("GET", "/ka"), "No API key found in request")
    assert_401(await gw.request("GET", "/ka", [("apikey", "")]), "No API key found in request")
    assert_401(await gw.request("GET", "/ka?apikey"), "No API key found in request")
    assert_401(await gw.request("GET", "/ka?apikey[]=kong"), "No API key found in request")
    assert_401(await gw.request("GET", "/ka?apikey=a&apikey=b"), "Duplicate API key found")
    assert_401(await gw.request("GET", "/ka", [("apikey", "kong"), ("apikey", "kong")]), "Duplicate API key found")
    assert_401(await gw.request("GET", "/ka", [("apikey", "nope")]), "Unauthorized")
    assert_401(await gw.request("GET", "/realm"), "No API key found in request", 'Key realm="test-realm"')

    # hide_credentials: gone from header, query and body
    r = await gw.request("POST", "/hide?apikey=kong&x=1", [("Content-Type", "application/json")], '{"keep":1}')
    assert r.status == 200 and r.echo["args"] == {"x": "1"}
    r = await gw.request("GET", "/hide", [("apikey", "kong")])
    assert r.up_header("apikey") is None
    r = await gw.request("POST", "/hide", [("Content-Type", "application/json")], '{"apikey":"kong","keep":1}')
    assert r.status == 200 and json.loads(r.echo["data"]) == {"keep": 1}

    # key in body
    r = await gw.request("POST", "/body", [("Content-Type", "application/x-www-form-urlencoded")], "apikey=kong")
    assert r.status == 200 and r.up_header("x-consumer-username") == "alice"
    assert_401(await gw.request("POST", "/ka", [("Content-Type", "application/x-www-form-urlencoded")], "apikey=kong"),
               "No API key found in request")

    # preflight
    assert (await gw.request("OPTIONS", "/nopre")).status == 200
    assert_401(await gw.request("OPTIONS", "/ka"), "No API key found in request")

    # anonymous
    r = await gw.request("GET", "/anon")
    assert r.status == 200 and r.up_header("x-anonymous-consumer") == "true"
    assert r.up_header("x-consumer-username") == "anon" and r.up_header("x-credential-identifier") is None
    r = await gw.request("GET", "/anon", [("apikey", "kong")])
    assert r.up_header("x-consumer-username") == "alice" and r.up_header("x-anonymous-consumer") is None
    r = await gw.request("GET", "/ghost")
    assert r.status == 500 and r.json()["message"] == "anonymous consumer ghost is configured but doesn't exist"


async def test_expired_key(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(gw)
    w.route("/ka", {})
    w.c.add("keyauth_credentials", key="oldkey", consumer={"id": w.bob["id"]}, ttl=1)
    await w.load()
    # the key lives one second: the auth plugins' clock is moved past it instead of waiting
    created = next(c for c in await gw.runtime.store.aio.all("keyauth_credentials") if c["key"] == "oldkey")["created_at"]
    monkeypatch.setattr(auth_common, "clock", lambda: created + 0.5)
    assert (await gw.request("GET", "/ka", [("apikey", "oldkey")])).status == 200
    monkeypatch.setattr(auth_common, "clock", lambda: created + 1.0)
    assert_401(await gw.request("GET", "/ka", [("apikey", "oldkey")]), "Unauthorized")


async def test_decision_has_no_key(gw: Gateway) -> None:
    w = World(gw)
    w.route("/ka", {})
    await w.load()
    r = await gw.request("GET", "/ka", [("apikey", "kong")])
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None
    d = next(d for d in entry.decisions if d.plugin == "key-auth")
    assert d.outcome == "pass" and "alice" in d.summary and "kong" not in json.dumps(d.data)


# -- acl ------------------------------------------------------------------------------------------
async def test_acl(gw: Gateway) -> None:
    w = World(gw)
    w.route("/allow-admin", {}, {"allow": ["admin"]})
    w.route("/deny-ops", {}, {"deny": ["ops"]})
    w.route("/hidden", {}, {"allow": ["admin"], "hide_groups_header": True})
    w.route("/anon-allow", {"anonymous": "anon"}, {"allow": ["admin"]})
    w.route("/anon-deny", {"anonymous": "anon"}, {"deny": ["ops"]})
    w.route("/no-auth", None, {"allow": ["admin"]})
    await w.load()

    r = await gw.request("GET", "/allow-admin", [("apikey", "kong")])
    assert r.status == 200 and r.up_header("x-consumer-groups") == "admin, ops"
    r = await gw.request("GET", "/allow-admin", [("apikey", "bobkey")])
    assert r.status == 403 and r.json()["message"] == "You cannot consume this service"
    assert (await gw.request("GET", "/allow-admin", [("apikey", "carolkey")])).status == 403  # no groups

    assert (await gw.request("GET", "/deny-ops", [("apikey", "kong")])).status == 403
    r = await gw.request("GET", "/deny-ops", [("apikey", "bobkey")])
    assert r.status == 200 and r.up_header("x-consumer-groups") == "users"
    assert (await gw.request("GET", "/deny-ops", [("apikey", "carolkey")])).status == 200

    r = await gw.request("GET", "/hidden", [("apikey", "kong")])
    assert r.status == 200 and r.up_header("x-consumer-groups") is None

    r = await gw.request("GET", "/anon-allow")
    assert r.status == 401 and r.json()["message"] == "Unauthorized"
    assert (await gw.request("GET", "/anon-deny")).status == 200

    r = await gw.request("GET", "/no-auth")
    assert r.status == 401 and r.json()["message"] == "Unauthorized"


async def test_acl_consumer_groups(gw: Gateway) -> None:
    w = World(gw)
    gold = w.c.add("consumer_groups", name="gold")
    w.c.add("consumer_group_consumers", consumer={"id": w.carol["id"]}, consumer_group={"id": gold["id"]})
    w.route("/gold", {}, {"allow": ["gold"], "include_consumer_groups": True})
    w.route("/gold-acl-only", {}, {"allow": ["gold"]})
    await w.load()
    r = await gw.request("GET", "/gold", [("apikey", "carolkey")])
    assert r.status == 200 and r.up_header("x-consumer-groups") == "gold"
    assert (await gw.request("GET", "/gold-acl-only", [("apikey", "carolkey")])).status == 403


async def test_consumer_scoped_plugin_applies_after_auth(gw: Gateway) -> None:
    """A consumer-scoped instance beats the global one once key-auth has identified the consumer."""
    c: Cfg = Cfg()
    svc = c.service(port=gw.echo.port)
    c.route(svc, paths=["/scoped"])
    alice = c.consumer("alice")
    c.add("keyauth_credentials", key="alicekey", consumer={"id": alice["id"]})
    c.add("plugins", name="key-auth", config={"anonymous": None})
    c.add("plugins", name="request-transformer", config={"add": {"headers": ["x-who:everyone"]}})
    c.add("plugins", name="request-transformer", config={"add": {"headers": ["x-who:alice"]}},
          consumer={"id": alice["id"]})
    await gw.load(c)
    assert (await gw.request("GET", "/scoped", [("apikey", "alicekey")])).up_header("x-who") == "alice"
