"""The HTTP layer against a server that misbehaves on purpose (real sockets on 127.0.0.1).

Retries with backoff on 429/5xx/connection errors honouring Retry-After, no retry where a repeat
could do harm, timeouts, refused connections, cancellation that leaves no request running,
Kong error bodies mapped to the hierarchy, and no secret in any message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from fake_clock import FakeClock

from konnect_desktop.controlplanes.errors import (
    ApiError,
    AuthFailed,
    ConnectionFailed,
    NotFound,
    TimedOut,
)
from konnect_desktop.controlplanes.kong_admin import (
    KongAdminControlPlane,
    RetryPolicy,
    parse_retry_after,
)

ADMIN_TOKEN = "adm1n-T0ken-" + "x7" * 10


HOLD = -1.0  # as an answer's delay: never answer (until the client hangs up)


class Misbehaving:
    """Scripted answers per path: a list of (status, body, headers, delay) consumed in order.
    The only delay is ``HOLD``: a slow server is one that answers after the client gave up."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, Any, dict[str, str], float]]] = defaultdict(list)
        self.hits: dict[str, int] = defaultdict(int)
        self.arrived = asyncio.Event()  # a request reached the server
        self.seen_headers: list[dict[str, str]] = []
        self.abandoned = 0  # slow handlers whose client went away
        self.base_url = ""

    def on(self, method_path: str, *answers: tuple[int, Any, dict[str, str], float]) -> None:
        self.script[method_path].extend(answers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = f"{request.method} {request.path}"
        self.hits[key] += 1
        self.seen_headers.append(dict(request.headers))
        self.arrived.set()
        queue = self.script.get(key)
        status, body, headers, delay = queue.pop(0) if queue else (200, {"data": [], "next": None}, {}, 0.0)
        if delay == HOLD:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:  # aiohttp cancels the handler when the client hangs up
                self.abandoned += 1
                raise
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def bad_server() -> AsyncIterator[Misbehaving]:
    srv = Misbehaving()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.base_url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


def _client(srv: Misbehaving, *, attempts: int = 4, timeout: float = 5.0, retries: list | None = None,
            sleep: Any = None, **kw: Any) -> KongAdminControlPlane:
    # retries wait through ``sleep``: a test's clock (no wall-clock waiting) unless one is given
    policy = RetryPolicy(attempts=attempts, backoff=0.05, max_backoff=0.2, max_retry_after=5.0,
                         sleep=sleep or FakeClock().sleep)
    hook = (lambda a, d, r: retries.append((a, d, r))) if retries is not None else None
    return KongAdminControlPlane(srv.base_url, admin_token=ADMIN_TOKEN, timeout=timeout, retry=policy, on_retry=hook, **kw)


SVC = {"id": "5b6f7e0c-5c77-4a8e-9a43-6a0d3f1e2a10", "name": "s", "host": "h.test"}


async def test_429_waits_for_retry_after_then_succeeds(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (429, {"message": "API rate limit exceeded"}, {"Retry-After": "1"}, 0))
    bad_server.on("GET /services/s", (200, SVC, {}, 0))
    retries: list = []
    clock = FakeClock()
    async with _client(bad_server, retries=retries, sleep=clock.sleep) as cp:
        got = await cp.get("services", "s")
    assert got["name"] == "s"
    assert bad_server.hits["GET /services/s"] == 2
    assert clock.slept == [1.0]  # Retry-After honoured, not the 50 ms backoff
    assert retries == [(1, 1.0, "HTTP 429")]


async def test_503_then_ok_retries_even_a_post(bad_server: Misbehaving) -> None:
    bad_server.on("POST /services", (503, {"message": "busy"}, {}, 0), (503, {"message": "busy"}, {}, 0),
                  (201, SVC, {}, 0))
    retries: list = []
    async with _client(bad_server, retries=retries) as cp:
        created = await cp.create("services", {"name": "s", "host": "h.test"})
    assert created["id"] == SVC["id"]
    assert bad_server.hits["POST /services"] == 3
    delays = [d for _, d, _ in retries]
    assert len(delays) == 2 and all(0 < d <= 0.2 for d in delays)


async def test_500_on_post_is_not_repeated(bad_server: Misbehaving) -> None:
    bad_server.on("POST /services", (500, {"message": "An unexpected error occurred"}, {}, 0))
    async with _client(bad_server) as cp:
        with pytest.raises(ApiError) as ei:
            await cp.create("services", {"name": "s", "host": "h.test"})
    assert ei.value.status == 500 and ei.value.message == "An unexpected error occurred"
    assert bad_server.hits["POST /services"] == 1  # the entity may exist: never create twice


async def test_5xx_on_get_retried_until_attempts_run_out(bad_server: Misbehaving) -> None:
    for _ in range(3):
        bad_server.on("GET /services/s", (502, {"message": "Bad Gateway"}, {}, 0))
    async with _client(bad_server, attempts=3) as cp:
        with pytest.raises(ApiError) as ei:
            await cp.get("services", "s")
    assert ei.value.status == 502 and "after 3 attempts" in ei.value.message
    assert bad_server.hits["GET /services/s"] == 3


async def test_retry_after_longer_than_allowed_is_reported_not_waited(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (429, {"message": "slow down"}, {"Retry-After": "3600"}, 0))
    retries: list = []
    async with _client(bad_server, retries=retries) as cp:
        with pytest.raises(ApiError) as ei:
            await cp.get("services", "s")
    assert retries == []  # not waited for (nor retried)
    assert ei.value.status == 429 and "3600" in ei.value.message


async def test_slow_server_times_out(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (200, SVC, {}, HOLD))  # answered in time, this would pass
    async with _client(bad_server, attempts=1, timeout=0.3) as cp:
        with pytest.raises(TimedOut) as ei:
            await cp.get("services", "s")
    assert "sent no response within 0.3 s (GET /services/s, after 1 attempt(s))" in ei.value.message
    assert isinstance(ei.value, ConnectionFailed)  # a timeout is a kind of connection failure


async def test_read_timeout_retried_for_get(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (200, SVC, {}, HOLD), (200, SVC, {}, 0))
    async with _client(bad_server, attempts=2, timeout=0.3) as cp:
        assert (await cp.get("services", "s"))["name"] == "s"
    assert bad_server.hits["GET /services/s"] == 2


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


async def test_connection_refused_after_retries() -> None:
    retries: list = []
    cp = KongAdminControlPlane(f"http://127.0.0.1:{_closed_port()}", retry=RetryPolicy(attempts=3, backoff=0.01),
                               on_retry=lambda a, d, r: retries.append(r))
    async with cp:
        with pytest.raises(ConnectionFailed) as ei:
            await cp.get("services", "s")
        first = list(retries)
        report = await cp.test_connection()
    assert "connection refused" in ei.value.message and "after 3 attempt(s)" in ei.value.message
    assert len(first) == 2 and all("connection refused" in r for r in first)
    assert not report.ok and report.error_type == "ConnectionFailed" and "connection refused" in report.error


async def test_cancellation_stops_the_request_and_leaks_nothing(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (200, SVC, {}, HOLD))
    cp = _client(bad_server, attempts=1, timeout=30)
    task = asyncio.create_task(cp.get("services", "s"))
    await asyncio.wait_for(bad_server.arrived.wait(), 30)  # the request is at the server, unanswered
    assert bad_server.hits["GET /services/s"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the connection is closed, so the server stops working for nobody
    for _ in range(100):
        if bad_server.abandoned:
            break
        await asyncio.sleep(0.02)
    assert bad_server.abandoned == 1
    # the client is still usable afterwards, and closes cleanly
    bad_server.on("GET /services/s", (200, SVC, {}, 0))
    assert (await cp.get("services", "s"))["id"] == SVC["id"]
    await cp.close()
    await cp.close()  # twice is fine


async def test_cancellation_during_backoff(bad_server: Misbehaving) -> None:
    bad_server.on("GET /services/s", (429, {"message": "x"}, {"Retry-After": "4"}, 0))
    backing_off = asyncio.Event()

    async def wait_forever(delay: float) -> None:  # the backoff the user cancels during
        backing_off.set()
        await asyncio.Event().wait()

    cp = _client(bad_server, sleep=wait_forever)
    task = asyncio.create_task(cp.get("services", "s"))
    await asyncio.wait_for(backing_off.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bad_server.hits["GET /services/s"] == 1
    await cp.close()


async def test_kong_error_bodies_map_to_the_hierarchy(bad_server: Misbehaving) -> None:
    body = {"code": 2, "name": "schema violation", "message": "2 schema violations (host: required field missing; port: expected an integer)",
            "fields": {"host": "required field missing", "port": "expected an integer"}}
    bad_server.on("POST /services", (400, body, {}, 0))
    bad_server.on("GET /services/missing", (404, {"message": "Not found"}, {}, 0))
    bad_server.on("GET /services/private", (401, {"message": "Invalid RBAC credentials"}, {}, 0))
    bad_server.on("GET /services/forbidden", (403, {"message": "Forbidden"}, {}, 0))
    async with _client(bad_server) as cp:
        with pytest.raises(ApiError) as ei:
            await cp.create("services", {"name": "x", "port": "eighty"})
        with pytest.raises(NotFound):
            await cp.get("services", "missing")
        with pytest.raises(AuthFailed) as auth:
            await cp.get("services", "private")
        with pytest.raises(AuthFailed) as forbidden:
            await cp.get("services", "forbidden")
    err = ei.value
    assert (err.status, err.code, err.name) == (400, 2, "schema violation")
    assert err.fields == body["fields"] and err.to_dict() == body
    assert auth.value.status == 401 and "Invalid RBAC credentials" in auth.value.message
    assert forbidden.value.status == 403


async def test_pagination_uses_offset_and_stops_on_null_next(bad_server: Misbehaving) -> None:
    page1 = {"data": [{**SVC, "name": "a"}], "offset": "tok1", "next": "/weird/prefix?offset=tok1"}
    page2 = {"data": [{**SVC, "name": "b"}], "next": None}
    bad_server.on("GET /services", (200, page1, {}, 0), (200, page2, {}, 0))
    async with _client(bad_server) as cp:
        names = [e["name"] async for e in cp.list("services", page_size=1)]
    assert names == ["a", "b"]


async def test_a_server_repeating_its_offset_does_not_loop_forever(bad_server: Misbehaving) -> None:
    page = {"data": [SVC], "offset": "same", "next": "/services?offset=same"}
    bad_server.on("GET /services", *[(200, page, {}, 0)] * 3)
    async with _client(bad_server) as cp:
        with pytest.raises(ApiError, match="repeated pagination offset"):
            [e async for e in cp.list("services")]


async def test_admin_token_is_sent_but_never_shown(bad_server: Misbehaving, caplog: pytest.LogCaptureFixture) -> None:
    bad_server.on("GET /services/s", (401, {"message": f"bad token {ADMIN_TOKEN}"}, {}, 0))
    caplog.set_level(logging.DEBUG)
    async with _client(bad_server, headers={"X-Team": "blue"}) as cp:
        with pytest.raises(AuthFailed) as ei:
            await cp.get("services", "s")
        text = f"{ei.value} {ei.value!r} {cp!r} {cp.target}"
    assert bad_server.seen_headers[-1]["Kong-Admin-Token"] == ADMIN_TOKEN
    assert bad_server.seen_headers[-1]["X-Team"] == "blue"
    assert ADMIN_TOKEN not in text
    assert all(ADMIN_TOKEN not in r.getMessage() for r in caplog.records)


async def test_dbless_node_is_read_only(bad_server: Misbehaving) -> None:
    root = {"version": "3.9.1", "node_id": "n1", "hostname": "gw", "configuration": {"database": "off"},
            "plugins": {"available_on_server": {"key-auth": {"version": "3.9.1"}, "acl": {"version": "3.9.1"}}}}
    bad_server.on("GET /", (200, root, {}, 0))
    bad_server.on("GET /consumer_groups", (404, {"message": "Not found"}, {}, 0))
    async with _client(bad_server) as cp:
        caps = await cp.probe()
        assert caps.dbless and not caps.writable and not caps.consumer_groups
        assert caps.plugins == ("acl", "key-auth") and caps.version == "3.9.1"
        from konnect_desktop.controlplanes.errors import Unsupported

        with pytest.raises(Unsupported, match="read-only"):
            await cp.create("services", {"host": "x"})
        assert "POST /services" not in bad_server.hits


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_and_is_capped() -> None:
    p = RetryPolicy(backoff=0.1, max_backoff=1.0)
    for retry, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)]:
        delays = [p.delay(retry) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > 0  # jitter: clients do not retry in lockstep


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        KongAdminControlPlane("ftp://host")
