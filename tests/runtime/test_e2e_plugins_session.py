"""session (storage ``cookie``) with key-auth through real sockets: Kong's
spec/03-plugins/30-session/01-access_spec.lua and 03-session_spec.lua cases, ported.

Deliberate differences (see plugins/session.py): the cookie is our own AES-GCM format, not
lua-resty-session's; for "groups are retrieved from session and headers are set" the spec's ctx-checker test
plugin sets the groups of the first request — here the cookie is sealed with the groups directly
(what the header phase would have stored). The clock is fixed (``auth_common.clock``) and moved to
cross the timeouts.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_plugin_support import AUTH_NOW, Gateway
from fake_clock import FakeClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCESS = "spec/03-plugins/30-session/01-access_spec.lua"
NOW = AUTH_NOW  # the ``clock`` fixture (conftest.py) starts here
REMEMBER_ROLLING_TIMEOUT = 3600


class World:
    """The spec's lazy_setup: consumer coop with key 'kong', anonymous consumer anon, routes with
    session + key-auth (anonymous)."""

    def __init__(self, gw: Gateway) -> None:
        c, svc = gw.cfg()
        self.c = c
        self.coop = c.consumer("coop")
        self.cred = c.add("keyauth_credentials", key="kong", consumer={"id": self.coop["id"]})
        self.anon = c.consumer("anon")
        for path, session_cfg, terminate_anonymous in (
            ("/test1", {}, False),
            ("/test2", {"cookie_name": "da_cookie", "cookie_same_site": "Lax", "cookie_http_only": False,
                        "cookie_secure": False}, True),
            ("/headers", {}, False),
            ("/test5", {"remember_rolling_timeout": REMEMBER_ROLLING_TIMEOUT, "remember": True}, False),
            ("/logout", {"logout_methods": ["GET", "POST", "DELETE"], "read_body_for_logout": True}, False),
            ("/short", {"idling_timeout": 60, "rolling_timeout": 300, "absolute_timeout": 1000,
                        "response_headers": ["id", "timeout", "absolute-timeout"], "request_headers": ["subject"]}, False),
        ):
            r = c.route(svc, paths=[path], strip_path=False)
            c.plugin("session", {"secret": "the-secret", **session_cfg}, route=r)
            c.plugin("key-auth", {"anonymous": self.anon["id"]}, route=r)
            if terminate_anonymous:  # as the spec: request-termination keeps the anonymous consumer out
                c.plugin("request-termination", {"status_code": 403, "message": "So it goes."}, consumer=self.anon, route=r)


def cookie_of(r: Any, name: str = "session") -> str:
    for value in r.headers_all("Set-Cookie"):
        if value.startswith(name + "="):
            return value
    raise AssertionError(f"no {name} cookie in {r.header_list}")


def jar(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0]


async def test_set_cookie_and_authentication(gw: Gateway, clock: FakeClock) -> None:
    """describe "request": "plugin attaches Set-Cookie and cookie response headers", "cookie works
    as authentication after initial auth plugin", "plugin attaches Set-Cookie with max-age/expiry
    when cookie_persistent is true", "consumer headers are set correctly on request"."""
    w = World(gw)
    await gw.load(w.c)
    r = await gw.request("GET", "/test1/status/200", [("apikey", "kong")])
    assert r.status == 200
    parts = cookie_of(r).split("; ")
    assert parts[0].startswith("session=") and parts[1] == "Path=/"
    assert parts[2:5] == ["SameSite=Strict", "Secure", "HttpOnly"]

    r = await gw.request("GET", "/test2/status/200")  # the anonymous consumer stays out
    assert r.status == 403 and r.json()["message"] == "So it goes."
    r = await gw.request("GET", "/test2/status/200", [("apikey", "kong")])
    assert r.status == 200
    parts = cookie_of(r, "da_cookie").split("; ")
    assert parts[2] == "SameSite=Lax" and len(parts) == 3
    r = await gw.request("GET", "/test2/status/200", [("Cookie", jar(cookie_of(r, "da_cookie")))])
    assert r.status == 200 and r.up_header("x-consumer-username") == "coop"

    r = await gw.request("GET", "/test5/status/200", [("apikey", "kong")])
    assert r.status == 200
    assert cookie_of(r).startswith("session=")
    parts = cookie_of(r, "remember").split("; ")
    assert parts[1:5] == ["Path=/", "SameSite=Strict", "Secure", "HttpOnly"]
    assert parts[5].startswith("Expires=") and parts[6] == f"Max-Age={REMEMBER_ROLLING_TIMEOUT}"

    r = await gw.request("GET", "/headers", [("apikey", "kong")])
    r = await gw.request("GET", "/headers", [("Cookie", jar(cookie_of(r))), ("X-Consumer-Custom-ID", "forged")])
    assert r.status == 200
    assert r.up_header("x-consumer-id") == w.coop["id"] and r.up_header("x-consumer-username") == "coop"
    assert r.up_header("x-credential-identifier") == w.cred["id"]
    assert r.up_header("x-anonymous-consumer") is None and r.up_header("x-consumer-custom-id") is None
    assert r.up_header("x-authenticated-groups") is None
    # key-auth (anonymous) saw the request as already authenticated and let it be
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None
    outcomes = {d.plugin: d.outcome for d in entry.decisions}
    assert outcomes == {"session": "pass", "key-auth": "skip"}
    assert "the-secret" not in repr(entry.decisions)


