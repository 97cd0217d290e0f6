"""Keyrings for in-process tests. ``secret_service``: a real Secret Service — a private D-Bus
session bus with an unlocked gnome-keyring-daemon, and keyring pointed at it for the duration of
the test. ``no_keyring`` / ``session_tokens``: no usable keyring at all, without or with the
user's "this session only" choice.

Import the fixtures into a test module (or conftest). ``secret_service`` tests are skipped with a
clear reason when dbus-daemon or gnome-keyring-daemon is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

_ENV_KEYS = ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_DATA_HOME")


@pytest.fixture
def secret_service() -> Iterator[Any]:
    for binary in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} is not installed (CI installs dbus and gnome-keyring)")
    import keyring
    from keyring.backends import SecretService

    tmp = tempfile.mkdtemp(prefix="console-keyring-")
    run = os.path.join(tmp, "run")
    os.mkdir(run, 0o700)
    env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": os.path.join(tmp, "data"),
           "XDG_RUNTIME_DIR": run, "XDG_CONFIG_HOME": os.path.join(tmp, "config")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input="throwaway",
                       env=env, capture_output=True, text=True, timeout=30, check=True)
        saved = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ.update({k: env[k] for k in _ENV_KEYS})
        before = keyring.get_keyring()
        backend = SecretService.Keyring()
        keyring.set_keyring(backend)
        try:
            yield backend
        finally:
            keyring.set_keyring(before)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        bus.terminate()  # the keyring daemon leaves with its bus
        bus.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _without_keyring(session_store: bool) -> Iterator[None]:
    import keyring
    import keyring.backends.fail

    from konnect_desktop import credentials

    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    credentials.use_session_store(session_store)
    try:
        yield
    finally:
        credentials.use_session_store(False)
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """No usable keyring and no session store."""
    yield from _without_keyring(False)


@pytest.fixture
def session_tokens() -> Iterator[None]:
    """No usable keyring; tokens kept in memory for this session (the user's choice)."""
    yield from _without_keyring(True)
