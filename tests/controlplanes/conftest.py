"""Fixtures: the three backends over real parts, and the spec-checking Konnect server.

* ``local``      — ``LocalControlPlane`` over a started ``LocalRuntime`` (real SQLite store)
* ``kong-admin`` — ``KongAdminControlPlane`` over HTTP to a started runtime's real Admin API
* ``konnect``    — ``KonnectControlPlane`` over HTTP to ``konnect_server`` (every exchange
  validated against Konnect's OpenAPI files; any violation fails the test)

Each backend fixture also hands over the real ``Store`` behind it, so tests can seed thousands
of entities in one transaction instead of thousands of requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from controlplane_support import FAST_RETRY, TOKEN, Backend


@contextlib.asynccontextmanager
async def running_konnect_server(tmp_path: Path) -> AsyncIterator[Any]:
    """Start the spec-checking server; on exit, fail if any exchange broke the OpenAPI files."""
    from konnect_server import SPEC_DIR, KonnectTestServer, specs_available

    if not specs_available():
        pytest.skip(f"Konnect OpenAPI files not found in {SPEC_DIR} (the repository's copy is missing)")
    server = KonnectTestServer(token=TOKEN, tmp=tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.violations == [], "exchanges that break the Konnect OpenAPI files:\n" + "\n".join(server.violations)


@pytest.fixture
async def konnect_server(tmp_path: Path) -> AsyncIterator[Any]:
    async with running_konnect_server(tmp_path) as server:
        yield server


async def _runtime(tmp_path: Path, name: str, admin: bool) -> Any:
    from konnect_desktop.runtime.runtime import LocalRuntime

    rt = LocalRuntime(name, db_path=tmp_path / f"{name}.db", proxy_listen=("127.0.0.1", 0),
                      admin_listen=("127.0.0.1", 0) if admin else None)
    await rt.start()
    return rt


@pytest.fixture(params=["local", "kong-admin", "konnect"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind = request.param
    if kind == "konnect":
        from konnect_desktop.controlplanes.konnect import KonnectControlPlane

        async with running_konnect_server(tmp_path) as server:
            cp_obj = server.add_control_plane("cp-behaviour", labels={"env": "test"})
            server.add_node(cp_obj["id"], "dp-1.local")
            cp = KonnectControlPlane("us", TOKEN, "cp-behaviour", base_url=server.base_url, retry=FAST_RETRY)
            try:
                yield Backend(kind, cp, server.store(cp_obj["id"]), {"server": server, "cp": cp_obj})
            finally:
                await cp.close()
        return
    rt = await _runtime(tmp_path, f"rt-{kind}", admin=(kind == "kong-admin"))
    try:
        if kind == "local":
            from konnect_desktop.controlplanes.local import LocalControlPlane

            cp = LocalControlPlane(rt)
        else:
            from konnect_desktop.controlplanes.kong_admin import KongAdminControlPlane

            cp = KongAdminControlPlane(rt.admin_url, retry=FAST_RETRY)
        try:
            yield Backend(kind, cp, rt.store, {"runtime": rt})
        finally:
            await cp.close()
    finally:
        await rt.stop()
