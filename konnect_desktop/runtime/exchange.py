"""One request's way through the gateway: the exchange state machine, in Kong's phase order.

Every request takes this one path (kong/init.lua's phases)::

    start ─ rewrite ─────── the snapshot (fresh), the router: 404 / 426 / 30x, or a route
          ─ access ──────── the plugins' access phases in priority order, as plain calls; a
                            phase that returns an awaitable (a body, redis, …) continues the
                            exchange on the connection's serving task, and only then; after
                            an answer the rest of the chain is still collected for the
                            response and log phases (Kong's collecting iterator); no service
                            → 503 once the route's plugins ran
          ─ balancer ────── the peer (service host or an upstream's balancer), a kept-alive
                            connection from the pool, or a connect on the serving task
          ─ send ─────────── the upstream request head (+ the body, streamed or buffered)
    upstream_event ─ header_filter ─ body_filter ─ the response head to the client, the body
                            relayed as it comes (or buffered for a plugin that wants it whole);
                            a failure before the head retries (Kong's service.retries) or
                            answers 502 / 504
    finish ─ log ─────────── the plugins' log phases (the response head and ``Served``, built
                            for the first logger), the traffic record, the next request

It runs as plain calls driven by the two protocols' callbacks, and enters a coroutine only for
the steps that must wait (``ClientConnection.spawn``). Requests without plugins never build a
``RequestContext``; with plugins, the context's headers, query and original request are built
only when a plugin reads them (``RequestContext(lazy=exchange)``).
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, NamedTuple

from multidict import CIMultiDict

from ..plugins.base import (
    Decision,
    PluginExit,
    RequestContext,
    ResponseContext,
    encode_args,
)
from . import client_response as cr
from .balancer import Balancer, RequestFacts
from .config_view import BUFFERS, LOGS
from .echo import ECHO_HOST, echo_response
from .request_body import BodyTooLarge
from .request_views import HeaderView, LazyParts
from .responses import (
    MSG_BAD_GATEWAY,
    MSG_NAME_RESOLUTION,
    MSG_NO_PEER,
    MSG_TIMEOUT,
    MSG_UNEXPECTED,
    REQ_DROP_STR,
    ProxyExit,
    dec,
    enc,
    forwarding_headers,
    header_lines,
    https_redirect,
    no_route,
    no_service,
    parse_header_block,
    service_params,
    too_large,
)
from .traffic import TrafficEntry
from .upstream import UpstreamError

if TYPE_CHECKING:
    from .config_view import ChainEntry, Snapshot
    from .dataplane import ProxyServer
    from .http1 import ClientConnection, Request
    from .request_body import RequestBody
    from .responses import ServiceParams
    from .upstream import UpstreamConnection

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_EMPTY_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # sent with "Content-Length: 0" when body-less
_NO_PHASES: tuple[ChainEntry, ...] = ()
_WAITING, _RELAYING, _BUFFERING, _DONE = 0, 1, 2, 3  # upstream states


class UpstreamHead(NamedTuple):
    """The upstream request, but for its Host line (which depends on the peer)."""

    line: bytes  # "METHOD target HTTP/1.1\r\n"
    headers: bytes  # header lines: the client's (or the plugins') + the forwarding headers
    framing: bytes  # Content-Length / Transfer-Encoding line(s) and the blank line


class Peer(NamedTuple):
    host: str
    port: int
    host_line: str  # the Host header it gets


class Exchange:
    """One request, from its parsed head to its traffic record (see the module docstring)."""

    __slots__ = ("srv", "conn", "req", "snap", "t0", "rid", "entry", "match", "service", "params", "ctx",
                 "chain", "ran", "path", "qs", "host_header", "up", "state", "sink", "t_sent", "tries",
                 "reused", "stream", "body", "head", "peer", "resp", "finished", "upstream_host", "bal",
                 "at", "up_status", "source", "answered_ms", "phases")

    def __init__(self, srv: ProxyServer, conn: ClientConnection, req: Request) -> None:
        self.srv = srv
        self.conn = conn
        self.req = req
        self.ctx: RequestContext | None = None
        # the chain entries collected for the response and log phases (Kong's collecting
        # iterator): those reached by the access loop, plus — after an early answer — the rest
        self.ran: Any = _NO_PHASES
        self.at = 0  # the chain index the access loop is at
        self.phases = 0  # the ``ChainEntry.phases`` of ``ran``, OR-ed (which response phases to run)
        self.up: UpstreamConnection | None = None
        self.state = _WAITING
        self.tries = 0
        self.resp: ResponseContext | None = None
        self.finished = False
        self.head: UpstreamHead | None = None
        self.peer: Peer | None = None
        self.bal: Balancer | None = None  # the balancer that chose ``peer`` (told how it went)
        self.stream: RequestBody | None = None
        self.body: bytes | None = None
        self.sink: Any = None
        self.reused = False
        self.up_status = 0  # the upstream's status (0: none answered)
        self.source: str | None = None  # who answered when not the upstream: "exit" | "error"
        self.answered_ms = 0.0  # when the proxy or a plugin answered itself (Kong's response latency)

    # -- rewrite ----------------------------------------------------------------------------------
    def start(self) -> None:
        srv = self.srv
        st = srv.store
        if st is not None and srv.snapshot.version < st.version and srv.refresh is not None:
            # the configuration changed since the snapshot was built: this request sees it
            self.conn.spawn(self._refresh_then_start)
            return
        self._begin(srv.snapshot)

    async def _refresh_then_start(self) -> None:
        try:
            await self.srv.refresh()  # type: ignore[misc]
        except Exception:  # a failed or slow rebuild: serve the last good snapshot
            log.warning("proxy: serving the previous configuration (rebuild failed or late)")
        self._begin(self.srv.snapshot)

    def _begin(self, snap: Snapshot) -> None:
        srv, req = self.srv, self.req
        self.snap = snap
        snap.inflight += 1
        srv.inflight += 1
        self.t0 = srv.loop.time()
        self.rid = srv.next_request_id()
        self.entry = entry = TrafficEntry()
        entry.request_id = self.rid
        entry.client_ip = self.conn.client_ip
        entry.method = req.method
        target = entry.raw_path = req.target
        qi = target.find("?")
        if qi >= 0:
            path, query = target[:qi], target[qi + 1:]
        else:
            path, query = target, None
        entry.path = self.path = path
        self.qs = query
        entry.host = self.host_header = host_header = dec(req.host)
        entry.request_headers = req.headers
        try:
            conn = self.conn
            match = snap.router.match(req.method, host_header or None, path or "/", HeaderView(req.headers),
                                      conn.scheme, conn.local_port, conn.sni)
            entry.host_note = snap.router.host_case_note(host_header, match.route if match else None)
            if match is None:
                raise no_route()
            self.match = match
            entry.route = route = match.route
            entry.service = service = match.service
            if match.redirect_status:
                raise https_redirect(match.redirect_status, host_header, target)
            self.service = service
            if service is None:
                # a route without a service: its plugins still run (request-termination may
                # answer), then Kong's 503 (kong/init.lua, Kong.access)
                sid = None
                self.upstream_host = host_header
            else:
                sid = service.get("id")
                self.params = params = service_params(snap.cache, service, snap.upstream_tls)
                self.upstream_host = host_header if route.get("preserve_host") else params.host_line
            chain = snap.chain(route.get("id"), sid, None) if snap.names else ()
            if chain:
                self.chain = chain
                self.ran = []
                # (started_at is the request's arrival, the instant t0 measures latencies from,
                # as Kong's start time and KONG_PROCESSING_START are one)
                self.ctx = ctx = RequestContext(
                    self.rid, self.conn.client_ip, None, req.method, match.upstream_path, None, None, route,
                    service, snap.view, srv.services,
                    dict(match.uri_captures) if match.uri_captures else None,
                    started_at=_time.time() - (srv.loop.time() - self.t0),
                    lazy=LazyParts(req, self.conn, match.request_path, self.qs, host_header, self.upstream_host))
                if req.body is not None:
                    ctx.body_reader = req.body.read_all
                self._access(0, None)
                return
            if service is None:
                raise no_service()
            self.balancer()
        except Exception as exc:
            self.fail(exc)

    # -- access -----------------------------------------------------------------------------------
    def _access(self, start: int, waiting: Awaitable[None] | None) -> None:
        """The access phases from ``start`` on, as plain calls, until one returns an awaitable
        (then the rest runs on the serving task) or all ran (then the balancer)."""
        ctx = self.ctx
        assert ctx is not None
        names = self.snap.names
        chain = self.chain
        cid = None
        for i in range(start, len(names)):
            self.at = i
            consumer = ctx.consumer
            if consumer is not None:  # a consumer identified: its own plugin instances apply
                ccid = consumer.get("id")
                if ccid != cid:
                    cid = ccid
                    chain = self.chain = self._chain_for(cid)
            e = chain[i] if chain else None
            if e is None:
                continue
            self.ran.append(e)
            self.phases |= e.phases
            if not e.access:
                continue
            try:
                waiting = e.handler.access(ctx)
            except (PluginExit, ConnectionError, BodyTooLarge):
                raise
            except Exception as exc:
                raise _plugin_failed(ctx, names[i], exc) from None
            if waiting is not None:
                self.conn.spawn(lambda i=i, waiting=waiting: self._access_wait(i, waiting))
                return
        self.at = len(names)
        self.entry.consumer = ctx.consumer
        if self.service is None:
            raise no_service()
        self.balancer()

    def _chain_for(self, consumer_id: str | None) -> Any:
        service = self.service
        return self.snap.chain(self.match.route.get("id"), service.get("id") if service else None, consumer_id)

    def _collect_rest(self) -> None:
        """The access loop stopped early (an answer, an error): the plugins after it still apply
        to the request, and their header_filter / body_filter / log phases run for the answer
        (kong/init.lua ``execute_collecting_plugins_iterator``: it goes on collecting every
        plugin, running no more access phases, once a response is delayed)."""
        ctx = self.ctx
        start = self.at + 1
        n = len(self.snap.names)
        if ctx is None or start >= n:
            return
        self.at = n
        consumer = ctx.consumer
        chain = self._chain_for(consumer.get("id")) if consumer is not None else self.chain
        if chain:
            rest = [e for e in chain[start:] if e is not None]
            self.ran.extend(rest)
            for e in rest:
                self.phases |= e.phases

    async def _access_wait(self, i: int, waiting: Awaitable[None]) -> None:
        try:
            try:
                await waiting
            except (PluginExit, ConnectionError, BodyTooLarge):
                raise
            except Exception as exc:
                raise _plugin_failed(self.ctx, self.snap.names[i], exc) from None  # type: ignore[arg-type]
            self._access(i + 1, None)
        except Exception as exc:
            self.fail(exc)

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
            except UpstreamError as exc:
                self.tries += 1
                self.entry.upstream_addr = f"{host}:{port}"
                self._tell_failed(host, port, exc.kind)
                if self.tries < p.tries and self._replayable():
                    self.balancer()
                    return
                if exc.kind == "timeout":
                    raise ProxyExit(504, MSG_TIMEOUT, f"upstream connect timeout ({host}:{port})") from None
                if "not known" in exc.detail:
                    raise ProxyExit(503, MSG_NAME_RESOLUTION, f"name resolution failed ({host})") from None
                raise ProxyExit(502, MSG_BAD_GATEWAY, f"upstream connect failed ({exc.detail})") from None
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
                lines = [header_lines([(k, v) for k, v in ctx._headers.items() if k.lower() not in REQ_DROP_STR])]
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
        self.state = _WAITING
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
            if state == _WAITING:
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
        h = cr.response_multidict(up.raw_head)
        cr.apply_response_headers(h, ctx._response_headers)
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
                cr.apply_response_headers(h, ctx._response_headers)
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

    # -- the end ----------------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """Answer a request cut short (Kong's own answer, a plugin's exit), or give up on it."""
        if self.finished:
            log.error("proxy: error after the exchange finished", exc_info=exc)
            return
        req, entry = self.req, self.entry
        self._release()
        if entry.status and not isinstance(exc, ConnectionError):
            # a response head is out already: a second answer would corrupt the stream
            log.error("proxy error after the response head was sent", exc_info=exc)
            self._cut()
            return
        if isinstance(exc, BodyTooLarge):
            req.keep_alive = False
            exc = too_large()
        if self.ctx is not None:
            self._collect_rest()
        if isinstance(exc, ProxyExit):
            entry.error = exc.error
            self.source = exc.source
            self.answered_ms = ms = self._ms()
            self.resp = cr.local_response(self.conn, req, self.rid, exc.status, exc.message, exc.headers, entry,
                                          ms, self.ctx, self.ran, body=exc.body)
        elif isinstance(exc, PluginExit) and self.ctx is not None:
            entry.consumer = self.ctx.consumer
            self.source = "exit"
            self.answered_ms = ms = self._ms()
            self.resp = cr.plugin_exit(self.conn, req, self.ctx, self.ran, exc, entry, ms)
        elif isinstance(exc, ConnectionError):
            req.keep_alive = False
            entry.error = "client closed the connection"
        else:
            log.error("proxy error", exc_info=exc)
            req.keep_alive = False  # (the connection is closed after this request)
        self.finish()

    def _cut(self) -> None:
        """The response head is out and the body failed: only closing tells the client."""
        self.req.keep_alive = False
        self.conn.close()
        self.finish()

    def _release(self) -> None:
        up = self.up
        if up is None:
            return
        self.up = None
        up.listener = None
        stream = self.stream
        if stream is not None:
            stream.detach()
            if not stream.complete:
                up.keep_alive = False  # answered before the whole body went up: out of step
        up.body_source = None
        self.conn.flow_upstream = None
        up.finish()

    def _tell_failed(self, host: str, port: int, kind: str) -> None:
        if self.bal is not None:
            self.bal.failed(host, port, kind)
            self.bal = None

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._release()
        if self.bal is not None and self.peer is not None:
            self.bal.done(self.peer[0], self.peer[1])
            self.bal = None
        entry = self.entry
        ctx = self.ctx
        if ctx is not None:
            entry.decisions = ctx.decisions
            if self.phases & LOGS:
                cr.log_phase(ctx, self.ran, self._log_response)
        srv = self.srv
        now = srv.loop.time()
        entry.total_latency = (now - self.t0) * 1000.0
        entry.time = _time.time() - (now - self.t0)
        srv.traffic.record(entry)
        srv.end_inflight(self.snap)
        self.conn.done(self.req)

    def _ms(self) -> float:
        return (self.srv.loop.time() - self.t0) * 1000.0

    # -- what the log phase reads -------------------------------------------------------------------
    def _log_response(self) -> ResponseContext:
        """The response as the loggers see it (built for the first of them): the one the
        plugins' filters saw, or the upstream's head passed through as bytes, parsed now; with
        ``Served``, what the proxy measured."""
        entry = self.entry
        resp = self.resp
        if resp is None:
            raw = entry.response_headers
            self.resp = resp = ResponseContext(
                entry.status, cr.response_multidict(raw) if isinstance(raw, bytes) else CIMultiDict())
        kong_ms = entry.proxy_latency if entry.proxy_latency is not None else (
            self.answered_ms if self.source is not None else None)
        resp.served = cr.served(self.req, entry, kong_ms, self.up_status, self.source, self.peer)
        return resp


def _plugin_failed(ctx: RequestContext, name: str, exc: Exception) -> ProxyExit:
    """A plugin's access phase raised: logged, recorded as its decision, Kong's 500."""
    log.error("plugin %s failed in access", name, exc_info=exc)
    ctx.decisions.append(Decision(name, "error", f"{type(exc).__name__}: {exc}"))
    return ProxyExit(500, MSG_UNEXPECTED, f"plugin {name} failed")

