"""request-termination, request-size-limiting, redirect and bot-detection through real sockets:
Kong's spec cases (spec/03-plugins/14-request-termination, 12-request-size-limiting, 45-redirect,
21-bot-detection), each test naming its spec file and ``it`` title. The gRPC cases are not ported:
the local runtime proxies HTTP/1.1 only."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_plugin_support import Cfg, Gateway, Reply
from test_proxy_support import echo_server, make_runtime, parse_response

from konnect_desktop.runtime.dataplane import SERVER

pytestmark = pytest.mark.asyncio(loop_scope="module")
MB = 2**20


def hosts_cfg(gw: Gateway, name: str, configs: dict[str, dict[str, Any]], **route: Any) -> Cfg:
    """One route per host, each with its own instance of plugin ``name`` (the spec files' layout)."""
    c, svc = gw.cfg()
    for host, config in configs.items():
        r = c.route(svc, hosts=[host], **route)
        c.plugin(name, config, route=r)
    return c


def assert_decision(gw: Gateway, plugin: str, outcome: str) -> None:
    """The last request's traffic record carries the plugin's verdict (request console, traffic view)."""
    entry = gw.runtime.traffic.recent(1)[-1]
    assert [(d.plugin, d.outcome) for d in entry.decisions if d.plugin == plugin] == [(plugin, outcome)], entry.decisions


# -- request-termination: 01-schema_spec.lua ------------------------------------------------------

async def test_request_termination_access(gw: Gateway) -> None:
    """spec/03-plugins/14-request-termination/02-access_spec.lua, "status code and message" and
    "status code and body": "default status code and message", "status code with default message",
    "status code with custom message", "returns 204 without content length header", "default status
    code and body", "returns server tokens with Server header"."""
    c = hosts_cfg(gw, "request-termination", {
        "api1.request-termination.test": {},
        "api2.request-termination.test": {"status_code": 404},
        "api3.request-termination.test": {"status_code": 406, "message": "Invalid"},
        "api4.request-termination.test": {"body": "<html><body><h1>Service is down for maintenance</h1></body></html>"},
        "api5.request-termination.test": {"status_code": 451, "content_type": "text/html",
                                          "body": "<html><body><h1>Service is down due to content infringement</h1></body></html>"},
        "api6.request-termination.test": {"status_code": 503, "body": '{"code": 1, "message": "Service unavailable"}'},
        "api8.request-termination.test": {"status_code": 204},
    })
    await gw.load(c)

    async def get(n: int) -> Reply:
        return await gw.request("GET", "/status/200", host=f"api{n}.request-termination.test")

    r = await get(1)
    assert (r.status, r.json()) == (503, {"message": "Service unavailable"})
    assert r.header("Server") == SERVER.decode()
    r = await get(2)
    assert (r.status, r.json()) == (404, {"message": "Not found"})
    r = await get(3)
    assert (r.status, r.json()) == (406, {"message": "Invalid"})
    r = await get(8)
    assert r.status == 204 and r.header("Content-Length") is None
    r = await get(4)
    assert (r.status, r.body) == (503, b"<html><body><h1>Service is down for maintenance</h1></body></html>")
    r = await get(5)
    assert (r.status, r.body) == (451, b"<html><body><h1>Service is down due to content infringement</h1></body></html>")
    assert r.header("Content-Type") == "text/html"
    r = await get(6)
    assert (r.status, r.json()) == (503, {"code": 1, "message": "Service unavailable"})


async def test_request_termination_serviceless_route(gw: Gateway) -> None:
    """spec/03-plugins/14-request-termination/02-access_spec.lua: "default status code and message
    with serviceless route"."""
    c, _svc = gw.cfg()
    r7 = c.route(None, hosts=["api7.request-termination.test"])
    c.plugin("request-termination", {}, route=r7)
    await gw.load(c)
    r = await gw.request("GET", "/status/200", host="api7.request-termination.test")
    assert (r.status, r.json()) == (503, {"message": "Service unavailable"})


async def test_request_termination_echo_and_trigger(gw: Gateway) -> None:
    """spec/03-plugins/14-request-termination/02-access_spec.lua, "echo & trigger": "echos a request
    if no trigger is set", "doesn't echo a request if the trigger is set but not specified", "echos a
    request if the trigger is specified as a header", "echos a request if the trigger is specified as
    a query parameter"."""
    c, svc = gw.cfg()
    r9 = c.route(svc, hosts=["api9.request-termination.test"], strip_path=False,
                 paths=["~/(?<parameter>[^#?/]+)/200"])
    c.plugin("request-termination", {"echo": True, "status_code": 404}, route=r9)
    r10 = c.route(svc, hosts=["api10.request-termination.test"])
    c.plugin("request-termination", {"echo": True, "trigger": "gimme-an-echo", "status_code": 404}, route=r10)
    await gw.load(c)

    r = await gw.request("GET", "/status/200?hello=there", host="api9.request-termination.test", body="cool body")
    assert r.status == 404
    doc = r.json()
    assert doc["matched_route"]["hosts"] == ["api9.request-termination.test"]
    assert doc["message"] == "Not found" and doc["kong"]["node_id"] == gw.runtime.node_id
    doc["request"]["headers"].pop("connection")  # the test client sends Connection: close
    assert doc["request"] == {
        "headers": {"content-length": "9", "host": "api9.request-termination.test"},
        "host": "api9.request-termination.test",
        "method": "GET",
        "path": "/status/200",
        "port": gw.port,
        "query": {"hello": "there"},
        "raw_body": "cool body",
        "scheme": "http",
        "uri_captures": {"named": {"parameter": "status"}, "unnamed": ["status"]},
    }

    r = await gw.request("GET", "/status/200", host="api10.request-termination.test")
    assert r.status == 200 and r.echo["path"] == "/status/200"

    r = await gw.request("GET", "/status/200?hello=there", [("Gimme-An-Echo", "anything will do")],
                         host="api10.request-termination.test", body="cool body")
    assert r.status == 404
    req = r.json()["request"]
    assert req["headers"]["gimme-an-echo"] == "anything will do"
    assert req["query"] == {"hello": "there"} and req["uri_captures"] == {"named": {}, "unnamed": []}

    r = await gw.request("GET", "/status/200?hello=there&gimme-an-echo=anything%20will%20do",
                         host="api10.request-termination.test", body="cool body")
    assert r.status == 404
    assert r.json()["request"]["query"] == {"hello": "there", "gimme-an-echo": "anything will do"}
    assert_decision(gw, "request-termination", "reject")


# -- request-size-limiting: 01-access_spec.lua ----------------------------------------------------
TEST_SIZE = 2
UNITS = {"megabytes": MB, "kilobytes": 1024, "bytes": 1}


async def size_gateway(gw: Gateway) -> None:
    configs: dict[str, dict[str, Any]] = {
        "limit.test": {"allowed_payload_size": TEST_SIZE},
        "required.test": {"allowed_payload_size": TEST_SIZE, "require_content_length": True},
    }
    for unit in UNITS:
        configs[f"limit_{unit}.test"] = {"allowed_payload_size": TEST_SIZE, "size_unit": unit}
    await gw.load(hosts_cfg(gw, "request-size-limiting", configs))


async def send(gw: Gateway, host: str, body: bytes, *, chunked: bool = False, expect: bool = False) -> Reply:
    """A POST with ``body`` (one chunk without Content-Length when ``chunked``) on a kept-alive
    connection (a refused body is then drained by the gateway, as nginx does, rather than the
    connection reset under the client); the interim ``100 Continue`` is skipped."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        head = f"POST /request HTTP/1.1\r\nHost: {host}\r\n"
        if expect:
            head += "Expect: 100-continue\r\n"
        if chunked:
            head += "Transfer-Encoding: chunked\r\n"
            payload = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        else:
            head += f"Content-Length: {len(body)}\r\n"
            payload = body
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        if data.startswith(b"HTTP/1.1 100 "):
            data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", data).group(1))  # type: ignore[union-attr]
        data += await asyncio.wait_for(reader.readexactly(length), 20)
    finally:
        writer.close()
    return Reply(parse_response(data))


async def chunked(gw: Gateway, host: str, size: int, expect: bool = False) -> Reply:
    return await send(gw, host, b"a" * size, chunked=True, expect=expect)


def assert_exceeded(r: Reply, status: int = 413) -> None:
    assert r.status == status, r
    assert r.json()["message"] == "Request size limit exceeded"


async def test_request_size_limiting_with_content_length(gw: Gateway) -> None:
    """spec/03-plugins/12-request-size-limiting/01-access_spec.lua, "with Content-Length": "works if
    size is lower than limit", "works if size is lower than limit and Expect header", "blocks if size
    is greater than limit", "blocks if size is greater than limit and Expect header", "blocks if size
    is greater than limit when unit in <unit>", "works if size is less than limit when unit in <unit>"."""
    await size_gateway(gw)
    r = await gw.request("POST", "/request", host="limit.test", body=b"a" * (TEST_SIZE * MB))
    assert r.status == 200 and r.echo["method"] == "POST"
    r = await send(gw, "limit.test", b"a" * (TEST_SIZE * MB), expect=True)
    assert r.status == 200
    assert_exceeded(await send(gw, "limit.test", b"a" * (TEST_SIZE * MB + 1)))
    assert_exceeded(await send(gw, "limit.test", b"a" * (TEST_SIZE * MB + 1), expect=True), 417)
    for unit, factor in UNITS.items():
        host = f"limit_{unit}.test"
        assert_exceeded(await send(gw, host, b"a" * (TEST_SIZE * factor + 1)))
        assert (await send(gw, host, b"a" * (TEST_SIZE * factor - 1))).status == 200


async def test_request_size_limiting_chunked(gw: Gateway) -> None:
    """spec/03-plugins/12-request-size-limiting/01-access_spec.lua, "without Content-Length(chunked
    request body)": "works if size is lower than limit", "... and Expect header", "blocks if size is
    greater than limit", "... and Expect header", and the per-unit cases. (The spec's two buffer-size
    groups differ only in nginx's temporary file; the body here is always read into memory.)"""
    await size_gateway(gw)
    for size in (TEST_SIZE * MB, 1024):  # > and < nginx's client_body_buffer_size in the spec
        assert (await chunked(gw, "limit.test", size)).status == 200
        assert (await chunked(gw, "limit.test", size, expect=True)).status == 200
    assert_exceeded(await chunked(gw, "limit.test", TEST_SIZE * MB + 1))
    assert_exceeded(await chunked(gw, "limit.test", TEST_SIZE * MB + 1, expect=True), 417)
    for unit, factor in UNITS.items():
        assert_exceeded(await chunked(gw, f"limit_{unit}.test", TEST_SIZE * factor + 1))
        assert (await chunked(gw, f"limit_{unit}.test", TEST_SIZE * factor - 1)).status == 200


async def test_request_size_limiting_content_length_required(gw: Gateway) -> None:
    """spec/03-plugins/12-request-size-limiting/01-access_spec.lua, "Content-Length header required":
    "blocks if header is not provided"."""
    await size_gateway(gw)
    r = await gw.request("GET", "/request", host="required.test")
    assert r.status == 411 and r.json()["message"] == "A valid Content-Length header is required"
    assert (await chunked(gw, "required.test", 10)).status == 200  # chunked bodies are measured instead
    assert_decision(gw, "request-size-limiting", "pass")


# -- redirect: 01-schema_spec.lua, 02-access_spec.lua ---------------------------------------------

async def test_redirect_access(gw: Gateway) -> None:
    """spec/03-plugins/45-redirect/02-access_spec.lua: "default status code", "custom status code",
    "supports path and query params in location", "keeps the existing redirect URL"."""
    await gw.load(hosts_cfg(gw, "redirect", {
        "api1.redirect.test": {"location": "https://example.com"},
        "api2.redirect.test": {"status_code": 302, "location": "https://example.com"},
        "api3.redirect.test": {"location": "https://example.com/path?foo=bar"},
        "api4.redirect.test": {"location": "https://example.com/some_path?foo=bar", "keep_incoming_path": True},
    }))
    r = await gw.request("GET", "/status/200", host="api1.redirect.test")
    assert (r.status, r.body, r.header("Location")) == (301, b"redirecting", "https://example.com")
    assert (await gw.request("GET", "/status/200", host="api2.redirect.test")).status == 302
    r = await gw.request("GET", "/status/200", host="api3.redirect.test")
    assert r.header("Location") == "https://example.com/path?foo=bar"
    r = await gw.request("GET", "/status/200?keep=this", host="api4.redirect.test")
    assert r.header("Location") == "https://example.com/status/200?keep=this"
    # (not in the spec) without a query string, the location's own query goes too
    r = await gw.request("GET", "/other", host="api4.redirect.test")
    assert r.header("Location") == "https://example.com/other"
    assert_decision(gw, "redirect", "reject")


# -- bot-detection: 01-access_spec.lua, 03-api_spec.lua -------------------------------------------
HELLOWORLD = "HelloWorld"
FACEBOOK = "facebookexternalhit/1.1"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/50.0.2661.102 Safari/537.36")


async def test_bot_detection_access(gw: Gateway) -> None:
    """spec/03-plugins/21-bot-detection/01-access_spec.lua: "allows regular requests", "blocks
    bots", "blocks denied user-agents", "allows allowed user-agents"."""
    await gw.load(hosts_cfg(gw, "bot-detection", {"bot.test": {}, "bot2.test": {"deny": [HELLOWORLD]},
                                                  "bot3.test": {"allow": [FACEBOOK]}}))
    assert (await gw.request("GET", "/request", host="bot.test")).status == 200
    for ua in (CHROME, HELLOWORLD, "curl/7.43.0"):
        assert (await gw.request("GET", "/request", [("User-Agent", ua)], host="bot.test")).status == 200, ua
    for ua in ("Googlebot/2.1 (+http://www.google.com/bot.html)", FACEBOOK):
        r = await gw.request("GET", "/request", [("User-Agent", ua)], host="bot.test")
        assert r.status == 403 and r.json()["message"] == "Forbidden", ua
    assert (await gw.request("GET", "/request", [("User-Agent", HELLOWORLD)], host="bot2.test")).status == 403
    assert (await gw.request("GET", "/request", [("User-Agent", FACEBOOK)], host="bot3.test")).status == 200
    # Kong's handler: more than one User-Agent header is a bad request
    r = await gw.request("GET", "/request", [("User-Agent", "a"), ("User-Agent", "b")], host="bot.test")
    assert r.status == 400 and r.json()["message"] == "Only one User-Agent header allowed"
    assert_decision(gw, "bot-detection", "reject")


async def test_bot_detection_global(gw: Gateway) -> None:
    """spec/03-plugins/21-bot-detection/01-access_spec.lua, "Plugin: bot-detection configured global":
    "allows regular requests"."""
    c, svc = gw.cfg()
    c.route(svc, hosts=["bot.test"])
    c.plugin("bot-detection", {})
    await gw.load(c)
    assert (await gw.request("GET", "/request", host="bot.test")).status == 200
    for ua in (CHROME, HELLOWORLD, "curl/7.43.0"):
        assert (await gw.request("GET", "/request", [("User-Agent", ua)], host="bot.test")).status == 200



# -- changes through the Admin API (integration / invalidation specs) -------------------------------
async def test_changes_through_the_admin_api(tmp_path: Path) -> None:
    """spec/03-plugins/14-request-termination/03-integration_spec.lua: "can be applied on a
    consumer"; 45-redirect/03-integration_spec.lua: "can be applied on a consumer";
    21-bot-detection/02-invalidations_spec.lua: "blocks a newly entered user-agent", "allows a newly
    entered user-agent". Kong waits for the change to propagate; here the next request sees it."""
    echo = await echo_server()
    rt = await make_runtime(tmp_path, "admin-e2e")
    gw = Gateway(rt, echo)
    try:
        c, svc = gw.cfg()
        c.plugin("key-auth", {}, route=c.route(svc, hosts=["api1.request-termination.test"]))
        bot_route = c.route(svc, hosts=["bot.test"])
        bot = c.plugin("bot-detection", {}, route=bot_route)
        c.plugin("key-auth", {}, route=c.route(svc, hosts=["api1.redirect.test"]))
        bob = c.consumer("bob")
        c.add("keyauth_credentials", key="kong", consumer={"id": bob["id"]})
        await gw.load(c)
        async with httpx.AsyncClient(base_url=rt.admin_url or "", timeout=10) as admin:
            res = await admin.post("/plugins", json={"name": "request-termination", "consumer": {"id": bob["id"]}})
            assert res.status_code == 201
            r = await gw.request("GET", "/request", [("apikey", "kong")], host="api1.request-termination.test")
            assert (r.status, r.json()) == (503, {"message": "Service unavailable"})
            await admin.delete(f"/plugins/{res.json()['id']}")

            res = await admin.post("/plugins", json={"name": "redirect", "consumer": {"id": bob["id"]},
                                                     "config": {"location": "https://example.com/path?foo=bar"}})
            assert res.status_code == 201
            r = await gw.request("GET", "/request", [("apikey", "kong")], host="api1.redirect.test")
            assert r.status == 301 and r.header("Location") == "https://example.com/path?foo=bar"

            ua = [("User-Agent", "helloworld")]
            assert (await gw.request("GET", "/request", ua, host="bot.test")).status == 200
            res = await admin.patch(f"/plugins/{bot['id']}", json={"config": {"deny": ["helloworld"]}})
            assert res.status_code == 200
            assert (await gw.request("GET", "/request", ua, host="bot.test")).status == 403
            fb = [("User-Agent", "facebookexternalhit/1.1")]
            assert (await gw.request("GET", "/request", fb, host="bot.test")).status == 403
            res = await admin.patch(f"/plugins/{bot['id']}", json={"config": {"allow": ["facebookexternalhit/1.1"]}})
            assert res.status_code == 200
            assert (await gw.request("GET", "/request", fb, host="bot.test")).status == 200
    finally:
        await gw.stop()
