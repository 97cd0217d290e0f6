"""``LocalRuntime``: one local gateway (store + proxy + Admin API + traffic log) on the current loop.

A runtime lives inside whatever asyncio loop is running — the GUI's qasync loop, a test's loop,
or the headless ``gateway run`` — and several run side by side, each with its own SQLite store
and its own ports.

Configuration changes reach the proxy like this: the store calls our subscriber after each
commit (often on a worker thread); we hop onto the loop, wait a few milliseconds so a burst of
changes (an import, a sync) becomes one rebuild, export the store and compile a new
``Snapshot`` in a worker thread, then swap it in with one assignment. Requests already running
finish on the snapshot they started with; the old snapshot's plugin handlers are closed once
its last request is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .. import appdirs
from . import vault
from .admin_guard import AdminAccess, check_bind, check_portal_bind
from .config_view import Snapshot, build_snapshot
from .dataplane import KONG_VERSION, ProxyServer, Services
from .health import HealthRegistry
from .healthcheck import ActiveChecker
from .limits import DEFAULT_LIMITS, ProxyLimits
from .store import Store
from .store_lock import StoreLock
from .tls import SniIndex, TlsTerminator, load_or_create_default
from .traffic import TrafficLog

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02  # changes closer together than this become one rebuild
# During a burst of changes (a sync or an import through the Admin API) a rebuild after every
# change would spend the CPU on compiling and starve the writes: after a rebuild, the next one
# waits BURST_FACTOR times as long as that compile took (capped), so compiling takes at most about
# a third of the time. A proxied request that finds its snapshot stale cuts the wait short
# (``ensure_fresh``), so the next request after a change still sees it.
BURST_FACTOR = 2.0
BURST_MAX_WAIT = 1.0

STOPPED, STARTING, RUNNING, STOPPING, FAILED = "stopped", "starting", "running", "stopping", "failed"


def _hostport(v: tuple[str, int] | str) -> tuple[str, int]:
    if isinstance(v, str):
        host, _, port = v.rpartition(":")
        return host or "127.0.0.1", int(port)
    return v[0], int(v[1])


def _hostport_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(host: str, port: int, scheme: str = "http") -> str:
    """A URL a local client can connect to (a wildcard bind is reached on 127.0.0.1)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"{scheme}://{_hostport_text(host, port)}"


