"""statsd through real sockets: the gateway, the echo upstream and a UDP (or TCP) receiver on
127.0.0.1. Ported from Kong's spec/03-plugins/06-statsd/01-log_spec.lua, 02-schema_spec.lua and
03-allow_status_codes_spec.lua (each test names its ``it``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from log_sinks import DatagramSink, TcpSink

from konnect_desktop import plugins
from konnect_desktop.plugins.statsd import in_range, packets

pytestmark = pytest.mark.asyncio(loop_scope="module")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


async def setup(gw: Gateway, config: dict[str, Any], *, service_name: str | None = "statsd1") -> dict[str, Any]:
    c, svc = gw.cfg()
    svc["name"] = service_name
    r = c.route(svc, paths=["/p"])
    c.plugin("key-auth", {}, route=r)
    robert = c.consumer("bob", custom_id="robert")
    c.add("keyauth_credentials", key="kong", consumer={"id": robert["id"]})
    c.plugin("statsd", config, route=r)
    await gw.load(c)
    return r


async def metrics_for(gw: Gateway, sink: DatagramSink, n: int) -> list[str]:
    r = await gw.request("GET", "/p/request?apikey=kong")
    assert r.status == 200
    got = await sink.got.wait(n)
    return [g.decode() for g in got]


def contains(pattern: str, lines: list[str], regex: bool = False) -> bool:
    return any((re.fullmatch(pattern, line) if regex else line == pattern) for line in lines)


async def test_logs_over_udp_with_default_metrics(gw: Gateway) -> None:
    """it("logs over UDP with default metrics"): Kong's 12 lines, ``upstream_latency`` among
    them now that the proxy reports it (``ResponseContext.served``). The workspace is
    ``default`` (no workspaces locally)."""
    sink = await DatagramSink().start()
    try:
        route = await setup(gw, {"host": "127.0.0.1", "port": sink.port})
        lines = await metrics_for(gw, sink, 12)
        assert len(lines) == 12, lines
        assert contains("kong.service.statsd1.request.count:1|c", lines)
        assert contains(r"kong\.service\.statsd1\.upstream_latency:\d*\|ms", lines, True)
        assert contains(r"kong\.service\.statsd1\.request\.size:\d+\|c", lines, True)
        assert contains(r"kong\.service\.statsd1\.response\.size:\d+\|c", lines, True)
        assert contains(r"kong\.service\.statsd1\.latency:\d+\|ms", lines, True)
        assert contains("kong.service.statsd1.status.200:1|c", lines)
        assert contains(r"kong\.service\.statsd1\.kong_latency:\d*\|ms", lines, True)
        assert contains("kong.service.statsd1.user.uniques:robert|s", lines)
        assert contains("kong.service.statsd1.user.robert.request.count:1|c", lines)
        assert contains("kong.service.statsd1.user.robert.status.200:1|c", lines)
        assert contains("kong.service.statsd1.workspace.default.status.200:1|c", lines)
        assert contains(f"kong.route.{route['id']}.user.robert.status.200:1|c", lines)
        assert contains(rf"kong\.route\.{UUID}\.user\.robert\.status\.200:1\|c", lines, True)
    finally:
        await sink.stop()


@pytest.mark.parametrize(("style", "pattern"), [
    ("dogstatsd", r"kong\.request\.count:1\|c\|#.*"),
    ("influxdb", r"kong\.request\.count,.*:1\|c"),
    ("librato", r"kong\.request\.count#.*:1\|c"),
    ("signalfx", r"kong\.request\.count\[.*\]:1\|c"),
])
async def test_logs_over_udp_with_tag_style(gw: Gateway, style: str, pattern: str) -> None:
    """it("logs over UDP with default metrics with <style> tag_style"): per-user and status
    metrics are skipped in tag mode (Kong: DEFAULT_METRICS_COUNT - 6)."""
    sink = await DatagramSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "tag_style": style})
        lines = await metrics_for(gw, sink, 4)
        assert contains(pattern, lines, True), lines
        assert all("user.uniques" not in line for line in lines)
    finally:
        await sink.stop()


async def test_logs_over_udp_with_new_prefix(gw: Gateway) -> None:
    """it("logs over UDP with default metrics and new prefix")."""
    sink = await DatagramSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "prefix": "prefix",
                         "metrics": [{"name": "request_count", "stat_type": "counter", "sample_rate": 1}]})
        assert await metrics_for(gw, sink, 1) == ["prefix.service.statsd1.request.count:1|c"]
    finally:
        await sink.stop()


async def test_consumer_by_consumer_id_and_sample_rate(gw: Gateway) -> None:
    """it("consumer by consumer_id") and a sample rate other than 1 (``|@0.5``)."""
    sink = await DatagramSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "metrics": [
            {"name": "request_per_user", "stat_type": "counter", "sample_rate": 0.5,
             "consumer_identifier": "consumer_id"}]})
        (line,) = await metrics_for(gw, sink, 1)
        assert re.fullmatch(rf"kong\.service\.statsd1\.user\.{UUID}\.request\.count:1\|c\|@0\.5", line)
    finally:
        await sink.stop()


async def test_logs_service_by_service_name_emits_unnamed(gw: Gateway) -> None:
    """it("logs service by service_name emits unnamed if service name is not set")."""
    sink = await DatagramSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "metrics": [
            {"name": "request_count", "stat_type": "counter", "sample_rate": 1, "service_identifier": "service_name"}]},
            service_name=None)
        assert await metrics_for(gw, sink, 1) == ["kong.service.unnamed.request.count:1|c"]
    finally:
        await sink.stop()


async def test_combines_udp_packets(gw: Gateway) -> None:
    """it("combines udp packets")."""
    sink = await DatagramSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "udp_packet_size": 500, "metrics": [
            {"name": "request_count", "stat_type": "counter", "sample_rate": 1},
            {"name": "status_count", "stat_type": "counter", "sample_rate": 1}]})
        (packet,) = await metrics_for(gw, sink, 1)
        assert packet == "kong.service.statsd1.request.count:1|c\nkong.service.statsd1.status.200:1|c"
    finally:
        await sink.stop()


async def test_logs_over_tcp_with_one_metric(gw: Gateway) -> None:
    """it("logs over TCP with one metric")."""
    sink = await TcpSink().start()
    try:
        await setup(gw, {"host": "127.0.0.1", "port": sink.port, "use_tcp": True, "metrics": [
            {"name": "request_count", "stat_type": "counter", "sample_rate": 1}]})
        assert (await gw.request("GET", "/p/request?apikey=kong")).status == 200
        (line,) = await sink.got.wait(1)
        assert line == b"kong.service.statsd1.request.count:1|c"
    finally:
        await sink.stop()


async def test_combines_and_splits_udp_packets() -> None:
    """it("combines and splits udp packets") (unit form of Kong's buffering)."""
    lines = ["a" * 10, "b" * 10, "c" * 10]
    assert packets(lines, 0) == [b"a" * 10, b"b" * 10, b"c" * 10]
    assert packets(lines, 21) == [b"a" * 10 + b"\n" + b"b" * 10, b"c" * 10]
    assert packets(["x" * 30], 5) == [b"x" * 30]  # it("throws an error if udp_packet_size is too small"): sent alone


async def test_allow_status_codes() -> None:
    """03-allow_status_codes_spec: no ranges → all; inside/outside a range."""
    assert in_range(None, 500)
    assert in_range(["200-205", "400-499"], 204) and in_range(["200-205", "400-499"], 404)
    assert not in_range(["200-205"], 500)


@pytest.mark.parametrize(("config", "errors"), [
    ({}, {}),  # it("accepts empty config")
    ({"metrics": []}, {}),  # it("accepts empty metrics")
    ({"metrics": [{"name": "request_count", "stat_type": "counter", "sample_rate": 1}]}, {}),  # it("accepts just one metrics")
    ({"metrics": [{"stat_type": "counter", "sample_rate": 1}]},
     {"config": {"metrics": [{"name": "required field missing"}]}}),  # it("rejects if name or stat not defined")
    ({"metrics": [{"name": "request_count", "stat_type": "counter"}]},
     {"config": {"metrics": [{"@entity": ["failed conditional validation given value of field 'stat_type'"],
                              "sample_rate": "required field missing"}]}}),  # it("rejects counters without sample rate")
    ({"metrics": [{"name": "request_count", "stat_type": "invalid", "sample_rate": 1}]},
     {"config": {"metrics": [{"stat_type": "expected one of: counter, gauge, histogram, meter, set, timer"}]}}),  # it("rejects invalid stat type")
    ({"allow_status_codes": ["200-205", "400-499"]}, {}),  # it("accepts if allow status codes ... ranges")
    ({"allow_status_codes": ["test"]}, {"config": {"allow_status_codes": ["invalid value: test"]}}),  # it("rejects ... alphabet values")
])
async def test_schema(config: dict[str, Any], errors: dict[str, Any]) -> None:
    """02-schema_spec.lua. Difference: for a metric without ``stat_type`` Kong says "field
    required for entity check" (the conditional's field); the shared schema engine here says
    "required field missing" — same field, same rejection."""
    _out, errs = plugins.check_plugin({"name": "statsd", "config": config})
    assert errs == errors
    missing_stat = plugins.check_plugin({"name": "statsd", "config": {"metrics": [{"name": "request_count", "sample_rate": 1}]}})[1]
    assert missing_stat == {"config": {"metrics": [{"stat_type": "required field missing"}]}}
