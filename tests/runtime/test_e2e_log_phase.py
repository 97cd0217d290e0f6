"""The log phase as Kong runs it, through real sockets: every plugin of the request logs, also
after an earlier plugin answered (kong/init.lua ``execute_collecting_plugins_iterator``), and
the record carries what the proxy measured (``ResponseContext.served``: Kong's
``KONG_PROXY_LATENCY`` / ``KONG_WAITING_TIME``, ``$request_length``, ``$bytes_sent``,
``$upstream_status``, the balancer's try, ``kong.response.get_source``). The loggers define no
header filter: the proxy hands their log phase the response head anyway.

file-log writes its line one loop turn after the log phase; a test yields a bounded number of
times for it (as test_e2e_file_log.py does)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from e2e_plugin_support import Gateway, lines_in

from konnect_desktop.runtime.config_view import ChainEntry as RuntimeChainEntry
from konnect_desktop.runtime.dataplane import SERVER

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` (with ``Connection: close``) byte for byte; everything the gateway sent back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


async def test_loggers_define_no_header_filter() -> None:
    """The proxy hands the log phase the response head itself: no logger needs a placeholder
    header filter (which made every logged response take the slower rebuilt-head path)."""
    from konnect_desktop import plugins
    from konnect_desktop.runtime.dataplane import Services

    for name in ("file-log", "http-log", "tcp-log", "udp-log", "syslog", "statsd", "prometheus"):
        spec = plugins.get(name)
        assert spec is not None and spec.handler is not None
        config = {"path": "/dev/null"} if name == "file-log" else {"http_endpoint": "http://127.0.0.1:9/"} \
            if name == "http-log" else {"host": "127.0.0.1", "port": 9} if name in ("tcp-log", "udp-log") else {}
        entity = plugins.validate_plugin({"name": name, "config": config})
        e = RuntimeChainEntry.of(name, spec.handler(entity["config"], entity, Services("n")))
        assert e.log and not e.header_filter and not e.body_filter, name


async def test_served_facts_of_a_proxied_request(gw: Gateway, tmp_path: Path) -> None:
    """spec/03-plugins/01-tcp-log/01-tcp-log_spec.lua it("logs proper latencies") with the
    proxy's own figures (no longer Kong's "unknown" 0 / -1), and the sizes as the bytes on the
    wire: ``request.size`` is what the client sent, ``response.size`` what it received."""
    path = tmp_path / "served.log"
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/p"])
    c.plugin("file-log", {"path": str(path)}, route=r)
    await gw.load(c)
    sent = b"POST /p/request HTTP/1.1\r\nHost: served.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    got = await exchange(gw.port, sent)
    assert got.startswith(b"HTTP/1.1 200 ")
    (entry,) = await lines_in(path, 1)
    assert entry["source"] == "service" and entry["upstream_status"] == "200"
    lat = entry["latencies"]
    assert lat["kong"] >= 0 and lat["proxy"] >= 0 and 1 + lat["request"] >= lat["kong"] + lat["proxy"]
    assert entry["request"]["size"] == len(sent)
    assert entry["response"]["size"] == len(got)
    assert entry["tries"] == [{"ip": "127.0.0.1", "port": gw.echo.port, "balancer_latency": 0}]
    # the response head reaches the log phase without a header filter
    assert entry["response"]["headers"]["content-type"].startswith("application/json")


async def test_logs_after_an_early_exit(gw: Gateway, tmp_path: Path) -> None:
    """spec/03-plugins/26-prometheus/02-access_spec.lua it("behave correctly if consumer is not
    found"), for a logger: key-auth (1250) answers 401 in its access phase; file-log (9), whose
    access never ran, still logs the answer, with source "exit", no upstream (proxy -1, no
    upstream status, no tries) and Kong's response latency as ``latencies.kong``."""
    path = tmp_path / "exit.log"
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/locked"])
    c.plugin("key-auth", {}, route=r)
    c.plugin("file-log", {"path": str(path)}, route=r)
    await gw.load(c)
    sent = b"GET /locked HTTP/1.1\r\nHost: exit.test\r\nConnection: close\r\n\r\n"
    got = await exchange(gw.port, sent)
    assert got.startswith(b"HTTP/1.1 401 ")
    (entry,) = await lines_in(path, 1)
    assert entry["response"]["status"] == 401 and entry["source"] == "exit"
    assert entry["upstream_status"] == "" and "tries" not in entry
    assert entry["latencies"]["proxy"] == -1 and entry["latencies"]["kong"] >= 0
    assert entry["request"]["size"] == len(sent) and entry["response"]["size"] == len(got)
    assert entry["response"]["headers"]["www-authenticate"].startswith("Key")


async def test_serviceless_route_logs_kongs_503(gw: Gateway, tmp_path: Path) -> None:
    """kong/init.lua Kong.access: a route without a service runs its plugins, then Kong answers
    503 "no Service found with those values" (``kong.response.error``: source "exit"); the
    route's logger logs it."""
    path = tmp_path / "serviceless.log"
    c, _svc = gw.cfg()
    r = c.route(None, paths=["/nowhere"])
    c.plugin("file-log", {"path": str(path)}, route=r)
    await gw.load(c)
    got = await exchange(gw.port, b"GET /nowhere HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 503 ") and b"no Service found with those values" in got
    assert re.search(rb"\r\nServer: " + re.escape(SERVER) + rb"\r\n", got)
    (entry,) = await lines_in(path, 1)
    assert (entry["response"]["status"], entry["source"]) == (503, "exit")
    assert "service" not in entry and entry["route"]["id"] == r["id"]


async def test_upstream_failure_is_source_error(gw: Gateway, tmp_path: Path) -> None:
    """kong.response.get_source: an upstream that cannot be reached is Kong's error handler's
    answer (KONG_UNEXPECTED): source "error"."""
    path = tmp_path / "error.log"
    c, _svc = gw.cfg()
    dead = c.service(port=9, name="dead", retries=0)
    r = c.route(dead, paths=["/dead"])
    c.plugin("file-log", {"path": str(path)}, route=r)
    await gw.load(c)
    got = await exchange(gw.port, b"GET /dead HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 502 ")
    (entry,) = await lines_in(path, 1)
    assert (entry["response"]["status"], entry["source"]) == (502, "error")
