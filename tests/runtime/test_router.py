"""Router behaviour a user relies on: which route wins, Kong 3.x ``traditional_compatible``.

Cases numbered like KONG-REFERENCE §2.5 come from Kong's own router unit spec
(spec/01-unit/08-router_spec.lua), restated here with the same route ids where the UUID
tie-break decides.
"""

from __future__ import annotations

import uuid

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from konnect_desktop.runtime.router import Match, Router, split_host_port

SVC = {"id": "svc-1", "name": "svc", "protocol": "http", "host": "upstream", "port": 80,
       "path": None, "enabled": True}


def rid(n: int) -> str:
    return f"e8fb37f1-102d-461e-9c51-6608a6bb{8100 + n}"


def route(n: int, **fields) -> dict:
    r = {"id": rid(n), "protocols": ["http", "https"], "strip_path": False,
         "service": {"id": SVC["id"]}}
    r.update(fields)
    return r


def compile_(*routes, services=None) -> Router:
    router = Router.compile(list(routes), services or {SVC["id"]: SVC})
    assert router.errors == []
    return router


def winner(router: Router, method="GET", host=None, path="/", headers=None, **kw) -> str | None:
    m = router.match(method, host, path, headers or {}, **kw)
    return None if m is None else m.route["id"]


# -- §2.5 cases ----------------------------------------------------------------------------------

def test_case01_longer_prefix_wins():
    r = compile_(route(1, paths=["/my-route/hello"]), route(2, paths=["/my-route"]))
    assert winner(r, path="/my-route/hello") == rid(1)
    assert winner(r, path="/my-route/hello/world") == rid(1)
    assert winner(r, path="/my-route") == rid(2)
    assert winner(r, path="/my-route/world") == rid(2)


def test_case02_longer_prefix_with_same_methods():
    methods = ["POST", "PUT", "GET"]
    r = compile_(route(1, methods=methods, paths=["/my-route"]),
                 route(2, methods=methods, paths=["/my-route/hello"]))
    assert winner(r, path="/my-route/hello/world") == rid(2)


def test_case03_host_and_longer_prefix():
    r = compile_(route(1, hosts=["example.com"], paths=["/my-route"]),
                 route(2, hosts=["example.com"], paths=["/my-route/hello"]),
                 route(3, hosts=["example.net"], paths=["/my-route/hello/world"]))
    assert winner(r, host="example.com", path="/my-route/hello/world") == rid(2)


def test_case04_prefix_does_not_match_mid_path():
    r = compile_(route(1, paths=["/something/my-route"]),
                 route(2, hosts=["example.com"], paths=["/my-route"]))
    assert winner(r, host="example.com", path="/something/my-route") == rid(1)


def test_case05_regex_beats_prefix():
    r = compile_(route(1, paths=["/route/persons"]),
                 route(2, paths=[r"~/route/persons/\d+/profile"]))
    assert winner(r, path="/route/persons/123/profile") == rid(2)


def test_case06_regex_beats_exact_prefix():
    r = compile_(route(1, paths=["/route/fixture"]), route(2, paths=["~/route/(fixture)"]))
    m = r.match("GET", None, "/route/fixture", {})
    assert m is not None and m.route["id"] == rid(2)
    assert m.uri_captures == {0: "/route/fixture", 1: "fixture"}


def test_case07_heavier_route_loses_on_method():
    r = compile_(route(1, hosts=["route.com"], paths=["/pat"]),
                 route(2, hosts=["route.com"], paths=["/path"], methods=["POST"]),
                 route(3, hosts=["route.com"], paths=["~/(path)"]))
    assert winner(r, host="route.com", path="/path") == rid(3)
    assert winner(r, "POST", host="route.com", path="/path") == rid(2)


def test_case08_regex_is_anchored_at_start_only():
    r = compile_(route(1, paths=["~/prefix/[0-9]+"]))
    assert winner(r, path="/prefix/123") == rid(1)
    assert winner(r, path="/prefix/123/and/more") == rid(1)
    assert winner(r, path="/extra/prefix/123") is None


@pytest.fixture()
def wildcards():
    return [route(1, hosts=["*.route.com"]), route(2, hosts=["route.*"])]


