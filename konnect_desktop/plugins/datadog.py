"""datadog: send request metrics to a DogStatsD agent (carried, not run).

Schema from Kong 3.9's ``kong/plugins/datadog/schema.lua``. The plugin only observes, so the local
runtime proxies requests without it and marks each with a ``skip`` decision.
"""

from __future__ import annotations

from ..model import typedefs
from ..model.schema import Array, Conditional, Integer, Number, Record, String
from .base import PluginSpec
from .not_run import Skips

STAT_NAMES = ("kong_latency", "latency", "request_count", "request_size", "response_size", "upstream_latency")
STAT_TYPES = ("counter", "gauge", "histogram", "meter", "set", "timer", "distribution")
CONSUMER_IDENTIFIERS = ("consumer_id", "custom_id", "username")


def _metric(name: str, stat_type: str, **extra: object) -> dict[str, object]:
    return {"name": name, "stat_type": stat_type, **extra, "tags": ["app:kong"], "consumer_identifier": "custom_id"}


DEFAULT_METRICS = [
    _metric("request_count", "counter", sample_rate=1),
    *(_metric(n, "timer") for n in ("latency", "request_size", "response_size", "upstream_latency", "kong_latency")),
]

METRIC = Record([
    ("name", String(required=True, one_of=STAT_NAMES, description="Datadog metric’s name")),
    ("stat_type", String(required=True, one_of=STAT_TYPES, description="Determines what sort of event the metric represents")),
    ("tags", Array(String(match=r"^.*[^:]$"), description="List of tags")),
    ("sample_rate", Number(between=(0, 1), description="Sampling rate")),
    ("consumer_identifier", String(one_of=CONSUMER_IDENTIFIERS, description="Authenticated user detail")),
], entity_checks=[
    Conditional("stat_type", {"one_of": ("counter", "gauge")}, "sample_rate", {"required": True}),
])

CONFIG = Record([
    ("host", typedefs.host(referenceable=True, default="localhost")),
    ("port", typedefs.port(default=8125)),
    ("prefix", String(default="kong", description="String to be attached as a prefix to a metric's name.")),
    ("service_name_tag", String(default="name", description="String to be attached as the name of the service.")),
    ("status_tag", String(default="status", description="String to be attached as the tag of the HTTP status.")),
    ("consumer_tag", String(default="consumer", description="String to be attached as tag of the consumer.")),
    ("retry_count", Integer(description="Number of times to retry when sending data to the upstream server.")),
    ("queue_size", Integer(description="Maximum number of log entries to be sent on each message to the upstream server.")),
    ("flush_timeout", Number(description="Optional time in seconds. If `queue_size` > 1, this is the max idle time before sending a log with less than `queue_size` records.")),
    ("queue", typedefs.queue()),
    ("metrics", Array(METRIC, required=True, default=DEFAULT_METRICS, description="List of metrics to be logged.")),
], nullable=False)

PLUGIN = PluginSpec(
    name="datadog",
    priority=10,
    config=CONFIG,
    description="Send request metrics (counts, latencies, sizes) to a Datadog agent over DogStatsD.",
    handler=Skips,
    any_protocol=True,
    not_run="it sends metrics to a DogStatsD agent; requests are proxied without metrics",
)
