"""syslog through real sockets: the gateway, the echo upstream and a unix datagram socket (or a
UDP socket on 127.0.0.1) the test opens as the syslog socket. Ported from Kong's
spec/03-plugins/05-syslog/01-log_spec.lua (each test names its ``it``); Kong's test reads the
system's syslog file, this one reads the socket syslog(3) writes to."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from log_sinks import DatagramSink

from konnect_desktop import plugins
from konnect_desktop.plugins.syslog import frame

pytestmark = pytest.mark.asyncio(loop_scope="module")
FRAME = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d kong\[\d+\]: (.*)$", re.S)
WARNING_LEVELS = {"successful_severity": "warning", "client_errors_severity": "warning",
                  "server_errors_severity": "warning"}


async def setup(gw: Gateway, config: dict[str, Any], address: Any) -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/p"])
    c.plugin("syslog", config, route=r)
    await gw.load(c)
    gw.runtime.services.shared_state("syslog")["address"] = address


async def unix_sink() -> DatagramSink:
    path = str(Path(tempfile.mkdtemp()) / "log.sock")
    return await DatagramSink().start(path)


@pytest.mark.parametrize(("log_level", "expecting"), [
    ("info", True),  # it("logs to syslog if log_level is lower")
    ("err", False),  # it("does not log to syslog if log_level is higher")
    ("warning", True),  # it("logs to syslog if log_level is the same")
])
async def test_log_level(gw: Gateway, log_level: str, expecting: bool) -> None:
    sink = await unix_sink()
    try:
        await setup(gw, {"log_level": log_level, **WARNING_LEVELS}, sink.path)
        marker = f"marker-{log_level}"
        r = await gw.request("GET", f"/p?{marker}")
        assert r.status == 200
        logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
        assert logged is not None
        (d,) = [d for d in logged.decisions if d.plugin == "syslog"]
        if expecting:
            (dgram,) = await sink.got.wait(1)
            m = FRAME.match(dgram)
            assert m, dgram
            assert int(m.group(1)) == 1 * 8 + 4  # user.warning
            assert json.loads(m.group(2))["request"]["uri"] == f"/p?{marker}"
            assert d.outcome == "pass" and d.summary == "log: sent to syslog (user.warning)"
        else:
            for _ in range(20):
                await asyncio.sleep(0)
            assert sink.got.items == []
            assert d.outcome == "skip"
    finally:
        await sink.stop()


async def test_severity_by_status_and_facility_over_udp(gw: Gateway) -> None:
    """Kong's mapping: 5xx → server_errors_severity, PRI = facility*8 + severity (local0.crit =
    130); the syslog socket may be a UDP address on 127.0.0.1."""
    sink = await DatagramSink().start()
    closed = await DatagramSink().start()  # a free port number: nothing listens on it over TCP
    dead_port = closed.port
    await closed.stop()
    try:
        c, _svc = gw.cfg()
        dead = c.service(port=dead_port)
        r = c.route(dead, paths=["/p"])
        c.plugin("syslog", {"facility": "local0", "server_errors_severity": "crit"}, route=r)
        await gw.load(c)
        gw.runtime.services.shared_state("syslog")["address"] = ("127.0.0.1", sink.port)
        assert (await gw.request("GET", "/p")).status == 502
        (dgram,) = await sink.got.wait(1)
        m = FRAME.match(dgram)
        assert m and int(m.group(1)) == 16 * 8 + 2
        assert json.loads(m.group(2))["response"]["status"] == 502
    finally:
        await sink.stop()


async def test_frame() -> None:
    m = FRAME.match(frame("auth", "emerg", b"{}", 0.0))
    assert m and int(m.group(1)) == 32 and m.group(2) == b"{}"


@pytest.mark.parametrize(("config", "errors"), [
    ({}, {}),
    ({"log_level": "verbose"}, {"config": {"log_level": "expected one of: debug, info, notice, warning, err, crit, alert, emerg"}}),
    ({"facility": "local9"}, {"config": {"facility": "expected one of: auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, local2, local3, local4, local5, local6, local7"}}),
])
async def test_schema(config: dict[str, Any], errors: dict[str, Any]) -> None:
    """kong/plugins/syslog/schema.lua: four severities (default info), facility (default user)."""
    out, errs = plugins.check_plugin({"name": "syslog", "config": config})
    assert errs == errors
    if not errs:
        c = out["config"]
        assert (c["log_level"], c["successful_severity"], c["facility"]) == ("info", "info", "user")
