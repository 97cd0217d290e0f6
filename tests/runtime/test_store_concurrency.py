"""Transactions, versions and change notifications, and use from many threads, an event loop and
other processes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from test_store_support import Factory, new_store
from watched_lock import WatchedLock

from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.store import Store


def _names(store: Store) -> list[str]:
    return [s["name"] for s in store.all("services")]


# -- transactions -------------------------------------------------------------------------------
def test_failing_step_leaves_everything_as_it_was(store: Store) -> None:
    svc = store.insert("services", {"name": "keep", "host": "h"})
    before, v = store.export(), store.version
    seen: list[int] = []
    store.subscribe(seen.append)
    with pytest.raises(KongError) as ei:
        with store.transaction():
            store.insert("services", {"name": "new", "host": "h"})
            store.update("services", "keep", {"port": 9000})
            store.insert("routes", {"paths": ["/"], "service": {"id": svc["id"]}})
            store.insert("services", {"name": "new", "host": "h"})  # unique violation
    assert ei.value.code == 5
    assert store.export() == before and store.version == v and seen == []


def test_any_exception_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.insert("services", {"name": "a", "host": "h"})
            raise RuntimeError("boom")
    assert store.count("services") == 0 and store.version == 0


def test_transaction_is_one_change(store: Store, tmp_path) -> None:
    seen: list[tuple[int, list[str]]] = []

    def on_change(version: int) -> None:
        # Runs after the commit: another connection to the file already sees the data.
        conn = sqlite3.connect(tmp_path / "runtime.db")
        names = [r[0] for r in conn.execute("SELECT json_extract(body, '$.name') FROM e_services ORDER BY seq")]
        conn.close()
        seen.append((version, names))

    store.subscribe(on_change)
    with store.transaction() as tx:
        assert tx is store
        for i in range(5):
            store.insert("services", {"name": f"s{i}", "host": "h"})
        store.update("services", "s0", {"port": 1})
        store.delete("services", "s4")
        assert seen == []  # nothing is announced inside the transaction
    assert store.version == 1
    assert seen == [(1, ["s0", "s1", "s2", "s3"])]


def test_reads_inside_a_transaction_see_its_writes_others_do_not(store: Store) -> None:
    outside: list[int] = []
    with store.transaction():
        store.insert("services", {"name": "a", "host": "h"})
        assert store.get("services", "a")["name"] == "a"
        assert store.count("services") == 1
        assert len(store.export()["services"]) == 1
        t = threading.Thread(target=lambda: outside.append(store.count("services")))
        t.start()
        t.join(10)
    assert outside == [0]  # another thread reads the last committed state, without waiting
    assert store.count("services") == 1


def test_nested_transactions_join_with_savepoints(store: Store) -> None:
    with store.transaction():
        store.insert("services", {"name": "outer", "host": "h"})
        with pytest.raises(KongError):
            with store.transaction():
                store.insert("services", {"name": "inner", "host": "h"})
                store.insert("services", {"name": "outer", "host": "h"})  # fails
        with store.transaction():
            store.insert("services", {"name": "inner2", "host": "h"})
    assert _names(store) == ["outer", "inner2"]
    assert store.version == 1


def test_no_op_transaction_does_not_bump(store: Store) -> None:
    with store.transaction():
        store.delete("services", "missing")
        store.all("services")
    assert store.version == 0


def test_version_counts_each_committed_change(store: Store) -> None:
    store.insert("services", {"name": "a", "host": "h"})
    store.update("services", "a", {"port": 1})
    store.upsert("services", "a", {"host": "h2"})
    store.delete("services", "a")
    assert store.version == 4
    with pytest.raises(KongError):
        store.insert("services", {"port": "x"})  # rejected: no change
    assert store.version == 4


def test_subscribers(store: Store) -> None:
    got: list[int] = []
    other: list[int] = []

    def broken(version: int) -> None:
        raise RuntimeError("subscriber bug")

    store.subscribe(broken)
    unsubscribe = store.subscribe(got.append)
    store.subscribe(other.append)
    store.insert("services", {"host": "h"})  # the broken one does not stop the others
    unsubscribe()
    unsubscribe()  # twice is harmless
    store.insert("services", {"host": "h"})
    assert got == [1] and other == [1, 2]


def test_subscriber_may_use_the_store(store: Store) -> None:
    counts: list[int] = []
    store.subscribe(lambda v: counts.append(store.count("services")))
    store.insert("services", {"host": "h"})
    with store.transaction():
        store.insert("services", {"host": "h"})
    assert counts == [1, 2]


# -- threads ------------------------------------------------------------------------------------
def test_many_threads_write_and_read(store: Store) -> None:
    errors: list[BaseException] = []
    writers, per_writer = 4, 100
    stop = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                svc = store.insert("services", {"name": f"w{w}-{i}", "host": "h", "tags": [f"w{w}"]})
                if i % 10 == 0:
                    store.update("services", svc["id"], {"port": 8000 + i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                offset, seen = None, set()
                while True:
                    page, offset = store.page("services", size=17, offset=offset)
                    for e in page:
                        assert e["id"] not in seen
                        seen.add(e["id"])
                    if offset is None:
                        break
                store.count("services")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in readers + threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    for t in readers:
        t.join(60)
    assert errors == []
    assert store.count("services") == writers * per_writer
    assert store.version == writers * per_writer + writers * (per_writer // 10)
    for w in range(writers):
        assert store.count("services") and len(store.page("services", size=1000, tags=[f"w{w}"])[0]) == per_writer


def test_writers_wait_for_an_open_transaction(store: Store) -> None:
    order: list[str] = []
    watched = store._lock = WatchedLock(store._lock, owner=threading.get_ident())

    def other() -> None:
        store.insert("services", {"name": "second", "host": "h"})
        order.append("second")

    with store.transaction():
        store.insert("services", {"name": "first", "host": "h"})
        t = threading.Thread(target=other)
        t.start()
        assert watched.tried.wait(30), "the other writer never took the store's write lock"
        assert watched.found_held.is_set()  # it found the transaction's lock held, and waits
        order.append("first")
    t.join(30)
    assert order == ["first", "second"]
    assert _names(store) == ["first", "second"]


async def test_event_loop_use_through_threads(store: Store) -> None:
    async def one(i: int) -> None:
        e = await store.aio.insert("services", {"name": f"s{i}", "host": "h"})
        assert (await asyncio.to_thread(store.get, "services", e["id"]))["name"] == f"s{i}"
        await store.aio.page("services", size=5)

    await asyncio.gather(*(one(i) for i in range(40)))
    assert await store.aio.count("services") == 40
    with pytest.raises(AttributeError):
        store.aio.close  # noqa: B018 - only the data methods are offered
    with pytest.raises(KongError):
        await store.aio.insert("services", {"name": "s0", "host": "h"})


# -- other processes ------------------------------------------------------------------------------
def _run(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, check=True)


def test_changes_from_another_process_are_noticed(store: Store) -> None:
    store.insert("services", {"name": "mine", "host": "h"})
    seen: list[int] = []
    store.subscribe(seen.append)
    assert store.poll_external_changes() is False
    _run("""
        import sys
        from konnect_desktop.runtime.store import Store
        s = Store(sys.argv[1])
        with s.transaction():
            s.insert("services", {"name": "theirs", "host": "h"})
            s.update("services", "mine", {"port": 1234})
        print(s.version)
        s.close()
    """, str(store.path))
    assert store.version == 1  # not yet looked
    assert _names(store) == ["mine", "theirs"]  # reads always see the committed file
    assert store.poll_external_changes() is True
    assert store.version == 2 and seen == [2]
    assert store.get("services", "mine")["port"] == 1234
    assert store.poll_external_changes() is False
    store.insert("services", {"name": "after", "host": "h"})
    assert store.version == 3 and seen == [2, 3]


def test_two_stores_on_one_file(tmp_path) -> None:
    a, b = new_store(tmp_path), new_store(tmp_path)
    try:
        a.insert("services", {"name": "x", "host": "h"})
        b.insert("services", {"name": "y", "host": "h"})  # b's counter moves past a's change too
        assert b.version == 2
        assert a.poll_external_changes() is True and a.version == 2
        with pytest.raises(KongError) as ei:
            b.insert("services", {"name": "x", "host": "h"})
        assert ei.value.code == 5
    finally:
        a.close()
        b.close()


def test_writer_waits_for_another_process_transaction(store: Store, tmp_path) -> None:
    # the other process holds its transaction until told to commit (a line on its stdin); this
    # store's write is seen to begin while it is held, and ends after it, with both rows
    marker = tmp_path / "holding"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, pathlib
        from konnect_desktop.runtime.store import Store
        s = Store(sys.argv[1])
        with s.transaction():
            s.insert("services", {"name": "theirs", "host": "h"})
            pathlib.Path(sys.argv[2]).write_text("in transaction")
            sys.stdin.readline()  # held until the parent says
        s.close()
    """), str(store.path), str(marker)], stdin=subprocess.PIPE, text=True)
    began = threading.Event()
    store._w.set_trace_callback(lambda sql: began.set() if sql == "BEGIN IMMEDIATE" else None)
    errors: list[BaseException] = []

    def mine() -> None:
        try:
            store.insert("services", {"name": "mine", "host": "h"})  # waits on the file lock
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=mine)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        writer.start()
        assert began.wait(30), "this store's write never began"
        assert proc.poll() is None  # their transaction is still open: the write is waiting on it
        assert proc.stdin is not None
        proc.stdin.write("commit\n")
        proc.stdin.flush()
        writer.join(30)
        assert not writer.is_alive() and errors == []
        assert _names(store) == ["theirs", "mine"]
    finally:
        store._w.set_trace_callback(None)
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.close()
        assert proc.wait(60) == 0


