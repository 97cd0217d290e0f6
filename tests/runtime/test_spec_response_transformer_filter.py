"""Kong's response-transformer filter spec (spec/03-plugins/15-response-transformer/04-filter_spec.lua,
Kong 3.9) through real sockets, each naming its ``it`` title. The upstream answers like the spec's
mock upstream: a JSON document with ``url``, ``headers`` and ``uri_args``, and
``/response-headers`` with an ``Access-Control-Allow-Origin`` header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from test_proxy_support import Cfg, RawResponse, configured_runtime, port_of, raw_request

from konnect_desktop import plugins

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def upstream(request: web.Request) -> web.StreamResponse:
    doc = {"url": f"http://{request.host}{request.path_qs}", "headers": dict(request.headers),
           "uri_args": dict(request.query)}
    resp = web.json_response(doc)
    if request.path == "/response-headers":
        resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    def build(cfg: Cfg, svc: dict[str, Any]) -> None:
        r1 = cfg.route(svc, hosts=["response.test"])
        cfg.plugin("response-transformer", {"remove": {"headers": ["Access-Control-Allow-Origin"], "json": ["url"]}},
                   route=r1)
        r2 = cfg.route(svc, hosts=["response2.test"])
        cfg.plugin("response-transformer", {"replace": {"json": ["headers:/hello/world", "uri_args:this is a / test",
                                                                 'url:"wot"']}}, route=r2)
        r3 = cfg.route(svc, hosts=["response3.test"])
        cfg.plugin("response-transformer", {"remove": {"json": ["ip"]}}, route=r3)
        # the spec short-circuits with basic-auth; key-auth does the same where basic-auth is not bundled
        cfg.plugin("basic-auth" if plugins.get("basic-auth") else "key-auth", {}, route=r3)

    async with configured_runtime(tmp_path_factory.mktemp("rt-filter"), "rt-filter", build, upstream) as rt:
        yield port_of(rt.proxy_url)


async def get(port: int, host: str, target: str) -> RawResponse:
    return await raw_request(port, "GET", target, host=host)


async def test_remove_a_parameter(proxy: int) -> None:
    """it("remove a parameter")"""
    r = await get(proxy, "response.test", "/get")
    assert r.status == 200 and "url" not in json.loads(r.body)


async def test_remove_a_header(proxy: int) -> None:
    """it("remove a header")"""
    r = await get(proxy, "response.test", "/response-headers")
    assert r.status == 200 and json.loads(r.body)
    assert r.header("access-control-allow-origin") is None


async def test_replace_a_body_parameter_on_get(proxy: int) -> None:
    """it("replace a body parameter on GET")"""
    r = await get(proxy, "response2.test", "/get")
    assert r.status == 200
    doc = json.loads(r.body)
    assert doc["headers"] == "/hello/world" and doc["url"] == '"wot"' and doc["uri_args"] == "this is a / test"


async def test_short_circuited_in_access_phase(proxy: int) -> None:
    """it("does not throw an error when request was short-circuited in access phase")"""
    assert (await get(proxy, "response3.test", "/get")).status == 401
