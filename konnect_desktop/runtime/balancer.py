"""The upstream balancer: which target gets the next request, as Kong's balancer picks it.

One ``Balancer`` per upstream, built with each configuration snapshot. ``next(facts)`` answers
``(host, port)`` or None (no target left: the proxy answers 503 "failure to get a peer from the
ring-balancer", as Kong). Targets the ``HealthRegistry`` holds unhealthy are skipped, and so is the
whole upstream when its healthy weight falls under ``healthchecks.threshold`` percent.

Algorithms (``upstream.algorithm``):

* ``round-robin`` — smooth weighted round-robin (the spreading nginx uses);
* ``consistent-hashing`` — a hash ring (``slots`` points spread by weight, CRC32 as Kong hashes)
  keyed by ``hash_on`` (consumer, ip, header, cookie, path, query_arg, uri_capture), else
  ``hash_fallback``; a request with neither value goes round-robin. An unhealthy target's points
  pass to the next healthy one on the ring, so other keys keep their target;
* ``least-connections`` — the fewest requests in flight for its weight;
* ``latency`` — the lowest moving average of the time to the response head, times the requests in
  flight (targets not measured yet first).

Weight 0 disables a target; several rows for one target: the newest wins (Kong keeps target
history). The proxy tells the balancer how each try went (``failed``, ``responded``, ``done``):
that feeds least-connections, latency and the passive health checks.

Not like Kong: hashing on a cookie the client has not sent does not make the gateway set one
(Kong generates it); such a request uses ``hash_fallback`` or round-robin.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from ..jsontypes import JSONObject
from ..plugins.base import RequestContext
from .health import (
    HTTP_FAILURE,
    TCP_FAILURE,
    TIMEOUT,
    HealthRegistry,
    passive_enabled,
    target_key,
    uses_healthchecks,
)

EWMA_ALPHA = 0.3
MAX_RING_POINTS = 10000


class RequestFacts:
    """What a hash can be taken from, read lazily from the proxy's request."""

    def __init__(self, client_ip: str, headers: list[tuple[bytes, bytes]], target: str, ctx: RequestContext | None = None,
                 captures: Callable[[], dict[int | str, str] | None] | None = None) -> None:
        self.client_ip = client_ip
        self.headers = headers
        self.target = target
        self.ctx = ctx
        self._captures = captures

    def header(self, name: str | None) -> str | None:
        if not name:
            return None
        want = name.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in self.headers if k.lower() == want]
        return ",".join(values) if values else None

    def cookie(self, name: str | None) -> str | None:
        raw = self.header("cookie")
        if not raw or not name:
            return None
        for part in raw.replace(",", ";").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None

    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def query_arg(self, name: str | None) -> str | None:
        if not name or "?" not in self.target:
            return None
        values = [v for k, v in parse_qsl(self.target.split("?", 1)[1], keep_blank_values=True) if k == name]
        return ",".join(values) if values else None

    def uri_capture(self, name: str | None) -> str | None:
        if not name:
            return None
        caps = getattr(self.ctx, "uri_captures", None)
        if caps is None and self._captures is not None:
            caps = self._captures()
        if not caps:
            return None
        value = caps.get(name)
        if value is None and name.isdigit():
            value = caps.get(int(name))
        return value if isinstance(value, str) else None

    def consumer(self) -> str | None:
        consumer = getattr(self.ctx, "consumer", None)
        return consumer.get("id") if isinstance(consumer, dict) else None


def hash_value(upstream: JSONObject, facts: RequestFacts | None) -> str | None:
    """Kong's ``get_value_to_hash``: ``hash_on``, else ``hash_fallback``."""
    if facts is None:
        return None
    for which, header, query, capture in (
        ("hash_on", "hash_on_header", "hash_on_query_arg", "hash_on_uri_capture"),
        ("hash_fallback", "hash_fallback_header", "hash_fallback_query_arg", "hash_fallback_uri_capture"),
    ):
        kind = upstream.get(which) or "none"
        value: str | None = None
        if kind == "consumer":
            value = facts.consumer()
        elif kind == "ip":
            value = facts.client_ip or None
        elif kind == "header":
            value = facts.header(upstream.get(header))
        elif kind == "cookie":
            value = facts.cookie(upstream.get("hash_on_cookie"))
        elif kind == "path":
            value = facts.path()
        elif kind == "query_arg":
            value = facts.query_arg(upstream.get(query))
        elif kind == "uri_capture":
            value = facts.uri_capture(upstream.get(capture))
        if value:
            return value
    return None


