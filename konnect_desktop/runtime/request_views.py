"""Cheap views of a parsed request for the router and the plugins' context: header conditions
decoded only if a route asks; a context's headers, query and original request built only if a
plugin reads them."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from ..plugins.base import ConnectionFacts, OriginalRequest
from .responses import split_host

if TYPE_CHECKING:
    from .http1 import ClientConnection, Request


def parse_query(query: str | None) -> MultiDict[str]:
    return MultiDict(parse_qsl(query, keep_blank_values=True)) if query else MultiDict()


class HeaderView:
    """Request headers for the router's header conditions, decoded only if a route asks."""

    __slots__ = ("_raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._map: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        # names compare case-insensitively and with '_' = '-' (Kong's router does the same)
        m: dict[str, list[str]] = {}
        for k, v in self._raw:
            m.setdefault(k.decode("latin-1").lower().replace("_", "-"), []).append(v.decode("latin-1"))
        self._map = m
        return m

    def get(self, name: str, default: list[str] | None = None) -> list[str] | None:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), default)

    def getall(self, name: str, default: Iterable[str] = ()) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), list(default))

    def __contains__(self, name: object) -> bool:
        m = self._map if self._map is not None else self._build()
        return isinstance(name, str) and name.lower().replace("_", "-") in m

    def __getitem__(self, name: str) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m[name.lower().replace("_", "-")]

    def items(self) -> ItemsView[str, list[str]]:
        m = self._map if self._map is not None else self._build()
        return m.items()


def _decoded(raw: list[tuple[bytes, bytes]]) -> CIMultiDict[str]:
    return CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw])


class LazyParts:
    """``plugins.base.LazyParts`` for one request: what a ``RequestContext`` builds on first use.
    (Holds no reference to the context or the exchange: no cycle for the collector to find.)"""

    __slots__ = ("req", "conn", "request_path", "qs", "host_header", "upstream_host")

    def __init__(self, req: Request, conn: ClientConnection, request_path: str, qs: str | None,
                 host_header: str, upstream_host: str) -> None:
        self.req = req
        self.conn = conn
        self.request_path = request_path  # normalized
        self.qs = qs  # raw query string (None: no '?')
        self.host_header = host_header
        self.upstream_host = upstream_host

    def headers(self) -> CIMultiDict[str]:
        """As the upstream will get them: the client's, with Host the upstream's."""
        h = _decoded(self.req.headers)
        h["Host"] = self.upstream_host
        return h

    def query(self) -> MultiDict[str]:
        return parse_query(self.qs)

    def original(self) -> OriginalRequest:
        req, conn = self.req, self.conn
        hp = conn.host_cache.get(self.host_header)
        if hp is None:
            hp = split_host(self.host_header)
            if len(conn.host_cache) < 8:
                conn.host_cache[self.host_header] = hp
        return OriginalRequest(req.method, self.request_path, req.target, parse_query(self.qs),
                               CIMultiDictProxy(_decoded(req.headers)), conn.scheme, hp[0],
                               hp[1] if hp[1] is not None else conn.local_port,
                               1.0 if req.version == "1.0" else 1.1)

    def connection(self) -> ConnectionFacts:
        conn = self.conn
        sock = conn.transport.get_extra_info("sockname") if conn.transport is not None else None
        addr, port = (sock[0], sock[1]) if sock else ("", conn.local_port)
        return ConnectionFacts(addr, port, conn.serial, self.req.seq)
