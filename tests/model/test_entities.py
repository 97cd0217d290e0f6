"""Entity definitions: Kong's field rules, defaults and error words (KONG-REFERENCE §1 and the
Kong unit specs for services, routes and consumers)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from konnect_desktop.model import ENTITIES, KongError, check_entity, paths, validate_entity

UUID = "cbb297c0-a956-486d-ad1d-f9b42df9465a"


def errors(table: str, data: dict, **kw: object) -> dict:
    return check_entity(table, data, **kw)[1]  # type: ignore[arg-type]


# -- services ---------------------------------------------------------------------------------
def test_service_defaults_in_admin_api_shape() -> None:
    s = validate_entity("services", {"host": "www.example.com"})
    assert set(s) == set(ENTITIES["services"].schema.field_names)
    assert (s["protocol"], s["port"], s["path"], s["retries"]) == ("http", 80, None, 5)
    assert (s["connect_timeout"], s["write_timeout"], s["read_timeout"]) == (60000, 60000, 60000)
    assert s["name"] is None and s["tags"] is None and s["enabled"] is True
    assert isinstance(s["created_at"], int) and s["created_at"] == s["updated_at"]


@pytest.mark.parametrize(("url", "expected"), [
    ("http://example.com", ("http", "example.com", 80, None)),
    ("https://example.com", ("https", "example.com", 443, None)),
    ("https://example.com:8443/foo/bar", ("https", "example.com", 8443, "/foo/bar")),
    ("http://example.com:443", ("http", "example.com", 443, None)),
    ("example.com", ("http", "example.com", 80, None)),
    ("example.com:443", ("https", "example.com", 443, None)),
    ("example.com:80/x", ("http", "example.com", 80, "/x")),
    ("grpcs://grpc.example.com", ("grpcs", "grpc.example.com", 80, None)),
    ("http://10.0.0.1:9000/", ("http", "10.0.0.1", 9000, "/")),
    ("http://[::1]:8080/p", ("http", "[::1]", 8080, "/p")),
])
def test_service_url_shorthand(url: str, expected: tuple) -> None:
    s = validate_entity("services", {"url": url})
    assert (s["protocol"], s["host"], s["port"], s["path"]) == expected
    assert "url" not in s


@pytest.mark.parametrize(("url", "errs"), [
    ("ftp://example.com", {"protocol": "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"}),
    ("http://example.com:99999", {"port": "value should be between 0 and 65535"}),
    ("http://example.com:abc", {"port": "expected an integer"}),
    ("http://", {"host": "required field missing"}),
    ("http://example.com/a//b", {"path": "must not have empty segments"}),
    (42, {"url": "expected a string"}),
])
def test_service_url_errors_land_on_the_parsed_field(url: object, errs: dict) -> None:
    assert errors("services", {"url": url}) == errs


@pytest.mark.parametrize("host", ["/example", ".example", "example.", "example:", "mock;bin", "example.com/org",
                                  "example-.org", "example.org-", "hello..example.com", "hello-.example.com",
                                  "*example.com", "www.example*", "mock*bin.com"])
def test_service_rejects_invalid_hosts(host: str) -> None:
    assert errors("services", {"host": host}) == {"host": f"invalid value: {host}"}


@pytest.mark.parametrize("host", ["hello.com", "test.hello.com", "1991.io", "HELLO.com", "example.123",
                                  "example-api.com", "example_api.com", "localhost",
                                  "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n", "Hello-Another-Way--fc4qua05auwb3674vfr0b",
                                  "10.0.0.1", "::1", "2001:db8::1"])
def test_service_accepts_valid_hosts(host: str) -> None:
    assert errors("services", {"host": host}) == {}


@pytest.mark.parametrize("host", ["example.com:80", "example.com:1000000", "10.0.0.1:80", "[::1]:80"])
def test_service_host_must_not_have_a_port(host: str) -> None:
    assert errors("services", {"host": host}) == {"host": "must not have a port"}


@pytest.mark.parametrize(("path", "err"), [
    ("", "length must be at least 1"),
    ("foo", "should start with: /"),
    ("/foo//bar", "must not have empty segments"),
    ("//foo", "must not have empty segments"),
    ("/users/|foo/profile", "invalid path: '/users/|foo/profile' (characters outside of the reserved list of RFC 3986 found)"),
    ("/some%2words", "invalid url-encoded value: '%2w'"),
    ("/some%0Xwords", "invalid url-encoded value: '%0X'"),
    ("/some%20words%", "invalid url-encoded value: '%'"),
    ("/some%20words%a", "invalid url-encoded value: '%a'"),
])
def test_service_path_rules(path: str, err: str) -> None:
    assert errors("services", {"host": "example.com", "path": path}) == {"path": err}


@pytest.mark.parametrize("path", ["/", "/abcd~user~2", "/abcd%aa%10%ff%AA%FF", "/ovo/", "/hello/path$with$!&'()*+,;=stuff"])
def test_service_path_accepted(path: str) -> None:
    assert errors("services", {"host": "example.com", "path": path}) == {}


@pytest.mark.parametrize("protocol", ["tcp", "tls", "udp", "grpc", "grpcs"])
def test_stream_and_grpc_services_take_no_path(protocol: str) -> None:
    errs = errors("services", {"host": "x.y", "protocol": protocol, "path": "/"})
    assert errs["path"] == "value must be null"
    assert errs["@entity"] == ["failed conditional validation given value of field 'protocol'"]


def test_tls_fields_only_for_https_services() -> None:
    errs = errors("services", {"host": "x.y", "protocol": "http", "tls_verify": True})
    assert errs["tls_verify"] == "value must be null"
    assert errors("services", {"host": "x.y", "protocol": "https", "tls_verify": True, "tls_verify_depth": 3}) == {}


def test_service_timeouts_and_retries() -> None:
    errs = errors("services", {"host": "x.y", "connect_timeout": 0, "read_timeout": 2**31, "retries": -1})
    assert errs == {"connect_timeout": "value should be between 1 and 2147483646",
                    "read_timeout": "value should be between 1 and 2147483646",
                    "retries": "value should be between 0 and 32767"}


@pytest.mark.parametrize("name", ["examp:le", "examp;le", "examp/le", "examp le"])
def test_names_reject_other_ascii(name: str) -> None:
    msg = f"invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
    assert errors("services", {"host": "x.y", "name": name}) == {"name": msg}
    assert errors("routes", {"paths": ["/"], "name": name}) == {"name": msg}


@pytest.mark.parametrize("name", ["example", "3x4-mp-13", "~3..x4~.M-p~1__3_", "überdienst", "サービス"])
def test_names_accept_alnum_punctuation_and_utf8(name: str) -> None:
    assert errors("services", {"host": "x.y", "name": name}) == {}


def test_tags() -> None:
    assert errors("services", {"host": "x.y", "tags": ["ok", "with space", "ünï", "a.b-c_d~e:f"]}) == {}
    errs = errors("services", {"host": "x.y", "tags": ["ok", "a,b", "a/b", ""]})
    assert errs == {"tags": [
        None,
        "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
        "invalid tag 'a/b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
        "length must be at least 1",
    ]}
    assert validate_entity("services", {"host": "x.y", "tags": ["a", "b", "a"]})["tags"] == ["a", "b"]


# -- routes -----------------------------------------------------------------------------------
def test_route_defaults() -> None:
    r = validate_entity("routes", {"paths": ["/"]})
    assert r["protocols"] == ["http", "https"]
    assert (r["strip_path"], r["preserve_host"], r["regex_priority"], r["path_handling"]) == (True, False, 0, "v0")
    assert (r["https_redirect_status_code"], r["request_buffering"], r["response_buffering"]) == (426, True, True)
    assert r["service"] is None and r["methods"] is None and r["hosts"] is None


@pytest.mark.parametrize(("path", "err"), [
    ("foo", "should start with: / (fixed path) or ~/ (regex path)"),
    ("~foo", "should start with: / (fixed path) or ~/ (regex path)"),
    ("/a//b", "must not have empty segments"),
    ("~/a//b", "must not have empty segments"),
    ("/a/../b", "non-normalized path, consider use '/b' instead"),
    ("/a/./b", "non-normalized path, consider use '/a/b' instead"),
    ("/%7Euser", "non-normalized path, consider use '/~user' instead"),
    ("/a%2fb", "non-normalized path, consider use '/a%2Fb' instead"),
    ("/a%zz", "invalid url-encoded value: '%zz'"),
])
def test_route_path_rules(path: str, err: str) -> None:
    assert errors("routes", {"paths": [path]}) == {"paths": [err]}


def test_route_regex_must_compile() -> None:
    errs = errors("routes", {"paths": ["/ok", "~/(unclosed"]})
    assert errs["paths"][0] is None
    assert errs["paths"][1].startswith("invalid regex: '/(unclosed' (PCRE returned: ")


@pytest.mark.parametrize("path", ["/", "/users", "/a%2Fb", "~/users/\\d+", "~/(?<user>[a-z]+)/profile$", "/with space"])
def test_route_paths_accepted(path: str) -> None:
    assert errors("routes", {"paths": [path]}) == {}


def test_several_route_errors_joined_as_kong_does() -> None:
    with pytest.raises(KongError) as exc:
        validate_entity("routes", {"protocols": ["http", "ftp"], "paths": ["x"]})
    assert exc.value.message == (
        "2 schema violations (paths.1: should start with: / (fixed path) or ~/ (regex path); "
        "protocols.2: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)")
    assert exc.value.fields == {
        "paths": ["should start with: / (fixed path) or ~/ (regex path)"],
        "protocols": [None, "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"],
    }


@pytest.mark.parametrize(("route", "msg"), [
    ({"protocols": ["http"]}, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"),
    ({}, "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"),
    ({"protocols": ["https"]}, "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"),
    ({"protocols": ["grpc"]}, "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"),
    ({"protocols": ["tcp"]}, "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"),
    ({"protocols": ["tls_passthrough"]}, "must set snis when 'protocols' is 'tls_passthrough'"),
])
def test_route_must_set_one_of(route: dict, msg: str) -> None:
    assert errors("routes", route) == {"@entity": [msg]}
    with pytest.raises(KongError) as exc:
        validate_entity("routes", route)
    assert exc.value.message == f"schema violation ({msg})"


def test_route_any_one_matcher_is_enough() -> None:
    for extra in ({"methods": ["GET"]}, {"hosts": ["a.test"]}, {"headers": {"x-a": ["1"]}}, {"paths": ["/"]}):
        assert errors("routes", {"protocols": ["http"], **extra}) == {}
    assert errors("routes", {"protocols": ["https"], "snis": ["a.test"]}) == {}


def test_route_protocol_subsets_are_mutually_exclusive() -> None:
    assert errors("routes", {"protocols": ["http", "tcp"], "paths": ["/"]}) == {
        "protocols": "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"}
    assert errors("routes", {"protocols": ["grpc", "https"], "paths": ["/"]}) == {
        "protocols": "these sets are mutually exclusive: ('grpc', 'grpcs'), ('http', 'https')"}


def test_route_protocol_kind_rules() -> None:
    assert errors("routes", {"protocols": ["tls"], "paths": ["/x"], "snis": ["a.test"]}) == {
        "paths": "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"}
    assert errors("routes", {"protocols": ["http"], "paths": ["/"], "sources": [{"ip": "10.0.0.1"}]}) == {
        "sources": "cannot set 'sources' when 'protocols' is 'http' or 'https'"}
    assert errors("routes", {"protocols": ["grpc"], "paths": ["/"], "methods": ["GET"]}) == {
        "methods": "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"}
    assert errors("routes", {"protocols": ["http"], "paths": ["/"], "snis": ["a.test"]}) == {
        "snis": "length must be 0",
        "@entity": ["'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"]}


def test_grpc_routes_do_not_strip_path() -> None:
    assert validate_entity("routes", {"protocols": ["grpc"], "paths": ["/"]})["strip_path"] is False
    assert errors("routes", {"protocols": ["grpcs"], "paths": ["/"], "strip_path": True}) == {
        "strip_path": "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"}


@pytest.mark.parametrize(("host", "err"), [
    ("*.example.com", None), ("example.*", None), ("example.com:8080", None), ("10.0.0.1", None),
    ("*.example.com:8080", None),
    ("a.*.com", "invalid wildcard: must be placed at leftmost or rightmost label"),
    ("*example.com", "invalid wildcard: must be placed at leftmost or rightmost label"),
    ("*.*.com", "invalid wildcard: must have at most one wildcard"),
    ("exa mple.com", "invalid hostname: exa mple.com"),
    ("example.com:99999", "invalid port number"),
])
def test_route_hosts(host: str, err: str | None) -> None:
    assert errors("routes", {"hosts": [host]}) == ({} if err is None else {"hosts": [err]})


def test_route_headers_and_methods() -> None:
    assert errors("routes", {"headers": {"Host": ["a"]}}) == {
        "headers": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"}
    assert errors("routes", {"methods": ["GET", "get"]}) == {"methods": [None, "invalid value: get"]}
    assert errors("routes", {"paths": ["/"], "https_redirect_status_code": 303}) == {
        "https_redirect_status_code": "expected one of: 426, 301, 302, 307, 308"}


def test_foreign_key_shapes() -> None:
    assert errors("routes", {"paths": ["/"], "service": {"id": "nope"}}) == {"service": {"id": "expected a valid UUID"}}
    assert errors("routes", {"paths": ["/"], "service": {}}) == {"service": {"id": "missing primary key"}}
    assert errors("routes", {"paths": ["/"], "service": "svc"}) == {"service": "expected a record"}
    with pytest.raises(KongError) as exc:
        validate_entity("routes", {"paths": ["/"], "service": {}})
    assert exc.value.message == "schema violation (service.id: missing primary key)"
    r = validate_entity("routes", {"paths": ["/"], "service": {"id": UUID, "name": "ignored"}})
    assert r["service"] == {"id": UUID}


# -- consumers and credentials ------------------------------------------------------------------
def test_consumer_needs_username_or_custom_id() -> None:
    msg = "at least one of these fields must be non-empty: 'custom_id', 'username'"
    assert errors("consumers", {}) == {"@entity": [msg]}
    assert errors("consumers", {"tags": ["a"]}) == {"@entity": [msg]}
    assert errors("consumers", {"username": "bob"}) == {}
    assert errors("consumers", {"custom_id": "42"}) == {}
    with pytest.raises(KongError) as exc:
        validate_entity("consumers", {})
    assert exc.value.to_dict() == {"code": 2, "name": "schema violation", "message": f"schema violation ({msg})",
                                   "fields": {"@entity": [msg]}}


def test_credentials_need_a_consumer_and_generate_keys() -> None:
    assert errors("keyauth_credentials", {}) == {"consumer": "required field missing"}
    k = validate_entity("keyauth_credentials", {"consumer": {"id": UUID}})
    assert isinstance(k["key"], str) and len(k["key"]) >= 20
    assert errors("acls", {"consumer": {"id": UUID}}) == {"group": "required field missing"}
    assert errors("basicauth_credentials", {"consumer": {"id": UUID}, "username": "u"}) == {"password": "required field missing"}


def test_sni_names() -> None:
    cert = {"id": UUID}
    assert errors("snis", {"name": "*.example.com", "certificate": cert}) == {}
    assert errors("snis", {"name": "1.2.3.4", "certificate": cert}) == {"name": "must not be an IP"}
    assert errors("snis", {"name": "a.com:443", "certificate": cert}) == {"name": "must not have a port"}
    assert errors("snis", {"name": "a.*.com", "certificate": cert}) == {"name": "wildcard must be leftmost or rightmost character"}


# -- plugins ------------------------------------------------------------------------------------
def test_unknown_plugin_strict_and_lenient() -> None:
    assert errors("plugins", {"name": "not-bundled", "config": {"x": 1}}, strict=False) == {}
    out, _ = check_entity("plugins", {"name": "not-bundled", "config": {"x": {"y": [1]}}}, strict=False)
    assert out["config"] == {"x": {"y": [1]}}
    assert out["protocols"] == ["grpc", "grpcs", "http", "https"] and out["enabled"] is True
    assert errors("plugins", {"name": "not-bundled"}, strict=True) == {
        "name": "plugin 'not-bundled' not enabled; add it to the 'plugins' configuration property"}
    assert errors("plugins", {}, strict=False) == {"name": "required field missing"}


# -- paths helpers (shared with the router) ------------------------------------------------------
@pytest.mark.parametrize(("raw", "norm"), [
    ("/a/./b", "/a/b"), ("/a/../b", "/b"), ("/a//b", "/a/b"), ("/%7e", "/~"), ("/%2f", "/%2F"),
    ("/%41%42", "/AB"), ("/../x", "/x"), ("/a/b/..", "/a/"), ("/", "/"), ("/%c3%a9", "/%C3%A9"),
])
def test_normalize_path(raw: str, norm: str) -> None:
    assert paths.normalize_path(raw) == norm


@given(st.text(alphabet="/.%2fa7eAB~-_", max_size=20).map(lambda s: "/" + s))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_normalize_path_is_idempotent(p: str) -> None:
    once = paths.normalize_path(p)
    assert paths.normalize_path(once) == once
    assert once.startswith("/")
    # a normalized prefix path is accepted by route validation unless it is malformed
    err = paths.validate_route_path(once)
    assert err is None or "url-encoded" in err


@pytest.mark.parametrize(("old", "new"), [
    ("/regex.+", "~/regex.+"), ("/prefix", "/prefix"), ("/users/\\d+/profile", "~/users/\\d+/profile"),
    ("/a/./b", "/a/b"), ("/x%2Ey(z)", "~/x\\.y(z)"), ("/a%2Fb", "/a%2Fb"),
])
def test_v2_paths_migrate_like_kong(old: str, new: str) -> None:
    assert paths.migrate_path_v2(old) == new
