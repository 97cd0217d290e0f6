"""http-log through real sockets: the gateway on 127.0.0.1, the echo upstream, and a log server
the test starts (ported from Kong's spec/03-plugins/03-http-log/01-log_spec.lua; each test names
its ``it``). The queue's timing is driven by short configured delays; nothing waits for a clock
boundary (a test awaits the n-th arrival at the log server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway
from log_sinks import HttpSink

from konnect_desktop.plugins.log_queue import QueueRegistry

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def sink() -> AsyncIterator[HttpSink]:
    s = await HttpSink().start()
    yield s
    await s.stop()


async def route_with(gw: Gateway, config: dict[str, Any], path: str = "/p", **route: Any) -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=[path], **route)
    c.plugin("http-log", config, route=r)
    await gw.load(c)


async def test_logs_to_http(gw: Gateway, sink: HttpSink) -> None:
    """it("logs to HTTP"): one request, one record, with Kong's serializer fields."""
    await route_with(gw, {"http_endpoint": sink.url()}, name="logged")
    r = await gw.request("GET", "/p/x?a=1&a=2&flag", [("Authorization", "Basic secret"), ("X-Extra", "1")])
    assert r.status == 200
    (got,) = await sink.got.wait(1)
    assert got.method == "POST" and got.path == "/log"
    assert got.headers["Content-Type"] == "application/json"
    entry = got.json()
    assert entry["client_ip"] == "127.0.0.1"
    assert entry["request"]["method"] == "GET"
    assert entry["request"]["uri"] == "/p/x?a=1&a=2&flag"
    assert entry["request"]["url"] == f"http://127.0.0.1:{gw.port}/p/x?a=1&a=2&flag"
    assert entry["request"]["querystring"] == {"a": ["1", "2"], "flag": True}
    assert entry["request"]["headers"]["authorization"] == "REDACTED"  # Kong redacts it
    assert entry["request"]["headers"]["x-extra"] == "1"
    assert entry["request"]["id"] == r.header("X-Kong-Request-Id")
    assert entry["response"]["status"] == 200
    assert entry["response"]["headers"]["content-type"].startswith("application/json")
    assert entry["upstream_uri"] == "/x?a=1&a=2&flag"
    assert entry["route"]["name"] == "logged" and entry["service"]["port"] == gw.echo.port
    assert set(entry["latencies"]) == {"kong", "proxy", "request", "receive"}
    assert isinstance(entry["started_at"], int) and entry["source"] == "service"
    assert "consumer" not in entry and "authenticated_entity" not in entry
    # the traffic log shows the plugin's decision
    logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert logged is not None
    (d,) = [d for d in logged.to_dict()["decisions"] if d["plugin"] == "http-log"]
    assert d["outcome"] == "pass" and d["summary"] == f"log: queued to http://127.0.0.1:{sink.port}/log"


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8"])
async def test_logs_to_http_with_content_type(gw: Gateway, sink: HttpSink, ctype: str) -> None:
    """it("logs to HTTP with content-type 'application/json'") and
    it("logs to HTTP with content-type 'application/json; charset=utf-8'")."""
    await route_with(gw, {"http_endpoint": sink.url(), "content_type": ctype})
    assert (await gw.request("GET", "/p")).status == 200
    (got,) = await sink.got.wait(1)
    assert got.headers["Content-Type"] == ctype and got.json()["client_ip"] == "127.0.0.1"


async def test_adds_authorization_if_userinfo_and_header_present(gw: Gateway, sink: HttpSink) -> None:
    """it("adds authorization if userinfo and/or header is present"); and the password never
    shows in the decision."""
    await route_with(gw, {"http_endpoint": sink.url(userinfo="testuser:testpassword"),
                          "headers": {"hello-world": "hi there"}})
    r = await gw.request("GET", "/p")
    (got,) = await sink.got.wait(1)
    assert got.headers["Authorization"] == "Basic dGVzdHVzZXI6dGVzdHBhc3N3b3Jk"
    assert got.headers["hello-world"] == "hi there"
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert entry is not None and "testpassword" not in repr(entry.to_dict())


async def test_http_client_implicitly_adds_host_header(gw: Gateway, sink: HttpSink) -> None:
    """it("http client implicitly adds Host header")."""
    await route_with(gw, {"http_endpoint": sink.url()})
    await gw.request("GET", "/p")
    (got,) = await sink.got.wait(1)
    assert got.headers["Host"] == f"127.0.0.1:{sink.port}"


async def test_custom_fields_by_lua_accepted_not_run(gw: Gateway, sink: HttpSink) -> None:
    """describe("custom log values by lua") it("logs custom values"): differs on purpose — Lua is
    stored and not run; the record has no ``new_field`` and the decision says why."""
    await route_with(gw, {"http_endpoint": sink.url(), "custom_fields_by_lua": {"new_field": "return 123"}})
    r = await gw.request("GET", "/p")
    (got,) = await sink.got.wait(1)
    assert "new_field" not in got.json()
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert entry is not None
    (d,) = [d for d in entry.decisions if d.plugin == "http-log"]
    assert "custom_fields_by_lua not run" in d.summary


