"""The ``llm`` record AI plugins share: provider, model, auth and logging (Kong's
``kong/llm/schemas/init.lua`` in 3.9), with its entity checks and Kong's words."""

from __future__ import annotations

from typing import Unpack

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import (
    Boolean,
    Conditional,
    ConditionalAtLeastOneOf,
    Custom,
    Field,
    FieldOptions,
    Integer,
    MutuallyRequired,
    Number,
    OptionalRecord,
    Record,
    String,
)

PROVIDERS = ("openai", "azure", "anthropic", "cohere", "mistral", "llama2", "gemini", "bedrock", "huggingface")
ROUTE_TYPES = ("llm/v1/chat", "llm/v1/completions", "preserve")
# route type -> providers that cannot report token statistics for it
_NO_LOG_STATISTICS = {"llm/v1/completions": {"anthropic"}}

AUTH = OptionalRecord([
    ("header_name", String(referenceable=True, description="If AI model requires authentication via Authorization or API key header, specify its name here.")),
    ("header_value", String(secret=True, description="Specify the full auth header value for 'header_name', for example 'Bearer key' or just 'key'.")),
    ("param_name", String(referenceable=True, description="If AI model requires authentication via query parameter, specify its name here.")),
    ("param_value", String(secret=True, description="Specify the full parameter value for 'param_name'.")),
    ("param_location", String(one_of=("query", "body"), description="Specify whether the 'param_name' and 'param_value' options go in a query string, or the POST form/JSON body.")),
    ("gcp_use_service_account", Boolean(default=False, description="Use service account auth for GCP-based providers and models.")),
    ("gcp_service_account_json", String(referenceable=True, description="Set this field to the full JSON of the GCP service account to authenticate, if required. If null (and gcp_use_service_account is true), Kong will attempt to read from environment variable `GCP_SERVICE_ACCOUNT`.")),
    ("aws_access_key_id", String(secret=True, description="Set this if you are using an AWS provider (Bedrock) and you are authenticating using static IAM User credentials. Setting this will override the AWS_ACCESS_KEY_ID environment variable for this plugin instance.")),
    ("aws_secret_access_key", String(secret=True, description="Set this if you are using an AWS provider (Bedrock) and you are authenticating using static IAM User credentials. Setting this will override the AWS_SECRET_ACCESS_KEY environment variable for this plugin instance.")),
    ("allow_override", Boolean(default=False, description="If enabled, the authorization header or parameter can be overridden in the request by the value configured in the plugin.")),
])

MODEL_OPTIONS = OptionalRecord([
    ("max_tokens", Integer(description="Defines the max_tokens, if using chat or completion models.")),
    ("input_cost", Number(gt=0, description="Defines the cost per 1M tokens in your prompt.")),
    ("output_cost", Number(gt=0, description="Defines the cost per 1M tokens in the output of the AI.")),
    ("temperature", Number(between=(0.0, 5.0), description="Defines the matching temperature, if using chat or completion models.")),
    ("top_p", Number(between=(0, 1), description="Defines the top-p probability mass, if supported.")),
    ("top_k", Integer(between=(0, 500), description="Defines the top-k most likely tokens, if supported.")),
    ("anthropic_version", String(description="Defines the schema/API version, if using Anthropic provider.")),
    ("azure_instance", String(description="Instance name for Azure OpenAI hosted models.")),
    ("azure_api_version", String(default="2023-05-15", description="'api-version' for Azure OpenAI instances.")),
    ("azure_deployment_id", String(description="Deployment ID for Azure OpenAI instances.")),
    ("llama2_format", String(one_of=("raw", "openai", "ollama"), description="If using llama2 provider, select the upstream message format.")),
    ("mistral_format", String(one_of=("openai", "ollama"), description="If using mistral provider, select the upstream message format.")),
    ("upstream_url", typedefs.url(description="Manually specify or override the full URL to the AI operation endpoints, when calling (self-)hosted models, or for running via a private endpoint.")),
    ("upstream_path", String(description="Manually specify or override the AI operation path, used when e.g. using the 'preserve' route_type.")),
    ("gemini", OptionalRecord([
        ("api_endpoint", String(description="If running Gemini on Vertex, specify the regional API endpoint (hostname only).")),
        ("project_id", String(description="If running Gemini on Vertex, specify the project ID.")),
        ("location_id", String(description="If running Gemini on Vertex, specify the location ID.")),
    ], entity_checks=[MutuallyRequired(["api_endpoint", "project_id", "location_id"])])),
    ("bedrock", OptionalRecord([
        ("aws_region", String(description="If using AWS providers (Bedrock) you can override the `AWS_REGION` environment variable by setting this option.")),
    ])),
    ("huggingface", OptionalRecord([
        ("use_cache", Boolean(description="Use the cache layer on the inference API")),
        ("wait_for_model", Boolean(description="Wait for the model if it is not ready")),
    ])),
], description="Key/value settings for the model")

MODEL = Record([
    ("provider", String(required=True, one_of=PROVIDERS, description="AI provider request format - Kong translates requests to and from the specified backend compatible formats.")),
    ("name", String(description="Model name to execute.")),
    ("options", MODEL_OPTIONS),
], required=True)

LOGGING = Record([
    ("log_statistics", Boolean(required=True, default=False, description="If enabled and supported by the driver, will add model usage and token metrics into the Kong log plugin(s) output.")),
    ("log_payloads", Boolean(required=True, default=False, description="If enabled, will log the request and response body into the Kong log plugin(s) output.")),
], required=True)


def _log_statistics(entity: JSONObject) -> str | None:
    route_type = entity.get("route_type")
    provider = (entity.get("model") or {}).get("provider")
    if (entity.get("logging") or {}).get("log_statistics") and provider in _NO_LOG_STATISTICS.get(str(route_type), ()):
        return f"{provider} does not support statistics when route_type is {route_type}"
    return None


def _needs(provider: str, field: str, err: str) -> ConditionalAtLeastOneOf:
    return ConditionalAtLeastOneOf("model.provider", {"one_of": (provider,)}, (f"model.options.{field}",), err)


def llm_config(**kw: Unpack[FieldOptions]) -> Field:
    """A fresh ``llm`` record (Kong's ``llm.config_schema``)."""
    return Record([
        ("route_type", String(required=True, one_of=ROUTE_TYPES, description="The model's operation implementation, for this provider. Set to `preserve` to pass through without transformation.")),
        ("auth", AUTH),
        ("model", MODEL),
        ("logging", LOGGING),
    ], entity_checks=[
        Conditional("model.provider", {"one_of": ("bedrock", "gemini")}, "auth.allow_override", {"eq": False},
                    then_err="bedrock and gemini only support auth.allow_override = false"),
        MutuallyRequired(["auth.header_name", "auth.header_value"]),
        MutuallyRequired(["auth.param_name", "auth.param_value", "auth.param_location"]),
        _needs("llama2", "llama2_format", "must set {} for llama2 provider"),
        _needs("mistral", "mistral_format", "must set {} for mistral provider"),
        _needs("anthropic", "anthropic_version", "must set {} for anthropic provider"),
        _needs("azure", "azure_instance", "must set {} for azure provider"),
        _needs("azure", "azure_api_version", "must set {} for azure provider"),
        _needs("azure", "azure_deployment_id", "must set {} for azure provider"),
        _needs("llama2", "upstream_url", "must set {} for self-hosted providers/models"),
        Custom(["route_type", "model", "logging"], _log_statistics),
    ], **kw)


__all__ = ["llm_config", "PROVIDERS", "ROUTE_TYPES"]
