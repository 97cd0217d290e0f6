"""An OpenAPI file, converted as decK converts it, runs on the local gateway through real sockets:
path parameters route by regex, an operation's ``x-kong-plugin-key-auth`` guards only its route,
a document-level ``x-kong-plugin-request-transformer`` reaches every route, and the method picks
the route."""

from __future__ import annotations

from typing import Any

from test_proxy_support import make_runtime, port_of, raw_request

from konnect_desktop.model import declarative
from konnect_desktop.model.openapi2kong import convert


def _spec(upstream_port: int) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Users API", "version": "1"},
        "servers": [{"url": f"http://127.0.0.1:{upstream_port}/api"}],
        "x-kong-plugin-request-transformer": {"config": {"add": {"headers": ["x-from-spec:yes"]}}},
        "paths": {
            "/users/{userId}": {
                "get": {"operationId": "getUser", "responses": {"200": {"description": "ok"}},
                        "x-kong-plugin-key-auth": {"config": {"key_names": ["apikey"]}}},
            },
            "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
    }


async def test_converted_spec_runs_on_the_gateway(tmp_path, echo) -> None:
    doc = convert(_spec(echo.port))
    doc["consumers"] = [{"username": "dev", "keyauth_credentials": [{"key": "k-123"}]}]
    config = declarative.load(declarative.render(doc).encode())
    rt = await make_runtime(tmp_path)
    try:
        await rt.load_config(config)
        port = port_of(rt.proxy_url)

        health = await raw_request(port, "GET", "/health")
        assert health.status == 200, health
        seen = health.json()
        assert seen["path"] == "/api/health"  # strip_path false: the spec's path follows the server's
        assert seen["headers"]["x-from-spec"] == "yes"

        assert (await raw_request(port, "GET", "/users/42")).status == 401
        ok = await raw_request(port, "GET", "/users/42?x=1", headers=[("apikey", "k-123")])
        assert ok.status == 200 and ok.json()["path"] == "/api/users/42"
        assert ok.json()["headers"]["x-consumer-username"] == "dev"

        # the routes are anchored regexes, one method each
        assert (await raw_request(port, "GET", "/users/42/extra", headers=[("apikey", "k-123")])).status == 404
        assert (await raw_request(port, "POST", "/health")).status == 404
    finally:
        await rt.stop()
