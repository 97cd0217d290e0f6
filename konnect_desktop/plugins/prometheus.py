"""prometheus: count requests per service/route in Kong's metric names, for scraping (Kong's
plugin, PRIORITY 13).

The log phase reads the request's record (``log_serializer``) and updates the runtime's metrics,
as Kong's ``exporter.log`` does, under the configured opt-ins:

- ``status_code_metrics``: ``kong_http_requests_total{service,route,code,source,workspace,consumer}``
- ``latency_metrics``: histograms ``kong_kong_latency_ms``, ``kong_upstream_latency_ms`` and
  ``kong_request_latency_ms`` (Kong's buckets; a latency Kong marks unknown, -1, is not observed)
- ``bandwidth_metrics``: ``kong_bandwidth_bytes{service,route,direction,workspace,consumer}``
- ``per_consumer``: the consumer's username in the ``consumer`` label
- ``upstream_health_metrics``: ``kong_upstream_target_health`` at scrape time
- ``ai_metrics``: ``kong_ai_llm_requests_total``, ``kong_ai_llm_cost_total`` and
  ``kong_ai_llm_tokens_total`` from ai-proxy's ``ai`` log section (``logging.log_statistics``)

``render`` writes the Prometheus text exposition format (0.0.4), metric families sorted by name
as Kong's ``metric_data`` does, with the node gauges the runtime supplies at scrape time
(``NodeFacts``: connections, requests, datastore, node info, upstream targets). Per-request
metrics are written only while a prometheus plugin is configured (Kong's ``IS_PROMETHEUS_ENABLED``).

``prometheus_client`` is not used: its registry is process-global (several runtimes run side by
side here, each with its own metrics), and Kong's families, label order and always-present
``workspace`` label are simpler to write directly than to bend its collectors to.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..jsontypes import JSONObject
from ..model.schema import Boolean, Record
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_serializer import serialize

NAME = "prometheus"
PRIORITY = 13
PREFIX = "kong_"

KONG_LATENCY_BUCKETS = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
UPSTREAM_LATENCY_BUCKETS = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)

CONFIG = Record(
    [
        ("per_consumer", Boolean(default=False, description="A boolean value that determines if per-consumer metrics should be collected. If enabled, the `kong_http_requests_total` and `kong_bandwidth_bytes` metrics fill in the consumer label when available.")),
        ("status_code_metrics", Boolean(default=False, description="A boolean value that determines if status code metrics should be collected. If enabled, `http_requests_total`, `stream_sessions_total` metrics will be exported.")),
        ("ai_metrics", Boolean(default=False, description="A boolean value that determines if ai metrics should be collected. If enabled, the `ai_llm_requests_total`, `ai_llm_cost_total` and `ai_llm_tokens_total` metrics will be exported.")),
        ("latency_metrics", Boolean(default=False, description="A boolean value that determines if latency metrics should be collected. If enabled, `kong_latency_ms`, `upstream_latency_ms` and `request_latency_ms` metrics will be exported.")),
        ("bandwidth_metrics", Boolean(default=False, description="A boolean value that determines if bandwidth metrics should be collected. If enabled, `bandwidth_bytes` and `stream_sessions_total` metrics will be exported.")),
        ("upstream_health_metrics", Boolean(default=False, description="A boolean value that determines if upstream metrics should be collected. If enabled, `upstream_target_health` metric will be exported.")),
    ],
    nullable=False,
    description="Which metrics are collected.",
)

_AI_LABELS = ("ai_provider", "ai_model", "cache_status", "vector_db", "embeddings_provider", "embeddings_model",
              "workspace")

# name → (type, help, label names); Kong's exporter.init, in the http subsystem
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "http_requests_total": ("counter", "HTTP status codes per consumer/service/route in Kong",
                            ("service", "route", "code", "source", "workspace", "consumer")),
    "kong_latency_ms": ("histogram", "Latency added by Kong and enabled plugins for each service/route in Kong",
                        ("service", "route", "workspace")),
    "upstream_latency_ms": ("histogram", "Latency added by upstream response for each service/route in Kong",
                            ("service", "route", "workspace")),
    "request_latency_ms": ("histogram", "Total latency incurred during requests for each service/route in Kong",
                           ("service", "route", "workspace")),
    "bandwidth_bytes": ("counter", "Total bandwidth (ingress/egress) throughput in bytes",
                        ("service", "route", "direction", "workspace", "consumer")),
    "ai_llm_requests_total": ("counter", "AI requests total per ai_provider in Kong", _AI_LABELS),
    "ai_llm_cost_total": ("counter", "AI requests cost per ai_provider/cache in Kong", _AI_LABELS),
    "ai_llm_tokens_total": ("counter", "AI requests cost per ai_provider/cache in Kong",
                            (*_AI_LABELS[:-1], "token_type", "workspace")),
}
_BUCKETS = {"kong_latency_ms": KONG_LATENCY_BUCKETS, "upstream_latency_ms": UPSTREAM_LATENCY_BUCKETS,
            "request_latency_ms": UPSTREAM_LATENCY_BUCKETS}


class Metrics:
    """One runtime's per-request metrics: counters and histograms by label values."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[tuple[str, ...], float]] = {
            n: {} for n in ("http_requests_total", "bandwidth_bytes", "ai_llm_requests_total", "ai_llm_cost_total",
                            "ai_llm_tokens_total")}
        # histogram series: [count per bucket (not cumulative)..., +Inf count, sum]
        self.histograms: dict[str, dict[tuple[str, ...], list[float]]] = {n: {} for n in _BUCKETS}
        self.export_upstream_health = False
        self.users = 0  # live prometheus handlers (Kong's IS_PROMETHEUS_ENABLED)

    @classmethod
    def of(cls, runtime: RuntimeServices) -> Metrics:
        state = runtime.shared_state(NAME)
        m = state.get("metrics")
        if not isinstance(m, cls):
            m = state["metrics"] = cls()
        return m

    def inc(self, name: str, labels: tuple[str, ...], value: float = 1) -> None:
        series = self.counters[name]
        series[labels] = series.get(labels, 0) + value

    def observe(self, name: str, labels: tuple[str, ...], value: float) -> None:
        buckets = _BUCKETS[name]
        series = self.histograms[name].get(labels)
        if series is None:
            series = self.histograms[name][labels] = [0.0] * (len(buckets) + 2)
        series[bisect_left(buckets, value)] += 1
        series[-1] += value

    def record(self, rec: JSONObject, conf: JSONObject) -> bool:
        """Kong's ``PrometheusHandler:log`` + ``exporter.log`` for one record. False when the
        request had no route (Kong counts nothing then)."""
        self.export_upstream_health = bool(conf.get("upstream_health_metrics"))
        route = rec.get("route")
        if route is None:
            return False
        service = rec.get("service")
        svc = (service.get("name") or service.get("host") or "") if service else ""
        rt = route.get("name") or route.get("id") or ""
        ws = rec.get("workspace_name") or ""
        consumer = ""
        if conf.get("per_consumer") and rec.get("consumer"):
            consumer = rec["consumer"].get("username") or ""
        if conf.get("bandwidth_metrics"):
            ingress = rec["request"].get("size")
            egress = rec["response"].get("size")
            if isinstance(ingress, int | float) and ingress > 0:
                self.inc("bandwidth_bytes", (svc, rt, "ingress", ws, consumer), ingress)
            if isinstance(egress, int | float) and egress > 0:
                self.inc("bandwidth_bytes", (svc, rt, "egress", ws, consumer), egress)
        if conf.get("status_code_metrics"):
            source = "service" if rec.get("source") == "service" else "kong"
            self.inc("http_requests_total", (svc, rt, str(rec["response"]["status"]), source, ws, consumer))
        if conf.get("latency_metrics"):
            lat = rec["latencies"]
            labels = (svc, rt, ws)
            if lat.get("request") is not None and lat["request"] >= 0:
                self.observe("request_latency_ms", labels, lat["request"])
            if lat.get("proxy") is not None and lat["proxy"] >= 0:
                self.observe("upstream_latency_ms", labels, lat["proxy"])
            if lat.get("kong") is not None and lat["kong"] >= 0:
                self.observe("kong_latency_ms", labels, lat["kong"])
        if conf.get("ai_metrics") and rec.get("ai"):
            for section in rec["ai"].values():
                meta, usage = section.get("meta") or {}, section.get("usage") or {}
                ai_labels = (meta.get("provider_name") or "", meta.get("request_model") or "", "", "", "", "", ws)
                self.inc("ai_llm_requests_total", ai_labels)
                if (usage.get("cost") or 0) > 0:
                    self.inc("ai_llm_cost_total", ai_labels, usage["cost"])
                for kind in ("prompt_tokens", "completion_tokens", "total_tokens"):
                    if (usage.get(kind) or 0) > 0:
                        self.inc("ai_llm_tokens_total", (*ai_labels[:-1], kind, ws), usage[kind])
        return True


