"""prometheus through real sockets: requests through the proxy, a scrape of the Admin API's
``GET /metrics``. Ported from Kong's spec/03-plugins/26-prometheus/02-access_spec.lua and
07-optional_fields_spec.lua (each test names its ``it``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from e2e_plugin_support import request
from test_proxy_support import Cfg, Server, app_server, make_runtime, port_of, raw_request

from konnect_desktop import plugins
from konnect_desktop.plugins.prometheus import Metrics, NodeFacts, render
from konnect_desktop.runtime.runtime import LocalRuntime

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Env:
    def __init__(self, rt: LocalRuntime, upstream: Server) -> None:
        self.rt = rt
        self.upstream = upstream

    async def load(self, config: dict[str, Any], *, route_name: str = "http-route", extra: Any = None) -> None:
        c = Cfg()
        svc = c.service(port=self.upstream.port, name="mock-service")
        r = c.route(svc, paths=["/"], name=route_name)
        c.plugin("prometheus", config)
        if extra:
            extra(c, svc, r)
        await self.rt.load_config(c.config())
        assert not self.rt.config_errors

    async def get(self, path: str, headers: Any = None, host: str = "127.0.0.1") -> Any:
        assert self.rt.proxy_url
        return await request(port_of(self.rt.proxy_url), "GET", path, headers, host=host)

    async def scrape(self) -> tuple[int, str | None, str]:
        assert self.rt.admin_url
        r = await raw_request(port_of(self.rt.admin_url), "GET", "/metrics", [], b"", "127.0.0.1", 10.0)
        return r.status, r.header("Content-Type"), r.body.decode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async def status(req: web.Request) -> web.Response:
        m = re.match(r"^/status/(\d+)", req.path)
        return web.Response(status=int(m.group(1)) if m else 200, text="ok")

    up = await app_server(status)
    rt = await make_runtime(Path(tmp_path_factory.mktemp("prom")), "prom", admin_listen=("127.0.0.1", 0))
    yield Env(rt, up)
    await rt.stop()
    await up.stop()


async def test_increments_the_count_for_proxied_requests(env: Env) -> None:
    """02-access_spec it("increments the count for proxied requests")."""
    await env.load({"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True})
    assert (await env.get("/status/200")).status == 200
    status, ctype, body = await env.scrape()
    assert status == 200 and ctype is not None and ctype.startswith("text/plain")
    assert "kong_nginx_metric_errors_total 0" in body
    assert ('kong_http_requests_total{service="mock-service",route="http-route",code="200",source="service",'
            'workspace="default",consumer=""} 1') in body
    assert (await env.get("/status/400")).status == 400
    _s, _c, body = await env.scrape()
    assert ('kong_http_requests_total{service="mock-service",route="http-route",code="400",source="service",'
            'workspace="default",consumer=""} 1') in body
    # latency and bandwidth families (07-optional_fields_spec: present when enabled)
    assert re.search(r'kong_request_latency_ms_bucket\{service="mock-service",route="http-route",'
                     r'workspace="default",le="\+Inf"\} 2', body)
    assert 'kong_request_latency_ms_count{service="mock-service",route="http-route",workspace="default"} 2' in body
    assert re.search(r'kong_bandwidth_bytes\{service="mock-service",route="http-route",direction="egress",'
                     r'workspace="default",consumer=""\} \d+', body)
    assert re.search(r'kong_bandwidth_bytes\{service="mock-service",route="http-route",direction="ingress",'
                     r'workspace="default",consumer=""\} \d+', body)


async def test_scrape_response_has_metrics_and_comments_only(env: Env) -> None:
    """02-access_spec it("scrape response has metrics and comments only") and
    it("exposes db reachability metrics")."""
    await env.load({})
    _s, _c, body = await env.scrape()
    for line in body.splitlines():
        assert line.startswith(("#", "kong")), line
    assert "kong_datastore_reachable 1" in body
    assert re.search(r'kong_nginx_connections_total\{node_id="[0-9a-f-]{36}",subsystem="http",state="active"\} \d+', body)
    assert f'kong_node_info{{node_id="{env.rt.node_id}",version="3.9.1"}} 1' in body


async def test_optional_fields_off_by_default(env: Env) -> None:
    """07-optional_fields_spec it("less metrics when ... prometheus") and 02-access_spec
    it("does not expose per consumer metrics by default"): with every opt-in off, no per-request
    series is counted (the metrics of earlier tests stay: they live as long as the runtime, as
    Kong's shared dict does)."""
    await env.load({})

    def per_request(body: str) -> list[str]:
        return [line for line in body.splitlines()
                if line.startswith(("kong_http_requests_total", "kong_request_latency", "kong_bandwidth_bytes"))]

    before = per_request((await env.scrape())[2])
    await env.get("/status/200")
    await env.get("/status/201")
    assert per_request((await env.scrape())[2]) == before
    assert 'code="201"' not in "".join(before)


async def test_does_not_log_error_if_no_service_was_matched(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """02-access_spec it("does not log error if no service was matched")."""
    await env.load({"status_code_metrics": True})
    with caplog.at_level("ERROR"):
        r = await env.get("/no-route-match-in-kong", host="nowhere.test")
    assert r.status in (200, 404)
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


async def test_behave_correctly_if_consumer_is_not_found(env: Env) -> None:
    """02-access_spec it("behave correctly if consumer is not found"): a 401 from key-auth counts
    with source "kong" and an empty consumer."""
    def keyauth(c: Cfg, svc: dict[str, Any], r: dict[str, Any]) -> None:
        c.plugin("key-auth", {}, route=r)

    await env.load({"status_code_metrics": True, "per_consumer": True}, extra=keyauth)
    assert (await env.get("/status/200", [("apikey", "nope")])).status == 401
    _s, _c, body = await env.scrape()
    assert ('kong_http_requests_total{service="mock-service",route="http-route",code="401",source="kong",'
            'workspace="default",consumer=""} 1') in body


async def test_per_consumer(env: Env) -> None:
    """02-access_spec describe("Plugin: prometheus (access) granular metrics switch") — the
    consumer label is filled with per_consumer."""
    def keyauth(c: Cfg, svc: dict[str, Any], r: dict[str, Any]) -> None:
        c.plugin("key-auth", {}, route=r)
        alice = c.consumer("alice")
        c.add("keyauth_credentials", key="alice-key", consumer={"id": alice["id"]})

    await env.load({"status_code_metrics": True, "per_consumer": True}, extra=keyauth, route_name="consumer-route")
    assert (await env.get("/status/200", [("apikey", "alice-key")])).status == 200
    _s, _c, body = await env.scrape()
    assert ('kong_http_requests_total{service="mock-service",route="consumer-route",code="200",source="service",'
            'workspace="default",consumer="alice"} 1') in body
    assert "alice-key" not in body


async def test_upstream_health_metrics(env: Env) -> None:
    """05-metrics_spec: kong_upstream_target_health with upstream_health_metrics on: a target of
    an upstream without health checks is ``healthchecks_off``; with checks on, ``healthy`` or
    ``unhealthy`` as the runtime's health registry has it."""
    def upstream(c: Cfg, svc: dict[str, Any], r: dict[str, Any]) -> None:
        u = c.upstream("my-upstream")
        c.target(u, f"127.0.0.1:{env.upstream.port}")

    await env.load({"upstream_health_metrics": True}, extra=upstream)
    await env.get("/status/200")
    _s, _c, body = await env.scrape()
    t = f"127.0.0.1:{env.upstream.port}"
    assert (f'kong_upstream_target_health{{upstream="my-upstream",target="{t}",address="{t}",'
            f'state="healthchecks_off",subsystem="http"}} 1') in body
    assert (f'kong_upstream_target_health{{upstream="my-upstream",target="{t}",address="{t}",'
            f'state="healthy",subsystem="http"}} 0') in body

    def checked(c: Cfg, svc: dict[str, Any], r: dict[str, Any]) -> None:
        u = c.upstream("my-upstream", healthchecks={"passive": {"unhealthy": {"http_failures": 1}}})
        c.target(u, f"127.0.0.1:{env.upstream.port}")

    await env.load({"upstream_health_metrics": True}, extra=checked)
    upstream_id = env.rt.store.get("upstreams", "my-upstream")["id"]
    env.rt.health.set_health(upstream_id, "127.0.0.1", env.upstream.port, False)
    _s, _c, body = await env.scrape()
    assert (f'kong_upstream_target_health{{upstream="my-upstream",target="{t}",address="{t}",'
            f'state="unhealthy",subsystem="http"}} 1') in body
    env.rt.health.set_health(upstream_id, "127.0.0.1", env.upstream.port, True)


async def test_histogram_render_and_label_escaping() -> None:
    """prometheus.lua's exposition: cumulative buckets, ``+Inf``, ``_count``/``_sum``, escaped labels."""
    m = Metrics()
    m.users = 1
    for v in (1, 3, 7000):
        m.observe("kong_latency_ms", ('s"1', "r\\1", "default"), v)
    text = render(m, NodeFacts(node_id="n", version="3.9.1"))
    labels = 'service="s\\"1",route="r\\\\1",workspace="default"'
    assert f'kong_kong_latency_ms_bucket{{{labels},le="1"}} 1' in text
    assert f'kong_kong_latency_ms_bucket{{{labels},le="5"}} 2' in text
    assert f'kong_kong_latency_ms_bucket{{{labels},le="6000"}} 2' in text
    assert f'kong_kong_latency_ms_bucket{{{labels},le="+Inf"}} 3' in text
    assert f"kong_kong_latency_ms_count{{{labels}}} 3" in text and f"kong_kong_latency_ms_sum{{{labels}}} 7004" in text
    assert "# TYPE kong_kong_latency_ms histogram" in text


async def test_schema() -> None:
    """The schema (kong/plugins/prometheus/schema.lua): six booleans, all false by default."""
    out = plugins.validate_plugin({"name": "prometheus", "config": {}})
    assert out["config"] == {"per_consumer": False, "status_code_metrics": False, "ai_metrics": False,
                             "latency_metrics": False, "bandwidth_metrics": False, "upstream_health_metrics": False}
    _o, errs = plugins.check_plugin({"name": "prometheus", "config": {"per_consumer": "yes"}})
    assert errs == {"config": {"per_consumer": "expected a boolean"}}
