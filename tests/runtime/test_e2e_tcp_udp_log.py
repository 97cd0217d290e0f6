"""tcp-log and udp-log through real sockets: the gateway, the echo upstream and a TCP/UDP
receiver the test opens on 127.0.0.1. Ported from Kong's spec/03-plugins/01-tcp-log/01-tcp-log_spec.lua
and spec/03-plugins/02-udp-log/01-udp-log_spec.lua (each test names its ``it``)."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from log_sinks import DatagramSink, TcpSink

from konnect_desktop import plugins
from konnect_desktop.plugins.tcp_log import _Senders

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def route_with(gw: Gateway, name: str, config: dict[str, Any], path: str = "/p") -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=[path])
    c.plugin(name, config, route=r)
    await gw.load(c)


async def test_logs_to_tcp(gw: Gateway) -> None:
    """01-tcp-log it("logs to TCP"): one JSON line, no TLS info over plain HTTP."""
    sink = await TcpSink().start()
    try:
        await route_with(gw, "tcp-log", {"host": "127.0.0.1", "port": sink.port})
        r = await gw.request("GET", "/p/request")
        assert r.status == 200
        (line,) = await sink.got.wait(1)
        entry = json.loads(line)
        assert entry["client_ip"] == "127.0.0.1" and "tls" not in entry["request"]
        logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
        assert logged is not None
        assert [d.summary for d in logged.decisions if d.plugin == "tcp-log"] == [
            f"log: sent to tcp://127.0.0.1:{sink.port}"]
        # later records reuse the kept-alive connection
        await gw.request("GET", "/p/again")
        await sink.got.wait(2)
        assert sink.connections == 1
    finally:
        await sink.stop()


async def test_logs_proper_latencies(gw: Gateway) -> None:
    """01-tcp-log it("logs proper latencies"): request >= kong + proxy (1 ms of slack, as Kong's
    test allows), with the proxy's measured figures (not Kong's "unknown" 0 / -1)."""
    sink = await TcpSink().start()
    try:
        await route_with(gw, "tcp-log", {"host": "127.0.0.1", "port": sink.port})
        await gw.request("GET", "/p/delay")
        (line,) = await sink.got.wait(1)
        lat = json.loads(line)["latencies"]
        assert 0 <= lat["proxy"] < 3000 and lat["kong"] >= 0
        assert 1 + lat["request"] >= lat["kong"] + lat["proxy"]
    finally:
        await sink.stop()


async def test_performs_a_tls_handshake_on_the_remote_tcp_server(gw: Gateway, tmp_path: Path) -> None:
    """01-tcp-log it("performs a TLS handshake on the remote TCP server")."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslctx.load_cert_chain(cert, key)
    sink = await TcpSink().start(ssl=sslctx)
    try:
        await route_with(gw, "tcp-log", {"host": "127.0.0.1", "port": sink.port, "tls": True, "tls_sni": "localhost"})
        assert (await gw.request("GET", "/p/request")).status == 200
        (line,) = await sink.got.wait(1)
        assert json.loads(line)["client_ip"] == "127.0.0.1"
    finally:
        await sink.stop()


async def test_tcp_server_down_is_logged(gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    """A refused connection is logged ("failed to send data to") and the request is answered
    (Kong: "failed to connect to")."""
    sink = await TcpSink().start()
    port = sink.port
    await sink.stop()
    await route_with(gw, "tcp-log", {"host": "127.0.0.1", "port": port})
    with caplog.at_level("ERROR", logger="konnect_desktop.plugins.tcp_log"):
        assert (await gw.request("GET", "/p")).status == 200
        dest = _Senders.of(gw.runtime.services).get("127.0.0.1", port, False, None)
        for _ in range(500):  # bounded: the refused connect fails within a few loop turns
            if "failed to send data" in caplog.text:
                break
            await asyncio.sleep(0.01)
        assert dest.sent == 0
    assert f"tcp-log: failed to send data to 127.0.0.1:{port}" in caplog.text


async def test_logs_to_udp(gw: Gateway) -> None:
    """02-udp-log it("logs to UDP"): one datagram with the record."""
    sink = await DatagramSink().start()
    try:
        await route_with(gw, "udp-log", {"host": "127.0.0.1", "port": sink.port})
        r = await gw.request("GET", "/p/udp")
        assert r.status == 200
        (dgram,) = await sink.got.wait(1)
        entry = json.loads(dgram)
        assert entry["client_ip"] == "127.0.0.1" and entry["upstream_uri"] == "/udp"
        logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
        assert logged is not None
        assert [d.summary for d in logged.decisions if d.plugin == "udp-log"] == [
            f"log: sent to udp://127.0.0.1:{sink.port}"]
    finally:
        await sink.stop()


async def test_udp_logs_proper_latencies_and_host_name(gw: Gateway) -> None:
    """02-udp-log it("logs proper latencies"), sent to a host name (resolved asynchronously)."""
    sink = await DatagramSink().start()
    try:
        await route_with(gw, "udp-log", {"host": "localhost", "port": sink.port})
        await gw.request("GET", "/p")
        (dgram,) = await sink.got.wait(1)
        lat = json.loads(dgram)["latencies"]
        assert 1 + lat["request"] >= lat["kong"] + lat["proxy"]
    finally:
        await sink.stop()


@pytest.mark.parametrize(("name", "config", "errors"), [
    ("tcp-log", {"host": "127.0.0.1", "port": 9}, {}),
    ("tcp-log", {"port": 9}, {"config": {"host": "required field missing"}}),
    ("tcp-log", {"host": "127.0.0.1", "port": 70000}, {"config": {"port": "value should be between 0 and 65535"}}),
    ("tcp-log", {"host": "127.0.0.1:80", "port": 9}, {"config": {"host": "must not have a port"}}),
    ("udp-log", {"host": "127.0.0.1"}, {"config": {"port": "required field missing"}}),
    ("udp-log", {"host": "127.0.0.1", "port": 9, "custom_fields_by_lua": {"a": "return 1"}}, {}),
])
async def test_schema(name: str, config: dict[str, Any], errors: dict[str, Any]) -> None:
    """kong/plugins/{tcp,udp}-log/schema.lua: typedefs.host/port, defaults."""
    out, errs = plugins.check_plugin({"name": name, "config": config})
    assert errs == errors
    if not errs and name == "tcp-log":
        assert (out["config"]["timeout"], out["config"]["keepalive"], out["config"]["tls"]) == (10000, 60000, False)
