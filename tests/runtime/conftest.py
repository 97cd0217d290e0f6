"""Fixtures shared by the data-plane tests: the echo upstream over a real socket."""

from __future__ import annotations

import pytest
from test_proxy_support import echo_server


@pytest.fixture
async def echo():
    up = await echo_server()
    yield up
    await up.stop()
