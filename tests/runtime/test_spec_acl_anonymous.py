"""Kong's acl access spec, its "anonymous" describe (spec/03-plugins/18-acl/02-access_spec.lua,
Kong 3.9, ``describe("Plugin: ACL (access) [#strategy] anonymous")``), through real sockets.

Routes are the spec's (its "deny-everyone.test" and "deny-none.test" configure ``allow``, as in
Kong's file); each case names its ``describe`` and ``it``. The first describe's cases that need
Kong's ``ctx-checker`` test plugin (authenticated groups set by another plugin) are not ported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROUTES = {  # host: (acl config, anonymous consumer for key-auth or None)
    "allow-everyone.test": ({"allow": ["everyone"]}, None),
    "allow-none.test": ({"allow": ["none"]}, None),
    "deny-everyone.test": ({"allow": ["everyone"]}, None),
    "deny-none.test": ({"allow": ["none"]}, None),
    "allow-everyone-anonymous.test": ({"allow": ["everyone"]}, "anonymous"),
    "allow-everyone-anonymous-with-group.test": ({"allow": ["everyone"]}, "anonymous_with_group"),
    "allow-none-anonymous.test": ({"allow": ["none"]}, "anonymous"),
    "allow-none-anonymous-with-group.test": ({"allow": ["none"]}, "anonymous_with_group"),
    "deny-everyone-anonymous.test": ({"deny": ["everyone"]}, "anonymous"),
    "deny-everyone-anonymous-with-group.test": ({"deny": ["everyone"]}, "anonymous_with_group"),
    "deny-none-anonymous.test": ({"deny": ["none"]}, "anonymous"),
    "deny-none-anonymous-with-group.test": ({"deny": ["none"]}, "anonymous_with_group"),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path_factory.mktemp("acl-anon"), "acl-anon")
    c, svc = gw.cfg()
    consumers = {name: c.add("consumers", username=name) for name in ("anonymous", "anonymous_with_group")}
    c.add("acls", group="everyone", consumer={"id": consumers["anonymous_with_group"]["id"]})
    for host, (acl, anonymous) in ROUTES.items():
        route = c.route(svc, hosts=[host])
        c.plugin("acl", acl, route=route)
        if anonymous is not None:
            c.plugin("key-auth", {"anonymous": consumers[anonymous]["id"]}, route=route)
    await gw.load(c)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.mark.parametrize(("title", "host", "status", "message"), [
    ("without authentication / returns 401", "allow-everyone.test", 401, "Unauthorized"),
    ("without authentication / returns 401", "allow-none.test", 401, "Unauthorized"),
    ("without authentication / returns 401", "deny-everyone.test", 401, "Unauthorized"),
    ("without authentication / returns 401", "deny-none.test", 401, "Unauthorized"),
    ("with authentication without groups / returns 401 with allow groups", "allow-everyone-anonymous.test", 401, "Unauthorized"),
    ("with authentication without groups / returns 401 with allow groups", "allow-none-anonymous.test", 401, "Unauthorized"),
    ("with authentication without groups / returns 200 with deny groups", "deny-everyone-anonymous.test", 200, None),
    ("with authentication without groups / returns 200 with deny groups", "deny-none-anonymous.test", 200, None),
    ("with authentication with group / returns 200", "allow-everyone-anonymous-with-group.test", 200, None),
    ("with authentication with group / returns 200", "deny-none-anonymous-with-group.test", 200, None),
    ("with authentication with group / returns 403", "allow-none-anonymous-with-group.test", 403, "You cannot consume this service"),
    ("with authentication with group / returns 403", "deny-everyone-anonymous-with-group.test", 403, "You cannot consume this service"),
])
async def test_acl_with_anonymous_consumers(spec_gw: Gateway, title: str, host: str, status: int,
                                            message: str | None) -> None:
    r = await spec_gw.request("GET", "/request", host=host)
    assert r.status == status, (title, r)
    if message is None:
        assert r.echo["path"] == "/request"
    else:
        body = r.json()
        assert body["message"] == message and "headers" not in body
