"""proxy-cache's key and HTTP rules: Kong's spec/03-plugins/31-proxy-cache/05-cache_key_spec.lua
(each ``it`` named), and the Cache-Control / media-type parsing the handler decides with."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from konnect_desktop.plugins.proxy_cache_store import (
    CacheStorage,
    content_type_matches,
    headers_key,
    params_key,
    parse_directive_header,
    parse_mime_type,
    prefix_uuid,
    resource_ttl,
)

C1, C2, R1, R2 = (str(uuid.uuid4()) for _ in range(4))
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)


def test_prefix_uuid() -> None:
    """05-cache_key_spec.lua, "prefix_uuid": "returns distinct prefixes for a consumer on different
    routes", "... for different consumers on a route", "returns the same prefix for a route with no
    consumer", "returns a consumer-specific prefix for routes", "returns 'default' if no consumer_id,
    api_id, or route_id was given / only consumer_id was given", "does not return 'default' if
    route_id is non-nil"."""
    assert prefix_uuid(C1, R1) != prefix_uuid(C1, R2) and "default" not in (prefix_uuid(C1, R1), prefix_uuid(C1, R2))
    assert prefix_uuid(C1, R1) != prefix_uuid(C2, R1)
    assert prefix_uuid(None, R1) == prefix_uuid(None, R1) != "default"
    assert prefix_uuid(None, R1) != prefix_uuid(C1, R1)
    assert prefix_uuid(None, None) == "default" and prefix_uuid(C1, None) == "default"


def test_params_key() -> None:
    """05-cache_key_spec.lua, "params_key": "defaults to all", "empty query_string returns empty",
    "... with vary query_params", "uses only params specified in vary", "deals with multiple params
    with same name", "... and sorts", "discards params in config that are not in the request"."""
    assert params_key({"a": "1", "b": "2"}, None) == "a=1:b=2"
    assert params_key({}, None) == "" and params_key({}, ["a"]) == ""
    assert params_key({"a": "1", "b": "2"}, ["a"]) == "a=1"
    assert params_key({"a": ["1", "2"]}, ["a"]) == "a=1,2"
    assert params_key({"a": ["2", "1"]}, ["a"]) == "a=1,2"
    assert params_key({"a": ["1", "2"], "b": "2"}, ["a", "b", "c"]) == "a=1,2:b=2"
    assert params_key({"a": True, "b": ""}, None) == "a:b="  # a bare flag, an empty value


@given(_name, _name)
def test_params_key_sorts_the_arguments(s1: str, s2: str) -> None:
    """05-cache_key_spec.lua, "params_key": "sorts the arguments"."""
    a, b = "a" + s1, "b" + s2
    assert params_key({b: "2", a: "1"}, None) == f"{a}=1:{b}=2"


def test_headers_key() -> None:
    """05-cache_key_spec.lua, "headers_key": "defaults to none", "uses only params specified in vary",
    "deals with multiple params with same name", "... and sorts", "discards params in config that are
    not in the request"; header names match in any case."""
    h = CIMultiDict([("a", "1"), ("b", "2")])
    assert headers_key(h, None) == ""
    assert headers_key(h, ["a"]) == "a=1"
    assert headers_key(CIMultiDict([("A", "1"), ("a", "2")]), ["a"]) == "a=1,2"
    assert headers_key(CIMultiDict([("a", "2"), ("a", "1")]), ["a"]) == "a=1,2"
    assert headers_key(CIMultiDict([("a", "1"), ("a", "2"), ("b", "2")]), ["a", "b", "c"]) == "a=1,2:b=2"
    assert headers_key(CIMultiDict([("X-Foo", "1")]), ["x_foo"]) == "x_foo=1"


def test_http_rules() -> None:
    cc = parse_directive_header("public, max-age=60, no-cache, private=\"x\"")
    assert cc == {"public": True, "max-age": 60, "no-cache": True, "private": '"x"'}
    assert resource_ttl({"s-maxage": 10, "max-age": 60}, None, 0) == 10
    assert resource_ttl({}, "Thu, 01 Jan 1970 00:01:40 GMT", 40) == 60
    assert resource_ttl({}, "not a date", 40) == 0
    assert parse_mime_type("Application/JSON; Charset=UTF-8") == ("application", "json", {"charset": "UTF-8"})
    assert parse_mime_type("application/xml;") is None and parse_mime_type("*") == ("*", "*", {})
    accepted = [parse_mime_type("application/*"), parse_mime_type("text/plain; charset=utf-8")]
    assert content_type_matches("application/xml", accepted)  # type: ignore[arg-type]
    assert content_type_matches("text/plain; charset=utf-8", accepted)  # type: ignore[arg-type]
    assert not content_type_matches("text/plain", accepted)  # type: ignore[arg-type]


def test_storage_ttl_and_flush() -> None:
    now = [1000.0]
    storage = CacheStorage(clock=lambda: now[0])
    res = {"status": 200, "headers": {"a": "b"}, "body": b"x"}
    assert storage.store("kong", "k", res, 10)
    assert storage.fetch("kong", "k") is res
    now[0] += 10
    assert storage.fetch("kong", "k") is None and storage.dicts["kong"].used == 0
    storage.store("kong", "k", res, 0)  # no expiry
    now[0] += 10**6
    assert storage.fetch("kong", "k") is res
    storage.flush("kong")
    assert storage.fetch("kong", "k") is None
