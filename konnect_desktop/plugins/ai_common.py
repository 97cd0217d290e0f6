"""What the AI plugins share: the request body as the OpenAI-format JSON table they read and
rewrite, Kong's ``{"error": {"message": ...}}`` answers, and the LLM request formats
(kong/llm/init.lua ``identify_request``).

The prompt plugins (ai-prompt-decorator, -template, -guard) run before ai-proxy (priorities
772, 773, 771 > 770) on the same body: each reads the JSON once through ``request_json`` (kept
on the context, so the next one does not parse it again) and writes it back with
``set_request_json``.
"""

from __future__ import annotations

import json

from ..jsontypes import JSONValue
from .base import PluginExit, RequestContext

_KEY = "ai.request_json"  # ctx.shared key of the parsed body (Kong's ai_plugin_ctx body table)

BAD_JSON = "content-type header does not match request body, or bad JSON formatting"


def error(status: int, message: str | None) -> PluginExit:
    """Kong's AI ``bail``: ``{"error": {"message": ...}}`` (no body when there is no message)."""
    return PluginExit(status, {"error": {"message": message}} if message is not None else b"")


async def request_json(ctx: RequestContext, max_size: int | None = None) -> JSONValue:
    """The request body as JSON (parsed once per request), or None when it is not JSON."""
    if _KEY in ctx.shared:
        return ctx.shared[_KEY]
    body = await ctx.read_body()
    value: JSONValue = None
    if body and (max_size is None or len(body) <= max_size):
        ctype = (ctx.headers.get("Content-Type") or "application/json").lower()
        if "json" in ctype:
            try:
                value = json.loads(body)
            except ValueError:
                value = None
    ctx.shared[_KEY] = value
    return value


def set_request_json(ctx: RequestContext, value: JSONValue) -> None:
    """Replace the request body with ``value`` as JSON (and keep it for the next AI plugin)."""
    ctx.shared[_KEY] = value
    ctx.set_body(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    ctx.headers["Content-Type"] = "application/json"
    ctx.headers.popall("Content-Length", None)


def set_request_raw(ctx: RequestContext, raw: bytes) -> None:
    """Replace the request body with ``raw`` (e.g. a rendered template); the next AI plugin
    parses it afresh."""
    ctx.shared.pop(_KEY, None)
    ctx.set_body(raw)
    ctx.headers.popall("Content-Length", None)


NOT_JSON = "this LLM route only supports application/json requests"


def identify_request(request: JSONValue) -> tuple[str | None, str | None]:
    """Kong's ``identify_request``: ``llm/v1/chat`` (non-empty ``messages``) or
    ``llm/v1/completions`` (string ``prompt``); (None, error) otherwise."""
    formats = []
    if isinstance(request, dict):
        if isinstance(request.get("messages"), list) and request["messages"]:
            formats.append("llm/v1/chat")
        if isinstance(request.get("prompt"), str):
            formats.append("llm/v1/completions")
    if len(formats) > 1:
        return None, "request matches multiple LLM request formats"
    if not formats:
        return None, "request format not recognised"
    return formats[0], None


def is_compatible(request: JSONValue, route_type: str) -> tuple[bool, str | None]:
    """Kong's ``llm.is_compatible``."""
    if route_type == "preserve":
        return True, None
    fmt, err = identify_request(request)
    if err:
        return False, err
    if fmt == route_type:
        return True, None
    return False, f"[{fmt}] message format is not compatible with [{route_type}] route type"


__all__ = ["error", "request_json", "set_request_json", "set_request_raw", "NOT_JSON", "identify_request", "is_compatible", "BAD_JSON"]
