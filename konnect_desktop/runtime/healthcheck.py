"""Active health checks: probes sent to every target of upstreams that ask for them.

Kong (lua-resty-healthcheck) probes each target of an upstream whose ``healthchecks.active``
has a non-zero interval: a healthy target every ``healthy.interval`` seconds, an unhealthy one
every ``unhealthy.interval`` (0: not probed in that state). A probe is

* ``http``/``https``: ``GET <http_path>`` with the configured ``headers``, ``Host`` the target,
  over TLS for https (``https_sni``, ``https_verify_certificate``); its status counts as a
  success or an HTTP failure by the ``active`` status lists;
* ``tcp``: a connection, nothing sent;

a refused connection counts as a TCP failure, no answer within ``timeout`` seconds as a timeout.
The counts move the target in the shared ``HealthRegistry`` (thresholds there); at most
``concurrency`` probes of one upstream run at once.

``ActiveChecker.run_due()`` probes what is due by its ``clock`` and returns how many it sent: the
runtime's background task calls it when the next probe is due; tests inject a clock and call it
themselves (nothing waits for the wall clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections.abc import Callable

from ..jsontypes import JSONObject
from .health import SUCCESS, TCP_FAILURE, TIMEOUT, HealthRegistry, active_enabled

log = logging.getLogger(__name__)

# the name of the runtime's lifelong active-probe task (it runs until the runtime stops)
BACKGROUND_TASK = "runtime-active-healthchecks"

MAX_SLEEP = 1.0  # while probes are due, the background task looks again at least this often


def _section(upstream: JSONObject) -> JSONObject:
    return (upstream.get("healthchecks") or {}).get("active") or {}


class ActiveChecker:
    """The probes of one runtime. ``update(balancers)`` after every configuration change."""

    def __init__(self, health: HealthRegistry, clock: Callable[[], float] = time.monotonic) -> None:
        self.health = health
        self.clock = clock
        # (upstream id, host, port) -> (upstream entity, time of the last probe)
        self._targets: dict[tuple[str, str, int], tuple[JSONObject, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.probes = 0  # sent since start (tests, stats)

    # -- configuration ----------------------------------------------------------------------
    def update(self, balancers: JSONObject) -> None:
        """The targets to probe: those of upstreams with active checks on."""
        fresh: dict[tuple[str, str, int], tuple[JSONObject, float]] = {}
        for b in balancers.values():
            if not active_enabled(b.upstream):
                continue
            for host, port in b.addresses():
                key = (b.id, host, port)
                old = self._targets.get(key)
                fresh[key] = (b.upstream, old[1] if old else -math.inf)
        self._targets = fresh
        self._wake.set()

    def _interval(self, upstream: JSONObject, host: str, port: int) -> float:
        sec = _section(upstream)
        healthy = self.health.is_healthy(upstream["id"], host, port)
        value = (sec.get("healthy" if healthy else "unhealthy") or {}).get("interval") or 0
        return float(value)

    def next_due(self) -> float:
        """When the next probe is due (clock time), ``inf`` when none is."""
        due = math.inf
        for (_uid, host, port), (upstream, last) in self._targets.items():
            interval = self._interval(upstream, host, port)
            if interval > 0:
                due = min(due, last + interval)
        return due

    # -- probing ----------------------------------------------------------------------------
    async def run_due(self) -> int:
        """Probe every target that is due now; returns how many probes were sent."""
        now = self.clock()
        due: dict[str, list[tuple[JSONObject, str, int]]] = {}
        for (uid, host, port), (upstream, last) in list(self._targets.items()):
            interval = self._interval(upstream, host, port)
            if interval > 0 and last + interval <= now:
                due.setdefault(uid, []).append((upstream, host, port))
                self._targets[(uid, host, port)] = (upstream, now)
        jobs = []
        for items in due.values():
            limit = asyncio.Semaphore(int(_section(items[0][0]).get("concurrency") or 10))
            jobs += [self._probe_limited(limit, *item) for item in items]
        if jobs:
            await asyncio.gather(*jobs)
        return len(jobs)

    async def _probe_limited(self, limit: asyncio.Semaphore, upstream: JSONObject, host: str, port: int) -> None:
        async with limit:
            await self.probe(upstream, host, port)

    async def probe(self, upstream: JSONObject, host: str, port: int) -> None:
        """One probe, counted in the registry."""
        sec = _section(upstream)
        kind = sec.get("type") or "http"
        timeout = float(sec.get("timeout") or 1)
        self.probes += 1
        writer = None
        try:
            async with asyncio.timeout(timeout):
                ctx = self._tls(sec) if kind in ("https", "grpcs") else None
                sni = sec.get("https_sni") or host if ctx is not None else None
                reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=sni)
                if kind == "tcp":
                    self.health.record(upstream, host, port, SUCCESS, active=True)
                    return
                writer.write(self._request(sec, host, port))
                await writer.drain()
                status_line = await reader.readline()
        except TimeoutError:
            self.health.record(upstream, host, port, TIMEOUT, active=True)
            return
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            self.health.record(upstream, host, port, TCP_FAILURE, active=True)
            return
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            self.health.record(upstream, host, port, TCP_FAILURE, active=True)
            return
        self.health.record_status(upstream, host, port, int(parts[1]), active=True)

    @staticmethod
    def _request(sec: JSONObject, host: str, port: int) -> bytes:
        path = sec.get("http_path") or "/"
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: konnect-desktop-healthcheck"]
        for name, values in (sec.get("headers") or {}).items():
            for v in values if isinstance(values, list) else [values]:
                lines.append(f"{name}: {v}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    @staticmethod
    def _tls(sec: JSONObject) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if sec.get("https_verify_certificate") is False:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # -- the background task ------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            # named so waiters for "the test's work" can tell this lifelong task apart
            self._task = asyncio.get_running_loop().create_task(self._run(), name=BACKGROUND_TASK)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # a broken probe must not stop the others
                log.exception("active health checks")
            due = self.next_due()
            # nothing to probe: sleep until the configuration changes (``update`` wakes us)
            wait = None if math.isinf(due) else min(MAX_SLEEP, max(0.0, due - self.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


__all__ = ["ActiveChecker"]
