"""Config schemas of the traffic-control plugins against Kong's schema specs
(spec/03-plugins/<nn>-<name>/01-schema_spec.lua and the Admin API's schema violations), each test
naming its spec file and ``it`` titles."""

from __future__ import annotations

from typing import Any

from konnect_desktop import plugins


def config_errors(name: str, config: dict[str, Any]) -> Any:
    """The ``config`` part of the errors of a plugin entity (Kong's validate_plugin_config_schema)."""
    _out, errors = plugins.check_plugin({"name": name, "config": config})
    return errors.get("config")


def test_request_termination_schema() -> None:
    """spec/03-plugins/14-request-termination/01-schema_spec.lua: every ``it`` of the file."""
    rt = "request-termination"
    # should accept a valid status_code / message / content_type / body / trigger
    for good in ({"status_code": 404}, {"message": "Not found"},
                 {"content_type": "text/html", "body": "<body><h1>Not found</h1>"},
                 {"body": "<body><h1>Not found</h1>"}, {"echo": True, "trigger": "header_name"}):
        assert config_errors(rt, good) is None, good
    # status_code should only accept numbers / can not be set as null / < 100 / > 599
    assert config_errors(rt, {"status_code": "abcd"}) == {"status_code": "expected an integer"}
    assert config_errors(rt, {"status_code": None}) == {"status_code": "required field missing"}
    assert config_errors(rt, {"status_code": 99}) == {"status_code": "value should be between 100 and 599"}
    assert config_errors(rt, {"status_code": 600}) == {"status_code": "value should be between 100 and 599"}
    # message with body / with body and content_type / with content_type
    for bad in ({"message": "error", "body": "test"}, {"message": "error", "content_type": "text/html", "body": "test"},
                {"message": "error", "content_type": "text/html"}):
        assert config_errors(rt, bad) == "message cannot be used with content_type or body"
    # content_type without body
    assert config_errors(rt, {"content_type": "text/html"}) == "content_type requires a body"
    # echo with body & content_type
    assert config_errors(rt, {"echo": True, "content_type": "text/html", "body": "<body><h1>Not found</h1>"}) \
        == "echo cannot be used with content_type and body"


def test_redirect_schema() -> None:
    """spec/03-plugins/45-redirect/01-schema_spec.lua: every ``it``."""
    assert config_errors("redirect", {"status_code": 301, "location": "https://example.com"}) is None
    assert config_errors("redirect", {"location": "https://example.com"}) is None
    assert config_errors("redirect", {"status_code": "abcd", "location": "https://example.com"}) \
        == {"status_code": "expected an integer"}
    assert config_errors("redirect", {"status_code": None, "location": "https://example.com"}) \
        == {"status_code": "required field missing"}
    for code in (99, 600):
        assert config_errors("redirect", {"status_code": code, "location": "https://example.com"}) \
            == {"status_code": "value should be between 100 and 599"}
    assert config_errors("redirect", {"status_code": 301}) == {"location": "required field missing"}
    assert config_errors("redirect", {"status_code": 301, "location": "definitely_not_a_url"}) \
        == {"location": "missing host in url"}
    assert config_errors("redirect", {"location": "https://example.com", "keep_incoming_path": "invalid"}) \
        == {"keep_incoming_path": "expected a boolean"}


def test_bot_detection_bad_regex() -> None:
    """spec/03-plugins/21-bot-detection/03-api_spec.lua: "fails when using a bad regex in allow",
    "fails when using a bad regex in deny" (the schema violation the Admin API answers)."""
    bad = r"(https?:\/\/.*"
    assert config_errors("bot-detection", {"allow": [bad]}) == {"allow": [f"not a valid regex: {bad}"]}
    assert config_errors("bot-detection", {"deny": [bad]}) == {"deny": [f"not a valid regex: {bad}"]}


# -- proxy-cache: 01-schema_spec.lua --------------------------------------------------------------
def test_proxy_cache_schema() -> None:
    """spec/03-plugins/31-proxy-cache/01-schema_spec.lua: every ``it``."""
    pc = "proxy-cache"
    out, errors = plugins.check_plugin({"name": pc, "config": {"strategy": "memory"}})
    assert errors == {}  # "accepts a minimal config"
    assert out["config"]["content_type"] == ["text/plain", "application/json"]  # "defines default content-type values"
    for good in ({"response_code": [200, 301], "request_method": ["GET"], "content_type": ["application/json"]},
                 {"response_code": [123, 200]}, {"vary_query_params": ["foo"]}, {"vary_headers": ["foo"]},
                 {"content_type": ["application/*", "*/text"]}, {"content_type": ["*/*"]},
                 {"content_type": ["application/json; charset=UTF-8"]}):
        assert config_errors(pc, {"strategy": "memory", **good}) is None, good
    assert config_errors(pc, {"strategy": "memory", "response_code": [99]}) \
        == {"response_code": ["value should be between 100 and 900"]}
    assert config_errors(pc, {"strategy": "memory", "response_code": []}) == {"response_code": "length must be at least 1"}
    assert config_errors(pc, {"strategy": "memory", "response_code": ""}) == {"response_code": "expected an array"}
    # Kong's error list is sparse (no entry for the valid 123); here the valid position holds None
    assert config_errors(pc, {"strategy": "memory", "response_code": [True, "alo", 123]}) \
        == {"response_code": ["expected an integer", "expected an integer", None]}
    assert config_errors(pc, {"strategy": "memory", "response_code": [123.5]}) == {"response_code": ["expected an integer"]}
    assert config_errors(pc, {"strategy": "memory", "cache_ttl": -1}) == {"cache_ttl": "value must be greater than 0"}


