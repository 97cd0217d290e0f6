"""The proxy, black box through real sockets on 127.0.0.1: client → LocalRuntime → upstream.

Kong's own answers (404/426/redirects, 502/504), the headers Kong adds both ways, Host
handling, timeouts, retries, load balancing, streaming, keep-alive, pipelining and isolation of
slow requests.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from test_proxy_support import Cfg, app_server, make_runtime, peak_rss_during, port_of, raw_request

KONG_VIA = "1.1 kong/3.9.1"


@pytest.fixture
async def rt(tmp_path):
    runtime = await make_runtime(tmp_path)
    yield runtime
    await runtime.stop()


# -- Kong's own answers -------------------------------------------------------------------------
async def test_no_route_is_kongs_404(rt) -> None:
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/nothing/here")
    assert resp.status == 404
    rid = resp.header("X-Kong-Request-Id")
    assert rid and len(rid) == 32
    assert resp.json() == {"message": "no Route matched with those values", "request_id": rid}
    assert resp.header("Content-Type") == "application/json; charset=utf-8"
    assert resp.header("Server", "").startswith("kong/")
    assert resp.header("X-Kong-Response-Latency") is not None
    entry = rt.traffic.get(rid)
    assert entry is not None and entry.status == 404 and entry.route is None


async def test_method_mismatch_is_404_not_405(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/only-post"], methods=["POST"])
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/only-post")
    assert resp.status == 404


async def test_https_only_route_answers_426(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/secure"], protocols=["https"])
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/secure/x?a=1")
    assert resp.status == 426
    rid = resp.header("X-Kong-Request-Id")
    assert resp.json() == {"message": "Please use HTTPS protocol", "request_id": rid}
    assert resp.header("Connection") == "Upgrade"
    assert resp.header("Upgrade") == "TLS/1.2, HTTP/1.1"


@pytest.mark.parametrize("code", [301, 302, 307, 308])
async def test_https_only_route_redirects(rt, echo, code: int) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/secure"], protocols=["https"],
              https_redirect_status_code=code)
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/secure/x?a=1", host="example.com:8000")
    assert resp.status == code
    assert resp.header("Location") == "https://example.com/secure/x?a=1"
    assert resp.body == b""


async def test_route_without_service_is_503(rt) -> None:
    cfg = Cfg()
    cfg.route(None, paths=["/orphan"])
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/orphan")
    assert resp.status == 503
    assert resp.json()["message"] == "no Service found with those values"


async def test_malformed_request_is_400(rt) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 400")


# -- headers both ways --------------------------------------------------------------------------
async def test_forwarding_headers_to_upstream_and_latencies_back(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port, path="/base"), paths=["/api"], strip_path=True)
    await rt.load_config(cfg.config())
    px = port_of(rt.proxy_url)
    resp = await raw_request(px, "GET", "/api/users?id=7", host="gw.example.com:8443",
                             headers=[("X-Forwarded-For", "10.0.0.1"), ("X-Forwarded-Proto", "https"),
                                      ("X-Real-IP", "6.6.6.6"), ("Via", "1.0 other"), ("Connection", "keep-alive"),
                                      ("Keep-Alive", "timeout=5"), ("X-Custom", "kept")])
    assert resp.status == 200
    got = resp.json()
    h = got["headers"]
    assert got["path"] == "/base/users" and got["query"] == "id=7"
    assert h["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"  # appended
    assert h["x-forwarded-proto"] == "http"  # what the proxy saw, not what the client claimed
    assert h["x-forwarded-host"] == "gw.example.com"
    assert h["x-forwarded-port"] == str(px)
    assert h["x-forwarded-path"] == "/api/users"
    assert h["x-forwarded-prefix"] == "/api"
    assert h["x-real-ip"] == "127.0.0.1"
    assert h["via"] == f"1.0 other, {KONG_VIA}"
    assert h["x-kong-request-id"] == resp.header("X-Kong-Request-Id")
    assert h["x-custom"] == "kept"
    assert "keep-alive" not in h  # hop-by-hop
    assert h["host"] == f"127.0.0.1:{echo.port}"  # service host:port (non-default port)
    assert resp.header("Via") == KONG_VIA
    assert int(resp.header("X-Kong-Upstream-Latency") or "-1") >= 0
    assert int(resp.header("X-Kong-Proxy-Latency") or "-1") >= 0


async def test_no_prefix_header_without_strip(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/api"], strip_path=False)
    await rt.load_config(cfg.config())
    got = (await raw_request(port_of(rt.proxy_url), "GET", "/api/x")).json()
    assert got["path"] == "/api/x"
    assert "x-forwarded-prefix" not in got["headers"]
    assert got["headers"]["x-forwarded-for"] == "127.0.0.1"


@pytest.mark.parametrize("preserve", [True, False])
async def test_preserve_host(rt, echo, preserve: bool) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), hosts=["api.example.com"], preserve_host=preserve)
    await rt.load_config(cfg.config())
    got = (await raw_request(port_of(rt.proxy_url), "GET", "/", host="api.example.com:9999")).json()
    expected = "api.example.com:9999" if preserve else f"127.0.0.1:{echo.port}"
    assert got["headers"]["host"] == expected


async def test_upstream_response_headers_pass_through(rt) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.Response(status=201, text="made", headers={"X-Up": "1", "Set-Cookie": "a=1"})
        resp.headers.add("Set-Cookie", "b=2")
        return resp

    up = await app_server(handler)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/"])
        await rt.load_config(cfg.config())
        resp = await raw_request(port_of(rt.proxy_url), "POST", "/make", body=b"x")
        assert resp.status == 201 and resp.body == b"made"
        assert resp.header("X-Up") == "1"
        assert resp.headers_all("Set-Cookie") == ["a=1", "b=2"]
    finally:
        await up.stop()


# -- timeouts, failures, retries ----------------------------------------------------------------
async def test_read_timeout_is_504(rt) -> None:
    # the upstream answers only when the test lets it, after the 504: only the proxy's read
    # timeout (200 ms) can have ended the request (no elapsed-time window to measure)
    release = asyncio.Event()

    async def held(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="late")

    up = await app_server(held)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port, read_timeout=200, retries=0), paths=["/slow"])
        await rt.load_config(cfg.config())
        resp = await asyncio.wait_for(raw_request(port_of(rt.proxy_url), "GET", "/slow"), 30)
        assert resp.status == 504
        assert resp.json() == {"message": "The upstream server is timing out",
                               "request_id": resp.header("X-Kong-Request-Id")}
        assert "timeout" in (rt.traffic.get(resp.header("X-Kong-Request-Id")).error or "")
    finally:
        release.set()
        await up.stop()


async def test_write_timeout_is_504(rt) -> None:
    # an upstream that accepts and never reads: the request body fills the socket buffers; it
    # hangs up only when the test is done, so only the proxy's write timeout can end the request
    done = asyncio.Event()

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()
        writer.close()

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=port, write_timeout=300, read_timeout=60000, retries=0), paths=["/up"])
        await rt.load_config(cfg.config())

        async def body():
            chunk = b"x" * 65536
            for _ in range(1000):  # 64 MB, far more than the socket buffers hold
                yield chunk

        async with aiohttp.ClientSession() as s:
            async with s.post(rt.proxy_url + "/up", data=body()) as r:
                status = r.status
                payload = await r.json()
        # (the upstream has not hung up: the 504 is the write timeout's)
        assert status == 504
        assert payload["message"] == "The upstream server is timing out"
    finally:
        done.set()
        server.close()


async def test_dead_upstream_is_retried_then_502(rt) -> None:
    accepted = 0

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.read(100)  # take the request, then hang up without answering
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=port, retries=3), paths=["/dead"])
        await rt.load_config(cfg.config())
        resp = await raw_request(port_of(rt.proxy_url), "GET", "/dead")
        assert resp.status == 502
        assert resp.json() == {"message": "An invalid response was received from the upstream server",
                               "request_id": resp.header("X-Kong-Request-Id")}
        assert accepted == 4  # one try + service.retries
    finally:
        server.close()


async def test_refused_connection_is_retried_then_502(rt) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = Cfg()
    cfg.route(cfg.service(port=port, retries=2), paths=["/refused"])
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/refused")
    assert resp.status == 502
    entry = rt.traffic.get(resp.header("X-Kong-Request-Id"))
    assert "connect" in (entry.error or "")


async def test_retry_moves_to_the_next_target(rt, echo) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cfg = Cfg()
    u = cfg.upstream("pool.internal")
    cfg.target(u, f"127.0.0.1:{dead}")
    cfg.target(u, f"127.0.0.1:{echo.port}")
    cfg.route(cfg.service(host="pool.internal", port=80, retries=2), paths=["/"])
    await rt.load_config(cfg.config())
    for _ in range(4):
        assert (await raw_request(port_of(rt.proxy_url), "GET", "/")).status == 200


async def test_upstream_without_targets_is_503(rt) -> None:
    cfg = Cfg()
    cfg.upstream("empty.internal")
    cfg.route(cfg.service(host="empty.internal"), paths=["/"])
    await rt.load_config(cfg.config())
    resp = await raw_request(port_of(rt.proxy_url), "GET", "/")
    assert resp.status == 503
    assert resp.json()["message"] == "failure to get a peer from the ring-balancer"


# -- load balancing -------------------------------------------------------------------------------
async def test_weighted_round_robin(rt) -> None:
    servers = []
    for label in ("a", "b", "c"):
        async def handler(request: web.Request, label: str = label) -> web.StreamResponse:
            return web.json_response({"label": label, "host": request.headers.get("Host")})

        servers.append(await app_server(handler))
    try:
        cfg = Cfg()
        u = cfg.upstream("backend.internal")
        cfg.target(u, f"127.0.0.1:{servers[0].port}", weight=100)
        cfg.target(u, f"127.0.0.1:{servers[1].port}", weight=200)
        cfg.target(u, f"127.0.0.1:{servers[2].port}", weight=0)  # disabled
        cfg.route(cfg.service(host="backend.internal", port=80), paths=["/lb"])
        await rt.load_config(cfg.config())
        counts = {"a": 0, "b": 0, "c": 0}
        async with aiohttp.ClientSession() as s:
            for _ in range(30):
                async with s.get(rt.proxy_url + "/lb") as r:
                    body = await r.json()
                    counts[body["label"]] += 1
                    # Host is the chosen target's host:port unless preserve_host
                    assert body["host"].startswith("127.0.0.1:")
        assert counts == {"a": 10, "b": 20, "c": 0}
    finally:
        for srv in servers:
            await srv.stop()


# -- streaming, keep-alive, concurrency -----------------------------------------------------------
@pytest.mark.slow
async def test_streams_50mb_both_ways_with_bounded_memory(rt) -> None:
    size = 50 * 1024 * 1024
    chunk = b"z" * 65536

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            n = 0
            while True:
                data = await request.content.readany()
                if not data:
                    break
                n += len(data)
            return web.json_response({"received": n})
        resp = web.StreamResponse()
        resp.content_length = size
        await resp.prepare(request)
        for _ in range(size // len(chunk)):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    up = await app_server(handler)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/big"])
        await rt.load_config(cfg.config())

        async def upload() -> int:
            async def gen():
                for _ in range(size // len(chunk)):
                    yield chunk

            async with aiohttp.ClientSession() as s:
                async with s.post(rt.proxy_url + "/big", data=gen()) as r:
                    assert r.status == 200
                    return (await r.json())["received"]

        async def download() -> int:
            n = 0
            async with aiohttp.ClientSession() as s:
                async with s.get(rt.proxy_url + "/big") as r:
                    assert r.status == 200
                    assert r.headers["Content-Length"] == str(size)
                    async for data in r.content.iter_chunked(65536):
                        n += len(data)
            return n

        received, grew_up = await peak_rss_during(upload())
        assert received == size
        got, grew_down = await peak_rss_during(download())
        assert got == size
        # nothing close to the 50 MB body is ever held at once (client, proxy and upstream
        # all live in this process)
        assert grew_up < 30 * 1024 * 1024, grew_up
        assert grew_down < 30 * 1024 * 1024, grew_down
    finally:
        await up.stop()


async def test_chunked_response_relayed_and_http10_gets_close_delimited(rt) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    up = await app_server(handler)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/chunks"])
        await rt.load_config(cfg.config())
        resp = await raw_request(port_of(rt.proxy_url), "GET", "/chunks")
        assert resp.status == 200
        assert resp.header("Transfer-Encoding") == "chunked"
        assert resp.body == b"one,two,three"
        # HTTP/1.0 client: no chunked encoding, the end of the body is the end of the connection
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
        writer.write(b"GET /chunks HTTP/1.0\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head.lower()
        assert body == b"one,two,three"
    finally:
        await up.stop()


async def test_head_and_204_have_no_body_and_keep_the_connection(rt, echo) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    up = await app_server(handler)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=echo.port), paths=["/echo"])
        cfg.route(cfg.service(port=up.port), paths=["/empty"])
        await rt.load_config(cfg.config())
        async with aiohttp.ClientSession() as s:
            async with s.head(rt.proxy_url + "/echo") as r:
                assert r.status == 200
                assert int(r.headers["Content-Length"]) > 0
            async with s.get(rt.proxy_url + "/empty") as r:
                assert r.status == 204
            async with s.get(rt.proxy_url + "/echo") as r:
                assert r.status == 200
                assert (await r.json())["method"] == "GET"
    finally:
        await up.stop()


async def test_upstream_connections_are_kept_alive(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/ka"])
    await rt.load_config(cfg.config())
    async with aiohttp.ClientSession() as s:
        for _ in range(10):
            async with s.get(rt.proxy_url + "/ka") as r:
                assert r.status == 200
                await r.read()
    assert rt.proxy.pool.connects == 1


async def test_pipelined_requests_are_answered_in_order(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/p"])
    await rt.load_config(cfg.config())
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
    writer.write(b"GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.count(b"HTTP/1.1 200") == 2
    assert data.index(b'"path": "/1"') < data.index(b'"path": "/2"')  # prefix /p stripped


async def test_expect_100_continue(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/up"])
    await rt.load_config(cfg.config())
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
    writer.write(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    writer.write(b"hello")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert b'"data": "hello"' in data


async def test_slow_upstream_does_not_stall_others(rt, echo) -> None:
    # the slow upstream holds its request until the fast ones are all answered: they can only
    # finish if the held one does not stall the proxy (no elapsed-time window)
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return web.Response(text="slow")

    up = await app_server(slow)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/slow"])
        cfg.route(cfg.service(port=echo.port), paths=["/fast"])
        await rt.load_config(cfg.config())
        px = port_of(rt.proxy_url)
        slow_task = asyncio.create_task(raw_request(px, "GET", "/slow"))
        await asyncio.wait_for(arrived.wait(), 30)
        fast = await asyncio.wait_for(asyncio.gather(*(raw_request(px, "GET", "/fast") for _ in range(20))), 30)
        assert all(r.status == 200 for r in fast)
        assert not slow_task.done()
        release.set()
        assert (await asyncio.wait_for(slow_task, 30)).body == b"slow"
    finally:
        release.set()
        await up.stop()


# -- the built-in echo upstream -------------------------------------------------------------------
async def test_builtin_echo_service(rt) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(host="echo.internal", port=80), paths=["/echo"])
    await rt.load_config(cfg.config())
    async with aiohttp.ClientSession() as s:
        async with s.post(rt.proxy_url + "/echo/anything?a=1&a=2&b=x", json={"k": [1, 2]},
                          headers={"X-Test": "yes"}) as r:
            assert r.status == 200
            doc = await r.json()
        async with s.put(rt.proxy_url + "/echo/form", data={"f": "v", "g": "w"}) as r:
            form = (await r.json())["form"]
    assert doc["method"] == "POST"
    assert doc["path"] == "/anything"
    assert doc["args"] == {"a": ["1", "2"], "b": "x"}
    assert doc["json"] == {"k": [1, 2]}
    assert doc["headers"]["x-test"] == "yes"
    assert doc["headers"]["host"] == "echo.internal"
    assert doc["headers"]["x-forwarded-prefix"] == "/echo"
    assert doc["origin"] == "127.0.0.1"
    assert doc["url"] == "http://echo.internal/anything?a=1&a=2&b=x"
    assert form == {"f": "v", "g": "w"}


async def test_oversized_request_head_is_refused(rt) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 431")


async def test_idle_client_connections_are_closed(rt, echo) -> None:
    cfg = Cfg()
    cfg.route(cfg.service(port=echo.port), paths=["/"])
    await rt.load_config(cfg.config())
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    for conn in rt.proxy.connections:  # idle for longer than the keep-alive timeout, without waiting
        conn.last_active -= rt.proxy.keepalive_timeout + 1
    rt.proxy._sweep()  # (runs every keepalive_timeout / 4 on its own)
    rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the proxy closed the idle connection
    assert b"HTTP/1.1" not in rest
    writer.close()


async def test_timeout_on_a_kept_alive_connection(rt) -> None:
    # the second request reuses the pooled connection (the proxy's callback fast lane)
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("slow"):
            await release.wait()  # until after the 504: only the read timeout can end it
        return web.Response(text="ok")

    up = await app_server(handler)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port, read_timeout=200), paths=["/t"])
        await rt.load_config(cfg.config())
        async with aiohttp.ClientSession() as s:
            async with s.get(rt.proxy_url + "/t") as r:
                assert r.status == 200
            async with s.get(rt.proxy_url + "/t?slow=1") as r:
                assert r.status == 504
                assert (await r.json())["message"] == "The upstream server is timing out"
            async with s.get(rt.proxy_url + "/t") as r:  # and the proxy carries on
                assert r.status == 200
        assert rt.proxy.inflight == 0
    finally:
        release.set()
        await up.stop()


async def test_upstream_closing_idle_connections_is_transparent(rt) -> None:
    # an upstream that answers one request per connection and hangs up on the next one without
    # a word: the proxy's pooled connection turns out dead only when it is used again
    async def one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(one_shot, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=port, retries=0), paths=["/s"])
        await rt.load_config(cfg.config())
        async with aiohttp.ClientSession() as s:
            for _ in range(5):
                async with s.get(rt.proxy_url + "/s") as r:
                    assert r.status == 200 and await r.read() == b"ok"
        assert rt.proxy.pool.connects == 5  # each stale connection replaced, not counted as a try
    finally:
        server.close()


async def test_https_upstream(rt, tmp_path) -> None:
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslctx.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"secure": request.secure, "path": request.raw_path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=sslctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=port, protocol="https"), paths=["/tls"])  # tls_verify off: Kong's default
        cfg.route(cfg.service(port=port, protocol="https", tls_verify=True, retries=0), paths=["/verified"])
        await rt.load_config(cfg.config())
        async with aiohttp.ClientSession() as s:
            for _ in range(3):  # the second and third reuse the TLS connection
                async with s.get(rt.proxy_url + "/tls/x") as r:
                    assert r.status == 200
                    assert await r.json() == {"secure": True, "path": "/x"}
            async with s.get(rt.proxy_url + "/verified") as r:
                assert r.status == 502  # a self-signed certificate does not verify
        assert rt.proxy.pool.connects == 1  # one TLS connection served all three (the refused one never opened)
    finally:
        await runner.cleanup()
