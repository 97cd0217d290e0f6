"""Closing a store while other threads use it: no crash, a clear error afterwards, nothing lost.

Closing an SQLite connection under a statement another thread is running crashes the
interpreter, so the hammering runs in a child process: a crash shows up as a failed test with
its signal instead of taking the test run down.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fake_clock import FakeClock
from test_store_support import new_store
from watched_lock import WatchedLock

from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.store import Store, StoreClosed

HAMMER = textwrap.dedent("""
    import asyncio, json, sys, threading, time
    from pathlib import Path
    from konnect_desktop.runtime.store import Store, StoreClosed

    folder, rounds = Path(sys.argv[1]), int(sys.argv[2])
    out = {"rounds": 0, "closed_seen": 0, "other": [], "stuck": 0, "close_s": [], "reads": 0}
    lock = threading.Lock()

    def note(kind, value=None):
        with lock:
            if kind == "other":
                out["other"].append(value)
            else:
                out[kind] += 1 if value is None else value

    for r in range(rounds):
        s = Store(folder / f"hammer-{r}.db")
        with s.transaction():
            for i in range(200):
                s.insert("services", {"name": f"s{i}", "host": "h", "tags": ["t"]})
        started = threading.Barrier(7)
        stop_at = time.monotonic() + 30  # a hang guard only: each loop ends when the store closes
        progress, moved = [0] * 6, threading.Condition()

        def did(k):  # thread k finished one more pass
            with moved:
                progress[k] += 1
                moved.notify_all()

        def reader(k):
            started.wait()
            n = 0
            while time.monotonic() < stop_at:
                try:
                    s.get("services", f"s{n % 200}")
                    s.find("services", "nope")
                    s.page("services", 50, tags=["t"])
                    s.count("services")
                    if k % 2:
                        s.export()
                    else:
                        s.all("services")
                    n += 1
                    did(k)
                except StoreClosed:
                    note("closed_seen"); note("reads", n); return
                except Exception as exc:
                    note("other", f"reader: {type(exc).__name__}: {exc}"); return
            note("stuck")

        def writer():
            started.wait()
            i = 0
            while time.monotonic() < stop_at:
                try:
                    s.insert("routes", {"name": f"r{r}-{i}", "paths": [f"/p{i}"]})
                    s.update("services", "s1", {"retries": i % 10})
                    i += 1
                    did(4)
                except StoreClosed:
                    note("closed_seen"); return
                except Exception as exc:
                    note("other", f"writer: {type(exc).__name__}: {exc}"); return
            note("stuck")

        async def aio_reads():
            while time.monotonic() < stop_at:
                try:
                    await s.aio.all("services")
                    await s.aio.count("routes")
                    did(5)
                except StoreClosed:
                    note("closed_seen"); return
                except Exception as exc:
                    note("other", f"aio: {type(exc).__name__}: {exc}"); return
            note("stuck")

        def loop_thread():
            started.wait()
            asyncio.run(aio_reads())

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=writer), threading.Thread(target=loop_thread)]
        for t in threads:
            t.start()
        started.wait()
        with moved:  # close at a different point each round: after 1 to 5 passes of every thread
            if not moved.wait_for(lambda: min(progress) >= 1 + r % 5, timeout=60):
                note("stuck")
        t0 = time.monotonic()
        s.close()
        out["close_s"].append(time.monotonic() - t0)
        for t in threads:
            t.join(10)
            if t.is_alive():
                note("stuck")
        out["rounds"] += 1
    print(json.dumps(out))
