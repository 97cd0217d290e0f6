"""The proxy: a lean HTTP/1.1 server that routes, runs plugin phases and streams to upstreams.

Why hand-rolled: the data plane's speed is a requirement, and a general web framework plus an
HTTP client spend most of each request on objects the proxy never needs. The rooms, in the
order a request meets them:

* ``http1.ClientConnection`` — the client's HTTP/1.1 connection: parsing (llhttp via
  ``httptools``), keep-alive, pipelining, back-pressure, nginx's limits (``limits.py``);
  ``request_body.RequestBody`` streams or spools a request body.
* ``exchange.Exchange`` — one request's state machine in Kong's phase order (rewrite → access
  → balancer → header_filter → body_filter → log); the only path every request takes.
* ``client_response`` — the response phases and the bytes written to the client;
  ``responses`` — Kong's own answers (404/426/502/503/504, nginx's refusals) and the
  forwarding headers.
* ``upstream`` — pooled keep-alive ``UpstreamConnection``s, timeouts, the balancer.

This module holds the listener (``ProxyServer``: start, idle sweep, graceful stop, in-flight
accounting per snapshot) and the long-lived ``Services`` plugins share. It runs on whatever
asyncio loop is current (the GUI's qasync loop, tests' loops).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..model.kong_compat import KONG_VERSION
from .http1 import ClientConnection
from .limits import DEFAULT_LIMITS, ProxyLimits
from .responses import SERVER
from .traffic import TrafficLog
from .upstream import UpstreamPool

if TYPE_CHECKING:
    from .config_view import Snapshot
    from .store import Store

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT = 60.0  # idle client connections are closed after this (nginx's keepalive_timeout)

__all__ = ["KONG_VERSION", "SERVER", "ClientConnection", "ProxyServer", "Services"]


class Services:
    """``plugins.base.RuntimeServices``: long-lived state that survives configuration rebuilds."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._shared: dict[str, dict[str, Any]] = {}
        # the runtime's store, for plugins that keep what the gateway writes while serving
        # (oauth2's tokens); set when the runtime opens it
        self.store: Store | None = None

    def shared_state(self, name: str) -> dict[str, Any]:
        d = self._shared.get(name)
        if d is None:
            d = self._shared[name] = {}
        return d


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
        self.connection_serial = 0  # connections accepted so far (nginx's $connection)
        # the fast path's two counts (tests and bench/bench_proxy.py read them): exchange steps
        # that had to wait (ran on a serving task), and response heads rebuilt for a plugin
        # instead of passed through as bytes; most requests add to neither
        self.waits = 0
        self.head_rebuilds = 0
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

    async def start_tls(self, host: str, port: int, ssl: Any) -> None:
        """The HTTPS listener (Kong's ``proxy_listen ... ssl``): the same proxy over TLS."""
        self._tls_server = await self.loop.create_server(lambda: ClientConnection(self), host, port,
                                                         reuse_address=True, backlog=1024, ssl=ssl)
        self.tls_port = self._tls_server.sockets[0].getsockname()[1]

    def _sweep_interval(self) -> float:
        return min(self.keepalive_timeout, self.limits.client_header_timeout) / 4

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

    def end_inflight(self, snap: Snapshot) -> None:
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
