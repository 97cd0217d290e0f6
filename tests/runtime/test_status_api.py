"""Kong's Status API (``status_listen``) on its own listener, over real HTTP.

Ported from spec/02-integration/08-status_api/: 03-readiness_endpoint_spec.lua "should return 200
in db mode" (and 503 "draining" after ``POST status=draining``, kong/status/ready.lua),
01-core_routes_spec.lua's ``/status`` body, 02-targets_routes_spec.lua "is not exposed" (POST on
targets), "shows all targets", "returns HEALTHCHECKS_OFF for targets that resolve".
"""

from __future__ import annotations

import aiohttp
import pytest
from test_proxy_support import Cfg, make_runtime

from konnect_desktop.runtime.status_api import StatusAPI
from konnect_desktop.runtime.store import Store


async def test_status_and_readiness(tmp_path) -> None:
    rt = await make_runtime(tmp_path, "status", status_listen=("127.0.0.1", 0))
    try:
        cfg = Cfg()
        u = cfg.upstream("pool.test")
        cfg.target(u, "127.0.0.1:9")
        await rt.load_config(cfg.config())
        base = rt.status_url
        assert base and base != rt.admin_url
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/status") as r:
                body = await r.json()
                assert r.status == 200 and body["database"] == {"reachable": True}
                assert set(body) >= {"server", "memory", "configuration_hash"}
            async with s.get(f"{base}/status/ready") as r:
                assert (r.status, await r.json()) == (200, {"message": "ready"})
            async with s.get(f"{base}/upstreams/pool.test/targets") as r:
                assert [t["target"] for t in (await r.json())["data"]] == ["127.0.0.1:9"]
            async with s.get(f"{base}/upstreams/pool.test/health") as r:
                assert [t["health"] for t in (await r.json())["data"]] == ["HEALTHCHECKS_OFF"]
            async with s.post(f"{base}/upstreams/pool.test/targets", json={"target": "127.0.0.1:10"}) as r:
                assert r.status in (404, 405)  # is not exposed
            async with s.get(f"{base}/services") as r:
                assert r.status == 404  # no Admin API here
            async with s.post(f"{base}/status/ready", data={"status": "nope"}) as r:
                assert r.status == 400
            async with s.post(f"{base}/status/ready", data={"status": "draining"}) as r:
                assert r.status == 204
            async with s.get(f"{base}/status/ready") as r:
                assert (r.status, await r.json()) == (503, {"message": "draining"})
    finally:
        await rt.stop()


@pytest.mark.parametrize(("closed", "ready", "message"), [
    (True, True, "failed to connect to database"),
    (False, False, "router builds not yet complete"),
])
async def test_not_ready_reasons(aiohttp_client, tmp_path, closed, ready, message) -> None:
    """A store that no longer answers (closed: every call raises) and a proxy that has not
    compiled its configuration yet are Kong's two reasons to answer 503."""
    store = Store(tmp_path / "kong.db")
    if closed:
        store.close()
    try:
        client = await aiohttp_client(StatusAPI(store, lambda: ready).app)
        r = await client.get("/status/ready")
        assert (r.status, await r.json()) == (503, {"message": message})
    finally:
        store.close()
