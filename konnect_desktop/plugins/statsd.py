"""statsd: send request metrics to a StatsD server (Kong's plugin, PRIORITY 11; Kong 3.x's merged
statsd/statsd-advanced).

The log phase queues the request's record (``log_serializer``) on a Kong queue
(``log_queue``); the queue's handler turns each record into StatsD lines by the configured
``metrics`` (Kong's defaults: request_count, latency, request_size, status_count, response_size,
unique_users, request_per_user, upstream_latency, kong_latency, status_count_per_user,
status_count_per_workspace, status_count_per_user_per_route, shdict_usage) and sends them over
UDP (one datagram per line, or lines joined up to ``udp_packet_size``) or TCP (``use_tcp``).

Names follow Kong: ``<prefix>.service.<service>.request.count:1|c``,
``<prefix>.service.<service>.user.<consumer>.status.<code>:1|c``,
``<prefix>.route.<route id>.user.<consumer>.status.<code>:1|c``, ...; with ``tag_style`` the
scope moves into dogstatsd / influxdb / librato / signalfx tags. A latency Kong marks unknown
(-1) is not sent.

Local differences: there are no workspaces, so the workspace is ``default`` (for both
``workspace_id`` and ``workspace_name``); there are no nginx shared dicts, so ``shdict_usage``
sends nothing.
"""

from __future__ import annotations

import asyncio
import os
import re

from ..jsontypes import JSONObject, JSONValue
from ..model import typedefs
from ..model.schema import Array, Boolean, Conditional, Integer, Number, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_queue import QueueRegistry, queue_params
from .log_serializer import serialize
from .udp_log import DatagramSender

NAME = "statsd"
PRIORITY = 11

METRIC_NAMES = ("kong_latency", "latency", "request_count", "request_per_user", "request_size", "response_size",
                "status_count", "status_count_per_user", "unique_users", "upstream_latency",
                "status_count_per_workspace", "status_count_per_user_per_route", "shdict_usage")
STAT_TYPES = ("counter", "gauge", "histogram", "meter", "set", "timer")
CONSUMER_IDENTIFIERS = ("consumer_id", "custom_id", "username")
SERVICE_IDENTIFIERS = ("service_id", "service_name", "service_host", "service_name_or_host")
WORKSPACE_IDENTIFIERS = ("workspace_id", "workspace_name")
TAG_TYPES = ("dogstatsd", "influxdb", "librato", "signalfx")


def _m(name: str, stat_type: str, sample_rate: float | None = None) -> JSONObject:
    return {"name": name, "stat_type": stat_type, "sample_rate": sample_rate, "consumer_identifier": None,
            "service_identifier": None, "workspace_identifier": None}


DEFAULT_METRICS = [
    _m("request_count", "counter", 1), _m("latency", "timer"), _m("request_size", "counter", 1),
    _m("status_count", "counter", 1), _m("response_size", "counter", 1), _m("unique_users", "set"),
    _m("request_per_user", "counter", 1), _m("upstream_latency", "timer"), _m("kong_latency", "timer"),
    _m("status_count_per_user", "counter", 1), _m("status_count_per_workspace", "counter", 1),
    _m("status_count_per_user_per_route", "counter", 1), _m("shdict_usage", "gauge", 1),
]

METRIC = Record(
    [
        ("name", String(required=True, one_of=METRIC_NAMES, description="StatsD metric’s name.")),
        ("stat_type", String(required=True, one_of=STAT_TYPES, description="Determines what sort of event a metric represents.")),
        ("sample_rate", Number(gt=0, description="Sampling rate")),
        ("consumer_identifier", String(one_of=CONSUMER_IDENTIFIERS, description="Authenticated user detail.")),
        ("service_identifier", String(one_of=SERVICE_IDENTIFIERS, description="Service detail.")),
        ("workspace_identifier", String(one_of=WORKSPACE_IDENTIFIERS, description="Workspace detail.")),
    ],
    entity_checks=[Conditional("stat_type", {"one_of": ["counter", "gauge"]}, "sample_rate", {"required": True})],
)

