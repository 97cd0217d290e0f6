"""http-log's schema, ported from Kong's spec/03-plugins/03-http-log/02-schema_spec.lua (each
test names its ``it``)."""

from __future__ import annotations

import pytest

from konnect_desktop import plugins


def check(config: dict) -> dict:
    _out, errors = plugins.check_plugin({"name": "http-log", "config": config})
    return errors


@pytest.mark.parametrize("config", [
    {"http_endpoint": "http://myservice.test/path"},  # it("accepts minimal config with defaults")
    {"http_endpoint": "http://bob:password@myservice.test/path"},  # it("accepts empty headers with username/password in the http_endpoint")
    {"http_endpoint": "http://myservice.test/path", "custom_fields_by_lua": {"foo": "return 'bar'"}},  # it("accepts custom fields by lua")
    {"http_endpoint": "http://myservice.test/path", "headers": {"X-My-Header": "123", "X-Your-Header": "abc"}},  # it("does accept allowed headers")
])
def test_accepts(config: dict) -> None:
    assert check(config) == {}


@pytest.mark.parametrize(("headers", "message"), [
    ({"X-My-Header": ""}, "length must be at least 1"),  # it("does not accept empty header values")
    ({"X-My-Header": "123", "Host": "MyHost"}, "cannot contain 'Host' header"),  # it("does not accept Host header")
    ({"coNTEnt-Length": "123"}, "cannot contain 'Content-Length' header"),  # it("does not accept Content-Length header")
    ({"coNTEnt-Type": "bad"}, "cannot contain 'Content-Type' header"),  # it("does not accept Content-Type header")
])
def test_rejects_headers(headers: dict, message: str) -> None:
    assert check({"http_endpoint": "http://myservice.test/path", "headers": headers}) == {"config": {"headers": message}}


def test_rejects_userinfo_and_authorization_header() -> None:
    """it("does not accept userinfo in URL and 'Authorization' header")."""
    assert check({"http_endpoint": "http://hi:there@myservice.test/path", "headers": {"AuthoRIZATion": "bad"}}) == {
        "config": "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"}


def test_defaults_and_url_checks() -> None:
    out = plugins.validate_plugin({"name": "http-log", "config": {"http_endpoint": "http://x.test"}})
    c = out["config"]
    assert (c["method"], c["content_type"], c["timeout"], c["keepalive"]) == ("POST", "application/json", 10000, 60000)
    assert c["queue"] == {"max_batch_size": 1, "max_coalescing_delay": 1, "max_entries": 10000, "max_bytes": None,
                          "max_retry_time": 60, "initial_retry_delay": 0.01, "max_retry_delay": 60,
                          "concurrency_limit": 1}
    assert check({}) == {"config": {"http_endpoint": "required field missing"}}
    assert check({"http_endpoint": "myservice.test/path"}) == {"config": {"http_endpoint": "missing host in url"}}
    assert check({"http_endpoint": "http://x.test", "method": "GET"}) == {
        "config": {"method": "expected one of: POST, PUT, PATCH"}}
    assert check({"http_endpoint": "http://x.test", "queue": {"concurrency_limit": 2}}) == {
        "config": {"queue": {"concurrency_limit": "expected one of: -1, 1"}}}
