"""Target health: the state the balancer skips by, the counters that move it, and its reports.

Kong keeps one health checker per upstream (lua-resty-healthcheck): each target address is
HEALTHY or UNHEALTHY; *passive* checks count the outcomes of proxied requests, *active* checks
count the outcomes of periodic probes (``runtime.healthcheck`` sends those), each against the
thresholds of the upstream's ``healthchecks`` record:

* a success (status in ``healthy.http_statuses``) clears the failure counters and, after
  ``healthy.successes`` in a row, makes an unhealthy target healthy again;
* a failure — an HTTP status in ``unhealthy.http_statuses``, a TCP error, a timeout — clears the
  success counter and, after ``unhealthy.http_failures`` / ``tcp_failures`` / ``timeouts`` of
  that kind, makes a healthy target unhealthy;
* a threshold of 0 disables that transition (Kong's defaults: everything 0, checks off).

The Admin API sets a target's health by hand (``PUT /upstreams/{u}/targets/{t}/healthy``) and
reports it (``GET /upstreams/{u}/health``) in Kong's shape; with health checks off (no probe
interval, no passive failure threshold) every address reports ``HEALTHCHECKS_OFF`` and the
balancer uses every target, as in Kong.

One ``HealthRegistry`` per runtime, shared by the Admin API, the balancers (rebuilt on every
configuration change: the state outlives them, keyed by upstream id and ``host:port``) and the
active checker. Everything here runs on the event loop's thread; nothing blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..jsontypes import JSONObject, JSONValue

HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"
OFF = "HEALTHCHECKS_OFF"
DNS_ERROR = "DNS_ERROR"

# outcome kinds, and the unhealthy counter each one feeds
SUCCESS = "success"
HTTP_FAILURE = "http_failures"
TCP_FAILURE = "tcp_failures"
TIMEOUT = "timeouts"


def target_key(target: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) → (host, port); Kong's default target port is 8000."""
    if target.startswith("["):
        end = target.find("]")
        host = target[1:end]
        rest = target[end + 1:]
        return host, int(rest[1:]) if rest.startswith(":") else 8000
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, int(port)
    return target, 8000


def format_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hc(upstream: JSONObject) -> JSONObject:
    hc = upstream.get("healthchecks")
    return hc if isinstance(hc, dict) else {}


def _num(d: JSONValue, *path: str) -> float:
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else 0.0


def active_enabled(upstream: JSONObject) -> bool:
    hc = _hc(upstream)
    return _num(hc, "active", "healthy", "interval") > 0 or _num(hc, "active", "unhealthy", "interval") > 0


def passive_enabled(upstream: JSONObject) -> bool:
    hc = _hc(upstream)
    return any(_num(hc, "passive", "unhealthy", k) > 0 for k in (TCP_FAILURE, TIMEOUT, HTTP_FAILURE))


def uses_healthchecks(upstream: JSONObject) -> bool:
    """Kong's ``is_upstream_using_healthcheck``: a probe interval or a passive failure threshold."""
    return active_enabled(upstream) or passive_enabled(upstream)


def classify(statuses_ok: Iterable[int], statuses_bad: Iterable[int], status: int) -> str | None:
    if status in statuses_ok:
        return SUCCESS
    if status in statuses_bad:
        return HTTP_FAILURE
    return None


@dataclass
class TargetState:
    healthy: bool = True
    successes: int = 0
    http_failures: int = 0
    tcp_failures: int = 0
    timeouts: int = 0

    def reset(self) -> None:
        self.successes = self.http_failures = self.tcp_failures = self.timeouts = 0


