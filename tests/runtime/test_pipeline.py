"""The one request pipeline (runtime/exchange.py), through real sockets: what its design
promises beyond the answers the other proxy tests check.

* The exchange enters a coroutine only when a step must wait: four plugins whose access phases
  are plain calls, on a kept-alive upstream connection, never hand a step to the serving task;
  a plugin whose access returns an awaitable hands exactly one.
* Plugin chains are resolved when the snapshot is built (a consumer's on its first request) and
  kept (typed ``ChainEntry``).
* A ``RequestContext``'s headers are built only when a plugin reads them.
* Headers plugins set for the client (``ctx.response_headers``) replace the upstream's lines of
  the same names in its head passed through as bytes (no parse, no rebuild), whatever their case.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from test_proxy_plugin_lane import KEY, KeepAlive, consumer_cfg
from test_proxy_support import Cfg, app_server, make_runtime, port_of

from konnect_desktop.runtime.config_view import ChainEntry
from konnect_desktop.runtime.request_views import LazyParts


@pytest.fixture
async def rt(tmp_path):
    runtime = await make_runtime(tmp_path, admin_listen=None)
    yield runtime
    await runtime.stop()


class Waits:
    """The steps exchanges handed to a connection's serving task (``ProxyServer.waits``)."""

    def __init__(self, rt) -> None:  # noqa: ANN001
        self.proxy = rt.proxy
        self.base = self.proxy.waits

    def __len__(self) -> int:
        return self.proxy.waits - self.base

    def clear(self) -> None:
        self.base = self.proxy.waits


@pytest.fixture
def waits(rt) -> Waits:
    """Every step an exchange hands to a connection's serving task. (Counted by the server,
    not by patching ``ClientConnection.spawn``: that class may be compiled, see native.py.)"""
    return Waits(rt)


async def _four_plugins(rt, echo) -> dict[str, Any]:
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/p"])
    consumer_cfg(cfg)
    cfg.plugin("key-auth", {}, route=route)
    cfg.plugin("acl", {"allow": ["lane"]}, route=route)
    cfg.plugin("rate-limiting", {"minute": 1000, "policy": "local"}, route=route)
    cfg.plugin("request-transformer", {"add": {"headers": ["X-Added:1"]}}, route=route)
    await rt.load_config(cfg.config())
    return route


async def test_plain_call_plugins_never_enter_a_coroutine(rt, echo, waits) -> None:
    await _four_plugins(rt, echo)
    c = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        c.send("/p", {"apikey": KEY})  # the first one connects upstream (that step waits)
        assert (await c.response()).status == 200
        before = len(waits)
        for _ in range(5):
            c.send("/p", {"apikey": KEY})
            r = await c.response()
            assert r.status == 200 and r.json()["headers"]["x-added"] == "1"
        assert len(waits) == before  # access, balancer, send, response, log: all plain calls
    finally:
        c.writer.close()


async def test_an_awaitable_access_hands_over_one_step(rt, echo, waits) -> None:
    """request-transformer with a body rule must read the body: its access returns the
    coroutine that does, and only that step (then the rest of the chain) runs on the task."""
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/b"])
    cfg.plugin("request-transformer", {"add": {"body": ["b:2"]}}, route=route)
    await rt.load_config(cfg.config())
    c = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        body = b"a=1"
        c.writer.write(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       b"Content-Length: 3\r\n\r\n" + body)
        assert (await c.response()).status == 200
        waits.clear()
        c.writer.write(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       b"Content-Length: 3\r\n\r\n" + body)
        r = await c.response()
        assert r.json()["form"] == {"a": "1", "b": "2"}
        assert len(waits) == 1
    finally:
        c.writer.close()


