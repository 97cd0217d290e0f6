"""Request hygiene, as nginx in front of Kong enforces it, through real sockets on 127.0.0.1.

Duplicate ``Host``; a bad request after a good one on the same connection; bytes after
``Connection: close``; ``client_header_timeout`` (an injected clock, never the wall clock);
``large_client_header_buffers``; ``client_max_body_size``; bodies read whole kept in memory
only up to ``client_body_buffer_size`` (spooled beyond, so a large upload to the echo upstream
does not grow the process by its size); the echo's cap; and the host-case note Kong never gives.
"""

from __future__ import annotations

import argparse
import asyncio
import re

import pytest
from test_proxy_support import (
    Cfg,
    make_runtime,
    parse_response,
    peak_rss_during,
    port_of,
    raw_request,
)

from konnect_desktop.console.insight import build_insight
from konnect_desktop.runtime.access_log import format_line
from konnect_desktop.runtime.gateway_cli import limits_from_args
from konnect_desktop.runtime.limits import ProxyLimits, parse_header_buffers, parse_size
from konnect_desktop.runtime.router import Router, host_case_note


@pytest.fixture
async def rt(tmp_path):
    runtime = await make_runtime(tmp_path)
    yield runtime
    await runtime.stop()


async def _echo_route(rt, **route) -> None:
    cfg = Cfg()
    route.setdefault("paths", ["/"])
    cfg.route(cfg.service(host="echo.internal", port=80), **route)
    await rt.load_config(cfg.config())


async def _exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on one connection and read until the proxy closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def _responses(data: bytes) -> list[bytes]:
    """The status lines found in a byte stream of responses."""
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r\n]*", data)


# -- framing --------------------------------------------------------------------------------------
async def test_duplicate_host_is_400(rt) -> None:
    """nginx (in front of Kong) refuses "client sent duplicate host header" with 400."""
    await _echo_route(rt)
    data = await _exchange(port_of(rt.proxy_url), b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")
    assert _responses(data) == [b"HTTP/1.1 400 Bad Request"]
    assert b"Connection: close" in data
    assert rt.traffic.total == 0  # never reached the gateway's phases


async def test_good_request_is_answered_before_the_bad_one_after_it(rt) -> None:
    """A request that parsed cleanly is answered; the garbage after it gets nginx's 400, then
    the connection closes (before: closed with no response although the request ran)."""
    await _echo_route(rt)
    data = await _exchange(port_of(rt.proxy_url),
                           b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nTHIS IS NOT HTTP\r\n\r\n")
    assert _responses(data) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"]
    assert b'"path": "/first"' in data
    assert [e.path for e in rt.traffic.recent()] == ["/first"]


async def test_pipelined_good_requests_then_a_bad_one(rt) -> None:
    await _echo_route(rt)
    good = b"".join(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3))
    data = await _exchange(port_of(rt.proxy_url), good + b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
    assert _responses(data) == [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 400 Bad Request"]
    assert [e.path for e in rt.traffic.recent()] == ["/r0", "/r1", "/r2"]


async def test_bytes_after_connection_close_are_ignored(rt) -> None:
    await _echo_route(rt)
    data = await _exchange(port_of(rt.proxy_url),
                           b"GET /only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                           b"GET /never HTTP/1.1\r\nHost: x\r\n\r\ngarbage")
    assert _responses(data) == [b"HTTP/1.1 200 OK"]
    assert [e.path for e in rt.traffic.recent()] == ["/only"]


# -- client_header_timeout ------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _until(cond, what: str) -> None:
    for _ in range(500):  # bounded: the proxy runs on this loop, a few turns are enough
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_slow_request_head_gets_408(tmp_path) -> None:
    """client_header_timeout (nginx, 60 s by default): a client trickling its head is cut with
    408 (before: held the connection for as long as it kept trickling)."""
    rt = await make_runtime(tmp_path, limits=ProxyLimits(client_header_timeout=60.0))
    try:
        await _echo_route(rt)
        clock = _Clock()
        rt.proxy.clock = clock
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
        writer.write(b"GET / HTTP/1.1\r\nHo")
        await writer.drain()
        await _until(lambda: any(c._head_seen for c in rt.proxy.connections), "head bytes received")
        clock.now += 59.0
        writer.write(b"st: x\r\n")  # still trickling: the head's clock keeps running
        await writer.drain()
        await _until(lambda: any(c._head_seen > 20 for c in rt.proxy.connections), "more head bytes")
        rt.proxy._sweep()
        assert len(rt.proxy.connections) == 1  # within the 60 s
        clock.now += 2.0
        rt.proxy._sweep()
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert _responses(data) == [b"HTTP/1.1 408 Request Timeout"]
        assert b'"message":"Request timeout"' in data
    finally:
        await rt.stop()


async def test_header_timeout_spares_a_served_keepalive_connection(tmp_path) -> None:
    """The head clock stops at the end of each head: a connection that sent whole requests is
    only subject to the keep-alive timeout in between; a silent new connection is just closed."""
    rt = await make_runtime(tmp_path, limits=ProxyLimits(client_header_timeout=5.0))
    try:
        await _echo_route(rt)
        clock = _Clock()
        rt.proxy.clock = clock
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head).group(1)))
        r2, w2 = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))  # sends nothing
        await _until(lambda: len(rt.proxy.connections) == 2, "second connection accepted")
        clock.now += 6.0
        rt.proxy._sweep()
        assert await asyncio.wait_for(r2.read(), 5) == b""  # closed without a word (nginx too)
        w2.close()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # the first one still works
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert rest.startswith(b"HTTP/1.1 200")
    finally:
        await rt.stop()


