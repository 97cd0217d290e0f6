"""A change is seen by the very next proxied request, even in the middle of a burst of changes
(when the runtime backs off its rebuilds)."""

from __future__ import annotations

from pathlib import Path

import httpx

from konnect_desktop.model import declarative
from konnect_desktop.runtime.runtime import LocalRuntime


async def test_next_request_sees_each_change_during_a_burst(tmp_path: Path) -> None:
    rt = LocalRuntime("fresh", db_path=tmp_path / "fresh.db", admin_listen=None)
    await rt.start()
    try:
        await rt.load_config(declarative.load(b'{"_format_version": "3.0", "services": [{"name": "echo", "host": "echo.internal"}]}'))
        svc = rt.store.get("services", "echo")
        async with httpx.AsyncClient(base_url=rt.proxy_url, timeout=10) as client:
            for i in range(30):  # back-to-back changes: the runtime is in burst mode after the first
                rt.store.insert("routes", {"name": f"r{i}", "paths": [f"/r{i}"], "service": {"id": svc["id"]}})
                r = await client.get(f"/r{i}/x")
                assert r.status_code == 200, (i, r.text)
                assert r.json()["path"] == "/x"
        assert rt.rebuilds < 40
    finally:
        await rt.stop()