@dataclass
class NodeFacts:
    """What the runtime knows at scrape time (Kong reads these from nginx and the balancer)."""

    node_id: str
    version: str
    connections: dict[str, int] = field(default_factory=dict)  # state → count (active, writing, ...)
    total_requests: int = 0
    datastore_reachable: bool = True
    # (upstream name, target, address "ip:port" or "", state) with state one of
    # healthchecks_off | healthy | unhealthy | dns_error
    upstream_targets: list[tuple[str, str, str, str]] = field(default_factory=list)


_HEALTH_STATES = ("healthchecks_off", "healthy", "unhealthy", "dns_error")


def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[object, ...], extra: str = "") -> str:
    parts = [f'{n}="{_esc(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def render(metrics: Metrics | None, node: NodeFacts) -> str:
    """The Prometheus text exposition of one runtime (Content-Type ``text/plain; version=0.0.4``)."""
    families: dict[str, tuple[str, str, list[str]]] = {}

    def gauge(name: str, help_: str, names: tuple[str, ...], rows: Sequence[tuple[tuple[str, ...], float]]) -> None:
        families[name] = ("gauge", help_, [f"{PREFIX}{name}{_labels(names, vals)} {_num(v)}" for vals, v in rows])

    conn_names = ("node_id", "subsystem", "state")
    gauge("nginx_connections_total", "Number of connections by subsystem", conn_names,
          [((node.node_id, "http", state), n) for state, n in sorted(node.connections.items())])
    gauge("nginx_requests_total", "Number of requests total", ("node_id", "subsystem"),
          [((node.node_id, "http"), node.total_requests)])
    gauge("datastore_reachable", "Datastore reachable from Kong, 0 is unreachable", (),
          [((), 1 if node.datastore_reachable else 0)])
    # the metric library's own error count (Kong's nginx-lua-prometheus counts failed updates here;
    # these counters cannot fail)
    families["nginx_metric_errors_total"] = ("counter", "Number of nginx-lua-prometheus errors",
                                             [f"{PREFIX}nginx_metric_errors_total 0"])
    gauge("node_info", "Kong Node metadata information", ("node_id", "version"), [((node.node_id, node.version), 1)])
    if metrics is not None and metrics.export_upstream_health:
        rows = []
        for upstream, target, address, status in node.upstream_targets:
            for state in _HEALTH_STATES:
                rows.append(((upstream, target, address, state, "http"), 1 if status == state else 0))
        gauge("upstream_target_health", "Health status of targets of upstream. States = healthchecks_off|healthy|"
              "unhealthy|dns_error, value is 1 when state is populated.",
              ("upstream", "target", "address", "state", "subsystem"), rows)

    if metrics is not None and metrics.users > 0:
        # (a family with no series yet is left out, as Kong writes only what its dict holds)
        for name, series in metrics.counters.items():
            if not series:
                continue
            kind, help_, names = FAMILIES[name]
            families[name] = (kind, help_, [f"{PREFIX}{name}{_labels(names, labels)} {_num(v)}"
                                            for labels, v in sorted(series.items())])
        for name, hseries in metrics.histograms.items():
            if not hseries:
                continue
            kind, help_, names = FAMILIES[name]
            buckets = _BUCKETS[name]
            lines = []
            for labels, counts in sorted(hseries.items()):
                cumulative = 0.0
                for le, n in zip((*buckets, "+Inf"), counts[:-1], strict=True):
                    cumulative += n
                    lines.append(f"{PREFIX}{name}_bucket{_labels(names, labels, f'le={chr(34)}{le}{chr(34)}')} "
                                 f"{_num(cumulative)}")
                lines.append(f"{PREFIX}{name}_count{_labels(names, labels)} {_num(cumulative)}")
                lines.append(f"{PREFIX}{name}_sum{_labels(names, labels)} {_num(counts[-1])}")
            families[name] = (kind, help_, lines)

    out: list[str] = []
    for name in sorted(families):
        kind, help_, lines = families[name]
        out.append(f"# HELP {PREFIX}{name} {help_}")
        out.append(f"# TYPE {PREFIX}{name} {kind}")
        out.extend(lines)
    return "\n".join(out) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PrometheusHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.metrics = Metrics.of(runtime)
        self.metrics.users += 1
        self._closed = False
        on = [k.removesuffix("_metrics") for k in ("status_code_metrics", "latency_metrics", "bandwidth_metrics",
                                                   "upstream_health_metrics") if config.get(k)]
        if config.get("per_consumer"):
            on.append("per consumer")
        self.summary = f"metrics: counted ({', '.join(on) or 'node metrics only'})"

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if self.metrics.record(serialize(ctx, resp), self.config):
            ctx.decisions.append(Decision(NAME, "pass", self.summary))
        else:
            ctx.decisions.append(Decision(NAME, "skip", "metrics: no route matched, nothing counted"))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.metrics.users -= 1


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Expose request, latency and bandwidth metrics in Prometheus format (Kong's names), on the Admin API's /metrics.",
    handler=PrometheusHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
