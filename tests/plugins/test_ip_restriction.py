"""ip-restriction: allow/deny lists with CIDRs (IPv4, IPv6, mapped), Kong's default answer and overrides."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_helpers import make_ctx, make_handler, run_access

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError


async def check(config: dict[str, Any], ip: str) -> Any:
    ctx = make_ctx(client_ip=ip)
    return await run_access(make_handler("ip-restriction", config), ctx)


def test_schema() -> None:
    with pytest.raises(KongError) as ei:
        plugins.validate_plugin({"name": "ip-restriction", "config": {}})
    assert ei.value.fields == {"@entity": ["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]}
    with pytest.raises(KongError) as ei:
        plugins.validate_plugin({"name": "ip-restriction", "config": {"allow": ["10.0.0.0/33"]}})
    assert ei.value.fields == {"config": {"allow": ["invalid ip or cidr range: '10.0.0.0/33'"]}}


async def test_deny() -> None:
    exit_ = await check({"deny": ["10.0.0.0/8"]}, "10.1.2.3")
    assert exit_.status == 403 and exit_.body["message"] == "IP address not allowed: 10.1.2.3"
    assert await check({"deny": ["10.0.0.0/8"]}, "192.168.0.1") is None


async def test_allow() -> None:
    assert await check({"allow": ["127.0.0.1", "::1"]}, "127.0.0.1") is None
    assert await check({"allow": ["127.0.0.1", "::1"]}, "::1") is None
    assert (await check({"allow": ["127.0.0.1"]}, "127.0.0.2")).status == 403


async def test_deny_wins_and_mapped_ipv4() -> None:
    assert (await check({"allow": ["10.0.0.0/8"], "deny": ["10.0.0.5"]}, "10.0.0.5")).status == 403
    assert await check({"allow": ["10.0.0.0/8"]}, "::ffff:10.0.0.9") is None


async def test_custom_status_and_message() -> None:
    exit_ = await check({"deny": ["0.0.0.0/0"], "status": 401, "message": "go away"}, "1.2.3.4")
    assert exit_.status == 401 and exit_.body["message"] == "go away"


async def test_unknown_client_address() -> None:
    exit_ = await check({"allow": ["127.0.0.1"]}, "unix:")
    assert exit_.status == 403
