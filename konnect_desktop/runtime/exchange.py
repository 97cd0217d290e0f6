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
from functools import partial
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from ..plugins.base import (
    Decision,
    PluginExit,
    RequestContext,
    ResponseContext,
)
from . import client_response as cr
from .balancer import Balancer
from .config_view import LOGS
from .exchange_upstream import WAITING, Peer, UpstreamHead, UpstreamLeg
from .request_body import BodyTooLarge
from .request_views import HeaderView, LazyParts
from .responses import (
    MSG_UNEXPECTED,
    ProxyExit,
    dec,
    https_redirect,
    no_route,
    no_service,
    response_multidict,
    service_params,
    too_large,
)
from .traffic import TrafficEntry

if TYPE_CHECKING:
    from .config_view import ChainEntry, Snapshot
    from .dataplane import ProxyServer
    from .http1 import ClientConnection, Request
    from .request_body import RequestBody
    from .upstream import UpstreamConnection

log = logging.getLogger(__name__)

_NO_PHASES: list[ChainEntry] = []  # shared, never appended to: a request with a chain gets its own list


class Exchange(UpstreamLeg):
    """One request, from its parsed head to its traffic record (see the module docstring)."""

    __slots__ = ("srv", "conn", "req", "snap", "t0", "rid", "entry", "match", "service", "params", "ctx", "chain",
                 "ran", "path", "qs", "host_header", "finished", "upstream_host", "at", "source", "answered_ms",
                 "phases")

    def __init__(self, srv: ProxyServer, conn: ClientConnection, req: Request) -> None:
        self.srv = srv
        self.conn = conn
        self.req = req
        self.ctx: RequestContext | None = None
        # the chain entries collected for the response and log phases (Kong's collecting
        # iterator): those reached by the access loop, plus — after an early answer — the rest
        self.ran = _NO_PHASES
        self.at = 0  # the chain index the access loop is at
        self.phases = 0  # the ``ChainEntry.phases`` of ``ran``, OR-ed (which response phases to run)
        # the upstream leg's slots (exchange_upstream.UpstreamLeg) start here too: one __init__
        # per request, no super() call on the proxy's hot path
        self.up: UpstreamConnection | None = None
        self.state = WAITING
        self.tries = 0
        self.resp: ResponseContext | None = None
        self.finished = False
        self.head: UpstreamHead | None = None
        self.peer: Peer | None = None
        self.bal: Balancer | None = None  # the balancer that chose ``peer`` (told how it went)
        self.stream: RequestBody | None = None
        self.body: bytes | None = None
        self.sink = None
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
        by_consumer = self.snap.consumer_scoped  # (else the chain is the same for every consumer)
        for i in range(start, len(names)):
            self.at = i
            consumer = ctx.consumer
            if consumer is not None and by_consumer:  # a consumer identified: its own plugin instances apply
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
                self.conn.spawn(partial(self._access_wait, i, waiting))
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
        chain = self._chain_for(consumer.get("id")) if consumer is not None and self.snap.consumer_scoped \
            else self.chain
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
                entry.status, response_multidict(raw) if isinstance(raw, bytes) else CIMultiDict())
        kong_ms = entry.proxy_latency if entry.proxy_latency is not None else (
            self.answered_ms if self.source is not None else None)
        resp.served = cr.served(self.req, entry, kong_ms, self.up_status, self.source, self.peer)
        return resp


def _plugin_failed(ctx: RequestContext, name: str, exc: Exception) -> ProxyExit:
    """A plugin's access phase raised: logged, recorded as its decision, Kong's 500."""
    log.error("plugin %s failed in access", name, exc_info=exc)
    ctx.decisions.append(Decision(name, "error", f"{type(exc).__name__}: {exc}"))
    return ProxyExit(500, MSG_UNEXPECTED, f"plugin {name} failed")

