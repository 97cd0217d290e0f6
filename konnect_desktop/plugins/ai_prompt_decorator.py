"""ai-prompt-decorator: add chat messages before and after the client's (Kong's plugin,
PRIORITY 772) — e.g. a system prompt every request of the route gets.

Only ``llm/v1/chat`` requests (a non-empty ``messages`` array) are decorated; anything else gets
Kong's 400s ("this LLM route only supports application/json requests", "this LLM route only
supports llm/chat type requests"). Messages keep their configured order.
"""

from __future__ import annotations

from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.schema import Array, AtLeastOneOf, Check, Integer, Record, String
from .ai_common import NOT_JSON, error, request_json, set_request_json
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "ai-prompt-decorator"
PRIORITY = 772

PROMPT = Record([
    ("role", String(required=True, one_of=("system", "assistant", "user"), default="system")),
    ("content", String(required=True, len_min=1, len_max=500)),
])

CONFIG = Record(
    [
        ("prompts", Record([
            ("prepend", Array(PROMPT, len_max=15, description="Insert chat messages at the beginning of the chat message array. This array preserves exact order when adding messages.")),
            ("append", Array(PROMPT, len_max=15, description="Insert chat messages at the end of the chat message array. This array preserves exact order when adding messages.")),
        ])),
        ("max_request_body_size", Integer(default=8 * 1024, gt=0, description="max allowed body size allowed to be introspected")),
        ("llm_format", String(default="openai", one_of=("openai", "bedrock", "gemini"), description="LLM input and output format and schema to use")),
    ],
    nullable=False,
    description="Chat messages added around the client's.",
)

ENTITY_CHECKS: list[Check] = [AtLeastOneOf(("config.prompts.prepend", "config.prompts.append"))]


class AiPromptDecoratorHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        prompts = config.get("prompts") or {}
        self.prepend = [{"role": m["role"], "content": m["content"]} for m in prompts.get("prepend") or []]
        self.append = [{"role": m["role"], "content": m["content"]} for m in prompts.get("append") or []]

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        return self._access(ctx)

    async def _access(self, ctx: RequestContext) -> None:
        request = await request_json(ctx, self.config.get("max_request_body_size"))
        if not isinstance(request, dict):
            ctx.decisions.append(Decision(NAME, "reject", f"prompt decorator: {NOT_JSON}"))
            raise error(400, NOT_JSON)
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            msg = "this LLM route only supports llm/chat type requests"
            ctx.decisions.append(Decision(NAME, "reject", f"prompt decorator: {msg}"))
            raise error(400, msg)
        decorated = {**request, "messages": [*(dict(m) for m in self.prepend), *messages,
                                             *(dict(m) for m in self.append)]}
        set_request_json(ctx, decorated)
        ctx.decisions.append(Decision(
            NAME, "transform", f"prompt decorator: {len(self.prepend)} message(s) prepended, "
                               f"{len(self.append)} appended"))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Prepend and append chat messages (e.g. a system prompt) to every LLM chat request of the route.",
    handler=AiPromptDecoratorHandler,
    entity_checks=ENTITY_CHECKS,
    consumer_groups=True,  # Kong's plugin reference: consumer groups supported
    # protocols: Kong's typedefs.protocols_http (grpc, grpcs, http, https), the default
)
