"""proxy-cache through real sockets: Kong's spec/03-plugins/31-proxy-cache/02-access_spec.lua and
03-api_spec.lua, each test naming its ``it`` titles. The upstream is a small httpbin stand-in
(``/get``, ``/status/N``, ``/cache/N``, ``/response-headers``, ``/xml``, ``/stream/N``) that counts
the requests it serves, so a hit is seen not to reach it. Time is the cache storage's injected
clock: no test waits for the wall clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from e2e_plugin_support import Cfg, Gateway, Reply
from httpbin_support import Clock, Upstream
from test_proxy_support import app_server, make_runtime

from konnect_desktop.plugins.proxy_cache_store import storage_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
PC = "proxy-cache"
BASE = {"strategy": "memory", "content_type": ["text/plain", "application/json"], "memory": {"dictionary_name": "kong"}}


class CacheGateway(Gateway):
    upstream: Upstream
    clock: Clock
    admin: httpx.AsyncClient

    def cfg(self) -> tuple[Cfg, dict[str, Any]]:
        c = Cfg()
        return c, c.service(port=self.echo.port)

    async def get(self, host: str, target: str = "/get", headers: Any = None) -> Reply:
        return await self.request("GET", target, headers, host=host)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CacheGateway]:
    up = Upstream()
    server = await app_server(up.handle)
    rt = await make_runtime(tmp_path_factory.mktemp("pc"), "pc")
    g = CacheGateway(rt, server)
    g.upstream = up
    g.clock = Clock()
    storage_of(rt.services).clock = g.clock
    g.admin = httpx.AsyncClient(base_url=rt.admin_url or "", timeout=10)
    yield g
    await g.admin.aclose()
    await g.stop()


async def load(gw: CacheGateway, configs: dict[str, dict[str, Any] | None], *, key_auth: tuple[str, ...] = (),
               global_config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """One route per host with its proxy-cache instance (None: no instance), consumers bob and
    alice (key-auth keys "bob", "alice") on the ``key_auth`` hosts; the cache starts empty."""
    c, svc = gw.cfg()
    instances = {}
    for host, config in configs.items():
        r = c.route(svc, hosts=[host])
        if config is not None:
            instances[host] = c.plugin(PC, {**BASE, **config}, route=r)
        if host in key_auth:
            c.plugin("key-auth", {}, route=r)
    if global_config is not None:
        instances["*"] = c.plugin(PC, {**BASE, **global_config})
    for name in ("bob", "alice"):
        consumer = c.consumer(name)
        c.add("keyauth_credentials", key=name, consumer={"id": consumer["id"]})
    await gw.load(c)
    assert (await gw.admin.delete("/proxy-cache")).status_code == 204
    return instances


def status(r: Reply) -> str | None:
    return r.header("X-Cache-Status")


async def test_caches_a_simple_request(gw: CacheGateway) -> None:
    """02-access_spec.lua: "caches a simple request", "differentiates caches between instances"."""
    await load(gw, {"route-1.test": {}, "route-2.test": {}})
    r1 = await gw.get("route-1.test")
    assert r1.status == 200 and status(r1) == "Miss"
    key1 = r1.header("X-Cache-Key")
    assert key1 is not None and len(key1) == 64 and key1.isalnum()
    served = gw.upstream.served
    r2 = await gw.get("route-1.test")
    assert r2.status == 200 and status(r2) == "Hit" and r2.header("X-Cache-Key") == key1
    assert r2.body == r1.body and gw.upstream.served == served  # answered without the upstream
    assert r2.header("Age") == "0" and r2.header("Content-Type") == r1.header("Content-Type") == "application/json"
    assert (await gw.get("route-2.test")).header("X-Cache-Key") != key1
    # the request console sees the verdicts
    entry = gw.runtime.traffic.recent(2)[0]
    assert [(d.plugin, d.data.get("cache_status")) for d in entry.decisions] == [(PC, "Hit")]


async def test_response_headers(gw: CacheGateway) -> None:
    """02-access_spec.lua: "No X-Cache* neither age headers on the response without debug header in
    the query", "response_headers headers on the response when configured", "response_headers
    headers on the response when set to default"."""
    hidden = {"response_headers": {"age": False, "X-Cache-Status": False, "X-Cache-Key": False}}
    shown = {"response_headers": {"age": True, "X-Cache-Status": True, "X-Cache-Key": True}}
    await load(gw, {"route-22.test": hidden, "route-23.test": shown, "route-24.test": {}})
    for _ in range(2):
        r = await gw.get("route-22.test")
        assert r.status == 200
        assert (status(r), r.header("X-Cache-Key"), r.header("Age")) == (None, None, None)
    r = await gw.get("route-22.test", headers=[("Kong-Debug", "1")])
    assert status(r) == "Hit" and r.header("Age") is not None and r.header("X-Cache-Key") is not None
    for host in ("route-23.test", "route-24.test"):
        r = await gw.get(host)
        assert status(r) == "Miss" and r.header("X-Cache-Key") is not None and r.header("Age") is None
        r = await gw.get(host)
        assert status(r) == "Hit" and r.header("Age") is not None and r.header("X-Cache-Key") is not None


