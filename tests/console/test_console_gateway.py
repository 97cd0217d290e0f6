"""Sending through a real local runtime: timings, bodies, errors, gateway insight, bursts."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock

from konnect_desktop.console.burst import Burst, BurstPlan
from konnect_desktop.console.insight import build_insight, header_diff, lookup
from konnect_desktop.console.request import FormField, RequestSpec
from konnect_desktop.console.sender import SendError


async def test_timings_and_connection_reuse(runtime: Any, sender: Any) -> None:
    first = await sender.send(RequestSpec("GET", runtime.proxy_url + "/echo/a"))
    second = await sender.send(RequestSpec("GET", runtime.proxy_url + "/echo/b"))
    assert first.status == second.status == 200
    assert first.timing.reused is False and first.timing.connect_ms is not None
    assert second.timing.reused is True and second.timing.connect_ms is None
    rows = dict((r[0], r) for r in second.timing.rows())
    assert rows["Connect"][1] == "—" and "reused" in rows["Connect"][2]
    assert "no TLS" in dict((r[0], r) for r in first.timing.rows())["TLS"][2]
    for t in (first.timing, second.timing):
        assert t.wait_ms is not None and t.total_ms is not None and t.wait_ms <= t.total_ms
    assert "reused conn" in second.status_line()
    assert first.remote == runtime.proxy_url.removeprefix("http://")


async def test_bodies_reach_the_upstream_as_built(runtime: Any, sender: Any, tmp_path: Path) -> None:
    url = runtime.proxy_url + "/echo"
    ex = await sender.send(RequestSpec("POST", url, [], "json", '{"a": [1, 2]}'))
    doc = json.loads(ex.body)
    assert doc["json"] == {"a": [1, 2]} and doc["headers"]["content-type"] == "application/json"
    ex = await sender.send(RequestSpec("POST", url, [], "form", form=[FormField("q", "a b&c"), FormField("q", "2")]))
    assert json.loads(ex.body)["form"] == {"q": ["a b&c", "2"]}
    f = tmp_path / "note.txt"
    f.write_text("file body")
    ex = await sender.send(RequestSpec("POST", url, [], "multipart", form=[FormField("t", "v"), FormField("up", str(f), True)]))
    doc = json.loads(ex.body)
    assert doc["form"] == {"t": "v"} and doc["files"] == {"up": "file body"}
    ex = await sender.send(RequestSpec("PUT", url, [("Content-Type", "text/plain")], "raw", "hello"))
    assert json.loads(ex.body)["data"] == "hello"
    with pytest.raises(SendError, match="could not be read"):
        await sender.send(RequestSpec("POST", url, [], "multipart", form=[FormField("up", str(tmp_path / "nope"), True)]))


async def test_errors_are_sentences(sender: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SendError) as ei:
        await sender.send(RequestSpec("GET", f"http://127.0.0.1:{port}/x"))
    assert ei.value.message == f"Could not connect to 127.0.0.1:{port}: connection refused"
    with pytest.raises(SendError, match=r"must start with http:// or https://.*Did you mean http://127.0.0.1:1/x"):
        await sender.send(RequestSpec("GET", "127.0.0.1:1/x"))


class _Silent:
    """What a silent server saw: a connection accepted."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()


async def _silent_server(seen: _Silent | None = None) -> tuple[asyncio.Server, int]:
    """A server on 127.0.0.1 that accepts and never answers, until the client hangs up."""
    seen = seen or _Silent()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.accepted.set()
        await reader.read()  # until EOF: the client closed the connection
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_read_timeout_names_the_address() -> None:
    from konnect_desktop.console.sender import Sender

    server, port = await _silent_server()
    s = Sender(timeout=0.3)
    try:
        with pytest.raises(SendError) as ei:
            await s.send(RequestSpec("GET", f"http://127.0.0.1:{port}/"))
        assert ei.value.message == f"127.0.0.1:{port} accepted the request but sent no response within 0.3 s."
    finally:
        await s.aclose()
        server.close()


async def test_cancelling_a_send_stops_it(sender: Any) -> None:
    seen = _Silent()
    server, port = await _silent_server(seen)
    task = asyncio.ensure_future(sender.send(RequestSpec("GET", f"http://127.0.0.1:{port}/")))
    await asyncio.wait_for(seen.accepted.wait(), 30)
    task.cancel()
    # the server never answers (and a send that swallowed the cancellation would end in a
    # SendError at its timeout): the cancellation itself ends the send
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    server.close()


async def test_insight_shows_the_transformer_header_and_route(runtime: Any, sender: Any) -> None:
    ex = await sender.send(RequestSpec("GET", runtime.proxy_url + "/transformed?x=1", [("X-Mine", "1")]))
    entry = await lookup(runtime.traffic, ex.request_id)
    assert entry is not None
    ins = build_insight(entry, ex.headers)
    assert (ins.route, ins.service, ins.consumer) == ("echo-transformed", "echo", None)
    plugin_changes = [c.text() for c in ins.plugin_changes()]
    assert plugin_changes == ["+ X-Sample-Greeting: hello from the gateway"]
    assert any(c.name == "X-Forwarded-For" and c.by_gateway for c in ins.header_changes)
    assert ins.path_change == ("/transformed?x=1", "/?x=1")
    assert ins.decisions[0]["plugin"] == "request-transformer" and ins.decisions[0]["outcome"] == "transform"
    # the sent request as the client saw it is what the gateway got
    assert ("X-Mine", "1") in ins.client_headers


