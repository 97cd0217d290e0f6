"""opentelemetry: export traces and logs over OTLP/HTTP (carried, not run).

Schema from Kong 3.9's ``kong/plugins/opentelemetry/schema.lua``, with its deprecated ``endpoint``
shorthand (moved to ``traces_endpoint`` on write). The plugin only observes, so the local runtime
proxies requests without it and marks each with a ``skip`` decision.
"""

from __future__ import annotations

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import AtLeastOneOf, Integer, Map, Number, Record, String
from .base import PluginSpec, moved_fields
from .not_run import Skips


def _attribute_values(attributes: JSONObject) -> str | None:
    for v in attributes.values():
        if not isinstance(v, (str, int, float, bool)):
            return f"invalid type of value: {type(v).__name__}"
        if isinstance(v, str) and v == "":
            return "required field missing"
    return None


RESOURCE_ATTRIBUTES = Map(
    String(required=True), String(required=True), custom=_attribute_values,
    description="Attributes to add to the OpenTelemetry resource object, following the spec for Semantic Attributes. \nThe following attributes are automatically added:\n- `service.name`: The name of the service (default: `kong`).\n- `service.version`: The version of Kong Gateway.\n- `service.instance.id`: The node ID of Kong Gateway.\n\nYou can use this property to override default attribute values. For example, to override the default for `service.name`, you can specify `{ \"service.name\": \"my-service\" }`.",
)

CONFIG = Record([
    ("traces_endpoint", typedefs.url(referenceable=True)),
    ("logs_endpoint", typedefs.url(referenceable=True)),
    ("headers", Map(typedefs.header_name(), String(referenceable=True),
                    description="The custom headers to be added in the HTTP request sent to the OTLP server. This setting is useful for adding the authentication headers (token) for the APM backend.")),
    ("resource_attributes", RESOURCE_ATTRIBUTES),
    ("queue", typedefs.queue(default={"max_batch_size": 200})),
    ("batch_span_count", Integer(description="The number of spans to be sent in a single batch.")),
    ("batch_flush_delay", Integer(description="The delay, in seconds, between two consecutive batches.")),
    ("connect_timeout", typedefs.timeout(default=1000)),
    ("send_timeout", typedefs.timeout(default=5000)),
    ("read_timeout", typedefs.timeout(default=5000)),
    ("http_response_header_for_traceid", String(description="Specifies a custom header for the `trace_id`. If set, the plugin sets the corresponding header in the response.")),
    ("header_type", String(default="preserve", one_of=("preserve", "ignore", "b3", "b3-single", "w3c", "jaeger", "ot", "aws", "gcp", "datadog"),
                           description="All HTTP requests going through the plugin are tagged with a tracing HTTP request. This property codifies what kind of tracing header the plugin expects on incoming requests.")),
    ("sampling_rate", Number(between=(0, 1), description="Tracing sampling rate for configuring the probability-based sampler. When set, this value supersedes the global `tracing_sampling_rate` setting from kong.conf.")),
    ("propagation", typedefs.propagation(default={"default_format": "w3c"})),
], entity_checks=[AtLeastOneOf(["traces_endpoint", "logs_endpoint"])], nullable=False)

PLUGIN = PluginSpec(
    name="opentelemetry",
    priority=14,
    config=CONFIG,
    description="Export traces and logs to an OpenTelemetry collector over OTLP/HTTP.",
    handler=Skips,
    shorthands=moved_fields(("endpoint", "traces_endpoint")),
    not_run="it exports traces and logs to an OTLP collector; requests are proxied without tracing",
)
