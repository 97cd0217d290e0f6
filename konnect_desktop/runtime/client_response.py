"""The response side of an exchange: plugins' header_filter / body_filter / log phases and the
bytes written to the client.

Three ways a response reaches the client, all ending in Kong's own headers (latencies, Via,
X-Kong-Request-Id, Server) and the connection handling (keep-alive, HTTP/1.0, close):

* ``relay_head``: the upstream's head, passed through as bytes minus hop-by-hop lines when no
  plugin looks at the response, else rebuilt after the header filters; the body follows as it
  comes (``body_sink``), re-chunked or close-delimited as the client's HTTP version needs.
* ``send_buffered``: a whole response at once (an exit, the echo, a buffered response).
* ``local_response`` / ``plugin_exit``: Kong's own answers and plugins' ``PluginExit``, through
  the response phases of the plugins that ran.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from ..plugins.base import PluginExit, RequestContext, ResponseContext, Served
from .config_view import BUFFERS, FILTERS
from .responses import (
    FRAMING_RE,
    HOP_RE,
    NO_BODY_STATUS,
    RESP_HOP_STR,
    SERVER,
    TE_CHUNKED_RE,
    VIA_VALUE,
    apply_response_headers,
    dec,
    header_lines,
    kong_json,
    logged_head,
    response_multidict,
    status_line,
)

if TYPE_CHECKING:
    from .config_view import ChainEntry
    from .http1 import ClientConnection, Request
    from .traffic import TrafficEntry
    from .upstream import UpstreamConnection

log = logging.getLogger(__name__)

_FRAMING = RESP_HOP_STR | {"content-length"}  # (set by a plugin: the head is rebuilt)
BUFFER = object()  # relay_head: "a plugin buffers the response: wait for all of it"


# -- plugin phases ------------------------------------------------------------------------------
def response_phases(ctx: RequestContext, ran: Sequence[ChainEntry], resp: ResponseContext) -> None:
    """header_filter, then (for a buffered body) body_filter, of the plugins that ran."""
    for e in ran:
        if e.header_filter:
            try:
                e.handler.header_filter(ctx, resp)
            except Exception:
                log.exception("plugin %s failed in header_filter", e.name)
    if resp.body is not None:
        for e in ran:
            if e.body_filter:
                try:
                    e.handler.body_filter(ctx, resp)
                except Exception:
                    log.exception("plugin %s failed in body_filter", e.name)


def log_phase(ctx: RequestContext, ran: Sequence[ChainEntry], make_resp: Callable[[], ResponseContext]) -> None:
    """The log phases of the plugins collected; ``make_resp`` builds what they read (the
    response head, ``Served``) for the first of them, so a chain without loggers pays nothing."""
    resp: ResponseContext | None = None
    for e in ran:
        if e.log:
            if resp is None:
                resp = make_resp()
            try:
                e.handler.log(ctx, resp)
            except Exception:
                log.exception("plugin %s failed in log", e.name)


def served(req: Request, entry: TrafficEntry, kong_ms: float | None, upstream_status: int, source: str | None,
           peer: Any) -> Served:
    """Kong's figures for its log serializer (kong/pdk/log.lua): ``latencies.kong`` (``kong_ms``:
    KONG_PROXY_LATENCY, arrival → request sent, or for an answer of Kong's own or a plugin's
    KONG_RESPONSE_LATENCY), ``latencies.proxy`` (the upstream's waiting time), ``$request_length``
    (the head as re-serialized + the body's bytes), ``$bytes_sent``, ``$upstream_status``, the
    balancer's last try and the source (None: the upstream answered, "service")."""
    size = len(req.method) + len(req.target) + 14  # "METHOD target HTTP/1.1\r\n" + the blank line
    for k, v in req.headers:
        size += len(k) + len(v) + 4
    if req.body is not None:
        size += req.body.total
    tries = [{"ip": peer.host, "port": peer.port, "balancer_latency": 0}] if peer is not None else None
    return Served(kong_ms, entry.upstream_latency, size, entry.bytes_sent, upstream_status or None,
                  source or "service", tries)


# -- Kong's head ----------------------------------------------------------------------------------
def finish_head(out: list[bytes], req: Request, rid: str, latency_ms: float, lat: tuple[float, float] | None,
                closing: bool, has_connection: bool = False) -> None:
    """Kong's own response headers + connection handling. ``lat``: (proxy, upstream) ms for a
    proxied response, None for one of Kong's own (then X-Kong-Response-Latency)."""
    if lat is None:
        out += (b"X-Kong-Response-Latency: %d\r\nServer: " % int(latency_ms), SERVER, b"\r\n")
    else:
        out.append(b"X-Kong-Upstream-Latency: %d\r\nX-Kong-Proxy-Latency: %d\r\nVia: %s\r\n"
                   % (int(lat[1]), int(lat[0]), VIA_VALUE))
    out += (b"X-Kong-Request-Id: ", rid.encode(), b"\r\n")
    if not req.keep_alive or closing:
        req.keep_alive = False
        if not has_connection:
            out.append(b"Connection: close\r\n")
    elif req.version == "1.0" and not has_connection:
        out.append(b"Connection: keep-alive\r\n")


def send_buffered(conn: ClientConnection, req: Request, status: int, headers: CIMultiDict[str], body: bytes,
                  rid: str, latency_ms: float, entry: TrafficEntry, lat: tuple[float, float] | None = None) -> None:
    """A whole response at once. An upstream's hop-by-hop headers stop here; an answer of our own
    may carry Connection/Upgrade on purpose (426)."""
    for name in (RESP_HOP_STR if lat is not None else ("transfer-encoding", "keep-alive")):
        if name in headers:
            del headers[name]
    headers.popall("content-length", None)
    lines = header_lines(headers.items())
    out = [status_line(status), lines]
    finish_head(out, req, rid, latency_ms, lat, conn.server.closing, "connection" in headers)
    no_body = req.method == "HEAD" or status in NO_BODY_STATUS or status < 200
    if not (status in NO_BODY_STATUS or status < 200):
        out.append(b"Content-Length: %d\r\n" % len(body))
    out.append(b"\r\n")
    if not no_body:
        out.append(body)
    entry.status = status
    entry.response_headers = logged_head(out[0], lines, headers)
    data = b"".join(out)
    entry.bytes_sent = len(data)
    if conn.transport is not None and not conn.closed:
        conn.transport.write(data)


def local_response(conn: ClientConnection, req: Request, rid: str, status: int, message: str,
                   headers: list[tuple[bytes, bytes]], entry: TrafficEntry, latency_ms: float,
                   ctx: RequestContext | None, ran: Sequence[ChainEntry], body: bytes | None = None) -> ResponseContext | None:
    """One of Kong's own answers (404, 502, …); through the response phases when plugins ran.
    Returns the ``ResponseContext`` the plugins saw (for their log phase)."""
    if body is None:
        body = kong_json(message, rid)
        ctype: bytes | None = b"application/json; charset=utf-8"
    else:
        ctype = None
    if ctx is not None and ran:
        h = CIMultiDict((dec(k), dec(v)) for k, v in headers)
        if ctype:
            h["Content-Type"] = dec(ctype)
        apply_response_headers(h, ctx._response_headers)
        resp = ResponseContext(status, h, body)
        response_phases(ctx, ran, resp)
        send_buffered(conn, req, resp.status, resp.headers, resp.body or b"", rid, latency_ms, entry)
        return resp
    out = [status_line(status)]
    if ctype:
        out += (b"Content-Type: ", ctype, b"\r\n")
    for k, v in headers:
        out += (k, b": ", v, b"\r\n")
    finish_head(out, req, rid, latency_ms, None, conn.server.closing,
                any(k.lower() == b"connection" for k, _v in headers))
    out += (b"Content-Length: %d\r\n\r\n" % len(body), b"" if req.method == "HEAD" else body)
    entry.status = status
    entry.response_headers = headers
    data = b"".join(out)
    entry.bytes_sent = len(data)
    if conn.transport is not None and not conn.closed:
        conn.transport.write(data)
    return None


def plugin_exit(conn: ClientConnection, req: Request, ctx: RequestContext, ran: Sequence[ChainEntry],
                ex: PluginExit, entry: TrafficEntry, latency_ms: float) -> ResponseContext:
    """A plugin's ``PluginExit`` (Kong's ``kong.response.exit``)."""
    h: CIMultiDict[str] = CIMultiDict()
    body = ex.body
    if isinstance(body, dict):
        payload = json.dumps(body, separators=(",", ":")).encode()
        h["Content-Type"] = "application/json; charset=utf-8"
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body or b""
    apply_response_headers(h, ctx._response_headers)
    for k, v in ex.headers.items():
        if isinstance(v, list | tuple):  # one header line per value
            h.popall(k, None)
            h.extend([(k, str(x)) for x in v])
        else:
            h[k] = v
    resp = ResponseContext(ex.status, h, payload)
    response_phases(ctx, ran, resp)
    # a proxied answer (a cache hit) gets the proxied response's latency headers; Kong's
    # waiting time is from the end of access to the header filters: none here
    lat = (latency_ms, 0.0) if ex.proxied else None
    if lat is not None:
        entry.proxy_latency, entry.upstream_latency = lat
    send_buffered(conn, req, resp.status, resp.headers, resp.body or b"", ctx.request_id, latency_ms, entry, lat)
    return resp


# -- a proxied response ---------------------------------------------------------------------------
def relay_head(conn: ClientConnection, req: Request, up: UpstreamConnection, ctx: RequestContext | None,
               ran: Sequence[ChainEntry], phases: int, rid: str, entry: TrafficEntry,
               lat: tuple[float, float]) -> tuple[Any, ResponseContext | None]:
    """Send the upstream's response head (and its body if it is all here already). ``phases``:
    the ``ChainEntry.phases`` of the plugins in ``ran``, OR-ed.

    Returns (sink, resp): the body sink when the body is still to come (None when done, BUFFER
    when a plugin wants the whole body first), and the ``ResponseContext`` the plugins saw."""
    status = up.status
    resp: ResponseContext | None = None
    extra = ctx._response_headers if ctx is not None else None
    rebuild = bool(phases & FILTERS)
    replace = added = None
    if extra and not rebuild:
        # headers the plugins set, no filter to run: splice them into the upstream's lines
        replace = replaced_lines(extra)
        added = header_lines(extra.items()) if replace is not None else None
        rebuild = added is None or not added.isascii()
    if rebuild:
        assert ctx is not None
        if phases & BUFFERS:
            return BUFFER, None
        conn.server.head_rebuilds += 1
        raw = up.raw_head
        chunked_up = TE_CHUNKED_RE.search(raw) is not None
        h = response_multidict(raw)
        apply_response_headers(h, ctx._response_headers)
        resp = ResponseContext(status, h)
        response_phases(ctx, ran, resp)
        status = resp.status
        h = resp.headers
        for name in RESP_HOP_STR:
            if name in h:
                del h[name]
        has_length = "content-length" in h
        lines = header_lines(h.items())
        out = [status_line(status), lines]
        entry.response_headers = logged_head(out[0], lines, h)
    else:
        # no plugin looks at the response: the upstream's header lines pass through as bytes,
        # minus hop-by-hop ones and those the plugins' ``response_headers`` replace
        raw = up.raw_head
        block = raw[raw.find(b"\r\n"):]  # "\r\nName: value..." lines, ending in CRLF
        has_length = False
        chunked_up = False
        found = FRAMING_RE.findall(block)  # one pass for framing and hop-by-hop headers
        if found:
            hop = False
            for bname, value in found:
                n = bname.lower()
                if n == b"content-length":
                    has_length = True
                else:
                    hop = True
                    if n == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked_up = True
            if hop:
                block = HOP_RE.sub(b"", block)
        if replace is not None and added is not None:
            block = replace.sub(b"", block) + added
            out = [status_line(status), block[2:]]
            entry.response_headers = out[0] + out[1]
        else:
            out = [status_line(status), block[2:]]
            entry.response_headers = raw
    entry.status = status
    out.append(b"X-Kong-Upstream-Latency: %d\r\nX-Kong-Proxy-Latency: %d\r\nVia: %s\r\nX-Kong-Request-Id: %s\r\n"
               % (int(lat[1]), int(lat[0]), VIA_VALUE, rid.encode()))
    if not req.keep_alive or conn.server.closing:
        req.keep_alive = False
        out.append(b"Connection: close\r\n")
    elif req.version == "1.0":
        out.append(b"Connection: keep-alive\r\n")
    if req.method == "HEAD" or status in NO_BODY_STATUS or status < 200:
        mode = 0  # no body
    elif has_length and not chunked_up:
        mode = 1  # as framed by Content-Length
    elif req.version == "1.1":
        mode = 2  # re-chunked
        out.append(b"Transfer-Encoding: chunked\r\n")
    else:
        mode = 3  # HTTP/1.0 client: delimited by closing the connection
        req.keep_alive = False
        out.append(b"Connection: close\r\n")
    out.append(b"\r\n")
    transport = conn.transport
    if transport is None or conn.closed:
        raise ConnectionError("client gone")
    write = transport.write
    if up.complete:
        body = up.take_body()
        if mode == 2:
            out.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
        elif mode:
            out.append(body)
        data = b"".join(out)
        entry.bytes_sent = len(data)
        write(data)
        return None, resp
    data = b"".join(out)
    entry.bytes_sent = len(data)  # (the exchange adds the body's bytes when it is relayed)
    write(data)
    return body_sink(write, mode == 2), resp


_REPLACED: dict[tuple[str, ...], re.Pattern[bytes] | None] = {}


def replaced_lines(extra: CIMultiDict[str]) -> re.Pattern[bytes] | None:
    """The upstream's header lines that ``extra``'s names replace (``"\r\nName: value"``), or
    None when one of them frames the body or is hop-by-hop (then the head is rebuilt). One
    pattern per list of names: a plugin sets the same names on every request."""
    key = tuple(extra.keys())
    try:
        return _REPLACED[key]
    except KeyError:
        pass
    names = {k.lower() for k in key}
    pattern = None
    if not names & _FRAMING:
        alternatives = b"|".join(re.escape(n.encode("latin-1", "replace")) for n in sorted(names))
        pattern = re.compile(rb"\r\n(?:%s)[ \t]*:[^\r\n]*" % alternatives, re.IGNORECASE)
    if len(_REPLACED) < 64:
        _REPLACED[key] = pattern
    return pattern


def body_sink(write: Callable[[bytes], Any], chunked: bool) -> Callable[[bytes], Any]:
    if not chunked:
        return write

    def sink(c: bytes) -> None:
        if c:
            write(b"%x\r\n%s\r\n" % (len(c), c))

    sink.chunked = True  # type: ignore[attr-defined]
    return sink
