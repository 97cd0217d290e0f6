"""Fixtures for the console core: a real local runtime with the sample configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from console.keyring_fixture import secret_service  # noqa: F401  (fixture)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Any]:
    from konnect_desktop.model import declarative
    from konnect_desktop.runtime.manager import sample_config_path
    from konnect_desktop.runtime.runtime import LocalRuntime

    rt = LocalRuntime("console-test", tmp_path / "rt.db", admin_listen=None)
    await rt.start()
    await rt.load_config(declarative.load(sample_config_path()))
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def sender() -> AsyncIterator[Any]:
    from konnect_desktop.console.sender import Sender

    s = Sender(timeout=10)
    try:
        yield s
    finally:
        await s.aclose()
