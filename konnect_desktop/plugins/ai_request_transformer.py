"""ai-request-transformer: have an LLM rewrite the request body before it goes upstream (carried,
not run).

Schema from Kong 3.9's ``kong/plugins/ai-request-transformer/schema.lua`` (shared with
ai-response-transformer through ``ai_transformer_config``). The local runtime does not call LLM
providers, and sending the untransformed body on would hand the upstream something it was not
configured to get, so requests are refused.
"""

from __future__ import annotations

from ..model import typedefs
from ..model.schema import (
    Boolean,
    Check,
    Conditional,
    Field,
    Integer,
    MutuallyRequired,
    Record,
    String,
)
from .base import PluginSpec
from .llm_schema import llm_config
from .not_run import Refuses

NOT_RUN = "it asks an LLM to rewrite the {}, and the local runtime does not call LLM providers"


def ai_transformer_config(direction: str, extra: list[tuple[str, Field]]) -> tuple[Field, list[Check]]:
    """The config and entity checks of the AI request/response transformers. ``direction`` words
    the descriptions ("request phase"/"response phase"); ``extra`` goes after the pattern."""
    config = Record([
        ("prompt", String(required=True, description=f"Use this prompt to tune the LLM system/assistant message for the {direction}, and what you are expecting in return.")),
        ("transformation_extract_pattern", String(description="Defines the regular expression that must match to indicate a successful AI transformation. The first match will be set as the new body. If the AI service's response doesn't match this pattern, it is marked as a failure.")),
        *extra,
        ("http_timeout", Integer(required=True, default=60000, description="Timeout in milliseconds for the AI upstream service.")),
        ("https_verify", Boolean(required=True, default=True, description="Verify the TLS certificate of the AI upstream service.")),
        ("max_request_body_size", Integer(default=8 * 1024, gt=0, description="max allowed body size allowed to be introspected")),
        ("http_proxy_host", typedefs.host()),
        ("http_proxy_port", typedefs.port()),
        ("https_proxy_host", typedefs.host()),
        ("https_proxy_port", typedefs.port()),
        ("llm", llm_config()),
    ], nullable=False)
    checks: list[Check] = [
        Conditional("config.llm.route_type", {"not_one_of": ("llm/v1/chat",)}, "config.llm.route_type",
                    {"eq": "llm/v1/chat"},
                    then_err="'config.llm.route_type' must be 'llm/v1/chat' for AI transformer plugins"),
        MutuallyRequired(["config.http_proxy_host", "config.http_proxy_port"]),
        MutuallyRequired(["config.https_proxy_host", "config.https_proxy_port"]),
    ]
    return config, checks


CONFIG, CHECKS = ai_transformer_config("incoming proxy request (from the client)", [])

PLUGIN = PluginSpec(
    name="ai-request-transformer",
    priority=777,
    config=CONFIG,
    description="Rewrite the request body with an LLM before it is sent upstream.",
    handler=Refuses,
    entity_checks=CHECKS,
    no_consumer=True,
    consumer_groups=True,
    not_run=NOT_RUN.format("request body"),
)
