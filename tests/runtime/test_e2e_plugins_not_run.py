"""The plugins the local runtime carries but does not run, through real sockets.

A plugin that would guard or answer traffic refuses every request it applies to with 500 naming
the plugin and why — the upstream never sees the request; one that only observes lets requests
through with a ``skip`` decision in the traffic insight; each logs one warning per runtime, not
one per request or per configuration load.

Kong runs all of these; the difference is deliberate (this app does not run Lua, call cloud
functions, LDAP, ACME CAs or LLM providers, or ship telemetry), and it is never silent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from e2e_plugin_support import Gateway, Reply, start_gateway
from plugin_examples import minimal

from konnect_desktop import plugins
from konnect_desktop.plugins.not_run import REFUSED_STATUS, Refuses, Skips, refusal_message

pytestmark = pytest.mark.asyncio(loop_scope="module")

REFUSING = [n for n in plugins.BUNDLED if issubclass(plugins.get(n).handler or object, Refuses)]  # type: ignore[union-attr]
SKIPPING = [n for n in plugins.BUNDLED if issubclass(plugins.get(n).handler or object, Skips)]  # type: ignore[union-attr]


def reason(name: str) -> str:
    spec = plugins.get(name)
    assert spec is not None and spec.not_run
    return spec.not_run


async def load_one(gw: Gateway, name: str, config: dict[str, Any] | None = None, path: str = "/p") -> None:
    c, svc = gw.cfg()
    route = c.route(svc, paths=[path])
    spec = plugins.get(name)
    assert spec is not None
    # attached to the route where Kong allows it; acme is global only
    c.plugin(name, config if config is not None else minimal(name), route=route if "route" in spec.scopes else None)
    await gw.load(c)


def decision(gw: Gateway, name: str) -> Any:
    entry = gw.runtime.traffic.recent()[-1]
    found = [d for d in entry.decisions if d.plugin == name]
    assert len(found) == 1, entry.decisions
    return found[0]


def assert_refused(gw: Gateway, r: Reply, name: str) -> None:
    assert r.status == REFUSED_STATUS, r
    body = r.json()
    assert body["message"] == refusal_message(name, reason(name))
    assert "headers" not in body  # the echo upstream was not reached
    d = decision(gw, name)
    assert d.outcome == "reject" and reason(name) in d.summary


async def test_the_split_covers_every_carried_plugin() -> None:
    carried = {n for n in plugins.BUNDLED if not plugins.get(n).runs_locally}  # type: ignore[union-attr]
    assert carried == set(REFUSING) | set(SKIPPING)
    assert set(SKIPPING) == {"zipkin", "opentelemetry", "datadog", "loggly"}


@pytest.mark.parametrize("name", [n for n in REFUSING if n != "acme"])
async def test_guarding_plugin_refuses_with_its_name_and_reason(gw: Gateway, name: str) -> None:
    await load_one(gw, name)
    for method, target in (("GET", "/p"), ("POST", "/p/deeper?x=1")):
        assert_refused(gw, await gw.request(method, target, body=b"{}" if method == "POST" else b""), name)


async def test_ldap_auth_with_an_anonymous_consumer_still_refuses(gw: Gateway) -> None:
    """An anonymous fallback is what Kong grants after *trying* the credentials; not having
    tried them, the local runtime does not pretend the try failed."""
    c, svc = gw.cfg()
    anon = c.add("consumers", username="anon")
    route = c.route(svc, paths=["/p"])
    c.plugin("ldap-auth", {**minimal("ldap-auth"), "anonymous": anon["id"]}, route=route)
    await gw.load(c)
    assert_refused(gw, await gw.request("GET", "/p", [("Authorization", "ldap dXNlcjpwYXNz")]), "ldap-auth")


async def test_guarding_plugin_only_where_it_applies(gw: Gateway) -> None:
    c, svc = gw.cfg()
    guarded = c.route(svc, paths=["/guarded"])
    c.route(svc, paths=["/open"])
    c.plugin("aws-lambda", {}, route=guarded)
    await gw.load(c)
    assert_refused(gw, await gw.request("GET", "/guarded"), "aws-lambda")
    r = await gw.request("GET", "/open")
    assert r.status == 200 and r.echo["path"] == "/"


@pytest.mark.parametrize("name", SKIPPING)
async def test_observing_plugin_is_skipped_with_a_mark(gw: Gateway, name: str) -> None:
    await load_one(gw, name)
    r = await gw.request("GET", "/p/x")
    assert r.status == 200 and r.echo["path"] == "/x"
    d = decision(gw, name)
    assert d.outcome == "skip" and d.summary == f"not run locally: {reason(name)}"


async def test_acme_refuses_only_its_challenge_path(gw: Gateway) -> None:
    await load_one(gw, "acme", path="/")
    assert_refused(gw, await gw.request("GET", "/.well-known/acme-challenge/token-123"), "acme")
    r = await gw.request("GET", "/anything")
    assert r.status == 200 and r.echo["path"] == "/anything"
    assert decision(gw, "acme").outcome == "skip"


async def test_one_warning_per_plugin_per_runtime(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gw = await start_gateway(tmp_path, "warn-once")
    try:
        caplog.set_level(logging.WARNING, logger="konnect_desktop.plugins.not_run")
        for _ in range(2):  # two configuration loads, several instances, several requests
            c, svc = gw.cfg()
            for i in range(2):
                route = c.route(svc, paths=[f"/r{i}"])
                c.plugin("zipkin", {}, route=route)
                c.plugin("pre-function", minimal("pre-function"), route=route)
            await gw.load(c)
            for i in range(2):
                await gw.request("GET", f"/r{i}")
        warnings = [r.getMessage() for r in caplog.records if r.name == "konnect_desktop.plugins.not_run"]
        assert len(warnings) == 2, warnings
        assert any(w.startswith("plugin zipkin is carried but not run") and "proxied without it" in w for w in warnings)
        assert any(w.startswith("plugin pre-function is carried but not run") and "answered 500" in w for w in warnings)
    finally:
        await gw.stop()
