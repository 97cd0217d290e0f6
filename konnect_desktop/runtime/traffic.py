"""The traffic log: a bounded ring of the runtime's recent requests, with live subscribers.

The proxy records one ``TrafficEntry`` per request it answers. Recording is on the hot path, so
an entry only keeps references to what the proxy already built (header lists, decisions); the
formatting into plain dicts (``to_dict``) happens when a reader asks — the GUI's live view, the
request console, or a lookup by ``X-Kong-Request-Id``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mypy_extensions import mypyc_attr

from ..plugins.base import Decision

BODY_PREVIEW = 4096  # bytes of a request body kept in the log


def _s(x: Any) -> str:
    return x.decode("latin-1") if isinstance(x, bytes | bytearray) else str(x)


def _headers(pairs: Any) -> list[list[str]]:
    """Header pairs (str or raw bytes), a mapping, or a raw head block → ``[[name, value], ...]``."""
    if pairs is None:
        return []
    if isinstance(pairs, bytes | bytearray):
        out = []
        for line in bytes(pairs).split(b"\r\n")[1:]:
            if line:
                k, _, v = line.partition(b":")
                out.append([_s(k), _s(v.strip())])
        return out
    if hasattr(pairs, "items"):
        pairs = pairs.items()
    return [[_s(k), _s(v)] for k, v in pairs]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _preview(body: bytes | None) -> str | None:
    if body is None:
        return None
    text = body[:BODY_PREVIEW].decode("utf-8", "replace")
    if len(body) > BODY_PREVIEW:
        text += f"… ({len(body)} bytes)"
    return text


class TrafficEntry:
    """One proxied (or locally answered) request.

    Class attributes are the defaults, so the proxy sets only what a request actually has (an
    entry is made for every request: it must be cheap).
    """

    request_id = ""
    time = 0.0  # Unix seconds when the request arrived
    client_ip = ""
    method = ""
    path = ""  # path without query, as sent
    raw_path = ""  # path + query as sent
    host = ""
    scheme = "http"
    route: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    consumer: dict[str, Any] | None = None
    status = 0
    proxy_latency: float | None = None  # ms: arrival → upstream request sent
    upstream_latency: float | None = None  # ms: upstream request sent → response headers
    total_latency: float | None = None  # ms: arrival → response complete
    decisions: Sequence[Decision] = ()
    request_headers: Any = None  # as the client sent them (pairs)
    request_body: bytes | None = None  # first bytes only
    upstream_body: bytes | None = None  # first bytes sent upstream, when a plugin buffered/changed it
    upstream_method: str | None = None
    upstream_target: str | None = None  # path + query the upstream received
    upstream_headers: Any = None
    response_headers: Any = None
    error: str | None = None  # why the proxy answered itself (timeout, refused, …)
    bytes_sent: int | None = None  # to the client: head + body (chunked framing not counted)
    upstream_addr: str | None = None  # host:port actually contacted
    # what Kong would not tell: the Host equals another route's host but for case or a trailing
    # dot (Router.host_case_note); shown by the request console and printed by an access log
    host_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (strings, numbers, lists)."""

        def ref(e: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
            return None if e is None else {"id": e.get("id"), key: e.get(key)}

        return {
            "request_id": self.request_id,
            "time": self.time,
            "client_ip": self.client_ip,
            "method": self.method,
            "path": self.path,
            "host": self.host,
            "scheme": self.scheme,
            "route": ref(self.route, "name"),
            "service": ref(self.service, "name"),
            "consumer": ref(self.consumer, "username"),
            "status": self.status,
            "latencies": {
                "proxy": _ms(self.proxy_latency),
                "upstream": _ms(self.upstream_latency),
                "total": _ms(self.total_latency),
            },
            "decisions": [
                {"plugin": d.plugin, "outcome": d.outcome, "summary": d.summary, "data": d.data}
                for d in self.decisions
            ],
            "request": {
                "method": self.method,
                "path": self.raw_path,
                "headers": _headers(self.request_headers),
                "body": _preview(self.request_body),
            },
            "upstream_request": None if self.upstream_target is None else {
                "method": self.upstream_method,
                "path": self.upstream_target,
                "headers": _headers(self.upstream_headers),
                "body": _preview(self.upstream_body if self.upstream_body is not None else self.request_body),
                "address": self.upstream_addr,
            },
            "response": {"status": self.status, "headers": _headers(self.response_headers)},
            "error": self.error,
            "warnings": [self.host_note] if self.host_note else [],
        }

    def __repr__(self) -> str:
        return f"<TrafficEntry {self.request_id} {self.method} {self.raw_path} → {self.status}>"


class TrafficLog:
    """Ring buffer of the last ``capacity`` entries (0: none), lookup by request id, live
    subscribers and listeners."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._ring: deque[TrafficEntry] = deque()
        self._by_id: dict[str, TrafficEntry] = {}
        self._queues: list[asyncio.Queue[TrafficEntry]] = []
        self._callbacks: list[Callable[[TrafficEntry], None]] = []
        self.total = 0  # entries ever recorded
        self.dropped = 0  # entries a slow subscriber missed

    def __len__(self) -> int:
        return len(self._ring)

    def record(self, entry: TrafficEntry) -> None:
        if self.capacity:  # (0: keep none, as ``gateway run`` does — its listeners still hear every entry)
            ring = self._ring
            if len(ring) >= self.capacity:
                old = ring.popleft()
                self._by_id.pop(old.request_id, None)
            ring.append(entry)
            self._by_id[entry.request_id] = entry
        self.total += 1
        if self._queues:
            for q in self._queues:
                try:
                    q.put_nowait(entry)
                except asyncio.QueueFull:
                    self.dropped += 1
        if self._callbacks:
            for cb in list(self._callbacks):
                try:
                    cb(entry)
                except Exception:  # a broken viewer must never break proxying
                    pass

    def get(self, request_id: str) -> TrafficEntry | None:
        return self._by_id.get(request_id)

    def recent(self, n: int | None = None) -> list[TrafficEntry]:
        """Oldest first."""
        items = list(self._ring)
        return items if n is None else items[-n:]

    def clear(self) -> None:
        self._ring.clear()
        self._by_id.clear()

    def add_listener(self, callback: Callable[[TrafficEntry], None]) -> Callable[[], None]:
        """Call ``callback(entry)`` for each new entry; returns a function that unsubscribes."""
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """``async for entry in log.subscribe()``: new entries as they are recorded.

        A subscriber that falls ``maxsize`` entries behind misses entries (counted in
        ``dropped``) rather than slowing the proxy.
        """
        q: asyncio.Queue[TrafficEntry] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return Subscription(self._queues, q)


# A plain-Python class even where this module is compiled (native.py): it unsubscribes when
# dropped, as the async generator it replaces did (a compiled module has no async generators).
@mypyc_attr(native_class=False)
class Subscription:
    """The async iterator ``TrafficLog.subscribe`` returns: its queue leaves the log when the
    subscription is closed (``aclose``) or dropped."""

    def __init__(self, queues: list[asyncio.Queue[TrafficEntry]], q: asyncio.Queue[TrafficEntry]) -> None:
        self._queues = queues
        self._q = q

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> TrafficEntry:
        return await self._q.get()

    async def aclose(self) -> None:
        self._leave()

    def _leave(self) -> None:
        if self._q in self._queues:
            self._queues.remove(self._q)

    def __del__(self) -> None:
        self._leave()


def new_entry(request_id: str, client_ip: str, method: str, raw_path: str, host: str) -> TrafficEntry:
    e = TrafficEntry()
    e.request_id = request_id
    e.time = time.time()
    e.client_ip = client_ip
    e.method = method
    e.raw_path = raw_path
    q = raw_path.find("?")
    e.path = raw_path if q < 0 else raw_path[:q]
    e.host = host
    return e