class Balancer:
    """One upstream's targets and how the next one is chosen."""

    def __init__(self, upstream: JSONObject, targets: list[JSONObject],
                 health: HealthRegistry | None = None) -> None:
        self.upstream = upstream
        self.id: str = upstream.get("id") or ""
        self.host_header: str | None = upstream.get("host_header")
        self.health = health
        self.algorithm = upstream.get("algorithm") or "round-robin"
        self.hashing = self.algorithm == "consistent-hashing" and (upstream.get("hash_on") or "none") != "none"
        self.uses_healthchecks = uses_healthchecks(upstream)
        self.passive = passive_enabled(upstream)
        latest: dict[str, JSONObject] = {}
        for t in sorted(targets, key=lambda t: (t.get("created_at") or 0)):
            latest[t["target"]] = t
        peers: list[list[Any]] = []  # [host, port, weight, current weight] (mutated in place)
        for t in latest.values():
            given = t.get("weight")
            w = int(given if given is not None else 100)
            if w > 0:
                host, port = target_key(t["target"])
                peers.append([host, port, w, 0])
        self.peers = peers
        self.total = sum(p[2] for p in peers)
        self.inflight: dict[tuple[str, int], int] = {}
        self.ewma: dict[tuple[str, int], float] = {}
        self._rr = 0
        self._ring: list[int] = []
        self._ring_peers: list[list[Any]] = []
        if self.hashing and peers:
            self._build_ring(int(upstream.get("slots") or 10000))

    def __len__(self) -> int:
        return len(self.peers)

    def addresses(self) -> list[tuple[str, int]]:
        return [(p[0], p[1]) for p in self.peers]

    # -- choosing -----------------------------------------------------------------------------
    def _available(self) -> list[list[Any]] | None:
        """The peers to choose from, or None for "all of them" (nothing is down)."""
        health = self.health
        if health is None:
            return None
        down = health.down.get(self.id)
        if not down:
            return None
        peers = [p for p in self.peers if (p[0], p[1]) not in down]
        available = sum(p[2] for p in peers)
        if self.uses_healthchecks and not health.upstream_healthy(self.upstream, self.total, available):
            return []
        return peers

    def next(self, facts: RequestFacts | None = None) -> tuple[str, int] | None:
        peers = self._available()
        subset = peers is not None
        if peers is None:
            peers = self.peers
        if not peers:
            return None
        if self.hashing:
            value = hash_value(self.upstream, facts)
            if value is not None:
                picked = self._on_ring(value, peers if subset else None)
                if picked is not None:
                    return self._take(picked)
        if len(peers) == 1:
            return self._take(peers[0])
        if self.algorithm == "least-connections":
            return self._take(self._least(peers, lambda p: (self.inflight.get((p[0], p[1]), 0) + 1) / p[2]))
        if self.algorithm == "latency":
            return self._take(self._least(peers, lambda p: self.ewma.get((p[0], p[1]), 0.0)
                                          * (self.inflight.get((p[0], p[1]), 0) + 1)))
        total = sum(p[2] for p in peers) if subset else self.total
        best = None
        for p in peers:
            p[3] += p[2]
            if best is None or p[3] > best[3]:
                best = p
        assert best is not None
        best[3] -= total
        return self._take(best)

    def _least(self, peers: list[list[Any]], score: Callable[[list[Any]], float]) -> list[Any]:
        # ties go round the list, so equal targets share the load
        n = len(peers)
        self._rr = (self._rr + 1) % n
        best = None
        best_score = 0.0
        for i in range(n):
            p = peers[(self._rr + i) % n]
            s = score(p)
            if best is None or s < best_score:
                best, best_score = p, s
        assert best is not None
        return best

    def _build_ring(self, slots: int) -> None:
        points: list[tuple[int, int]] = []
        slots = max(len(self.peers), min(slots, MAX_RING_POINTS))
        for idx, p in enumerate(self.peers):
            n = max(1, round(slots * p[2] / self.total))
            for i in range(n):
                points.append((zlib.crc32(f"{p[0]}:{p[1]} {i}".encode()), idx))
        points.sort()
        self._ring = [h for h, _ in points]
        self._ring_peers = [self.peers[i] for _, i in points]

    def _on_ring(self, value: str, allowed: list[list[Any]] | None) -> list[Any] | None:
        ring = self._ring
        if not ring:
            return None
        start = bisect.bisect_left(ring, zlib.crc32(value.encode("utf-8", "surrogateescape")))
        n = len(ring)
        ok = None if allowed is None else {id(p) for p in allowed}
        for i in range(n):
            p = self._ring_peers[(start + i) % n]
            if ok is None or id(p) in ok:
                return p
        return None

    def _take(self, p: list[Any]) -> tuple[str, int]:
        key = (p[0], p[1])
        self.inflight[key] = self.inflight.get(key, 0) + 1
        return key

    # -- what the proxy tells ------------------------------------------------------------------
    def _release(self, host: str, port: int) -> None:
        key = (host, port)
        n = self.inflight.get(key, 0)
        if n > 0:
            self.inflight[key] = n - 1

    def failed(self, host: str, port: int, kind: str) -> None:
        """A try that got no response: ``kind`` is the ``UpstreamError`` kind."""
        self._release(host, port)
        if self.passive and self.health is not None:
            outcome = TIMEOUT if kind == "timeout" else TCP_FAILURE
            self.health.record(self.upstream, host, port, outcome, active=False)

    def responded(self, host: str, port: int, status: int, seconds: float) -> None:
        """The response head arrived (``seconds`` after the request went out)."""
        key = (host, port)
        old = self.ewma.get(key)
        self.ewma[key] = seconds if old is None else old + EWMA_ALPHA * (seconds - old)
        if self.passive and self.health is not None:
            self.health.record_status(self.upstream, host, port, status, active=False)

    def done(self, host: str, port: int) -> None:
        """The exchange is over (after ``responded``)."""
        self._release(host, port)


__all__ = ["Balancer", "HTTP_FAILURE", "RequestFacts", "hash_value"]
