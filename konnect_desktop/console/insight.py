"""What the gateway did with one request: route, service, consumer, each plugin's decision, the
quota left, and the request the upstream received as a diff against what the client sent.

Input is a traffic-log entry (``TrafficEntry.to_dict()``, found by the response's
``X-Kong-Request-Id``) plus, from the console, the response headers the client saw. The diff
compares the request as it reached the gateway with the request as the gateway sent it on:
``+`` a header added, ``−`` removed, ``~`` changed; the proxy's own forwarding headers
(``X-Forwarded-*``, ``X-Real-IP``, ``Via``, ``Host`` …) are marked as such so a plugin's
changes stand out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..jsontypes import JSONObject, JSONValue
from .ratelimit import Quota, RateLimitInfo, parse_ratelimit, window_reset

if TYPE_CHECKING:
    from ..runtime.traffic import TrafficLog

FORWARDING = frozenset({
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
    "x-forwarded-path", "x-forwarded-prefix", "x-real-ip", "via", "x-kong-request-id", "host",
    "connection", "keep-alive", "te", "transfer-encoding", "upgrade", "proxy-connection",
    "content-length", "forwarded",
})
OUTCOME_MARK = {"pass": "✓", "transform": "✎", "reject": "✕", "skip": "–", "error": "⚠"}


@dataclass(frozen=True)
class HeaderChange:
    op: str  # "+" | "-" | "~"
    name: str
    old: str | None
    new: str | None
    by_gateway: bool  # the proxy's forwarding headers, not a plugin

    def text(self) -> str:
        sign = {"+": "+", "-": "−", "~": "~"}[self.op]
        if self.op == "+":
            return f"{sign} {self.name}: {self.new}"
        if self.op == "-":
            return f"{sign} {self.name}: {self.old}"
        return f"{sign} {self.name}: {self.old} → {self.new}"


def _group(headers: Iterable[Sequence[str]] | None) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    for kv in headers or []:
        k, v = kv[0], kv[1]
        low = str(k).lower()
        if low in out:
            out[low][1].append(str(v))
        else:
            out[low] = (str(k), [str(v)])
    return out


def header_diff(sent: Iterable[Sequence[str]] | None, received: Iterable[Sequence[str]] | None) -> list[HeaderChange]:
    """Changes from ``sent`` to ``received`` (pairs), in the order the upstream saw them, removals last."""
    a, b = _group(sent), _group(received)
    out: list[HeaderChange] = []
    for low, (name, vals) in b.items():
        gw = low in FORWARDING
        if low not in a:
            out.extend(HeaderChange("+", name, None, v, gw) for v in vals)
        elif a[low][1] != vals:
            out.append(HeaderChange("~", name, ", ".join(a[low][1]), ", ".join(vals), gw))
    for low, (name, vals) in a.items():
        if low not in b:
            out.extend(HeaderChange("-", name, v, None, low in FORWARDING) for v in vals)
    return out


@dataclass
class Insight:
    request_id: str
    status: int
    route: str | None  # name (or id)
    service: str | None
    consumer: str | None
    decisions: list[JSONObject] = field(default_factory=list)
    method_change: tuple[str, str] | None = None
    path_change: tuple[str, str] | None = None
    header_changes: list[HeaderChange] = field(default_factory=list)
    upstream_address: str | None = None
    upstream_headers: list[tuple[str, str]] = field(default_factory=list)
    client_headers: list[tuple[str, str]] = field(default_factory=list)
    latencies: dict[str, float | None] = field(default_factory=dict)
    ratelimit: RateLimitInfo = field(default_factory=RateLimitInfo)
    error: str | None = None
    proxied: bool = True  # False when the gateway answered itself (plugin rejected, no route, …)
    warnings: list[str] = field(default_factory=list)  # what Kong would not say (host case, …)

    def decision_lines(self) -> list[str]:
        return [f"{d.get('plugin')} {OUTCOME_MARK.get(str(d.get('outcome')), '?')} {d.get('outcome')}: {d.get('summary')}"
                for d in self.decisions]

    def plugin_changes(self) -> list[HeaderChange]:
        return [c for c in self.header_changes if not c.by_gateway]

    def summary_lines(self) -> list[str]:
        """The panel's text, in reading order (also what tests and copy-to-clipboard use)."""
        out = [f"route {self.route or '(no route matched)'} → service {self.service or '—'}"]
        out.extend(f"⚠ {w}" for w in self.warnings)
        out.append(f"consumer {self.consumer}" if self.consumer else "consumer (anonymous)")
        out.extend(self.decision_lines() or ["no plugins ran"])
        out.extend(self.ratelimit.lines())
        if self.proxied:
            if self.method_change:
                out.append(f"~ method: {self.method_change[0]} → {self.method_change[1]}")
            if self.path_change:
                out.append(f"~ path: {self.path_change[0]} → {self.path_change[1]}")
            out.extend(c.text() for c in self.header_changes)
        else:
            out.append("the upstream received nothing: the gateway answered itself"
                       + (f" ({self.error})" if self.error else ""))
        return out