CONFIG = Record(
    [
        ("host", typedefs.host(default="localhost", description="The IP address or hostname of StatsD server to send data to.")),
        ("port", typedefs.port(default=8125, description="The port of StatsD server to send data to.")),
        ("prefix", String(default="kong", description="String to prefix to each metric's name.")),
        ("metrics", Array(METRIC, default=DEFAULT_METRICS, description="List of metrics to be logged.")),
        ("allow_status_codes", Array(String(match=r"^[0-9]+-[0-9]+$"), description="List of status code ranges that are allowed to be logged in metrics.")),
        ("udp_packet_size", Number(between=(0, 65507), default=0, description="Combine UDP packets up to this size in bytes (0: one packet per metric).")),
        ("use_tcp", Boolean(default=False, description="Send metrics over TCP instead of UDP.")),
        ("hostname_in_prefix", Boolean(default=False, description="Prefix metric names with the node's hostname.")),
        ("consumer_identifier_default", String(required=True, default="custom_id", one_of=CONSUMER_IDENTIFIERS, description="The consumer detail a metric uses when it names none.")),
        ("service_identifier_default", String(required=True, default="service_name_or_host", one_of=SERVICE_IDENTIFIERS, description="The service detail a metric uses when it names none.")),
        ("workspace_identifier_default", String(required=True, default="workspace_id", one_of=WORKSPACE_IDENTIFIERS, description="The workspace detail a metric uses when it names none.")),
        ("retry_count", Integer(description="Deprecated, has no effect: use `queue.max_retry_time`.")),
        ("queue_size", Integer(description="Deprecated: use `queue.max_batch_size`.")),
        ("flush_timeout", Number(description="Deprecated: use `queue.max_coalescing_delay`.")),
        ("tag_style", String(one_of=TAG_TYPES, description="Send the scope as tags in this style instead of in the metric name.")),
        ("queue", typedefs.queue()),
    ],
    nullable=False,
    description="The StatsD server and which metrics it gets.",
)

STAT_KINDS = {"gauge": "g", "counter": "c", "timer": "ms", "histogram": "h", "meter": "m", "set": "s"}
STAT_NAMES = {"request_size": "request.size", "response_size": "response.size", "latency": "latency",
              "upstream_latency": "upstream_latency", "kong_latency": "kong_latency", "request_count": "request.count"}
_RANGE = re.compile(r"(\d\d\d)-(\d\d\d)")
WORKSPACE = "default"


def _hostname() -> str:
    try:
        return os.uname().nodename.replace(".", "_")
    except AttributeError:  # pragma: no cover - Windows
        return "localhost"


def in_range(ranges: list[str] | None, status: int) -> bool:
    """Kong's ``is_in_range``: no ranges → every status."""
    if not ranges:
        return True
    for r in ranges:
        m = _RANGE.search(r)
        if m and int(m.group(1)) <= status <= int(m.group(2)):
            return True
    return False


def _consumer_id(kind: str, consumer: JSONObject | None) -> JSONValue:
    if not consumer:
        return None
    return consumer.get({"consumer_id": "id", "custom_id": "custom_id", "username": "username"}[kind])


def _service_id(kind: str, service: JSONObject | None) -> JSONValue:
    if not service:
        return None
    if kind == "service_name_or_host":
        return service.get("name") or service.get("host")
    return service.get({"service_id": "id", "service_name": "name", "service_host": "host"}[kind])


def _num(v: JSONValue) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def message(prefix: str, stat: str, delta: JSONValue, kind: str, rate: JSONValue = None,
            tags: JSONObject | None = None, style: str | None = None) -> str:
    """Kong's ``create_statsd_message``."""
    r = f"|@{_num(rate)}" if rate is not None and rate != 1 else ""
    d = _num(delta)
    if style is None or tags is None:
        return f"{prefix}.{stat}:{d}|{kind}{r}"
    if style == "dogstatsd":
        return f"{prefix}.{stat}:{d}|{kind}{r}|#" + ",".join(f"{k}:{v}" for k, v in tags.items())
    t = ",".join(f"{k}={v}" for k, v in tags.items())
    if style == "influxdb":
        return f"{prefix}.{stat},{t}:{d}|{kind}{r}"
    if style == "librato":
        return f"{prefix}.{stat}#{t}:{d}|{kind}{r}"
    return f"{prefix}.{stat}[{t}]:{d}|{kind}{r}"  # signalfx