def test_case09_wildcards_and_plain_hosts(wildcards):
    r = compile_(route(3, hosts=["plain.route.com"]), *wildcards, route(4, hosts=["route.com"]))
    assert winner(r, host="foo.route.com") == rid(1)
    assert winner(r, host="foo.route.com:123") == rid(1)
    assert winner(r, host="route.org") == rid(2)
    assert winner(r, host="route.org:123") == rid(2)
    assert winner(r, host="plain.route.com") == rid(3)
    assert winner(r, host="route.com") == rid(4)
    assert winner(r, host="route") is None  # "route.*" needs the dot
    assert winner(r, host="route.com.evil.org") == rid(2)  # "route." prefix


def test_case10_port_specific_hosts(wildcards):
    r = compile_(*wildcards, route(3, hosts=["*.route.net:123"]), route(4, hosts=["route.*:123"]))
    assert winner(r, host="foo.route.net:123") == rid(3)
    assert winner(r, host="foo.route.net:456") is None
    # both route.* and route.*:123 hold; equal priority, the larger UUID (…8104) wins
    assert winner(r, host="route.org:123") == rid(4)


def test_port_specific_route_for_default_port(wildcards):
    r = compile_(*wildcards, route(3, hosts=["route.*:80"]))
    assert winner(r, host="route.org:123") == rid(2)
    assert winner(r, host="route.org:80") == rid(3)
    # no port in Host: the port the proxy listens on decides
    assert winner(r, host="route.org", port=80) == rid(3)
    assert winner(r, host="route.org", port=8000) == rid(2)
    assert winner(r, host="route.org") == rid(2)


def test_case11_wildcard_host_route_with_its_path():
    r = compile_(route(1, hosts=["*.route.com"], paths=["/path1"]),
                 route(2, hosts=["plain.route.com"], paths=["/path2"]))
    assert winner(r, host="plain.route.com", path="/path1") == rid(1)
    assert winner(r, host="plain.route.com", path="/path2") == rid(2)


def test_case12_more_headers_win_any_value_matches():
    a = {"version": ["v1", "v2"], "user_agent": ["foo", "bar"]}
    b = dict(a, location=["east", "west"])
    r = compile_(route(1, headers=a), route(2, headers=b))
    h = CIMultiDict([("version", "v1"), ("user-agent", "foo"), ("location", "north"),
                     ("location", "west")])
    assert winner(r, headers=CIMultiDictProxy(h)) == rid(2)
    h2 = CIMultiDict([("version", "v1"), ("user-agent", "foo"), ("location", "north")])
    assert winner(r, headers=CIMultiDictProxy(h2)) == rid(1)


def test_case13_host_and_path_beat_method():
    r = compile_(route(1, hosts=["domain-1.org", "domain-2.org"]), route(2, methods=["TRACE"]),
                 route(3, paths=["/my-route"]))
    assert winner(r, "TRACE", host="domain-2.org", path="/") == rid(1)
    assert winner(r, "TRACE", host="domain.org", path="/my-route") == rid(3)
    assert winner(r, "TRACE", host="domain.org", path="/other") == rid(2)


def test_case14_host_decides_before_path_length():
    r = compile_(route(1, hosts=["host1.com"], paths=["/v1/path"]),
                 route(2, hosts=["host2.com"], paths=["/"]))
    assert winner(r, host="host2.com", path="/v1/path") == rid(2)


def test_case15_path_beats_method():
    r = compile_(route(1, methods=["GET"]), route(2, paths=["/example"]))
    assert winner(r, path="/example") == rid(2)
    assert winner(r, path="/example/status/200") == rid(2)
    assert winner(r, path="/other") == rid(1)


def test_case16_equal_priority_uuid_tie_break():
    r = compile_(route(1, methods=["GET"]), route(2, hosts=["domain.*"]))
    assert winner(r, host="nothing.com") == rid(1)
    assert winner(r, host="domain.com") == rid(2)
    # the order the routes are given in does not matter
    r2 = compile_(route(2, hosts=["domain.*"]), route(1, methods=["GET"]))
    assert winner(r2, host="domain.com") == rid(2)


def test_case17_header_count_outranks_path_length():
    r = compile_(route(1, headers={"version": ["v1"]}, paths=["/my-route/hello"]),
                 route(2, headers={"version": ["v1"], "location": ["us-east"]},
                       paths=["/my-route"]))
    h = {"version": "v1", "location": "us-east"}
    assert winner(r, path="/my-route/hello", headers=h) == rid(2)


