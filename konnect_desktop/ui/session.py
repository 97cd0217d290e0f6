"""The app's state that every page shares: connections, the current control plane, local runtimes.

Pages never build a control plane themselves; they ask the ``Session`` for the current one and
listen to its signals (connection switched, data changed, runtime state). All I/O is coroutines
run through the session's ``TaskRunner`` (or the page's own), awaited on the qasync loop.

This is the Qt side of three Qt-free rooms:

* saved connections are ``settings.Profile``s in the app's one settings file
  (``settings.SettingsStore``, the file the CLI reads: a connection saved here is a valid
  ``--from``/``--to`` there), opened with ``controlplanes.open_profile``. Profiles hold no secret:
  tokens live in the OS keyring (``credentials``) under the profile's name. Window state goes to
  the same file. Writes run on one worker thread, in order, so the window never waits on the disk;
* the local runtimes this window started are ``runtime.manager.RuntimeManager``'s (the one
  ``gateway run`` uses); the session adds the signals and swaps each local connection's control
  plane between store-backed and runtime-backed;
* a small cache of entity lists for names and choices, emptied when data or connection change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ..controlplanes.base import ControlPlane
from ..runtime.manager import RuntimeManager
from ..settings import KIND_LABELS, Profile, SettingsStore, runtime_name_problem
from .tasks import TaskRunner

log = logging.getLogger(__name__)


class Session(QObject):
    """Connections (saved profiles), the current one, and the local runtimes this window started."""

    sig_connections_changed = Signal()
    sig_current_changed = Signal(object)  # Profile | None
    sig_data_changed = Signal(str)  # table that changed through this app
    sig_runtime_state = Signal(str, str)  # runtime name, state
    sig_error = Signal(object)  # ErrorInfo
    # a page asks the window to show another page and act on it: (page id, callable(page))
    sig_open_page = Signal(str, object)
    sig_preferences = Signal(object)  # dict: the Preferences were saved (``preferences.py``)

    def __init__(self, store: SettingsStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store or SettingsStore()
        # copies: the dialog and the pickers hold these, the store keeps what is on disk
        self.connections: list[Profile] = [dataclasses.replace(p) for p in self.store.profiles()]
        self.connections.sort(key=lambda c: (c.kind != "local", c.name.lower()))
        self.current: Profile | None = None
        self.cp: ControlPlane | None = None
        self._cps: dict[str, ControlPlane] = {}
        # stores this session opened for local groups that are not running (it closes them)
        self._own_stores: dict[int, Any] = {}
        self.runner = TaskRunner(self)
        self.runner.sig_error.connect(self.sig_error)
        # settings writes: one thread, in order, off the UI thread
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="settings-writer")
        self._writes: set[asyncio.Future[Any]] = set()
        # the local runtimes this window started; the HTTPS listener (Kong's proxy_listen ...
        # ssl) is on by default on a free port: the setting "runtime/proxy_listen_tls" picks
        # another address, "" turns it off
        self.manager = RuntimeManager(
            proxy_listen_tls=self.store.get_value("runtime/proxy_listen_tls", "127.0.0.1:0") or None)
        self.preferences: dict[str, Any] = {}  # set by ``preferences.apply``
        # small tables every page needs for names and choices (services, routes, consumers, ...)
        self.cache: dict[str, list[dict[str, Any]]] = {}
        self.sig_data_changed.connect(self._invalidate)
        self.sig_current_changed.connect(lambda _c: self.cache.clear())
        if self.store.problem is None and not any(c.kind == "local" for c in self.connections):
            taken = {c.name for c in self.connections}
            name = next(n for n in ("default", "local", "local-default") if n not in taken)
            self.add_connection(Profile(kind="local", name=name))
        if self.store.problem is not None:
            QTimer.singleShot(0, self._report_settings_problem)

    @property
    def listen(self) -> tuple[str, str]:
        """Where new local runtimes' proxy and Admin API listen (tests use port 0: any free port)."""
        return str(self.manager.proxy_listen), str(self.manager.admin_listen)

    @listen.setter
    def listen(self, value: tuple[str, str]) -> None:
        self.manager.proxy_listen, self.manager.admin_listen = value

    @property
    def runtimes(self) -> dict[str, Any]:
        """Runtime name → the running ``LocalRuntime``."""
        return self.manager.runtimes

    def _report_settings_problem(self) -> None:
        from .errors import ErrorInfo

        self.sig_error.emit(ErrorInfo("Saved connections could not be read", self.store.problem or ""))

    # -- writing settings ------------------------------------------------------------------------
    def _write(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run a settings change on the writer thread; failures reach ``sig_error`` unless awaited."""
        fut = asyncio.get_event_loop().run_in_executor(self._writer, fn, *args)
        self._writes.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._writes.discard(f)
            if not f.cancelled() and f.exception() is not None and not getattr(f, "_awaited", False):
                from .errors import describe_error

                self.sig_error.emit(describe_error(f.exception(), action="saving the connections"))

        fut.add_done_callback(done)
        return fut

    async def _write_now(self, fn: Callable[..., Any], *args: Any) -> Any:
        fut = self._write(fn, *args)
        fut._awaited = True  # type: ignore[attr-defined]  # the caller reports the error itself
        return await fut

    async def flush(self) -> None:
        """Wait until every settings change asked for so far is on disk."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def save_ui(self) -> None:
        """Write the window settings set with ``store.set_value`` (off the UI thread)."""
        self._write(self.store.sync)

    # -- connections ---------------------------------------------------------------------------
    def find(self, conn_id: str) -> Profile | None:
        return next((c for c in self.connections if c.id == conn_id), None) or \
            next((c for c in self.connections if c.name == conn_id), None)

    def check_connection(self, conn: Profile, replacing: Profile | None = None) -> None:
        problem = conn.problem()
        if problem:
            raise ValueError(problem)
        for c in self.connections:
            if c.name == conn.name and (replacing is None or c.id != replacing.id):
                if c.kind == "local" and conn.kind == "local":
                    raise ValueError(f"A local runtime group named “{conn.name}” already exists.")
                raise ValueError(f"A connection named “{conn.name}” already exists.")

    def add_connection(self, conn: Profile) -> None:
        """Add and save a connection (its token, if any, is the caller's: see ``save_connection``)."""
        self.check_connection(conn)
        self.connections.append(conn)
        self._write(self.store.put, conn.cleaned(), None)
        self.sig_connections_changed.emit()

    def update_connection(self, conn: Profile) -> None:
        """Save changed fields of a connection (same name; renaming goes through ``save_connection``)."""
        old = self.find(conn.id)
        self.check_connection(conn, old)
        self.connections = [conn if c.id == conn.id else c for c in self.connections]
        conn.session_only = old.session_only if old is not None else conn.session_only
        if not conn.session_only:
            self._write(self.store.put, conn.cleaned(), old.name if old else None)
        if self.current is not None and self.current.id == conn.id:
            self.current = conn
        cp = self._cps.pop(conn.id, None)
        if cp is not None:
            self.runner.run(self._close_cp(cp), label="Closing old connection")
        self.sig_connections_changed.emit()

    async def save_connection(self, conn: Profile, *, token: str | None = None,
                              original: Profile | None = None) -> Profile:
        """The dialog's save: keep ``token`` in the keyring under the profile's name (first, so a
        keyring that cannot take it changes nothing), then write the profile and wait for the disk.
        A renamed connection takes its saved token along."""
        from .. import credentials

        self.check_connection(conn, original)
        renamed = original is not None and original.name != conn.name
        conn.session_only = conn.has_token and credentials.session_store_active() and (
            original.session_only if original is not None else bool(token))
        if token:
            await credentials.astore_token(conn.name, token)
        elif renamed and original is not None and original.has_token and conn.has_token:
            old_token = await credentials.aget_token(original.name)
            if old_token is not None:
                await credentials.astore_token(conn.name, old_token)
        if not conn.session_only:
            await self._write_now(self.store.put, conn.cleaned(), original.name if original else None)
        if renamed and original is not None and original.has_token:
            with contextlib.suppress(Exception):  # the new entry is in place; a leftover is harmless
                await credentials.adelete_token(original.name)
        if original is None:
            self.connections.append(conn)
        else:
            self.connections = [conn if c.id == original.id else c for c in self.connections]
            if self.current is not None and self.current.id == original.id:
                self.current = conn
            cp = self._cps.pop(original.id, None)
            if cp is not None:
                await self._close_cp(cp)
        self.sig_connections_changed.emit()
        return conn

    async def remove_connection(self, conn: Profile) -> None:
        self.connections = [c for c in self.connections if c.id != conn.id]
        write = self._write(self.store.remove, conn.name) if not conn.session_only else asyncio.sleep(0)
        cp = self._cps.pop(conn.id, None)
        if cp is not None:
            await self._close_cp(cp)
        if conn.kind == "local" and conn.runtime_name in self.runtimes:
            await self.stop_runtime(conn.runtime_name)
        if conn.has_token:
            from .. import credentials

            with contextlib.suppress(credentials.KeyringUnavailable):
                await credentials.adelete_token(conn.name)
        if self.current is not None and self.current.id == conn.id:
            self.current, self.cp = None, None
            self.sig_current_changed.emit(None)
        self.sig_connections_changed.emit()
        await asyncio.gather(write, return_exceptions=True)

    async def control_plane_for(self, conn: Profile) -> ControlPlane:
        """The (cached) control plane of a connection; local runtimes are opened, not started."""
        cp = self._cps.get(conn.id)
        if cp is not None:
            return cp
        cp = await self._build(conn)
        if conn.id in self._cps:  # built twice at once: keep the first, drop ours
            await self._close_cp(cp)
            return self._cps[conn.id]
        self._cps[conn.id] = cp
        return cp

    async def _build(self, conn: Profile, token: Any = None) -> ControlPlane:
        """A control plane through ``controlplanes.open_profile`` (the CLI's way too). ``token``
        is a token typed but not saved yet (the dialog's Test)."""
        from ..controlplanes import open_profile

        if conn.kind not in KIND_LABELS:
            raise ValueError(f"unknown connection kind '{conn.kind}'")
        problem = conn.problem()
        if problem:
            raise ValueError(f"Connection “{conn.name}”: {problem}")
        profile = conn.cleaned()
        if conn.kind == "local":
            rt = self.runtimes.get(conn.runtime_name)
            if rt is not None:
                return await open_profile(profile, runtime=rt)
            cp = await open_profile(profile)
            self._own_stores[id(cp)] = cp.store  # type: ignore[attr-defined]
            return cp
        # no token typed: open_profile takes the saved one from the keyring, or says it is missing
        return await open_profile(profile, secret=token or None)

    async def build_control_plane(self, conn: Profile, token: Any = None) -> ControlPlane:
        """A fresh, uncached control plane (the add-connection dialog tests with it, then closes
        it with ``close_control_plane``)."""
        return await self._build(conn, token)

    async def close_control_plane(self, cp: ControlPlane) -> None:
        await self._close_cp(cp)

    async def _close_cp(self, cp: ControlPlane) -> None:
        """Close a control plane and, if this session opened its store, the store too. Closing a
        store is safe while a page's worker thread still reads from it (it waits, then refuses)."""
        try:
            await cp.close()
        finally:
            store = self._own_stores.pop(id(cp), None)
            if store is not None:
                await asyncio.to_thread(store.close)

    def group_of(self, conn: Profile | None) -> str:
        """The runtime group a connection shows, as the connection bar and status bar name it."""
        if conn is None:
            return "—"
        return (conn.control_plane or conn.name) if conn.kind == "konnect" else conn.name

    async def switch(self, conn: Profile) -> ControlPlane:
        try:
            cp = await self.control_plane_for(conn)
        except BaseException:
            # the pickers that offered ``conn`` go back to the connection still in use
            self.sig_connections_changed.emit()
            raise
        self.current, self.cp = conn, cp
        self.store.set_value("connections/current", conn.name)
        self.save_ui()
        self.sig_current_changed.emit(conn)
        return cp

    async def warm_up(self) -> None:
        """Import the remote backends (httpx, TLS) in a worker thread, so the first remote
        connection does not pause the window while Python loads them."""
        def imports() -> None:
            import httpx

            from ..controlplanes import kong_admin, konnect  # noqa: F401

            with httpx.Client() as client:  # builds the default TLS context once
                del client

        await asyncio.to_thread(imports)

    def use(self, conn: Profile, cp: ControlPlane) -> None:
        """Make an already open control plane current (scripts and tests bring their own; the
        connection is not saved)."""
        self._cps[conn.id] = cp
        if self.find(conn.id) is None:
            self.connections.append(conn)
            self.sig_connections_changed.emit()
        self.current, self.cp = conn, cp
        self.sig_current_changed.emit(conn)

    def last_connection(self) -> Profile | None:
        name = self.store.get_value("connections/current")
        return self.find(name) if isinstance(name, str) else None

    # -- local runtimes --------------------------------------------------------------------------
    def runtime_state(self, name: str) -> str:
        return self.manager.state(name)

    def runtime(self, name: str) -> Any:
        return self.manager.get(name)

    async def start_runtime(self, name: str, *, sample: bool = True) -> Any:
        """Start the local runtime group ``name`` (its store in the app's data folder). An empty
        store first gets the sample configuration, so a new user has something to call."""
        rt = self.manager.get(name)
        if rt is not None and self.runtime_state(name) in ("running", "starting"):
            return rt
        self.sig_runtime_state.emit(name, "starting")
        # close the store-backed control plane first: the runtime opens the file itself
        await self._drop_local(name)
        try:
            rt = await self.manager.start(name, sample=sample)
        except BaseException:
            self.sig_runtime_state.emit(name, "stopped")
            await self._reopen_local(name)
            raise
        await self._reopen_local(name)
        self.sig_runtime_state.emit(name, self.runtime_state(name))
        return rt

    async def stop_runtime(self, name: str) -> None:
        if self.manager.get(name) is None:
            return
        self.sig_runtime_state.emit(name, "stopping")
        try:
            await self.manager.stop(name)
        finally:
            await self._reopen_local(name)
            self.sig_runtime_state.emit(name, "stopped")

    def _local_conns(self, name: str) -> list[Profile]:
        return [c for c in self.connections if c.kind == "local" and c.runtime_name == name]

    async def _drop_local(self, name: str) -> None:
        for conn in self._local_conns(name):
            old = self._cps.pop(conn.id, None)
            if old is not None:
                # its store is closed too: a page's query still running finishes first, later
                # calls get a clear "closed" error, and the page reloads on sig_current_changed
                await self._close_cp(old)

    async def _reopen_local(self, name: str) -> None:
        """Swap the control plane of a local connection between runtime-backed and store-backed."""
        for conn in self._local_conns(name):
            old = self._cps.pop(conn.id, None)
            if old is not None:
                await self._close_cp(old)
            if self.current is not None and self.current.id == conn.id:
                self.cp = await self.control_plane_for(conn)
                self.sig_current_changed.emit(conn)

    def create_local_group(self, name: str) -> Profile:
        err = runtime_name_problem(name)
        if err:
            raise ValueError(err)
        conn = Profile(kind="local", name=name)
        self.add_connection(conn)
        return conn

    async def close(self) -> None:
        """Stop the runtimes, close every control plane and the stores this session opened, and
        wait for the settings to reach the disk."""
        for name in list(self.runtimes):
            try:
                await self.stop_runtime(name)
            except Exception:  # closing the window must not hang on one bad runtime
                log.exception("stopping runtime %s failed", name)
        for cp in list(self._cps.values()):
            try:
                await self._close_cp(cp)
            except Exception:
                log.exception("closing %s failed", cp)
        self._cps.clear()
        for store in list(self._own_stores.values()):  # built but never cached (a Test, say)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.close)
        self._own_stores.clear()
        self.current, self.cp = None, None
        await self.flush()

    # -- cached lists ------------------------------------------------------------------------------
    def _invalidate(self, table: str) -> None:
        self.cache.pop(table, None)

    async def ensure(self, table: str) -> list[dict[str, Any]]:
        """All entities of ``table`` for names and choices, loaded once per connection/change."""
        if table not in self.cache:
            cp = self._require_cp()
            rows = await cp.list_all(table)
            if self.cp is cp:
                self.cache[table] = rows
            return rows
        return self.cache[table]

    def name_of(self, table: str, ident: str) -> str | None:
        from ..model.entities import ENTITIES

        for e in self.cache.get(table, ()):
            if e.get("id") == ident:
                return ENTITIES[table].display_name(e) if table in ENTITIES else ident
        return None

    def choices(self, table: str) -> list[tuple[str, str]]:
        """(label, id) pairs from the cache, sorted by label (foreign-key and scope pickers)."""
        from ..model.entities import ENTITIES

        d = ENTITIES.get(table)
        rows = self.cache.get(table, [])
        out = [(d.display_name(e) if d else e.get("id", ""), e["id"]) for e in rows if e.get("id")]
        return sorted(out, key=lambda p: p[0].lower())

    # -- entity operations (the page's way to write; emits sig_data_changed) --------------------------
    def require_cp(self) -> ControlPlane:
        """The current control plane, or a sentence saying to pick a connection."""
        return self._require_cp()

    def _require_cp(self) -> ControlPlane:
        if self.cp is None:
            raise LookupError("No connection selected: pick one in the Runtime Manager.")
        return self.cp

    async def create(self, table: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = await self._require_cp().create(table, data, **kw)
        self.sig_data_changed.emit(table)
        return out

    async def update(self, table: str, ident: str, patch: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = await self._require_cp().update(table, ident, patch, **kw)
        self.sig_data_changed.emit(table)
        return out

    async def delete(self, table: str, ident: str, **kw: Any) -> None:
        await self._require_cp().delete(table, ident, **kw)
        self.sig_data_changed.emit(table)

    async def save(self, table: str, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """Create when ``existing`` is None, else PATCH it with ``data``."""
        if existing is None:
            return await self.create(table, data)
        return await self.update(table, existing["id"], data)