async def test_chains_are_resolved_once_per_combination(rt, echo) -> None:
    route = await _four_plugins(rt, echo)
    snap = rt.proxy.snapshot
    key = (route["id"], route["service"]["id"], None)
    assert key in snap._chains  # resolved when the snapshot was built, before any request
    chain = snap.chain(*key)
    assert [e.name for e in chain if e is not None] == ["key-auth", "acl", "rate-limiting", "request-transformer"]
    assert all(isinstance(e, ChainEntry) for e in chain if e is not None)
    assert snap.chain(route["id"], route["service"]["id"], None) is chain  # memoised, not rebuilt
    rl = next(e for e in chain if e is not None and e.name == "rate-limiting")
    # its headers are set during access (ctx.response_headers): no header_filter to call, and the
    # upstream's head passes through as bytes with those lines replaced
    assert rl.access and not rl.header_filter and not rl.buffers_response


async def test_headers_are_built_only_when_a_plugin_reads_them(rt, echo, monkeypatch) -> None:
    built: list[str] = []
    real = LazyParts.headers

    def headers(self):  # noqa: ANN001, ANN202
        built.append(self.request_path)
        return real(self)

    monkeypatch.setattr(LazyParts, "headers", headers)
    cfg = Cfg()
    svc = cfg.service(port=echo.port)
    quiet = cfg.route(svc, paths=["/quiet"])
    reads = cfg.route(svc, paths=["/reads"])
    cfg.plugin("rate-limiting", {"minute": 1000, "policy": "local"}, route=quiet)  # by client IP
    cfg.plugin("request-transformer", {"add": {"headers": ["X-Added:1"]}}, route=reads)
    await rt.load_config(cfg.config())
    c = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        c.send("/quiet", {"X-Mine": "kept"})
        r = await c.response()
        assert r.status == 200 and r.json()["headers"]["x-mine"] == "kept"
        assert r.header("x-ratelimit-limit-minute") == "1000"
        c.send("/reads")
        r = await c.response()
        assert r.json()["headers"]["x-added"] == "1"
    finally:
        c.writer.close()
    await asyncio.sleep(0)
    assert built == ["/reads"]


async def test_plugin_response_headers_replace_the_upstreams_without_a_rebuild(rt) -> None:
    """rate-limiting sets its headers during access: the client gets the plugin's values once,
    the upstream's copies (any case) are gone, its other headers pass as they came."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok", headers={"X-RateLimit-Limit-Minute": "999", "ratelimit-remaining": "5",
                                                "X-Other": "kept"})

    rebuilt = rt.proxy.head_rebuilds
    up = await app_server(handler)
    try:
        cfg = Cfg()
        route = cfg.route(cfg.service(port=up.port), paths=["/r"])
        cfg.plugin("rate-limiting", {"minute": 1000, "limit_by": "ip"}, route=route)
        await rt.load_config(cfg.config())
        c = await KeepAlive.open(port_of(rt.proxy_url))
        try:
            r = await c.request("/r")
        finally:
            c.close()
    finally:
        await up.stop()
    assert r.status == 200 and r.body == b"ok"
    names = [k.lower() for k, _v in r.header_list]
    assert names.count("x-ratelimit-limit-minute") == 1 and r.header("X-RateLimit-Limit-Minute") == "1000"
    assert names.count("ratelimit-remaining") == 1 and r.header("RateLimit-Remaining") == "999"
    assert r.header("X-Other") == "kept" and r.header("X-RateLimit-Remaining-Minute") == "999"
    assert rt.proxy.head_rebuilds == rebuilt  # passed through as bytes
    entry = rt.traffic.recent()[-1]
    assert b"X-RateLimit-Limit-Minute: 1000" in entry.response_headers and b": 5\r\n" not in entry.response_headers


async def test_a_header_filter_rebuilds_the_head_and_is_counted(rt, echo) -> None:
    """The counterpart of the test above: a plugin with a header_filter (response-transformer)
    gets the response head as a multidict, and the proxy counts that rebuild."""
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/t"])
    cfg.plugin("response-transformer", {"add": {"headers": ["X-Filtered:1"]}}, route=route)
    await rt.load_config(cfg.config())
    before = rt.proxy.head_rebuilds
    c = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        r = await c.request("/t")
    finally:
        c.close()
    assert r.status == 200 and r.header("X-Filtered") == "1"
    assert rt.proxy.head_rebuilds == before + 1
