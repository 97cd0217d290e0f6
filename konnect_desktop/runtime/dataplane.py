"""The proxy: a lean HTTP/1.1 server that routes, runs plugin phases and streams to upstreams.

Why hand-rolled: the data plane's speed is a requirement, and a general web framework plus an
HTTP client spend most of each request on objects the proxy never needs. Here a client
connection is an asyncio ``Protocol`` with an llhttp request parser (``httptools``); one task per
request runs the flow

    router (compiled snapshot) → plugins' access phase (priority order, consumer-aware lookup)
    → upstream (pooled keep-alive ``UpstreamConnection``, timeouts, retries, balancer)
    → plugins' header/body filters → client → plugins' log phase → traffic log

Bodies stream both ways: request chunks go from the client parser straight to the upstream
transport, response chunks from the upstream parser straight to the client transport, with
transport pause/resume as back-pressure. Only when a plugin asks for a body (``read_body``,
``buffers_response``) is it buffered. Requests on routes without plugins never build a
``RequestContext``: headers stay the raw byte pairs the parser gave.

It runs on whatever asyncio loop is current (the GUI's qasync loop, tests' loops).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import time as _time
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import httptools
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from ..plugins.base import (
    Decision,
    OriginalRequest,
    PluginExit,
    RequestContext,
    ResponseContext,
    encode_args,
)
from .balancer import RequestFacts
from .config_view import ACCESS_ASYNC, ACCESS_NONE, ACCESS_SYNC
from .echo import ECHO_HOST, echo_response
from .limits import DEFAULT_LIMITS, ProxyLimits
from .request_body import BodyTooLarge, RequestBody
from .tls import server_name_of
from .traffic import TrafficEntry, TrafficLog
from .upstream import UpstreamConnection, UpstreamError, UpstreamPool

if TYPE_CHECKING:
    from .config_view import Snapshot

log = logging.getLogger(__name__)

KONG_VERSION = "3.9.1"
SERVER = f"kong/{KONG_VERSION}".encode()
VIA_VALUE = f"1.1 kong/{KONG_VERSION}".encode()

KEEPALIVE_TIMEOUT = 60.0  # idle client connections are closed after this (nginx's keepalive_timeout)
LINGERING_TIMEOUT = 5.0  # after a refusal, what the client still sends is read and dropped this long (nginx)

MSG_NO_ROUTE = "no Route matched with those values"
MSG_TIMEOUT = "The upstream server is timing out"
MSG_BAD_GATEWAY = "An invalid response was received from the upstream server"
MSG_UNEXPECTED = "An unexpected error occurred"
MSG_NO_PEER = "failure to get a peer from the ring-balancer"
MSG_NAME_RESOLUTION = "name resolution failed"
MSG_NO_SERVICE = "no Service found with those values"

_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())
        _STATUS_LINES[status] = line
    return line


# request headers the proxy never forwards as received (hop-by-hop, framing, or rewritten)
_REQ_DROP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"expect", b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-path", b"x-forwarded-prefix",
    b"x-real-ip", b"via", b"x-kong-request-id",
})
_REQ_DROP_STR = frozenset(x.decode() for x in _REQ_DROP)
# response headers not passed to the client as received
_RESP_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"trailer", b"upgrade",
                       b"transfer-encoding"})
_RESP_HOP_STR = frozenset(x.decode() for x in _RESP_HOP)
_NO_BODY_STATUS = frozenset({204, 304})
_HOP_RE = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|trailer|upgrade|transfer-encoding)[ \t]*:[^\r\n]*",
                     re.IGNORECASE)
_FRAMING_RE = re.compile(
    rb"\r\n(content-length|connection|keep-alive|proxy-connection|trailer|upgrade|transfer-encoding)[ \t]*:([^\r\n]*)",
    re.IGNORECASE)
_TE_CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_EMPTY_BODY_METHODS = ("POST", "PUT", "PATCH")  # sent upstream with "Content-Length: 0" when body-less


def _enc(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _dec(b: bytes) -> str:
    return b.decode("latin-1")


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:]
        return host[: end + 1], int(rest[1:]) if rest[1:].isdigit() else None
    h, sep, p = host.rpartition(":")
    if sep and p.isdigit() and ":" not in h:
        return h, int(p)
    return host, None


class _Refuse(Exception):
    """Raised from a parser callback: answer ``status`` (nginx's own answer) and stop reading."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# nginx's answers to a request it will not pass to Kong, with the bodies Kong's error handler
# gives them (kong/error_handlers.lua)
MSG_BAD_REQUEST = "Bad request"
MSG_HEADER_TIMEOUT = "Request timeout"
MSG_TOO_LARGE = "Payload too large"
MSG_HEAD_TOO_LARGE = "Request Header Fields Too Large"


def refusal(status: int, message: str) -> bytes:
    """A complete response that ends the connection (the client sent something unusable)."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return b"%sContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nServer: %s\r\n" \
           b"Connection: close\r\n\r\n%s" % (status_line(status), len(body), SERVER, body)


class Request:
    """One client request as parsed (raw bytes where possible)."""

    __slots__ = ("method", "version", "target", "headers", "host", "keep_alive", "body",
                 "chunked", "content_length", "xff", "via", "expect", "done_parsing", "fwd", "refused")

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


class ClientConnection(asyncio.Protocol):
    """One client connection: parses requests and serves them one at a time, in order."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.loop = server.loop
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
        self._ready: Request | None = None
        # a request the plugin lane began and the serving task finishes: (coroutine fn, snapshot)
        self._cont: tuple[Callable[[], Awaitable[None]], Snapshot] | None = None
        self._starting = False  # inside _start: a request answered at once hands the next one back
        self._next_ready = False
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # request hygiene (nginx's limits, see limits.py)
        self.limits: ProxyLimits = server.limits
        self._in_head = True  # the parser is inside (or waiting for) a request head
        self._head_t0: float | None = server.clock()  # when the head began (client_header_timeout)
        self._head_seen = 0  # bytes received while inside the head
        self._head_count = 0  # header lines of the head being parsed
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
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._eof:
            return  # after "Connection: close" or a refusal nothing more is read (nginx)
        self.last_active = self.loop.time()
        if self._in_head:
            if self._head_t0 is None:
                self._head_t0 = self.server.clock()
            seen = self._head_seen + len(data)
            limit = self.limits.max_head
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
        self._head_count = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        lim = self.limits
        if self._head_size > lim.max_head:
            raise _Refuse(431, MSG_HEAD_TOO_LARGE)
        if len(self._url) > lim.header_buffer_size:
            raise _Refuse(414, "URI too long")  # nginx: the request line must fit one buffer

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        n = len(name) + len(value) + 4  # "Name: value\r\n"
        self._head_size += n
        self._head_count += 1
        lim = self.limits
        if self._head_size > lim.max_head or self._head_count > lim.max_request_headers:
            raise _Refuse(431, MSG_HEAD_TOO_LARGE)
        if n > lim.header_buffer_size:
            # nginx's 494 "Request Header Or Cookie Too Large", which reaches the client as a
            # 400 (Kong spec 05-proxy/13-error_handlers_spec.lua, "HTTP 400")
            raise _Refuse(400, MSG_BAD_REQUEST)

    def on_headers_complete(self) -> None:
        p = self.parser
        req = Request()
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
        drop = _REQ_DROP
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
        # A request answered synchronously (a plugin's 401/429 on the callback lane) finishes
        # inside this call; the next pipelined one is then started by this loop rather than by
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
        if req.body is None and not self.server.closing:
            try:
                if self.server.fast_lane(self, req):
                    return
            except Exception:  # the general path below handles (and reports) anything odd
                log.exception("fast lane failed; using the general path")
        self._ready = req
        if self._task is None:
            # one long-lived task per connection serves its requests in turn: cheaper than a
            # task per request on keep-alive connections
            self._task = self.loop.create_task(self._serve())
        else:
            w = self._wakeup
            if w is not None and not w.done():
                w.set_result(None)

    def _start_general(self, req: Request) -> None:
        """Serve ``req`` with the serving task (coroutines: plugins, retries, new connections)."""
        self._active = req
        self._ready = req
        self._wake_task()

    def _continue(self, req: Request, cont: Callable[[], Awaitable[None]], snap: Snapshot) -> None:
        """Let the serving task finish a request the callback lane began (``cont`` does the
        rest, including the traffic record; the request's in-flight count passes to it)."""
        self._active = req
        self._ready = req
        self._cont = (cont, snap)
        self._wake_task()

    def _wake_task(self) -> None:
        if self._task is None:
            self._task = self.loop.create_task(self._serve())
        else:
            w = self._wakeup
            if w is not None and not w.done():
                w.set_result(None)

    async def _serve(self) -> None:
        srv = self.server
        handle = srv._handle
        loop = self.loop
        # (a continuation runs even if the client left meanwhile: it owns an in-flight count and
        # a traffic record)
        while not self.closed or self._cont is not None:
            req = self._ready
            if req is None:
                self._wakeup = w = loop.create_future()
                await w
                self._wakeup = None
                continue
            self._ready = None
            cont = self._cont
            if cont is not None:
                self._cont = None
                try:
                    await cont[0]()
                except Exception:
                    log.exception("proxy error")
                    req.keep_alive = False
                finally:
                    srv._end_inflight(cont[1])
                self._done(req)
                continue
            st = srv.store
            if st is not None and srv.snapshot.version < st.version and srv.refresh is not None:
                # the configuration changed since the snapshot was built: this request sees it
                try:
                    await srv.refresh()
                except Exception:  # a failed or slow rebuild: serve the last good snapshot
                    log.warning("proxy: serving the previous configuration (rebuild failed or late)")
            # (ProxyServer.handle, inlined: one coroutine frame less per request)
            snap = srv.snapshot
            snap.inflight += 1
            srv.inflight += 1
            try:
                await handle(self, req, snap)
            except Exception:
                log.exception("proxy error")
                req.keep_alive = False
            finally:
                srv._end_inflight(snap)
            self._done(req)
        self._task = None

    def _done(self, req: Request) -> None:
        self._active = None
        self.last_active = self.loop.time()
        self.flow_upstream = None
        if self.closed:
            return
        body = req.body
        if body is not None:
            body.close()
        if not req.keep_alive or srv_closing(self.server):
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


def srv_closing(server: ProxyServer) -> bool:
    return server.closing


class Services:
    """``plugins.base.RuntimeServices``: long-lived state that survives configuration rebuilds."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._shared: dict[str, dict[str, Any]] = {}

    def shared_state(self, name: str) -> dict[str, Any]:
        d = self._shared.get(name)
        if d is None:
            d = self._shared[name] = {}
        return d


class _Exit(Exception):
    """Internal: answer the client with a Kong-generated response."""

    def __init__(self, status: int, message: str, error: str, headers: list[tuple[bytes, bytes]] | None = None,
                 body: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.headers = headers or []
        self.body = body


def _too_large() -> _Exit:
    return _Exit(413, MSG_TOO_LARGE, "request body over client_max_body_size")


class ProxyServer:
    """The proxy listener of one runtime."""

    def __init__(self, snapshot: Snapshot, services: Services, traffic: TrafficLog,
                 loop: asyncio.AbstractEventLoop | None = None, limits: ProxyLimits = DEFAULT_LIMITS) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.limits = limits
        # the clock of client_header_timeout (tests inject one and call ``_sweep``)
        self.clock: Callable[[], float] = self.loop.time
        self.snapshot = snapshot
        self.services = services
        self.traffic = traffic
        self.pool = UpstreamPool(self.loop)
        self.connections: set[ClientConnection] = set()
        self.inflight = 0
        self.idle_waiter: asyncio.Future[None] | None = None
        self.closing = False
        self._server: asyncio.AbstractServer | None = None
        self._tls_server: asyncio.AbstractServer | None = None  # the HTTPS listener, when opened
        self.tls_port = 0
        self.host = "127.0.0.1"
        self.port = 0
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = 0
        self.on_snapshot_drained: Callable[[Snapshot], None] | None = None
        # Freshness: when ``store.version`` is past the snapshot's, a request awaits ``refresh()``
        # (the runtime's rebuild) first, so a change is seen by the very next request.
        self.store: Any = None
        self.refresh: Callable[[], Awaitable[None]] | None = None
        self.keepalive_timeout = KEEPALIVE_TIMEOUT
        self._sweeper: asyncio.TimerHandle | None = None

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(lambda: ClientConnection(self), host, port,
                                                     reuse_address=True, backlog=1024)
        sock = self._server.sockets[0]
        self.host, self.port = sock.getsockname()[:2]
        self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep)

    def _sweep_interval(self) -> float:
        return min(self.keepalive_timeout, self.limits.client_header_timeout) / 4

    async def start_tls(self, host: str, port: int, ssl: Any) -> None:
        """The HTTPS listener (Kong's ``proxy_listen ... ssl``): the same proxy over TLS."""
        self._tls_server = await self.loop.create_server(lambda: ClientConnection(self), host, port,
                                                         reuse_address=True, backlog=1024, ssl=ssl)
        self.tls_port = self._tls_server.sockets[0].getsockname()[1]

    def _sweep(self) -> None:
        """Close client connections idle (between requests) for longer than the keep-alive
        timeout, and those whose request head is slower than ``client_header_timeout``."""
        cutoff = self.loop.time() - self.keepalive_timeout
        now = self.clock()
        for c in list(self.connections):
            if c.header_timeout(now):
                continue
            if c._active is None and c._parsing is None and c.last_active < cutoff:
                c.close()
        if not self.closing:
            self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``drain_timeout``), close."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
        # idle keep-alive connections: close now; busy ones close after their response
        for c in list(self.connections):
            if c._active is None:
                c.close()
        if self.inflight:
            self.idle_waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self.idle_waiter), drain_timeout)
            except TimeoutError:
                log.warning("proxy stop: %d requests still running after %.1fs", self.inflight, drain_timeout)
        for c in list(self.connections):
            c.close()
        self.pool.close()
        for server in (self._server, self._tls_server):
            if server is not None:
                try:
                    await asyncio.wait_for(server.wait_closed(), 1.0)
                except TimeoutError:
                    pass

    def _end_inflight(self, snap: Snapshot) -> None:
        snap.inflight -= 1
        self.inflight -= 1
        if snap.retired and snap.inflight == 0:
            self.snapshot_drained(snap)
        if self.inflight == 0 and self.idle_waiter is not None and not self.idle_waiter.done():
            self.idle_waiter.set_result(None)

    def snapshot_drained(self, snap: Snapshot) -> None:
        if self.on_snapshot_drained is not None:
            self.on_snapshot_drained(snap)

    def next_request_id(self) -> str:
        self._id_counter = n = self._id_counter + 1
        return self._id_prefix + format(n, "016x")

    # -- the fast lane ----------------------------------------------------------------------
    def fast_lane(self, conn: ClientConnection, req: Request) -> bool:
        """Serve a plain request without a coroutine, if it is the common case.

        The common case: no request body, a route without plugins to an ordinary service (no
        balancer, not the echo), and a kept-alive upstream connection at hand. The exchange is
        then driven by callbacks from the two protocols (``_FastExchange``): no task, no future,
        no context switch. Anything else returns False and takes the general path, which gives
        the same answers.
        """
        loop = self.loop
        t0 = loop.time()
        snap = self.snapshot
        st = self.store
        if st is not None and snap.version < st.version:
            return False  # stale: the general path refreshes first
        target = req.target
        qi = target.find("?")
        if qi >= 0:
            path, query = target[:qi], target[qi + 1:]
        else:
            path, query = target, None
        host_header = req.host.decode("latin-1")
        match = snap.router.match(req.method, host_header or None, path or "/", _HeaderView(req.headers),
                                  conn.scheme, conn.local_port, conn.sni)
        if match is None or match.redirect_status or match.service is None:
            return False
        route = match.route
        service = match.service
        chain = snap.chain(route.get("id") if route else None, service.get("id"), None) if snap.names else ()
        params = snap.cache.get(service["id"])
        if params is None:
            params = snap.cache[service["id"]] = _service_params(service, snap)
        svc_host, svc_port, svc_host_line, _connect_timeout, read_timeout, write_timeout, _tries, host_b, tls = params
        if svc_host == ECHO_HOST or (snap.balancers and svc_host in snap.balancers):
            return False
        if chain:
            self._plugin_lane(conn, req, snap, match, chain, params, t0, path, query, host_header)
            return True
        up = self.pool.take_idle(svc_host, svc_port, tls)
        if up is None:
            return False
        # committed from here on
        rid = self.next_request_id()
        entry = TrafficEntry()
        entry.request_id = rid
        entry.client_ip = conn.client_ip
        method = entry.method = req.method
        entry.raw_path = target
        entry.path = path
        entry.host = host_header
        entry.host_note = snap.router.host_case_note(host_header, route)
        entry.request_headers = req.headers
        entry.route = route
        entry.service = service
        upstream_target = match.upstream_path if query is None else f"{match.upstream_path}?{query}"
        entry.upstream_method = method
        entry.upstream_target = upstream_target
        entry.upstream_addr = f"{svc_host}:{svc_port}"
        parts = [b"%s %s HTTP/1.1\r\n" % (method.encode(), _enc(upstream_target))]
        parts += req.fwd
        parts += self._forwarding_headers(conn, req, host_header, path, match.stripped_prefix, rid)
        parts += (b"Host: ", req.host if route is not None and route.get("preserve_host") else host_b,
                  b"\r\nContent-Length: 0\r\n\r\n" if method in ("POST", "PUT", "PATCH") else b"\r\n\r\n")
        head = b"".join(parts)
        entry.upstream_headers = head
        ex = _FastExchange(self, conn, req, snap, entry, t0, rid, up)
        up.listener = ex
        ex.t_sent = loop.time()
        try:
            up.begin(head, None, head_request=method == "HEAD", read_timeout=read_timeout,
                     write_timeout=write_timeout)
        except Exception:
            up.listener = None
            up.close()
            raise
        # (the answer can only arrive once we are back in the loop: counting it now is in time)
        snap.inflight += 1
        self.inflight += 1
        return True

    def _fast_release(self, ex: _FastExchange) -> None:
        up = ex.up
        up.listener = None
        up.body_source = None
        ex.conn.flow_upstream = None
        up.finish()

    def _fast_done(self, ex: _FastExchange, record: bool = True) -> None:
        self._fast_release(ex)
        if record:
            if ex.ctx is not None:
                self._finish_plugins(ex.ctx, ex.ran, ex.entry, ex.t0)
            else:
                entry = ex.entry
                entry.total_latency = (self.loop.time() - ex.t0) * 1000.0
                entry.time = self._wall(ex.t0)
                self.traffic.record(entry)
        self._end_inflight(ex.snap)

    # -- the plugin lane --------------------------------------------------------------------
    def _plugin_lane(self, conn: ClientConnection, req: Request, snap: Snapshot, match: Any,
                     chain: tuple[Any, ...], params: tuple[Any, ...], t0: float, path: str,
                     query: str | None, host_header: str) -> None:
        """A body-less request on a route with plugins, as callbacks while it can be.

        Access phases run as plain calls (``Handler.access_sync``); a plugin answering the
        client (401, 429, ...) is answered right here; a request that passes goes upstream on a
        kept-alive connection as a ``_FastExchange`` whose callbacks run the header filters, log
        phases and traffic record. The moment something needs to await (a handler without a
        synchronous access, a body, a buffered response, no idle upstream connection, a stale
        connection to retry), the connection's serving task takes over exactly where the lane
        stopped (``_serve_plugins``): no phase runs twice, the answers are the general path's.
        """
        snap.inflight += 1
        self.inflight += 1
        rid = self.next_request_id()
        entry = TrafficEntry()
        entry.request_id = rid
        entry.client_ip = conn.client_ip
        entry.method = req.method
        entry.raw_path = req.target
        entry.path = path
        entry.host = host_header
        entry.host_note = snap.router.host_case_note(host_header, match.route)
        entry.request_headers = req.headers
        route = match.route
        service = match.service
        entry.route = route
        entry.service = service
        route_id = route.get("id") if route else None
        service_id = service.get("id")
        ctx: RequestContext | None = None
        ran: list[Any] = []
        try:
            ctx = self._context(conn, req, rid, match.request_path, path, query, host_header, match, snap)
            start = self._access_sync(ctx, chain, snap, route_id, service_id, ran)
            if start < 0:
                entry.consumer = ctx.consumer
                if ctx._body is None and not any(e[0].buffers_response for e in ran):
                    svc_host, svc_port, svc_host_line, _ct, read_timeout, write_timeout, _tries, _hb, tls = params
                    up = self.pool.take_idle(svc_host, svc_port, tls)
                    if up is not None:
                        self._plugin_exchange(conn, req, snap, ctx, ran, entry, t0, rid, up, params)
                        return
            conn._continue(req, lambda: self._serve_plugins(conn, req, snap, ctx, chain, ran, entry, t0, service,
                                                            route_id, service_id, start), snap)
            return
        except (_Exit, PluginExit) as ex:
            self._answer_exit(conn, req, rid, ex, entry, t0, ctx, ran)
        except Exception:
            # committed (phases ran): never replayed on the general path; as there, the
            # connection is closed
            log.exception("proxy error")
            req.keep_alive = False
            self._end_inflight(snap)
            conn._done(req)
            return
        if ctx is not None:
            self._finish_plugins(ctx, ran, entry, t0)
        self._end_inflight(snap)
        conn._done(req)

    def _plugin_exchange(self, conn: ClientConnection, req: Request, snap: Snapshot, ctx: RequestContext,
                         ran: list[Any], entry: TrafficEntry, t0: float, rid: str, up: UpstreamConnection,
                         params: tuple[Any, ...]) -> None:
        svc_host, svc_port, svc_host_line, _ct, read_timeout, write_timeout, _tries, _hb, _tls = params
        method = ctx.method
        target, hdr, preserve = self._ctx_request(conn, req, ctx, entry)
        hdr.insert(0, b"%s %s HTTP/1.1\r\n" % (method.encode(), _enc(target)))
        head = b"%sHost: %s\r\n%s" % (b"".join(hdr), _enc(preserve or svc_host_line),
                                      b"Content-Length: 0\r\n\r\n" if method in _EMPTY_BODY_METHODS else b"\r\n")
        entry.upstream_method = method
        entry.upstream_target = target
        entry.upstream_addr = f"{svc_host}:{svc_port}"
        entry.upstream_headers = head
        ex = _FastExchange(self, conn, req, snap, entry, t0, rid, up)
        ex.ctx = ctx
        ex.ran = ran
        up.listener = ex
        ex.t_sent = self.loop.time()
        try:
            up.begin(head, None, head_request=method == "HEAD", read_timeout=read_timeout,
                     write_timeout=write_timeout)
        except Exception:
            up.listener = None
            up.close()
            raise

    def _access_sync(self, ctx: RequestContext, chain: tuple[Any, ...], snap: Snapshot,
                     route_id: str | None, service_id: str | None, ran: list[Any]) -> int:
        """The access phases as plain calls, as far as they go: -1 when all ran, else the index
        of the first one that must be awaited (not run, not in ``ran``)."""
        names = snap.names
        cid: str | None = None
        for i in range(len(names)):
            consumer = ctx.consumer
            if consumer is not None:
                ccid = consumer.get("id")
                if ccid != cid:
                    cid = ccid
                    chain = snap.chain(route_id, service_id, cid)
            e = chain[i] if chain else None
            if e is None:
                continue
            kind = e[4]
            if kind == ACCESS_ASYNC:
                return i
            ran.append(e)
            if kind == ACCESS_NONE:
                continue
            try:
                if e[0].access_sync(ctx):
                    continue
            except (PluginExit, ConnectionError, BodyTooLarge):
                raise
            except Exception as exc:
                log.exception("plugin %s failed in access", names[i])
                ctx.decisions.append(Decision(names[i], "error", f"{type(exc).__name__}: {exc}"))
                raise _Exit(500, MSG_UNEXPECTED, f"plugin {names[i]} failed") from None
            ran.pop()
            return i
        return -1

    async def _serve_plugins(self, conn: ClientConnection, req: Request, snap: Snapshot, ctx: RequestContext,
                             chain: tuple[Any, ...], ran: list[Any], entry: TrafficEntry, t0: float,
                             service: dict[str, Any], route_id: str | None, service_id: str | None,
                             start: int) -> None:
        """A request with plugins from access phase ``start`` on (-1: all ran): upstream,
        response phases, answer, log phases, traffic record."""
        try:
            if start >= 0:
                await self._access(ctx, chain, snap, route_id, service_id, ran, start)
                entry.consumer = ctx.consumer
            await self._proxy_ctx(conn, req, ctx, ran, snap, service, entry, t0)
        except (_Exit, PluginExit) as ex:
            self._answer_exit(conn, req, ctx.request_id, ex, entry, t0, ctx, ran)
        except BodyTooLarge:
            req.keep_alive = False
            self._answer_exit(conn, req, ctx.request_id, _too_large(), entry, t0, ctx, ran)
        except ConnectionError:
            req.keep_alive = False
            entry.error = "client closed the connection"
        self._finish_plugins(ctx, ran, entry, t0)

    def _answer_exit(self, conn: ClientConnection, req: Request, rid: str, ex: _Exit | PluginExit,
                     entry: TrafficEntry, t0: float, ctx: RequestContext | None, ran: list[Any]) -> None:
        """Answer the client for a request cut short: by the proxy (``_Exit``: 404, 502, …) or
        by a plugin (``PluginExit``: 401, 429, …)."""
        if isinstance(ex, _Exit):
            entry.error = ex.error
            self._local_response(conn, req, rid, ex.status, ex.message, ex.headers, entry, t0, ctx, ran,
                                 body=ex.body)
            return
        assert ctx is not None
        entry.consumer = ctx.consumer
        self._plugin_exit(conn, req, ctx, ran, ex, entry, t0)

    def _finish_plugins(self, ctx: RequestContext, ran: list[Any], entry: TrafficEntry, t0: float) -> None:
        entry.decisions = ctx.decisions
        if ran:
            self._log_phase(ctx, ran, entry)
        entry.total_latency = (self.loop.time() - t0) * 1000.0
        entry.time = self._wall(t0)
        self.traffic.record(entry)

    # -- one request ------------------------------------------------------------------------
    async def _handle(self, conn: ClientConnection, req: Request, snap: Snapshot) -> None:
        loop = self.loop
        t0 = loop.time()
        rid = self.next_request_id()
        entry = TrafficEntry()
        entry.request_id = rid
        entry.time = t0  # replaced by wall time below (cheap: one call per request)
        entry.client_ip = conn.client_ip
        entry.method = req.method
        target = req.target
        entry.raw_path = target
        qi = target.find("?")
        if qi >= 0:
            path, query = target[:qi], target[qi + 1:]
        else:
            path, query = target, None
        entry.path = path
        host_header = _dec(req.host)
        entry.host = host_header
        entry.request_headers = req.headers
        ctx: RequestContext | None = None
        ran: list[Any] = []
        try:
            match = snap.router.match(req.method, host_header or None, path or "/", _HeaderView(req.headers),
                                      conn.scheme, conn.local_port, conn.sni)
            entry.host_note = snap.router.host_case_note(host_header, match.route if match else None)
            if match is None:
                raise _Exit(404, MSG_NO_ROUTE, "no route")
            route = match.route
            service = match.service
            entry.route = route
            entry.service = service
            redirect = getattr(match, "redirect_status", None)
            if redirect:
                raise self._https_redirect(redirect, host_header, target)
            if service is None:
                raise _Exit(503, MSG_NO_SERVICE, "route without service")
            route_id = route.get("id") if route else None
            service_id = service.get("id")
            chain = snap.chain(route_id, service_id, None) if snap.names else ()
            upstream_path = match.upstream_path
            if chain:
                ctx = self._context(conn, req, rid, match.request_path, path, query, host_header, match, snap)
                if req.body is not None:
                    ctx.body_reader = req.body.read_all
                # (records the request itself)
                await self._serve_plugins(conn, req, snap, ctx, chain, ran, entry, t0, service, route_id,
                                          service_id, 0)
                return
            else:
                target = upstream_path if query is None else f"{upstream_path}?{query}"
                hdr = req.fwd + self._forwarding_headers(conn, req, host_header, path, match.stripped_prefix, rid)
                preserve = host_header if route is not None and route.get("preserve_host") else None
                await self._upstream(conn, req, snap, service, req.method, target, hdr, preserve, None,
                                     rid, entry, t0, None, ran)
        except (_Exit, PluginExit) as ex:
            self._answer_exit(conn, req, rid, ex, entry, t0, ctx, ran)
        except BodyTooLarge:
            req.keep_alive = False
            self._answer_exit(conn, req, rid, _too_large(), entry, t0, ctx, ran)
        except ConnectionError:
            req.keep_alive = False
            entry.error = "client closed the connection"
        if ctx is not None:
            entry.decisions = ctx.decisions
            if ran:
                self._log_phase(ctx, ran, entry)
        entry.total_latency = (loop.time() - t0) * 1000.0
        entry.time = self._wall(t0)
        self.traffic.record(entry)

    def _wall(self, t0: float) -> float:
        return _time.time() - (self.loop.time() - t0)

    @staticmethod
    def _captures(conn: ClientConnection, req: Request, snap: Snapshot) -> dict[Any, str] | None:
        """The route's URI captures of a request without a plugin context (hash_on uri_capture)."""
        m = snap.router.match(req.method, _dec(req.host) or None, req.target.split("?", 1)[0] or "/",
                              _HeaderView(req.headers), conn.scheme, conn.local_port, conn.sni)
        return m.uri_captures if m is not None else None

    @staticmethod
    def _https_redirect(status: int, host: str, target: str) -> _Exit:
        if status == 426:
            return _Exit(426, "Please use HTTPS protocol", "https required",
                         [(b"Connection", b"Upgrade"), (b"Upgrade", b"TLS/1.2, HTTP/1.1")])
        h, _p = _split_host(host)
        return _Exit(status, "", "https redirect", [(b"Location", _enc(f"https://{h}{target}"))], body=b"")

    # -- plugin phases ----------------------------------------------------------------------
    def _context(self, conn: ClientConnection, req: Request, rid: str, norm: str, path: str,
                 query: str | None, host_header: str, match: Any, snap: Snapshot) -> RequestContext:
        route = match.route
        service = match.service
        if route is not None and route.get("preserve_host"):
            upstream_host = host_header
        else:
            params = snap.cache.get(service["id"])
            if params is None:
                params = snap.cache[service["id"]] = _service_params(service, snap)
            upstream_host = params[2]
        headers = CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers])
        headers["Host"] = upstream_host
        # ``original`` and ``query`` are built on first use (_LazyContext): most requests'
        # plugins read neither
        ctx = _new_context(
            request_id=rid, client_ip=conn.client_ip, method=req.method,
            path=match.upstream_path, headers=headers,
            route=route, service=service, config=snap.view, runtime=self.services,
            uri_captures=dict(match.uri_captures) if match.uri_captures else {},
        )
        # what the proxy itself needs later (kept off ctx.shared, which plugins and templates see)
        ctx._kd = _Pending(upstream_host, query, match.stripped_prefix, conn, req, norm,  # type: ignore[attr-defined]
                           host_header)
        return ctx

    async def _access(self, ctx: RequestContext, chain: tuple[Any, ...], snap: Snapshot,
                      route_id: str | None, service_id: str | None, ran: list[Any], start: int = 0) -> None:
        names = snap.names
        cid: str | None = None
        for i in range(start, len(names)):
            consumer = ctx.consumer
            if consumer is not None:
                ccid = consumer.get("id")
                if ccid != cid:
                    cid = ccid
                    chain = snap.chain(route_id, service_id, cid)
            e = chain[i] if chain else None
            if e is None:
                continue
            ran.append(e)
            kind = e[4]
            if kind == ACCESS_NONE:
                continue
            try:
                if kind == ACCESS_SYNC and e[0].access_sync(ctx):
                    continue
                waiting = e[0].access(ctx)
                if waiting is not None:  # a plain ``def access`` that had to wait returned an awaitable
                    await waiting
            except (PluginExit, ConnectionError, BodyTooLarge):
                raise
            except Exception as exc:
                log.exception("plugin %s failed in access", names[i])
                ctx.decisions.append(Decision(names[i], "error", f"{type(exc).__name__}: {exc}"))
                raise _Exit(500, MSG_UNEXPECTED, f"plugin {names[i]} failed") from None

    def _log_phase(self, ctx: RequestContext, ran: list[Any], entry: TrafficEntry) -> None:
        resp = ctx._kd.resp  # type: ignore[attr-defined]
        if resp is None:
            resp = ResponseContext(entry.status, CIMultiDict())
        for e in ran:
            if e[3]:
                try:
                    e[0].log(ctx, resp)
                except Exception:
                    log.exception("plugin %s failed in log", e[0].plugin.get("name") if e[0].plugin else "?")

    def _response_phases(self, ctx: RequestContext, ran: list[Any], resp: ResponseContext) -> None:
        for e in ran:
            if e[1]:
                try:
                    e[0].header_filter(ctx, resp)
                except Exception:
                    log.exception("plugin failed in header_filter")
        if resp.body is not None:
            for e in ran:
                if e[2]:
                    try:
                        e[0].body_filter(ctx, resp)
                    except Exception:
                        log.exception("plugin failed in body_filter")
        ctx._kd.resp = resp  # type: ignore[attr-defined]

    # -- answers the proxy makes itself -----------------------------------------------------
    def _local_response(self, conn: ClientConnection, req: Request, rid: str, status: int, message: str,
                        headers: list[tuple[bytes, bytes]], entry: TrafficEntry, t0: float,
                        ctx: RequestContext | None, ran: list[Any], body: bytes | None = None) -> None:
        if body is None:
            body = json.dumps({"message": message, "request_id": rid}, separators=(",", ":")).encode()
            ctype = b"application/json; charset=utf-8"
        else:
            ctype = None
        if ctx is not None and ran:
            h = CIMultiDict((_dec(k), _dec(v)) for k, v in headers)
            if ctype:
                h["Content-Type"] = _dec(ctype)
            self._apply_response_headers(h, ctx)
            resp = ResponseContext(status, h, body)
            self._response_phases(ctx, ran, resp)
            self._send_buffered(conn, req, resp.status, resp.headers, resp.body or b"", rid, t0, entry)
            return
        out = [status_line(status)]
        if ctype:
            out += (b"Content-Type: ", ctype, b"\r\n")
        for k, v in headers:
            out += (k, b": ", v, b"\r\n")
        self._finish_head(out, req, rid, t0, None, any(k.lower() == b"connection" for k, _v in headers))
        out += (b"Content-Length: %d\r\n\r\n" % len(body), b"" if req.method == "HEAD" else body)
        entry.status = status
        entry.response_headers = headers
        if conn.transport is not None and not conn.closed:
            conn.transport.write(b"".join(out))

    def _finish_head(self, out: list[bytes], req: Request, rid: str, t0: float, latencies: tuple[float, float] | None,
                     has_connection: bool = False) -> None:
        """Kong's own response headers + connection handling."""
        if latencies is None:
            out += (b"X-Kong-Response-Latency: %d\r\nServer: " % int((self.loop.time() - t0) * 1000), SERVER, b"\r\n")
        else:
            out.append(b"X-Kong-Upstream-Latency: %d\r\nX-Kong-Proxy-Latency: %d\r\nVia: %s\r\n"
                       % (int(latencies[1]), int(latencies[0]), VIA_VALUE))
        out += (b"X-Kong-Request-Id: ", rid.encode(), b"\r\n")
        if not req.keep_alive or self.closing:
            req.keep_alive = False
            if not has_connection:
                out.append(b"Connection: close\r\n")
        elif req.version == "1.0" and not has_connection:
            out.append(b"Connection: keep-alive\r\n")

    def _plugin_exit(self, conn: ClientConnection, req: Request, ctx: RequestContext, ran: list[Any],
                     ex: PluginExit, entry: TrafficEntry, t0: float) -> None:
        h: CIMultiDict[str] = CIMultiDict()
        body = ex.body
        if isinstance(body, dict):
            payload = json.dumps(body, separators=(",", ":")).encode()
            h["Content-Type"] = "application/json; charset=utf-8"
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = body or b""
        self._apply_response_headers(h, ctx)
        for k, v in ex.headers.items():
            h[k] = v
        resp = ResponseContext(ex.status, h, payload)
        self._response_phases(ctx, ran, resp)
        self._send_buffered(conn, req, resp.status, resp.headers, resp.body or b"", ctx.request_id, t0, entry)

    @staticmethod
    def _apply_response_headers(h: CIMultiDict[str], ctx: RequestContext) -> None:
        rh = ctx.response_headers
        if rh:
            for k in set(rh.keys()):
                h.popall(k, None)
            h.extend(rh)

    def _send_buffered(self, conn: ClientConnection, req: Request, status: int, headers: CIMultiDict[str],
                       body: bytes, rid: str, t0: float, entry: TrafficEntry,
                       latencies: tuple[float, float] | None = None) -> None:
        # an upstream's hop-by-hop headers stop here; an answer of our own may carry
        # Connection/Upgrade on purpose (426)
        for name in (_RESP_HOP_STR if latencies is not None else ("transfer-encoding", "keep-alive")):
            if name in headers:
                del headers[name]
        headers.popall("content-length", None)
        lines = _header_lines(headers.items())
        out = [status_line(status), lines]
        self._finish_head(out, req, rid, t0, latencies, "connection" in headers)
        no_body = req.method == "HEAD" or status in _NO_BODY_STATUS or status < 200
        if not (status in _NO_BODY_STATUS or status < 200):
            out.append(b"Content-Length: %d\r\n" % len(body))
        out.append(b"\r\n")
        if not no_body:
            out.append(body)
        entry.status = status
        entry.response_headers = _logged_head(out[0], lines, headers)
        if conn.transport is not None and not conn.closed:
            conn.transport.write(b"".join(out))

    # -- upstream ---------------------------------------------------------------------------
    def _forwarding_headers(self, conn: ClientConnection, req: Request, host_header: str, path: str,
                            prefix: str | None, rid: str) -> list[bytes]:
        """X-Forwarded-*, X-Real-IP, X-Kong-Request-Id and Via for the upstream request."""
        static = conn.fwd_cache.get(host_header)
        if static is None:
            # what is the same for every request of this connection and Host: computed once
            h, _p = _split_host(host_header)
            static = b"X-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\nX-Forwarded-Port: %d\r\nX-Real-IP: %s\r\n" % (
                conn.scheme.encode(), _enc(h), conn.local_port, conn.ip_bytes)
            if len(conn.fwd_cache) < 8:
                conn.fwd_cache[host_header] = static
        if req.xff is None and req.via is None:
            out = [conn.xff_via_line, static, b"X-Forwarded-Path: ", _enc(path),
                   b"\r\nX-Kong-Request-Id: ", rid.encode(), b"\r\n"]
        else:
            xff = conn.ip_bytes if req.xff is None else req.xff + b", " + conn.ip_bytes
            via = VIA_VALUE if req.via is None else req.via + b", " + VIA_VALUE
            out = [b"X-Forwarded-For: %s\r\nVia: %s\r\n" % (xff, via), static, b"X-Forwarded-Path: ", _enc(path),
                   b"\r\nX-Kong-Request-Id: ", rid.encode(), b"\r\n"]
        if prefix:
            out += (b"X-Forwarded-Prefix: ", _enc(prefix), b"\r\n")
        return out

    async def _proxy_ctx(self, conn: ClientConnection, req: Request, ctx: RequestContext, ran: list[Any],
                         snap: Snapshot, service: dict[str, Any], entry: TrafficEntry, t0: float) -> None:
        target, hdr, preserve = self._ctx_request(conn, req, ctx, entry)
        await self._upstream(conn, req, snap, service, ctx.method, target, hdr, preserve, ctx._body,
                             ctx.request_id, entry, t0, ctx, ran)

    def _ctx_request(self, conn: ClientConnection, req: Request, ctx: RequestContext,
                     entry: TrafficEntry) -> tuple[str, list[bytes], str | None]:
        """The upstream request the plugins left: (target, header lines, Host override)."""
        if ctx.query_dirty:
            q = encode_args(ctx.query)
        else:
            q = ctx._kd.query  # type: ignore[attr-defined]
        target = ctx.path if not q else f"{ctx.path}?{q}"
        headers = ctx.headers
        host_value = headers.get("host")
        hdr = [_header_lines([(k, v) for k, v in headers.items() if k.lower() not in _REQ_DROP_STR])]
        pending = ctx._kd  # type: ignore[attr-defined]
        hdr += self._forwarding_headers(conn, req, entry.host, entry.path, pending.prefix, ctx.request_id)
        # the Host the plugins left: ours unless one changed it (then it wins over the balancer's)
        preserve = None
        if host_value is not None and (host_value != pending.upstream_host
                                       or (ctx.route or {}).get("preserve_host")):
            preserve = host_value
        return target, hdr, preserve

    async def _upstream(self, conn: ClientConnection, req: Request, snap: Snapshot, service: dict[str, Any],
                        method: str, target: str, hdr: list[bytes], host_override: str | None,
                        body: bytes | None, rid: str, entry: TrafficEntry, t0: float,
                        ctx: RequestContext | None, ran: list[Any]) -> None:
        loop = self.loop
        params = snap.cache.get(service["id"])
        if params is None:
            params = snap.cache[service["id"]] = _service_params(service, snap)
        svc_host, svc_port, svc_host_line, connect_timeout, read_timeout, write_timeout, max_tries, _hb, tls = params
        entry.upstream_method = method
        entry.upstream_target = target
        stream = req.body if body is None else None
        if body is not None:
            framing = b"Content-Length: %d\r\n\r\n" % len(body)
        elif stream is not None:
            framing = b"Transfer-Encoding: chunked\r\n\r\n" if req.chunked else (
                b"Content-Length: %d\r\n\r\n" % (req.content_length or 0))
        elif method in _EMPTY_BODY_METHODS:
            framing = b"Content-Length: 0\r\n\r\n"
        else:
            framing = b"\r\n"
        line = b"%s %s HTTP/1.1\r\n" % (method.encode(), _enc(target))
        hdr.insert(0, line)
        rest = b"".join(hdr)

        if svc_host == ECHO_HOST:
            host_line = host_override or _service_host(service)
            cap = self.limits.echo_max_body
            if body is not None:
                data, size = body[:cap], len(body)
            elif stream is not None:
                # spooled beyond client_body_buffer_size; only the echoed part is read back
                data, size = await stream.read_capped(cap)
            else:
                data, size = b"", 0
            pairs = [("Host", host_line)] + _parse_header_block(rest[len(line):])
            if size:
                pairs.append(("Content-Length", str(size)))
            entry.upstream_headers = pairs
            entry.upstream_addr = ECHO_HOST
            entry.request_body = req.body.preview if req.body is not None else None
            entry.upstream_body = data[:4096] if data else None
            t_sent = loop.time()
            status, rh, payload = echo_response(method, target, pairs, data, conn.client_ip,
                                                body_size=size)
            lat = ((t_sent - t0) * 1000.0, (loop.time() - t_sent) * 1000.0)
            entry.proxy_latency, entry.upstream_latency = lat
            self._respond_buffered(conn, req, ctx, ran, status, [(_enc(k), _enc(v)) for k, v in rh], payload,
                                   rid, t0, entry, lat)
            return

        balancer = snap.balancers.get(svc_host) if snap.balancers else None
        tries = 0
        up: UpstreamConnection | None = None
        idempotent = method in _IDEMPOTENT
        while True:
            if balancer is not None:
                peer = balancer.next(RequestFacts(conn.client_ip, req.headers, req.target, ctx,
                                                  lambda: self._captures(conn, req, snap))
                                     if balancer.hashing else None)
                if peer is None:
                    raise _Exit(503, MSG_NO_PEER, "no healthy target")
                host, port = peer
                if host_override is not None:
                    host_line = host_override
                elif balancer.host_header:
                    host_line = balancer.host_header
                else:
                    host_line = host if port in (80, 443) else f"{host}:{port}"
            else:
                host, port = svc_host, svc_port
                host_line = host_override or svc_host_line
            head = b"%sHost: %s\r\n%s" % (rest, _enc(host_line), framing)
            up = self.pool.take_idle(host, port, tls)
            reused = up is not None
            try:
                if up is None:
                    up = await self.pool.connect(host, port, connect_timeout, tls)
            except UpstreamError as exc:
                tries += 1
                entry.upstream_addr = f"{host}:{port}"
                if balancer is not None:
                    balancer.failed(host, port, exc.kind)  # passive health checks, in-flight counts
                if tries < max_tries and (stream is None or stream.replayable):
                    continue
                if exc.kind == "timeout":
                    raise _Exit(504, MSG_TIMEOUT, f"upstream connect timeout ({host}:{port})") from None
                if "Name or service not known" in exc.detail or "not known" in exc.detail:
                    raise _Exit(503, MSG_NAME_RESOLUTION, f"name resolution failed ({host})") from None
                raise _Exit(502, MSG_BAD_GATEWAY, f"upstream connect failed ({exc.detail})") from None
            if stream is not None and stream.too_large:
                up.finish()
                raise BodyTooLarge
            t_sent = loop.time()
            up.begin(head, body, head_request=method == "HEAD", read_timeout=read_timeout,
                     write_timeout=write_timeout)
            if stream is not None:
                stream.attach(up, req.chunked)
            try:
                await up.wait_headers()
                break
            except UpstreamError as exc:
                if stream is not None:
                    stream.detach()
                up.finish()
                entry.upstream_addr = f"{host}:{port}"
                if balancer is not None:
                    balancer.failed(host, port, exc.kind)
                can_replay = stream is None or stream.replayable
                if exc.kind == "timeout":
                    raise _Exit(504, MSG_TIMEOUT, f"upstream {exc.detail} timeout ({host}:{port})") from None
                if not exc.sent and can_replay and reused:
                    continue  # a kept-alive connection the upstream had closed: not a real try
                tries += 1
                if not exc.sent and can_replay and idempotent and tries < max_tries:
                    continue
                raise _Exit(502, MSG_BAD_GATEWAY, f"upstream {exc.kind} ({exc.detail})") from None

        t_hdr = loop.time()
        entry.upstream_addr = f"{host}:{port}"
        if balancer is not None:
            balancer.responded(host, port, up.status, t_hdr - t_sent)
        lat = ((t_sent - t0) * 1000.0, (t_hdr - t_sent) * 1000.0)
        entry.proxy_latency, entry.upstream_latency = lat
        entry.upstream_headers = head
        if req.body is not None:
            entry.request_body = req.body.preview
        if body is not None:
            entry.upstream_body = body[:4096]
        try:
            sink = self._relay_head(conn, req, up, ctx, ran, rid, entry, lat)
            if sink is _BUFFER:
                assert ctx is not None
                await up.wait_complete()
                h = _response_multidict(up.raw_head)
                self._apply_response_headers(h, ctx)
                resp = ResponseContext(up.status, h, up.take_body())
                self._response_phases(ctx, ran, resp)
                self._send_buffered(conn, req, resp.status, resp.headers, resp.body or b"", rid, t0, entry, lat)
            elif sink is not None:
                await self._relay_body(conn, req, up, entry, sink)
        finally:
            if balancer is not None:
                balancer.done(host, port)
            if stream is not None:
                stream.detach()
                if not stream.complete:
                    # answered before the whole body went up: that connection is out of step
                    up.keep_alive = False
            up.body_source = None
            up.finish()

    def _respond_buffered(self, conn: ClientConnection, req: Request, ctx: RequestContext | None, ran: list[Any],
                          status: int, headers: list[tuple[bytes, bytes]], body: bytes, rid: str, t0: float,
                          entry: TrafficEntry, lat: tuple[float, float]) -> None:
        h = CIMultiDict((_dec(k), _dec(v)) for k, v in headers)
        if ctx is not None:
            self._apply_response_headers(h, ctx)
            resp = ResponseContext(status, h, body if any(e[0].buffers_response for e in ran) else None)
            self._response_phases(ctx, ran, resp)
            if resp.body is not None:
                body = resp.body
            status, h = resp.status, resp.headers
        self._send_buffered(conn, req, status, h, body, rid, t0, entry, lat)

    def _relay_head(self, conn: ClientConnection, req: Request, up: UpstreamConnection, ctx: RequestContext | None,
                    ran: list[Any], rid: str, entry: TrafficEntry, lat: tuple[float, float]) -> Any:
        """Send the response head (and the body if it is already here). Returns the body sink
        when the body is still to come (then ``_relay_body``), else None."""
        status = up.status
        transport = conn.transport
        phases = ctx is not None and (ctx.response_headers or any(e[1] or e[2] for e in ran))
        if phases:
            assert ctx is not None
            buffering = any(e[0].buffers_response for e in ran)
            if buffering:
                return _BUFFER
            raw = up.raw_head
            chunked_up = _TE_CHUNKED_RE.search(raw) is not None
            h = _response_multidict(raw)
            self._apply_response_headers(h, ctx)
            resp = ResponseContext(status, h)
            self._response_phases(ctx, ran, resp)
            status = resp.status
            h = resp.headers
            for name in _RESP_HOP_STR:
                if name in h:
                    del h[name]
            clen = h.get("content-length")
            lines = _header_lines(h.items())
            out = [status_line(status), lines]
            entry.response_headers = _logged_head(out[0], lines, h)
        else:
            # no plugin looks at the response: pass the upstream's header lines through as bytes,
            # minus hop-by-hop ones
            raw = up.raw_head
            block = raw[raw.find(b"\r\n"):]  # "\r\nName: value..." lines, ending in CRLF
            clen = None
            chunked_up = False
            found = _FRAMING_RE.findall(block)  # one pass for framing and hop-by-hop headers
            if found:
                hop = False
                for name, value in found:
                    n = name.lower()
                    if n == b"content-length":
                        clen = value
                    else:
                        hop = True
                        if n == b"transfer-encoding" and b"chunked" in value.lower():
                            chunked_up = True
                if hop:
                    block = _HOP_RE.sub(b"", block)
            out = [_STATUS_LINES.get(status) or status_line(status), block[2:]]
            entry.response_headers = raw
        entry.status = status
        self._finish_head_proxied(out, req, rid, lat)
        if req.method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
            mode = 0
        elif clen is not None and not chunked_up:
            mode = 1
        elif req.version == "1.1":
            mode = 2
            out.append(b"Transfer-Encoding: chunked\r\n")
        else:
            mode = 3
            req.keep_alive = False
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        if transport is None or conn.closed:
            raise ConnectionError("client gone")
        write = transport.write
        if up.complete:
            body = up.take_body()
            if mode == 2:
                if body:
                    out.append(b"%x\r\n" % len(body))
                    out.append(body)
                    out.append(b"\r\n0\r\n\r\n")
                else:
                    out.append(b"0\r\n\r\n")
            elif mode:
                out.append(body)
            write(b"".join(out))
            return None
        write(b"".join(out))
        if mode == 2:
            def sink(c: bytes) -> None:
                if c:
                    write(b"%x\r\n%s\r\n" % (len(c), c))
            sink.chunked = True  # type: ignore[attr-defined]
        else:
            sink = write
        return sink

    async def _relay_body(self, conn: ClientConnection, req: Request, up: UpstreamConnection,
                          entry: TrafficEntry, sink: Any) -> None:
        conn.flow_upstream = up
        if conn.write_paused:
            up.pause_reading()
        up.set_sink(sink)
        try:
            await up.wait_complete()
        except UpstreamError as exc:
            # the head is out: all we can do is cut the connection so the client sees it
            entry.error = f"upstream {exc.kind} during body ({exc.detail})"
            req.keep_alive = False
            conn.close()
            return
        finally:
            conn.flow_upstream = None
        if getattr(sink, "chunked", False) and conn.transport is not None and not conn.closed:
            conn.transport.write(b"0\r\n\r\n")

    def _finish_head_proxied(self, out: list[bytes], req: Request, rid: str, lat: tuple[float, float]) -> None:
        out.append(b"X-Kong-Upstream-Latency: %d\r\nX-Kong-Proxy-Latency: %d\r\nVia: %s\r\nX-Kong-Request-Id: %s\r\n"
                   % (int(lat[1]), int(lat[0]), VIA_VALUE, rid.encode()))
        if not req.keep_alive or self.closing:
            req.keep_alive = False
            out.append(b"Connection: close\r\n")
        elif req.version == "1.0":
            out.append(b"Connection: keep-alive\r\n")


