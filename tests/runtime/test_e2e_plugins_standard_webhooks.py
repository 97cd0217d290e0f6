"""standard-webhooks through real sockets: Kong's spec/03-plugins/44-standard-webhooks/
02-integration_spec.lua, each test naming its ``it``. The clock is put in the plugin's shared
state, so "now" and the webhook timestamps are fixed numbers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from e2e_plugin_support import Gateway

from konnect_desktop.plugins.standard_webhooks import sign

pytestmark = pytest.mark.asyncio(loop_scope="module")
SW = "standard-webhooks"
SECRET = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
NOW = 1_700_000_000
BODY = b'{"foo":"bar"}'


async def setup(gw: Gateway, **config: object) -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/"])
    c.plugin(SW, {"secret_v1": SECRET, **config}, route=r)
    await gw.load(c)
    gw.runtime.services.shared_state(SW)["clock"] = lambda: NOW + 0.25


def headers(sig: str | None, ts: object) -> list[tuple[str, str]]:
    out = [("Content-Type", "application/json"), ("webhook-id", MESSAGE_ID), ("webhook-timestamp", str(ts))]
    return out if sig is None else [*out, ("webhook-signature", sig)]


async def test_sign_is_kongs() -> None:
    """Kong signs with ``secret_v1`` as given: HMAC-SHA256 over ``id.timestamp.body``, base64."""
    mac = hmac.new(SECRET.encode(), f"{MESSAGE_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(SECRET, MESSAGE_ID, NOW, BODY) == "v1," + base64.b64encode(mac).decode()


async def test_standard_webhooks(gw: Gateway) -> None:
    """02-integration_spec.lua: "rejects missing headers", "rejects invalid timestamp", "rejects
    missing body", "accepts correct signature", "fails because the timestamp tolerance is
    exceeded"."""
    await setup(gw)
    r = await gw.request("POST", "/", headers(None, NOW), BODY)
    assert r.status == 400 and r.json()["message"] == "Bad request"
    assert (await gw.request("POST", "/", headers("asdf", "XYZ"), BODY)).status == 400
    assert (await gw.request("POST", "/", headers("asdf", NOW))).status == 400
    r = await gw.request("POST", "/", headers(sign(SECRET, MESSAGE_ID, NOW, BODY), NOW), BODY)
    assert r.status == 200 and r.echo["data"] == BODY.decode()
    entry = gw.runtime.traffic.recent(1)[0]
    assert [(d.plugin, d.outcome) for d in entry.decisions] == [(SW, "pass")]
    old = NOW - 6 * 60
    assert (await gw.request("POST", "/", headers(sign(SECRET, MESSAGE_ID, old, BODY), old), BODY)).status == 400
    # (not in the spec) a wrong signature, and the boundary of the tolerance
    assert (await gw.request("POST", "/", headers(sign("other", MESSAGE_ID, NOW, BODY), NOW), BODY)).status == 400
    edge = NOW - 300  # now - ts = 300.25 > 300: refused; one second later it is within
    assert (await gw.request("POST", "/", headers(sign(SECRET, MESSAGE_ID, edge, BODY), edge), BODY)).status == 400
    assert (await gw.request("POST", "/", headers(sign(SECRET, MESSAGE_ID, edge + 1, BODY), edge + 1), BODY)).status == 200
