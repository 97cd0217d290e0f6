"""Access logs: one line per proxied request (a traffic-log subscriber), Admin API calls at debug.

The proxy's line is nginx's ``combined`` format, then Kong's request id and latencies (the
numbers Kong sends as ``X-Kong-Proxy-Latency`` / ``X-Kong-Upstream-Latency`` and logs as
``latencies.kong`` / ``latencies.proxy`` / ``latencies.request``), in milliseconds::

    127.0.0.1 - - [04/Dec/2026:16:41:44 +0000] "GET /echo?apikey=**** HTTP/1.1" 200 312 "-" "curl/8.5.0" kong_request_id: "8f…" latencies: kong=0.41 upstream=1.20 request=1.75

``$remote_user`` is always ``-`` (it would print a Basic-auth user name) and secret query values
are masked. Lines are built and queued inside the traffic log's callback and written once per
loop iteration, so the proxy never waits on the file.

``AdminAccessLogger`` is aiohttp's access-logger hook for the Admin API: method, path (masked),
status and time at DEBUG on ``konnect_desktop.admin``, so ``--log-level debug`` shows them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..credentials import mask_query, mask_secrets, mask_text
from .traffic import TrafficEntry, TrafficLog, _headers, _s

ADMIN_LOGGER = "konnect_desktop.admin"


def _quote(value: str | None) -> str:
    """An nginx-escaped quoted field: ``"`` and control bytes as ``\\xHH``, empty as ``-``."""
    if not value:
        return "-"
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c) & 0xFF:02X}" for c in value)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


_last_second: list[Any] = [None, ""]  # nginx's $time_local has a one-second resolution: format once


def _time_local(t: float) -> str:
    sec = int(t)
    if _last_second[0] != sec:
        _last_second[:] = [sec, time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(sec))]
    text: str = _last_second[1]
    return text


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


def _request_fields(headers: Any) -> tuple[str | None, str | None]:
    """(Referer, User-Agent) of the request's headers, without building the whole list."""
    referer = agent = None
    if headers is None:
        return None, None
    pairs = headers.items() if hasattr(headers, "items") else headers
    if isinstance(pairs, bytes | bytearray):
        pairs = _headers(pairs)
    for name, value in pairs:
        n = name.lower()
        if n in (b"referer", "referer"):
            referer = _s(value)
        elif n in (b"user-agent", "user-agent"):
            agent = _s(value)
    return referer, agent


def _body_bytes(headers: Any) -> str:
    """The response's Content-Length, ``-`` when it has none (chunked, or no response)."""
    if headers is None:
        return "-"
    if isinstance(headers, bytes | bytearray):  # the raw head block the proxy keeps
        m = _CONTENT_LENGTH.search(headers)
        return m.group(1).decode() if m else "-"
    for name, value in (headers.items() if hasattr(headers, "items") else headers):
        if _s(name).lower() == "content-length":
            return _s(value).strip()
    return "-"


def format_line(entry: TrafficEntry) -> str:
    """One access-log line for ``entry`` (secrets masked). Runs once per request: it looks only
    at the few fields it prints."""
    referer, agent = _request_fields(entry.request_headers)
    path = entry.raw_path
    if "=" in path:
        path = mask_query(path)
    request = mask_text(f"{entry.method} {path} HTTP/1.1")
    return (
        f'{entry.client_ip or "-"} - - [{_time_local(entry.time)}] "{_quote(request)}" '
        f'{entry.status} {_body_bytes(entry.response_headers)} "{_quote(mask_secrets(referer) if referer else None)}" '
        f'"{_quote(agent)}" kong_request_id: "{entry.request_id}" '
        f"latencies: kong={_ms(entry.proxy_latency)} upstream={_ms(entry.upstream_latency)} "
        f"request={_ms(entry.total_latency)}"
        + (f' warning: "{_quote(entry.host_note)}"' if entry.host_note else "")
    )


class AccessLog:
    """Writes a line per entry recorded in ``traffic`` to ``stream``; ``close()`` unsubscribes
    and writes what is still queued."""

    def __init__(self, traffic: TrafficLog, stream: IO[str],
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.stream = stream
        self.loop = loop or asyncio.get_running_loop()
        self._pending: list[str] = []
        self._scheduled = False
        self.lines = 0
        self._remove: Callable[[], None] | None = traffic.add_listener(self._on_entry)

    def _on_entry(self, entry: TrafficEntry) -> None:
        self._pending.append(format_line(entry))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
            self.lines += len(lines)
        except (OSError, ValueError) as exc:  # a closed pipe must not stop the gateway
            logging.getLogger(__name__).warning("access log not written: %s", exc)

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
        self.flush()


class AdminAccessLogger(AbstractAccessLogger):
    """aiohttp access logger for the Admin API: one DEBUG line per request, secrets masked."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("admin %s %s -> %s in %.1f ms from %s", request.method,
                          mask_secrets(request.path_qs), response.status, time * 1000.0, request.remote)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)
