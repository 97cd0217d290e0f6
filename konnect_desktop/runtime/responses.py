"""What the proxy says itself, and the headers it adds: Kong's local responses and forwarding.

* Kong's own answers (kong/runloop/handler.lua, kong/error_handlers.lua): 404 no route, 426 /
  30x for https-only routes, 502/503/504 when the upstream fails, nginx's refusals (400, 408,
  413, 414, 431) — ``ProxyExit`` carries one through the exchange, ``refusal`` writes one that
  ends the connection.
* The forwarding headers Kong sends upstream (X-Forwarded-*, X-Real-IP, Via,
  X-Kong-Request-Id) and its response headers (X-Kong-*-Latency, Via, Server).
* Small byte-level helpers shared by the connection and the exchange: status lines, header
  lines, the response head as the traffic log keeps it, and ``ServiceParams`` (what an
  upstream call needs from a service, computed once per snapshot).
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any, NamedTuple

from multidict import CIMultiDict

from ..errors import AppError
from ..model.kong_compat import KONG_VERSION
from .echo import ECHO_HOST

SERVER = f"kong/{KONG_VERSION}".encode()
VIA_VALUE = f"1.1 kong/{KONG_VERSION}".encode()

MSG_NO_ROUTE = "no Route matched with those values"
MSG_TIMEOUT = "The upstream server is timing out"
MSG_BAD_GATEWAY = "An invalid response was received from the upstream server"
MSG_UNEXPECTED = "An unexpected error occurred"
MSG_NO_PEER = "failure to get a peer from the ring-balancer"
MSG_NAME_RESOLUTION = "name resolution failed"
MSG_NO_SERVICE = "no Service found with those values"
# nginx's answers to a request it will not pass to Kong, with the bodies Kong's error handler
# gives them (kong/error_handlers.lua)
MSG_BAD_REQUEST = "Bad request"
MSG_HEADER_TIMEOUT = "Request timeout"
MSG_TOO_LARGE = "Payload too large"
MSG_HEAD_TOO_LARGE = "Request Header Fields Too Large"

# request headers the proxy never forwards as received (hop-by-hop, framing, or rewritten)
REQ_DROP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"expect", b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-path", b"x-forwarded-prefix",
    b"x-real-ip", b"via", b"x-kong-request-id",
})
REQ_DROP_STR = frozenset(x.decode() for x in REQ_DROP)
# the same names for a case-insensitive test without lower-casing each name (``in`` on it is
# one C lookup): filters a plugin-edited header table
REQ_DROP_CI: CIMultiDict[str] = CIMultiDict((n, "") for n in sorted(REQ_DROP_STR))
# response headers not passed to the client as received
RESP_HOP_STR = frozenset({"connection", "keep-alive", "proxy-connection", "trailer", "upgrade", "transfer-encoding"})
NO_BODY_STATUS = frozenset({204, 304})
HOP_RE = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|trailer|upgrade|transfer-encoding)[ \t]*:[^\r\n]*",
                    re.IGNORECASE)
FRAMING_RE = re.compile(
    rb"\r\n(content-length|connection|keep-alive|proxy-connection|trailer|upgrade|transfer-encoding)[ \t]*:([^\r\n]*)",
    re.IGNORECASE)
TE_CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)

_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())
        _STATUS_LINES[status] = line
    return line


def enc(s: str) -> bytes:
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def dec(b: bytes) -> str:
    return b.decode("latin-1")


def split_host(host: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) → (host, port or None)."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:]
        return host[: end + 1], int(rest[1:]) if rest[1:].isdigit() else None
    h, sep, p = host.rpartition(":")
    if sep and p.isdigit() and ":" not in h:
        return h, int(p)
    return host, None


# -- answers ----------------------------------------------------------------------------------
class ProxyExit(AppError):
    """Answer the client with a response of the proxy's own (404, 502, 504, …): ``message`` is
    the sentence of Kong's JSON body."""

    status: int

    def __init__(self, status: int, message: str, error: str, headers: list[tuple[bytes, bytes]] | None = None,
                 body: bytes | None = None, source: str = "error") -> None:
        super().__init__(message)
        # the log's ``source`` (kong.response.get_source): "exit" for Kong's deliberate answers
        # (kong.response.error / exit: no route, no service, https only), "error" for failures
        # (an upstream error, a plugin error, nginx's refusals: Kong.handle_error)
        self.source = source
        self.status = status
        self.error = error  # why, for the traffic log
        self.headers = headers or []
        self.body = body  # None: Kong's JSON ``{"message", "request_id"}``