""")


def test_closing_while_threads_read_and_write_never_crashes(tmp_path: Path) -> None:
    (tmp_path / "hammer.py").write_text(HAMMER)
    proc = subprocess.run([sys.executable, str(tmp_path / "hammer.py"), str(tmp_path), "10"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{out['rounds']} rounds, {out['reads']} read loops, close took at most "
          f"{max(out['close_s']) * 1000:.0f} ms")
    assert out["rounds"] == 10
    assert out["other"] == []
    assert out["stuck"] == 0
    # every thread ended because the store closed under it, and said so with StoreClosed
    assert out["closed_seen"] == 6 * out["rounds"]


def test_every_call_after_close_raises_a_clear_error(tmp_path: Path) -> None:
    s = new_store(tmp_path)
    svc = s.insert("services", {"name": "a", "host": "h"})
    s.close()
    assert s.closed
    calls = [
        lambda: s.get("services", svc["id"]), lambda: s.find("services", "a"), lambda: s.page("services"),
        lambda: s.all("services"), lambda: s.count("services"), s.export, s.poll_external_changes,
        lambda: s.insert("services", {"host": "h"}), lambda: s.update("services", "a", {"retries": 1}),
        lambda: s.upsert("services", "a", {"host": "h"}), lambda: s.delete("services", "a"),
        lambda: s.replace_all({}), lambda: s.import_entities({}), s.clear,
    ]
    for call in calls:
        with pytest.raises(StoreClosed) as ei:
            call()
        assert ei.value.code == 8 and "the store is closed" in ei.value.message
        assert isinstance(ei.value, KongError)
    with pytest.raises(StoreClosed), s.transaction():
        pass
    with pytest.raises(StoreClosed):
        asyncio.run(s.aio.get("services", "a"))
    s.close()  # again: fine


def test_close_waits_for_the_running_transaction_and_keeps_its_work(tmp_path: Path) -> None:
    s = new_store(tmp_path)
    watched = s._lock = WatchedLock(s._lock)
    inside, results = threading.Event(), []

    def writer() -> None:
        with s.transaction():
            s.insert("services", {"name": "kept", "host": "h"})
            watched.owner = threading.get_ident()
            inside.set()
            # close() has begun and waits for this transaction: it goes on all the same
            assert watched.found_held.wait(30), "close() never reached the write lock"
            s.insert("services", {"name": "kept-too", "host": "h"})
            results.append(s.count("services"))  # its own reads work while close waits

    t = threading.Thread(target=writer)
    t.start()
    assert inside.wait(30)
    s.close()  # returns only after the transaction committed
    t.join(30)
    assert results == [2]
    with Store(s.path) as again:
        assert sorted(x["name"] for x in again.all("services")) == ["kept", "kept-too"]


def test_a_read_outlasting_the_grace_is_interrupted(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    s = new_store(tmp_path, clock=clock)
    running, seen = threading.Event(), []

    def endless() -> None:
        try:
            with s._reading() as conn:  # a query that would never end on its own
                running.set()
                conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                             "SELECT count(*) FROM c").fetchone()
        except Exception as exc:
            seen.append(exc)

    t = threading.Thread(target=endless)
    t.start()
    assert running.wait(5)
    closer = threading.Thread(target=lambda: s.close(grace=0.2))
    reads = clock.reads
    closer.start()
    # close() took its deadline and looked again before the grace ran out: the read goes on
    for _ in range(3000):
        if clock.reads >= reads + 2:
            break
        time.sleep(0.01)
    assert clock.reads >= reads + 2 and t.is_alive() and seen == []
    clock.advance(0.2)  # the grace is over: the next look interrupts the read
    closer.join(30)
    t.join(30)
    assert not closer.is_alive() and not t.is_alive()
    assert len(seen) == 1 and isinstance(seen[0], StoreClosed)


def test_close_from_two_threads_and_inside_a_transaction(tmp_path: Path) -> None:
    s = new_store(tmp_path)
    with s.transaction(), pytest.raises(RuntimeError, match="inside one of its own transactions"):
        s.close()
    s.insert("services", {"name": "still-open", "host": "h"})  # the refused close changed nothing
    errors: list[BaseException] = []

    def close() -> None:
        try:
            s.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == [] and s.closed
