"""A process killed in the middle of an import leaves the previous configuration intact.

A child process replaces a stored configuration with a large one and is SIGKILLed while its
transaction is open -- once after all rows are written (still uncommitted), once in the middle of
the bulk insert statement. The page cache is made tiny in the child so uncommitted pages really
reach the WAL file before the kill. Then the file is opened again and must hold exactly the old
configuration and pass SQLite's integrity check.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_store_support import Factory, new_store

CHILD = textwrap.dedent("""
    import pathlib, sys, threading, uuid
    from konnect_desktop.runtime.store import Store

    path, marker, mode, n = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    store = Store(path)
    # A tiny page cache makes SQLite spill the open transaction's pages into the WAL early.
    store._w.execute("PRAGMA cache_size = 20")
    services = [{"id": str(uuid.uuid4()), "name": f"new-{i}", "host": "new.example", "tags": ["new"]}
                for i in range(n)]
    routes = [{"id": str(uuid.uuid4()), "name": f"new-route-{i}", "paths": [f"/new/{i}"],
               "service": {"id": services[i]["id"]}} for i in range(n)]
    config = {"services": services, "routes": routes}

    if mode == "after-writes":
        # replace_all joins the open transaction: all its rows are written, nothing committed.
        with store.transaction():
            store.replace_all(config)
            marker.write_text("in transaction, all rows written")
            threading.Event().wait()  # held open until the test kills this process
    else:
        # Stop inside the bulk insert statement itself, part way through.
        ticks = [0]
        def progress():
            if store._w.in_transaction:
                ticks[0] += 1
                if ticks[0] == 500:  # of about 1,200 for the whole import
                    marker.write_text("in transaction, inside a statement")
                    threading.Event().wait()  # held inside the statement until the test kills this process
            return 0
        store._w.set_progress_handler(progress, 1000)
        store.replace_all(config)
    print("finished: should have been killed", flush=True)
""")


def _old_config(store) -> None:
    make = Factory(store)
    for i in range(30):
        svc = make("services", name=f"old-{i}", tags=["old"])
        make("routes", service={"id": svc["id"]})
    for _ in range(10):
        make("keyauth_credentials")
        make("acls")
    make("snis")
    make("targets")


def _kill_mid_import(tmp_path: Path, mode: str) -> dict[str, object]:
    store = new_store(tmp_path)
    _old_config(store)
    before, version = store.export(), store.version
    store.close()

    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "runtime.db"), str(marker), mode, "8000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"child ended before the marker: rc={proc.returncode}\n{out}\n{err}")
            assert time.monotonic() < deadline, "child never reached the open transaction"
            time.sleep(0.01)
        wal = tmp_path / "runtime.db-wal"
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only on a failed assertion above
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    with new_store(tmp_path) as reopened:
        assert reopened.export() == before  # the old configuration, all of it
        assert reopened.version == version
        assert reopened.page("services", tags=["new"]) == ([], None)
        # and the store works normally afterwards
        reopened.insert("services", {"name": "after-crash", "host": "h"})
        assert reopened.version == version + 1
    conn = sqlite3.connect(tmp_path / "runtime.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    return {"wal_bytes_at_kill": wal_bytes}


@pytest.mark.slow
def test_killed_with_all_rows_written_but_uncommitted(tmp_path: Path) -> None:
    info = _kill_mid_import(tmp_path, "after-writes")
    # The transaction's pages had reached the WAL file: recovery had real uncommitted frames to drop.
    assert info["wal_bytes_at_kill"] > 1_000_000


@pytest.mark.slow
def test_killed_inside_the_bulk_insert(tmp_path: Path) -> None:
    info = _kill_mid_import(tmp_path, "mid-statement")
    assert info["wal_bytes_at_kill"] > 0
