"""Kong's shared field definitions (``kong/db/schema/typedefs.lua``) for plugin schemas.

Each function returns a fresh ``Field`` with Kong's type, limits, validator and description;
keyword arguments override attributes the way Kong's ``typedefs.port { default = 443 }`` does.
Plugins build their config records from these so a host, a port or a queue is defined once.

Where Kong runs Lua to validate (``typedefs.lua_code``'s sandbox check, ``loadstring`` in the
serverless functions) the value is carried unchecked: this app does not run Lua.
"""

from __future__ import annotations

import re
from typing import Unpack
from urllib.parse import urlsplit

from . import paths
from .schema import Array, Field, FieldOptions, Integer, Map, Number, Record, String

_HEADER_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


# -- validators (Kong's words) ----------------------------------------------------------------------
def header_name_error(name: object) -> str | None:
    """Kong's ``validate_header_name`` (typedefs.header_name): nginx-safe header names only."""
    if not isinstance(name, str) or name == "":
        return "no header name provided"
    if _HEADER_NAME.match(name):
        return None
    return f"bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"


def url_error(value: str) -> str | None:
    """Kong's ``validate_url`` (LuaSocket's lenient parser): a scheme and a host are all it asks."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        return f"could not parse url. {exc}"
    if not host:
        return "missing host in url"
    if not parts.scheme:
        return "missing scheme in url"
    return None


def sni_error(value: str) -> str | None:
    """Kong's ``validate_sni``: a host name (not an IP), no port."""
    _host, port, err, kind = paths.normalize_ip(value)
    if err and err != "invalid port number":
        return f"invalid value: {value}"
    if kind != "name":
        return "must not be an IP"
    if err == "invalid port number" or port is not None:
        return "must not have a port"
    return None


# -- typedefs --------------------------------------------------------------------------------------
def host(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "A string representing a host name, such as example.com.")
    kw.setdefault("custom", paths.validate_host)
    return String(**kw)


def port(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "An integer representing a port number between 0 and 65535, inclusive.")
    kw.setdefault("between", (0, 65535))
    return Integer(**kw)


def url(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "A string representing a URL, such as https://example.com/path/to/resource?q=search.")
    kw.setdefault("custom", url_error)
    return String(**kw)


def timeout(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "An integer representing a timeout in milliseconds. Must be between 0 and 2^31-2.")
    kw.setdefault("between", (0, 2**31 - 2))
    return Integer(**kw)


def sni(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "A string representing an SNI (server name indication) value for TLS.")
    kw.setdefault("custom", sni_error)
    return String(**kw)


def header_name(**kw: Unpack[FieldOptions]) -> Field:
    kw.setdefault("description", "A string representing an HTTP header name.")
    kw.setdefault("custom", header_name_error)
    return String(**kw)


def hosts(**kw: Unpack[FieldOptions]) -> Field:
    """typedefs.hosts: host names with at most one wildcard label and an optional port."""
    kw.setdefault("description", "A list of host names, each optionally with one wildcard label (`*.example.com`).")
    return Array(String(custom=paths.validate_route_host), **kw)


def lua_code(**kw: Unpack[FieldOptions]) -> Field:
    """typedefs.lua_code: name → Lua expression. Kong checks the Lua in its sandbox; carried as is here."""
    kw.setdefault("description", "Lua code as a key-value map")
    return Map(String(), String(), **kw)


