"""cors, correlation-id, ip-restriction and response-transformer through real sockets."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from e2e_plugin_support import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def one_route(gw: Gateway, name: str, config: dict[str, Any], path: str = "/p") -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=[path])
    c.plugin(name, config, route=r)
    await gw.load(c)


async def test_cors_preflight_answered_by_the_plugin(gw: Gateway) -> None:
    await one_route(gw, "cors", {"origins": ["https://app.test", r".*\.example\.test"], "credentials": True,
                                 "max_age": 600, "exposed_headers": ["x-total"]})
    r = await gw.request("OPTIONS", "/p", [("Origin", "https://app.test"), ("Access-Control-Request-Method", "PUT"),
                                           ("Access-Control-Request-Headers", "x-custom")])
    assert r.status == 200 and r.body == b""
    assert r.header("Access-Control-Allow-Origin") == "https://app.test"
    assert r.header("Access-Control-Allow-Methods") == "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
    assert r.header("Access-Control-Allow-Headers") == "x-custom"
    assert r.header("Access-Control-Max-Age") == "600"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Expose-Headers") is None  # not on preflight answers
    # an actual request: proxied, CORS headers added to the upstream's answer
    r = await gw.request("GET", "/p", [("Origin", "https://api.example.test")])
    assert r.status == 200 and r.echo["path"] == "/"
    assert r.header("Access-Control-Allow-Origin") == "https://api.example.test"
    assert r.header("Access-Control-Expose-Headers") == "x-total"
    assert "Origin" in r.headers_all("Vary")
    r = await gw.request("GET", "/p", [("Origin", "https://evil.test")])
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None


async def test_cors_preflight_continue(gw: Gateway) -> None:
    await one_route(gw, "cors", {"preflight_continue": True})
    r = await gw.request("OPTIONS", "/p", [("Origin", "https://a.test"), ("Access-Control-Request-Method", "GET")])
    assert r.status == 200 and r.echo["method"] == "OPTIONS"


async def test_correlation_id(gw: Gateway) -> None:
    await one_route(gw, "correlation-id", {"echo_downstream": True, "generator": "uuid"})
    r = await gw.request("GET", "/p")
    sent = r.up_header("kong-request-id")
    uuid.UUID(sent)
    assert r.header("Kong-Request-ID") == sent
    r = await gw.request("GET", "/p", [("Kong-Request-ID", "from-client")])
    assert r.up_header("kong-request-id") == "from-client" and r.header("Kong-Request-ID") == "from-client"


async def test_correlation_id_counter(gw: Gateway) -> None:
    await one_route(gw, "correlation-id", {})
    ids = [(await gw.request("GET", "/p")).up_header("kong-request-id") for _ in range(2)]
    base0, n0 = ids[0].split("#")
    base1, n1 = ids[1].split("#")
    assert base0 == base1 and int(n1) == int(n0) + 1


async def test_ip_restriction(gw: Gateway) -> None:
    await one_route(gw, "ip-restriction", {"deny": ["127.0.0.2", "127.0.1.0/24"]})
    assert (await gw.request("GET", "/p")).status == 200
    for ip in ("127.0.0.2", "127.0.1.9"):
        r = await gw.request("GET", "/p", client_ip=ip)
        assert r.status == 403 and r.json()["message"] == f"IP address not allowed: {ip}"
    await one_route(gw, "ip-restriction", {"allow": ["127.0.0.1"], "status": 401, "message": "nope"})
    assert (await gw.request("GET", "/p")).status == 200
    r = await gw.request("GET", "/p", client_ip="127.0.0.3")
    assert r.status == 401 and r.json()["message"] == "nope"


async def test_response_transformer(gw: Gateway) -> None:
    await one_route(gw, "response-transformer", {
        "remove": {"headers": ["Server"], "json": ["origin", "files"]},
        "rename": {"json": ["path:upstream_path"]},
        "add": {"headers": ["x-added:1"], "json": ["added:true", "count:3"], "json_types": ["boolean", "number"]},
        "append": {"headers": ["x-added:2"]},
    })
    r = await gw.request("GET", "/p")
    assert r.status == 200
    assert "konnect-desktop-echo" not in r.headers_all("Server")
    assert r.headers_all("x-added") == ["1", "2"]
    body = json.loads(r.body)
    assert "origin" not in body and "files" not in body and "path" not in body
    assert body["upstream_path"] == "/" and body["added"] is True and body["count"] == 3
    assert int(r.header("Content-Length") or 0) == len(r.body)
