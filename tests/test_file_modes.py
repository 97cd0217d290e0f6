"""Secrets at rest: what the app writes is 0600 in 0700 folders (POSIX), on the real file system.

Before: the runtime's SQLite store and its WAL (which holds key-auth keys in clear) and the
console history were created 0644 in 0755 folders — readable by every local user. The tests run
under a permissive umask (022, the usual default) so they show the app sets the modes itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from konnect_desktop import appdirs
from konnect_desktop.console.history import History
from konnect_desktop.console.request import RequestSpec
from konnect_desktop.runtime.store import Store
from konnect_desktop.settings import Profile, Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_store_file_wal_and_shm_are_private_after_a_write(tmp_path: Path) -> None:
    users = tmp_path / "shared"
    users.mkdir(mode=0o755)
    db = users / "new" / "deeper" / "rt.db"
    store = Store(db)
    try:
        store.insert("consumers", {"username": "alice"})
        c = store.get("consumers", "alice")
        store.insert("keyauth_credentials", {"consumer": {"id": c["id"]}, "key": "very-secret-key"})
        wal = db.with_name("rt.db-wal")
        assert wal.exists() and wal.stat().st_size > 0  # the key is in the WAL right now
        assert b"very-secret-key" in wal.read_bytes()
        for f in (db, wal, db.with_name("rt.db-shm")):
            assert mode(f) == 0o600, (f, oct(mode(f)))
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
        assert mode(users) == 0o755  # a folder the app did not create is left alone
    finally:
        store.close()


def test_an_existing_store_written_world_readable_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    Store(db).close()
    os.chmod(db, 0o644)
    store = Store(db)
    try:
        store.insert("services", {"host": "example.org"})
        assert mode(db) == 0o600 and mode(db.with_name("old.db-wal")) == 0o600
    finally:
        store.close()


def test_console_history_is_private(tmp_path: Path) -> None:
    h = History(tmp_path / "hist" / "history.db")
    try:
        h.record(RequestSpec("GET", "http://127.0.0.1:1/x"))
        for f in (h.path, h.path.with_name("history.db-wal")):
            assert mode(f) == 0o600, f
        assert mode(h.path.parent) == 0o700
    finally:
        h.close()


def test_app_folders_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONNECT_DESKTOP_HOME", str(tmp_path / "home"))
    for d in (appdirs.config_dir(), appdirs.data_dir(), appdirs.log_dir(), appdirs.runtime_db_path("x").parent):
        assert mode(d) == 0o700, d
    os.chmod(appdirs.data_dir(), 0o755)  # written by an older version: tightened on next use
    assert mode(appdirs.data_dir()) == 0o700
    s = Settings(path=appdirs.config_dir() / "sub" / "settings.json")
    s.add_profile(Profile(name="local", kind="local"))
    p = s.save()
    assert mode(p) == 0o600 and mode(p.parent) == 0o700
    # the log files themselves (0600, rotated ones too): tests/test_applog.py
