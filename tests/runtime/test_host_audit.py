"""``runtime.host_audit``: hosts that differ only by case or a trailing dot, found with the real
router (whose matching stays Kong's: case-sensitive on the raw Host)."""

from __future__ import annotations

from typing import Any

from test_proxy_support import Cfg

from konnect_desktop.runtime.host_audit import (
    AUTHENTICATION_PLUGINS,
    host_case_bypasses,
)
from konnect_desktop.runtime.router import Router


def _hole(auth: str = "key-auth", **catch_all: Any) -> tuple[Cfg, dict[str, Any], dict[str, Any]]:
    c = Cfg()
    svc = c.service()
    secure = c.route(svc, name="secure", hosts=["secure.local"], paths=["/api"])
    c.plugin(auth, route=secure)
    open_route = c.route(svc, name="open", paths=catch_all.pop("paths", ["/"]), **catch_all)
    return c, secure, open_route


def test_the_router_keeps_kongs_case_sensitive_host_matching() -> None:
    c, secure, open_route = _hole()
    cfg = c.config()
    router = Router.compile(cfg["routes"], {s["id"]: s for s in cfg["services"]})
    assert router.match("GET", "secure.local", "/api", {}).route["id"] == secure["id"]
    for spelling in ("SECURE.LOCAL", "Secure.Local", "secure.local."):
        assert router.match("GET", spelling, "/api", {}).route["id"] == open_route["id"]


def test_bypass_found_for_each_authentication_plugin() -> None:
    for auth in ("key-auth", "basic-auth", "jwt", "hmac-auth", "oauth2", "session"):
        assert auth in AUTHENTICATION_PLUGINS
        c, secure, open_route = _hole(auth)
        [b] = host_case_bypasses(c.config())
        assert b.protected["id"] == secure["id"] and b.matched["id"] == open_route["id"]
        assert b.plugins == (auth,) and b.request_host == "SECURE.LOCAL"
        assert "case-sensitively" in b.message()


def test_no_bypass_when_nothing_broader_answers_or_it_is_protected() -> None:
    c, _s, _o = _hole(paths=["/other"])  # the open route does not cover /api
    assert host_case_bypasses(c.config()) == []
    c, _s, open_route = _hole()
    c.plugin("jwt", route=open_route)
    assert host_case_bypasses(c.config()) == []
    c, _s, _o = _hole(hosts=["other.local"])  # not a catch-all for hosts
    assert host_case_bypasses(c.config()) == []
    c, _s, _o = _hole()
    c.plugin("key-auth")  # global: protects every route
    assert host_case_bypasses(c.config()) == []


def test_service_level_plugin_protects_and_a_host_configured_in_upper_case() -> None:
    c = Cfg()
    svc, other = c.service(), c.service()
    c.plugin("basic-auth", service=svc)
    c.route(svc, name="secure", hosts=["SECURE.local"], paths=["/"])  # configured in upper case
    c.route(other, name="open", paths=["/"])
    [b] = host_case_bypasses(c.config())
    assert b.request_host == "secure.local" and b.plugins == ("basic-auth",)
