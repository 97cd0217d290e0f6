"""Loopback receivers for the logging plugins' tests (no tests here): an HTTP log server, a TCP
line server, a UDP/unix-datagram receiver. Each keeps what it got and lets a test await the
n-th arrival (bounded by a timeout that only fails a broken test, never paces a passing one)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from test_proxy_support import app_server

WAIT = 10.0  # seconds before a test that never receives fails


class _Arrivals:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait(self, n: int, timeout: float = WAIT) -> list[Any]:
        """The first ``n`` arrivals, once there are that many."""
        async def until() -> None:
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(until(), timeout)
        return self.items[:n]


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """An HTTP server on 127.0.0.1 that records every request; answers ``status`` (settable)."""

    port: int = 0
    status: int = 200
    got: _Arrivals = field(default_factory=_Arrivals)
    _server: Any = None

    async def start(self) -> HttpSink:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            self.got.add(LoggedRequest(request.method, request.path_qs, dict(request.headers), body))
            return web.Response(status=self.status, text="ok" if self.status < 300 else "nope")

        self._server = await app_server(handle)
        self.port = self._server.port
        return self

    def url(self, path: str = "/log", userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        await self._server.stop()


class TcpSink:
    """A TCP server on 127.0.0.1 that keeps each connection's bytes (one log record per line)."""

    def __init__(self) -> None:
        self.got = _Arrivals()  # lines
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl: Any = None) -> TcpSink:
        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while line := await reader.readline():
                    self.got.add(line.rstrip(b"\r\n"))
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, got: _Arrivals) -> None:
        self.got = got

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.add(data)


class DatagramSink:
    """A UDP socket on 127.0.0.1 (or a unix datagram socket at ``path``) keeping each datagram."""

    def __init__(self) -> None:
        self.got = _Arrivals()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.path: str | None = None

    async def start(self, path: str | None = None) -> DatagramSink:
        loop = asyncio.get_running_loop()
        if path is None:
            transport, _p = await loop.create_datagram_endpoint(lambda: _DatagramProtocol(self.got),
                                                                local_addr=("127.0.0.1", 0))
            self.port = transport.get_extra_info("sockname")[1]
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            self.path = path
            transport, _p = await loop.create_datagram_endpoint(lambda: _DatagramProtocol(self.got), sock=sock)
        self.transport = transport  # type: ignore[assignment]
        return self

    async def stop(self) -> None:
        assert self.transport is not None
        self.transport.close()
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
