"""Shared test support for the control plane tests (the token used everywhere, the Backend bundle,
the CLI as a subprocess and an HTTP upstream on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from konnect_desktop.controlplanes.base import ControlPlane
from konnect_desktop.controlplanes.kong_admin import RetryPolicy

TOKEN = "kpat_" + "Zq9" * 14  # 47 characters, shaped like a Konnect personal access token
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)


@dataclass
class Backend:
    kind: str
    cp: ControlPlane
    store: Any  # the runtime.store.Store that holds this control plane's entities
    extra: dict[str, Any]


async def cli(*args: str) -> tuple[int, str, str]:
    """``python -m konnect_desktop *args`` in a subprocess: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "konnect_desktop", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, int]:
    """An HTTP server on 127.0.0.1:<free port> answering every path with ``handler``: its runner
    (``cleanup()`` stops it) and its port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
