"""Two processes never serve one store unknowingly: the lock file beside the store, stale-lock
detection by pid, and ``gateway run`` refusing a store the app or another gateway serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_gateway_cli import gateway, get, ready, stop

from konnect_desktop.runtime.runtime import LocalRuntime
from konnect_desktop.runtime.store_lock import StoreInUse, StoreLock, lock_path, pid_alive


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_lock(db: Path, pid: int, label: str = "someone", host: str | None = None) -> None:
    lock_path(db).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "label": label}))


def test_lock_is_shared_within_a_process_and_removed_by_the_last_holder(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    a, b = StoreLock(db, "A"), StoreLock(db, "B")
    a.acquire()
    b.acquire()  # same process: it knows
    assert lock_path(db).exists() and os.stat(lock_path(db)).st_mode & 0o777 == 0o600
    a.release()
    assert lock_path(db).exists()
    b.release()
    assert not lock_path(db).exists()


def test_a_live_owner_refuses_with_who_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    parent = os.getppid()  # alive and not us
    write_lock(db, parent, "konnect-desktop gateway run")
    with pytest.raises(StoreInUse) as ei:
        StoreLock(db, "me").acquire()
    msg = str(ei.value)
    assert f"pid {parent}" in msg and "gateway run" in msg and "--db" in msg and "--name" in msg
    assert json.loads(lock_path(db).read_text())["pid"] == parent  # untouched


@pytest.mark.parametrize("content", ["dead", "garbage", "empty"])
def test_a_stale_lock_is_taken_over(tmp_path: Path, content: str) -> None:
    db = tmp_path / "s.db"
    if content == "dead":
        pid = dead_pid()
        assert not pid_alive(pid)
        write_lock(db, pid)
    else:
        lock_path(db).write_text("" if content == "empty" else "{not json")
    with StoreLock(db, "me"):
        assert json.loads(lock_path(db).read_text())["pid"] == os.getpid()


def test_a_lock_from_another_host_is_respected(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    write_lock(db, dead_pid(), host="some-other-host")  # its pid means nothing here
    with pytest.raises(StoreInUse):
        StoreLock(db, "me").acquire()


async def test_a_running_runtime_holds_the_lock_until_stopped(tmp_path: Path) -> None:
    db = tmp_path / "rt.db"
    rt = LocalRuntime("rt", db, owner="Konnect Desktop")
    await rt.start()
    try:
        owner = json.loads(lock_path(db).read_text())
        assert owner["pid"] == os.getpid() and owner["label"] == "Konnect Desktop"
    finally:
        await rt.stop()
    assert not lock_path(db).exists()


async def test_gateway_run_refuses_a_store_the_app_serves(tmp_path: Path) -> None:
    """The app's runtime (this process) serves the store; a headless gateway on it exits 3."""
    db = tmp_path / "app.db"
    rt = LocalRuntime("default", db, owner="Konnect Desktop")
    await rt.start()
    try:
        p = gateway(tmp_path, "--db", str(db))
        out, err = p.communicate(timeout=60)
    finally:
        await rt.stop()
    assert p.returncode == 3, err
    assert "ready" not in out
    assert "in use by Konnect Desktop" in err and f"pid {os.getpid()}" in err
    assert "--db PATH" in err and "--name NAME" in err


def test_second_gateway_on_one_store_exits_and_a_killed_ones_lock_is_stale(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    first = gateway(tmp_path, "--db", str(db))
    try:
        ready(first)
        second = gateway(tmp_path, "--db", str(db))
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 3
        assert "in use by konnect-desktop gateway run" in err and f"pid {first.pid}" in err
        # another store is fine meanwhile
        other = gateway(tmp_path, "--name", "other", "--sample")
        try:
            proxy, _ = ready(other)
            assert get(proxy + "/echo")[0] == 200
        finally:
            assert stop(other) == 0
    finally:
        first.kill()  # no clean-up: the lock file stays behind, naming a dead pid
        first.wait(15)
    assert lock_path(db).exists()
    again = gateway(tmp_path, "--db", str(db), "--sample")
    try:
        proxy, _ = ready(again)
        assert get(proxy + "/echo")[0] == 200
    finally:
        assert stop(again) == 0
    assert not lock_path(db).exists()


async def test_the_app_runtime_does_not_start_on_a_store_another_process_serves(tmp_path: Path) -> None:
    """The other direction: a gateway (here: a live pid that is not us) serves the store, so the
    app's runtime fails to start with the reason, and leaves the other's lock alone."""
    db = tmp_path / "busy.db"
    write_lock(db, os.getppid(), "konnect-desktop gateway run")
    rt = LocalRuntime("default", db, owner="Konnect Desktop")
    with pytest.raises(StoreInUse):
        await rt.start()
    assert rt.state == "failed" and "in use by konnect-desktop gateway run" in (rt.last_error or "")
    assert rt.store is None and not db.exists()  # never opened
    assert json.loads(lock_path(db).read_text())["pid"] == os.getppid()