def test_case18_regex_priority_ignored_for_prefix_paths():
    r = compile_(route(1, hosts=["domain-1.org"], paths=["/.*"]),
                 route(2, hosts=["domain-2.org"], paths=["/"], regex_priority=5),
                 route(3, hosts=["domain-2.org"], paths=["/v1"]))
    assert winner(r, host="domain-2.org", path="/v1") == rid(3)
    # "/.*" is a literal prefix, not a regex
    assert winner(r, host="domain-1.org", path="/.*x") == rid(1)
    assert winner(r, host="domain-1.org", path="/abc") is None


def test_case19_multi_path_route_split_by_group():
    r = compile_(route(1, hosts=["domain-1.org"], paths=["~/some/thing/else", "/foo"]),
                 route(2, hosts=["domain-1.org"], paths=["/foo/bar"]))
    assert winner(r, host="domain-1.org", path="/some/thing/else") == rid(1)
    assert winner(r, host="domain-1.org", path="/foo/bar") == rid(2)
    assert winner(r, host="domain-1.org", path="/foo/baz") == rid(1)


@pytest.mark.parametrize(("paths", "request_path", "upstream"), [
    (["/my-route", "/xx-route"], "/my-route/hello/world", "/hello/world"),
    (["/my-route", "/xx-route"], "/xx-route/hello/world", "/hello/world"),
    (["/my-route", "/xx-route"], "/my-route", "/"),
    (["/"], "/my-route/hello/world", "/my-route/hello/world"),
    ([r"~/users/\d+/profile"], "/users/123/profile/hello/world", "/hello/world"),
    (["/endel%2Fst"], "/endel%2Fst", "/"),
])
def test_case20_strip_path(paths, request_path, upstream):
    r = compile_(route(1, paths=paths, strip_path=True))
    m = r.match("GET", None, request_path, {})
    assert m is not None
    assert m.upstream_path == upstream


def test_docs_regex_priority_order():
    r = compile_(route(1, paths=[r"~/status/\d+"]),
                 route(2, paths=[r"~/version/\d+/status/\d+"], regex_priority=6),
                 route(3, paths=["/version"]),
                 route(4, paths=["~/version/any/"]))
    assert winner(r, path="/version/1/status/2") == rid(2)
    assert winner(r, path="/version/any/x") == rid(4)
    assert winner(r, path="/version/x") == rid(3)
    assert winner(r, path="/status/7") == rid(1)
    order = r.ordered_route_ids()
    assert order[0] == rid(2) and order[-1] == rid(3)


def test_negative_regex_priority_sorts_below_zero():
    r = compile_(route(1, paths=["~/a"], regex_priority=-1), route(2, paths=["~/a"]))
    assert winner(r, path="/a") == rid(2)


# -- hosts ---------------------------------------------------------------------------------------

def test_host_ignores_request_port_for_portless_route():
    r = compile_(route(1, hosts=["domain-1.org", "domain-2.org"]),
                 route(13, hosts=["domain-1.org:321", "domain-2.org"]),
                 route(14, hosts=["domain-3.org:321"]))
    assert winner(r, host="domain-1.org") == rid(1)  # 13's domain-1 entry needs port 321
    # route 13 also has a plain entry for domain-2; route 1 and 13 tie -> larger UUID
    assert winner(r, host="domain-2.org") == rid(13)
    assert winner(r, host="domain-1.org:321") == rid(13)
    assert winner(r, host="domain-1.org:80") == rid(1)
    assert winner(r, host="domain-3.org:321") == rid(14)
    assert winner(r, host="domain-3.org:123") is None


def test_host_matching_is_case_sensitive_like_kong():
    r = compile_(route(1, hosts=["example.com"]))
    assert winner(r, host="example.com") == rid(1)
    assert winner(r, host="Example.com") is None


def test_missing_or_empty_host_only_matches_hostless_routes():
    r = compile_(route(1, hosts=["example.com"]), route(2, paths=["/"]))
    assert winner(r, host=None) == rid(2)
    assert winner(r, host="") == rid(2)


def test_ipv6_host_header():
    r = compile_(route(1, hosts=["[::1]"]))
    # Kong splits at the first ':' and only when the rest is a number: "[::1]:80" stays whole
    assert split_host_port("[::1]:80") == ("[::1]:80", None)
    assert winner(r, host="[::1]") == rid(1)


def test_wildcard_matches_several_labels():
    r = compile_(route(1, hosts=["*.example.com"]))
    assert winner(r, host="a.b.example.com") == rid(1)
    assert winner(r, host="example.com") is None


# -- headers, methods ----------------------------------------------------------------------------

