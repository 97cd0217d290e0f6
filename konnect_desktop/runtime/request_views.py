"""Cheap views of a parsed request for the router and the plugins' context: header conditions
decoded only if a route asks; a context's headers, query and original request built only if a
plugin reads them; plugins' header edits spliced into the client's header lines."""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from ..plugins.base import ConnectionFacts, OriginalRequest
from ..plugins.header_edits import HeaderEdits
from .responses import REQ_DROP_STR, header_lines, split_host

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

    def header_values(self, name: str) -> list[str]:
        """``headers().getall(name, [])``, reading only the lines of that name."""
        low = name.lower()
        if low == "host":
            return [self.upstream_host]
        want = low.encode("latin-1", "replace")
        return [v.decode("latin-1") for k, v in self.req.headers if k.lower() == want]

    def header_names(self) -> list[str]:
        """The names in ``headers()``, lower-case, in order."""
        names = [k.decode("latin-1").lower() for k, _v in self.req.headers]
        if "host" not in names:  # (``headers()`` adds the upstream's Host at the end)
            names.append("host")
        return names

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


_SENT: dict[tuple[str, ...], re.Pattern[bytes] | None] = {}


def _sent_pattern(key: tuple[str, ...]) -> re.Pattern[bytes] | None:
    """A search for a header line of one of the names in ``key`` (a line starts the block or
    follows a line's "\n"); None when one of them is a header the proxy writes itself (Host,
    framing, forwarding): those edits need the table. One pattern per ``HeaderEdits.key``: a
    chain edits the same names on every request."""
    try:
        return _SENT[key]
    except KeyError:
        pass
    names = {n.lower() for n in key}
    pattern = None
    if not names & REQ_DROP_STR and all(n.isascii() for n in names):
        alternatives = b"|".join(re.escape(n.encode()) for n in sorted(names))
        pattern = re.compile(rb"(?:\A|\n)(?:%s)[ \t]*:" % alternatives, re.IGNORECASE)
    if len(_SENT) < 64:
        _SENT[key] = pattern
    return pattern


def spliced_lines(fwd: list[bytes], edits: HeaderEdits) -> list[bytes] | None:
    """The client's forwarded header lines (``Request.fwd``) with the plugins' edits, when
    splicing gives the bytes the whole table would (``plugins.header_edits``): the lines as
    received, then the lines the edits leave. None: build the table instead."""
    sent = _sent_pattern(edits.key)
    if sent is None:
        return None
    block = b"".join(fwd)
    if sent.search(block) is not None:
        return None  # the client sent one of the names: its place in the table decides
    added = header_lines(edits.tail.items())
    if not added.isascii() and not block.isascii():
        return None  # (the table's lines are all latin-1 or all UTF-8: responses.header_lines)
    return [block, added]
