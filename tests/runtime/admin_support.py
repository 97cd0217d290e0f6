"""Helpers for the Admin API tests (no tests here): the Admin API over a real SQLite store, served
by aiohttp on 127.0.0.1, and the ways the tests call it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from konnect_desktop.runtime.admin_api import create_admin_app
from konnect_desktop.runtime.store import Store

__all__ = ["Api", "admin_client", "call", "ok_json"]


@contextlib.asynccontextmanager
async def admin_client(db: Path) -> AsyncIterator[TestClient]:
    """A client of the Admin API over a new store at ``db`` (the store is ``client.store``);
    both are closed on the way out."""
    store = Store(db)
    client = TestClient(TestServer(create_admin_app(store), host="127.0.0.1"))
    await client.start_server()
    client.store = store  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await client.close()
        store.close()


async def call(client: TestClient, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    """``method path`` with ``body`` as JSON (when given): the status and the decoded answer (None
    when empty)."""
    r = await client.request(method, path, json=body, **kw) if body is not None else await client.request(method, path, **kw)
    text = await r.text()
    return r.status, (json.loads(text) if text else None)


async def ok_json(r: ClientResponse, status: int = 200) -> Any:
    """The JSON body of ``r`` (None for a 204) after checking its status."""
    body = await r.json() if r.status != 204 else None
    assert r.status == status, body
    return body


class Api:
    """An Admin API client that checks every answer with a body is JSON."""

    def __init__(self, client: TestClient, store: Store) -> None:
        self.client = client
        self.store = store

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        r = await self.client.request(method, path, **kw)
        text = await r.text()
        if text:
            assert r.headers["Content-Type"].startswith("application/json"), text
            return r.status, json.loads(text)
        return r.status, None

    async def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        got, body = await self.call(method, path, **kw)
        assert got == status, (method, path, got, body)
        return body