async def test_tampered_and_foreign_cookies(gw: Gateway, clock: FakeClock) -> None:
    """A cookie that does not decrypt under this plugin's secret and audience opens no session."""
    w = World(gw)
    c = w.c
    for path, cfg in (("/other-secret", {"secret": "another-secret"}), ("/other-audience", {"secret": "the-secret", "audience": "app2"})):
        r = c.route(c.tables["services"][0], paths=[path], strip_path=False)
        c.plugin("session", cfg, route=r)
        c.plugin("key-auth", {"anonymous": w.anon["id"]}, route=r)
    await gw.load(c)
    good = jar(cookie_of(await gw.request("GET", "/test1", [("apikey", "kong")])))
    name, value = good.split("=", 1)
    for bad in (f"{name}={value[:-2]}xx", f"{name}=garbage", f"{name}="):
        r = await gw.request("GET", "/test1", [("Cookie", bad)])
        assert r.status == 200 and r.up_header("x-consumer-username") == "anon"
    assert (await gw.request("GET", "/headers", [("Cookie", good)])).up_header("x-consumer-username") == "coop"
    for path in ("/other-secret", "/other-audience"):
        assert (await gw.request("GET", path, [("Cookie", good)])).up_header("x-consumer-username") == "anon", path


async def test_timeouts(gw: Gateway, clock: FakeClock) -> None:
    """/short: idling 60 s, rolling 300 s, absolute 1000 s. Past the idle time the cookie opens no
    session; a cookie in use is renewed (a fresh Set-Cookie, rotated past half the rolling time)
    and lives until the absolute timeout; response_headers / request_headers carry the session
    information."""
    w = World(gw)
    await gw.load(w.c)
    first = jar(cookie_of(await gw.request("GET", "/short", [("apikey", "kong")])))
    clock.now += 61
    assert (await gw.request("GET", "/short", [("Cookie", first)])).up_header("x-consumer-username") == "anon"

    start = clock.now
    cookie = jar(cookie_of(await gw.request("GET", "/short", [("apikey", "kong")])))
    alive = 0
    for _ in range(60):  # used every 30 s
        clock.now += 30
        r = await gw.request("GET", "/short", [("Cookie", cookie)])
        if r.up_header("x-consumer-username") != "coop":
            break
        alive = clock.now - start
        assert r.up_header("session-subject") == "coop" and r.header("Session-Id")
        assert int(r.header("Session-Absolute-Timeout") or 0) == 1000 - (clock.now - start)
        renewed = [v for v in r.headers_all("Set-Cookie") if v.startswith("session=")]
        cookie = jar(renewed[0]) if renewed else cookie
    assert 1000 - 30 < alive <= 1000  # the absolute timeout ends it, not the idle or rolling ones


async def test_logout(gw: Gateway, clock: FakeClock) -> None:
    """03-session_spec.lua: "logs out with GET request", "logs out with POST request with body",
    "logs out with DELETE request with body", "logs out with DELETE request with query params",
    "does not logout with GET requests when method is not allowed", "doesn't log out with POST
    request with body (by default)"; 02-kong_storage_adapter_spec.lua "destroys session on
    logout" (the cookie no longer works — with storage cookie the client drops it: the answer
    expires it)."""
    w = World(gw)
    await gw.load(w.c)
    cookie = jar(cookie_of(await gw.request("GET", "/logout", [("apikey", "kong")])))
    form = [("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded")]
    for method, target, body in (("GET", "/logout?session_logout", b""), ("POST", "/logout", b"session_logout=true"),
                                 ("DELETE", "/logout", b"session_logout=true"), ("DELETE", "/logout?session_logout=1", b"")):
        r = await gw.request(method, target, form, body)
        assert r.status == 200 and r.body == b"", (method, target, r)
        expired = cookie_of(r)
        assert expired.startswith("session=;") and "Max-Age=0" in expired
    # not a logout method on /test1 (POST, DELETE only): GET with the argument passes
    c1 = jar(cookie_of(await gw.request("GET", "/test1", [("apikey", "kong")])))
    r = await gw.request("GET", "/test1?session_logout", [("Cookie", c1)])
    assert r.status == 200 and r.up_header("x-consumer-username") == "coop"
    # read_body_for_logout off (/test1): a POST body argument is not a logout
    r = await gw.request("POST", "/test1", [("Cookie", c1), ("Content-Type", "application/x-www-form-urlencoded")],
                         b"session_logout=true")
    assert r.status == 200 and r.up_header("x-consumer-username") == "coop"
    r = await gw.request("POST", "/test1?session_logout", [("Cookie", c1)])
    assert r.status == 200 and r.body == b""