def test_unique_id_kept_across_processes(store: Store) -> None:
    sid = str(uuid.uuid4())
    _run("""
        import sys
        from konnect_desktop.runtime.store import Store
        with Store(sys.argv[1]) as s:
            s.insert("services", {"id": sys.argv[2], "host": "h"})
    """, str(store.path), sid)
    with pytest.raises(KongError) as ei:
        store.insert("services", {"id": sid, "host": "h"})
    assert ei.value.code == 3
    assert Factory(store)("routes", service={"id": sid})["service"] == {"id": sid}


def test_short_lived_threads_do_not_leak_connections(store: Store) -> None:
    store.insert("services", {"host": "h"})
    for _ in range(30):
        t = threading.Thread(target=lambda: store.count("services"))
        t.start()
        t.join(10)
    store.count("services")  # a new reader (this thread) prunes the ended threads' connections
    assert len(store._readers) <= 2


def test_poll_never_waits_for_an_open_transaction(store: Store) -> None:
    results: list[bool] = []
    with store.transaction():
        store.insert("services", {"host": "h"})
        t = threading.Thread(target=lambda: results.append(store.poll_external_changes()))
        t.start()
        t.join(5)
        assert results == [False]  # returned at once, though the lock was held
        assert store.poll_external_changes() is False  # inside our own transaction
    assert store.version == 1
