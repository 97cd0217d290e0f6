"""basic-auth through real sockets: Kong's spec/03-plugins/10-basic-auth cases, ported.

Each test names the spec file and the ``it`` titles it covers. Credentials are loaded the way a
decK file or ``POST /config`` loads them (``LocalRuntime.load_config``); the Admin API door is
in test_auth_credentials.py.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from e2e_plugin_support import Gateway

from konnect_desktop.model.entities import basicauth_hash

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCESS = "spec/03-plugins/10-basic-auth/03-access_spec.lua"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class World:
    """The first lazy_setup of 03-access_spec.lua: consumer bob with credentials bob:kong,
    user123:password123, user321:password:123; anonymous consumer no-body."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.c, self.svc = gw.cfg()
        c = self.c
        self.bob = c.consumer("bob")
        self.nobody = c.consumer("no-body")
        for user, pw in (("bob", "kong"), ("user123", "password123"), ("user321", "password:123")):
            c.add("basicauth_credentials", username=user, password=pw, consumer={"id": self.bob["id"]})

    def route(self, path: str, config: dict[str, Any] | None = None, **more: dict[str, Any]) -> dict[str, Any]:
        r = self.c.route(self.svc, paths=[path])
        if config is not None:
            self.c.plugin("basic-auth", config, route=r)
        for name, cfg in more.items():
            self.c.plugin(name.replace("_", "-"), cfg, route=r)
        return r


def assert_401(r: Any, realm: str = "test-realm") -> None:
    assert r.status == 401, r
    assert r.json()["message"] == "Unauthorized"
    assert r.header("WWW-Authenticate") == f'Basic realm="{realm}"'