class HealthRegistry:
    """Health of every target address, per upstream id. ``on_change(upstream_id)`` listeners
    hear every flip (the GUI, tests)."""

    def __init__(self) -> None:
        self._state: dict[str, dict[tuple[str, int], TargetState]] = {}
        # the unhealthy addresses per upstream: what the balancers read on every pick
        self.down: dict[str, set[tuple[str, int]]] = {}
        self.listeners: list[Callable[[str], None]] = []

    # -- reading ----------------------------------------------------------------------------
    def state(self, upstream_id: str, host: str, port: int) -> TargetState:
        per = self._state.setdefault(upstream_id, {})
        st = per.get((host, port))
        if st is None:
            st = per[(host, port)] = TargetState()
        return st

    def is_healthy(self, upstream_id: str, host: str, port: int) -> bool:
        per = self._state.get(upstream_id)
        st = per.get((host, port)) if per else None
        return True if st is None else st.healthy

    # -- changing ---------------------------------------------------------------------------
    def _flip(self, upstream_id: str, addr: tuple[str, int], st: TargetState, healthy: bool) -> None:
        if st.healthy != healthy:
            st.healthy = healthy
            st.reset()
            if healthy:
                down = self.down.get(upstream_id)
                if down is not None:
                    down.discard(addr)
                    if not down:
                        del self.down[upstream_id]
            else:
                self.down.setdefault(upstream_id, set()).add(addr)
            for cb in list(self.listeners):
                cb(upstream_id)

    def set_health(self, upstream_id: str, host: str, port: int, healthy: bool) -> None:
        """By hand (the Admin API): the state and fresh counters."""
        st = self.state(upstream_id, host, port)
        self._flip(upstream_id, (host, port), st, healthy)
        st.reset()

    def record(self, upstream: JSONObject, host: str, port: int, outcome: str, *, active: bool) -> None:
        """Count one outcome (``SUCCESS``, ``HTTP_FAILURE``, ``TCP_FAILURE``, ``TIMEOUT``) of a
        probe (``active``) or a proxied request, and flip the target when a threshold is met."""
        section = _hc(upstream).get("active" if active else "passive") or {}
        uid = upstream["id"]
        st = self.state(uid, host, port)
        if outcome == SUCCESS:
            st.http_failures = st.tcp_failures = st.timeouts = 0
            st.successes += 1
            need = int(_num(section, "healthy", "successes"))
            if not st.healthy and need > 0 and st.successes >= need:
                self._flip(uid, (host, port), st, True)
            return
        st.successes = 0
        setattr(st, outcome, getattr(st, outcome) + 1)
        need = int(_num(section, "unhealthy", outcome))
        if st.healthy and need > 0 and getattr(st, outcome) >= need:
            self._flip(uid, (host, port), st, False)

    def record_status(self, upstream: JSONObject, host: str, port: int, status: int, *, active: bool) -> None:
        """Count an HTTP status by the section's healthy/unhealthy status lists."""
        section = _hc(upstream).get("active" if active else "passive") or {}
        ok = (section.get("healthy") or {}).get("http_statuses") or ()
        bad = (section.get("unhealthy") or {}).get("http_statuses") or ()
        outcome = classify(ok, bad, status)
        if outcome is not None:
            self.record(upstream, host, port, outcome, active=active)

    def forget(self, live: dict[str, set[tuple[str, int]]]) -> None:
        """Drop the state of upstreams and targets no longer configured."""
        for uid in list(self._state):
            keep = live.get(uid)
            if keep is None:
                del self._state[uid]
                self.down.pop(uid, None)
                continue
            per = self._state[uid]
            for key in [k for k in per if k not in keep]:
                del per[key]
            down = self.down.get(uid)
            if down:
                down &= keep
                if not down:
                    del self.down[uid]

    # -- reports (the Admin API's shapes) ---------------------------------------------------
    def address_health(self, upstream: JSONObject, host: str, port: int, weight: int) -> str:
        if not uses_healthchecks(upstream) or weight <= 0:
            return OFF
        return HEALTHY if self.is_healthy(upstream["id"], host, port) else UNHEALTHY

    def target_report(self, upstream: JSONObject, target: JSONObject) -> JSONObject:
        """One target entity with Kong's ``health`` and ``data`` (addresses and weights). The
        runtime does not resolve names itself, so a hostname target has one address: itself."""
        host, port = target_key(target["target"])
        given = target.get("weight")
        weight = int(given if given is not None else 100)
        health = self.address_health(upstream, host, port, weight)
        available = weight if health != UNHEALTHY else 0
        out = dict(target)
        out["health"] = health
        out["data"] = {
            "addresses": [{"ip": host, "port": port, "health": health, "weight": weight}],
            "weight": {"total": weight, "available": available, "unavailable": weight - available},
            "dns": "A",
        }
        return out

    def balancer_report(self, upstream: JSONObject, targets: list[JSONObject]) -> JSONObject:
        """``?balancer_health=1``: the upstream as a whole against its ``threshold``."""
        total = available = 0
        for t in targets:
            given = t.get("weight")
            w = int(given if given is not None else 100)
            if w <= 0:
                continue
            total += w
            host, port = target_key(t["target"])
            if self.is_healthy(upstream["id"], host, port) or not uses_healthchecks(upstream):
                available += w
        healthy = self.upstream_healthy(upstream, total, available)
        health = OFF if not uses_healthchecks(upstream) else (HEALTHY if healthy else UNHEALTHY)
        return {
            "id": upstream["id"],
            "health": health,
            "details": {"healthy": healthy,
                        "weight": {"total": total, "available": available, "unavailable": total - available}},
        }

    @staticmethod
    def upstream_healthy(upstream: JSONObject, total: int, available: int) -> bool:
        """Kong's balancer status: unavailable weight within ``100 - threshold`` percent."""
        if total <= 0:
            return False
        threshold = _num(_hc(upstream), "threshold")
        return (total - available) * 100 / total <= 100 - threshold


__all__ = [
    "DNS_ERROR", "HEALTHY", "HTTP_FAILURE", "OFF", "SUCCESS", "TCP_FAILURE", "TIMEOUT", "UNHEALTHY",
    "HealthRegistry", "TargetState", "active_enabled", "classify", "format_target", "passive_enabled",
    "target_key", "uses_healthchecks",
]
