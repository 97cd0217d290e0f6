"""ai-response-transformer: have an LLM rewrite the upstream's response (carried, not run).

Schema from Kong 3.9's ``kong/plugins/ai-response-transformer/schema.lua``. The local runtime does
not call LLM providers, and the client would get an untransformed answer, so requests are refused.
"""

from __future__ import annotations

from ..model.schema import Boolean
from .ai_request_transformer import NOT_RUN, ai_transformer_config
from .base import PluginSpec
from .not_run import Refuses

CONFIG, CHECKS = ai_transformer_config("returning proxy response (from the upstream)", [
    ("parse_llm_response_json_instructions", Boolean(
        required=True, default=False,
        description="Set true to read specific response format from the LLM, and accordingly set the status code / body / headers that proxy back to the client. You need to engineer your LLM prompt to return the correct format, see plugin docs 'Overview' page for usage instructions.")),
])

PLUGIN = PluginSpec(
    name="ai-response-transformer",
    priority=768,
    config=CONFIG,
    description="Rewrite the upstream's response with an LLM before it reaches the client.",
    handler=Refuses,
    entity_checks=CHECKS,
    consumer_groups=True,
    not_run=NOT_RUN.format("response"),
)
