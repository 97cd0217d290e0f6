"""Admin API changes reach the data plane: a LocalRuntime on 127.0.0.1, configured only through
its Admin API over HTTP, proxies by what was just written."""

from __future__ import annotations

import asyncio
import time

import httpx

from konnect_desktop.runtime.runtime import LocalRuntime


async def _eventually(fn, timeout: float = 5.0):  # bounded: the rebuild follows the commit
    deadline = time.monotonic() + timeout
    while True:
        result = await fn()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.02)


async def test_admin_changes_take_effect_on_the_proxy(tmp_path) -> None:
    rt = LocalRuntime("admin-e2e", db_path=tmp_path / "rt.db")
    await rt.start()
    try:
        async with httpx.AsyncClient(base_url=rt.admin_url, timeout=10) as admin, \
                httpx.AsyncClient(base_url=rt.proxy_url, timeout=10) as proxy:
            info = (await admin.get("/")).json()
            assert info["node_id"] == rt.node_id
            assert info["configuration"]["proxy_listen"] == [rt.proxy_url.removeprefix("http://")]
            r = await admin.post("/services", json={"name": "echo", "url": "http://echo.internal"})
            assert r.status_code == 201
            r = await admin.post("/services/echo/routes", data={"name": "echo-r", "paths[]": "/first"})
            assert r.status_code == 201

            async def first_ok() -> bool:
                return (await proxy.get("/first/x")).status_code == 200

            assert await _eventually(first_ok)
            r = await admin.patch("/routes/echo-r", json={"paths": ["/second"]})
            assert r.status_code == 200

            async def moved() -> bool:
                return (await proxy.get("/second/x")).status_code == 200 and (
                    await proxy.get("/first/x")).status_code == 404

            assert await _eventually(moved)
            # a whole configuration through /config replaces what the proxy serves
            deck = ('_format_version: "3.0"\nservices:\n- name: other\n  url: http://echo.internal\n'
                    '  routes:\n  - name: third\n    paths: [/third]\n')
            r = await admin.post("/config", content=deck, headers={"Content-Type": "text/yaml"})
            assert r.status_code == 201, r.text

            async def replaced() -> bool:
                return (await proxy.get("/third")).status_code == 200 and (
                    await proxy.get("/second/x")).status_code == 404

            assert await _eventually(replaced)
    finally:
        await rt.stop()