async def test_unauthorized_and_success(gw: Gateway) -> None:
    """03-access_spec.lua, describe "Unauthorized": "returns Unauthorized on missing credentials"
    (realm configured, realm default), "returns 401 Unauthorized on invalid credentials in
    Authorization", "... in Proxy-Authorization", "returns 401 Unauthorized on password only",
    "returns 401 Unauthorized on username only", "returns 401 for valid Base64 encoding",
    "authenticates valid credentials in Authorization" (both), "authenticates with a password
    containing ':'", "authenticates valid credentials in Proxy-Authorization"; describe
    "Consumer headers": "sends Consumer headers to upstream"."""
    w = World(gw)
    w.route("/ba1", {"realm": "test-realm"})
    w.route("/ba2", {})
    await gw.load(w.c)

    assert_401(await gw.request("GET", "/ba1"))
    assert_401(await gw.request("GET", "/ba2"), realm="service")
    assert_401(await gw.request("GET", "/ba1", [("Authorization", "foobar")]))
    assert_401(await gw.request("GET", "/ba1", [("Proxy-Authorization", "foobar")]))
    assert_401(await gw.request("GET", "/ba1", [("Authorization", "Basic a29uZw==")]))  # "kong"
    assert_401(await gw.request("GET", "/ba1", [("Authorization", "Basic Ym9i")]))  # "bob"
    assert_401(await gw.request("GET", "/ba1", [("Authorization", "Basic adXNlcjEyMzpwYXNzd29yZDEyMw==")]))
    assert_401(await gw.request("GET", "/ba1", [("Authorization", basic("bob", "wrong"))]))
    assert_401(await gw.request("GET", "/ba1", [("Authorization", basic("nobody", "kong"))]))

    r = await gw.request("GET", "/ba1", [("Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200
    r = await gw.request("GET", "/ba1", [("Authorization", "Basic dXNlcjEyMzpwYXNzd29yZDEyMw==")])
    assert r.status == 200
    assert r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == "user123"
    r = await gw.request("GET", "/ba1", [("Authorization", "Basic dXNlcjMyMTpwYXNzd29yZDoxMjM=")])
    assert r.status == 200 and r.up_header("x-credential-identifier") == "user321"
    r = await gw.request("GET", "/ba1", [("Proxy-Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200

    # "sends Consumer headers to upstream"; client-sent copies are replaced
    r = await gw.request("GET", "/ba1", [("Authorization", "Basic Ym9iOmtvbmc="), ("X-Consumer-Username", "forged"),
                                         ("X-Anonymous-Consumer", "true")])
    assert r.up_header("x-consumer-id") == w.bob["id"]
    assert r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == "bob"
    assert r.up_header("x-anonymous-consumer") is None
    # a bad Proxy-Authorization falls back to Authorization, as access.lua does
    r = await gw.request("GET", "/ba1", [("Proxy-Authorization", basic("ghost", "x")),
                                         ("Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200


async def test_hide_credentials(gw: Gateway) -> None:
    """03-access_spec.lua, describe "config.hide_credentials": "false sends key to upstream",
    "true doesn't send key to upstream"."""
    w = World(gw)
    w.route("/show", {"realm": "test-realm"})
    w.route("/hide", {"hide_credentials": True})
    await gw.load(w.c)
    r = await gw.request("GET", "/show", [("Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200 and r.up_header("authorization") == "Basic Ym9iOmtvbmc="
    r = await gw.request("GET", "/hide", [("Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200 and r.up_header("authorization") is None
    r = await gw.request("GET", "/hide", [("Proxy-Authorization", "Basic Ym9iOmtvbmc=")])
    assert r.status == 200 and r.up_header("proxy-authorization") is None


async def test_anonymous(gw: Gateway) -> None:
    """03-access_spec.lua, describe "config.anonymous": "works with right credentials and
    anonymous", "works with wrong credentials and anonymous", "works with wrong credentials and
    username in anonymous", "errors when anonymous user doesn't exist"."""
    w = World(gw)
    w.route("/anon-id", {"anonymous": w.nobody["id"]})
    w.route("/anon-name", {"anonymous": "no-body"})
    w.route("/ghost", {"anonymous": "00000000-0000-4000-8000-000000000000"})
    await gw.load(w.c)
    r = await gw.request("GET", "/anon-id", [("Authorization", "Basic dXNlcjEyMzpwYXNzd29yZDEyMw==")])
    assert r.status == 200
    assert r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == "user123"
    assert r.up_header("x-anonymous-consumer") is None
    r = await gw.request("GET", "/anon-id")
    assert r.status == 200
    assert r.up_header("x-anonymous-consumer") == "true"
    assert r.up_header("x-consumer-username") == "no-body"
    assert r.up_header("x-credential-identifier") is None
    r = await gw.request("GET", "/anon-name")
    assert r.status == 200 and r.up_header("x-consumer-username") == "no-body"
    assert (await gw.request("GET", "/ghost")).status == 500


async def test_logical_and_or_with_key_auth(gw: Gateway) -> None:
    """03-access_spec.lua, second describe: "multiple auth without anonymous, logical AND" ("passes
    with all credentials provided", "fails 401, with only the first credential provided", "fails
    401, with only the second credential provided", "fails 401, with no credential provided") and
    "multiple auth with anonymous, logical OR" ("passes with all credentials provided", "passes
    with only the first credential provided", "passes with only the second credential provided",
    "passes with no credential provided")."""
    c, svc = gw.cfg()
    anonymous = c.consumer("Anonymous")
    mickey = c.consumer("Mickey")
    aladdin = c.consumer("Aladdin")
    r_and = c.route(svc, paths=["/and"])
    r_or = c.route(svc, paths=["/or"])
    c.plugin("basic-auth", {}, route=r_and)
    c.plugin("key-auth", {}, route=r_and)
    c.plugin("basic-auth", {"anonymous": anonymous["id"]}, route=r_or)
    c.plugin("key-auth", {"anonymous": anonymous["id"]}, route=r_or)
    c.add("keyauth_credentials", key="Mouse", consumer={"id": mickey["id"]})
    c.add("basicauth_credentials", username="Aladdin", password="OpenSesame", consumer={"id": aladdin["id"]})
    await gw.load(c)
    both = [("apikey", "Mouse"), ("Authorization", "Basic QWxhZGRpbjpPcGVuU2VzYW1l")]

    r = await gw.request("GET", "/and", both)
    assert r.status == 200 and r.up_header("x-anonymous-consumer") is None
    assert r.up_header("x-consumer-id") != anonymous["id"]
    r = await gw.request("GET", "/and", [("apikey", "Mouse")])
    assert r.status == 401
    r = await gw.request("GET", "/and", [("Authorization", "Basic QWxhZGRpbjpPcGVuU2VzYW1l")])
    assert r.status == 401 and r.header("WWW-Authenticate") == "Key"
    assert (await gw.request("GET", "/and")).status == 401

    r = await gw.request("GET", "/or", both)
    assert r.status == 200 and r.up_header("x-anonymous-consumer") is None
    assert r.up_header("x-consumer-id") != anonymous["id"]
    r = await gw.request("GET", "/or", [("apikey", "Mouse")])
    assert r.status == 200 and r.up_header("x-consumer-id") == mickey["id"]
    r = await gw.request("GET", "/or", [("Authorization", "Basic QWxhZGRpbjpPcGVuU2VzYW1l")])
    assert r.status == 200 and r.up_header("x-consumer-id") == aladdin["id"]
    r = await gw.request("GET", "/or")
    assert r.status == 200 and r.up_header("x-anonymous-consumer") == "true"
    assert r.up_header("x-consumer-id") == anonymous["id"]


async def test_hash_dumped_from_kong_verifies(gw: Gateway) -> None:
    """A decK dump of a real Kong carries the stored hash (crypto.lua: sha1(password..consumer_id)):
    loaded here it verifies with the original password (05-declarative_spec.lua loads hashed
    credentials the same way). Deliberate difference: Kong would hash the hash again unless the
    file says ``_transform: false``; here a value already in Kong's stored form is kept."""
    c, svc = gw.cfg()
    bob = c.consumer("bob")
    c.plugin("basic-auth", {}, route=c.route(svc, paths=["/dump"]))
    stored = hashlib.sha1(("kong" + bob["id"]).encode()).hexdigest()
    c.add("basicauth_credentials", username="bob", password=stored, consumer={"id": bob["id"]})
    await gw.load(c)
    assert (await gw.request("GET", "/dump", [("Authorization", basic("bob", "kong"))])).status == 200
    assert (await gw.request("GET", "/dump", [("Authorization", basic("bob", stored))])).status == 401
    [cred] = gw.runtime.store.all("basicauth_credentials")
    assert cred["password"] == stored == basicauth_hash(bob["id"], "kong")


async def test_decisions(gw: Gateway) -> None:
    """The gateway insight gets one decision per request, never the password."""
    w = World(gw)
    w.route("/dec", {})
    await gw.load(w.c)
    r = await gw.request("GET", "/dec", [("Authorization", basic("bob", "kong"))])
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None
    decisions = [d for d in entry.decisions if d.plugin == "basic-auth"]
    assert [d.outcome for d in decisions] == ["pass"]
    assert "kong" not in repr(decisions) and "Ym9i" not in repr(decisions)