def metric_lines(conf: JSONObject, rec: JSONObject, hostname: str) -> list[str]:
    """The StatsD lines for one log record (Kong's ``send_entries_to_upstream_server``)."""
    prefix = conf.get("prefix") or "kong"
    style = conf.get("tag_style")
    if conf.get("hostname_in_prefix") and style is None:
        prefix = f"{prefix}.node.{hostname}"
    status = rec["response"]["status"]
    values = {"request_size": rec["request"].get("size"), "response_size": rec["response"].get("size"),
              "latency": rec["latencies"].get("request"), "upstream_latency": rec["latencies"].get("proxy"),
              "kong_latency": rec["latencies"].get("kong"), "request_count": 1}
    out: list[str] = []
    consumer, service, route = rec.get("consumer"), rec.get("service"), rec.get("route")
    for mc in conf.get("metrics") or ():
        name = mc["name"]
        kind = STAT_KINDS[mc["stat_type"]]
        rate = mc.get("sample_rate")
        cid = _consumer_id(mc.get("consumer_identifier") or conf["consumer_identifier_default"], consumer)
        tags: JSONObject | None = None
        scope = ""
        if style:
            sid = _service_id(mc.get("service_identifier") or conf["service_identifier_default"], service)
            if sid is not None:
                tags = {"service": sid}
                if route:
                    tags["route"] = route.get("name") or route.get("id")
                tags["workspace"] = WORKSPACE
                if cid is not None:
                    tags["consumer"] = cid
                tags["node"] = hostname
                tags["status"] = status
        elif service:
            sid = _service_id(mc.get("service_identifier") or conf["service_identifier_default"], service)
            scope = "service." + (str(sid).replace(".", "_") if sid else "unnamed")
        else:
            scope = "global.unmatched"
        if name in ("unique_users", "request_per_user", "status_count", "status_count_per_user",
                    "status_count_per_workspace", "status_count_per_user_per_route", "shdict_usage"):
            if style or name == "shdict_usage":
                continue  # Kong skips these in tag mode; no shared dicts locally
            if name == "unique_users" and cid is not None:
                out.append(message(prefix, f"{scope}.user.uniques", cid, "s"))
            elif name == "request_per_user" and cid is not None:
                out.append(message(prefix, f"{scope}.user.{cid}.request.count", 1, "c", rate))
            elif name == "status_count":
                out.append(message(prefix, f"{scope}.status.{status}", 1, "c", rate))
            elif name == "status_count_per_user" and cid is not None:
                out.append(message(prefix, f"{scope}.user.{cid}.status.{status}", 1, "c", rate))
            elif name == "status_count_per_workspace":
                out.append(message(prefix, f"{scope}.workspace.{WORKSPACE}.status.{status}", 1, "c", rate))
            elif name == "status_count_per_user_per_route" and cid is not None and route and route.get("id"):
                out.append(message(prefix, f"route.{route['id']}.user.{cid}.status.{status}", 1, "c", rate))
            continue
        value = values.get(name)
        if value is None or value == -1:
            continue
        if style:
            if tags is not None:
                out.append(message(prefix, STAT_NAMES[name], value, kind, rate, tags, style))
        else:
            out.append(message(prefix, f"{scope}.{STAT_NAMES[name]}", value, kind, rate))
    return out


def packets(lines: list[str], size: int) -> list[bytes]:
    """Kong's UDP buffering: with ``udp_packet_size`` > 0, lines joined by newlines up to that
    many bytes (a longer single line is still sent, alone)."""
    if size <= 0:
        return [line.encode() for line in lines]
    out: list[bytes] = []
    buf: list[str] = []
    used = 0
    for line in lines:
        if buf and used + len(line) > size:
            out.append("\n".join(buf).encode())
            buf, used = [], 0
        buf.append(line)
        used += len(line) + 1
    if buf:
        out.append("\n".join(buf).encode())
    return out


class StatsdHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.qname = f"statsd:{plugin.get('id') or id(self)}"
        self.params = queue_params(NAME, config, self.qname)
        self.queues = QueueRegistry.of(runtime)
        self.queues.acquire(self.qname)
        self.sender = DatagramSender.of(runtime, NAME)
        self.sender.users += 1
        self.hostname = _hostname()
        self.where = f"{'tcp' if config.get('use_tcp') else 'udp'}://{config['host']}:{config['port']}"
        self._closed = False

    async def _send(self, conf: JSONObject, records: list[JSONObject]) -> tuple[bool, str | None]:
        lines = [line for rec in records for line in metric_lines(conf, rec, self.hostname)]
        if conf.get("use_tcp"):
            try:
                _r, w = await asyncio.wait_for(asyncio.open_connection(conf["host"], conf["port"]), 1.0)
                w.write("".join(f"{line}\n" for line in lines).encode())
                await w.drain()
                w.close()
            except (OSError, TimeoutError) as exc:
                return False, f"failed to connect to {conf['host']}:{conf['port']}: {exc}"
            return True, None
        for packet in packets(lines, int(conf.get("udp_packet_size") or 0)):
            self.sender.send(conf["host"], conf["port"], packet)
        return True, None

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if not in_range(self.config.get("allow_status_codes"), resp.status):
            ctx.decisions.append(Decision(NAME, "skip", f"metrics: status {resp.status} not in allow_status_codes"))
            return
        ok, err, _q = self.queues.enqueue(self.params, self._send, self.config, serialize(ctx, resp))
        if ok:
            ctx.decisions.append(Decision(NAME, "pass", f"metrics: queued for {self.where}", {"destination": self.where}))
        else:
            ctx.decisions.append(Decision(NAME, "error", f"metrics: not queued: {err}"))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.queues.release(self.qname)
            self.sender.release()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Send request metrics (counts, latencies, sizes, statuses, per consumer) to a StatsD server.",
    handler=StatsdHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
