"""Kong's schema specs for the plugins that ran here first, through the Admin API over HTTP.

Each case names its Kong spec file and ``it`` title (Kong 3.9,
``spec/03-plugins/<nn>-<name>/..._spec.lua``). Kong calls the schema directly
(``validate_plugin_config_schema``); here the same config goes to ``POST /schemas/plugins/validate``
on a real socket, and the answer's ``fields`` must be what Kong's validator returns.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from admin_support import Api, admin_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK = None  # the config validates

CORS = "spec/03-plugins/13-cors/02-schema_spec.lua"
CID = "spec/03-plugins/11-correlation-id/02-schema_spec.lua"
IPR = "spec/03-plugins/17-ip-restriction/01-schema_spec.lua"
RT = "spec/03-plugins/36-request-transformer/01-schema_spec.lua"
RL = "spec/03-plugins/23-rate-limiting/01-schema_spec.lua"
METHODS = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"
RL_PERIODS = ("'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'")

CASES: list[tuple[str, str, str, dict[str, Any], Any]] = [
    # (spec file, it title, plugin, config, expected errors: None or Kong's fields)
    (CORS, "validates '*'", "cors", {"origins": ["*"]}, OK),
    (CORS, "validates what looks like a domain", "cors", {"origins": ["example.com"]}, OK),
    (CORS, "validates what looks like a regex", "cors", {"origins": [r".*\.example(?:-foo)?\.com"]}, OK),
    (CORS, "with invalid regex in origins", "cors", {"origins": [r".*.example.com", r"invalid_**regex"]},
     {"config": {"origins": [None, "'invalid_**regex' is not a valid regex"]}}),
    *[(CORS, f"should allow {m}", "cors", {"methods": [m]}, OK)
      for m in ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")],
    (CORS, "with invalid method", "cors", {"methods": ["FAKE"]},
     {"config": {"methods": [f"expected one of: {METHODS}"]}}),
    (CID, "requried field must be included", "correlation-id", {"generator": None},
     {"config": {"generator": "required field missing"}}),
    (IPR, "should accept a valid allow", "ip-restriction", {"allow": ["127.0.0.1/32", "127.0.0.2/32"]}, OK),
    (IPR, "should accept a valid allow and status/message", "ip-restriction",
     {"allow": ["127.0.0.1/32", "127.0.0.2/32"], "status": 403, "message": "Forbidden"}, OK),
    (IPR, "should accept a valid cidr range", "ip-restriction", {"allow": ["127.0.0.1/8"]}, OK),
    (IPR, "should accept a valid deny", "ip-restriction", {"deny": ["127.0.0.1/32", "127.0.0.2/32"]}, OK),
    (IPR, "should accept both non-empty allow and deny", "ip-restriction",
     {"deny": ["127.0.0.2/32"], "allow": ["127.0.0.1/32"]}, OK),
    (IPR, "allow should not accept invalid types", "ip-restriction", {"allow": 12},
     {"config": {"allow": "expected an array"}}),
    (IPR, "allow should not accept invalid IPs", "ip-restriction", {"allow": ["hello"]},
     {"config": {"allow": ["invalid ip or cidr range: 'hello'"]}}),
    (IPR, "allow should not accept invalid IPs (third)", "ip-restriction",
     {"allow": ["127.0.0.1/32", "127.0.0.2/32", "hello"]},
     {"config": {"allow": [None, None, "invalid ip or cidr range: 'hello'"]}}),
    (IPR, "deny should not accept invalid types", "ip-restriction", {"deny": 12},
     {"config": {"deny": "expected an array"}}),
    (IPR, "deny should not accept invalid IPs", "ip-restriction", {"deny": ["hello"]},
     {"config": {"deny": ["invalid ip or cidr range: 'hello'"]}}),
    (IPR, "should not accept both empty allow and deny", "ip-restriction", {"deny": [], "allow": []},
     {"@entity": ["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]}),
    (IPR, "should not accept invalid cidr ranges", "ip-restriction",
     {"allow": ["0.0.0.0/a", "0.0.0.0/-1", "0.0.0.0/33"]},
     {"config": {"allow": ["invalid ip or cidr range: '0.0.0.0/a'", "invalid ip or cidr range: '0.0.0.0/-1'",
                           "invalid ip or cidr range: '0.0.0.0/33'"]}}),
    (IPR, "should not accept invalid ipv6 cidr ranges", "ip-restriction",
     {"allow": ["::/a", "::/-1", "::/129", "::1/a", "::1/-1", "::1/129"]},
     {"config": {"allow": [f"invalid ip or cidr range: '{v}'" for v in ("::/a", "::/-1", "::/129", "::1/a", "::1/-1", "::1/129")]}}),
    (IPR, "should accept valid ipv6 cidr ranges", "ip-restriction", {"allow": ["::/0", "::/1", "::/128"]}, OK),
    (RT, "validates http_method", "request-transformer", {"http_method": "GET"}, OK),
    (RT, "errors invalid http_method", "request-transformer", {"http_method": "HELLO!"},
     {"config": {"http_method": "invalid value: HELLO!"}}),
    (RT, "validate regex pattern as value", "request-transformer",
     {"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:$(uri_captures.user2)"]}}, OK),
    (RT, "validate string as value", "request-transformer",
     {"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:value"]}}, OK),
    (RT, "error for missing value", "request-transformer", {"add": {"querystring": ["uri_param2:"]}}, "error"),
    (RT, "error for malformed regex pattern in value", "request-transformer",
     {"add": {"querystring": ["uri_param2:$(uri_captures user2)"]}}, "error"),
    (RL, "proper config validates", "rate-limiting", {"second": 10}, OK),
    (RL, "proper config validates (bis)", "rate-limiting",
     {"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 50, "year": 60}, OK),
    (RL, "proper config validates (header)", "rate-limiting",
     {"second": 10, "limit_by": "header", "header_name": "X-App-Version"}, OK),
    (RL, "proper config validates (path)", "rate-limiting", {"second": 10, "limit_by": "path", "path": "/request"}, OK),
    (RL, "limits: smaller unit is less than bigger unit", "rate-limiting", {"second": 20, "hour": 10},
     {"config": "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"}),
    (RL, "limits: smaller unit is less than bigger unit (bis)", "rate-limiting",
     {"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 60, "year": 50},
     {"config": "The limit for year(50.0) cannot be lower than the limit for month(60.0)"}),
    (RL, "invalid limit", "rate-limiting", {},
     {"@entity": [f"at least one of these fields must be non-empty: {RL_PERIODS}"]}),
    (RL, "is limited by header but the header_name field is missing", "rate-limiting",
     {"second": 10, "limit_by": "header"},
     {"@entity": ["failed conditional validation given value of field 'config.limit_by'"],
      "config": {"header_name": "required field missing"}}),
    (RL, "is limited by path but the path field is missing", "rate-limiting", {"second": 10, "limit_by": "path"},
     {"@entity": ["failed conditional validation given value of field 'config.limit_by'"],
      "config": {"path": "required field missing"}}),
    (RL, "proper config validates with redis new structure", "rate-limiting",
     {"second": 10, "policy": "redis", "redis": {"host": "127.0.0.1", "port": 6379, "database": 0, "username": "test",
                                                 "password": "testXXX", "ssl": True, "ssl_verify": False,
                                                 "timeout": 1100, "server_name": "test.example"}}, OK),
    (RL, "proper config validates with redis legacy structure", "rate-limiting",
     {"second": 10, "policy": "redis", "redis_host": "127.0.0.1", "redis_port": 6379, "redis_database": 0,
      "redis_username": "test", "redis_password": "testXXX", "redis_ssl": True, "redis_ssl_verify": False,
      "redis_timeout": 1100, "redis_server_name": "test.example"}, OK),
    (RL, "verifies that redis required fields are supplied", "rate-limiting",
     {"second": 10, "policy": "redis", "redis": {"port": 6379, "database": 0, "username": "test",
                                                 "password": "testXXX", "ssl": True, "ssl_verify": False,
                                                 "timeout": 1100, "server_name": "test.example"}},
     {"@entity": ["failed conditional validation given value of field 'config.policy'"],
      "config": {"redis": {"host": "required field missing"}}}),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory):
    async with admin_client(tmp_path_factory.mktemp("schema-specs") / "kong.db") as client:
        yield Api(client, client.store)


@pytest.mark.parametrize(("spec", "title", "name", "config", "expected"), CASES,
                         ids=[f"{c[2]}: {c[1]}" for c in CASES])
async def test_kong_schema_spec(api: Api, spec: str, title: str, name: str, config: dict[str, Any],
                                expected: Any) -> None:
    status, body = await api.call("POST", "/schemas/plugins/validate", json={"name": name, "config": config})
    if expected is OK:
        assert status == 200, (spec, title, body)
        assert body == {"message": "schema validation successful"}
        return
    assert status == 400, (spec, title, body)
    assert body["name"] == "schema violation" and body["code"] == 2
    if expected != "error":  # Kong's spec asserts only that it fails
        for key, want in expected.items():
            assert body["fields"][key] == want, (spec, title, body["fields"])