def test_header_names_and_values_case_insensitive_underscore_is_dash():
    r = compile_(route(1, headers={"X_Version": ["V1"]}))
    assert winner(r, headers={"x-version": "v1"}) == rid(1)
    assert winner(r, headers={"X-VERSION": ["nope", "V1"]}) == rid(1)
    assert winner(r, headers={"x-version": "v2"}) is None
    assert winner(r, headers={}) is None


def test_header_regex_value():
    ua = r"~*windows|linux|os\s+x\s*[\d\._]+|solaris|bsd"
    r = compile_(route(1, headers={"user_agent": [ua]}))
    assert winner(r, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}) == rid(1)
    assert winner(r, headers={"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15)"}) \
        == rid(1)
    assert winner(r, headers={"User-Agent": "curl/8"}) is None


def test_header_regex_text_is_lowercased_like_kong():
    # Kong lower-cases the whole value, regex included: "\D" becomes "\d".
    r = compile_(route(1, headers={"x-id": [r"~*^\D+$"]}))
    assert winner(r, headers={"x-id": "123"}) == rid(1)
    assert winner(r, headers={"x-id": "abc"}) is None


def test_methods_exact():
    r = compile_(route(1, methods=["POST", "PUT"]))
    assert winner(r, "POST") == rid(1)
    assert winner(r, "GET") is None
    assert winner(r, "post") is None


def test_no_405_method_mismatch_is_no_match():
    r = compile_(route(1, paths=["/x"], methods=["GET"]))
    assert winner(r, "DELETE", path="/x") is None


# -- snis, protocols, services -----------------------------------------------------------------

def test_https_only_route_flags_redirect_over_http():
    r = compile_(route(1, protocols=["https"], paths=["/secure"], https_redirect_status_code=301),
                 route(2, protocols=["https"], paths=["/other"]),
                 route(3, protocols=["http", "https"], paths=["/both"]))
    m = r.match("GET", "x.test", "/secure", {}, scheme="http")
    assert m is not None and m.redirect_status == 301
    m = r.match("GET", "x.test", "/secure", {}, scheme="https")
    assert m is not None and m.redirect_status is None
    assert r.match("GET", None, "/other", {}).redirect_status == 426
    assert r.match("GET", None, "/both", {}).redirect_status is None


def test_snis_only_checked_on_https():
    r = compile_(route(1, protocols=["https"], snis=["api.test"], paths=["/s"]),
                 route(2, protocols=["https"], snis=["*.wild.test"], paths=["/w"]))
    assert winner(r, path="/s", scheme="https", sni="api.test") == rid(1)
    assert winner(r, path="/s", scheme="https", sni="api.test.") == rid(1)
    assert winner(r, path="/s", scheme="https", sni="other.test") is None
    assert winner(r, path="/s", scheme="https") is None
    assert winner(r, path="/s", scheme="http") == rid(1)  # Kong: net.protocol != "https" || ...
    assert winner(r, path="/w", scheme="https", sni="a.wild.test") == rid(2)


def test_disabled_service_routes_are_left_out():
    off = dict(SVC, id="svc-off", enabled=False)
    r = Router.compile([route(1, paths=["/a"], service={"id": "svc-off"}),
                        route(2, paths=["/"])], {"svc-off": off, SVC["id"]: SVC})
    assert winner(r, path="/a") == rid(2)


def test_serviceless_route_matches_with_no_service():
    r = compile_(route(8, paths=["/serviceless"], service=None, strip_path=True))
    m = r.match("GET", None, "/serviceless/x", {})
    assert m is not None and m.service is None and m.upstream_path == "/x"


def test_route_with_unknown_service_is_reported_and_skipped():
    r = Router.compile([route(1, paths=["/a"], service={"id": "missing"})], {})
    assert len(r.errors) == 1 and "could not find service" in r.errors[0]
    assert winner(r, path="/a") is None


def test_stream_routes_ignored():
    r = Router.compile([{"id": rid(1), "protocols": ["tcp"], "sources": [{"ip": "1.2.3.4"}]}], {})
    assert len(r) == 0 and r.errors == []


def test_regex_rust_cannot_compile_is_dropped():
    r = Router.compile([route(1, paths=["~/(?=x)look"]), route(2, paths=[r"~/(a)\1"]),
                        route(3, paths=["~/ok"])], {SVC["id"]: SVC})
    assert len(r.errors) == 2
    assert winner(r, path="/ok") == rid(3)