async def test_respects_cache_ttl(gw: CacheGateway) -> None:
    """02-access_spec.lua: "respects cache ttl" (the spec's sleeps are clock steps here)."""
    await load(gw, {"route-6.test": {"cache_ttl": 2}, "route-9.test": {"cache_ttl": 2, "storage_ttl": 60}})
    assert status(await gw.get("route-6.test")) == "Miss"
    assert status(await gw.get("route-6.test")) == "Hit"
    gw.clock.now += 3
    assert status(await gw.get("route-6.test")) == "Miss"
    assert status(await gw.get("route-6.test")) == "Hit"
    # kept in storage longer than cache_ttl: stale entries are refreshed, not served
    assert status(await gw.get("route-9.test")) == "Miss"
    assert status(await gw.get("route-9.test")) == "Hit"
    gw.clock.now += 3
    assert status(await gw.get("route-9.test")) == "Refresh"
    assert status(await gw.get("route-9.test")) == "Hit"


async def test_respects_cache_ttl_via_cache_control(gw: CacheGateway) -> None:
    """02-access_spec.lua: "respects cache ttl via cache control", "public not present in
    Cache-Control, but max-age is", "Cache-Control contains s-maxage only", "Expires present,
    Cache-Control absent"."""
    await load(gw, {"route-7.test": {"cache_control": True}})
    assert status(await gw.get("route-7.test", "/cache/2")) == "Miss"
    assert status(await gw.get("route-7.test", "/cache/2")) == "Hit"
    gw.clock.now += 3
    assert status(await gw.get("route-7.test", "/cache/2")) == "Miss"
    assert status(await gw.get("route-7.test", "/cache/2")) == "Hit"
    # max-age=0 never results in caching
    assert status(await gw.get("route-7.test", "/cache/0")) == "Bypass"
    assert status(await gw.get("route-7.test", "/cache/0")) == "Bypass"
    assert status(await gw.get("route-7.test", "/response-headers?Cache-Control=max-age%3D604800")) == "Miss"
    assert status(await gw.get("route-7.test", "/response-headers?Cache-Control=s-maxage%3D604800")) == "Miss"
    expires = quote(formatdate(gw.clock.now + 5000, usegmt=True))
    assert status(await gw.get("route-7.test", f"/response-headers?Expires={expires}")) == "Miss"


async def test_respects_request_cache_control(gw: CacheGateway) -> None:
    """02-access_spec.lua, "respects cache-control": "min-fresh", "max-age", "max-stale",
    "only-if-cached"."""
    await load(gw, {"route-7.test": {"cache_control": True}, "route-8.test": {"cache_control": True, "storage_ttl": 600}})
    assert status(await gw.get("route-7.test", "/cache/2")) == "Miss"
    assert status(await gw.get("route-7.test", "/cache/2", [("Cache-Control", "min-fresh=30")])) == "Refresh"
    max_age = [("Cache-Control", "max-age=2")]
    assert status(await gw.get("route-7.test", "/cache/10", max_age)) == "Miss"
    assert status(await gw.get("route-7.test", "/cache/10", max_age)) == "Hit"
    gw.clock.now += 3
    assert status(await gw.get("route-7.test", "/cache/10", max_age)) == "Refresh"
    assert status(await gw.get("route-8.test", "/cache/2")) == "Miss"
    assert status(await gw.get("route-8.test", "/cache/2")) == "Hit"
    gw.clock.now += 4
    assert status(await gw.get("route-8.test", "/cache/2", [("Cache-Control", "max-stale=1")])) == "Refresh"
    r = await gw.get("route-8.test", "/get?not=here", [("Cache-Control", "only-if-cached")])
    assert r.status == 504


