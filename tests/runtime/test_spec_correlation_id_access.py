"""Kong's correlation-id access spec (spec/03-plugins/11-correlation-id/01-access_spec.lua, Kong
3.9) through real sockets, each test naming its ``it`` title.

Not ported here: the gRPC case (no gRPC client), "even when upstream timeouts" / "even there is a
runtime error" (Kong's blackhole upstream and error-generator test plugin), and the "log
serializer" case (it reads file-log's output; it belongs with that plugin). The two
request-termination cases run once that plugin is bundled.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, Reply, start_gateway

from konnect_desktop import plugins

pytestmark = pytest.mark.asyncio(loop_scope="module")

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID_COUNTER = UUID + r"#(\d+)"
TRACKER = r"\d+\.\d+\.\d+\.\d+-\d+-\d+-\d+-\d+-\d{10}\.\d{3}"
HAS_TERMINATION = plugins.get("request-termination") is not None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path_factory.mktemp("cid-spec"), "cid-spec")
    c, svc = gw.cfg()

    def on(host: str, config: dict[str, Any] | None) -> dict[str, Any]:
        route = c.route(svc, hosts=[host])
        c.plugin("correlation-id", config, route=route)
        return route

    on("correlation1.test", None)
    on("correlation2.test", {"header_name": "Foo-Bar-Id"})
    on("correlation3.test", {"generator": "uuid", "echo_downstream": True})
    on("correlation-tracker.test", {"generator": "tracker"})
    if HAS_TERMINATION:
        route5 = on("correlation5.test", {"generator": "uuid", "echo_downstream": True})
        c.plugin("request-termination", {"status_code": 418, "message": "I'm a teapot"}, route=route5)
    await gw.load(c)
    try:
        yield gw
    finally:
        await gw.stop()


async def get(gw: Gateway, host: str, headers: Any = None) -> Reply:
    return await gw.request("GET", "/request", headers, host=host)


async def test_uuid_worker_increments_the_counter_part(spec_gw: Gateway) -> None:
    """it("increments the counter part") — uuid-worker generator (one worker here, like the spec's)"""
    ids = [(await get(spec_gw, "correlation1.test")).up_header("kong-request-id") for _ in range(2)]
    counters = [re.fullmatch(UUID_COUNTER, i) for i in ids]
    assert all(counters), ids
    assert ids[0] != ids[1]
    assert [m.group(1) for m in counters] == ["1", "2"]  # type: ignore[union-attr]


async def test_uuid_generates_a_unique_uuid_for_every_request(spec_gw: Gateway) -> None:
    """it("generates a unique UUID for every request")"""
    ids = [(await get(spec_gw, "correlation3.test")).up_header("kong-request-id") for _ in range(2)]
    assert all(re.fullmatch(UUID, i) for i in ids) and ids[0] != ids[1]


async def test_tracker_generates_a_unique_tracker_id_for_every_request(spec_gw: Gateway) -> None:
    """it("generates a unique tracker id for every request")"""
    ids = [(await get(spec_gw, "correlation-tracker.test")).up_header("kong-request-id") for _ in range(2)]
    assert all(re.fullmatch(TRACKER, i) for i in ids), ids
    assert ids[0] != ids[1]
    # (each request came on its own connection: $connection differs, $connection_requests is 1;
    # the address and port are the listener's)
    parts = [i.split("-") for i in ids]
    assert [p[:2] for p in parts] == [["127.0.0.1", str(spec_gw.port)]] * 2
    assert int(parts[1][3]) > int(parts[0][3]) and [p[4] for p in parts] == ["1", "1"]


async def test_echo_downstream_sends_uuid_back(spec_gw: Gateway) -> None:
    """it("echo_downstream sends uuid back to client")"""
    r = await get(spec_gw, "correlation3.test")
    assert r.status == 200
    upstream_id = r.up_header("kong-request-id")
    assert re.fullmatch(UUID, upstream_id) and r.header("kong-request-id") == upstream_id


async def test_echo_downstream_not_sent_if_not_asked(spec_gw: Gateway) -> None:
    """it("echo_downstream does not send uuid back to client if not asked")"""
    r = await get(spec_gw, "correlation2.test")
    assert r.status == 200 and r.header("kong-request-id") is None


async def test_uses_a_custom_header_name(spec_gw: Gateway) -> None:
    """it("uses a custom header name")"""
    r = await get(spec_gw, "correlation2.test")
    assert re.fullmatch(UUID_COUNTER, r.up_header("foo-bar-id"))


@pytest.mark.parametrize(("title", "sent", "preserved"), [
    ("preserves an already existing header", "foobar", True),
    ("does not preserve an already existing empty header", "", False),
    ("does not preserve an already existing header with space only", " ", False),
])
async def test_existing_header(spec_gw: Gateway, title: str, sent: str, preserved: bool) -> None:
    r = await get(spec_gw, "correlation2.test", {"Kong-Request-ID": sent})
    assert r.status == 200
    assert (r.up_header("kong-request-id") == "foobar") is preserved


@pytest.mark.skipif(not HAS_TERMINATION, reason="request-termination is not bundled yet")
async def test_echo_downstream_when_access_did_not_execute(spec_gw: Gateway) -> None:
    """it("executes with echo_downstream when access did not execute") and
    it("echoes incoming with echo_downstream when access did not execute")"""
    r = await get(spec_gw, "correlation5.test")
    assert r.status == 418 and re.fullmatch(UUID, r.header("kong-request-id") or "")
    r = await get(spec_gw, "correlation5.test", {"kong-request-id": "my very personal id"})
    assert r.status == 418 and r.header("kong-request-id") == "my very personal id"


async def test_tracker_counts_requests_on_a_keepalive_connection(spec_gw: Gateway) -> None:
    """Not a spec case of its own: the tracker's $connection_requests part is the request's
    number on its connection (1, 2 on one kept-alive connection) and $connection stays."""
    reader, writer = await asyncio.open_connection("127.0.0.1", spec_gw.port)
    try:
        req = b"GET /request HTTP/1.1\r\nHost: correlation-tracker.test\r\n%s\r\n"
        writer.write(req % b"" + req % b"Connection: close\r\n")
        data = await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()
    ids = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        n = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        ids.append(json.loads(rest[:n])["headers"]["kong-request-id"])
        data = rest[n:]
    assert len(ids) == 2 and all(re.fullmatch(TRACKER, i) for i in ids), ids
    parts = [i.split("-") for i in ids]
    assert parts[0][3] == parts[1][3] and [p[4] for p in parts] == ["1", "2"]