async def test_insight_for_auth_and_rejections(runtime: Any, sender: Any) -> None:
    ok = await sender.send(RequestSpec("GET", runtime.proxy_url + "/private", [("apikey", "demo-key")]))
    ins = build_insight(await lookup(runtime.traffic, ok.request_id), ok.headers)
    assert ok.status == 200 and ins.consumer == "demo"
    assert [d["plugin"] for d in ins.decisions] == ["key-auth", "acl"]
    assert any(c.op == "+" and c.name.lower() == "x-consumer-username" for c in ins.header_changes)
    bad = await sender.send(RequestSpec("GET", runtime.proxy_url + "/private"))
    ins = build_insight(await lookup(runtime.traffic, bad.request_id), bad.headers)
    assert bad.status == 401 and not ins.proxied
    assert ins.decisions[0]["outcome"] == "reject"
    assert "the upstream received nothing" in ins.summary_lines()[-1]


def test_header_diff_handles_repeats_and_case() -> None:
    diff = header_diff([("A", "1"), ("a", "2"), ("B", "x"), ("Gone", "g")], [("a", "1"), ("A", "2"), ("B", "y"), ("New", "n")])
    assert [c.text() for c in diff] == ["~ B: x → y", "+ New: n", "− Gone: g"]


def _stop_the_clock(runtime: Any) -> None:
    # a burst must not straddle a minute boundary, or the window resets mid-burst: rate-limiting
    # reads this runtime's clock from its shared state, held here at the start of a minute
    start = 1_700_000_040.25  # a minute boundary (divisible by 60) plus a quarter second
    runtime.services.shared_state("rate-limiting")["clock"] = lambda: start


async def test_burst_trips_at_exactly_the_configured_count(runtime: Any, sender: Any) -> None:
    _stop_the_clock(runtime)
    burst = Burst(sender, RequestSpec("GET", runtime.proxy_url + "/limited"), BurstPlan(count=10, concurrency=1))
    seen = []
    res = await burst.run(seen.append)
    assert res.state == "done" and len(seen) == 10
    assert res.statuses() == [200] * 5 + [429] * 5
    assert [s.remaining for s in res.by_index()] == [4, 3, 2, 1, 0, 0, 0, 0, 0, 0]
    assert res.trip is not None and res.trip.index == 5
    assert res.trip.retry_after is not None and 1 <= res.trip.retry_after <= 60
    assert res.recovery is None
    assert "limit tripped at request #6 after 5 successes" in res.summary()


async def test_burst_is_bounded_and_cancellable(runtime: Any, sender: Any) -> None:
    with pytest.raises(ValueError, match="between 1 and 10,000"):
        BurstPlan(count=10_001).check()
    with pytest.raises(ValueError, match="Concurrency"):
        BurstPlan(count=5, concurrency=0).check()
    # paced on a clock of the test's: 50 a second for a time limit of half a second is 25 requests
    clock = FakeClock(0.0)
    burst = Burst(sender, RequestSpec("GET", runtime.proxy_url + "/echo"),
                  BurstPlan(count=10_000, rate=50, time_limit=0.5), clock=clock, sleep=clock.sleep)
    res = await burst.run()
    assert res.state == "time limit" and len(res.samples) == 25 and res.elapsed == pytest.approx(0.5)
    assert [s.sent for s in res.by_index()][:3] == pytest.approx([0.0, 0.02, 0.04])
    # cancelled by the user after some answers: what came back is kept, nothing more is sent
    clock = FakeClock(0.0)
    burst = Burst(sender, RequestSpec("GET", runtime.proxy_url + "/echo"),
                  BurstPlan(count=10_000, rate=100, concurrency=4), clock=clock, sleep=clock.sleep)
    some = asyncio.Event()
    task = asyncio.ensure_future(burst.run(lambda _s: some.set() if len(burst.result.samples) >= 5 else None))
    await asyncio.wait_for(some.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert burst.result.state == "cancelled" and 5 <= len(burst.result.samples) < 10_000


async def test_burst_sees_the_window_reset(runtime: Any, sender: Any) -> None:
    """second: 2 at 8 req/s over 1.5 s: trips within each second and passes again after it."""
    from konnect_desktop.controlplanes.local import LocalControlPlane

    cp = LocalControlPlane(runtime)
    svc = await cp.get("services", "echo")
    route = await cp.create("routes", {"name": "per-second", "paths": ["/per-second"], "service": {"id": svc["id"]}})
    await cp.create("plugins", {"name": "rate-limiting", "route": {"id": route["id"]},
                                "config": {"second": 2, "policy": "local"}})
    await runtime.wait_synced()
    # the burst's pacing and the plugin read one clock of the test's, which starts just after a
    # second boundary: request i is counted at .02 + i/8 s, so the windows fall where written
    clock = FakeClock(1_700_000_000.02)
    runtime.services.shared_state("rate-limiting")["clock"] = clock
    burst = Burst(sender, RequestSpec("GET", runtime.proxy_url + "/per-second"), BurstPlan(count=12, rate=8),
                  clock=clock, sleep=clock.sleep)
    res = await burst.run()
    assert res.statuses() == [200, 200] + [429] * 6 + [200, 200, 429, 429]
    assert res.trip is not None and res.trip.retry_after == 1
    assert res.recovery is not None and res.recovery.done > res.trip.done
    assert "passing again" in res.summary()
