"""Kong's request-transformer template cases under the default ``untrusted_lua = sandbox``
(spec/03-plugins/36-request-transformer/02-access_spec.lua, "untrusted_lua=sandbox" describe,
Kong 3.9) through real sockets, each naming its ``it`` title.

The spec's other sandbox settings (``untrusted_lua = on/off``, ``untrusted_lua_sandbox_requires``,
``untrusted_lua_sandbox_environment``) are kong.conf options this runtime does not have: templates
always run as under the default sandbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEMPLATES = {
    "testLuaSandbox1.test": "x-added:$(type(query_params.user))",
    "testLuaSandbox2.test": "x-added:$(string.sub(query_params.user, 1, 3))",
    "testLuaSandbox3.test": "x-added:$(require('inspect')('somestring'))",
    # the spec's test24 and test25 routes (its first describe, "rendering error" and "type")
    "test24.test": 'x-user-agent:$(foo(headers["User-Agent"]) == "table" and headers["User-Agent"][1] or headers["User-Agent"])',
    "test25.test": 'X-Foo-Transformed:$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])',
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path_factory.mktemp("rt-sandbox"), "rt-sandbox")
    c, svc = gw.cfg()
    for host, header in TEMPLATES.items():
        route = c.route(svc, hosts=[host])
        c.plugin("request-transformer", {"add": {"headers": [header]}}, route=route)
    await gw.load(c)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_allowed_lua_function_from_sandbox(spec_gw: Gateway) -> None:
    """it("should succeed when template accesses allowed Lua function from sandbox")"""
    r = await spec_gw.request("GET", "/?user=foo", {"Content-Type": "application/x-www-form-urlencoded"},
                              host="testLuaSandbox1.test")
    assert r.status == 200 and r.up_header("x-added") == "string"


@pytest.mark.parametrize(("title", "host"), [
    ("should fail when template tries to access non allowed Lua function from sandbox", "testLuaSandbox2.test"),
    ("should fail when template tries to require non whitelisted module from sandbox", "testLuaSandbox3.test"),
])
async def test_not_allowed_in_sandbox(spec_gw: Gateway, title: str, host: str) -> None:
    r = await spec_gw.request("GET", "/?user=foo", {"Content-Type": "application/x-www-form-urlencoded"}, host=host)
    assert r.status == 500, r


async def test_rendering_error_in_a_header(spec_gw: Gateway) -> None:
    """it("rendering error (header) is correctly propagated in error.log, issue #25") — calling
    an unknown global ('foo') answers 500"""
    r = await spec_gw.request("GET", "/", host="test24.test")
    assert r.status == 500


async def test_type_function_is_available(spec_gw: Gateway) -> None:
    """it("type function is available in template environment") — a repeated header is a table"""
    r = await spec_gw.request("GET", "/request", [("X-Foo", "1"), ("X-Foo", "2")], host="test25.test")
    assert r.status == 200 and r.up_header("x-foo-transformed") == "1-first"
