"""``runtime.manager``: the local runtimes' lifecycle the GUI and ``gateway run`` share, without Qt.

Real parts: listeners on 127.0.0.1 (port 0, or a port a real socket holds to make it busy), real
SQLite stores in ``tmp_path``, the store lock file, the app's sample decK file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_store_lock import write_lock

from konnect_desktop.runtime import manager as manager_mod
from konnect_desktop.runtime.admin_guard import UnsafeBindError
from konnect_desktop.runtime.manager import RuntimeManager, load_sample_if_empty, store_is_empty
from konnect_desktop.runtime.store import Store
from konnect_desktop.runtime.store_lock import StoreInUse, lock_path

FREE = "127.0.0.1:0"


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


async def admin_json(rt: Any, path: str) -> Any:
    # in a worker thread: the Admin API answers on this test's loop
    return await asyncio.to_thread(_get_json, rt.admin_url + path)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port a real listening socket holds for the test."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def _services(db: Path) -> list[str]:
    store = Store(db)
    try:
        return sorted(e["name"] for e in store.all("services"))
    finally:
        store.close()


async def test_start_loads_the_sample_into_an_empty_store_and_stop_releases_everything(tmp_path: Path) -> None:
    db = tmp_path / "first.db"
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    assert m.state("first") == "stopped" and m.get("first") is None
    rt = await m.start("first", db_path=db, sample=True)
    try:
        assert m.state("first") == "running" and m.get("first") is rt
        assert lock_path(db).exists()
        # the sample is what the Admin API serves
        names = [s["name"] for s in (await admin_json(rt, "/services"))["data"]]
        assert names and rt.store is not None and not store_is_empty(rt.store)
        again = await m.start("first", db_path=db, sample=True)
        assert again is rt  # running: the same runtime, not a second one
    finally:
        await m.stop("first")
    assert m.state("first") == "stopped" and m.get("first") is None
    assert not lock_path(db).exists() and rt.store is None


async def test_the_sample_never_lands_on_a_store_that_has_configuration(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    store = Store(db)
    store.insert("services", {"name": "mine", "url": "http://127.0.0.1:9/"})
    assert load_sample_if_empty(store) is None  # nothing to do, nothing to report
    store.close()
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    await m.start("mine", db_path=db, sample=True)
    await m.stop("mine")
    assert _services(db) == ["mine"]


async def test_without_sample_a_new_store_starts_empty(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    rt = await m.start("empty", db_path=db)
    try:
        assert (await admin_json(rt, "/services"))["data"] == []
    finally:
        await m.stop("empty")


async def test_a_sample_that_cannot_be_loaded_leaves_the_store_empty_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad-sample.yaml"
    bad.write_text("_format_version: '3.0'\nservices:\n- name: s\n  url: not a url\n")
    monkeypatch.setattr(manager_mod, "sample_config_path", lambda: bad)
    db = tmp_path / "s.db"
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    with caplog.at_level(logging.WARNING, logger="konnect_desktop.runtime.manager"):
        rt = await m.start("s", db_path=db, sample=True)
    try:
        assert rt.state == "running" and store_is_empty(rt.store)
        assert any("sample configuration not loaded" in r.getMessage() for r in caplog.records)
    finally:
        await m.stop("s")


async def test_busy_ports_fall_back_to_free_loopback_ports(tmp_path: Path, busy_port: int) -> None:
    """The GUI's first runtime asks for 8000/8001; when another gateway holds them it still starts."""
    m = RuntimeManager(proxy_listen=f"127.0.0.1:{busy_port}", admin_listen=f"127.0.0.1:{busy_port}",
                       proxy_listen_tls=f"127.0.0.1:{busy_port}")
    rt = await m.start("fallback", db_path=tmp_path / "f.db", sample=True)
    try:
        assert rt.proxy_url is not None and rt.proxy.port not in (0, busy_port)
        assert rt.admin_bound[0].startswith("127.0.0.1:") and rt.proxy_tls_bound is not None
        assert (await admin_json(rt, "/services"))["data"]  # the sample, loaded once
    finally:
        await m.stop("fallback")


async def test_without_fallback_a_busy_port_fails_and_leaves_nothing_behind(tmp_path: Path, busy_port: int) -> None:
    """``gateway run``'s choice: the port asked for or an error."""
    db = tmp_path / "busy.db"
    m = RuntimeManager(proxy_listen=f"127.0.0.1:{busy_port}", admin_listen=FREE, free_ports_when_busy=False)
    with pytest.raises(OSError):
        await m.start("busy", db_path=db)
    assert m.state("busy") == "stopped" and m.get("busy") is None
    assert not lock_path(db).exists()
    # the store was closed: another runtime can serve it at once
    other = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    await other.start("busy", db_path=db)
    await other.stop("busy")


async def test_prepare_runs_with_the_lock_held_and_its_failure_leaves_nothing_open(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    seen: list[bool] = []

    def refuse(store: Store) -> None:
        seen.append(lock_path(db).exists())
        store.insert("services", {"name": "half", "url": "http://127.0.0.1:9/"})
        raise ValueError("configuration rejected")

    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    with pytest.raises(ValueError, match="configuration rejected"):
        await m.start("p", db_path=db, prepare=refuse)
    assert seen == [True]
    assert m.state("p") == "stopped" and not lock_path(db).exists()

    def load(store: Store) -> None:
        store.insert("services", {"name": "from-file", "url": "http://127.0.0.1:9/"})

    rt = await m.start("p", db_path=db, prepare=load, sample=True)  # prepare wins over the sample
    try:
        assert sorted(s["name"] for s in (await admin_json(rt, "/services"))["data"]) == ["from-file", "half"]
    finally:
        await m.stop("p")


async def test_a_store_another_process_serves_is_neither_prepared_nor_served(tmp_path: Path) -> None:
    db = tmp_path / "theirs.db"
    write_lock(db, os.getppid(), "konnect-desktop gateway run")  # a live process that is not us
    ran: list[Store] = []
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    with pytest.raises(StoreInUse, match="gateway run"):
        await m.start("theirs", db_path=db, prepare=ran.append)
    assert ran == [] and not db.exists() and m.get("theirs") is None


async def test_an_open_admin_api_without_a_token_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    db = tmp_path / "open.db"
    m = RuntimeManager(proxy_listen=FREE, admin_listen="0.0.0.0:0")
    with pytest.raises(UnsafeBindError, match="without an admin token"):
        await m.start("open", db_path=db, sample=True)
    assert not db.exists() and not lock_path(db).exists() and m.state("open") == "stopped"


async def test_two_starts_at_once_get_one_runtime(tmp_path: Path) -> None:
    m = RuntimeManager(proxy_listen=FREE, admin_listen=FREE)
    first = asyncio.ensure_future(m.start("twice", db_path=tmp_path / "t.db"))
    await asyncio.sleep(0)  # the first start is under way
    assert m.state("twice") == "starting"
    second = await m.start("twice", db_path=tmp_path / "t.db")
    try:
        assert second is await first and m.state("twice") == "running"
    finally:
        await m.stop("twice")