def refusal(status: int, message: str) -> bytes:
    """A complete response that ends the connection (the client sent something unusable)."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return b"%sContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nServer: %s\r\n" \
           b"Connection: close\r\n\r\n%s" % (status_line(status), len(body), SERVER, body)


def https_redirect(status: int, host: str, target: str) -> ProxyExit:
    """An https-only route reached over http: 426, or a redirect to the https URL."""
    if status == 426:
        return ProxyExit(426, "Please use HTTPS protocol", "https required",
                         [(b"Connection", b"Upgrade"), (b"Upgrade", b"TLS/1.2, HTTP/1.1")], source="exit")
    h, _p = split_host(host)
    return ProxyExit(status, "", "https redirect", [(b"Location", enc(f"https://{h}{target}"))], body=b"",
                     source="exit")


def no_route() -> ProxyExit:
    return ProxyExit(404, MSG_NO_ROUTE, "no route", source="exit")


def no_service() -> ProxyExit:
    return ProxyExit(503, MSG_NO_SERVICE, "route without service", source="exit")


def too_large() -> ProxyExit:
    return ProxyExit(413, MSG_TOO_LARGE, "request body over client_max_body_size")


def kong_json(message: str, rid: str) -> bytes:
    return json.dumps({"message": message, "request_id": rid}, separators=(",", ":")).encode()


# -- headers ----------------------------------------------------------------------------------
def forwarding_headers(fwd_cache: dict[str, bytes], ip_bytes: bytes, xff_via_line: bytes, port: int,
                       xff: bytes | None, via: bytes | None, host_header: str, path: str,
                       prefix: str | None, rid: str, scheme: str = "http") -> list[bytes]:
    """X-Forwarded-*, X-Real-IP, X-Kong-Request-Id and Via for the upstream request.

    ``fwd_cache`` (per client connection) keeps the lines that are the same for every request
    of the connection and Host."""
    static = fwd_cache.get(host_header)
    if static is None:
        h, _p = split_host(host_header)
        static = b"X-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\nX-Forwarded-Port: %d\r\nX-Real-IP: %s\r\n" % (
            scheme.encode(), enc(h), port, ip_bytes)
        if len(fwd_cache) < 8:
            fwd_cache[host_header] = static
    if xff is None and via is None:
        first = xff_via_line
    else:
        first = b"X-Forwarded-For: %s\r\nVia: %s\r\n" % (ip_bytes if xff is None else xff + b", " + ip_bytes,
                                                          VIA_VALUE if via is None else via + b", " + VIA_VALUE)
    out = [first, static, b"X-Forwarded-Path: ", enc(path), b"\r\nX-Kong-Request-Id: ", rid.encode(), b"\r\n"]
    if prefix:
        out += (b"X-Forwarded-Prefix: ", enc(prefix), b"\r\n")
    return out


def header_lines(items: Any) -> bytes:
    """``Name: value`` lines (CRLF-terminated) as bytes; latin-1, or UTF-8 where it must.
    ``items``: (name, value) pairs, iterable twice (a list, a multidict's ``items()``)."""
    try:
        # joined in C (no f-string per line): half the time of formatting each pair
        text = "\r\n".join(map(": ".join, items))
    except TypeError:  # a value that is not a str (a plugin's number): formatted
        text = "\r\n".join([f"{k}: {v}" for k, v in items])
    if not text:
        return b""
    text += "\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def logged_head(status_line_: bytes, lines: bytes, headers: CIMultiDict[str]) -> Any:
    """The response head as the traffic log keeps it: one bytes block (status line + header
    lines, split only when a reader asks), like the raw head of a response passed through.
    (A list of pairs per entry would be a dozen tracked objects per request kept until the ring
    evicts it.) Non-ASCII values keep the pairs, so nothing is shown decoded differently."""
    return status_line_ + lines if lines.isascii() else list(headers.items())


def response_multidict(raw_head: bytes) -> CIMultiDict[str]:
    """The upstream's response headers (minus hop-by-hop ones) for plugins' header filters."""
    pairs = []
    for line in raw_head.decode("latin-1").split("\r\n")[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        k = k.strip()
        if k.lower() not in RESP_HOP_STR:
            pairs.append((k, v.strip()))
    return CIMultiDict(pairs)


def parse_header_block(block: bytes) -> list[tuple[str, str]]:
    out = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        k, _, v = line.partition(b":")
        out.append((dec(k), dec(v.strip())))
    return out


def apply_response_headers(h: CIMultiDict[str], extra: CIMultiDict[str] | None) -> None:
    """Headers plugins asked to add to the client response (``ctx.response_headers``) replace
    the same names."""
    if extra:
        for k in set(extra.keys()):
            h.popall(k, None)
        h.extend(extra)


# -- services ---------------------------------------------------------------------------------
class ServiceParams(NamedTuple):
    """What the upstream call needs from a service (computed once per snapshot)."""

    host: str
    port: int
    host_line: str  # the Host header sent upstream (host, plus the port when not the default)
    connect_timeout: float  # seconds
    read_timeout: float
    write_timeout: float
    tries: int  # 1 + retries
    host_line_b: bytes
    tls: Any  # None: plain http; else the service's upstream TLS settings (runtime/upstream_tls.py)
    echo: bool  # the in-process echo upstream

    @classmethod
    def of(cls, service: dict[str, Any], tls: Any = None) -> ServiceParams:
        ms = 1 / 1000.0
        retries = service.get("retries")
        host_line = service_host(service)
        host = service.get("host") or ""
        return cls(host, service.get("port") or 80, host_line,
                   (service.get("connect_timeout") or 60000) * ms,
                   (service.get("read_timeout") or 60000) * ms,
                   (service.get("write_timeout") or 60000) * ms,
                   (5 if retries is None else retries) + 1,
                   enc(host_line),
                   ((tls if tls is not None else bool(service.get("tls_verify")))
                    if service.get("protocol") in ("https", "grpcs", "tls") else None),
                   host == ECHO_HOST)


def service_host(service: dict[str, Any]) -> str:
    host = service.get("host") or ""
    port = service.get("port")
    proto = service.get("protocol") or "http"
    default = 443 if proto in ("https", "grpcs", "wss", "tls") else 80
    if port and port != default and host != ECHO_HOST:
        return f"{host}:{port}"
    return host


def service_params(cache: dict[Any, Any], service: dict[str, Any],
                   upstream_tls: dict[str, Any] | None = None) -> ServiceParams:
    """``ServiceParams`` of ``service``, memoised in the snapshot's ``cache``; ``upstream_tls``
    (the snapshot's, by service id) gives an HTTPS service its TLS settings."""
    sid = service["id"]
    p = cache.get(sid)
    if p is None:
        p = cache[sid] = ServiceParams.of(service, upstream_tls.get(sid) if upstream_tls else None)
    return p
