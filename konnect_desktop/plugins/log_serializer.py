"""Kong's "basic log serializer" (``kong.log.serialize`` in kong/pdk/log.lua): the one JSON record
every logging plugin (http-log, file-log, tcp-log, udp-log, syslog) writes, and the figures the
metric plugins (statsd, prometheus) count.

It is called in the log phase with the request and response contexts. The record has Kong's
shape::

    request      {id, uri, url, querystring, method, headers, size}
    upstream_uri, upstream_status
    response     {status, headers, size}
    latencies    {kong, proxy, request, receive}     (milliseconds)
    tries, authenticated_entity {id, consumer_id}, route, service, consumer,
    client_ip, started_at (ms), source, workspace_name

As in Kong, the request headers and query are the ones in force at log time (after plugins such
as key-auth with ``hide_credentials`` removed a credential), and ``Authorization`` /
``Proxy-Authorization`` are written as ``REDACTED``.

What the proxy measures (latencies, bytes on the wire, upstream status, balancer tries, the
answer's source) comes from ``ResponseContext.served`` when the proxy fills it. Without it the
record carries Kong's own values for "unknown" (``latencies.kong`` 0, ``latencies.proxy`` -1),
sizes reconstructed from the head and body the plugin phases saw, and the source inferred from
the plugins' decisions (a rejecting plugin → ``exit``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from ..jsontypes import JSONObject
from .base import RequestContext, ResponseContext, encode_args
from .http_util import args_from_multidict, decode_args, json_dumps

REDACTED = "REDACTED"
_REDACTED_HEADERS = ("authorization", "proxy-authorization")
_HTTP_PHRASE_LEN = 32  # a status line's reason phrase, averaged, for the reconstructed size


def headers_table(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> JSONObject:
    """Headers as ``kong.request.get_headers()`` returns them: lower-case names, a repeated
    header as a list of its values in order."""
    out: JSONObject = {}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs  # a multidict keeps its repeats in items()
    for k, v in items:
        name = k.lower()
        cur = out.get(name)
        if cur is None:
            out[name] = v
        elif isinstance(cur, list):
            cur.append(v)
        else:
            out[name] = [cur, v]
    return out


def _query_string(ctx: RequestContext) -> str | None:
    """The query as it goes upstream (None: the request had none)."""
    if ctx.query_dirty:
        return encode_args(ctx.query)
    raw = ctx.original.raw_path
    q = raw.find("?")
    return None if q < 0 else raw[q + 1:]


def upstream_uri(ctx: RequestContext) -> str:
    """Kong's ``upstream_uri``: the path sent upstream with its query (a bare trailing ``?`` of
    the request kept)."""
    query = _query_string(ctx)
    if query is None:
        return ctx.path
    return f"{ctx.path}?{query}"


def _request_size(ctx: RequestContext, body_len: int) -> int:
    o = ctx.original
    size = len(o.method) + len(o.raw_path) + len(" HTTP/1.1\r\n") + 2
    for k, v in o.headers.items():
        size += len(k) + len(v) + 4
    return size + body_len


def _response_size(resp: ResponseContext) -> int:
    size = len("HTTP/1.1 000 \r\n") + _HTTP_PHRASE_LEN + 2
    for k, v in resp.headers.items():
        size += len(k) + len(v) + 4
    if resp.body is not None:
        return size + len(resp.body)
    try:
        return size + int(resp.headers.get("Content-Length", "0"))
    except ValueError:
        return size


def _content_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("Content-Length", "0"))
    except ValueError:
        return 0


def serialize(ctx: RequestContext, resp: ResponseContext, now: Callable[[], float] = time.time) -> JSONObject:
    """The log record for one request (a fresh dict: loggers may add to it)."""
    o = ctx.original
    served = resp.served
    raw_query = _query_string(ctx)

    headers = headers_table(ctx.headers)
    # ctx.headers carries the upstream Host; the record shows the client's, as Kong does
    client_host = o.headers.get("Host")
    if client_host is not None:
        headers["host"] = client_host
    else:
        headers.pop("host", None)
    for name in _REDACTED_HEADERS:
        if name in headers:
            headers[name] = REDACTED

    if ctx.query_dirty:
        querystring = args_from_multidict(ctx.query)
    else:
        querystring = decode_args(raw_query) if raw_query else {}

    started = ctx.started_at
    request_ms = max(0, round((now() - started) * 1000))
    if served is not None and served.proxy_latency is not None:
        kong_ms = round(served.proxy_latency)
    else:
        kong_ms = 0  # Kong's value when it did not measure (``KONG_PROXY_LATENCY or 0``)
    if served is not None and served.upstream_latency is not None:
        proxy_ms = round(served.upstream_latency)
    else:
        proxy_ms = -1  # Kong's value when no upstream answered (``KONG_WAITING_TIME or -1``)

    if served is not None and served.source:
        source = served.source
    else:
        source = "exit" if any(d.outcome == "reject" for d in ctx.decisions) else "service"
    upstream_status: int | str = served.upstream_status if served is not None and served.upstream_status else ""
    if upstream_status == "" and source == "service":
        upstream_status = str(resp.status)

    record: JSONObject = {
        "request": {
            "id": ctx.request_id,
            "uri": o.raw_path,
            "url": f"{o.scheme}://{o.host}:{o.port}{o.raw_path}",
            "querystring": querystring,
            "method": o.method,
            "headers": headers,
            "size": served.request_size if served is not None and served.request_size is not None
            else _request_size(ctx, _content_length(o.headers)),
        },
        "upstream_uri": upstream_uri(ctx),
        "upstream_status": str(upstream_status) if upstream_status != "" else "",
        "response": {
            "status": resp.status,
            "headers": headers_table(resp.headers),
            "size": served.response_size if served is not None and served.response_size is not None
            else _response_size(resp),
        },
        "latencies": {"kong": kong_ms, "proxy": proxy_ms, "request": request_ms, "receive": 0},
        "client_ip": ctx.client_ip,
        "started_at": int(started * 1000),
        "source": source,
        "workspace_name": "default",
    }
    if served is not None and served.tries:
        record["tries"] = [dict(t) for t in served.tries]
    if ctx.credential is not None:
        cred = ctx.credential
        consumer_id = (cred.get("consumer") or {}).get("id") if isinstance(cred.get("consumer"), dict) else None
        if consumer_id is None and ctx.consumer is not None:
            consumer_id = ctx.consumer.get("id")
        record["authenticated_entity"] = {"id": cred.get("id"), "consumer_id": consumer_id}
    if ctx.route is not None:
        record["route"] = dict(ctx.route)
    if ctx.service is not None:
        record["service"] = dict(ctx.service)
    if ctx.consumer is not None:
        record["consumer"] = dict(ctx.consumer)
    ai = ctx.shared.get("ai")  # the AI plugins' analytics (Kong's ``ai.<namespace>`` values)
    if ai:
        record["ai"] = {k: dict(v) for k, v in ai.items()}
    correlation = ctx.shared.get("correlation_id")
    if correlation is not None:
        record["correlation_id"] = correlation
    return record


def encode(record: JSONObject) -> bytes:
    """One record as compact JSON (UTF-8), the way every logger writes it."""
    return json_dumps(record)


LUA_NOT_RUN = ("custom_fields_by_lua is Lua code run by Kong's sandbox; the local runtime stores it "
               "but does not run it")


__all__ = ["serialize", "encode", "headers_table", "upstream_uri", "REDACTED", "LUA_NOT_RUN"]