def queue(**kw: Unpack[FieldOptions]) -> Field:
    """Kong's plugin queue settings (``kong/tools/queue_schema.lua``)."""
    return Record([
        ("max_batch_size", Integer(default=1, between=(1, 1000000),
                                   description="Maximum number of entries that can be processed at a time.")),
        ("max_coalescing_delay", Number(default=1, between=(0, 3600),
                                        description="Maximum number of (fractional) seconds to elapse after the first entry was queued before the queue starts calling the handler.")),
        ("max_entries", Integer(default=10000, between=(1, 1000000),
                                description="Maximum number of entries that can be waiting on the queue.")),
        ("max_bytes", Integer(description="Maximum number of bytes that can be waiting on a queue, requires string content.")),
        ("max_retry_time", Number(default=60, description="Time in seconds before the queue gives up calling a failed handler for a batch.")),
        ("initial_retry_delay", Number(default=0.01, between=(0.001, 1000000),
                                       description="Time in seconds before the initial retry is made for a failing batch.")),
        ("max_retry_delay", Number(default=60, between=(0.001, 1000000),
                                   description="Maximum time in seconds between retries, caps exponential backoff.")),
        ("concurrency_limit", Integer(default=1, one_of=(-1, 1),
                                      description="The number of of queue delivery timers. -1 indicates unlimited.")),
    ], **kw)


# Kong's tracing header formats (kong/observability/tracing/propagation/utils.lua FORMATS) in the
# order Kong declares them (Kong's own one_of lists follow Lua's table iteration, not a fixed order).
# Kong 3.10 adds "instana"; 3.9, which this app matches, does not have it.
TRACE_FORMATS = ("w3c", "b3", "b3-single", "jaeger", "ot", "datadog", "aws", "gcp")


def propagation(**kw: Unpack[FieldOptions]) -> Field:
    """Tracing header propagation (``kong/observability/tracing/propagation/schema.lua``)."""
    extractors = tuple(f for f in TRACE_FORMATS if f != "b3-single")  # b3 extracts both b3 forms
    return Record([
        ("extract", Array(String(one_of=extractors),
                          description="Header formats used to extract tracing context from incoming requests. If multiple values are specified, the first one found will be used for extraction. If left empty, Kong will not extract any tracing context information from incoming requests and generate a trace with no parent and a new trace ID.")),
        ("clear", Array(header_name(),
                        description="Header names to clear after context extraction. This allows to extract the context from a certain header and then remove it from the request, useful when extraction and injection are performed on different header formats and the original header should not be sent to the upstream. If left empty, no headers are cleared.")),
        ("inject", Array(String(one_of=("preserve", *TRACE_FORMATS)),
                         description="Header formats used to inject tracing context. The value `preserve` will use the same header format as the incoming request. If multiple values are specified, all of them will be used during injection. If left empty, Kong will not inject any tracing context information in outgoing requests.")),
        ("default_format", String(one_of=TRACE_FORMATS, required=True,
                                  description="The default header format to use when extractors did not match any format in the incoming headers and `inject` is configured with the value: `preserve`. This can happen when no tracing header was found in the request, or the incoming tracing header formats were not included in `extract`.")),
    ], **kw)


def redis(extra: list[tuple[str, Field]] | None = None, **kw: Unpack[FieldOptions]) -> Field:
    """The shared Redis connection record (``kong/tools/redis/schema.lua``), plus ``extra`` fields."""
    kw.setdefault("description", "Redis configuration")
    return Record([
        ("host", host()),
        ("port", port(default=6379)),
        ("timeout", timeout(default=2000)),
        ("username", String(referenceable=True,
                            description="Username to use for Redis connections. If undefined, ACL authentication won't be performed. This requires Redis v6.0.0+. To be compatible with Redis v5.x.y, you can set it to `default`.")),
        ("password", String(secret=True, len_min=0,
                            description="Password to use for Redis connections. If undefined, no AUTH commands are sent to Redis.")),
        ("database", Integer(default=0, description="Database to use for the Redis connection when using the `redis` strategy")),
        ("ssl", Field("boolean", default=False, description="If set to true, uses SSL to connect to Redis.")),
        ("ssl_verify", Field("boolean", default=False,
                             description="If set to true, verifies the validity of the server SSL certificate.")),
        ("server_name", sni()),
        *(extra or []),
    ], **kw)


__all__ = [
    "header_name_error", "url_error", "sni_error", "host", "port", "url", "timeout", "sni",
    "header_name", "hosts", "lua_code", "queue", "propagation", "redis", "TRACE_FORMATS",
]
