"""The proxy's plugin lane, black box through real sockets: body-less requests on routes with
plugins run their access phases as plain calls and go upstream as callbacks; whenever something
must await, the connection's serving task takes over where the lane stopped.

What would show a wrong lane: a phase run twice (rate-limit counts off by one), a response
phase skipped (missing rate-limit headers on a 504), answers out of order or lost when many
pipelined requests are answered at once, decisions missing from the traffic log.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from fake_clock import hold_rate_limiting
from redis_fixture import redis_server  # noqa: F401  (fixture)
from test_proxy_support import Cfg, app_server, echo_server, make_runtime, parse_response, port_of

KEY = "lane-key"


@pytest.fixture
async def rt(tmp_path):
    runtime = await make_runtime(tmp_path, admin_listen=None)
    # the rate-limiting counts below live in one minute window: the plugins read this clock,
    # held a quarter second past a minute's start, so no test straddles a wall-clock minute
    hold_rate_limiting(runtime)
    yield runtime
    await runtime.stop()


def consumer_cfg(cfg: Cfg, group: str = "lane") -> dict[str, Any]:
    c = cfg.consumer("alice")
    cfg.add("keyauth_credentials", key=KEY, consumer={"id": c["id"]})
    cfg.add("acls", group=group, consumer={"id": c["id"]})
    return c


class KeepAlive:
    """One client connection used for several requests (pipelined when sent together)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> KeepAlive:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    @staticmethod
    def head(target: str, headers: dict[str, str] | None = None, method: str = "GET") -> bytes:
        lines = [f"{method} {target} HTTP/1.1", "Host: lane.test"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def send(self, target: str, headers: dict[str, str] | None = None, method: str = "GET") -> None:
        self.writer.write(self.head(target, headers, method))

    async def response(self, timeout: float = 10.0) -> Any:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return parse_response(head + body)

    async def request(self, target: str, headers: dict[str, str] | None = None) -> Any:
        self.send(target, headers)
        return await self.response()

    def close(self) -> None:
        self.writer.close()


async def test_four_plugins_on_a_kept_alive_connection(rt, echo) -> None:
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/p"])
    consumer_cfg(cfg)
    cfg.plugin("key-auth", route=route)
    cfg.plugin("acl", {"allow": ["lane"]}, route=route)
    cfg.plugin("rate-limiting", {"minute": 5}, route=route)
    cfg.plugin("request-transformer", {"add": {"headers": ["X-Lane:yes"]}}, route=route)
    await rt.load_config(cfg.config())
    client = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        remaining = []
        for _ in range(5):
            r = await client.request("/p/x?q=1", {"apikey": KEY})
            assert r.status == 200, r
            remaining.append(r.header("X-RateLimit-Remaining-Minute"))
            up = r.json()
            assert up["headers"]["x-lane"] == "yes"
            assert up["headers"]["x-consumer-username"] == "alice"
            assert up["headers"]["x-consumer-groups"] == "lane"
        assert remaining == ["4", "3", "2", "1", "0"]  # each request counted exactly once
        r = await client.request("/p/x", {"apikey": KEY})
        assert r.status == 429 and r.header("Retry-After") is not None
        r = await client.request("/p/x", {"apikey": "wrong"})
        assert r.status == 401 and r.json()["message"] == "Unauthorized"
    finally:
        client.close()
    assert rt.proxy.pool.connects == 1  # one kept-alive upstream connection served them all
    ok = rt.traffic.recent()[-3]
    assert [d.plugin for d in ok.decisions] == ["key-auth", "acl", "rate-limiting", "request-transformer"]
    assert ok.consumer["username"] == "alice" and ok.status == 200
    sent = ok.to_dict()["upstream_request"]
    assert sent["path"] == "/x?q=1"  # (strip_path)
    assert ["X-Lane", "yes"] in sent["headers"] and ["X-Consumer-Username", "alice"] in sent["headers"]
    assert ["apikey", KEY] in sent["headers"]
    rejected = rt.traffic.recent()[-1]
    assert rejected.status == 401 and [d.outcome for d in rejected.decisions] == ["reject"]
    assert rt.proxy.inflight == 0


async def test_many_pipelined_requests_answered_at_once_stay_in_order(rt, echo) -> None:
    # 401s are answered inside the lane, synchronously: the ~400 queued behind a request that
    # is upstream are answered in a row when it returns, which must neither recurse (a stack
    # frame per request) nor reorder them; the good ones still go upstream
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/p"])
    consumer_cfg(cfg)
    cfg.plugin("key-auth", route=route)
    await rt.load_config(cfg.config())
    client = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        expected = []
        blob = []
        for i in range(400):
            good = i in (0, 200, 399)
            blob.append(client.head(f"/p/{i}", {"apikey": KEY if good else f"bad-{i}"}))
            expected.append((i, good))
        client.writer.write(b"".join(blob))  # one write: the proxy reads them in one go
        for i, good in expected:
            r = await client.response()
            if good:
                assert r.status == 200 and r.json()["path"] == f"/{i}", (i, r)
            else:
                assert r.status == 401, (i, r)
    finally:
        client.close()
    assert rt.proxy.inflight == 0
    assert rt.traffic.total == 400


async def test_stale_upstream_connection_is_retried_without_rerunning_the_plugins(rt) -> None:
    # an upstream that hangs up after each answer: every kept-alive connection the lane takes is
    # dead; the serving task retries from the upstream call on, so the limit of 3 lets 3 through
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
        route = cfg.route(cfg.service(port=port, retries=0), paths=["/s"])
        cfg.plugin("rate-limiting", {"minute": 3, "limit_by": "ip"}, route=route)
        await rt.load_config(cfg.config())
        client = await KeepAlive.open(port_of(rt.proxy_url))
        try:
            seen = []
            for _ in range(3):
                r = await client.request("/s")
                assert r.status == 200 and r.body == b"ok", r
                seen.append(r.header("X-RateLimit-Remaining-Minute"))
                await asyncio.sleep(0.05)  # let the upstream's hang-up arrive... or not: both must work
            assert seen == ["2", "1", "0"]
            r = await client.request("/s")
            assert r.status == 429
        finally:
            client.close()
        entries = rt.traffic.recent()
        assert [len(e.decisions) for e in entries] == [1, 1, 1, 1]
        assert rt.proxy.inflight == 0
    finally:
        server.close()


async def test_upstream_timeout_on_the_lane_runs_the_response_phases(rt) -> None:
    release = asyncio.Event()  # the slow answer waits for the test, not for a clock

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("slow"):
            await release.wait()
        return web.Response(text="ok")

    up = await app_server(handler)
    try:
        cfg = Cfg()
        route = cfg.route(cfg.service(port=up.port, read_timeout=200, retries=0), paths=["/t"])
        cfg.plugin("rate-limiting", {"minute": 100, "limit_by": "ip"}, route=route)
        await rt.load_config(cfg.config())
        client = await KeepAlive.open(port_of(rt.proxy_url))
        try:
            r = await client.request("/t")  # opens the upstream connection the next one reuses
            assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") == "99"
            r = await client.request("/t?slow=1")
            assert r.status == 504
            assert r.json()["message"] == "The upstream server is timing out"
            assert r.header("X-RateLimit-Remaining-Minute") == "98"  # header_filter ran on the 504
            r = await client.request("/t")
            assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") == "97"
        finally:
            client.close()
        timed_out = rt.traffic.recent()[-2]
        assert timed_out.status == 504 and "timeout" in (timed_out.error or "")
        assert [d.plugin for d in timed_out.decisions] == ["rate-limiting"]
        assert rt.proxy.inflight == 0
    finally:
        release.set()
        await up.stop()


async def test_a_plugin_without_a_synchronous_access_hands_over_mid_chain(rt, echo) -> None:
    # key-auth (sync) → ip-restriction (async only) → acl, rate-limiting (sync, now on the
    # serving task): every phase once, in order
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/m"])
    consumer_cfg(cfg)
    cfg.plugin("key-auth", route=route)
    cfg.plugin("ip-restriction", {"allow": ["127.0.0.1"]}, route=route)
    cfg.plugin("acl", {"allow": ["lane"]}, route=route)
    cfg.plugin("rate-limiting", {"minute": 10}, route=route)
    await rt.load_config(cfg.config())
    client = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        for left in ("9", "8", "7"):
            r = await client.request("/m", {"apikey": KEY})
            assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") == left, r
        r = await client.request("/m")
        assert r.status == 401
    finally:
        client.close()
    ok = rt.traffic.recent()[-2]
    assert [d.plugin for d in ok.decisions] == ["key-auth", "ip-restriction", "acl", "rate-limiting"]


async def test_a_buffering_response_plugin_takes_the_serving_task(rt, echo) -> None:
    cfg = Cfg()
    route = cfg.route(cfg.service(port=echo.port), paths=["/b"])
    consumer_cfg(cfg)
    cfg.plugin("key-auth", route=route)
    cfg.plugin("response-transformer", {"add": {"json": ["added:yes"], "headers": ["X-Resp:1"]}}, route=route)
    await rt.load_config(cfg.config())
    client = await KeepAlive.open(port_of(rt.proxy_url))
    try:
        for _ in range(2):
            r = await client.request("/b", {"apikey": KEY})
            assert r.status == 200 and r.header("X-Resp") == "1"
            doc = json.loads(r.body)
            assert doc["added"] == "yes" and doc["headers"]["x-consumer-username"] == "alice"
    finally:
        client.close()


async def test_a_plugin_declining_its_synchronous_access_continues_on_the_serving_task(
        rt, redis_server: Any) -> None:  # noqa: F811
    # rate-limiting with the redis policy must await Redis: its access returns the awaitable, the serving
    # task runs its access (once) and what follows
    echo = await echo_server()
    try:
        cfg = Cfg()
        route = cfg.route(cfg.service(port=echo.port), paths=["/r"])
        consumer_cfg(cfg)
        cfg.plugin("key-auth", route=route)
        cfg.plugin("rate-limiting", {"minute": 3, "policy": "redis",
                                     "redis": {"host": redis_server.host, "port": redis_server.port}}, route=route)
        cfg.plugin("request-transformer", {"add": {"headers": ["X-After:1"]}}, route=route)
        await rt.load_config(cfg.config())
        client = await KeepAlive.open(port_of(rt.proxy_url))
        try:
            seen = []
            for _ in range(3):
                r = await client.request("/r", {"apikey": KEY})
                assert r.status == 200 and r.json()["headers"]["x-after"] == "1", r
                seen.append(r.header("X-RateLimit-Remaining-Minute"))
            assert seen == ["2", "1", "0"]
            r = await client.request("/r", {"apikey": KEY})
            assert r.status == 429
        finally:
            client.close()
        ok = rt.traffic.recent()[-2]
        assert [d.plugin for d in ok.decisions] == ["key-auth", "rate-limiting", "request-transformer"]
    finally:
        await echo.stop()
