"""Upstream path = service.path ⊕ request path (v0 path handling) and request-path normalization.

``FIXTURE`` restates, in our own table form, every row of Kong's shared fixture
spec/fixtures/router_path_handling_tests.lua that applies to v0 path handling (the only mode
``traditional_compatible`` has). Kong runs each row with a prefix route, with a regex route
``~/[0]?<route path without its first slash>`` and, for host-only rows, with a route that has no
paths at all; we do the same.
"""

from __future__ import annotations

import pytest

from konnect_desktop.runtime.router import Router, normalize_request_path, upstream_path_v0

BOTH = (False, True)

# (service.path, route path or None for host-only, strip_path values, request path, upstream path)
FIXTURE: list[tuple[str, str | None, tuple[bool, ...], str, str]] = [
    ("/", "/", BOTH, "/", "/"),
    ("/", "/", BOTH, "/route", "/route"),
    ("/", "/", BOTH, "/route/", "/route/"),
    ("/", "/", BOTH, "/routereq", "/routereq"),
    ("/", "/", BOTH, "/route/req", "/route/req"),
    ("/", "/route", (False,), "/route", "/route"),
    ("/", "/route", (False,), "/route/", "/route/"),
    ("/", "/route", (False,), "/routereq", "/routereq"),
    ("/", "/route", (True,), "/route", "/"),
    ("/", "/route", (True,), "/route/", "/"),
    ("/", "/route", (True,), "/routereq", "/req"),
    ("/", "/route/", (False,), "/route/", "/route/"),
    ("/", "/route/", (False,), "/route/req", "/route/req"),
    ("/", "/route/", (True,), "/route/", "/"),
    ("/", "/route/", (True,), "/route/req", "/req"),
    ("/srv", "/rou", (False,), "/roureq", "/srv/roureq"),
    ("/srv", "/rou", (True,), "/roureq", "/srv/req"),
    ("/srv/", "/rou", (False,), "/rou", "/srv/rou"),
    ("/srv/", "/rou", (True,), "/rou", "/srv"),
    ("/service", "/", BOTH, "/", "/service"),
    ("/service", "/", BOTH, "/route", "/service/route"),
    ("/service", "/", BOTH, "/route/", "/service/route/"),
    ("/service", "/", BOTH, "/routereq", "/service/routereq"),
    ("/service", "/", BOTH, "/route/req", "/service/route/req"),
    ("/service", "/route", (False,), "/route", "/service/route"),
    ("/service", "/route", (False,), "/route/", "/service/route/"),
    ("/service", "/route", (False,), "/routereq", "/service/routereq"),
    ("/service", "/route", (True,), "/route", "/service"),
    ("/service", "/route", (True,), "/route/", "/service/"),
    ("/service", "/route", (True,), "/routereq", "/service/req"),
    ("/service", "/route/", (False,), "/route/", "/service/route/"),
    ("/service", "/route/", (False,), "/route/req", "/service/route/req"),
    ("/service", "/route/", (True,), "/route/", "/service/"),
    ("/service", "/route/", (True,), "/route/req", "/service/req"),
    ("/service/", "/", BOTH, "/route/", "/service/route/"),
    ("/service/", "/", BOTH, "/", "/service/"),
    ("/service/", "/", BOTH, "/route", "/service/route"),
    ("/service/", "/", BOTH, "/routereq", "/service/routereq"),
    ("/service/", "/", BOTH, "/route/req", "/service/route/req"),
    ("/service/", "/route", (False,), "/route", "/service/route"),
    ("/service/", "/route", (False,), "/route/", "/service/route/"),
    ("/service/", "/route", (False,), "/routereq", "/service/routereq"),
    ("/service/", "/route", (True,), "/route", "/service"),
    ("/service/", "/route", (True,), "/route/", "/service/"),
    ("/service/", "/route", (True,), "/routereq", "/service/req"),
    ("/service/", "/route/", (False,), "/route/", "/service/route/"),
    ("/service/", "/route/", (False,), "/route/req", "/service/route/req"),
    ("/service/", "/route/", (True,), "/route/", "/service/"),
    ("/service/", "/route/", (True,), "/route/req", "/service/req"),
    # host-only routes (no paths)
    ("/", None, BOTH, "/", "/"),
    ("/", None, BOTH, "/route", "/route"),
    ("/", None, BOTH, "/route/", "/route/"),
    ("/service", None, BOTH, "/", "/service"),
    ("/service", None, BOTH, "/route", "/service/route"),
    ("/service", None, BOTH, "/route/", "/service/route/"),
    ("/service/", None, BOTH, "/", "/service/"),
    ("/service/", None, BOTH, "/route", "/service/route"),
    ("/service/", None, BOTH, "/route/", "/service/route/"),
]

CASES = [
    pytest.param(svc, rp, strip, req, exp, id=f"{svc}|{rp}|{'strip' if strip else 'keep'}|{req}")
    for svc, rp, strips, req, exp in FIXTURE
    for strip in strips
]


def _route_for(route_path: str | None, strip: bool) -> dict:
    r = {"id": "00000000-0000-4000-8000-000000000001", "protocols": ["http", "https"],
         "strip_path": strip, "service": {"id": "s"}, "hosts": ["localbin.test"]}
    if route_path is not None:
        r["paths"] = [route_path]
    return r


