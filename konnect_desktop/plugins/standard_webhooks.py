"""standard-webhooks: accept only webhooks signed with the shared secret (Kong's plugin, after the
Standard Webhooks specification).

A request must carry ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``, no older than ``tolerance_second``, and a non-empty body; the signature
must be ``v1,<base64 of HMAC-SHA256(secret_v1, "<id>.<timestamp>.<body>")>``. Anything else is
refused with 400 "Bad request" before the upstream sees it.

As in Kong 3.9, ``secret_v1`` is used as given (a ``whsec_`` prefix is not stripped nor the rest
base64-decoded), the header must hold exactly that one signature, and timestamps in the future
are not refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable

from ..jsontypes import JSONObject
from ..model.schema import Integer, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "standard-webhooks"
PRIORITY = 760
BAD_REQUEST = "Bad request"

CONFIG = Record(
    [
        ("secret_v1", String(required=True, secret=True, description="Webhook secret")),
        ("tolerance_second", Integer(required=True, gt=-1, default=5 * 60,
                                     description="Tolerance of the webhook timestamp in seconds. If the webhook timestamp is older than this number of seconds, it will be rejected with a '400' response.")),
    ],
    nullable=False,
    description="The secret webhooks are signed with, and how old they may be.",
)


def _lua_number(raw: str) -> float:
    """Lua's ``tonumber(ts) or 0``."""
    try:
        v = float(raw.strip())
    except ValueError:
        try:
            v = float(int(raw.strip(), 16))
        except ValueError:
            return 0
    return v


def _lua_str(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def sign(secret: str, msg_id: str, ts: float | str, payload: bytes) -> str:
    """The ``v1,`` signature of one webhook (Kong's ``sign``)."""
    ts_s = ts if isinstance(ts, str) else _lua_str(float(ts))
    mac = hmac.new(secret.encode(), f"{msg_id}.{ts_s}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class StandardWebhooksHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.state = runtime.shared_state(NAME)
        self.tolerance: int = config.get("tolerance_second", 300)

    def now(self) -> float:
        """Unix seconds; tests put a clock in the shared state."""
        return float(self.state.get("clock", time.time)())

    def _refuse(self, ctx: RequestContext, why: str) -> Exception:
        ctx.decisions.append(Decision(NAME, "reject", why, {"status": 400}))
        return ctx.kong_error(400, BAD_REQUEST)

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        h = ctx.original.headers
        msg_id, signature, ts_raw = h.get("webhook-id"), h.get("webhook-signature"), h.get("webhook-timestamp")
        if msg_id is None or signature is None or ts_raw is None:
            raise self._refuse(ctx, "missing webhook-id, webhook-signature or webhook-timestamp")
        ts = _lua_number(ts_raw)  # unparsable: 0, which fails the age check
        if self.now() - ts > self.tolerance:
            raise self._refuse(ctx, f"timestamp {ts_raw!r} older than {self.tolerance}s")
        return self._verify(ctx, msg_id, signature, ts)

    async def _verify(self, ctx: RequestContext, msg_id: str, signature: str, ts: float) -> None:
        body = await ctx.read_body()
        if not body:
            raise self._refuse(ctx, "empty body")
        expected = sign(self.config["secret_v1"], msg_id, ts, body)
        if not hmac.compare_digest(signature.encode("utf-8", "surrogateescape"), expected.encode()):
            raise self._refuse(ctx, f"signature of webhook {msg_id} does not match")
        ctx.decisions.append(Decision(NAME, "pass", f"webhook {msg_id} signature verified", {"webhook_id": msg_id}))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Verify Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature) and refuse unsigned or stale webhooks.",
    handler=StandardWebhooksHandler,
    no_consumer=True,
    consumer_groups=True,
)
