"""What went wrong on the wire, in one sentence: the one place an httpx transport error (and the
OS, DNS or TLS error under it) is put into words.

The control plane clients (``kong_admin``) and the request console (``console/sender.py``) both
say it this way; the GUI's error panel may too (it sits above this layer). The sentence names
where the request went (``host:port``) and never quotes a secret (``credentials.mask_text``).
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import httpx

from ..credentials import mask_text

_CHAIN_MAX = 10  # an exception chain is followed this far (chains can loop)


def host_port(url: str) -> str:
    """``host:port`` of a URL, with the scheme's default port filled in ("127.0.0.1:8000")."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    host = parts.hostname or ""
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or during, outermost first."""
    out = [exc]
    node = exc.__cause__ or exc.__context__
    while node is not None and node not in out and len(out) < _CHAIN_MAX:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def is_tls_failure(exc: BaseException) -> bool:
    """The connection failed in the TLS handshake (certificate, protocol)."""
    return any(isinstance(e, ssl.SSLError) for e in exception_chain(exc))


def _connect_reason(exc: BaseException, where: str) -> str:
    chain = exception_chain(exc)
    for e in chain:
        text = str(e).lower()
        if isinstance(e, ConnectionRefusedError) or "refused" in text:
            return f"Could not connect to {where}: connection refused"
        if isinstance(e, socket.gaierror) or "name or service not known" in text or "nodename nor servname" in text:
            host = where.rsplit(":", 1)[0]
            return f"Could not connect to {where}: the host name “{host}” could not be resolved"
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake with {where} failed: {getattr(e, 'reason', None) or e}"
    for e in reversed(chain):  # the innermost error usually says the most
        if str(e).strip():
            return f"Could not connect to {where}: {str(e).strip()}"
    return f"Could not connect to {where}: {type(exc).__name__}"


def _within(timeout: float | None) -> str:
    return f"within {timeout:g} s" if timeout is not None else "in time"


def describe_transport_error(exc: BaseException, where: str, *, url: str = "", timeout: float | None = None) -> str:
    """A sentence for a request to ``where`` (``host:port``) that failed below HTTP; ``url`` is
    quoted only when the URL itself is the problem, ``timeout`` (seconds) when time ran out."""
    if isinstance(exc, httpx.UnsupportedProtocol):
        text = f"The URL must start with http:// or https:// (got “{url}”)."
    elif isinstance(exc, httpx.InvalidURL):
        text = f"The URL “{url}” is not valid: {exc}."
    elif isinstance(exc, httpx.ConnectTimeout):
        text = f"Could not connect to {where}: no answer {_within(timeout)}."
    elif isinstance(exc, httpx.ReadTimeout):
        text = f"{where} accepted the request but sent no response {_within(timeout)}."
    elif isinstance(exc, httpx.WriteTimeout):
        text = f"Could not send the request to {where} {_within(timeout)}."
    elif isinstance(exc, httpx.PoolTimeout):
        text = f"No free connection to {where} {_within(timeout)}."
    elif isinstance(exc, httpx.ConnectError):
        text = _connect_reason(exc, where)
    elif isinstance(exc, httpx.RemoteProtocolError):
        text = f"{where} closed the connection or did not answer with HTTP: {exc}"
    elif isinstance(exc, httpx.LocalProtocolError):
        text = f"The request is not valid HTTP: {exc}"
    elif isinstance(exc, httpx.DecodingError):
        text = f"The response from {where} could not be decoded: {exc}"
    elif isinstance(exc, UnicodeEncodeError):
        text = "Header names and values must be plain ASCII text (or latin-1)."
    else:
        text = f"Sending to {where} failed: {str(exc) or type(exc).__name__}"
    return mask_text(text)


__all__ = ["describe_transport_error", "exception_chain", "host_port", "is_tls_failure"]