async def test_caches_a_streaming_request(gw: CacheGateway) -> None:
    """02-access_spec.lua: "caches a streaming request". Deliberate difference: the miss is
    buffered whole by the gateway, so it carries a Content-Length where Kong streams it."""
    await load(gw, {"route-1.test": {}})
    r1 = await gw.get("route-1.test", "/stream/3")
    assert r1.status == 200 and status(r1) == "Miss" and len(r1.body.splitlines()) == 3
    r2 = await gw.get("route-1.test", "/stream/3")
    assert status(r2) == "Hit" and r2.body == r1.body


async def test_cache_keys(gw: CacheGateway) -> None:
    """02-access_spec.lua: "uses a separate cache key for the same consumer between routes",
    "... between routes/services", "uses an separate cache key between routes-specific and a global
    plugin", "uses request params as part of the cache key", "can focus only in a subset of the
    query arguments", "uses headers if instructed to do so"."""
    await load(gw, {"route-1.test": {}, "route-3.test": None, "route-4.test": None, "route-13.test": {},
                    "route-14.test": {},
                    "route-11.test": {"response_code": [200], "request_method": ["GET", "HEAD", "POST"], "vary_headers": ["foo"]},
                    "route-12.test": {"response_code": [200], "request_method": ["GET", "HEAD", "POST"], "vary_query_params": ["foo"]}},
               key_auth=("route-13.test", "route-14.test"), global_config={})
    bob = [("apikey", "bob")]
    assert (await gw.get("route-13.test", headers=bob)).header("X-Cache-Key") != \
        (await gw.get("route-14.test", headers=bob)).header("X-Cache-Key")
    r3, r4 = await gw.get("route-3.test"), await gw.get("route-4.test")
    assert status(r3) == status(r4) == "Miss" and r3.header("X-Cache-Key") != r4.header("X-Cache-Key")
    for target, want in (("/get?a=b&b=c", "Miss"), ("/get?a=c", "Miss"), ("/get?b=c&a=b", "Hit"),
                         ("/get?a&b", "Miss"), ("/get?a&b", "Hit")):
        assert status(await gw.get("route-1.test", target)) == want, target
    assert status(await gw.get("route-12.test", "/get?foo=b&b=c")) == "Miss"
    assert status(await gw.get("route-12.test", "/get?b=d&foo=b")) == "Hit"
    for foo, want in (("bar", "Miss"), ("bar", "Hit"), ("baz", "Miss")):
        assert status(await gw.get("route-11.test", headers=[("foo", foo)])) == want


async def test_authenticated_routes(gw: CacheGateway) -> None:
    """02-access_spec.lua, "handles authenticated routes": "by ignoring cache if the request is
    unauthenticated", "by maintaining a separate cache per consumer"."""
    await load(gw, {"route-5.test": {}}, key_auth=("route-5.test",))
    r = await gw.get("route-5.test")
    assert r.status == 401 and status(r) is None
    for key in ("bob", "alice"):
        assert status(await gw.get("route-5.test", headers=[("apikey", key)])) == "Miss"
        assert status(await gw.get("route-5.test", headers=[("apikey", key)])) == "Hit"


