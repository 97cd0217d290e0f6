"""Answers given before the request is read whole, and what a plugin's answer may carry,
through real sockets.

* An early answer (a plugin refusing a body before reading it) on a ``Connection: close``
  request: the gateway sends it, shuts its side and drains what the client still sends before
  closing (nginx's lingering close), so the client reads the answer instead of a reset.
* ``PluginExit`` headers with several values for one name (Kong's ``kong.response.exit``
  takes a list: ``Set-Cookie`` needs it).
* The client's HTTP version on the request context (``kong.request.get_http_version``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from test_proxy_support import parse_response

from konnect_desktop.plugins import request_termination
from konnect_desktop.plugins.base import PluginExit, RequestContext

pytestmark = pytest.mark.asyncio(loop_scope="module")
MB = 2**20


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", data).group(1))  # type: ignore[union-attr]
    return data + await asyncio.wait_for(reader.readexactly(length), 20)


async def test_early_refusal_on_connection_close_is_read_not_reset(gw: Gateway) -> None:
    """spec/03-plugins/12-request-size-limiting/01-access_spec.lua "blocks if size is greater
    than limit", sent with ``Connection: close`` (Kong's test client closes each connection):
    request-size-limiting answers 413 from Content-Length alone; the 2 MiB body the client is
    still sending must not turn the close into a reset that destroys the answer."""
    c, svc = gw.cfg()
    r = c.route(svc, hosts=["limit-close.test"])
    c.plugin("request-size-limiting", {"allowed_payload_size": 1}, route=r)
    await gw.load(c)
    body = b"a" * (2 * MB)
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        try:
            writer.write(b"POST /request HTTP/1.1\r\nHost: limit-close.test\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            writer.write(body)
            data = await read_answer(reader)
            # the gateway closes after its answer: end of stream, not a reset
            assert await asyncio.wait_for(reader.read(), 20) == b""
        finally:
            writer.close()
        resp = parse_response(data)
        assert resp.status == 413 and b"Request size limit exceeded" in resp.body
        assert resp.header("Connection") == "close"


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> list[RequestContext]:
    """request-termination's access replaced by one that records the context and answers with
    two ``Set-Cookie`` values (no bundled plugin answers with a repeated header today)."""
    seen: list[RequestContext] = []

    def access(self: Any, ctx: RequestContext) -> None:
        seen.append(ctx)
        raise PluginExit(200, b"ok", {"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"], "X-One": "1"})

    monkeypatch.setattr(request_termination.RequestTerminationHandler, "access", access)
    return seen


async def test_exit_headers_with_several_values(gw: Gateway, answering: list[RequestContext]) -> None:
    """kong/pdk/response.lua ``exit(status, body, headers)``: a header whose value is a table is
    sent once per value. Also: the context carries the client's HTTP version."""
    c, svc = gw.cfg()
    r = c.route(svc, hosts=["answer.test"])
    c.plugin("request-termination", {}, route=r)
    await gw.load(c)
    for version, want in ((b"1.1", 1.1), (b"1.0", 1.0)):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        try:
            writer.write(b"GET / HTTP/%s\r\nHost: answer.test\r\nConnection: close\r\n\r\n" % version)
            resp = parse_response(await read_answer(reader))
        finally:
            writer.close()
        assert resp.status == 200 and resp.body == b"ok"
        assert [v for k, v in resp.header_list if k.lower() == "set-cookie"] == ["a=1; Path=/", "b=2; Path=/"]
        assert resp.header("X-One") == "1"
        assert answering[-1].original.http_version == want
