"""correlation-id: give every request an id in a header, for tracing it across services (Kong's plugin).

If the client did not send the header (``Kong-Request-ID`` by default), one is generated —
``uuid`` (random), ``uuid#counter`` (a per-runtime uuid and a counter, cheap) or ``tracker``
(address, port, process, connection, request and time) — and sent upstream; with
``echo_downstream`` it is also returned to the client. Runs first (PRIORITY 100001), so other
plugins and the logs see the id.
"""

from __future__ import annotations

import os
import time
import uuid

from ..jsontypes import JSONObject
from ..model.schema import Boolean, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices

NAME = "correlation-id"
PRIORITY = 100001

CONFIG = Record(
    [
        ("header_name", String(default="Kong-Request-ID", description="Name of the header that carries the correlation id.")),
        ("generator", String(one_of=("uuid", "uuid#counter", "tracker"), default="uuid#counter", required=True,
                             description="How ids are made: `uuid` (random UUID), `uuid#counter` (a UUID per runtime plus a counter) or `tracker` (server address, port, process id, connection, request number and time).")),
        ("echo_downstream", Boolean(required=True, default=False, description="Also send the correlation id back to the client in the response.")),
    ],
    nullable=False,
    description="Correlation id header settings.",
)


class CorrelationIdHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.header = config.get("header_name") or "Kong-Request-ID"
        self.generator = config.get("generator") or "uuid#counter"
        # the uuid and counter belong to the runtime, not to this config (as Kong's per worker)
        self.state = runtime.shared_state(NAME)
        self.state.setdefault("uuid", str(uuid.uuid4()))
        self.state.setdefault("counter", 0)

    def generate(self, ctx: RequestContext) -> str:
        if self.generator == "uuid":
            return str(uuid.uuid4())
        if self.generator == "uuid#counter":
            self.state["counter"] = n = self.state["counter"] + 1
            return f"{self.state['uuid']}#{n}"
        # Kong: $server_addr-$server_port-<worker pid>-$connection-$connection_requests-<time>
        c = ctx.connection
        return f"{c.server_addr}-{c.server_port}-{os.getpid()}-{c.serial}-{c.requests}-{time.time():.3f}"

    async def access(self, ctx: RequestContext) -> None:
        value = ctx.headers.get(self.header)
        generated = False
        if not value:
            value = self.generate(ctx)
            ctx.headers[self.header] = value
            generated = True
        ctx.shared["correlation_id"] = value  # for logs (Kong's serialize value)
        if self.config.get("echo_downstream"):
            ctx.plugin_ctx(self)["id"] = value
        ctx.decisions.append(Decision(NAME, "pass", f"{self.header}: {value}{' (generated)' if generated else ''}",
                                      {"correlation_id": value, "generated": generated}))

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if not self.config.get("echo_downstream"):
            return
        value = ctx.plugin_ctx(self).get("id") or ctx.headers.get(self.header) or self.generate(ctx)
        resp.headers[self.header] = value


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Add a unique id to each request in a header, to correlate it across services and logs.",
    handler=CorrelationIdHandler,
)