async def test_deleted_consumer_ends_the_session(gw: Gateway, clock: FakeClock) -> None:
    """access.lua "destroy sessions with invalid consumer_id": the cookie of a consumer that no
    longer exists authenticates nobody and is expired."""
    w = World(gw)
    await gw.load(w.c)
    cookie = jar(cookie_of(await gw.request("GET", "/test1", [("apikey", "kong")])))
    cfg = w.c.config()
    cfg["consumers"] = [c for c in cfg["consumers"] if c["username"] != "coop"]
    cfg["keyauth_credentials"] = []
    await gw.runtime.load_config(cfg)
    r = await gw.request("GET", "/test1", [("Cookie", cookie)])
    assert r.status == 200 and r.up_header("x-consumer-username") == "anon"
    assert "Max-Age=0" in cookie_of(r)


async def test_storage_kong_is_refused(gw: Gateway, clock: FakeClock) -> None:
    """storage 'kong' keeps sessions in Kong's database: not run locally, and never let through."""
    c, svc = gw.cfg()
    c.plugin("session", {"storage": "kong"}, route=c.route(svc, paths=["/kong-storage"]))
    await gw.load(c)
    r = await gw.request("GET", "/kong-storage")
    assert r.status == 500 and "storage 'kong'" in r.json()["message"]


async def test_authenticated_groups(gw: Gateway, clock: FakeClock) -> None:
    """describe "authenticated_groups": "groups are retrieved from session and headers are set"."""
    from konnect_desktop import plugins
    from konnect_desktop.plugins.session import SessionHandler

    w = World(gw)
    await gw.load(w.c)
    config = plugins.validate_plugin({"name": "session", "config": {"secret": "the-secret"}})["config"]
    sealer = SessionHandler(config, {}, None)
    value = sealer.seal({"id": "abc", "aud": "default", "d": [w.coop["id"], w.cred["id"], ["agents", "doubleagents"]],
                         "c": NOW, "r": NOW, "i": NOW, "sub": "coop"})
    r = await gw.request("GET", "/headers", [("Cookie", f"session={value}")])
    assert r.status == 200 and r.up_header("x-consumer-username") == "coop"
    assert r.up_header("x-authenticated-groups") == "agents, doubleagents"


async def test_schema_defaults_and_shorthands() -> None:
    """schema.lua: Kong's defaults, and the deprecated shorthand fields rewritten (cookie_lifetime →
    rolling_timeout, cookie_idletime → idling_timeout, cookie_samesite "off" → Lax, ...)."""
    from konnect_desktop import plugins

    ok, errors = plugins.check_plugin({"name": "session", "config": {}})
    assert errors == {}
    cfg = ok["config"]
    assert len(cfg["secret"]) == 44 and cfg["storage"] == "cookie" and cfg["cookie_name"] == "session"
    assert (cfg["idling_timeout"], cfg["rolling_timeout"], cfg["absolute_timeout"]) == (900, 3600, 86400)
    assert cfg["logout_methods"] == ["POST", "DELETE"] and cfg["cookie_same_site"] == "Strict"
    ok, errors = plugins.check_plugin({"name": "session", "config": {
        "cookie_lifetime": 100, "cookie_idletime": None, "cookie_samesite": "off", "cookie_httponly": False,
        "cookie_persistent": True, "cookie_discard": 5, "cookie_renew": 600}})
    assert errors == {}
    cfg = ok["config"]
    assert (cfg["rolling_timeout"], cfg["idling_timeout"], cfg["cookie_same_site"]) == (100, 0, "Lax")
    assert (cfg["cookie_http_only"], cfg["remember"], cfg["stale_ttl"]) == (False, True, 5)
    assert plugins.check_plugin({"name": "session", "config": {"logout_methods": ["PUT"]}})[1] == {
        "config": {"logout_methods": ["expected one of: GET, POST, DELETE"]}}
