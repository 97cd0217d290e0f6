"""Kong's ip-restriction access spec (spec/03-plugins/17-ip-restriction/02-access_spec.lua, Kong 3.9)
through real sockets, each test naming its ``it`` title.

Kong's spec runs with ``real_ip_header = X-Forwarded-For`` and ``trusted_ips = 0.0.0.0/0, ::/0``, so
its X-Forwarded-For cases are about the client address Kong resolves from that header. The local
runtime has no trusted proxies (Kong's default, ``trusted_ips`` empty): it always uses the socket's
address. Those cases are ported by connecting *from* the address the header names (any 127.x.y.z
works on Linux), which asks the plugin the same question; and one test shows that a forwarded
header from an untrusted peer is ignored, as Kong does with its default configuration. The gRPC,
TCP/TLS stream and IPv6 cases are not ported (no gRPC client, stream routes or IPv6 listener here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, Reply, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIGS: dict[int, dict[str, Any]] = {
    1: {"deny": ["127.0.0.1", "127.0.0.2"]},
    2: {"deny": ["127.0.0.2"]},
    3: {"allow": ["127.0.0.2"]},
    4: {"allow": ["127.0.0.1"]},
    5: {"deny": ["127.0.0.0/24"]},
    6: {"allow": ["127.0.0.4"]},
    7: {"deny": ["127.0.0.4"]},
    8: {"allow": ["0.0.0.0/0"]},
    9: {"allow": ["127.0.0.1"], "deny": ["127.0.0.1"]},
    10: {"allow": ["127.0.0.0/24"], "deny": ["127.0.0.1"]},
    11: {"allow": ["127.0.0.0/24"], "deny": ["127.0.0.0/24"]},
    12: {"deny": ["127.0.0.0/24"], "status": 401, "message": "Forbidden"},
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Gateway, dict[int, dict[str, Any]]]]:
    gw = await start_gateway(tmp_path_factory.mktemp("ipr-spec"), "ipr-spec")
    c, svc = gw.cfg()
    plugins = {}
    for n, config in CONFIGS.items():
        route = c.route(svc, hosts=[f"ip-restriction{n}.test"])
        plugins[n] = c.plugin("ip-restriction", config, route=route)
    await gw.load(c)
    try:
        yield gw, plugins
    finally:
        await gw.stop()


async def get(spec_gw: Any, n: int, client_ip: str = "127.0.0.1", headers: Any = None) -> Reply:
    gw, _ = spec_gw
    return await gw.request("GET", "/request", headers, host=f"ip-restriction{n}.test", client_ip=client_ip)


def blocked(r: Reply, status: int = 403, message: str = "IP address not allowed") -> None:
    assert r.status == status, r
    assert message in r.json()["message"]


@pytest.mark.parametrize(("title", "n"), [
    ("blocks a request when the IP is denied", 1),
    ("blocks IP with CIDR", 5),
    ("blocks an IP on a allowed CIDR range", 10),
    ("takes precedence over an allowed IP", 9),
    ("takes precedence over an allowed CIDR range", 11),
    ("blocks a request when the IP is not allowed", 3),
])
async def test_blocked(spec_gw: Any, title: str, n: int) -> None:
    r = await get(spec_gw, n)
    blocked(r)
    # Kong's whole default message names the client address
    assert r.json()["message"] == "IP address not allowed: 127.0.0.1"


async def test_blocks_with_status_and_message(spec_gw: Any) -> None:
    """it("blocks a request when the IP is denied with status/message")"""
    blocked(await get(spec_gw, 12), 401, "Forbidden")


@pytest.mark.parametrize(("title", "n"), [
    ("allows a request when the IP is not denied", 2),
    ("allows a allowed IP", 4),
    ("allows without any X-Forwarded-For and allowed IP", 7),
    ("handles a CIDR entry with 0.0.0.0/0", 8),
])
async def test_allowed(spec_gw: Any, title: str, n: int) -> None:
    r = await get(spec_gw, n)
    assert r.status == 200 and r.echo["path"] == "/request"


@pytest.mark.parametrize(("title", "n", "client", "allowed"), [
    # deny 127.0.0.4 (route 7)
    ("allows with allowed X-Forwarded-For header", 7, "127.0.0.3", True),
    ("blocks with not allowed X-Forwarded-For header", 7, "127.0.0.4", False),
    # allow 127.0.0.4 (route 6)
    ("blocks without any X-Forwarded-For and not allowed IP", 6, "127.0.0.1", False),
    ("block with not allowed X-Forwarded-For header", 6, "127.0.0.3", False),
    ("allows with allowed X-Forwarded-For header (allow)", 6, "127.0.0.4", True),
])
async def test_forwarded_client_address(spec_gw: Any, title: str, n: int, client: str, allowed: bool) -> None:
    """The X-Forwarded-For cases, the client connecting from the address Kong would resolve."""
    r = await get(spec_gw, n, client_ip=client)
    if allowed:
        assert r.status == 200, r
    else:
        blocked(r)


async def test_forwarded_header_from_an_untrusted_peer_is_ignored(spec_gw: Any) -> None:
    """Deliberate difference from the spec's kong.conf (trusted_ips 0.0.0.0/0): no peer is trusted,
    as in Kong's default configuration, so the header cannot talk a client past the plugin."""
    blocked(await get(spec_gw, 6, client_ip="127.0.0.1", headers={"X-Forwarded-For": "127.0.0.4"}))
    r = await get(spec_gw, 7, client_ip="127.0.0.1", headers={"X-Forwarded-For": "127.0.0.4"})
    assert r.status == 200


async def test_supports_config_changes_without_restarting(spec_gw: Any) -> None:
    """it("supports config changes without restarting") — the next request after a change sees it
    (no polling: the runtime serves a request only from a snapshot as new as the store)."""
    gw, plugins = spec_gw
    store = gw.runtime.store
    assert (await get(spec_gw, 2)).status == 200
    pid = plugins[2]["id"]
    try:
        await store.aio.update("plugins", pid, {"config": {"deny": ["127.0.0.1", "127.0.0.2"]}})
        blocked(await get(spec_gw, 2))
        await store.aio.update("plugins", pid, {"config": {"deny": ["127.0.0.2", "127.0.0.3"]}})
        assert (await get(spec_gw, 2)).status == 200
    finally:
        await store.aio.update("plugins", pid, {"config": CONFIGS[2]})
