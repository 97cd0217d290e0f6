"""Helpers for the plugin black-box tests (no tests here): one LocalRuntime and one echo upstream
per test module, a configuration loader, a raw HTTP/1.1 client that can connect from any
127.0.0.0/8 address (so tests can be different clients by IP), and a reader of file-log lines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from test_proxy_support import Cfg, Server, echo_server, make_runtime, raw_request

from konnect_desktop.runtime.runtime import LocalRuntime

__all__ = ["AUTH_NOW", "Cfg", "Gateway", "Reply", "lines_in", "start_gateway"]

# where the auth plugins' clock stands in the tests that fix it (the ``clock`` fixture)
AUTH_NOW = 1_700_000_000


class Reply:
    """A response from the gateway; ``echo`` is the upstream's echo document when proxied."""

    def __init__(self, raw: Any) -> None:
        self.status: int = raw.status
        self.header_list: list[tuple[str, str]] = raw.header_list
        self.body: bytes = raw.body
        self._raw = raw

    def header(self, name: str) -> str | None:
        return self._raw.header(name)

    def headers_all(self, name: str) -> list[str]:
        return self._raw.headers_all(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def echo(self) -> dict[str, Any]:
        doc = self.json()
        assert "headers" in doc and "path" in doc, f"not proxied: {self.status} {self.body[:200]!r}"
        return doc

    def up_header(self, name: str) -> Any:
        """A header as the upstream received it (str, list for repeated, None if absent)."""
        return self.echo["headers"].get(name.lower())

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:300]!r}>"


class Gateway:
    def __init__(self, runtime: LocalRuntime, echo: Server) -> None:
        self.runtime = runtime
        self.echo = echo

    @property
    def port(self) -> int:
        assert self.runtime.proxy is not None
        return self.runtime.proxy.port

    def cfg(self) -> tuple[Cfg, dict[str, Any]]:
        """A fresh configuration with one service pointing at the echo upstream."""
        c = Cfg()
        return c, c.service(port=self.echo.port)

    async def load(self, cfg: Cfg) -> None:
        await self.runtime.load_config(cfg.config())
        assert not self.runtime.config_errors, self.runtime.config_errors

    async def request(self, method: str = "GET", target: str = "/", headers: Any = None, body: bytes | str = b"",
                      host: str | None = "127.0.0.1", client_ip: str = "127.0.0.1", timeout: float = 10.0) -> Reply:
        """One request on a fresh connection from ``client_ip`` (any 127.x.y.z works on Linux)."""
        return await request(self.port, method, target, headers, body, host, client_ip, timeout)

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.echo.stop()


async def request(port: int, method: str = "GET", target: str = "/", headers: Any = None, body: bytes | str = b"",
                  host: str | None = "127.0.0.1", client_ip: str = "127.0.0.1", timeout: float = 10.0) -> Reply:
    if isinstance(headers, dict):
        headers = list(headers.items())
    data = body.encode() if isinstance(body, str) else body
    return Reply(await raw_request(port, method, target, headers, data, host, timeout, client_ip))


async def start_gateway(tmp: Path, name: str = "e2e") -> Gateway:
    echo = await echo_server()
    rt = await make_runtime(tmp, name, admin_listen=None)
    return Gateway(rt, echo)


async def lines_in(path: Path, n: int) -> list[dict[str, Any]]:
    """The JSON lines of a file-log file once it holds ``n`` of them (or after a bounded number of
    loop turns: file-log writes one turn after the log phase)."""
    for _ in range(1000):  # bounded: the write is one loop turn after the response
        if path.exists() and len(path.read_bytes().splitlines()) >= n:
            break
        await asyncio.sleep(0)
    return [json.loads(line) for line in path.read_bytes().splitlines()]