def _header_lines(items: Any) -> bytes:
    """``Name: value`` lines (CRLF-terminated) as bytes; latin-1, or UTF-8 where it must."""
    text = "".join([f"{k}: {v}\r\n" for k, v in items])
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _logged_head(status_line_: bytes, lines: bytes, headers: CIMultiDict[str]) -> Any:
    """The response head as the traffic log keeps it: one bytes block (status line + header
    lines, split only when a reader asks), like the raw head of the no-plugin path.

    A list of (istr, str) pairs per entry cost a dozen tracked objects per request, freed only
    when the ring evicts the entry a thousand requests later (cold memory) and walked by the
    garbage collector meanwhile. Non-ASCII values keep the pairs, so nothing is shown decoded
    differently from what was sent.
    """
    return status_line_ + lines if lines.isascii() else list(headers.items())


def _response_multidict(raw_head: bytes) -> CIMultiDict[str]:
    """The upstream's response headers (minus hop-by-hop ones) for plugins' header filters."""
    pairs = []
    for line in raw_head.decode("latin-1").split("\r\n")[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        k = k.strip()
        if k.lower() not in _RESP_HOP_STR:
            pairs.append((k, v.strip()))
    return CIMultiDict(pairs)


def _service_params(service: dict[str, Any], snap: Snapshot) -> tuple[Any, ...]:
    """What the upstream call needs from a service, computed once per snapshot."""
    ms = 1 / 1000.0
    retries = service.get("retries")
    host_line = _service_host(service)
    return (
        service.get("host") or "",
        service.get("port") or 80,
        host_line,
        (service.get("connect_timeout") or 60000) * ms,
        (service.get("read_timeout") or 60000) * ms,
        (service.get("write_timeout") or 60000) * ms,
        (5 if retries is None else retries) + 1,
        _enc(host_line),
        # TLS to the upstream: None (http), else the service's settings (runtime/upstream_tls.py)
        (snap.upstream_tls.get(service["id"], bool(service.get("tls_verify")))
         if service.get("protocol") in ("https", "grpcs", "tls") else None),
    )


def _service_host(service: dict[str, Any]) -> str:
    host = service.get("host") or ""
    port = service.get("port")
    proto = service.get("protocol") or "http"
    default = 443 if proto in ("https", "grpcs", "wss", "tls") else 80
    if port and port != default and host != ECHO_HOST:
        return f"{host}:{port}"
    return host


def _parse_header_block(block: bytes) -> list[tuple[str, str]]:
    out = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        k, _, v = line.partition(b":")
        out.append((_dec(k), _dec(v.strip())))
    return out


_BUFFER = object()  # _relay_head: "a plugin buffers the response"
_NO_PHASES: list[Any] = []  # (never appended to)


class _FastExchange:
    """One request on the fast lane: a small state machine fed by ``UpstreamConnection`` events.

    ``ctx``/``ran`` are set for a request of the plugin lane (its access phases have run)."""

    __slots__ = ("srv", "conn", "req", "snap", "entry", "t0", "t_sent", "rid", "up", "state", "sink", "ctx",
                 "ran")

    def __init__(self, srv: ProxyServer, conn: ClientConnection, req: Request, snap: Snapshot,
                 entry: TrafficEntry, t0: float, rid: str, up: UpstreamConnection) -> None:
        self.srv = srv
        self.conn = conn
        self.req = req
        self.snap = snap
        self.entry = entry
        self.t0 = t0
        self.t_sent = t0
        self.rid = rid
        self.up = up
        self.state = 0  # 0: waiting for the response head, 1: relaying the body, 2: done
        self.sink: Any = None
        self.ctx: RequestContext | None = None
        self.ran: list[Any] = _NO_PHASES

    def upstream_event(self, up: UpstreamConnection) -> None:
        srv, conn, req, entry = self.srv, self.conn, self.req, self.entry
        if self.state == 0:
            if not up.headers_done:
                err = up.error
                if err is None:
                    return
                self.state = 2
                ctx = self.ctx
                if err.kind == "timeout":
                    entry.error = f"upstream {err.detail} timeout ({entry.upstream_addr})"
                    if ctx is not None:
                        # as the general path: the 504 goes through the response phases
                        srv._local_response(conn, req, self.rid, 504, MSG_TIMEOUT, [], entry, self.t0, ctx,
                                            self.ran)
                        srv._fast_done(self)
                        conn._done(req)
                        return
                    srv._fast_done(self, record=False)
                    srv._local_response(conn, req, self.rid, 504, MSG_TIMEOUT, [], entry, self.t0, None, [])
                    entry.total_latency = (srv.loop.time() - self.t0) * 1000.0
                    entry.time = srv._wall(self.t0)
                    srv.traffic.record(entry)
                    conn._done(req)
                elif ctx is not None:
                    # a kept-alive connection the upstream had closed, or a failure: the serving
                    # task retries from the upstream call on (the access phases ran already)
                    srv._fast_release(self)
                    snap, ran, t0 = self.snap, self.ran, self.t0
                    service = entry.service
                    assert service is not None
                    conn._continue(req, lambda: srv._serve_plugins(conn, req, snap, ctx, (), ran, entry, t0,
                                                                   service, None, None, -1), snap)
                else:
                    # a kept-alive connection the upstream had closed, or a failure: the general
                    # path retries (new connection, service.retries) and answers
                    srv._fast_done(self, record=False)
                    conn._start_general(req)
                return
            t_hdr = srv.loop.time()
            lat = ((self.t_sent - self.t0) * 1000.0, (t_hdr - self.t_sent) * 1000.0)
            entry.proxy_latency, entry.upstream_latency = lat
            try:
                sink = srv._relay_head(conn, req, up, self.ctx, self.ran, self.rid, entry, lat)
            except ConnectionError:
                sink = None
                req.keep_alive = False
            if sink is None:
                self.state = 2
                srv._fast_done(self)
                conn._done(req)
                return
            self.state = 1
            self.sink = sink
            conn.flow_upstream = up
            if conn.write_paused:
                up.pause_reading()
            up.set_sink(sink)
        if self.state == 1:
            if up.complete:
                self.state = 2
                if getattr(self.sink, "chunked", False) and conn.transport is not None and not conn.closed:
                    conn.transport.write(b"0\r\n\r\n")
                srv._fast_done(self)
                conn._done(req)
            elif up.error is not None:
                self.state = 2
                entry.error = f"upstream {up.error.kind} during body ({up.error.detail})"
                req.keep_alive = False
                conn.close()
                srv._fast_done(self)
                conn._done(req)


class _Pending:
    """The proxy's own notes on a request with plugins (not visible to plugins)."""

    __slots__ = ("upstream_host", "query", "prefix", "resp", "conn", "req", "norm", "host_header")

    def __init__(self, upstream_host: str, query: str | None, prefix: str | None, conn: ClientConnection,
                 req: Request, norm: str, host_header: str) -> None:
        self.upstream_host = upstream_host
        self.query = query  # raw query string (None: no '?')
        self.prefix = prefix
        self.resp: ResponseContext | None = None
        self.conn = conn
        self.req = req
        self.norm = norm  # normalized request path
        self.host_header = host_header


def _parse_query(query: str | None) -> MultiDict[str]:
    return MultiDict(parse_qsl(query, keep_blank_values=True)) if query else MultiDict()


class _LazyContext(RequestContext):
    """A ``RequestContext`` whose ``original`` and ``query`` are built when first read.

    Same fields, same behaviour (a subclass: ``isinstance`` holds, assignment works); only the
    work of decoding the client's headers and query a second time is skipped for requests whose
    plugins never look.
    """

    @property  # type: ignore[override]
    def original(self) -> OriginalRequest:
        d = self.__dict__
        o = d.get("_original")
        if o is None:
            pending: _Pending = d["_kd"]
            req = pending.req
            conn = pending.conn
            host_header = pending.host_header
            hp = conn.host_cache.get(host_header)
            if hp is None:
                hp = _split_host(host_header)
                if len(conn.host_cache) < 8:
                    conn.host_cache[host_header] = hp
            o = d["_original"] = _new_original(
                method=req.method, path=pending.norm, raw_path=req.target, query=_parse_query(pending.query),
                headers=CIMultiDictProxy(CIMultiDict([(k.decode("latin-1"), v.decode("latin-1"))
                                                      for k, v in req.headers])),
                scheme=conn.scheme, host=hp[0], port=hp[1] if hp[1] is not None else conn.local_port,
            )
        return o

    @original.setter
    def original(self, value: OriginalRequest) -> None:
        self.__dict__["_original"] = value

    @property  # type: ignore[override]
    def query(self) -> MultiDict[str]:
        d = self.__dict__
        q = d.get("_query")
        if q is None:
            q = d["_query"] = _parse_query(d["_kd"].query)
        return q

    @query.setter
    def query(self, value: MultiDict[str]) -> None:
        self.__dict__["_query"] = value


def _fast_factory(cls: type) -> Callable[..., Any]:
    """A constructor for a (non-slotted) dataclass that fills ``__dict__`` directly.

    The generated ``__init__`` of a dataclass with ~25 fields (and ``object.__setattr__`` for
    frozen ones) is a measurable share of a request with plugins; this keeps the dataclass
    contract (every field present, defaults and default factories applied per instance) at a
    fraction of the cost, and follows fields added to the class later.
    """
    import dataclasses

    static: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            static[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            factories.append((f.name, f.default_factory))
    new = object.__new__

    def make(**values: Any) -> Any:
        obj = new(cls)
        d = obj.__dict__
        d.update(static)
        for name, factory in factories:
            d[name] = factory()
        d.update(values)
        return obj

    return make


_new_original = _fast_factory(OriginalRequest)
_new_context = _fast_factory(_LazyContext)


class _HeaderView:
    """Request headers for the router's header conditions, decoded only if a route asks."""

    __slots__ = ("_raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._map: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        # names compare case-insensitively and with '_' = '-' (Kong's router does the same)
        m: dict[str, list[str]] = {}
        for k, v in self._raw:
            m.setdefault(_dec(k).lower().replace("_", "-"), []).append(_dec(v))
        self._map = m
        return m

    def get(self, name: str, default: Any = None) -> Any:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), default)

    def getall(self, name: str, default: Any = ()) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), list(default))

    def __contains__(self, name: object) -> bool:
        m = self._map if self._map is not None else self._build()
        return isinstance(name, str) and name.lower().replace("_", "-") in m

    def __getitem__(self, name: str) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m[name.lower().replace("_", "-")]

    def items(self) -> Any:
        m = self._map if self._map is not None else self._build()
        return m.items()
