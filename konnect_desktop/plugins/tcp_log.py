"""tcp-log: send each request's log record, one JSON line, to a TCP server (Kong's plugin,
PRIORITY 7), optionally over TLS.

Kong sends each record from a timer over a pooled keep-alive connection. Here one task per
destination writes the waiting lines over one kept-alive connection (opened on demand, TLS
handshake with ``tls_sni`` when ``tls``, certificate not verified — Kong's
``sslhandshake(false, sni, false)``), closing it after ``keepalive`` ms idle. The log phase
only appends the line: at most ``MAX_PENDING`` lines wait per destination (oldest dropped).
A line that cannot be sent is logged and dropped, as in Kong. ``custom_fields_by_lua`` is Lua:
accepted and stored, not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Boolean, Number, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_serializer import LUA_NOT_RUN, encode, serialize

log = logging.getLogger(__name__)

NAME = "tcp-log"
PRIORITY = 7
MAX_PENDING = 10000


CONFIG = Record(
    [
        ("host", typedefs.host(required=True, description="The IP address or host name to send data to.")),
        ("port", typedefs.port(required=True, description="The port to send data to on the upstream server.")),
        ("timeout", Number(default=10000, description="An optional timeout in milliseconds when sending data to the upstream server.")),
        ("keepalive", Number(default=60000, description="An optional value in milliseconds that defines how long an idle connection lives before being closed.")),
        ("tls", Boolean(required=True, default=False, description="Indicates whether to perform a TLS handshake against the remote server.")),
        ("tls_sni", String(description="An optional string that defines the SNI (Server Name Indication) hostname to send in the TLS handshake.")),
        ("custom_fields_by_lua", typedefs.lua_code(description="A list of key-value pairs, where the key is the name of a log field and the value is a chunk of Lua code, whose return value sets or replaces the log field value (stored; the local runtime does not run Lua).")),
    ],
    nullable=False,
    description="The TCP server log records are sent to.",
)


class _Destination:
    """Lines waiting for one (host, port, tls, sni), and the task writing them."""

    def __init__(self, host: str, port: int, tls: bool, sni: str | None) -> None:
        self.host, self.port, self.tls, self.sni = host, port, tls, sni
        self.lines: deque[bytes] = deque()
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.timeout = 10.0
        self.keepalive = 60.0
        self.wake: asyncio.Event | None = None
        self.sent = 0
        self.dropped = 0

    def add(self, line: bytes, timeout_ms: float, keepalive_ms: float) -> None:
        self.timeout = timeout_ms / 1000.0
        self.keepalive = keepalive_ms / 1000.0
        if len(self.lines) >= MAX_PENDING:
            self.lines.popleft()
            self.dropped += 1
        self.lines.append(line)
        if self.wake is not None:
            self.wake.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _connect(self) -> asyncio.StreamWriter:
        ctx: ssl.SSLContext | None = None
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _r, w = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=ctx,
                                    server_hostname=(self.sni or self.host) if ctx else None),
            self.timeout)
        return w

    async def _run(self) -> None:
        try:
            while True:
                while self.lines:
                    try:
                        if self.writer is None or self.writer.is_closing():
                            self.writer = await self._connect()
                        batch = b"".join(self.lines)
                        n = len(self.lines)
                        self.lines.clear()
                        self.writer.write(batch)
                        await asyncio.wait_for(self.writer.drain(), self.timeout)
                        self.sent += n
                    except (OSError, TimeoutError, ssl.SSLError) as exc:
                        log.error("tcp-log: failed to send data to %s:%s: %s", self.host, self.port,
                                  exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
                        self.lines.clear()
                        await self._close()
                # idle: keep the connection open for ``keepalive`` seconds, or until more lines
                self.wake = asyncio.Event()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.keepalive)
                except TimeoutError:
                    if not self.lines:
                        break
                finally:
                    self.wake = None
        finally:
            await self._close()
            self.task = None

    async def _close(self) -> None:
        w, self.writer = self.writer, None
        if w is not None:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def stop(self) -> None:
        t = self.task
        if t is not None:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        await self._close()


class _Senders:
    def __init__(self) -> None:
        self.destinations: dict[tuple[str, int, bool, str | None], _Destination] = {}
        self.users = 0

    @classmethod
    def of(cls, runtime: RuntimeServices) -> _Senders:
        state = runtime.shared_state(NAME)
        s = state.get("senders")
        if not isinstance(s, cls):
            s = state["senders"] = cls()
        return s

    def get(self, host: str, port: int, tls: bool, sni: str | None) -> _Destination:
        key = (host, port, tls, sni)
        d = self.destinations.get(key)
        if d is None:
            d = self.destinations[key] = _Destination(host, port, tls, sni)
        return d

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            for d in list(self.destinations.values()):
                await d.stop()
            self.destinations.clear()


class TcpLogHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.senders = _Senders.of(runtime)
        self.senders.users += 1
        self.where = f"{'tls' if config.get('tls') else 'tcp'}://{config['host']}:{config['port']}"
        self.lua = bool(config.get("custom_fields_by_lua"))
        self._closed = False

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        c = self.config
        dest = self.senders.get(c["host"], c["port"], bool(c.get("tls")), c.get("tls_sni"))
        dest.add(encode(serialize(ctx, resp)) + b"\n", float(c.get("timeout") or 10000),
                 float(c.get("keepalive") or 60000))
        data: JSONObject = {"destination": self.where}
        extra = ""
        if self.lua:
            data["custom_fields_by_lua"] = LUA_NOT_RUN
            extra = "; custom_fields_by_lua not run (Lua)"
        ctx.decisions.append(Decision(NAME, "pass", f"log: sent to {self.where}{extra}", data))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.senders.release()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Send each request's log record (Kong's JSON, one line) to a TCP server, optionally over TLS.",
    handler=TcpLogHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
