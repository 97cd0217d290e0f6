"""Upstream side of the proxy: keep-alive connection pool, one HTTP/1.1 exchange, load balancer.

Why not an HTTP client library: the proxy's time goes into the upstream call, and a general client
(sessions, URL objects, header objects, per-chunk awaits) costs several times more per request
than the work itself. An ``UpstreamConnection`` is a bare asyncio ``Protocol`` with an llhttp
response parser (``httptools``). The response body is handed chunk by chunk to a *sink* (the
client connection) straight from ``data_received``: no task switch per chunk, and flow control
is plain transport pause/resume in both directions.

The load balancer lives in ``runtime.balancer``, target health in ``runtime.health``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import httptools

if TYPE_CHECKING:
    from .upstream_tls import UpstreamTls

# TLS to an upstream: with (True) or without (False) verification, or a service's own settings
TlsSetting: TypeAlias = "bool | UpstreamTls"
# idle connections are pooled by (host, port), and by their TLS setting when they have one
PoolKey: TypeAlias = "tuple[str, int] | tuple[str, int, TlsSetting]"



def no_delay(transport: asyncio.BaseTransport) -> None:
    """Small writes leave at once (TCP_NODELAY): a response head must not wait for Nagle."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

class UpstreamError(Exception):
    """The upstream could not be used. ``kind``: "connect", "timeout", "closed", "invalid"."""

    def __init__(self, kind: str, detail: str = "", *, sent: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.sent = sent  # whether any response byte was seen (no retry then)


Sink = Callable[[bytes], None]


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an upstream; serves one exchange at a time."""

    def __init__(self, pool: UpstreamPool, key: PoolKey) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.key = key
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when it fires (not every loop's handles tell: qasync's don't)
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.uses = 0
        self.idle_since = 0.0
        self.head_request = False
        self.read_timeout = 60.0
        self.write_timeout = 60.0
        self.last_activity = 0.0
        self._reset_exchange()

    # -- exchange state ---------------------------------------------------------------------
    def _reset_exchange(self) -> None:
        """Per-exchange state (timeouts and the HEAD flag are set by ``begin``)."""
        self.busy = False
        self.status = 0
        self.raw_head = b""  # status line + header lines as received (each ending in CRLF)
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._buf = b""
        self.keep_alive = False
        self.headers_done = False
        self.complete = False
        self.got_bytes = False
        self.chunks: list[bytes] = []
        self.body_bytes = 0  # response body bytes received (what a relay passes on)
        self.sink: Sink | None = None
        self.error: UpstreamError | None = None
        self.write_paused_since = 0.0
        self._reset_parser = False
        self.body_source: Any = None  # the request body being streamed, for flow control
        # callback-driven exchanges: ``listener.upstream_event(conn)`` after every state change,
        # instead of waking a coroutine
        self.listener: Any = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream connection's transport (asyncio types the hook for every kind of transport)
        self.transport = cast(asyncio.Transport, transport)
        no_delay(transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # bytes from an idle connection: the server is misbehaving or closing; drop it
            self.close()
            return
        self.got_bytes = True
        self.last_activity = self.loop.time()
        if not self.headers_done:
            # keep the raw head: the proxy forwards header lines without parsing them one by one
            self._buf = self._buf + data if self._buf else data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError("invalid", str(exc), sent=self.headers_done))
            self.close()
            return
        if self._reset_parser:
            self._reset_parser = False
            self.parser = httptools.HttpResponseParser(self)
        listener = self.listener
        if listener is not None and (self.headers_done or self.error is not None):
            listener.upstream_event(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.busy:
            self._cancel_timer()
        self.pool._discard(self)
        if self.busy and not self.complete:
            if self.headers_done and not self._has_framing():
                # a close-delimited body: the end of the connection is the end of the message
                self.on_message_complete()
                if self.listener is not None:
                    self.listener.upstream_event(self)
                return
            self._fail(UpstreamError("closed", str(exc or "connection closed"), sent=self.got_bytes))

    def pause_writing(self) -> None:
        self.write_paused_since = self.loop.time()
        src = self.body_source
        if src is not None:
            src.pause()

    def resume_writing(self) -> None:
        self.write_paused_since = 0.0
        self.last_activity = self.loop.time()
        src = self.body_source
        if src is not None:
            src.resume()

    # -- llhttp callbacks -------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._buf = buf[end + 4:] if end >= 0 else b""  # interim response (100 Continue)
            return
        self.raw_head = buf[: end + 2] if end >= 0 else buf
        self._buf = b""
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        if self.head_request:
            # a HEAD answer has no body whatever its Content-Length says; llhttp does not know
            # the request method, so end the message here and start a fresh parser
            self._reset_parser = True
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        sink = self.sink
        if sink is not None:
            sink(body)
        else:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.status == 0 or self.complete:
            return  # end of an interim response, or already ended (HEAD)
        self.complete = True  # (the listener is told after the parser returns, in data_received)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers as (name, value) byte pairs, parsed on first use."""
        h = self._headers
        if h is None:
            h = []
            for line in self.raw_head.split(b"\r\n")[1:]:
                if not line:
                    continue
                if line[0] in (32, 9) and h:  # obsolete line folding: continue the last value
                    k, v = h[-1]
                    h[-1] = (k, v + b" " + line.strip())
                    continue
                k, _, v = line.partition(b":")
                h.append((k.strip(), v.strip()))
            self._headers = h
        return h

    def _has_framing(self) -> bool:
        for k, _v in self.headers:
            lk = k.lower()
            if lk == b"content-length" or lk == b"transfer-encoding":
                return True
        return False

    # -- driving one exchange ---------------------------------------------------------------
    def begin(self, head: bytes, body: bytes | None, *, head_request: bool, read_timeout: float,
              write_timeout: float) -> None:
        """Send the request head (and a buffered body); streaming bodies attach separately."""
        self.busy = True
        self.uses += 1
        self.head_request = head_request
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        loop = self.loop
        now = self.last_activity = loop.time()
        # one watchdog timer per connection, re-armed only when it fires (not per request)
        limit = read_timeout if read_timeout < write_timeout else write_timeout
        t = self._timer
        if t is None:
            self._timer = loop.call_at(now + limit, self._on_timer)
            self._timer_at = now + limit
        elif self._timer_at > now + limit + 0.001:
            t.cancel()
            self._timer = loop.call_at(now + limit, self._on_timer)
            self._timer_at = now + limit
        transport = self.transport
        assert transport is not None
        if body:
            transport.write(head + body)
        else:
            transport.write(head)

    def _on_timer(self) -> None:
        self._timer = None
        if self.complete or not self.busy or self.closed:
            return  # idle: the next exchange arms it again
        loop = self.loop
        now = loop.time()
        if self.write_paused_since and now - self.write_paused_since >= self.write_timeout:
            self._fail(UpstreamError("timeout", "write", sent=self.got_bytes))
            self.close()
            return
        idle = now - self.last_activity
        if not self.write_paused_since and idle >= self.read_timeout - 0.001:
            self._fail(UpstreamError("timeout", "read", sent=self.got_bytes))
            self.close()
            return
        wait = self.read_timeout - idle if not self.write_paused_since else (
            self.write_timeout - (now - self.write_paused_since))
        self._timer = loop.call_later(max(wait, 0.001), self._on_timer)
        self._timer_at = now + max(wait, 0.001)

    def touch(self) -> None:
        """Record write progress (the request body is still flowing)."""
        self.last_activity = self.loop.time()

    def _cancel_timer(self) -> None:
        t = self._timer
        if t is not None:
            t.cancel()
            self._timer = None

    def _fail(self, err: UpstreamError) -> None:
        if self.error is None:
            self.error = err
        self._cancel_timer()
        src = self.body_source
        if src is not None:
            src.resume()
        listener = self.listener
        if listener is not None:
            listener.upstream_event(self)

    def set_sink(self, sink: Sink) -> None:
        """Hand the buffered and all further body chunks to ``sink``."""
        chunks = self.chunks
        if chunks:
            self.chunks = []
            for c in chunks:
                sink(c)
        self.sink = sink

    def take_body(self) -> bytes:
        chunks = self.chunks
        if not chunks:
            return b""
        self.chunks = []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def finish(self) -> None:
        """The exchange is over: back to the pool if reusable, else closed."""
        reusable = self.complete and self.keep_alive and self.error is None and not self.closed
        self._reset_exchange()
        if reusable:
            self.pool._release(self)
        else:
            self.close()

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


class UpstreamPool:
    """Idle keep-alive connections per (host, port), newest first."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, max_idle: int = 256,
                 idle_timeout: float = 60.0) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._idle: dict[PoolKey, list[UpstreamConnection]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self.connects = 0  # new connections opened (for tests and stats)

    def take_idle(self, host: str, port: int, tls: TlsSetting | None = None) -> UpstreamConnection | None:
        """A kept-alive connection to (host, port), newest first, or None.

        ``tls``: None for plain HTTP, else TLS with (True) or without (False) verification, or a
        service's ``UpstreamTls`` settings.
        """
        idle = self._idle.get((host, port) if tls is None else (host, port, tls))
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def acquire(self, host: str, port: int, connect_timeout: float,
                      tls: TlsSetting | None = None) -> tuple[UpstreamConnection, bool]:
        """(connection, reused). Raises ``UpstreamError`` ("connect" or "timeout")."""
        conn = self.take_idle(host, port, tls)
        if conn is not None:
            return conn, True
        return await self.connect(host, port, connect_timeout, tls), False

    async def connect(self, host: str, port: int, connect_timeout: float,
                      tls: TlsSetting | None = None) -> UpstreamConnection:
        """A new connection (TLS when ``tls`` is not None). Raises ``UpstreamError``."""
        key: PoolKey = (host, port) if tls is None else (host, port, tls)
        try:
            async with asyncio.timeout(connect_timeout):
                if tls is None:
                    _t, conn = await self.loop.create_connection(lambda: UpstreamConnection(self, key), host, port)
                else:
                    _t, conn = await self.loop.create_connection(
                        lambda: UpstreamConnection(self, key), host, port, ssl=tls_context(tls),
                        server_hostname=host)
        except TimeoutError:
            raise UpstreamError("timeout", f"connect to {host}:{port}") from None
        except OSError as exc:
            raise UpstreamError("connect", f"{host}:{port}: {exc.strerror or exc}") from None
        check = getattr(tls, "check_peer", None)  # a service's upstream TLS settings (tls_verify_depth)
        refused = check(conn.transport) if check is not None else None
        if refused is not None:
            conn.close()
            raise UpstreamError("connect", f"{host}:{port}: {refused}")
        self.connects += 1
        return conn

    def _release(self, conn: UpstreamConnection) -> None:
        if self._closed:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(min(self.idle_timeout, 10.0), self._sweep)

    def _discard(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = self.loop.time() - self.idle_timeout
        remaining = 0
        for idle in self._idle.values():
            for conn in [c for c in idle if c.idle_since < cutoff]:
                idle.remove(conn)
                conn.close()
            remaining += len(idle)
        if remaining and not self._closed:
            self._sweeper = self.loop.call_later(min(self.idle_timeout, 10.0), self._sweep)

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


_TLS: dict[TlsSetting, ssl.SSLContext] = {}


def tls_context(verify: TlsSetting) -> ssl.SSLContext:
    """Client TLS settings for upstreams: Kong's ``tls_verify`` is off unless a service asks.
    ``verify`` is a bool, or a service's ``upstream_tls.UpstreamTls`` carrying its own context
    (CA certificates, client certificate)."""
    own: ssl.SSLContext | None = getattr(verify, "context", None)
    if own is not None:
        return own
    ctx = _TLS.get(verify)
    if ctx is None:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _TLS[verify] = ctx
    return ctx


def now_ms() -> float:
    return time.monotonic() * 1000.0
