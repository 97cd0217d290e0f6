"""One sentence-maker for transport failures (controlplanes/transport.py), used by the control
plane clients and the request console alike. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx
import pytest

from konnect_desktop.console.sender import describe_send_error
from konnect_desktop.controlplanes.errors import ConnectionFailed
from konnect_desktop.controlplanes.kong_admin import KongAdminControlPlane, RetryPolicy
from konnect_desktop.controlplanes.transport import (
    describe_transport_error,
    host_port,
    is_tls_failure,
)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_host_port_fills_in_the_default_port() -> None:
    assert host_port("https://kong.test/x") == "kong.test:443"
    assert host_port("http://[::1]:8001") == "[::1]:8001"


async def test_refused_is_said_the_same_by_the_console_and_the_control_plane() -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(httpx.ConnectError) as ei:
        async with httpx.AsyncClient() as client:
            await client.get(url)
    sentence = f"Could not connect to 127.0.0.1:{port}: connection refused"
    assert describe_transport_error(ei.value, host_port(url)) == sentence
    assert describe_send_error(ei.value, url, 5.0) == sentence
    cp = KongAdminControlPlane(url.rstrip("/"), retry=RetryPolicy(attempts=1))
    async with cp:
        with pytest.raises(ConnectionFailed) as failed:
            await cp.get("services", "s")
    assert failed.value.message == f"{sentence} (GET /services/s, after 1 attempt(s))"


async def test_a_tls_handshake_failure_is_not_retried_and_says_what_to_change() -> None:
    """An https:// client meeting a plain-text server: the handshake fails; retrying cannot help."""
    accepted = 0

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cp = KongAdminControlPlane(f"https://127.0.0.1:{port}", retry=RetryPolicy(attempts=3, backoff=0.01))
        async with cp:
            with pytest.raises(ConnectionFailed) as failed:
                await cp.get("services", "s")
    finally:
        server.close()
        await server.wait_closed()
    message = failed.value.message
    assert message.startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")
    assert message.endswith("set the server's CA certificate in the connection's TLS options")
    assert accepted == 1


def test_tls_failure_is_found_anywhere_in_the_chain() -> None:
    try:
        try:
            raise ssl.SSLError(1, "certificate verify failed")
        except OSError as inner:
            raise httpx.ConnectError("boom") from inner
    except httpx.ConnectError as exc:
        assert is_tls_failure(exc)
    assert not is_tls_failure(httpx.ConnectError("refused"))
