"""request-size-limiting: refuse request bodies larger than a limit (Kong's plugin).

A request whose ``Content-Length`` is over ``allowed_payload_size`` (in ``size_unit``) is refused
with 413 "Request size limit exceeded" before its body is read — 417 when the client sent
``Expect: 100-continue``. Without a usable ``Content-Length`` (a chunked body) the body is read
and measured; with ``require_content_length`` such a request is refused with 411 unless it is
chunked.
"""

from __future__ import annotations

from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.schema import Boolean, Integer, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "request-size-limiting"
PRIORITY = 951
SIZE_UNITS = ("megabytes", "kilobytes", "bytes")
FACTOR = {"bytes": 1, "kilobytes": 1024, "megabytes": 1048576}
EXCEEDED = "Request size limit exceeded"
LENGTH_REQUIRED = "A valid Content-Length header is required"

CONFIG = Record(
    [
        ("allowed_payload_size", Integer(default=128,
                                         description="Allowed request payload size in `size_unit` (default 128 megabytes).")),
        ("size_unit", String(required=True, default=SIZE_UNITS[0], one_of=SIZE_UNITS,
                             description="Unit of `allowed_payload_size`: `megabytes` (default), `kilobytes` or `bytes`.")),
        ("require_content_length", Boolean(required=True, default=False,
                                           description="Refuse (411) requests without a valid `Content-Length` header (chunked bodies excepted) before reading the body.")),
    ],
    nullable=False,
    description="The largest request body the gateway accepts.",
)


def _lua_number(raw: str) -> float | None:
    """Lua's ``tonumber`` on a header value (surrounding space allowed, hex too)."""
    s = raw.strip()
    try:
        return float(int(s, 16)) if s.lower().startswith(("0x", "-0x")) else float(s)
    except ValueError:
        return None


class RequestSizeLimitingHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        size = config.get("allowed_payload_size")
        unit = config.get("size_unit") or SIZE_UNITS[0]
        self.allowed_bytes = (128 if size is None else size) * FACTOR[unit]
        self.require_length = bool(config.get("require_content_length"))

    def _check(self, ctx: RequestContext, length: float, how: str) -> None:
        if length <= self.allowed_bytes:
            ctx.decisions.append(Decision(NAME, "pass", f"{int(length)} bytes ({how}) within {self.allowed_bytes}",
                                          {"size": length, "allowed": self.allowed_bytes}))
            return
        expect = (ctx.original.headers.get("Expect") or "").strip().lower()
        status = 417 if expect == "100-continue" else 413
        ctx.decisions.append(Decision(NAME, "reject", f"{int(length)} bytes ({how}) over the limit of {self.allowed_bytes}",
                                      {"size": length, "allowed": self.allowed_bytes, "status": status}))
        raise ctx.kong_error(status, EXCEEDED)

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        headers = ctx.original.headers
        cl = headers.get("Content-Length")
        length = _lua_number(cl) if cl is not None else None
        if length is not None:
            self._check(ctx, length, "Content-Length")
            return None
        if self.require_length and headers.get("Transfer-Encoding") != "chunked":
            ctx.decisions.append(Decision(NAME, "reject", "no valid Content-Length", {"status": 411}))
            raise ctx.kong_error(411, LENGTH_REQUIRED)
        if ctx.body_reader is None:  # the request has no body: nothing to wait for
            self._check(ctx, 0, "no body")
            return None
        return self._measure(ctx)

    async def _measure(self, ctx: RequestContext) -> None:
        body = await ctx.read_body()
        self._check(ctx, len(body), "body read")


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Refuse requests whose body is larger than a limit (413).",
    handler=RequestSizeLimitingHandler,
)