# -- large_client_header_buffers (4 x 8k) -------------------------------------------------------
async def test_header_line_over_one_buffer_is_400(rt) -> None:
    """Kong spec 05-proxy/13-error_handlers_spec.lua, "HTTP 400": a 10 KiB header (over one
    8k buffer of large_client_header_buffers) is answered 400 "Bad request" by Kong's server."""
    await _echo_route(rt)
    r = await raw_request(port_of(rt.proxy_url), headers=[("X-Large", "a" * 10 * 1024)])
    assert r.status == 400
    assert "kong/" in (r.header("server") or "")
    assert r.json()["message"] == "Bad request"


async def test_many_tiny_headers_are_431(rt) -> None:
    """The issue's case: 60,000 one-byte headers (234 KB) were accepted and forwarded."""
    await _echo_route(rt)
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"a%d: b\r\n" % i for i in range(60000)) + b"\r\n"
    data = await _exchange(port_of(rt.proxy_url), head)
    assert _responses(data) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    assert rt.traffic.total == 0


async def test_header_count_limit(tmp_path) -> None:
    rt = await make_runtime(tmp_path, limits=ProxyLimits(max_request_headers=20))
    try:
        await _echo_route(rt)
        port = port_of(rt.proxy_url)
        ok = await raw_request(port, headers=[(f"x-h{i}", "v") for i in range(15)])
        assert ok.status == 200
        bad = await raw_request(port, headers=[(f"x-h{i}", "v") for i in range(25)])
        assert bad.status == 431
    finally:
        await rt.stop()


async def test_unterminated_head_is_refused_before_it_is_whole(rt) -> None:
    """A head that never ends is refused once it is over all the buffers, not held."""
    await _echo_route(rt)
    data = await _exchange(port_of(rt.proxy_url), b"GET / HTTP/1.1\r\nX-Endless: " + b"a" * 40000)
    assert _responses(data) == [b"HTTP/1.1 431 Request Header Fields Too Large"]


async def test_request_line_over_one_buffer_is_414(rt) -> None:
    await _echo_route(rt)
    r = await raw_request(port_of(rt.proxy_url), target="/" + "a" * 9000)
    assert r.status == 414


