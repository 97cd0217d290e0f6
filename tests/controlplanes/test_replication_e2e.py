"""Replication end to end: two local runtimes ("us" and "eu") over their real Admin APIs, the
CLI as a user runs it, and real proxied requests that must be answered alike on both sides."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from controlplane_support import cli, serve
from fake_clock import hold_rate_limiting

from konnect_desktop.model import declarative
from konnect_desktop.runtime.runtime import LocalRuntime

RICH = """
_format_version: "3.0"
services:
  - name: echo
    host: echo.internal
    tags: [team-a]
    plugins:
      - name: correlation-id
        config: {header_name: X-Trace, echo_downstream: true}
    routes:
      - name: open
        paths: [/open]
        tags: [team-a]
        plugins:
          - name: request-transformer
            config: {add: {headers: ["x-demo:1"], querystring: ["q:added"]}, remove: {headers: [x-internal]}}
          - name: response-transformer
            config: {add: {headers: ["x-served-by:gateway"]}}
      - name: private
        paths: [/private]
        tags: [team-a]
        plugins:
          - name: key-auth
          - name: acl
            config: {allow: [gold, silver]}
          - name: rate-limiting
            config: {minute: 100, policy: local}
      - name: cors-r
        paths: [/cors]
        tags: [team-a]
        plugins:
          - name: cors
            config: {origins: ["https://app.example.com"], credentials: true}
          - name: ip-restriction
            config: {allow: ["127.0.0.1"]}
  - name: balanced
    host: pool.internal
    tags: [team-a]
    routes:
      - name: lb
        paths: [/lb]
        tags: [team-a]
upstreams:
  - name: pool.internal
    tags: [team-a]
    targets:
      - target: "127.0.0.1:{UPSTREAM_PORT}"
        weight: 100
consumers:
  - username: alice
    tags: [team-a]
    keyauth_credentials: [{key: alice-key-0001}]
    acls: [{group: gold}]
    groups: [{name: gold-tier}]
  - username: bob
    tags: [team-a]
    keyauth_credentials: [{key: bob-key-0002}]
    acls: [{group: bronze}]
  - username: carol
    tags: [team-a]
    keyauth_credentials: [{key: carol-key-0003}]
    acls: [{group: silver}]
    groups: [{name: silver-tier}]
consumer_groups:
  - name: gold-tier
    tags: [team-a]
    plugins:
      - name: rate-limiting
        config: {minute: 3, policy: local, limit_by: consumer}
  - name: silver-tier
    tags: [team-a]
    plugins:
      - name: rate-limiting
        config: {minute: 2, policy: local, limit_by: consumer}
plugins:
  - name: rate-limiting
    consumer: bob
    config: {minute: 1, policy: local}
