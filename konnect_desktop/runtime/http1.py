"""The HTTP/1.1 client connection: parsing, keep-alive, pipelining, back-pressure, limits.

A client connection is an asyncio ``Protocol`` fed to an llhttp request parser (``httptools``).
Each request head becomes a ``Request`` (raw header bytes, nothing decoded that the proxy does
not need) and is handed to one ``Exchange`` (exchange.py) — the only path a request takes.
Requests are served one at a time, in order: a pipelined request waits in a queue with the
client's reading paused (no unbounded read-ahead).

The exchange runs as plain calls while it can; when it must wait (a plugin, a connect, a body)
it hands a coroutine to ``spawn``, and the connection's one long-lived serving task runs it —
cheaper than a task per request on keep-alive connections.

Request hygiene as nginx in front of Kong does it (limits.py): the head's size, line length,
header count and time (``client_header_timeout``), duplicate ``Host``, ``client_max_body_size``;
a request parsed before a bad one is answered first, then the refusal, then a lingering close;
bytes after ``Connection: close`` are ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httptools

from ..errors import AppError
from .exchange import Exchange
from .limits import ProxyLimits
from .request_body import RequestBody
from .responses import (
    MSG_BAD_REQUEST,
    MSG_HEAD_TOO_LARGE,
    MSG_HEADER_TIMEOUT,
    MSG_TOO_LARGE,
    REQ_DROP,
    VIA_VALUE,
    refusal,
)
from .tls import server_name_of
from .upstream import no_delay

if TYPE_CHECKING:
    from .dataplane import ProxyServer
    from .upstream import UpstreamConnection

log = logging.getLogger(__name__)

LINGERING_TIMEOUT = 5.0  # after a refusal, what the client still sends is read and dropped this long (nginx)


class _Refuse(AppError):
    """Raised from a parser callback: answer ``status`` (nginx's own answer) and stop reading."""

    status: int

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """One client request as parsed (raw bytes where possible)."""

    __slots__ = ("method", "version", "target", "headers", "host", "keep_alive", "body",
                 "chunked", "content_length", "xff", "via", "expect", "done_parsing", "fwd", "refused", "seq")

    def __init__(self) -> None:
        self.method = "GET"
        self.version = "1.1"
        self.target = "/"
        self.headers: list[tuple[bytes, bytes]] = []
        self.host = b""
        self.keep_alive = True
        self.body: RequestBody | None = None
        self.chunked = False
        self.content_length: int | None = None
        self.xff: bytes | None = None
        self.via: bytes | None = None
        self.expect = False
        self.done_parsing = False
        self.fwd: list[bytes] = []  # header lines forwarded as received (pieces to join)
        self.refused = 0  # a status nginx would answer without proxying (413 for a body too large)
        self.seq = 0  # its number on the connection, from 1 (nginx's $connection_requests)


class ClientConnection(asyncio.Protocol):
    """One client connection: parses requests and serves them one at a time, in order."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.loop = server.loop
        server.connection_serial = self.serial = server.connection_serial + 1  # nginx's $connection
        self.requests = 0  # requests parsed so far (the next one's $connection_requests - 1)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_ip = ""
        self.scheme = "http"  # set from the transport in connection_made
        self.sni: str | None = None  # the TLS server name the client sent
        self.local_port = server.port
        self.closed = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._parsing: Request | None = None
        self._queue: deque[Request] = deque()
        self._active: Request | None = None
        self._read_pauses = 0
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.flow_upstream: UpstreamConnection | None = None
        self.ip_bytes = b""
        self.xff_via_line = b""
        self.fwd_cache: dict[str, bytes] = {}
        self.host_cache: dict[str, tuple[str, int | None]] = {}
        self._head_size = 0
        self.last_active = self.loop.time()
        self._cont: Callable[[], Awaitable[None]] | None = None  # the next step for the serving task
        self._starting = False  # inside _start: a request answered at once hands the next one back
        self._next_ready = False
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # request hygiene (nginx's limits, see limits.py)
        lim = server.limits
        self.limits: ProxyLimits = lim
        self._max_head = lim.max_head  # (read per header: plain ints, not properties)
        self._max_line = lim.header_buffer_size
        self._max_count = lim.max_request_headers
        self._in_head = True  # the parser is inside (or waiting for) a request head
        self._head_t0: float | None = server.clock()  # when the head began (client_header_timeout)
        self._head_seen = 0  # bytes received while inside the head
        self._eof = False  # nothing more is read: after "Connection: close", or a refused head
        self._final: bytes | None = None  # the refusal to send once the requests before it are answered

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""
        self.ip_bytes = self.client_ip.encode()
        self.xff_via_line = b"X-Forwarded-For: %s\r\nVia: %s\r\n" % (self.ip_bytes, VIA_VALUE)
        # the listener this connection came through: https on the TLS one (runtime/tls.py)
        sslobj = transport.get_extra_info("ssl_object")
        self.scheme = "https" if sslobj is not None else "http"
        self.sni = server_name_of(sslobj)
        local = transport.get_extra_info("sockname")
        self.local_port = local[1] if local else self.server.port
        no_delay(transport)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._eof:
            return  # after "Connection: close" or a refusal nothing more is read (nginx)
        self.last_active = self.loop.time()
        if self._in_head:
            if self._head_t0 is None:
                self._head_t0 = self.server.clock()
            seen = self._head_seen + len(data)
            limit = self._max_head
            # (a head still growing is held by the parser until its end: refuse it before that)
            if seen > limit and data.find(b"\r\n\r\n", 0, max(limit - self._head_seen, 0) + 4) < 0:
                self._refuse(431, MSG_HEAD_TOO_LARGE)
                return
            self._head_seen = seen
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # protocol upgrades are not proxied; the request itself was dispatched
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refuse):
                self._refuse(cause.status, cause.message)
            else:
                log.warning("request parsing failed: %s", exc)
                self._refuse(400, MSG_BAD_REQUEST)
        except httptools.HttpParserError:
            if not self._eof:  # (bytes after "Connection: close" are ignored, not refused)
                self._refuse(400, MSG_BAD_REQUEST)

    def _refuse(self, status: int, message: str) -> None:
        """Stop reading and answer ``status`` once the requests already parsed are answered
        (nginx answers those first; the refusal is the connection's last word)."""
        self._eof = True
        p = self._parsing
        if p is not None:  # cut short inside its body
            p.keep_alive = False
            if p.body is not None and not p.body.complete:
                p.body.fail()
        if self._active is None:
            self.last_word(refusal(status, message))
        else:
            self._final = refusal(status, message)

    def last_word(self, data: bytes) -> None:
        """Send ``data`` and close gracefully: our side first, then go on reading (and dropping)
        what the client still sends for a moment. Closing with unread bytes would reset the
        connection and the client might never see ``data`` (nginx's lingering close)."""
        self._eof = True
        t = self.transport
        if t is None or self.closed:
            return
        t.write(data)
        if not t.can_write_eof():
            self.close()
            return
        t.write_eof()
        if self._read_pauses:
            self._read_pauses = 0
            t.resume_reading()
        self.loop.call_later(LINGERING_TIMEOUT, self.close)

    def header_timeout(self, now: float) -> bool:
        """Close the connection if its request head is over ``client_header_timeout`` (408
        when the client had started one, as nginx logs it); True when it did."""
        t0 = self._head_t0
        if t0 is None or not self._in_head or now - t0 <= self.limits.client_header_timeout:
            return False
        if self._active is not None:
            return False  # (a pipelined head waits: reading is paused meanwhile)
        if self._head_seen:
            self._refuse(408, MSG_HEADER_TIMEOUT)
        else:
            self._eof = True
            self.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        p = self._parsing
        if p is not None and p.body is not None and not p.body.complete:
            p.body.fail()
        a = self._active
        if a is not None and a.body is not None and not a.body.complete:
            a.body.fail()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)
        up = self.flow_upstream
        if up is not None:
            up.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        up = self.flow_upstream
        if up is not None:
            up.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        up = self.flow_upstream
        if up is not None:
            up.resume_reading()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pause_reading(self) -> None:
        self._read_pauses += 1
        if self._read_pauses == 1 and self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_pauses > 0:
            self._read_pauses -= 1
            if self._read_pauses == 0 and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    # -- llhttp callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > self._max_head:
            raise _Refuse(431, MSG_HEAD_TOO_LARGE)
        if len(self._url) > self._max_line:
            raise _Refuse(414, "URI too long")  # nginx: the request line must fit one buffer

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name, value))
        n = len(name) + len(value) + 4  # "Name: value\r\n"
        size = self._head_size = self._head_size + n
        if size > self._max_head or len(headers) > self._max_count:
            raise _Refuse(431, MSG_HEAD_TOO_LARGE)
        if n > self._max_line:
            # nginx's 494 "Request Header Or Cookie Too Large", which reaches the client as a
            # 400 (Kong spec 05-proxy/13-error_handlers_spec.lua, "HTTP 400")
            raise _Refuse(400, MSG_BAD_REQUEST)

    def on_headers_complete(self) -> None:
        p = self.parser
        req = Request()
        self.requests = req.seq = self.requests + 1
        req.method = p.get_method().decode("ascii", "replace")
        req.version = p.get_http_version()
        req.keep_alive = p.should_keep_alive()
        url = self._url
        if not url.startswith(b"/"):  # absolute-form (proxy style) or '*'
            if b"://" in url:
                rest = url.split(b"://", 1)[1]
                i = rest.find(b"/")
                url = rest[i:] if i >= 0 else b"/"
        req.target = url.decode("latin-1")
        headers = self._headers
        req.headers = headers
        has_body = False
        fwd = req.fwd
        drop = REQ_DROP
        self._in_head = False
        self._head_t0 = None
        self._head_seen = 0
        host_seen = False
        for name, value in headers:
            n = name.lower()
            if n not in drop:
                fwd += (name, b": ", value, b"\r\n")
                continue
            if n == b"host":
                if host_seen:  # nginx: "client sent duplicate host header"
                    raise _Refuse(400, MSG_BAD_REQUEST)
                host_seen = True
                req.host = value
            elif n == b"content-length":
                try:
                    req.content_length = int(value)
                except ValueError:
                    req.content_length = 0
                has_body = req.content_length > 0
            elif n == b"transfer-encoding":
                if b"chunked" in value.lower():
                    req.chunked = True
                    has_body = True
            elif n == b"x-forwarded-for":
                req.xff = value if req.xff is None else req.xff + b", " + value
            elif n == b"via":
                req.via = value
            elif n == b"expect":
                req.expect = value.lower() == b"100-continue"
        lim = self.limits
        if has_body:
            req.body = RequestBody(self, req.chunked, lim.client_body_buffer_size, lim.client_max_body_size)
            if lim.client_max_body_size and (req.content_length or 0) > lim.client_max_body_size:
                req.refused = 413  # answered in order, without reading the body
        self._parsing = req
        if self._active is None:
            self._start(req)
        else:
            self._queue.append(req)
            self.pause_reading()  # pipelined: don't read further ahead

    def on_body(self, body: bytes) -> None:
        req = self._parsing
        if req is not None and req.body is not None:
            b = req.body
            b.feed(body)
            if b.too_large:  # over client_max_body_size (a chunked body: no Content-Length to check)
                req.keep_alive = False
                self._eof = True
                if req is not self._active:
                    req.refused = 413  # answered in its turn
                elif b.sink is not None:
                    self.close()  # already streaming upstream: all we can do is cut
                # (else the exchange answers 413: ``read_all`` raises BodyTooLarge, and so does
                # ``_upstream`` before sending anything)

    def on_message_complete(self) -> None:
        req = self._parsing
        if req is not None:
            req.done_parsing = True
            if req.body is not None:
                req.body.finish()
            if not req.keep_alive:
                self._eof = True  # bytes after "Connection: close" are not requests
        self._parsing = None
        self._in_head = True
        self._head_seen = 0

    # -- serving ----------------------------------------------------------------------------
    def _start(self, req: Request) -> None:
        # A request answered synchronously (a 404, a plugin's 401/429, a pooled upstream that
        # answered within the packet) finishes inside this call; the next pipelined one is then started by this loop rather than by
        # recursion through _done (hundreds may be queued).
        self._starting = True
        try:
            self._start_one(req)
            while self._next_ready:
                self._next_ready = False
                if self.closed or not self._queue:
                    break
                nxt = self._queue.popleft()
                self.resume_reading()
                self._start_one(nxt)
        finally:
            self._starting = False

    def _start_one(self, req: Request) -> None:
        self._active = req
        if req.refused:
            self._active = None
            self._queue.clear()
            self.last_word(refusal(req.refused, MSG_TOO_LARGE))
            return
        if req.expect and req.body is not None and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        Exchange(self.server, self, req).start()

    def spawn(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` (an exchange's next step, which must wait) on the serving task."""
        self.server.waits += 1
        self._cont = step
        if self._task is None:
            self._task = self.loop.create_task(self._serve())
        else:
            w = self._wakeup
            if w is not None and not w.done():
                w.set_result(None)

    async def _serve(self) -> None:
        """The connection's serving task: runs the steps exchanges hand it, one at a time.
        (A step runs even if the client left meanwhile: its exchange still owns an in-flight
        count and a traffic record, and finishes them.)"""
        loop = self.loop
        while True:
            step = self._cont
            if step is None:
                if self.closed:
                    break
                self._wakeup = w = loop.create_future()
                await w
                self._wakeup = None
                continue
            self._cont = None
            try:
                await step()
            except Exception:  # an exchange step guards itself; this is the last resort
                log.exception("proxy error")
                self.close()
        self._task = None

    def done(self, req: Request) -> None:
        """``req`` is answered: go on with the next pipelined request, or close."""
        self._active = None
        self.last_active = self.loop.time()
        self.flow_upstream = None
        body = req.body
        if body is not None:
            body.close()
        if self.closed:
            return
        if not req.keep_alive or self.server.closing:
            if body is not None and not body.complete:
                # answered before its body was read (a plugin's early refusal): the client may
                # still be sending it, and closing over unread bytes resets the connection,
                # which can destroy the answer before the client reads it — shut our side and
                # drop what still comes for a moment instead (nginx's lingering close)
                self.last_word(b"")
                return
            self.close()
            return
        if body is not None and not body.complete:
            if body.failed:
                self.close()
                return
            body.discard()
        if self._queue:
            if self._starting:
                self._next_ready = True  # _start's loop takes it (no recursion)
                return
            nxt = self._queue.popleft()
            self.resume_reading()
            self._start(nxt)
        elif self._final is not None:
            final, self._final = self._final, None
            self.last_word(final)

    async def drain(self) -> None:
        """Wait until the client's send buffer has room again."""
        if self.write_paused and not self.closed:
            self._drain_waiter = self.loop.create_future()
            await self._drain_waiter
            self._drain_waiter = None