def test_grpc_routes_take_part():
    r = compile_(route(1, protocols=["grpc"], paths=["/pkg.Svc/"]))
    assert winner(r, "POST", path="/pkg.Svc/Call") == rid(1)


# -- split routes and tie-breaks ---------------------------------------------------------------

def test_split_route_ids_are_uuid5_of_route_id_and_group():
    ns = uuid.UUID("7f145bf9-0dce-4f91-98eb-debbce4b9f6b")
    a = route(1, paths=["/aa", "/bbbb"])
    b = route(2, paths=["/aa"])
    r = compile_(a, b)
    derived = str(uuid.uuid5(ns, f"{rid(1)}#1"))
    expected = rid(1) if uuid.UUID(derived).int > uuid.UUID(rid(2)).int else rid(2)
    assert winner(r, path="/aa") == expected
    assert winner(r, path="/bbbb") == rid(1)


def test_single_group_multi_path_route_keeps_its_id():
    r = compile_(route(1, paths=["/aa", "/bb"]), route(2, paths=["/aa"]))
    assert winner(r, path="/bb") == rid(1)
    assert winner(r, path="/aa") == rid(2)  # …8102 > …8101


# -- result fields ------------------------------------------------------------------------------

def test_match_fields():
    svc = dict(SVC, path="/base")
    r = Router.compile([route(1, paths=[r"~/users/(?<user>\w+)/(\d+)"], strip_path=True,
                              preserve_host=True)], {SVC["id"]: svc})
    m = r.match("GET", "api.test", "/users/al/42/rest?q=1", {})
    assert isinstance(m, Match)
    assert m.uri_captures == {0: "/users/al/42", 1: "al", 2: "42", "user": "al"}
    assert m.request_path == "/users/al/42/rest"
    assert m.upstream_path == "/base/rest"
    assert m.stripped_prefix == "/users/al/42"
    assert m.service is svc


def test_no_captures_without_groups_and_no_prefix_without_strip():
    r = compile_(route(1, paths=[r"~/a\d"]), route(2, paths=["/p"], strip_path=True),
                 route(3, paths=["/"], strip_path=True))
    m = r.match("GET", None, "/a1/x", {})
    assert m.uri_captures == {} and m.stripped_prefix is None and m.upstream_path == "/a1/x"
    assert r.match("GET", None, "/p/x", {}).stripped_prefix == "/p"
    assert r.match("GET", None, "/q", {}).stripped_prefix is None  # "/" is not reported


def test_optional_group_that_did_not_take_part():
    r = compile_(route(1, paths=["~/x(/y)?"]))
    assert r.match("GET", None, "/x", {}).uri_captures == {}
    assert r.match("GET", None, "/x/y", {}).uri_captures == {0: "/x/y", 1: "/y"}


def test_cache_returns_same_result_and_is_bounded():
    r = Router.compile([route(1, paths=["/a"])], {SVC["id"]: SVC}, cache_size=4)
    first = r.match("GET", None, "/a", {})
    assert r.match("GET", None, "/a", {}) is first
    assert r.cache_hits == 1
    for i in range(10):
        r.match("GET", None, f"/a{i}", {})
    assert len(r._cache) == 4


def test_cache_key_includes_header_values_routes_look_at():
    r = compile_(route(1, headers={"x-v": ["1"]}), route(2, paths=["/"]))
    assert winner(r, headers={"x-v": "1"}) == rid(1)
    assert winner(r, headers={"x-v": "2"}) == rid(2)
    assert winner(r, headers={"x-v": "1"}) == rid(1)


def test_header_values_lowercased_ascii_only_like_lua():
    r = compile_(route(1, headers={"x-name": ["\u00c9t\u00c9"]}))
    assert winner(r, headers={"x-name": "\u00c9T\u00c9"}) == rid(1)
    assert winner(r, headers={"x-name": "\u00e9t\u00e9"}) is None


@pytest.mark.parametrize(("regex", "path", "matches"), [
    (r"~/a{12}", "/" + "a" * 12, True),
    (r"~/\x61bc", "/abc", True),
    (r"~/(a|b)/r12/\d+", "/b/r12/7", True),
    (r"~/(a|b)/r12/\d+", "/b/r13/7", False),
    (r"~/v\.1/[a-z]+$", "/v.1/abc", True),
    (r"~/x+y", "/xxxy", True),
])
def test_regex_prefilters_never_hide_a_match(regex, path, matches):
    r = compile_(route(1, paths=[regex]))
    assert (winner(r, path=path) == rid(1)) is matches