# -- bodies ---------------------------------------------------------------------------------------
async def test_body_over_client_max_body_size_is_413(tmp_path) -> None:
    """nginx's client_max_body_size: a Content-Length over it is refused before the body is
    read or anything is proxied; a chunked body read whole is refused when it gets there."""
    rt = await make_runtime(tmp_path, limits=ProxyLimits(client_max_body_size=1000))
    try:
        await _echo_route(rt)
        port = port_of(rt.proxy_url)
        assert (await raw_request(port, "POST", "/", body=b"x" * 1000)).status == 200
        r = await raw_request(port, "POST", "/", body=b"x" * 1001)
        assert r.status == 413
        assert r.json()["message"] == "Payload too large"
        assert rt.traffic.total == 1  # the refused one never reached the gateway
        chunks = b"".join(b"%x\r\n%s\r\n" % (300, b"y" * 300) for _ in range(5)) + b"0\r\n\r\n"
        data = await _exchange(port, b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        resp = parse_response(data)
        assert resp.status == 413
        assert rt.traffic.recent()[-1].status == 413
    finally:
        await rt.stop()


@pytest.mark.slow
async def test_large_upload_to_the_echo_is_spooled_not_held(rt) -> None:
    """The issue's case: a 64 MB upload to the echo upstream took the process from 63 MB to
    920 MB RSS. Now the body beyond client_body_buffer_size goes to a temporary file and the
    echo answers with its first ``echo_max_body`` bytes."""
    await _echo_route(rt)
    size = 64 * 1024 * 1024
    chunk = b"z" * 65536

    async def upload() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))
        writer.write(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        data = await asyncio.wait_for(reader.read(), 60)
        writer.close()
        return data

    data, grew = await peak_rss_during(upload())
    doc = parse_response(data).json()
    assert doc["data_truncated"] is True and doc["data_size"] == size
    assert len(doc["data"]) == rt.limits.echo_max_body
    assert doc["headers"]["content-length"] == str(size)
    # nothing close to the 64 MB body is held at once (client and proxy share this process)
    assert grew < 24 * 1024 * 1024, grew


async def test_body_read_by_a_plugin_beyond_the_buffer_is_whole(tmp_path) -> None:
    """A body over client_body_buffer_size read by a plugin (request-transformer's form
    handling) comes back whole from the spool file."""
    rt = await make_runtime(tmp_path, limits=ProxyLimits(client_body_buffer_size=1024))
    try:
        cfg = Cfg()
        r = cfg.route(cfg.service(host="echo.internal", port=80), paths=["/"])
        cfg.plugin("request-transformer", {"add": {"body": ["added:yes"]}}, route=r)
        await rt.load_config(cfg.config())
        form = "&".join(f"k{i}=v{i}" for i in range(3000)).encode()
        assert len(form) > 20 * 1024
        resp = await raw_request(port_of(rt.proxy_url), "POST", "/", body=form,
                                 headers=[("Content-Type", "application/x-www-form-urlencoded")])
        assert resp.status == 200
        doc = resp.json()
        assert doc["form"]["k2999"] == "v2999" and doc["form"]["added"] == "yes"
    finally:
        await rt.stop()


async def test_echo_caps_what_it_echoes(tmp_path) -> None:
    rt = await make_runtime(tmp_path, limits=ProxyLimits(echo_max_body=100))
    try:
        await _echo_route(rt)
        resp = await raw_request(port_of(rt.proxy_url), "POST", "/", body=b"q" * 5000)
        doc = resp.json()
        assert doc["data"] == "q" * 100 and doc["data_size"] == 5000 and doc["data_truncated"] is True
        small = (await raw_request(port_of(rt.proxy_url), "POST", "/", body=b"q" * 10)).json()
        assert small["data"] == "q" * 10 and "data_truncated" not in small
    finally:
        await rt.stop()


# -- Host case ------------------------------------------------------------------------------------
async def test_host_case_is_kongs_and_flagged(rt) -> None:
    """Kong matches the raw Host case-sensitively (router/atc: ``http.host ==``), so
    ``SECURE.LOCAL`` / ``secure.local.`` skip the key-auth route for the catch-all one: the
    runtime keeps that, and says so on the traffic entry and in the console's insight."""
    cfg = Cfg()
    svc = cfg.service(host="echo.internal", port=80)
    secure = cfg.route(svc, name="secure", hosts=["secure.local"], paths=["/"])
    cfg.route(svc, name="open", paths=["/"])
    cfg.plugin("key-auth", {}, route=secure)
    await rt.load_config(cfg.config())
    port = port_of(rt.proxy_url)
    assert (await raw_request(port, host="secure.local")).status == 401
    assert rt.traffic.recent()[-1].host_note is None
    for host in ("SECURE.LOCAL", "secure.local.", "Secure.Local:8000"):
        r = await raw_request(port, host=host)
        assert r.status == 200, host  # as Kong: the open route took it
        entry = rt.traffic.get(r.header("x-kong-request-id"))
        note = entry.host_note
        assert note is not None and note.startswith("matched route open, not route secure: "
                                                    "Kong compares hosts case-sensitively"), note
        d = entry.to_dict()
        assert d["warnings"] == [note]
        assert any(note in line for line in build_insight(d).summary_lines())
        assert note in format_line(entry)  # the access log of gateway run --access-log
    r = await raw_request(port, host="other.local")
    assert rt.traffic.get(r.header("x-kong-request-id")).host_note is None


def test_host_case_note_is_pure() -> None:
    routes = [{"id": "1", "name": "a", "hosts": ["api.example.com"], "paths": ["/"]},
              {"id": "2", "name": "b", "paths": ["/"]}]
    router = Router.compile(routes, {})
    assert router.host_case_note("api.example.com", routes[0]) is None
    assert router.host_case_note("API.example.com", routes[1]).startswith("matched route b, not route a")
    assert router.host_case_note("api.example.com.", None).startswith("matched no route, not route a")
    assert router.host_case_note("elsewhere", routes[1]) is None
    assert host_case_note("x", routes[0], [routes[0]]) is None  # it did match that route


# -- configuration --------------------------------------------------------------------------------
def test_limits_parse_nginx_syntax_and_name_the_bad_field() -> None:
    assert parse_size("8k", "f") == 8192 and parse_size("1m", "f") == 1024 ** 2 and parse_size("0", "f") == 0
    assert parse_header_buffers("4 8k") == (4, 8192)
    with pytest.raises(ValueError, match="client_max_body_size"):
        parse_size("lots", "client_max_body_size")
    with pytest.raises(ValueError, match="large_client_header_buffers"):
        parse_header_buffers("8k")
    ns = argparse.Namespace(client_header_timeout=5.0, large_client_header_buffers="2 1k",
                            client_body_buffer_size="16k", client_max_body_size="10m")
    lim = limits_from_args(ns)
    assert (lim.client_header_timeout, lim.max_head, lim.client_body_buffer_size, lim.client_max_body_size) == (
        5.0, 2048, 16384, 10 * 1024 ** 2)


def test_gateway_run_takes_the_limits_and_prints_an_access_log(tmp_path) -> None:
    import urllib.request

    from test_gateway_cli import gateway, get, ready, stop

    p = gateway(tmp_path, "--db", str(tmp_path / "g.db"), "--sample", "--client-max-body-size", "1k", "--access-log", "-")
    try:
        proxy, _admin = ready(p)
        assert get(proxy + "/echo/hi")[0] == 200
        req = urllib.request.Request(proxy + "/echo/up", data=b"x" * 2048, method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("not refused")
        except urllib.error.HTTPError as e:
            assert e.code == 413
    finally:
        assert stop(p) == 0
    out = p.stdout.read() if p.stdout else ""
    assert '"GET /echo/hi HTTP/1.1" 200' in out


def test_gateway_run_names_a_bad_limit(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "konnect_desktop", "gateway", "run", "--proxy-listen", "127.0.0.1:0",
                        "--admin-listen", "127.0.0.1:0", "--db", str(tmp_path / "b.db"),
                        "--client-max-body-size", "lots"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert "client_max_body_size" in r.stderr