async def test_bypasses_and_non_default(gw: CacheGateway) -> None:
    """02-access_spec.lua: "bypasses cache for uncacheable requests: request method", "bypasses cache
    for uncacheable responses: response status / response content type", "caches non-default
    request methods / response status"."""
    await load(gw, {"route-1.test": {}, "route-10.test": {"content_type": ["text/html; charset=utf-8", "application/json"],
                                                          "response_code": [200, 417],
                                                          "request_method": ["GET", "HEAD", "POST"]}})
    r = await gw.request("POST", "/post", [("Content-Type", "application/json")], '{"foo":"bar"}', host="route-1.test")
    assert r.status == 200 and status(r) == "Bypass"
    r = await gw.get("route-1.test", "/status/418")
    assert r.status == 418 and status(r) == "Bypass"
    assert status(await gw.get("route-1.test", "/xml")) == "Bypass"
    for want in ("Miss", "Hit"):
        r = await gw.request("POST", "/post", [("Content-Type", "application/json")], '{"foo":"bar"}', host="route-10.test")
        assert r.status == 200 and status(r) == want
        r = await gw.get("route-10.test", "/status/417")
        assert r.status == 417 and status(r) == want
    entry = gw.runtime.traffic.recent(1)[0]
    assert entry.decisions[0].data["cache_status"] == "Hit"


async def test_content_type(gw: CacheGateway) -> None:
    """02-access_spec.lua, "content-type": "should cache a request with wildcard content_type(*/*)",
    "should not cache a request while parameter is not match", "should not cause error while upstream
    returns a invalid content type", "should not cause error while config.content_type has invalid
    element"."""
    await load(gw, {"route-17.test": {"content_type": ["*/*"]},
                    "route-18.test": {"content_type": ["application/xml; charset=UTF-8"]},
                    "route-19.test": {"content_type": ["application/xml;"]}})
    for want in ("Miss", "Hit"):
        r = await gw.get("route-17.test", "/xml")
        assert r.status == 200 and r.header("Content-Type") == "application/xml" and status(r) == want
    r = await gw.get("route-18.test", "/xml")
    assert r.header("Content-Type") == "application/xml" and status(r) == "Bypass"
    r = await gw.get("route-18.test", "/response-headers?Content-Type=application/xml;")
    assert r.status == 200 and r.header("Content-Type") == "application/xml;" and status(r) == "Bypass"
    r = await gw.get("route-19.test", "/xml")
    assert r.status == 200 and status(r) == "Bypass"


async def test_uri_case(gw: CacheGateway) -> None:
    """02-access_spec.lua: "ignore uri case in cache_key", "acknowledge uri case in cache_key"."""
    await load(gw, {"route-20.test": {"response_code": [404], "ignore_uri_case": True},
                    "route-21.test": {"response_code": [404], "ignore_uri_case": False}})
    r1 = await gw.get("route-20.test", "/status/404/kong")
    r2 = await gw.get("route-20.test", "/status/404/KONG")
    assert (r1.status, status(r1), status(r2)) == (404, "Miss", "Hit")
    assert r1.header("X-Cache-Key") == r2.header("X-Cache-Key") and r1.body == r2.body
    r1 = await gw.get("route-21.test", "/status/404/kong")
    r2 = await gw.get("route-21.test", "/status/404/KONG")
    assert (status(r1), status(r2)) == ("Miss", "Miss") and r1.header("X-Cache-Key") != r2.header("X-Cache-Key")


async def test_displays_kong_core_headers(gw: CacheGateway) -> None:
    """02-access_spec.lua, "displays Kong core headers:": "X-Kong-Proxy-Latency", "X-Kong-Upstream-Latency"."""
    await load(gw, {"route-1.test": {}})
    for want in ("Miss", "Hit"):
        r = await gw.get("route-1.test", "/get?show-me=upstream-latency")
        assert status(r) == want
        assert (r.header("X-Kong-Upstream-Latency") or "").isdigit()
        assert (r.header("X-Kong-Proxy-Latency") or "").isdigit()
        # (kong/runloop/handler.lua header_filter.after: a proxied answer gets these and Via,
        # never X-Kong-Response-Latency)
        assert r.header("X-Kong-Response-Latency") is None and (r.header("Via") or "").endswith("kong/3.9.1")


