"""zipkin: trace requests to a Zipkin collector (carried, not run).

Schema from Kong 3.9's ``kong/plugins/zipkin/schema.lua``. The plugin only observes, so the local
runtime proxies requests without it and marks each with a ``skip`` decision.
"""

from __future__ import annotations

from ..jsontypes import JSONArray
from ..model import typedefs
from ..model.schema import Array, Boolean, Integer, Number, Record, String
from .base import PluginSpec
from .not_run import Skips

TRACE_HEADER_TYPES = ("b3", "b3-single", "w3c", "jaeger", "ot", "aws", "datadog", "gcp")
PROTECTED_TAGS = (
    "error", "http.method", "http.path", "http.status_code", "kong.balancer.state",
    "kong.balancer.try", "kong.consumer", "kong.credential", "kong.node.id", "kong.route",
    "kong.service", "lc", "peer.hostname",
)


def _unique_tags(tags: JSONArray) -> str | None:
    seen: set[str] = set()
    for tag in tags:
        name = tag.get("name") if isinstance(tag, dict) else None
        if name in seen:
            return f"repeated tags are not allowed: {name}"
        if isinstance(name, str):
            seen.add(name)
    return None


STATIC_TAG = Record([
    ("name", String(required=True, not_one_of=PROTECTED_TAGS)),
    ("value", String(required=True)),
])

CONFIG = Record([
    ("local_service_name", String(required=True, default="kong", description="The name of the service as displayed in Zipkin.")),
    ("http_endpoint", typedefs.url()),
    ("sample_ratio", Number(default=0.001, between=(0, 1), description="How often to sample requests that do not contain trace IDs. Set to `0` to turn sampling off, or to `1` to sample **all** requests. ")),
    ("default_service_name", String(description="Set a default service name to override `unknown-service-name` in the Zipkin spans.")),
    ("include_credential", Boolean(required=True, default=True, description="Specify whether the credential of the currently authenticated consumer should be included in metadata sent to the Zipkin server.")),
    ("traceid_byte_count", Integer(required=True, default=16, one_of=(8, 16), description="The length in bytes of each request's Trace ID.")),
    ("header_type", String(required=True, default="preserve", one_of=("preserve", "ignore", *TRACE_HEADER_TYPES),
                           description="All HTTP requests going through the plugin are tagged with a tracing HTTP request. This property codifies what kind of tracing header the plugin expects on incoming requests")),
    ("default_header_type", String(required=True, default="b3", one_of=TRACE_HEADER_TYPES,
                                   description="Allows specifying the type of header to be added to requests with no pre-existing tracing headers and when `config.header_type` is set to `\"preserve\"`. When `header_type` is set to any other value, `default_header_type` is ignored.")),
    ("tags_header", String(required=True, default="Zipkin-Tags", description="The Zipkin plugin will add extra headers to the tags associated with any HTTP requests that come with a header named as configured by this property.")),
    ("static_tags", Array(STATIC_TAG, custom=_unique_tags, description="The tags specified on this property will be added to the generated request traces.")),
    ("http_span_name", String(required=True, default="method", one_of=("method", "method_path"), description="Specify whether to include the HTTP path in the span name.")),
    ("connect_timeout", typedefs.timeout(default=2000)),
    ("send_timeout", typedefs.timeout(default=5000)),
    ("read_timeout", typedefs.timeout(default=5000)),
    ("http_response_header_for_traceid", String()),
    ("phase_duration_flavor", String(required=True, default="annotations", one_of=("annotations", "tags"),
                                     description="Specify whether to include the duration of each phase as an annotation or a tag.")),
    ("queue", typedefs.queue()),
    ("propagation", typedefs.propagation(default={"default_format": "b3"})),
], nullable=False)

PLUGIN = PluginSpec(
    name="zipkin",
    priority=100000,
    config=CONFIG,
    description="Trace requests and send the spans to a Zipkin collector.",
    handler=Skips,
    any_protocol=True,
    not_run="it sends traces to a Zipkin collector; requests are proxied without tracing",
)
