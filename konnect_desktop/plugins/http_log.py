"""http-log: send each request's log record to an HTTP server (Kong's plugin, PRIORITY 12).

The log phase serializes the request (``log_serializer``, Kong's JSON record) and appends it to
a Kong queue (``log_queue``); the queue's task POSTs (or PUTs/PATCHes) batches to
``http_endpoint`` off the request path. With ``queue.max_batch_size`` 1 the body is the record
itself, otherwise a JSON array of records. User info in the endpoint becomes a Basic
``Authorization`` header; ``headers`` are added without overriding ``Content-Type``,
``Content-Length`` or that ``Authorization``.

Instances with the same endpoint, method, content type, timeout, keepalive and retry_count share
one queue (Kong's ``make_queue_name``, which leaves ``queue_size`` and ``flush_timeout`` out).
``custom_fields_by_lua`` is Lua: accepted and stored, not run (the decision says so).
"""

from __future__ import annotations

import base64
import logging
from typing import Unpack
from urllib.parse import urlsplit

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Field, FieldOptions, Integer, Map, Number, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .http_client import SharedSession
from .http_util import header_name_error, url_error, url_userinfo
from .log_queue import QueueRegistry, queue_params
from .log_serializer import LUA_NOT_RUN, encode, serialize

log = logging.getLogger(__name__)

NAME = "http-log"
PRIORITY = 12

_FORBIDDEN_HEADERS = {"host": "Host", "content-length": "Content-Length", "content-type": "Content-Type"}


def _header_key_error(name: object) -> str | None:
    # Kong's match_none patterns come before typedefs.header_name's own check
    if isinstance(name, str) and name.lower() in _FORBIDDEN_HEADERS:
        return f"cannot contain '{_FORBIDDEN_HEADERS[name.lower()]}' header"
    return header_name_error(name)


def _no_double_auth(config: JSONObject) -> str | None:
    endpoint = config.get("http_endpoint")
    headers = config.get("headers")
    if isinstance(endpoint, str) and url_userinfo(endpoint) and isinstance(headers, dict):
        if any(k.lower() == "authorization" for k in headers):
            return "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"
    return None


def _url(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("custom", url_error)
    kw.setdefault("description", "A URL (scheme, host, optional port and path).")
    return String(**kw)


CONFIG = Record(
    [
        ("http_endpoint", _url(required=True, description="The HTTP URL the log records are sent to (user info in it becomes Basic authentication).")),
        ("method", String(default="POST", one_of=("POST", "PUT", "PATCH"), description="The HTTP method used to send data to the HTTP server: `POST` (default), `PUT` or `PATCH`.")),
        ("content_type", String(default="application/json", one_of=("application/json", "application/json; charset=utf-8"), description="Indicates the type of data sent. The only available option is `application/json`.")),
        ("timeout", Number(default=10000, description="Timeout in milliseconds when sending data to the HTTP server.")),
        ("keepalive", Number(default=60000, description="How long (milliseconds) an idle connection to the HTTP server is kept open.")),
        ("retry_count", Integer(description="Deprecated, has no effect: use `queue.max_retry_time`.")),
        ("queue_size", Integer(description="Deprecated: use `queue.max_batch_size` (a value other than 1 takes its place).")),
        ("flush_timeout", Number(description="Deprecated: use `queue.max_coalescing_delay` (a value other than 2 takes its place).")),
        ("headers", Map(String(custom=_header_key_error), String(),
                        description="Headers added to the requests to the HTTP server (not `Host`, `Content-Length` or `Content-Type`).")),
        ("queue", typedefs.queue()),
        ("custom_fields_by_lua", typedefs.lua_code()),
    ],
    nullable=False,
    custom=_no_double_auth,
    description="Where and how log records are sent.",
)


def queue_name(conf: JSONObject) -> str:
    """Kong's ``make_queue_name``: six of its eight arguments make it into the format string."""
    def s(v: object) -> str:
        if v is None:
            return "nil"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return ":".join(s(conf.get(k)) for k in ("http_endpoint", "method", "content_type", "timeout",
                                               "keepalive", "retry_count"))


def safe_endpoint(endpoint: str) -> str:
    """The endpoint without user info (for decisions and logs: it may hold a password)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


async def send_entries(client: SharedSession, conf: JSONObject, entries: list[bytes]) -> tuple[bool, str | None]:
    """Kong's ``send_entries``: one request with the batch; a status >= 300 is a failure."""
    import aiohttp

    batch_size = (conf.get("queue") or {}).get("max_batch_size", 1)
    if conf.get("queue_size") not in (None, 1):
        batch_size = conf["queue_size"]
    payload = entries[0] if batch_size == 1 and len(entries) == 1 else b"[" + b",".join(entries) + b"]"
    endpoint = conf["http_endpoint"]
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    headers = {"Content-Type": conf.get("content_type") or "application/json"}
    userinfo = url_userinfo(endpoint)
    if userinfo:
        headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
    for k, v in (conf.get("headers") or {}).items():
        if not any(k.lower() == h.lower() for h in headers):
            headers[k] = v
    netloc = f"[{host}]" if ":" in host else host
    url = f"{parts.scheme}://{netloc}:{port}{parts.path or '/'}"
    if parts.query:
        url += "?" + parts.query
    timeout = aiohttp.ClientTimeout(total=float(conf.get("timeout") or 10000) / 1000.0)
    session = client.get(float(conf.get("keepalive") or 60000))
    try:
        async with session.request(conf.get("method") or "POST", url, data=payload, headers=headers,
                                   timeout=timeout) as res:
            body = await res.read()
            status = res.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return False, f"failed request to {host}:{port}: {type(exc).__name__}: {exc}"
    if status < 300:
        return True, None
    return False, (f"request to {host}:{port} returned status code {status} and body "
                   f"{body[:512].decode('utf-8', 'replace')}")


class HttpLogHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.name = queue_name(config)
        self.params = queue_params(NAME, config, self.name)
        self.where = safe_endpoint(config["http_endpoint"])
        self.queues = QueueRegistry.of(runtime)
        self.queues.acquire(self.name)
        self.client = SharedSession.of(runtime, NAME)
        self._closed = False

    async def _send(self, conf: JSONObject, entries: list[bytes]) -> tuple[bool, str | None]:
        return await send_entries(self.client, conf, entries)

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        entry = encode(serialize(ctx, resp))
        ok, err, q = self.queues.enqueue(self.params, self._send, self.config, entry)
        extra = "; custom_fields_by_lua not run (Lua)" if self.config.get("custom_fields_by_lua") else ""
        if ok:
            ctx.decisions.append(Decision(NAME, "pass", f"log: queued to {self.where}{extra}",
                                          {"endpoint": self.where, "queued": q.count(), "sent": q.sent,
                                           "lost": q.lost, "dropped": q.dropped,
                                           **({"custom_fields_by_lua": LUA_NOT_RUN} if extra else {})}))
        else:
            ctx.decisions.append(Decision(NAME, "error", f"log: not queued for {self.where}: {err}",
                                          {"endpoint": self.where}))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.queues.release(self.name)
        await self.client.release()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Send each request's log record (Kong's JSON) to an HTTP server, in batches, off the request path.",
    handler=HttpLogHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
