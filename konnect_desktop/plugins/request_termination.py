"""request-termination: answer every request with a fixed status and message or body (Kong's plugin).

Used to take a route out of service ("down for maintenance"), to stub an endpoint, or — with
``echo`` — to see exactly what the gateway received. With ``trigger`` the plugin only acts on
requests that carry that header or query argument, so live traffic passes untouched.

The answer is ``{"message": ...}`` (Kong's default message for the status when none is set), or
``body`` as given with ``content_type``; ``echo`` answers a JSON description of the request, the
matched route and service (Kong's shape: ``kong``, ``request``, ``matched_route``,
``matched_service``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.schema import Boolean, Integer, Record, String
from .base import Decision, Handler, PluginExit, PluginSpec, RequestContext, RuntimeServices
from .http_util import args_from_multidict, header_name_error, parse_body
from .log_serializer import headers_table

NAME = "request-termination"
PRIORITY = 2

# Kong's handler: the message used when ``message`` is unset (other statuses answer no body)
DEFAULT_RESPONSE = {
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    500: "An unexpected error occurred",
    502: "Bad Gateway",
    503: "Service unavailable",
}


def _present(v: object) -> bool:
    return isinstance(v, str) and len(v) > 0


def _validate(config: JSONObject) -> str | None:
    """Kong's record-level custom validator, in its order and words."""
    if _present(config.get("message")) and (_present(config.get("content_type")) or _present(config.get("body"))):
        return "message cannot be used with content_type or body"
    if _present(config.get("content_type")) and not _present(config.get("body")):
        return "content_type requires a body"
    if config.get("echo") and (_present(config.get("content_type")) or _present(config.get("body"))):
        return "echo cannot be used with content_type and body"
    return None


CONFIG = Record(
    [
        ("status_code", Integer(required=True, default=503, between=(100, 599),
                                description="The response code to send. Must be an integer between 100 and 599.")),
        ("message", String(description="The message to send, if using the default response generator.")),
        ("content_type", String(description="Content type of the raw response configured with `config.body`.")),
        ("body", String(description="The raw response body to send. This is mutually exclusive with the `config.message` field.")),
        ("echo", Boolean(required=True, default=False,
                         description="Echo a copy of the request back to the client (for debugging); combine with `trigger` to debug live traffic undisturbed.")),
        ("trigger", String(custom=header_name_error,
                           description="A header or query argument name: when set, the plugin only acts on requests that carry it.")),
    ],
    nullable=False,
    custom=_validate,
    description="The fixed answer the gateway gives instead of proxying.",
)


def _captures(ctx: RequestContext) -> JSONObject:
    """``kong.request.get_uri_captures()``: named groups, and the numbered ones from 1 on."""
    named = {k: v for k, v in ctx.uri_captures.items() if isinstance(k, str)}
    numbered = sorted((k, v) for k, v in ctx.uri_captures.items() if isinstance(k, int) and k > 0)
    return {"named": named, "unnamed": [v for _k, v in numbered]}


class RequestTerminationHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.status: int = int(config.get("status_code") or 503)
        self.trigger: str | None = config.get("trigger")
        self.echo = bool(config.get("echo"))
        self.message: str | None = config.get("message") or DEFAULT_RESPONSE.get(self.status)

    def _triggered(self, ctx: RequestContext) -> bool:
        name = self.trigger
        if name is None:
            return True
        # Kong's header table also answers ``foo_bar`` for a ``foo-bar`` header
        headers = ctx.original.headers
        if name in headers or name.replace("_", "-") in headers:
            return True
        return name in ctx.original.query

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        if not self._triggered(ctx):
            ctx.decisions.append(Decision(NAME, "skip", f"trigger '{self.trigger}' absent: request passed"))
            return None
        if self.echo:
            return self._echo(ctx)
        body = self.config.get("body")
        if body is not None:
            headers = {"Content-Type": self.config["content_type"]} if self.config.get("content_type") else {}
            self._decide(ctx, "raw body")
            raise PluginExit(self.status, body, headers)
        self._decide(ctx, f"message {self.message!r}" if self.message else "no body")
        raise PluginExit(self.status, {"message": self.message} if self.message else None)

    async def _echo(self, ctx: RequestContext) -> None:
        raw = await ctx.read_body()
        o = ctx.original
        request: JSONObject = {
            "scheme": o.scheme,
            "host": o.host,
            "port": o.port,
            "headers": headers_table(ctx.original.headers),
            "query": args_from_multidict(o.query),
            "method": o.method,
            "path": o.path,
            "uri_captures": _captures(ctx),
        }
        parsed = parse_body(raw, o.headers.get("Content-Type"))
        if parsed is not None:
            request["body"] = parsed
        if raw:
            request["raw_body"] = raw.decode("utf-8", "replace")
        content: JSONObject = {
            "kong": {"node_id": ctx.runtime.node_id, "worker_pid": os.getpid(), "hostname": socket.gethostname()},
            "request": request,
        }
        if self.message:
            content["message"] = self.message
        if ctx.route is not None:
            content["matched_route"] = ctx.route
        if ctx.service is not None:
            content["matched_service"] = ctx.service
        self._decide(ctx, "echo of the request")
        raise PluginExit(self.status, content)

    def _decide(self, ctx: RequestContext, what: str) -> None:
        trig = f" (trigger '{self.trigger}' present)" if self.trigger else ""
        ctx.decisions.append(Decision(NAME, "reject", f"terminated with {self.status}: {what}{trig}",
                                      {"status": self.status, "echo": self.echo, "trigger": self.trigger}))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Answer requests with a fixed status and message or body instead of proxying them (maintenance, stubs, echo for debugging).",
    handler=RequestTerminationHandler,
    consumer_groups=True,  # since Kong 3.6
)
