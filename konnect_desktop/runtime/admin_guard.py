"""Who may use the local Admin API: the bind rule, the Host and Origin checks, CORS answers.

The local runtime runs on a workstation next to a web browser, not on a server behind a firewall,
so the Admin API defends itself against the two ways a web page reaches a loopback service:

* **DNS rebinding**: a page on ``evil.example`` re-points its own name at 127.0.0.1 and calls
  ``http://evil.example:8001/``; the browser treats that as same-origin. The request still says
  ``Host: evil.example``, so only requests whose Host is a loopback name or address, the address
  the API is bound to, or a name the user allowed (``--admin-allow-host``) are served. An IP
  literal can never be re-pointed, so when the API listens on every interface (``0.0.0.0``,
  ``::``, token required) any IP literal is accepted as "the bound address".
* **CSRF**: any page may send a "simple" cross-origin request (``text/plain``, form or multipart
  body) without a preflight. Browsers mark such requests with ``Origin`` (and
  ``Sec-Fetch-Site``); clients that are not browsers (curl, decK, aio-kong, our own CLI and GUI)
  send neither. So a request carrying an ``Origin`` the user did not allow
  (``--admin-allow-origin``), or marked cross-site by the browser, is refused whatever its
  content type.

Kong itself answers every origin with ``Access-Control-Allow-Origin`` (``*`` without
``admin_gui_url``, see Kong's ``spec/02-integration/04-admin_api/23-cors_spec.lua``). We
deliberately send no CORS headers unless the user allowed an origin; then preflights and
responses carry that origin only.

Binding: anything but loopback needs an admin token (``check_bind``); the runtime calls it before
it opens a socket.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import AppError

TOKEN_HEADER = "Kong-Admin-Token"
TOKEN_ENV = "KONG_ADMIN_TOKEN"  # the same variable the CLI sends to remote Admin APIs
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class UnsafeBindError(AppError, ValueError):
    """The Admin API was asked to listen beyond loopback without a token."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bare(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


def is_loopback(host: str | None) -> bool:
    """``localhost`` (and names under ``.localhost``, RFC 6761) or an address in 127/8 or ::1."""
    if not host:
        return False
    h = _bare(host)
    if h in LOOPBACK_NAMES or h.endswith(".localhost"):
        return True
    ip = _ip(h)
    return ip is not None and ip.is_loopback


def require_token_for(host: str | None) -> bool:
    """Whether binding the Admin API on ``host`` needs an admin token: anything but loopback.

    An empty host, ``0.0.0.0`` or ``::`` listen on every interface, so they need one too.
    """
    return not is_loopback(host)


def check_bind(host: str | None, admin_token: str | None) -> None:
    """Raise ``UnsafeBindError`` if the Admin API may not listen on ``host`` without a token."""
    if require_token_for(host) and not admin_token:
        where = f"{host or '*'} (every interface)" if _bare(host or "") in _WILDCARDS else host
        raise UnsafeBindError(
            f"refusing to expose the Admin API on {where} without an admin token: anyone who can "
            f"reach this machine could read and replace the gateway's configuration. Listen on "
            f"127.0.0.1 (the default), or set a token with --admin-token-file PATH or the {TOKEN_ENV} "
            f"environment variable (LocalRuntime: admin_token=...); clients then send it in the "
            f"{TOKEN_HEADER} header."
        )


def check_portal_bind(host: str | None, admin_token: str | None) -> None:
    """The Dev Portal follows the Admin API's rule: beyond loopback only on a runtime that has an
    admin token (the operator decided the machine is reachable on purpose)."""
    if require_token_for(host) and not admin_token:
        raise UnsafeBindError(
            f"refusing to expose the Dev Portal on {host or '*'} without an admin token: its pages "
            f"hand out API keys. Listen on 127.0.0.1 (the default), or set a token with "
            f"--admin-token-file PATH or the {TOKEN_ENV} environment variable.")


