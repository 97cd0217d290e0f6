"""The exchange's upstream leg: balancer → send → the upstream's answer (Kong's balancer,
header_filter and body_filter phases for a proxied response), and the in-process echo upstream.

``UpstreamLeg`` is the half of ``runtime.exchange.Exchange`` that talks to the upstream; the
exchange (rewrite, access, the end and the log) is the other half, and the only subclass. The
two are one state machine read in two rooms: the order of the phases is in exchange.py's
docstring.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from multidict import CIMultiDict

from ..plugins.base import RequestContext, ResponseContext, encode_args
from . import client_response as cr
from .balancer import RequestFacts
from .config_view import BUFFERS
from .echo import ECHO_HOST, echo_response
from .request_body import BodyTooLarge
from .responses import (
    MSG_BAD_GATEWAY,
    MSG_NAME_RESOLUTION,
    MSG_NO_PEER,
    MSG_TIMEOUT,
    REQ_DROP_CI,
    ProxyExit,
    apply_response_headers,
    enc,
    forwarding_headers,
    header_lines,
    parse_header_block,
    response_multidict,
)
from .upstream import UpstreamError

if TYPE_CHECKING:
    from .balancer import Balancer
    from .config_view import ChainEntry, Snapshot
    from .dataplane import ProxyServer
    from .http1 import ClientConnection, Request
    from .request_body import RequestBody
    from .responses import ServiceParams
    from .router import Match
    from .traffic import TrafficEntry
    from .upstream import Sink, UpstreamConnection

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_EMPTY_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # sent with "Content-Length: 0" when body-less
WAITING, _RELAYING, _BUFFERING, _DONE = 0, 1, 2, 3  # upstream states (``Exchange.state``)


class UpstreamHead(NamedTuple):
    """The upstream request, but for its Host line (which depends on the peer)."""

    line: bytes  # "METHOD target HTTP/1.1\r\n"
    headers: bytes  # header lines: the client's (or the plugins') + the forwarding headers
    framing: bytes  # Content-Length / Transfer-Encoding line(s) and the blank line


class Peer(NamedTuple):
    host: str
    port: int
    host_line: str  # the Host header it gets


class UpstreamLeg:
    """Balancer, send, the upstream's answer (see the module docstring)."""

    # this half's state (the upstream connection, the peer, the tries); the rest is the exchange's
    __slots__ = ("up", "state", "sink", "t_sent", "tries", "reused", "stream", "body", "head", "peer", "bal",
                 "up_status", "resp")

    # the exchange's state and steps this half uses (set and defined in runtime/exchange.py;
    # declared here, as plain annotations, so the compiled class has them — see native.py)
    srv: ProxyServer
    conn: ClientConnection
    req: Request
    snap: Snapshot
    t0: float
    rid: str
    entry: TrafficEntry
    match: Match
    params: ServiceParams
    ctx: RequestContext | None
    ran: list[ChainEntry]
    phases: int
    path: str
    qs: str | None
    host_header: str
    upstream_host: str
    up: UpstreamConnection | None
    state: int
    sink: Sink | None  # the client-side writer the body is relayed to
    t_sent: float
    tries: int
    reused: bool
    stream: RequestBody | None
    body: bytes | None
    head: UpstreamHead | None
    peer: Peer | None
    resp: ResponseContext | None
    bal: Balancer | None
    up_status: int

    def fail(self, exc: BaseException) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def _cut(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _ms(self) -> float:
        raise NotImplementedError

    # -- balancer -----------------------------------------------------------------------------------
    def balancer(self) -> None:
        """Pick the peer and a connection to it; send (or connect first, on the serving task)."""
        if self.head is None:
            self._build_request()
        p: ServiceParams = self.params
        if p.echo:
            self.conn.spawn(self._echo)
            return
        bal = self.bal = self.snap.balancers.get(p.host) if self.snap.balancers else None
        if bal is not None:
            # the balancer hears how each try goes (failed / responded / done): passive health
            # checks, in-flight counts, latencies (runtime/balancer.py)
            peer = bal.next(RequestFacts(self.conn.client_ip, self.req.headers, self.req.target, self.ctx,
                                         lambda: self.match.uri_captures) if bal.hashing else None)
            if peer is None:
                raise ProxyExit(503, MSG_NO_PEER, "no healthy target")
            host, port = peer
            host_line = self.upstream_host_override() or bal.host_header or (
                host if port in (80, 443) else f"{host}:{port}")
        else:
            host, port = p.host, p.port
            host_line = self.upstream_host_override() or p.host_line
        self.peer = Peer(host, port, host_line)
        up = self.srv.pool.take_idle(host, port, p.tls)
        if up is None:
            self.conn.spawn(self._connect)
            return
        self.reused = True
        self.send(up)

    async def _connect(self) -> None:
        assert self.peer is not None
        host, port, _hl = self.peer
        p: ServiceParams = self.params
        try:
            try:
                up = await self.srv.pool.connect(host, port, p.connect_timeout, p.tls)
            except UpstreamError as err:
                self.tries += 1
                self.entry.upstream_addr = f"{host}:{port}"
                self._tell_failed(host, port, err.kind)
                if self.tries < p.tries and self._replayable():
                    self.balancer()
                    return
                if err.kind == "timeout":
                    raise ProxyExit(504, MSG_TIMEOUT, f"upstream connect timeout ({host}:{port})") from None
                if "not known" in err.detail:
                    raise ProxyExit(503, MSG_NAME_RESOLUTION, f"name resolution failed ({host})") from None
                raise ProxyExit(502, MSG_BAD_GATEWAY, f"upstream connect failed ({err.detail})") from None
            self.reused = False
            self.send(up)
        except Exception as exc:
            self.fail(exc)

    def upstream_host_override(self) -> str | None:
        """The Host the upstream gets instead of the service's: preserve_host, or a plugin's."""
        ctx = self.ctx
        if ctx is None or ctx._headers is None:
            return self.host_header if self.match.route.get("preserve_host") else None
        host_value = ctx._headers.get("host")
        if host_value is not None and (host_value != self.upstream_host or self.match.route.get("preserve_host")):
            return host_value
        return None

    def _replayable(self) -> bool:
        return self.stream is None or self.stream.replayable

    # -- send -------------------------------------------------------------------------------------
    def _build_request(self) -> None:
        """The upstream request line and headers (all but Host), and how the body goes."""
        req, ctx, entry = self.req, self.ctx, self.entry
        match = self.match
        fwd = forwarding_headers(self.conn.fwd_cache, self.conn.ip_bytes, self.conn.xff_via_line, self.conn.local_port,
                                 req.xff, req.via, self.host_header, self.path, match.stripped_prefix, self.rid,
                                 self.conn.scheme)
        if ctx is None:
            method = req.method
            upath = match.upstream_path
            target = upath if self.qs is None else f"{upath}?{self.qs}"
            lines = req.fwd
            body = None
        else:
            method = ctx.method
            q = encode_args(ctx.query) if ctx.query_dirty else self.qs
            target = ctx.path if not q else f"{ctx.path}?{q}"
            if ctx._headers is None:  # no plugin asked for the headers: forward them as received
                lines = req.fwd
            else:
                lines = [header_lines([(k, v) for k, v in ctx._headers.items() if k not in REQ_DROP_CI])]
            body = ctx._body
        self.body = body
        self.stream = stream = req.body if body is None else None
        if body is not None:
            framing = b"Content-Length: %d\r\n\r\n" % len(body)
        elif stream is not None:
            framing = b"Transfer-Encoding: chunked\r\n\r\n" if req.chunked else (
                b"Content-Length: %d\r\n\r\n" % (req.content_length or 0))
        elif method in _EMPTY_BODY_METHODS:
            framing = b"Content-Length: 0\r\n\r\n"
        else:
            framing = b"\r\n"
        entry.upstream_method = method
        entry.upstream_target = target
        rest = b"".join(lines)
        rest += b"".join(fwd)
        self.head = UpstreamHead(b"%s %s HTTP/1.1\r\n" % (method.encode(), enc(target)), rest, framing)

    def send(self, up: UpstreamConnection) -> None:
        assert self.peer is not None and self.head is not None
        host, port, host_line = self.peer
        stream = self.stream
        if stream is not None and stream.too_large:
            up.finish()
            raise BodyTooLarge
        h = self.head
        head = b"%s%sHost: %s\r\n%s" % (h.line, h.headers, enc(host_line), h.framing)
        entry = self.entry
        entry.upstream_addr = f"{host}:{port}"
        entry.upstream_headers = head
        self.up = up
        self.state = WAITING
        up.listener = self
        self.t_sent = self.srv.loop.time()
        p = self.params
        try:
            up.begin(head, self.body, head_request=self.req.method == "HEAD", read_timeout=p.read_timeout,
                     write_timeout=p.write_timeout)
        except Exception:
            up.listener = None
            up.close()
            self.up = None
            raise
        if stream is not None:
            stream.attach(up, self.req.chunked)

    # -- the upstream's answer ----------------------------------------------------------------------
    def upstream_event(self, up: UpstreamConnection) -> None:
        """Called by the upstream connection after each change (head, body, end, error)."""
        try:
            state = self.state
            if state == WAITING:
                if not up.headers_done:
                    if up.error is not None:
                        self._upstream_failed(up, up.error)
                    return
                self._response_head(up)
                return
            if state == _RELAYING:
                if up.complete:
                    self.state = _DONE
                    self.entry.bytes_sent += up.body_bytes  # type: ignore[operator]
                    if getattr(self.sink, "chunked", False) and not self.conn.closed and self.conn.transport:
                        self.conn.transport.write(b"0\r\n\r\n")
                    self.finish()
                elif up.error is not None:
                    self.state = _DONE
                    self.entry.bytes_sent += up.body_bytes  # type: ignore[operator]
                    self.entry.error = f"upstream {up.error.kind} during body ({up.error.detail})"
                    self._cut()
            elif state == _BUFFERING:
                if up.complete:
                    self.state = _DONE
                    self._send_buffered_response(up)
                elif up.error is not None:
                    self.state = _DONE
                    raise ProxyExit(502, MSG_BAD_GATEWAY, f"upstream {up.error.kind} ({up.error.detail})")
        except Exception as exc:
            self.fail(exc)

    def _upstream_failed(self, up: UpstreamConnection, err: UpstreamError) -> None:
        """No response head: retry where Kong would, else 502/504."""
        self._release()
        assert self.peer is not None
        host, port, _hl = self.peer
        self.entry.upstream_addr = f"{host}:{port}"
        self._tell_failed(host, port, err.kind)
        can_replay = self._replayable()
        if err.kind == "timeout":
            raise ProxyExit(504, MSG_TIMEOUT, f"upstream {err.detail} timeout ({host}:{port})")
        if not err.sent and can_replay and self.reused:
            self.balancer()  # a kept-alive connection the upstream had closed: not a real try
            return
        self.tries += 1
        if not err.sent and can_replay and self.req.method in _IDEMPOTENT and self.tries < self.params.tries:
            self.balancer()
            return
        raise ProxyExit(502, MSG_BAD_GATEWAY, f"upstream {err.kind} ({err.detail})")

    def _response_head(self, up: UpstreamConnection) -> None:
        entry, req = self.entry, self.req
        self.up_status = up.status
        t_hdr = self.srv.loop.time()
        if self.bal is not None and self.peer is not None:
            self.bal.responded(self.peer[0], self.peer[1], up.status, t_hdr - self.t_sent)
        lat = ((self.t_sent - self.t0) * 1000.0, (t_hdr - self.t_sent) * 1000.0)
        entry.proxy_latency, entry.upstream_latency = lat
        if req.body is not None:
            entry.request_body = req.body.preview
        if self.body is not None:
            entry.upstream_body = self.body[:4096]
        try:
            sink, self.resp = cr.relay_head(self.conn, req, up, self.ctx, self.ran, self.phases, self.rid, entry, lat)
        except ConnectionError:
            req.keep_alive = False
            sink = None
        if sink is None:
            self.state = _DONE
            self.finish()
            return
        if sink is cr.BUFFER:
            self.state = _BUFFERING
            if up.complete:
                self.state = _DONE
                self._send_buffered_response(up)
            return
        self.state = _RELAYING
        self.sink = sink
        conn = self.conn
        conn.flow_upstream = up
        if conn.write_paused:
            up.pause_reading()
        up.set_sink(sink)
        if up.complete:  # (set_sink handed over the rest)
            self.upstream_event(up)

    def _send_buffered_response(self, up: UpstreamConnection) -> None:
        ctx = self.ctx
        assert ctx is not None
        h = response_multidict(up.raw_head)
        apply_response_headers(h, ctx._response_headers)
        resp = self.resp = ResponseContext(up.status, h, up.take_body())
        cr.response_phases(ctx, self.ran, resp)
        cr.send_buffered(self.conn, self.req, resp.status, resp.headers, resp.body or b"", self.rid,
                         self._ms(), self.entry, (self.entry.proxy_latency or 0.0, self.entry.upstream_latency or 0.0))
        self.finish()

    async def _echo(self) -> None:
        """The in-process echo upstream (``echo.internal``): answered here, never a socket."""
        try:
            req, entry = self.req, self.entry
            loop = self.srv.loop
            assert self.head is not None
            rest = self.head.headers
            host_line = self.upstream_host_override() or self.params.host_line
            cap = self.srv.limits.echo_max_body
            body, stream = self.body, self.stream
            if body is not None:
                data, size = body[:cap], len(body)
            elif stream is not None:
                # spooled beyond client_body_buffer_size; only the echoed part is read back
                data, size = await stream.read_capped(cap)
            else:
                data, size = b"", 0
            pairs = [("Host", host_line)] + parse_header_block(rest)
            if size:
                pairs.append(("Content-Length", str(size)))
            entry.upstream_headers = pairs
            entry.upstream_addr = ECHO_HOST
            entry.request_body = req.body.preview if req.body is not None else None
            entry.upstream_body = data[:4096] if data else None
            t_sent = loop.time()
            status, rh, payload = echo_response(entry.upstream_method or req.method, entry.upstream_target or "/",
                                                pairs, data, self.conn.client_ip, body_size=size)
            self.up_status = status
            lat = ((t_sent - self.t0) * 1000.0, (loop.time() - t_sent) * 1000.0)
            entry.proxy_latency, entry.upstream_latency = lat
            h = CIMultiDict(rh)
            ctx = self.ctx
            if ctx is not None:
                apply_response_headers(h, ctx._response_headers)
                buffered = bool(self.phases & BUFFERS)
                resp = self.resp = ResponseContext(status, h, payload if buffered else None)
                cr.response_phases(ctx, self.ran, resp)
                if resp.body is not None:
                    payload = resp.body
                status, h = resp.status, resp.headers
            cr.send_buffered(self.conn, req, status, h, payload, self.rid, self._ms(), entry, lat)
            self.finish()
        except Exception as exc:
            self.fail(exc)
    def _tell_failed(self, host: str, port: int, kind: str) -> None:
        if self.bal is not None:
            self.bal.failed(host, port, kind)
            self.bal = None