class LocalRuntime:
    """A local gateway. ``await start()`` / ``await stop()`` on the running loop.

    The Admin API listens on loopback unless ``admin_listen`` says otherwise; a non-loopback
    address without ``admin_token`` makes ``start()`` raise ``UnsafeBindError`` (a ``ValueError``
    whose message names the fix) before anything is opened.
    """

    def __init__(
        self,
        name: str = "default",
        db_path: str | Path | None = None,
        proxy_listen: tuple[str, int] | str = ("127.0.0.1", 0),
        admin_listen: tuple[str, int] | str | None = ("127.0.0.1", 0),
        admin_token: str | None = None,
        traffic_capacity: int = 1000,
        admin_allow_hosts: tuple[str, ...] | list[str] = (),
        admin_allow_origins: tuple[str, ...] | list[str] = (),
        owner: str = "Konnect Desktop",
        limits: ProxyLimits = DEFAULT_LIMITS,
        portal_listen: tuple[str, int] | str | None = None,
        proxy_listen_tls: tuple[str, int] | str | None = None,
        health_clock: Callable[[], float] | None = None,
        status_listen: tuple[str, int] | str | None = None,
    ) -> None:
        self.name = name
        self.db_path = Path(db_path) if db_path is not None else appdirs.runtime_db_path(name)
        self.proxy_listen = _hostport(proxy_listen)
        self.admin_listen = _hostport(admin_listen) if admin_listen is not None else None
        # the HTTPS listener (Kong's ``proxy_listen ... ssl``); None: HTTP only
        self.proxy_listen_tls = _hostport(proxy_listen_tls) if proxy_listen_tls is not None else None
        self.tls: TlsTerminator | None = None
        self.proxy_tls_url: str | None = None
        self.proxy_tls_bound: str | None = None  # the HTTPS address actually bound
        self.admin_token = admin_token
        self.admin_allow_hosts = tuple(admin_allow_hosts)  # more Host names the Admin API answers to
        self.admin_allow_origins = tuple(admin_allow_origins)  # browser origins allowed to call it
        # held while running: another process asking to serve this store is told who has it
        self.lock = StoreLock(self.db_path, owner)
        self.limits = limits  # what a client request may take (nginx's names and defaults)
        # the Dev Portal's address (None: no portal); same bind rule and Host/Origin checks as the Admin API
        self.portal_listen = _hostport(portal_listen) if portal_listen is not None else None
        self.portal_url: str | None = None
        self.portal: Any = None  # the PortalService while the portal is served
        self._portal_runner: Any = None
        # Kong's status_listen: /status and /status/ready on a listener of their own
        self.status_listen = _hostport(status_listen) if status_listen is not None else None
        self.status_url: str | None = None
        self.status_api: Any = None
        self._status_runner: Any = None
        self.node_id = str(uuid.uuid4())
        self.traffic = TrafficLog(traffic_capacity)
        self.services = Services(self.node_id)
        self.health = HealthRegistry()  # target health: balancers, Admin API, health checker
        # active health checks; with an injected clock nothing probes by itself: the caller
        # (a test) runs ``checker.run_due()``
        self.checker = ActiveChecker(self.health, clock=health_clock or time.monotonic)
        self._checker_autorun = health_clock is None
        self.state = STOPPED
        self.last_error: str | None = None
        self.store: Store | None = None
        self.proxy: ProxyServer | None = None
        self.proxy_url: str | None = None
        self.admin_url: str | None = None
        # where the listeners are actually bound ("0.0.0.0:8001" when asked for 0.0.0.0), for
        # messages; proxy_url / admin_url are what a local client connects to
        self.proxy_bound: str | None = None
        self.admin_bound: list[str] = []
        self.rebuilds = 0  # snapshots compiled since start (tests, stats)
        self.config_errors: list[str] = []  # problems of the last compile (routes skipped, …)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Any = None
        self._dirty = False
        self._rebuilder: asyncio.Task[None] | None = None
        self._synced: asyncio.Event | None = None
        self._wake = asyncio.Event()  # cuts a rebuild's wait short (a request wants fresh config)
        self._last_compile_seconds = 0.0
        self._last_rebuild_end = 0.0
        self._admin_runner: Any = None
        self._closing: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<LocalRuntime {self.name} {self.state} proxy={self.proxy_url} admin={self.admin_url}>"

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.state in (RUNNING, STARTING):
            return
        self.state = STARTING
        self.last_error = None
        self._loop = asyncio.get_running_loop()
        try:
            if self.admin_listen is not None:
                # before any socket or file is opened: a refused start leaves nothing behind
                check_bind(self.admin_listen[0], self.admin_token)
            if self.portal_listen is not None:
                check_portal_bind(self.portal_listen[0], self.admin_token)
            self.lock.acquire()
            if self.store is None:
                self.store = await asyncio.to_thread(Store, self.db_path)
            # plugins that keep data the gateway writes while serving (oauth2 tokens) reach the
            # store here (plugins.base.RuntimeServices: optional ``store``)
            self.services.store = self.store
            if self.proxy_listen_tls is not None and self.tls is None:
                self.tls = await asyncio.to_thread(self._make_tls)
            snap = await self._compile()
            self.proxy = ProxyServer(snap, self.services, self.traffic, self._loop, limits=self.limits)
            self.proxy.on_snapshot_drained = self._snapshot_drained
            self.proxy.store = self.store
            self.proxy.refresh = self.ensure_fresh
            await self.proxy.start(*self.proxy_listen)
            self.proxy_url = _url(self.proxy.host, self.proxy.port)
            self.proxy_bound = _hostport_text(self.proxy.host, self.proxy.port)
            if self.tls is not None and self.proxy_listen_tls is not None:
                await self.proxy.start_tls(*self.proxy_listen_tls, ssl=self.tls.context)
                self.proxy_tls_url = _url(self.proxy_listen_tls[0], self.proxy.tls_port, "https")
                self.proxy_tls_bound = _hostport_text(self.proxy_listen_tls[0], self.proxy.tls_port)
            if self.admin_listen is not None:
                await self._start_admin()
            if self.portal_listen is not None:
                await self._start_portal()
            if self.status_listen is not None:
                await self._start_status()
            self._synced = asyncio.Event()
            self._unsubscribe = self.store.subscribe(self._on_store_change)
            if self._checker_autorun:
                self.checker.start()
            if self.store.version != snap.version:  # changed while we were starting
                self._schedule_rebuild()
            self.state = RUNNING
        except BaseException as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.state = FAILED
            await self._teardown()
            raise

    async def _start_admin(self) -> None:
        from aiohttp import web

        from .access_log import ADMIN_LOGGER, AdminAccessLogger
        from .admin_api import create_admin_app

        assert self.store is not None and self.admin_listen is not None
        access = AdminAccess.of(self.admin_listen[0], self.admin_allow_hosts, self.admin_allow_origins)
        app = create_admin_app(self.store, info=self._info, admin_token=self.admin_token, access=access,
                               services=self.services, metrics=self.metrics_text,
                               health=self.health)
        # each Admin API call at DEBUG (secrets masked); aiohttp skips the work when DEBUG is off
        runner = web.AppRunner(app, access_log=logging.getLogger(ADMIN_LOGGER),
                               access_log_class=AdminAccessLogger)
        await runner.setup()
        self._admin_runner = runner
        site = web.TCPSite(runner, self.admin_listen[0], self.admin_listen[1])
        await site.start()
        names = _site_addresses(site) or [self.admin_listen]
        self.admin_bound = [_hostport_text(h, p) for h, p in names]
        self.admin_url = _url(*names[0])

    async def _start_portal(self) -> None:
        from aiohttp import web

        from .portal.server import create_portal_app
        from .portal.service import PortalService

        assert self.store is not None and self.portal_listen is not None
        self.portal = await asyncio.to_thread(PortalService, self.store)
        access = AdminAccess.of(self.portal_listen[0], self.admin_allow_hosts, self.admin_allow_origins)
        runner = web.AppRunner(create_portal_app(self.portal, lambda: self.proxy_url, access), access_log=None)
        await runner.setup()
        self._portal_runner = runner
        site = web.TCPSite(runner, self.portal_listen[0], self.portal_listen[1])
        await site.start()
        names = _site_addresses(site) or [self.portal_listen]
        self.portal_url = _url(*names[0])

    async def start_portal(self, listen: tuple[str, int] | str = ("127.0.0.1", 0)) -> str:
        """Serve the Dev Portal on this running runtime (the app's "Serve portal"); its URL."""
        if self._portal_runner is not None and self.portal_url:
            return self.portal_url
        try:
            hp = _hostport(listen)
            if not 0 <= hp[1] <= 65535:
                raise ValueError
        except ValueError:
            raise ValueError(f"portal address: expected HOST:PORT (e.g. 127.0.0.1:8003), got {listen!r}") from None
        check_portal_bind(hp[0], self.admin_token)
        self.portal_listen = hp
        await self._start_portal()
        assert self.portal_url is not None
        return self.portal_url

    async def stop_portal(self) -> None:
        if self._portal_runner is not None:
            runner, self._portal_runner = self._portal_runner, None
            await runner.cleanup()
        self.portal, self.portal_url, self.portal_listen = None, None, None

    async def metrics_text(self) -> str:
        """This runtime's metrics in the Prometheus text format (what ``GET /metrics`` serves)."""
        from .metrics import prometheus_text

        return await prometheus_text(self)

    async def _start_status(self) -> None:
        from aiohttp import web

        from .status_api import StatusAPI

        assert self.store is not None and self.status_listen is not None
        check_bind(self.status_listen[0], self.admin_token)
        self.status_api = StatusAPI(self.store, lambda: self.proxy is not None and self.rebuilds > 0,
                                    self.health, self.node_id)
        runner = web.AppRunner(self.status_api.app, access_log=None)
        await runner.setup()
        self._status_runner = runner
        site = web.TCPSite(runner, self.status_listen[0], self.status_listen[1])
        await site.start()
        host, port = (_site_addresses(site) or [self.status_listen])[0]
        self.status_url = _url(host, port)

    def _make_tls(self) -> TlsTerminator:
        """The HTTPS listener's TLS, with this runtime group's default certificate (made once,
        kept beside the store)."""
        cert, key = load_or_create_default(self.db_path)
        return TlsTerminator(cert, key)

    def _info(self) -> dict[str, Any]:
        px = self.proxy
        out: dict[str, Any] = {"node_id": self.node_id, "hostname": os.uname().nodename if hasattr(os, "uname") else "",
                               "version": KONG_VERSION}
        if px is not None and self.proxy_bound:
            out["proxy_listen"] = [self.proxy_bound]
            if self.proxy_tls_bound:
                out["proxy_listen"].append(f"{self.proxy_tls_bound} ssl")
        if self.admin_bound:
            out["admin_listen"] = list(self.admin_bound)
        return out

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, finish in-flight requests (up to ``drain_timeout``), release everything."""
        if self.state in (STOPPED, STOPPING):
            return
        self.state = STOPPING
        try:
            await self._teardown(drain_timeout)
            self.state = STOPPED
        except BaseException as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.state = FAILED
            raise

    async def _teardown(self, drain_timeout: float = 10.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._rebuilder is not None:
            self._rebuilder.cancel()
            with contextlib.suppress(BaseException):
                await self._rebuilder
            self._rebuilder = None
        await self.checker.stop()
        if self.proxy is not None:
            await self.proxy.stop(drain_timeout)
            with contextlib.suppress(Exception):
                await self.proxy.snapshot.close()
        if self._admin_runner is not None:
            with contextlib.suppress(Exception):
                await self._admin_runner.cleanup()
            self._admin_runner = None
        if self._portal_runner is not None:
            with contextlib.suppress(Exception):
                await self._portal_runner.cleanup()
            self._portal_runner = None
            self.portal = None
        if self._status_runner is not None:
            with contextlib.suppress(Exception):
                await self._status_runner.cleanup()
            self._status_runner = None
        for t in list(self._closing):
            with contextlib.suppress(BaseException):
                await t
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)
        self.lock.release()

    # -- configuration ----------------------------------------------------------------------
    async def _compile(self) -> Snapshot:
        store = self.store
        assert store is not None

        tls = self.tls

        def work() -> tuple[Snapshot, SniIndex | None, list[str]]:
            version = store.version
            # vault references are resolved here, for the snapshot and TLS only: the store keeps
            # them as written
            config, vault_errors = vault.resolve(store.export())
            return (build_snapshot(version, config, self.services, self.health),
                    tls.build_index(config) if tls is not None else None, vault_errors)

        snap, sni_index, vault_errors = await asyncio.to_thread(work)
        if tls is not None and sni_index is not None:
            tls.index = sni_index
        self.health.forget({uid: set(b.addresses()) for uid, b in
                            ((b.id, b) for b in (snap.balancers or {}).values())})
        self.checker.update(snap.balancers or {})
        errors = list(getattr(snap.router, "errors", None) or []) + vault_errors + snap.errors
        if tls is not None:
            errors += tls.errors
        for sk in getattr(snap.plugins, "skipped", None) or []:
            errors.append(f"plugin {sk.plugin.get('name')} ({sk.plugin.get('id')}) not applied: {sk.reason}")
        self.config_errors = errors
        for e in self.config_errors:
            log.warning("runtime %s: %s", self.name, e)
        self.rebuilds += 1
        return snap

    def _on_store_change(self, version: int) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._schedule_rebuild)
        except RuntimeError:  # loop closed meanwhile
            pass

    def _schedule_rebuild(self) -> None:
        self._dirty = True
        if self._synced is not None:
            self._synced.clear()
        if self._rebuilder is None or self._rebuilder.done():
            assert self._loop is not None
            self._rebuilder = self._loop.create_task(self._rebuild_loop())

    def _rebuild_delay(self) -> float:
        if time.monotonic() - self._last_rebuild_end > BURST_MAX_WAIT:
            return COALESCE_SECONDS  # not in a burst: apply promptly
        return min(BURST_MAX_WAIT, max(COALESCE_SECONDS, BURST_FACTOR * self._last_compile_seconds))

    async def _rebuild_loop(self) -> None:
        while self._dirty:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._rebuild_delay())
            self._dirty = False
            if self.proxy is None or self.store is None:
                return
            started = time.perf_counter()
            try:
                snap = await self._compile()
            except Exception as exc:  # keep serving the last good configuration
                log.exception("runtime %s: could not compile the configuration", self.name)
                self.last_error = f"configuration not applied: {exc}"
                continue
            self._last_compile_seconds = time.perf_counter() - started
            self._last_rebuild_end = time.monotonic()
            old = self.proxy.snapshot
            self.proxy.snapshot = snap
            old.retired = True
            if old.inflight == 0:
                self._close_later(old)
        if self._synced is not None:
            self._synced.set()

    def _snapshot_drained(self, snap: Snapshot) -> None:
        self._close_later(snap)

    def _close_later(self, snap: Snapshot) -> None:
        if snap.closed or self._loop is None:
            return
        t = self._loop.create_task(snap.close())
        self._closing.add(t)
        t.add_done_callback(self._closing.discard)

    @property
    def snapshot(self) -> Snapshot | None:
        return self.proxy.snapshot if self.proxy is not None else None

    async def ensure_fresh(self, timeout: float = 10.0) -> None:
        """Rebuild now if the store moved past the served snapshot, and wait for it."""
        if self.proxy is not None and self.store is not None and self.proxy.snapshot.version < self.store.version:
            self._wake.set()
            await self.wait_synced(timeout)

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until the proxy serves the store's current version."""
        assert self.store is not None
        self._wake.set()  # someone is waiting: no burst back-off
        async with asyncio.timeout(timeout):
            while self.proxy is None or self.proxy.snapshot.version < self.store.version:
                if self._rebuilder is None or self._rebuilder.done():
                    self._schedule_rebuild()
                assert self._synced is not None
                await self._synced.wait()

    async def load_config(self, config: dict[str, Any]) -> dict[str, int]:
        """Replace the whole configuration (one transaction) and wait until the proxy uses it.

        ``config`` is a ``Config`` (table → entities, e.g. from ``model.declarative.load``).
        Raises ``KongError`` on invalid input, leaving the store as it was.
        """
        assert self.store is not None, "start() the runtime first"
        counts = await asyncio.to_thread(self.store.replace_all, config)
        if self.state == RUNNING:
            await self.wait_synced()
        return counts


def _site_addresses(site: web.TCPSite) -> list[tuple[str, int]]:
    """Where a started aiohttp site really listens (the port chosen for port 0): aiohttp keeps
    the loop's server in ``site._server`` (asyncio's, or uvloop's of the same shape)."""
    server = cast("asyncio.Server | None", site._server)
    if server is None or not server.sockets:
        return []
    return [(str(a[0]), int(a[1])) for a in (sock.getsockname() for sock in server.sockets)]