# -- response-ratelimiting: 01-schema_spec.lua ----------------------------------------------------
def test_response_ratelimiting_schema() -> None:
    """spec/03-plugins/24-response-rate-limiting/01-schema_spec.lua: every ``it``."""
    rrl = "response-ratelimiting"
    assert config_errors(rrl, {"limits": {"video": {"second": 1}}}) is None  # "proper config validates"
    assert config_errors(rrl, {"limits": {"video": dict(zip(("second", "minute", "hour", "day", "month", "year"),
                                                             range(1, 7), strict=True))}}) is None
    assert config_errors(rrl, {}) == {"limits": "required field missing"}  # "empty config"
    assert config_errors(rrl, {"limits": {}}) == {"limits": "length must be at least 1"}
    assert config_errors(rrl, {"limits": {"video": {"seco": 1}}})["limits"]["seco"] == "unknown field"
    assert config_errors(rrl, {"limits": {"video": {"second": None, "minute": 1}}}) is None  # issue #8314
    assert config_errors(rrl, {"limits": {"video": {"second": 2, "minute": 1}}}) \
        == {"limits": "the limit for minute(1.0) cannot be lower than the limit for second(2.0)"}
    assert config_errors(rrl, {"limits": {"video": {"second": 1, "minute": 2, "hour": 3, "day": 4, "month": 6, "year": 5}}}) \
        == {"limits": "the limit for year(5.0) cannot be lower than the limit for month(6.0)"}
    assert config_errors(rrl, {"limits": {"second": 10}}) == {"limits": "expected a record"}  # "invaldid unit type"
    redis = {"host": "127.0.0.1", "port": 6379, "database": 0, "username": "test", "password": "testXXX",
             "ssl": True, "ssl_verify": False, "timeout": 1100, "server_name": "redis.test"}
    assert config_errors(rrl, {"limits": {"video": {"second": 10}}, "policy": "redis", "redis": redis}) is None
    legacy = {f"redis_{k}": v for k, v in redis.items()}
    out, errors = plugins.check_plugin({"name": rrl, "config": {"limits": {"video": {"second": 10}}, "policy": "redis", **legacy}})
    assert errors == {} and out["config"]["redis"]["host"] == "127.0.0.1"  # "... with redis legacy structure"
    no_host = {k: v for k, v in redis.items() if k != "host"}
    _out, errors = plugins.check_plugin({"name": rrl, "config": {"limits": {"video": {"second": 10}}, "policy": "redis",
                                                                 "redis": no_host}})
    assert errors["config"]["redis"]["host"] == "required field missing"


# -- standard-webhooks: 01-unit_spec.lua ----------------------------------------------------------
def test_standard_webhooks_schema() -> None:
    """spec/03-plugins/44-standard-webhooks/01-unit_spec.lua: every ``it``."""
    sw = "standard-webhooks"
    assert config_errors(sw, {"secret_v1": "abc123", "tolerance_second": 300}) is None  # "accepts a valid config"
    assert config_errors(sw, {"tolerance_second": 300}) == {"secret_v1": "required field missing"}  # "must be set"
    assert config_errors(sw, {"secret_v1": None, "tolerance_second": 300}) == {"secret_v1": "required field missing"}
    assert config_errors(sw, {"secret_v1": 123, "tolerance_second": 300}) == {"secret_v1": "expected a string"}
    out, errors = plugins.check_plugin({"name": sw, "config": {"secret_v1": "abc123"}})  # "gets a default"
    assert errors == {} and out["config"] == {"secret_v1": "abc123", "tolerance_second": 300}
    assert config_errors(sw, {"secret_v1": "abc123", "tolerance_second": None}) \
        == {"tolerance_second": "required field missing"}
    assert config_errors(sw, {"secret_v1": "abc123", "tolerance_second": 5.67}) == {"tolerance_second": "expected an integer"}
    assert config_errors(sw, {"secret_v1": "abc123", "tolerance_second": -1}) \
        == {"tolerance_second": "value must be greater than -1"}
