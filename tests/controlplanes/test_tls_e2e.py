"""End to end: a decK file with an HTTPS-only route, a certificate with its SNI and a vault
reference, and a health-checked upstream loads into a local runtime; the proxy serves HTTPS with
that certificate (a client verifying it), redirects plain HTTP, balances around a target its
active checks find unhealthy; then the CLI dumps it (the reference kept as written), syncs it to a
second local runtime over its Admin API, and a diff finds no drift.

The active checker runs on an injected clock (``run_due()``): nothing waits for the wall clock.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from controlplane_support import cli, serve
from tls_support import CA

from konnect_desktop.model import declarative
from konnect_desktop.runtime.runtime import LocalRuntime

CA1 = CA("E2E CA")
PAIR = CA1.issue("secure.example.test", cn="secure.example.test")


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def deck_file(ports: list[int]) -> str:
    cert = "\n".join("      " + line for line in PAIR.cert.strip().splitlines())
    targets = "\n".join(f"  - target: 127.0.0.1:{p}" for p in ports)
    return f"""_format_version: "3.0"
vaults:
- prefix: e2e-secrets
  name: env
  config:
    prefix: KD_E2E_
certificates:
- cert: |
{cert}
  key: "{{vault://e2e-secrets/tls-key}}"
  snis:
  - name: secure.example.test
services:
- name: secure
  host: pool.e2e
  port: 80
  routes:
  - name: secure
    hosts: [secure.example.test]
    paths: [/]
    protocols: [https]
    https_redirect_status_code: 308
upstreams:
- name: pool.e2e
  healthchecks:
    active:
      http_path: /status
      healthy: {{interval: 5, successes: 1}}
      unhealthy: {{interval: 5, http_failures: 1}}
  targets:
{targets}
"""


async def backend(name: str, state: dict[str, int]) -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/status":
            return web.json_response({}, status=state[name])
        return web.json_response({"who": name, "proto": request.headers.get("X-Forwarded-Proto")})

    return await serve(handler)


async def https_get(port: int, path: str = "/") -> tuple[str, dict[str, Any]]:
    ctx = CA1.client_context()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="secure.example.test")
    try:
        cn = dict(x[0] for x in writer.get_extra_info("peercert")["subject"])["commonName"]
        writer.write(f"GET {path} HTTP/1.1\r\nHost: secure.example.test\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return cn, json.loads(data.partition(b"\r\n\r\n")[2])


@pytest.fixture
async def env(tmp_path: Path, monkeypatch) -> Any:
    monkeypatch.setenv("KD_E2E_TLS_KEY", PAIR.key)
    state = {"a": 200, "b": 200}
    runners = [await backend(n, state) for n in ("a", "b")]
    clock = Clock()
    us = LocalRuntime("us", db_path=tmp_path / "us.db", proxy_listen_tls=("127.0.0.1", 0), health_clock=clock)
    eu = LocalRuntime("eu", db_path=tmp_path / "eu.db", proxy_listen_tls=("127.0.0.1", 0), health_clock=Clock())
    await us.start()
    await eu.start()
    try:
        yield us, eu, clock, state, [p for _, p in runners]
    finally:
        await us.stop()
        await eu.stop()
        for r, _ in runners:
            await r.cleanup()


async def test_https_certificates_health_and_vaults_round_trip(env: Any, tmp_path: Path) -> None:
    us, eu, clock, state, ports = env
    source = tmp_path / "kong.yaml"
    source.write_text(deck_file(ports))
    await us.load_config(declarative.load(source))
    assert not us.config_errors, us.config_errors

    # HTTPS with the file's certificate (its key from the environment), a verifying client
    seen: Counter = Counter()
    for _ in range(4):
        cn, body = await https_get(us.proxy.tls_port)
        assert cn == "secure.example.test" and body["proto"] == "https"
        seen[body["who"]] += 1
    assert seen == {"a": 2, "b": 2}
    # plain HTTP is redirected to HTTPS (the route's https_redirect_status_code)
    reader, writer = await asyncio.open_connection("127.0.0.1", us.proxy.port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: secure.example.test\r\nConnection: close\r\n\r\n")
    head = (await asyncio.wait_for(reader.read(), 10)).split(b"\r\n")
    writer.close()
    assert head[0] == b"HTTP/1.1 308 Permanent Redirect" and b"Location: https://secure.example.test/x" in head

    # the active checks find target a unhealthy: traffic goes around it
    assert await us.checker.run_due() == 2
    state["a"] = 500
    clock.now += 5
    assert await us.checker.run_due() == 2
    seen = Counter()
    for _ in range(4):
        seen[(await https_get(us.proxy.tls_port))[1]["who"]] += 1
    assert seen == {"b": 4}

    # dump keeps the reference as written; sync to a second runtime; no drift either way
    dump = tmp_path / "us.yaml"
    rc, _out, err = await cli("dump", "--from", us.admin_url, "-o", str(dump))
    assert rc == 0, err
    text = dump.read_text()
    assert "{vault://e2e-secrets/tls-key}" in text and "PRIVATE KEY" not in text
    assert "healthchecks:" in text and "protocols:\n" in text
    rc, out, err = await cli("sync", str(dump), "--to", eu.admin_url)
    assert rc == 0, (out, err)
    for f in (dump, source):
        rc, out, err = await cli("diff", str(f), "--to", eu.admin_url, "--exit-on-drift")
        assert (rc, out) == (0, "Summary:\n  Created: 0\n  Updated: 0\n  Deleted: 0\n"), (f.name, out, err)
    # the second runtime serves the same certificate (its key resolved there too)
    await eu.wait_synced()
    assert not eu.config_errors, eu.config_errors
    cn, body = await https_get(eu.proxy.tls_port)
    assert cn == "secure.example.test" and body["who"] in ("a", "b")
    stored = eu.store.all("certificates")[0]
    assert stored["key"] == "{vault://e2e-secrets/tls-key}"