def _name(ref: JSONValue, key: str) -> str | None:
    if not isinstance(ref, dict):
        return None
    return ref.get(key) or ref.get("id")


def quota_from_decisions(decisions: list[JSONObject], now: float) -> list[Quota]:
    """Quota from the rate-limiting plugin's own record (when headers are hidden or absent)."""
    out: list[Quota] = []
    for d in decisions:
        if d.get("plugin") != "rate-limiting":
            continue
        periods = (d.get("data") or {}).get("periods") or {}
        for p, v in periods.items():
            try:
                out.append(Quota(p, float(v["limit"]), float(v["remaining"]), window_reset(p, now), "window"))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def build_insight(entry: JSONObject, response_headers: Iterable[tuple[str, str]] | None = None,
                  now: float | None = None) -> Insight:
    """An ``Insight`` from a traffic entry dict (and the response headers the client saw)."""
    import time

    now = time.time() if now is None else now
    req = entry.get("request") or {}
    up = entry.get("upstream_request")
    resp_headers = list(response_headers) if response_headers is not None else \
        [(h[0], h[1]) for h in (entry.get("response") or {}).get("headers") or []]
    rl = parse_ratelimit(resp_headers, now=now)
    decisions = list(entry.get("decisions") or [])
    if not rl.quotas:
        q = quota_from_decisions(decisions, now)
        if q:
            rl = RateLimitInfo(q, rl.limit, rl.remaining, rl.reset, rl.retry_after, rl.headline_period)
    client_headers = [(str(h[0]), str(h[1])) for h in req.get("headers") or []]
    ins = Insight(
        request_id=str(entry.get("request_id") or ""),
        status=int(entry.get("status") or 0),
        route=_name(entry.get("route"), "name"),
        service=_name(entry.get("service"), "name"),
        consumer=_name(entry.get("consumer"), "username"),
        decisions=decisions,
        client_headers=client_headers,
        latencies=dict(entry.get("latencies") or {}),
        ratelimit=rl,
        error=entry.get("error"),
        proxied=up is not None,
        warnings=[str(w) for w in entry.get("warnings") or ()],
    )
    if up is not None:
        ins.upstream_headers = [(str(h[0]), str(h[1])) for h in up.get("headers") or []]
        ins.upstream_address = up.get("address")
        ins.header_changes = header_diff(client_headers, ins.upstream_headers)
        if up.get("method") and up.get("method") != req.get("method"):
            ins.method_change = (str(req.get("method")), str(up.get("method")))
        if up.get("path") is not None and up.get("path") != req.get("path"):
            ins.path_change = (str(req.get("path")), str(up.get("path")))
    return ins


async def lookup(traffic: TrafficLog | None, request_id: str, wait: float = 1.0) -> JSONObject | None:
    """The traffic entry for ``request_id`` as a dict. The proxy records an entry as the response
    finishes, which can be a moment after the client has it: poll briefly."""
    if not request_id or traffic is None:
        return None
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while True:
        e = traffic.get(request_id)
        if e is not None:
            doc: JSONObject = e.to_dict()
            return doc
        if loop.time() >= end:
            return None
        await asyncio.sleep(0.01)