def _upstream(service_path: str, route: dict, request: str) -> str:
    svc = {"id": "s", "protocol": "http", "host": "up", "port": 80, "path": service_path,
           "enabled": True}
    m = Router.compile([route], {"s": svc}).match("GET", "localbin.test", request, {})
    assert m is not None, "route did not match"
    return m.upstream_path


def test_fixture_has_every_v0_row():
    assert len(FIXTURE) == 58
    assert len(CASES) == 82  # rows with both strip_path values run twice


@pytest.mark.parametrize(("service_path", "route_path", "strip", "request_path", "expected"), CASES)
def test_fixture_prefix_or_host_route(service_path, route_path, strip, request_path, expected):
    assert _upstream(service_path, _route_for(route_path, strip), request_path) == expected


@pytest.mark.parametrize(("service_path", "route_path", "strip", "request_path", "expected"),
                         [c for c in CASES if c.values[1] is not None])
def test_fixture_regex_route(service_path, route_path, strip, request_path, expected):
    regex = "~/[0]?" + route_path[1:]
    assert _upstream(service_path, _route_for(regex, strip), request_path) == expected


# KONG-REFERENCE §2.4 rows beyond the fixture: dot segments left after the stripped prefix.
@pytest.mark.parametrize(("service_path", "route_path", "strip", "request_path", "expected"), [
    ("/service", "/route", True, "/route./req", "/service/req"),
    ("/service", "/route", True, "/route%2E%2E/req", "/service/req"),
    ("/service", "/route", False, "/route%2e/req", "/service/route./req"),
    ("/service", "/route", True, "/route.", "/service"),
    ("/service/", "/route", True, "/route../x", "/service/x"),
    (None, "/route", True, "/route/x?a=b", "/x"),
])
def test_reference_extra_rows(service_path, route_path, strip, request_path, expected):
    assert _upstream(service_path, _route_for(route_path, strip), request_path) == expected


@pytest.mark.parametrize(("strip", "postfix", "request_path", "base", "expected"), [
    (True, "", "/route", "/", "/"),
    (True, "", "/route/", "/srv/", "/srv/"),
    (True, "", "/route", "/srv/", "/srv"),
    (True, "/x", "/route/x", "/srv/", "/srv/x"),
    (True, "x", "/routex", "/srv/", "/srv/x"),
    (False, "", "/a/b", "/srv/", "/srv/a/b"),
    (True, "", "/route/", "/srv", "/srv/"),
    (True, "", "/", "/srv", "/srv"),
    (True, "/x", "/route/x", "/srv", "/srv/x"),
    (True, "x", "/routex", "/srv", "/srv/x"),
    (False, "", "/", "/srv", "/srv"),
    (False, "", "/a", "/srv", "/srv/a"),
])
def test_v0_join_table(strip, postfix, request_path, base, expected):
    assert upstream_path_v0(strip, postfix, request_path, base) == expected


@pytest.mark.parametrize(("raw", "normalized"), [
    ("/", "/"),
    ("/a/./b", "/a/b"),
    ("/a/../b", "/b"),
    ("/../../a", "/a"),
    ("/a/b/..", "/a/"),
    ("/a/.", "/a/"),
    ("//a///b//", "/a/b/"),
    ("/a/..//b", "/b"),
    ("/%7Euser", "/~user"),
    ("/%7euser", "/~user"),
    ("/%41%62c", "/Abc"),
    ("/a%2fb", "/a%2Fb"),
    ("/a%2Fb", "/a%2Fb"),
    ("/%2e%2e/etc", "/etc"),
    ("/a/%2E/b", "/a/b"),
    ("/a%20b", "/a%20b"),
    ("/a b", "/a%20b"),
    ("/caf%c3%a9", "/caf%C3%A9"),
    ("/caf\u00c3\u00a9", "/caf%C3%A9"),  # UTF-8 bytes as the proxy hands them (latin-1)
    ("/caf\u00e9", "/caf%E9"),  # one byte 0xE9
    ("/\u20ac", "/%E2%82%AC"),  # wider than a byte: UTF-8
    ("/x?y=1", "/x"),
    ("/x?y=/../z", "/x"),
    ("/a%3fb", "/a%3Fb"),
])
def test_request_path_normalization(raw, normalized):
    assert normalize_request_path(raw) == normalized


def test_normalized_path_is_what_routes_match_and_what_goes_upstream():
    r = Router.compile([_route_for("/api/v1", True)],
                       {"s": {"id": "s", "protocol": "http", "path": "/up", "enabled": True}})
    m = r.match("GET", "localbin.test", "/api//%76%31/./users/../items", {})
    assert m is not None
    assert m.request_path == "/api/v1/items"
    assert m.upstream_path == "/up/items"
    assert r.match("GET", "localbin.test", "/api/x/../v2", {}) is None


def test_regex_route_sees_normalized_path():
    r = Router.compile([_route_for(r"~/files/(?<name>[^/]+)$", False)],
                       {"s": {"id": "s", "protocol": "http", "path": None, "enabled": True}})
    m = r.match("GET", "localbin.test", "/files/a%20b", {})
    assert m is not None and m.uri_captures["name"] == "a%20b"
    m = r.match("GET", "localbin.test", "/x/../files/%7Eme", {})
    assert m is not None and m.uri_captures["name"] == "~me"