async def test_memory_bound_evicts_oldest(gw: CacheGateway) -> None:
    """Not in Kong's spec: the "kong" dictionary holds 5 MiB; bodies past that evict the least
    recently used entries (as nginx's full shared dictionary does), and one larger than the whole
    dictionary is passed through uncached."""
    await load(gw, {"route-1.test": {}})
    kong = storage_of(gw.runtime.services).dicts["kong"]
    two_mib = 2 * 2**20
    for i in range(3):
        assert status(await gw.get("route-1.test", f"/pad/{two_mib}?i={i}")) == "Miss"
    assert len(kong) == 2 and kong.used <= kong.capacity
    assert status(await gw.get("route-1.test", f"/pad/{two_mib}?i=0")) == "Miss"  # evicted
    assert status(await gw.get("route-1.test", f"/pad/{two_mib}?i=2")) == "Hit"
    for _ in range(2):
        assert status(await gw.get("route-1.test", f"/pad/{6 * 2**20}")) == "Miss"  # never fits


# -- Admin API: 03-api_spec.lua ---------------------------------------------------------------------
async def test_api_delete(gw: CacheGateway) -> None:
    """03-api_spec.lua, "(API) DELETE": "delete a cache entry", "purge all the cache entries",
    "delete a non-existing cache key", "delete a non-existing plugins's cache key"."""
    inst = await load(gw, {"route-1.test": {}, "route-2.test": {}})
    plugin1 = inst["route-1.test"]["id"]
    debug = [("Kong-Debug", "1")]
    r = await gw.get("route-1.test", headers=debug)
    assert status(r) == "Miss"
    key = r.header("X-Cache-Key")
    assert status(await gw.get("route-1.test", headers=debug)) == "Hit"
    assert (await gw.admin.delete(f"/proxy-cache/{plugin1}/caches/{key}")).status_code == 204
    assert status(await gw.get("route-1.test", headers=debug)) == "Miss"
    assert (await gw.admin.delete(f"/proxy-cache/{key}")).status_code == 204
    assert status(await gw.get("route-1.test", headers=debug)) == "Miss"
    # purge all
    assert status(await gw.get("route-1.test", headers=debug)) == "Hit"
    assert status(await gw.get("route-2.test", headers=debug)) == "Miss"
    assert status(await gw.get("route-2.test", headers=debug)) == "Hit"
    assert (await gw.admin.delete("/proxy-cache")).status_code == 204
    assert status(await gw.get("route-1.test", headers=debug)) == "Miss"
    assert status(await gw.get("route-2.test", headers=debug)) == "Miss"
    # non-existing key; non-existing plugin (a route's id)
    assert (await gw.admin.delete("/proxy-cache")).status_code == 204
    assert (await gw.admin.delete(f"/proxy-cache/{plugin1}/caches/123")).status_code == 404
    route_id = gw.runtime.store.all("routes")[0]["id"]  # type: ignore[union-attr]
    assert (await gw.admin.delete(f"/proxy-cache/{route_id}/caches/123")).status_code == 404


async def test_api_get(gw: CacheGateway) -> None:
    """03-api_spec.lua, "(API) GET": "get a non-existing cache", "get a existing cache"."""
    inst = await load(gw, {"route-1.test": {}})
    plugin1 = inst["route-1.test"]["id"]
    r = await gw.get("route-1.test", headers=[("Kong-Debug", "1")])
    key = r.header("X-Cache-Key")
    assert (await gw.admin.delete("/proxy-cache")).status_code == 204
    assert (await gw.admin.get(f"/proxy-cache/{plugin1}/caches/{key}")).status_code == 404
    assert (await gw.admin.get(f"/proxy-cache/{key}")).status_code == 404
    await gw.get("route-1.test", headers=[("Kong-Debug", "1")])
    for path in (f"/proxy-cache/{plugin1}/caches/{key}", f"/proxy-cache/{key}"):
        res = await gw.admin.get(path)
        assert res.status_code == 200
        doc = res.json()
        assert doc["headers"]["X-Cache-Key"] == key
        assert doc["status"] == 200 and doc["version"] == 1 and json.loads(doc["body"])["path"] == "/get"


