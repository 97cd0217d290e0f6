"""Factories for driving plugin handlers directly (real RequestContext/ResponseContext objects,
a real ConfigIndex built from entity dicts, validated plugin entities). Test modules import them
from ``plugin_helpers``; this conftest adds the redis-server fixture."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from konnect_desktop import plugins
from konnect_desktop.plugins.base import (
    ConnectionFacts,
    Handler,
    OriginalRequest,
    PluginExit,
    RequestContext,
    ResponseContext,
)
from konnect_desktop.plugins.config_view import ConfigIndex
from konnect_desktop.runtime.dataplane import Services
from konnect_desktop.runtime.responses import apply_response_headers


def services() -> Services:
    """The runtime's own ``RuntimeServices``, with a fresh node id."""
    return Services(str(uuid.uuid4()))


def make_ctx(
    method: str = "GET",
    url: str = "/request",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | str = b"",
    *,
    host: str = "example.test",
    client_ip: str = "127.0.0.1",
    route: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    config: ConfigIndex | None = None,
    runtime: Services | None = None,
    uri_captures: dict[Any, str] | None = None,
) -> RequestContext:
    """A request as the proxy would hand it to the access phase (upstream path = request path)."""
    parts = urlsplit(url)
    query: MultiDict[str] = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    hdrs: CIMultiDict[str] = CIMultiDict(headers or [])
    if "Host" not in hdrs:
        hdrs["Host"] = host
    raw = body.encode() if isinstance(body, str) else body
    original = OriginalRequest(
        method=method, path=parts.path or "/", raw_path=url, query=MultiDict(query),
        headers=CIMultiDictProxy(CIMultiDict(hdrs)), scheme="http", host=hdrs["Host"], port=8000,
    )

    async def reader() -> bytes:
        return raw

    return RequestContext(
        request_id=uuid.uuid4().hex, client_ip=client_ip, original=original, method=method,
        path=parts.path or "/", query=query, headers=hdrs, route=route, service=service,
        config=config or ConfigIndex(), runtime=runtime or services(),
        uri_captures=dict(uri_captures or {}), body_reader=reader,
        connection=ConnectionFacts("127.0.0.1", 8000, 1, 1),
    )


def make_response(status: int = 200, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                  body: bytes | None = None) -> ResponseContext:
    return ResponseContext(status=status, headers=CIMultiDict(headers or []), body=body)


def header_phase(handler: Handler, ctx: RequestContext, resp: ResponseContext) -> ResponseContext:
    """What the proxy does to a response before it leaves: the headers plugins set during access
    (``ctx.response_headers``) replace the same names, then the handler's header_filter runs."""
    apply_response_headers(resp.headers, ctx._response_headers)
    handler.header_filter(ctx, resp)
    return resp


def plugin_entity(name: str, config: dict[str, Any] | None = None, **scope: Any) -> dict[str, Any]:
    """A validated plugin entity (defaults filled), as the store would hold it."""
    data: dict[str, Any] = {"name": name, "config": config or {}}
    for k, v in scope.items():
        data[k] = {"id": v} if isinstance(v, str) else v
    return plugins.validate_plugin(data)


def make_handler(name: str, config: dict[str, Any] | None = None, runtime: Services | None = None,
                 **scope: Any) -> Handler:
    entity = plugin_entity(name, config, **scope)
    spec = plugins.get(name)
    assert spec is not None and spec.handler is not None
    return spec.handler(entity["config"], entity, runtime or services())


async def run_access(handler: Handler, ctx: RequestContext) -> PluginExit | None:
    """Run the access phase; return the exit it raised (or None when the request goes on)."""
    try:
        waiting = handler.access(ctx)
        if waiting is not None:
            await waiting
    except PluginExit as exc:
        return exc
    return None
