"""cors: preflight answered by the plugin, origins (exact, regex, *), credentials, max_age, exposed headers."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_helpers import make_ctx, make_handler, make_response, run_access

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError

PREFLIGHT = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"}


async def preflight(config: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    ctx = make_ctx("OPTIONS", "/", {**PREFLIGHT, **(headers or {})})
    return await run_access(make_handler("cors", config), ctx)


async def actual(config: dict[str, Any], origin: str | None, upstream: Any = None) -> Any:
    h = make_handler("cors", config)
    ctx = make_ctx("GET", "/", {"Origin": origin} if origin else {})
    assert await run_access(h, ctx) is None
    resp = make_response(200, upstream)
    h.header_filter(ctx, resp)
    return resp.headers


class TestSchema:
    def test_defaults_and_regex_check(self) -> None:
        c = plugins.validate_plugin({"name": "cors"})["config"]
        assert c["methods"] == ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
        assert (c["credentials"], c["preflight_continue"], c["allow_origin_absent"]) == (False, False, True)
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": "cors", "config": {"origins": ["(bad"]}})
        assert ei.value.fields == {"config": {"origins": ["'(bad' is not a valid regex"]}}


class TestPreflight:
    async def test_answered_with_200(self) -> None:
        exit_ = await preflight({"origins": ["https://app.test"], "max_age": 3600, "credentials": True,
                                 "headers": ["x-a", "x-b"]})
        assert exit_.status == 200 and exit_.body is None
        h = exit_.headers
        assert h["Access-Control-Allow-Origin"] == "https://app.test"
        assert h["Access-Control-Allow-Methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
        assert h["Access-Control-Allow-Headers"] == "x-a,x-b"
        assert h["Access-Control-Max-Age"] == "3600"
        assert h["Access-Control-Allow-Credentials"] == "true"
        assert h["Vary"] == "Origin"

    async def test_echoes_requested_headers(self) -> None:
        exit_ = await preflight({}, {"Access-Control-Request-Headers": "x-custom"})
        assert exit_.headers["Access-Control-Allow-Headers"] == "x-custom"
        assert exit_.headers["Access-Control-Allow-Origin"] == "*"

    async def test_preflight_continue(self) -> None:
        assert await preflight({"preflight_continue": True}) is None

    async def test_not_a_preflight(self) -> None:
        ctx = make_ctx("OPTIONS", "/", {"Origin": "https://app.test"})
        assert await run_access(make_handler("cors"), ctx) is None

    async def test_private_network(self) -> None:
        exit_ = await preflight({"private_network": True}, {"Access-Control-Request-Private-Network": "true"})
        assert exit_.headers["Access-Control-Allow-Private-Network"] == "true"


class TestOrigins:
    async def test_any(self) -> None:
        h = await actual({}, "https://x.test")
        assert h["Access-Control-Allow-Origin"] == "*" and "Vary" not in h

    async def test_exact_list(self) -> None:
        cfg = {"origins": ["https://a.test", "http://b.test:8080"]}
        assert (await actual(cfg, "https://a.test"))["Access-Control-Allow-Origin"] == "https://a.test"
        assert (await actual(cfg, "https://a.test:443"))["Access-Control-Allow-Origin"] == "https://a.test"
        assert (await actual(cfg, "http://b.test:8080"))["Access-Control-Allow-Origin"] == "http://b.test:8080"
        h = await actual(cfg, "https://evil.test")
        assert "Access-Control-Allow-Origin" not in h and h["Vary"] == "Origin"

    async def test_regex(self) -> None:
        cfg = {"origins": [r".*\.example\.test", r"^http://localhost:\d+$"]}
        assert (await actual(cfg, "https://api.example.test"))["Access-Control-Allow-Origin"] == "https://api.example.test"
        assert "Access-Control-Allow-Origin" not in await actual(cfg, "https://example.test.evil.test")
        assert (await actual(cfg, "http://localhost:3000"))["Access-Control-Allow-Origin"] == "http://localhost:3000"

    async def test_credentials_with_any_echoes_origin(self) -> None:
        h = await actual({"credentials": True}, "https://x.test")
        assert h["Access-Control-Allow-Origin"] == "https://x.test" and h["Access-Control-Allow-Credentials"] == "true"

    async def test_exposed_headers_and_vary_added(self) -> None:
        h = await actual({"origins": ["https://a.test", "https://b.test"], "exposed_headers": ["x-total"]},
                         "https://a.test", {"Vary": "Accept-Encoding"})
        assert h["Access-Control-Expose-Headers"] == "x-total"
        assert h.getall("Vary") == ["Accept-Encoding", "Origin"]

    async def test_origin_absent(self) -> None:
        assert (await actual({}, None))["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Origin" not in await actual({"allow_origin_absent": False}, None)
