"""Sending one request, with honest timings.

httpx carries the request; its ``trace`` extension reports the connection's life (connect,
TLS, request written, response headers read, body read), from which the timing breakdown is
built:

* **Connect** — from opening the TCP connection to its being ready. It includes the DNS lookup:
  the transport resolves and connects in one step, so DNS is not reported on its own.
* **TLS** — the handshake (https only).
* **Send** — writing the request line, headers and body.
* **Waiting (TTFB)** — request written → response headers read: the server's think time plus one
  round trip (measured to the end of the headers, the first moment the transport reports).
* **Download** — reading the body.
* **Total** — from ``send`` to the last body byte, including waiting for a pooled connection.

When the pool handed out a connection that was already open, no connect/TLS events happen: the
breakdown says "reused connection" and shows no connect time rather than a made-up zero.

Errors come back as ``SendError`` with a sentence naming the address: "Could not connect to
127.0.0.1:8000: connection refused".
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .. import __version__ as APP_VERSION
from ..controlplanes.transport import describe_transport_error, host_port
from ..errors import AppError
from ..jsontypes import JSONObject
from .request import FORM_TYPE, JSON_TYPE, RequestSpec, encode_form, is_json_type

USER_AGENT = f"konnect-desktop/{APP_VERSION} (request console)"
_SCHEME = re.compile(r"^https?://", re.I)
MAX_BODY = 50 * 1024 * 1024  # a response body beyond this is cut (the console is not a downloader)


class SendError(AppError):
    """The request could not be sent or answered; ``message`` is a sentence for people."""


@dataclass
class Timing:
    total_ms: float | None = None
    queue_ms: float | None = None  # waiting for a connection from the pool
    connect_ms: float | None = None  # DNS + TCP
    tls_ms: float | None = None
    send_ms: float | None = None
    wait_ms: float | None = None  # TTFB: request written → response headers read
    download_ms: float | None = None
    reused: bool | None = None  # True when no new connection was opened
    tls: bool = False
    http_version: str = ""

    def rows(self) -> list[tuple[str, str, str]]:
        """(phase, value, note) for the Timing tab; unmeasured phases say why."""

        def ms(v: float | None) -> str:
            return "—" if v is None else f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s"

        rows = [("Queue", ms(self.queue_ms), "waiting for a free connection in the pool")]
        if self.reused:
            rows.append(("Connect", "—", "reused connection: no DNS lookup, no TCP handshake"))
            rows.append(("TLS", "—", "reused connection: no handshake" if self.tls else "plain HTTP"))
        else:
            rows.append(("Connect", ms(self.connect_ms), "DNS lookup + TCP handshake (not measurable separately)"))
            rows.append(("TLS", ms(self.tls_ms) if self.tls else "—",
                         "TLS handshake" if self.tls else "plain HTTP: no TLS"))
        rows.append(("Send", ms(self.send_ms), "request line, headers and body written"))
        rows.append(("Waiting (TTFB)", ms(self.wait_ms), "request written → response headers read"))
        rows.append(("Download", ms(self.download_ms), "response body read"))
        rows.append(("Total", ms(self.total_ms), "send → last byte"))
        return rows

    def to_dict(self) -> JSONObject:
        return {k: getattr(self, k) for k in ("total_ms", "queue_ms", "connect_ms", "tls_ms", "send_ms",
                                               "wait_ms", "download_ms", "reused", "tls", "http_version")}


@dataclass
class Exchange:
    """One request as sent and the response as received."""

    request: RequestSpec  # resolved: what was sent
    sent_headers: list[tuple[str, str]]  # exactly as written on the wire (httpx's own included)
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes
    timing: Timing
    started_at: float  # Unix seconds
    remote: str | None = None  # peer address actually contacted
    wire_bytes: int | None = None  # body bytes as transferred (before decompression)
    truncated: bool = False
    extra: JSONObject = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @property
    def request_id(self) -> str | None:
        return self.header("x-kong-request-id")

    @property
    def size(self) -> int:
        return len(self.body)

    def text(self) -> str:
        charset = "utf-8"
        ct = self.header("content-type") or ""
        for part in ct.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")

    def pretty(self) -> str:
        """JSON bodies indented; anything else as text."""
        text = self.text()
        if is_json_type(self.header("content-type")) or text[:1] in "[{":
            try:
                return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        return text

    def status_line(self) -> str:
        t = self.timing
        total = "" if t.total_ms is None else f" · {t.total_ms:.1f} ms"
        conn = " · reused conn" if t.reused else " · new conn" if t.reused is False else ""
        return f"{self.status} {self.reason}{total} · {fmt_size(self.size)}{conn}"


def fmt_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def describe_send_error(exc: BaseException, url: str, timeout: float) -> str:
    """A sentence for what went wrong sending to ``url`` (``controlplanes.transport`` words it)."""
    return describe_transport_error(exc, host_port(url), url=url, timeout=timeout)


def _read_files(spec: RequestSpec) -> list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]]:
    parts: list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]] = []
    for f in spec.form:
        if f.file:
            p = Path(os.path.expanduser(f.value))
            try:
                data = p.read_bytes()
            except OSError as exc:
                raise SendError(f"The file “{f.value}” for form field “{f.name}” could not be read: {exc.strerror or exc}.") from None
            parts.append((f.name, (p.name, data, "application/octet-stream")))
        else:
            parts.append((f.name, (None, f.value.encode())))
    return parts


async def build_request(client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    """The httpx request for ``spec`` (files read in a worker thread; the Auth tab applied)."""
    r = spec.canonical().applied()
    if not _SCHEME.match(r.url):
        hint = f" Did you mean http://{r.url}?" if r.url and "://" not in r.url else ""
        raise SendError(f"The URL must start with http:// or https:// (got “{r.url}”).{hint}")
    headers = list(r.headers)
    names = {k.lower() for k, _ in headers}
    content: bytes | None = None
    files: list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]] | None = None
    if r.body_kind == "json":
        content = r.body.encode()
        if "content-type" not in names:
            headers.append(("Content-Type", JSON_TYPE))
        if "accept" not in names:
            headers.append(("Accept", JSON_TYPE))
    elif r.body_kind == "raw":
        content = r.body.encode()
    elif r.body_kind == "form":
        content = encode_form([(f.name, f.value) for f in r.form]).encode()
        if "content-type" not in names:
            headers.append(("Content-Type", FORM_TYPE))
    elif r.body_kind == "multipart":
        files = await asyncio.to_thread(_read_files, r)
        # the boundary must come from the encoder: drop a bare type the user typed
        headers = [(k, v) for k, v in headers if not (k.lower() == "content-type" and "boundary=" not in v)]
    if "user-agent" not in names:
        headers.append(("User-Agent", USER_AGENT))
    try:
        return client.build_request(r.method, r.url, headers=headers, content=content, files=files)
    except SendError:
        raise
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, UnicodeEncodeError) as exc:
        # worded by the one place that words transport errors; httpx reports a missing scheme,
        # and some bad URLs, as other errors: name them for what they are first
        problem: Exception = exc
        if r.url and "://" not in r.url:
            problem = httpx.UnsupportedProtocol(str(exc))
        elif not isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeEncodeError)):
            problem = httpx.InvalidURL(str(exc))
        raise SendError(describe_transport_error(problem, host_port(r.url), url=r.url)) from None


class Sender:
    """Sends console requests over one pooled client (so connections are reused, as a real
    client would)."""

    def __init__(self, timeout: float = 30.0, verify: bool = True, max_connections: int = 100) -> None:
        self.timeout = timeout
        self.verify = verify
        self._client: httpx.AsyncClient | None = None
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                verify=self.verify, follow_redirects=False, limits=self._limits, trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, spec: RequestSpec, *, read_body: bool = True,
                   on_event: Callable[[str], None] | None = None) -> Exchange:
        client = self.client
        req = await build_request(client, spec)
        marks: dict[str, float] = {}

        async def trace(name: str, info: dict[str, object]) -> None:  # httpcore's trace hook
            # names look like "connection.connect_tcp.started", "http11.receive_response_headers.complete"
            parts = name.split(".")
            if len(parts) >= 3:
                key = f"{parts[-2]}.{parts[-1]}"
                marks.setdefault(key, time.perf_counter())
                if parts[0] in ("http11", "http2"):
                    marks.setdefault("proto", 1.0 if parts[0] == "http11" else 2.0)
            if on_event is not None:
                on_event(name)

        req.extensions["trace"] = trace
        started_at = time.time()
        t0 = time.perf_counter()
        remote: str | None = None
        try:
            resp = await client.send(req, stream=True)
            try:
                stream = resp.extensions.get("network_stream")
                if stream is not None:
                    addr = stream.get_extra_info("server_addr")
                    if isinstance(addr, tuple) and len(addr) >= 2:
                        remote = f"{addr[0]}:{addr[1]}"
                body = b""
                truncated = False
                if read_body:
                    chunks = []
                    n = 0
                    async for chunk in resp.aiter_bytes():
                        n += len(chunk)
                        if n > MAX_BODY:
                            truncated = True
                            break
                        chunks.append(chunk)
                    body = b"".join(chunks)
                t_end = time.perf_counter()
            finally:
                await resp.aclose()
        except asyncio.CancelledError:
            raise
        except SendError:
            raise
        except (httpx.HTTPError, OSError, ssl.SSLError, UnicodeEncodeError) as exc:
            raise SendError(describe_send_error(exc, str(req.url), self.timeout)) from None

        def span(a: str, b: str) -> float | None:
            if a in marks and b in marks:
                return (marks[b] - marks[a]) * 1000
            return None

        timing = Timing()
        timing.total_ms = (t_end - t0) * 1000
        connected = "connect_tcp.started" in marks
        timing.reused = not connected
        timing.tls = req.url.scheme == "https"
        timing.connect_ms = span("connect_tcp.started", "connect_tcp.complete")
        timing.tls_ms = span("start_tls.started", "start_tls.complete")
        first = marks.get("connect_tcp.started", marks.get("send_request_headers.started"))
        timing.queue_ms = (first - t0) * 1000 if first is not None else None
        sent = marks.get("send_request_body.complete", marks.get("send_request_headers.complete"))
        if "send_request_headers.started" in marks and sent is not None:
            timing.send_ms = (sent - marks["send_request_headers.started"]) * 1000
        if sent is not None and "receive_response_headers.complete" in marks:
            timing.wait_ms = (marks["receive_response_headers.complete"] - sent) * 1000
        if "receive_response_headers.complete" in marks and read_body:
            timing.download_ms = (t_end - marks["receive_response_headers.complete"]) * 1000
        timing.http_version = resp.http_version
        sent_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers.raw]
        resolved = spec.canonical()
        return Exchange(
            request=resolved,
            sent_headers=sent_headers,
            status=resp.status_code,
            reason=resp.reason_phrase,
            http_version=resp.http_version,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw],
            body=body,
            timing=timing,
            started_at=started_at,
            remote=remote,
            wire_bytes=resp.num_bytes_downloaded if read_body else None,
            truncated=truncated,
            extra={"url": str(req.url)},
        )
