"""The upstream balancer: which target gets the next request.

One ``Balancer`` per upstream, built with each configuration snapshot. ``next()`` answers
``(host, port)`` or None (no target left: the proxy answers 503 "failure to get a peer from the
ring-balancer", as Kong). Targets the ``HealthRegistry`` holds unhealthy are skipped, and so is
the whole upstream when its healthy weight falls under ``healthchecks.threshold`` percent.

``round-robin`` is smooth weighted round-robin (the spreading nginx uses); weight 0 disables a
target; several rows for one target: the newest wins (Kong keeps target history).
"""

from __future__ import annotations

from typing import Any

from .health import HealthRegistry, target_key, uses_healthchecks


class Balancer:
    """Smooth weighted round-robin over an upstream's healthy targets."""

    def __init__(self, upstream: dict[str, Any], targets: list[dict[str, Any]],
                 health: HealthRegistry | None = None) -> None:
        self.upstream = upstream
        self.id: str = upstream.get("id") or ""
        self.host_header: str | None = upstream.get("host_header")
        self.health = health
        self.uses_healthchecks = uses_healthchecks(upstream)
        latest: dict[str, dict[str, Any]] = {}
        for t in sorted(targets, key=lambda t: (t.get("created_at") or 0)):
            latest[t["target"]] = t
        peers: list[list[Any]] = []
        for t in latest.values():
            given = t.get("weight")
            w = int(given if given is not None else 100)
            if w > 0:
                host, port = target_key(t["target"])
                peers.append([host, port, w, 0])
        self.peers = peers
        self.total = sum(p[2] for p in peers)

    def __len__(self) -> int:
        return len(self.peers)

    def addresses(self) -> list[tuple[str, int]]:
        return [(p[0], p[1]) for p in self.peers]

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

    def next(self) -> tuple[str, int] | None:
        peers = self._available()
        if peers is None:
            peers, total = self.peers, self.total
        else:
            total = sum(p[2] for p in peers)
        if not peers:
            return None
        if len(peers) == 1:
            p = peers[0]
            return p[0], p[1]
        best = None
        for p in peers:
            p[3] += p[2]
            if best is None or p[3] > best[3]:
                best = p
        assert best is not None
        best[3] -= total
        return best[0], best[1]


__all__ = ["Balancer"]
