"""ai-prompt-template: let clients call named prompt templates with parameters (Kong's plugin,
PRIORITY 773).

A request whose ``messages`` or ``prompt`` is the string ``{template://NAME}`` is replaced by
that template, its ``{{param}}`` placeholders filled from the request's ``properties`` (string
values only, JSON-escaped as Kong's cjson escapes them, ``/`` included); the result becomes the
request body as it is. Placeholders left unfilled are Kong's 400 "missing template parameters:
[a], [b]". A request that calls no template passes unchanged with
``allow_untemplated_requests`` (the default), else "this LLM route only supports templated
requests". ``log_original_request`` is accepted; the local log serializer has no place for it
yet, so the original body is not added to log records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable

from ..jsontypes import JSONObject, JSONValue
from ..model.schema import Array, Boolean, Integer, Record, String
from .ai_common import NOT_JSON, error, request_json, set_request_raw
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "ai-prompt-template"
PRIORITY = 773
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")

TEMPLATE = Record([
    ("name", String(required=True, description="Unique name for the template, can be called with `{template://NAME}`")),
    ("template", String(required=True, description="Template string for this request, supports mustache-style `{{placeholders}}`")),
], required=True)

CONFIG = Record(
    [
        ("templates", Array(TEMPLATE, required=True, description="Array of templates available to the request context.")),
        ("allow_untemplated_requests", Boolean(required=True, default=True, description="Set true to allow requests that don't call or match any template.")),
        ("log_original_request", Boolean(required=True, default=False, description="Set true to add the original request to the Kong log plugin(s) output.")),
        ("max_request_body_size", Integer(default=8 * 1024, gt=0, description="max allowed body size allowed to be introspected")),
    ],
    nullable=False,
    description="Named prompt templates clients may call.",
)


def template_name(reference: JSONValue) -> str | None:
    if isinstance(reference, str) and reference.startswith("{template://") and reference.endswith("}"):
        return reference[12:-1]
    return None


def _escape(value: str) -> str:
    # cjson.encode(v) without its quotes: JSON escapes, "/" escaped too, non-ASCII kept
    return json.dumps(value, ensure_ascii=False)[1:-1].replace("/", "\\/")


def render(template: str, properties: JSONValue) -> tuple[str | None, str | None]:
    """Kong's ``templater.render``: (text, None) or (None, error)."""
    if not isinstance(properties, dict):
        return None, "properties must be an object"
    values: dict[str, str] = {}
    for k, v in properties.items():
        if not isinstance(v, str):
            kind = "table" if isinstance(v, dict | list) else "number" if isinstance(v, int | float) \
                and not isinstance(v, bool) else "boolean" if isinstance(v, bool) else "nil" if v is None else type(v).__name__
            return None, f"property values must be a string, got {kind}"
        values[k] = _escape(v)
    result = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    missing: list[str] = []
    for m in _PLACEHOLDER.finditer(result):
        if f"[{m.group(1)}]" not in missing:
            missing.append(f"[{m.group(1)}]")
    if missing:
        return None, "missing template parameters: " + ", ".join(missing)
    return result, None


class AiPromptTemplateHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.templates = {t["name"]: t["template"] for t in reversed(config.get("templates") or [])}

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        return self._access(ctx)

    def _bad(self, ctx: RequestContext, msg: str) -> Exception:
        ctx.decisions.append(Decision(NAME, "reject", f"prompt template: {msg}"))
        return error(400, msg)

    async def _access(self, ctx: RequestContext) -> None:
        request = await request_json(ctx, self.config.get("max_request_body_size"))
        if not isinstance(request, dict):
            raise self._bad(ctx, NOT_JSON)
        messages, prompt = request.get("messages"), request.get("prompt")
        if messages is not None and prompt is not None:
            raise self._bad(ctx, "cannot run 'messages' and 'prompt' templates at the same time")
        reference = messages if messages is not None else prompt
        if reference is None:
            raise self._bad(ctx, "only 'llm/v1/chat' and 'llm/v1/completions' formats are supported for templating")
        name = template_name(reference)
        if name is None:
            if self.config.get("allow_untemplated_requests", True):
                ctx.decisions.append(Decision(NAME, "pass", "prompt template: no template called"))
                return
            raise self._bad(ctx, "this LLM route only supports templated requests")
        template = self.templates.get(name)
        if template is None:
            raise self._bad(ctx, f"could not find template name [{name}]")
        rendered, err = render(template, request.get("properties") or {})
        if err:
            raise self._bad(ctx, err)
        assert rendered is not None
        set_request_raw(ctx, rendered.encode())
        ctx.decisions.append(Decision(NAME, "transform", f"prompt template: rendered '{name}'", {"template": name}))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Named prompt templates with {{parameters}} that clients call with {template://NAME}.",
    handler=AiPromptTemplateHandler,
    consumer_groups=True,  # Kong's plugin reference: consumer groups supported
    # protocols: Kong's typedefs.protocols_http (grpc, grpcs, http, https), the default
)
