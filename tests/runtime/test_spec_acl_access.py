"""Kong's acl access spec, first describe (spec/03-plugins/18-acl/02-access_spec.lua, Kong 3.9),
its consumer and credential cases through real sockets; each names its ``it`` title. The cases on
the spec's "b"/"c" routes set authenticated groups with Kong's ``ctx-checker`` test plugin and are
not ported (see tests/plugins/test_acl.py for authenticated groups).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORBIDDEN = "You cannot consume this service"
ABSENT = "(absent)"  # the spec asserts the header is not sent; None: the spec asserts nothing
CONSUMERS = {  # username: (key, acl groups)
    "consumer1": ("apikey123", []),
    "consumer2": ("apikey124", ["admin"]),
    "consumer3": ("apikey125", ["pro", "hello"]),
    "consumer4": ("apikey126", ["free", "hello"]),
    "consumer5": ("apikey127", ["acl_group1"]),
}
ROUTES: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {  # host: (acl, key-auth or None)
    "acl1.test": ({"allow": ["admin"]}, None),
    "acl2.test": ({"allow": ["admin"]}, {}),
    "acl3.test": ({"deny": ["admin"]}, {}),
    "acl3d.test": ({"deny": ["none"]}, None),
    "acl4.test": ({"allow": ["admin", "pro"]}, {}),
    "acl5.test": ({"deny": ["admin", "pro"]}, {}),
    "acl6.test": ({"deny": ["admin", "pro", "hello"]}, {}),
    "acl7.test": ({"allow": ["admin", "pro", "hello"]}, {}),
    "acl8.test": ({"allow": ["anonymous"]}, {"anonymous": "anonymous"}),
    "acl9.test": ({"allow": ["admin"], "hide_groups_header": True}, {}),
    "acl10.test": ({"allow": ["admin"], "hide_groups_header": False}, {}),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path_factory.mktemp("acl-spec"), "acl-spec")
    c, svc = gw.cfg()
    for username, (key, groups) in CONSUMERS.items():
        consumer = c.add("consumers", username=username)
        c.add("keyauth_credentials", key=key, consumer={"id": consumer["id"]})
        for g in groups:
            c.add("acls", group=g, consumer={"id": consumer["id"]})
    anonymous = c.add("consumers", username="anonymous")
    c.add("acls", group="anonymous", consumer={"id": anonymous["id"]})
    for host, (acl, key_auth) in ROUTES.items():
        route = c.route(svc, hosts=[host])
        c.plugin("acl", acl, route=route)
        if key_auth is not None:
            conf = {"anonymous": anonymous["id"]} if key_auth.get("anonymous") else {}
            c.plugin("key-auth", conf, route=route)
    await gw.load(c)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.mark.parametrize(("title", "host", "target", "status", "groups_header"), [
    ("should work with consumer with credentials", "acl2.test", "/request?apikey=apikey124", 200, "admin"),
    ("should work with consumer without credentials", "acl8.test", "/request", 200, "anonymous"),
    ("should fail when an authentication plugin is missing", "acl1.test", "/status/200", 401, None),
    ("should fail when not allowed", "acl2.test", "/status/200?apikey=apikey123", 403, None),
    ("should work when allowed", "acl2.test", "/request?apikey=apikey124", 200, "admin"),
    ("should not send x-consumer-groups header when hide_groups_header flag true", "acl9.test",
     "/request?apikey=apikey124", 200, ABSENT),
    ("should send x-consumer-groups header when hide_groups_header flag false", "acl10.test",
     "/request?apikey=apikey124", 200, "admin"),
    ("should work when not denied", "acl3.test", "/request?apikey=apikey123", 200, None),
    ("should fail when denied", "acl3.test", "/request?apikey=apikey124", 403, None),
    ("should fail denied and with no authenticated groups", "acl3d.test", "/request", 401, None),
    ("should work when allowed (multi lists)", "acl4.test", "/request?apikey=apikey125", 200, None),
    ("should fail when not allowed (multi lists)", "acl4.test", "/request?apikey=apikey126", 403, None),
    ("should fail when denied (multi lists)", "acl5.test", "/request?apikey=apikey125", 403, None),
    ("should work when not denied (multi lists)", "acl5.test", "/request?apikey=apikey126", 200, None),
    ("should not work when one of the ACLs denied", "acl6.test", "/request?apikey=apikey126", 403, None),
    ("should work when one of the ACLs is allowed", "acl7.test", "/request?apikey=apikey126", 200, None),
    ("should not work when at least one of the ACLs denied", "acl6.test", "/request?apikey=apikey125", 403, None),
])
async def test_acl(spec_gw: Gateway, title: str, host: str, target: str, status: int, groups_header: str | None) -> None:
    r = await spec_gw.request("GET", target, host=host)
    assert r.status == status, (title, r)
    if status == 200:
        assert r.echo["path"] == target.split("?")[0]
        if groups_header is not None:
            assert r.up_header("x-consumer-groups") == (None if groups_header == ABSENT else groups_header)
    elif status == 401:
        assert r.json()["message"] == "Unauthorized"
    else:
        assert r.json()["message"] == FORBIDDEN