async def test_logs_with_a_buffer(gw: Gateway, sink: HttpSink) -> None:
    """describe("... queue") it("logs to HTTP with a buffer"): batches are JSON arrays and every
    record arrives (n kept small for the shared test machine)."""
    await route_with(gw, {"http_endpoint": sink.url(), "queue": {"max_batch_size": 5, "max_coalescing_delay": 0.05}})
    n = 12
    for i in range(n):
        assert (await gw.request("GET", f"/p/{i}")).status == 200

    async def records() -> int:
        total = 0
        for got in sink.got.items:
            body = got.json()
            assert isinstance(body, list) and 1 <= len(body) <= 5
            total += len(body)
        return total

    while await records() < n:
        await sink.got.wait(len(sink.got.items) + 1)
    uris = sorted(e["upstream_uri"] for got in sink.got.items for e in got.json())
    assert uris == sorted(f"/{i}" for i in range(n))


async def test_does_not_mix_buffers(gw: Gateway, sink: HttpSink) -> None:
    """it("does not mix buffers"): two endpoints, two queues, each gets only its own records."""
    other = await HttpSink().start()
    try:
        c, svc = gw.cfg()
        r1 = c.route(svc, paths=["/one"])
        r2 = c.route(svc, paths=["/two"])
        q = {"max_batch_size": 3, "max_coalescing_delay": 0.05}
        c.plugin("http-log", {"http_endpoint": sink.url("/one"), "queue": q}, route=r1)
        c.plugin("http-log", {"http_endpoint": other.url("/two"), "queue": q}, route=r2)
        await gw.load(c)
        for i in range(4):
            await gw.request("GET", f"/one/{i}")
            await gw.request("GET", f"/two/{i}")
        for s, prefix in ((sink, "/one"), (other, "/two")):
            while sum(len(g.json()) for g in s.got.items) < 4:
                await s.got.wait(len(s.got.items) + 1)
            assert all(e["request"]["uri"].startswith(prefix) for g in s.got.items for e in g.json())
    finally:
        await other.stop()


async def test_gracefully_handles_layer4_failures(gw: Gateway, sink: HttpSink, caplog: pytest.LogCaptureFixture) -> None:
    """it("gracefully handles layer 4 failures"): the log server is down; the request is answered
    and the queue reports the failed send, then gives up after max_retry_time."""
    dead = await HttpSink().start()
    port = dead.port
    await dead.stop()
    await route_with(gw, {"http_endpoint": f"http://127.0.0.1:{port}/log",
                          "queue": {"max_retry_time": 0, "initial_retry_delay": 0.001}})
    with caplog.at_level("WARNING", logger="konnect_desktop.plugins.log_queue"):
        assert (await gw.request("GET", "/p")).status == 200
        reg = QueueRegistry.of(gw.runtime.services)
        for _ in range(200):  # bounded: the queue's task finishes (gives up) within a few loop turns
            if not any(q.name.startswith(f"http://127.0.0.1:{port}/") for q in reg.queues.values()):
                break
            await asyncio.sleep(0.01)
    assert f"handler could not process entries: failed request to 127.0.0.1:{port}" in caplog.text
    assert "1 queue entries were lost" in caplog.text


async def test_server_error_is_retried(gw: Gateway, sink: HttpSink) -> None:
    """A log server answering 500 makes the queue retry the same batch until it is accepted
    (queue.lua's handle loop; Kong's spec covers it in 01-unit/27-queue_spec.lua)."""
    sink.status = 500
    await route_with(gw, {"http_endpoint": sink.url(), "queue": {"initial_retry_delay": 0.001, "max_retry_delay": 0.01}})
    await gw.request("GET", "/p/retry")
    await sink.got.wait(2)
    sink.status = 200
    n = len(sink.got.items)
    got = await sink.got.wait(n + 1)
    assert got[-1].json()["upstream_uri"] == "/retry"
    assert all(g.json()["upstream_uri"] == "/retry" for g in got)


async def test_puts_changed_configuration_into_effect_immediately(gw: Gateway, sink: HttpSink) -> None:
    """it("puts changed configuration into effect immediately"): a changed header is used by the
    next record (the shared queue takes the new handler configuration)."""
    for value in ("one", "two"):
        await route_with(gw, {"http_endpoint": sink.url(), "headers": {"x-config": value}})
        n = len(sink.got.items)
        await gw.request("GET", "/p")
        got = await sink.got.wait(n + 1)
        assert got[-1].headers["x-config"] == value


async def test_concurrency_limit_minus_one_sends_without_queue(gw: Gateway, sink: HttpSink) -> None:
    """it("should not use queue when queue.concurrency_limit is -1")."""
    await route_with(gw, {"http_endpoint": sink.url(), "queue": {"concurrency_limit": -1}})
    await gw.request("GET", "/p")
    (got,) = await sink.got.wait(1)
    assert got.json()["response"]["status"] == 200
