"""Fixtures shared by the runtime tests: a fresh store (``test_store*``), the echo upstream over a
real socket, and for the plugin black-box tests (``test_e2e_plugins_*``) one gateway per test
module and the auth plugins' clock, fixed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e_plugin_support import AUTH_NOW, Gateway, start_gateway
from fake_clock import FakeClock
from test_proxy_support import echo_server
from test_store_support import new_store

from konnect_desktop.plugins import auth_common


@pytest.fixture
def store(tmp_path):
    s = new_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
async def echo():
    up = await echo_server()
    yield up
    await up.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    g = await start_gateway(tmp_path_factory.mktemp("e2e"))
    yield g
    await g.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The auth plugins' clock (``auth_common.clock``), fixed at ``AUTH_NOW`` and moved by the test."""
    c = FakeClock(float(AUTH_NOW))
    monkeypatch.setattr(auth_common, "clock", c)
    return c