async def test_api_schema(gw: CacheGateway) -> None:
    """03-api_spec.lua, "(schema)": "accepts an array of numbers as strings", "casts an array of
    response_code values to number types", "errors if response_code is an empty array", "errors if
    response_code has non-numeric values", "errors if response_code has float value"."""
    base = {"strategy": "memory", "memory": {"dictionary_name": "kong"}, "cache_ttl": 600,
            "request_method": ["GET"], "content_type": ["text/json"]}
    res = await gw.admin.post("/plugins", json={"name": PC, "config": {**base, "response_code": [123, 200]}})
    assert res.status_code == 201 and res.json()["config"]["response_code"] == [123, 200]
    await gw.admin.delete(f"/plugins/{res.json()['id']}")
    res = await gw.admin.post("/plugins", json={"name": PC, "config": {**base, "response_code": []}})
    assert res.status_code == 400 and res.json()["fields"]["config"]["response_code"] == "length must be at least 1"
    res = await gw.admin.post("/plugins", json={"name": PC, "config": {**base, "response_code": [90]}})
    assert res.status_code == 400
    assert res.json()["fields"]["config"]["response_code"] == ["value should be between 100 and 900"]
    res = await gw.admin.post("/plugins", json={"name": PC, "config": {**base, "memory": {"dictionary_name": "nope"}}})
    assert res.status_code == 400 and res.json()["fields"]["@entity"] == ["missing shared dict 'nope'"]


async def test_purge_leaves_other_instances(gw: CacheGateway) -> None:
    """04-invalidations_spec.lua, "cache purge": "does not affect cache entries under other plugin
    instances", and "propagates global purges" on one node. (Propagation to a second Kong node
    through cluster events has no counterpart: a local runtime is a single node.)"""
    inst = await load(gw, {"route-1.test": {}, "route-2.test": {}})
    plugin1, plugin2 = inst["route-1.test"]["id"], inst["route-2.test"]["id"]
    key1 = (await gw.get("route-1.test")).header("X-Cache-Key")
    key2 = (await gw.get("route-2.test")).header("X-Cache-Key")
    assert key1 != key2
    assert (await gw.admin.delete(f"/proxy-cache/{plugin1}/caches/{key1}")).status_code == 204
    assert (await gw.admin.get(f"/proxy-cache/{plugin1}/caches/{key1}")).status_code == 404
    assert (await gw.admin.get(f"/proxy-cache/{plugin2}/caches/{key2}")).status_code == 200
    assert (await gw.admin.delete("/proxy-cache/")).status_code == 204
    assert (await gw.admin.get(f"/proxy-cache/{plugin2}/caches/{key2}")).status_code == 404


async def test_hit_replays_repeated_headers(gw: CacheGateway) -> None:
    """Not in Kong's spec: a hit sends the stored headers as the upstream sent them, a repeated
    one (Set-Cookie) included, without the upstream's hop-by-hop headers."""
    await load(gw, {"route-1.test": {}})
    target = "/response-headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2&X-Thing=x"
    miss = await gw.get("route-1.test", target)
    hit = await gw.get("route-1.test", target)
    assert (status(miss), status(hit)) == ("Miss", "Hit")
    assert hit.headers_all("Set-Cookie") == miss.headers_all("Set-Cookie") == ["a=1", "b=2"]
    assert hit.header("X-Thing") == "x" and hit.header("Transfer-Encoding") is None
    assert hit.header("Content-Length") == str(len(hit.body)) and hit.body == miss.body


async def test_plugin_endpoints_are_admin_api_endpoints(gw: CacheGateway) -> None:
    """A plugin's Admin API endpoints (PluginSpec.admin_routes) behave like the built-in ones:
    listed by /endpoints, 405 for another verb, the Allow list on OPTIONS."""
    listed = (await gw.admin.get("/endpoints")).json()["data"]
    for template in ("/proxy-cache", "/proxy-cache/{cache_key}", "/proxy-cache/{plugin_id}/caches/{cache_key}"):
        assert template in listed
    res = await gw.admin.post("/proxy-cache", json={})
    assert res.status_code == 405 and res.json() == {"message": "Method not allowed"}
    res = await gw.admin.options("/proxy-cache/abc")
    assert res.status_code == 204 and res.headers["Allow"] == "GET, HEAD, DELETE, OPTIONS"
