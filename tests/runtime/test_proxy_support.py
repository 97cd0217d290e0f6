"""Helpers for the data-plane tests (no tests here): real upstream servers on 127.0.0.1, a
configuration builder, a raw HTTP/1.1 client (exact request targets, no client-side URL
normalisation) and a ``LocalRuntime`` factory.

Plugin tests may use them too: ``make_runtime`` + ``Cfg`` + ``raw_request`` / aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from konnect_desktop.runtime.echo import create_echo_app
from konnect_desktop.runtime.runtime import LocalRuntime


def uid() -> str:
    return str(uuid.uuid4())


class Cfg:
    """Builds a Config (table → entities) with ids, for ``LocalRuntime.load_config``."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def add(self, table: str, **fields: Any) -> dict[str, Any]:
        e = {"id": fields.pop("id", None) or uid(), **fields}
        self.tables.setdefault(table, []).append(e)
        return e

    def service(self, host: str = "127.0.0.1", port: int = 80, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"svc-{uid()[:8]}")
        return self.add("services", host=host, port=port, protocol=fields.pop("protocol", "http"), **fields)

    def route(self, service: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
        if service is not None:
            fields["service"] = {"id": service["id"]}
        return self.add("routes", **fields)

    def plugin(self, name: str, config: dict[str, Any] | None = None, **scope: Any) -> dict[str, Any]:
        refs = {k: {"id": v["id"]} for k, v in scope.items() if v is not None}
        return self.add("plugins", name=name, config=config or {}, **refs)

    def upstream(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.add("upstreams", name=name, **fields)

    def target(self, upstream: dict[str, Any], target: str, weight: int = 100) -> dict[str, Any]:
        return self.add("targets", upstream={"id": upstream["id"]}, target=target, weight=weight)

    def consumer(self, username: str, **fields: Any) -> dict[str, Any]:
        return self.add("consumers", username=username, **fields)

    def config(self) -> dict[str, list[dict[str, Any]]]:
        return {k: list(v) for k, v in self.tables.items()}


# -- upstream servers ---------------------------------------------------------------------------
class Server:
    """An aiohttp server on 127.0.0.1:<free port>."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Server:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def echo_server() -> Server:
    """The echo upstream over a real socket (same JSON as the built-in one)."""
    return await Server(create_echo_app()).start()


async def app_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Server:
    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", handler)
    return await Server(app).start()


def port_of(url: str) -> int:
    """The port of a runtime's ``proxy_url`` / ``admin_url``."""
    return int(url.rsplit(":", 1)[1])


async def make_runtime(tmp_path: Path, name: str = "test", **kw: Any) -> LocalRuntime:
    rt = LocalRuntime(name, db_path=tmp_path / f"{name}-{uid()[:8]}.db", **kw)
    await rt.start()
    return rt


@contextlib.asynccontextmanager
async def configured_runtime(tmp_path: Path, name: str, build: Callable[[Cfg, dict[str, Any]], object],
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
                             ) -> AsyncIterator[LocalRuntime]:
    """A runtime without an Admin API whose one service is a real upstream on 127.0.0.1 (``handler``
    or else the echo app); ``build(cfg, service)`` adds the routes and plugins. The configuration
    must load without errors. Both are stopped on the way out."""
    up = await (app_server(handler) if handler is not None else echo_server())
    try:
        rt = await make_runtime(tmp_path, name, admin_listen=None)
        try:
            cfg = Cfg()
            build(cfg, cfg.service(port=up.port))
            await rt.load_config(cfg.config())
            assert not rt.config_errors, rt.config_errors
            yield rt
        finally:
            await rt.stop()
    finally:
        await up.stop()


def route_per_config(plugin: str, configs: Iterable[dict[str, Any]]) -> Callable[[Cfg, dict[str, Any]], None]:
    """A ``configured_runtime`` builder: for the i-th of ``configs`` a route on Host ``conf<i>.test``
    with ``plugin`` configured so."""

    def build(cfg: Cfg, svc: dict[str, Any]) -> None:
        for i, conf in enumerate(configs):
            cfg.plugin(plugin, conf, route=cfg.route(svc, hosts=[f"conf{i}.test"]))

    return build


# -- a raw client -------------------------------------------------------------------------------
class RawResponse:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.header_list = headers
        self.body = body

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.header_list:
            if k.lower() == name.lower():
                return v
        return default

    def headers_all(self, name: str) -> list[str]:
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.body[:200]!r}>"


async def raw_request(port: int, method: str = "GET", target: str = "/", headers: list[tuple[str, str]] | None = None,
                      body: bytes = b"", host: str | None = "127.0.0.1", timeout: float = 10.0,
                      client_ip: str | None = None) -> RawResponse:
    """One request on a fresh connection, the target sent byte for byte; from ``client_ip`` when
    given (any 127.x.y.z works on Linux)."""
    local_addr = (client_ip, 0) if client_ip is not None else None
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local_addr)
    try:
        lines = [f"{method} {target} HTTP/1.1"]
        if host is not None:
            lines.append(f"Host: {host}")
        for k, v in headers or []:
            lines.append(f"{k}: {v}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return parse_response(data, head=method == "HEAD")


def parse_response(data: bytes, head: bool = False) -> RawResponse:
    head_part, _, rest = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    resp = RawResponse(status, headers, b"")
    if head:
        return resp
    if (resp.header("transfer-encoding") or "").lower() == "chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        resp.body = body
    elif resp.header("content-length") is not None:
        resp.body = rest[: int(resp.header("content-length") or 0)]
    else:
        resp.body = rest
    return resp


# -- memory ---------------------------------------------------------------------------------------
def rss() -> int:
    """This process's resident set size in bytes (Linux)."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def peak_rss_during(coro: Awaitable[Any]) -> tuple[Any, int]:
    """``coro``'s result and how far RSS rose above its starting point meanwhile (sampled)."""
    base = rss()
    peak = base
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, rss())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        result = await coro
    finally:
        done = True
        await sampler
    return result, peak - base
