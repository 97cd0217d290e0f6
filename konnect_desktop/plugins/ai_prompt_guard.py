"""ai-prompt-guard: allow or deny LLM prompts by regular expressions (Kong's plugin, PRIORITY 771).

The prompt checked is, for ``llm/v1/chat``, the ``user`` messages (every role with
``match_all_roles``), newest first and joined by spaces — only the newest with
``allow_all_conversation_history``; for ``llm/v1/completions``, ``prompt``. A ``deny_patterns``
match refuses the request; with ``allow_patterns``, a prompt must match one of them. A refused
request gets Kong's deliberately vague 400 ``{"error": {"message": "bad request"}}`` (the client
is not told a guard is in use); the decision in the traffic view says which rule decided.
Patterns are PCRE as in Kong; one that does not compile answers 500 and is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.paths import compile_pcre
from ..model.schema import Array, AtLeastOneOf, Boolean, Conditional, Field, Integer, Record, String
from .ai_common import NOT_JSON, error, request_json
from .base import Decision, Handler, PluginExit, PluginSpec, RequestContext, RuntimeServices

log = logging.getLogger(__name__)

NAME = "ai-prompt-guard"
PRIORITY = 771
BAD_FORMAT = "ai-prompt-guard only supports llm/v1/chat or llm/v1/completions prompts"


def _patterns(description: str) -> Field:
    return Array(String(len_min=1, len_max=500), len_max=10, description=description)


CONFIG = Record(
    [
        ("allow_patterns", _patterns("Array of valid regex patterns, or valid questions from the 'user' role in chat.")),
        ("deny_patterns", _patterns("Array of invalid regex patterns, or invalid questions from the 'user' role in chat.")),
        ("allow_all_conversation_history", Boolean(required=True, default=False, description="If true, will ignore all previous chat prompts from the conversation history.")),
        ("max_request_body_size", Integer(default=8 * 1024, gt=0, description="max allowed body size allowed to be introspected")),
        ("match_all_roles", Boolean(required=True, default=False, description="If true, will match all roles in addition to 'user' role in conversation history.")),
        ("llm_format", String(default="openai", one_of=("openai", "bedrock", "gemini"), description="LLM input and output format and schema to use")),
    ],
    nullable=False,
    description="Which prompts may reach the LLM.",
)

ENTITY_CHECKS = [
    AtLeastOneOf(("config.allow_patterns", "config.deny_patterns")),
    Conditional("config.match_all_roles", {"eq": True}, "config.allow_all_conversation_history", {"eq": False}),
]


def collect_prompt(request: JSONObject, conf: JSONObject) -> tuple[str | None, str | None]:
    """Kong's prompt collection: (text, None) or (None, why the request is malformed)."""
    messages = request.get("messages")
    if isinstance(messages, list):
        parts: list[str] = []
        for m in reversed(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                return None, BAD_FORMAT
            if m["role"] == "user" or conf.get("match_all_roles"):
                if not isinstance(m.get("content"), str):
                    return None, BAD_FORMAT
                parts.append(m["content"])
                if conf.get("allow_all_conversation_history"):
                    break
                parts.append(" ")
        return "".join(parts), None
    if isinstance(request.get("prompt"), str):
        return request["prompt"], None
    return None, BAD_FORMAT


class AiPromptGuardHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.bad_pattern: str | None = None
        self.deny = self._compile(config.get("deny_patterns") or [])
        self.allow = self._compile(config.get("allow_patterns") or [])

    def _compile(self, patterns: list[str]) -> list[tuple[str, re.Pattern[str]]]:
        out = []
        for p in patterns:
            try:
                out.append((p, compile_pcre(p)))
            except (re.error, ValueError) as exc:
                self.bad_pattern = self.bad_pattern or f"bad regex pattern '{p}', failed to execute: {exc}"
        return out

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        return self._access(ctx)

    async def _access(self, ctx: RequestContext) -> None:
        request = await request_json(ctx, self.config.get("max_request_body_size"))
        if not isinstance(request, dict):
            ctx.decisions.append(Decision(NAME, "reject", f"prompt guard: {NOT_JSON}"))
            raise error(400, NOT_JSON)
        if self.bad_pattern:
            log.error("ai-prompt-guard: %s", self.bad_pattern)
            ctx.decisions.append(Decision(NAME, "error", f"prompt guard: {self.bad_pattern}"))
            raise PluginExit(500, b"")
        prompt, err = collect_prompt(request, self.config)
        verdict = err
        if prompt is not None:
            verdict = self._judge(prompt)
        if verdict is not None:
            ctx.decisions.append(Decision(NAME, "reject", f"prompt guard: {verdict}"))
            raise error(400, "bad request")  # Kong's words: don't tell the client a guard is in use
        ctx.decisions.append(Decision(NAME, "pass", "prompt guard: allowed"))

    def _judge(self, prompt: str) -> str | None:
        for text, rx in self.deny:
            if rx.search(prompt):
                return f"prompt pattern is blocked ({text})"
        if not self.allow:
            return None
        for _text, rx in self.allow:
            if rx.search(prompt):
                return None
        return "prompt doesn't match any allowed pattern"


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Allow or deny LLM prompts by regular expressions, before they reach the model.",
    handler=AiPromptGuardHandler,
    entity_checks=ENTITY_CHECKS,
    consumer_groups=True,  # Kong's plugin reference: consumer groups supported
    # protocols: Kong's typedefs.protocols_http (grpc, grpcs, http, https), the default
)