def split_host_header(value: str) -> str:
    """The host part of a ``Host`` header (port and IPv6 brackets removed), lower-cased, without
    a trailing dot."""
    v = value.strip()
    if v.startswith("["):
        end = v.find("]")
        return _bare(v[1:end] if end > 0 else v[1:])
    host, sep, port = v.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        v = host
    return _bare(v)


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True)
class AdminAccess:
    """What the Admin API accepts besides loopback clients that send no ``Origin``.

    ``listen_host``: the address it is bound to; ``allow_hosts``: extra ``Host`` names (``*`` =
    any); ``allow_origins``: browser origins allowed to call it (``*`` = any), which also turns
    on CORS answers for them.
    """

    listen_host: str | None = "127.0.0.1"
    allow_hosts: frozenset[str] = frozenset()
    allow_origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, listen_host: str | None = "127.0.0.1", allow_hosts: Iterable[str] = (),
           allow_origins: Iterable[str] = ()) -> AdminAccess:
        return cls(listen_host, frozenset(_bare(h) if h.strip() != "*" else "*" for h in allow_hosts if h.strip()),
                   frozenset(_origin_key(o) for o in allow_origins if o.strip()))

    def host_allowed(self, host_header: str | None) -> bool:
        """Is a request with this ``Host`` header for us (and not a rebound foreign name)?"""
        if host_header is None:
            return True  # HTTP/1.0 clients; browsers always send Host
        if "*" in self.allow_hosts:
            return True
        h = split_host_header(host_header)
        if is_loopback(h) or h in self.allow_hosts:
            return True
        ip = _ip(h)
        if ip is None:
            return False
        listen = _bare(self.listen_host or "")
        if listen in _WILDCARDS:
            return True  # bound everywhere (token required): an IP literal is never rebound
        listen_ip = _ip(listen)
        return listen_ip is not None and listen_ip == ip

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or _origin_key(origin) in self.allow_origins

    def refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why a request with these headers is refused (a message naming the fix), or None."""
        host = headers.get("Host")
        if not self.host_allowed(host):
            name = split_host_header(host or "")
            return (f"Host '{name}' is not allowed on this Admin API (it only answers to loopback "
                    f"names and its own address); to allow it, start with --admin-allow-host {name}")
        origin = headers.get("Origin")
        if origin is not None:
            if not self.origin_allowed(origin):
                return (f"cross-origin request from '{origin}' refused; to allow a web page to use "
                        f"this Admin API, start with --admin-allow-origin {origin}")
            return None
        if (headers.get("Sec-Fetch-Site") or "").lower() in ("cross-site", "same-site"):
            return "cross-site browser request refused"
        return None

    def cors_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """``Access-Control-Allow-Origin`` for an allowed ``Origin`` (nothing otherwise)."""
        origin = headers.get("Origin")
        if origin is None or not self.allow_origins or not self.origin_allowed(origin):
            return {}
        return {"Access-Control-Allow-Origin": origin.strip(), "Vary": "Origin"}

    def preflight_headers(self, headers: Mapping[str, str], allowed_methods: str) -> dict[str, str]:
        """A preflight's answer for an allowed ``Origin``: methods of the path, the headers asked
        for (Kong echoes ``Access-Control-Request-Headers``), cached for an hour."""
        out = self.cors_headers(headers)
        if not out:
            return out
        out["Access-Control-Allow-Methods"] = allowed_methods
        out["Access-Control-Allow-Headers"] = (headers.get("Access-Control-Request-Headers")
                                               or f"Content-Type, {TOKEN_HEADER}")
        out["Access-Control-Max-Age"] = "3600"
        return out


# -- tokens ---------------------------------------------------------------------------------------
class TokenFileError(AppError, ValueError):
    """The token file cannot be used (missing, empty, or readable by others)."""


def read_token_file(path: str | Path) -> str:
    """The admin token in ``path`` (first line, surrounding whitespace removed).

    On POSIX the file must not be readable or writable by the group or others: a token others can
    read protects nothing, so say so and how to fix it.
    """
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenFileError(f"cannot read the admin token file {p}: {exc.strerror or exc}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"the admin token file {p} is readable by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"make it private: chmod 600 {p}")
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise TokenFileError(f"the admin token file {p} is empty")
    return token


__all__ = [
    "AdminAccess", "UnsafeBindError", "TokenFileError", "check_bind", "check_portal_bind", "require_token_for", "is_loopback",
    "read_token_file", "split_host_header", "TOKEN_ENV", "TOKEN_HEADER",
]