"""


async def _upstream() -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path, "upstream": "real"})

    return await serve(handler)


@pytest.fixture
async def regions(tmp_path: Path) -> Any:
    runner, port = await _upstream()
    us = LocalRuntime("us", db_path=tmp_path / "us.db")
    eu = LocalRuntime("eu", db_path=tmp_path / "eu.db")
    await us.start()
    await eu.start()
    for rt in (us, eu):  # the probes' rate-limit counts fall in one minute: a clock held past a minute's start
        hold_rate_limiting(rt)
    await us.load_config(declarative.load(RICH.replace("{UPSTREAM_PORT}", str(port))))
    await eu.load_config(declarative.Config())
    try:
        yield us, eu
    finally:
        await us.stop()
        await eu.stop()
        await runner.cleanup()


async def _probe(client: httpx.AsyncClient, base: str) -> list[Any]:
    """The answers a user sees for a fixed script of requests (volatile headers left out)."""
    seen: list[Any] = []

    async def req(method: str, path: str, **kw: Any) -> None:
        r = await client.request(method, base + path, **kw)
        body: Any
        try:
            body = r.json()
        except ValueError:
            body = r.text
        if isinstance(body, dict):
            body.pop("request_id", None)
            headers = body.get("headers")
            if isinstance(headers, dict):
                for h in ("x-kong-request-id", "x-trace", "x-forwarded-port", "x-forwarded-for", "x-real-ip", "host", "via", "x-forwarded-host"):
                    headers.pop(h, None)
            for k in ("url", "origin"):
                body.pop(k, None)
        keep = ("x-served-by", "x-ratelimit-limit-minute", "x-ratelimit-remaining-minute", "www-authenticate",
                "access-control-allow-origin", "access-control-allow-credentials")
        seen.append((method, path, r.status_code, {k: r.headers.get(k) for k in keep if k in r.headers}, body))

    await req("GET", "/open/x", headers={"x-internal": "secret"})
    await req("GET", "/private")
    await req("GET", "/private", headers={"apikey": "nope"})
    await req("GET", "/private", headers={"apikey": "bob-key-0002"})  # acl: bronze not allowed
    for _ in range(4):
        await req("GET", "/private", headers={"apikey": "alice-key-0001"})  # gold-tier: 3/minute
    for _ in range(3):
        await req("GET", "/private", headers={"apikey": "carol-key-0003"})  # silver-tier: 2/minute
    await req("OPTIONS", "/cors", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
    await req("GET", "/lb/x")
    await req("GET", "/nowhere")
    return seen


async def test_replicate_us_to_eu_then_no_drift_and_same_answers(regions: Any, tmp_path: Path) -> None:
    us, eu = regions
    rc, out, err = await cli("replicate", "--from", us.admin_url, "--to", eu.admin_url)
    assert rc == 0, err
    assert "creating service echo" in out and "creating consumer-group gold-tier" in out
    assert "creating plugin rate-limiting for consumer-group gold-tier" in out
    assert "creating key-auth -0001 for consumer alice" in out
    assert "alice-key-0001" not in out  # keys are masked in output
    summary = out[out.index("Summary:"):]
    created = int(summary.split("Created: ")[1].split()[0])
    assert created >= 30 and "Deleted: 0" in summary

    # A second look finds nothing to do.
    rc, out, err = await cli("replicate", "--from", us.admin_url, "--to", eu.admin_url, "--dry-run", "--json-output")
    assert rc == 0, err
    assert json.loads(out)["summary"]["total"] == 0
    dump = tmp_path / "us.yaml"
    rc, _, err = await cli("dump", "--from", us.admin_url, "-o", str(dump))
    assert rc == 0, err
    rc, out, err = await cli("diff", str(dump), "--to", eu.admin_url, "--exit-on-drift")
    assert (rc, out) == (0, "Summary:\n  Created: 0\n  Updated: 0\n  Deleted: 0\n"), err

    await eu.wait_synced()
    async with httpx.AsyncClient(timeout=10) as client:
        a = await _probe(client, us.proxy_url)
        b = await _probe(client, eu.proxy_url)
    assert a == b
    statuses = [s for (_, _, s, _, _) in a]
    # transform applied; 401 without key; 401 bad key; 403 acl; gold 3 then 429; silver 2 then 429
    assert statuses[:4] == [200, 401, 401, 403]
    assert statuses[4:8] == [200, 200, 200, 429]
    assert statuses[8:11] == [200, 200, 429]
    assert a[0][4]["headers"]["x-demo"] == "1" and "x-internal" not in a[0][4]["headers"]
    assert a[0][3]["x-served-by"] == "gateway"
    assert a[-2][4] == {"path": "/x", "upstream": "real"}
    assert a[-1][2] == 404


async def test_renames_deletes_and_tag_scoped_sync(regions: Any, tmp_path: Path) -> None:
    us, eu = regions
    assert (await cli("replicate", "--from", us.admin_url, "--to", eu.admin_url))[0] == 0
    async with httpx.AsyncClient(base_url=us.admin_url) as admin:
        assert (await admin.patch("/routes/open", json={"name": "open-renamed"})).status_code == 200
        assert (await admin.delete("/consumers/bob")).status_code == 204
    rc, out, err = await cli("replicate", "--from", us.admin_url, "--to", eu.admin_url)
    assert rc == 0, err
    assert "deleting consumer bob" in out
    assert "deleting key-auth -0002 for consumer bob" in out
    async with httpx.AsyncClient(base_url=eu.admin_url) as admin:
        assert (await admin.get("/routes/open-renamed")).status_code == 200
        assert (await admin.get("/consumers/bob")).status_code == 404
        # an entity outside the managed tags lives in eu only
        r = await admin.post("/services", json={"name": "team-b-svc", "host": "b.example.com", "tags": ["team-b"]})
        assert r.status_code == 201
    # a file managing only team-a, without the balanced service
    doc = declarative.to_deck_dict(await asyncio.to_thread(us.store.export), select_tags=["team-a"])
    doc["services"] = [s for s in doc["services"] if s["name"] != "balanced"]
    f = tmp_path / "team-a.yaml"
    import yaml

    f.write_text(yaml.safe_dump(doc))
    rc, out, err = await cli("sync", str(f), "--to", eu.admin_url)
    assert rc == 0, err
    assert "deleting service balanced" in out and "team-b-svc" not in out
    async with httpx.AsyncClient(base_url=eu.admin_url) as admin:
        assert (await admin.get("/services/team-b-svc")).status_code == 200
        assert (await admin.get("/services/balanced")).status_code == 404
        tagged = (await admin.get("/services", params={"tags": "team-a"})).json()["data"]
        assert sorted(s["name"] for s in tagged) == ["echo"]


async def test_sync_stops_on_first_error_and_reports(regions: Any, tmp_path: Path) -> None:
    us, eu = regions
    bad = tmp_path / "bad.yaml"
    bad.write_text("_format_version: '3.0'\nservices:\n- name: x\n  host: x.example.com\n  routes:\n  - name: r\n    paths: [/x]\nplugins:\n- name: not-a-bundled-plugin\n")
    rc, out, err = await cli("sync", str(bad), "--to", eu.admin_url)
    assert rc == 1
    assert "plugin 'not-a-bundled-plugin' not enabled" in err
    assert "creating service x" in out  # the parents' level ran before the failure
