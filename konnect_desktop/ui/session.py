"""The app's state that every page shares: connections, the current control plane, local runtimes.

Pages never build a control plane themselves; they ask the ``Session`` for the current one and
listen to its signals (connection switched, data changed, runtime state). All I/O is coroutines
run through the session's ``TaskRunner`` (or the page's own), awaited on the qasync loop.

Connections are kept as profiles without secrets; tokens live in the OS keyring
(``credentials``) under the profile's id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from .. import appdirs
from ..controlplanes.base import ControlPlane
from .tasks import TaskRunner

log = logging.getLogger(__name__)

KINDS = {"local": "Local runtime", "kong-admin": "Kong Gateway Admin API", "konnect": "Konnect"}
KONNECT_REGIONS = ("us", "eu", "au", "me", "in", "sg")  # kept in step with controlplanes.konnect
_RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class Connection:
    """A saved connection (never holds a secret): a local runtime group, a Kong Admin URL or a
    Konnect organisation's control plane in a region."""

    kind: str
    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    url: str | None = None  # kong-admin
    headers: dict[str, str] = field(default_factory=dict)  # kong-admin, non-secret headers
    verify_tls: bool = True
    region: str | None = None  # konnect
    control_plane: str | None = None  # konnect: id or name of the runtime group
    has_token: bool = False

    @property
    def label(self) -> str:
        if self.kind == "local":
            return f"Local · {self.name}"
        if self.kind == "konnect":
            return f"Konnect {self.region or ''} · {self.control_plane or self.name}"
        return f"Kong · {self.name}"

    @property
    def runtime_name(self) -> str:
        return self.name


def settings_path() -> str:
    return str(appdirs.config_dir() / "konnect-desktop.ini")


class ConnectionStore:
    """Saved connections and window state in the app's settings file (no secrets: tokens go to
    the keyring)."""

    def __init__(self, path: str | None = None) -> None:
        self._s = QSettings(path or settings_path(), QSettings.Format.IniFormat)

    def load(self) -> list[Connection]:
        raw = self._s.value("connections/list", "[]")
        try:
            items = json.loads(raw if isinstance(raw, str) else "[]")
        except ValueError:
            items = []
        out = []
        for it in items:
            try:
                out.append(Connection(**it))
            except TypeError:
                log.warning("skipping an unreadable saved connection")
        return out

    def save(self, conns: list[Connection]) -> None:
        self._s.setValue("connections/list", json.dumps([asdict(c) for c in conns]))
        self._s.sync()

    def get_value(self, key: str, default: Any = None) -> Any:
        return self._s.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._s.setValue(key, value)


def validate_runtime_name(name: str) -> str | None:
    if not _RUNTIME_NAME.match(name or ""):
        return "Use letters, digits, '.', '-' or '_' (up to 63 characters), starting with a letter or digit."
    return None


class Session(QObject):
    """Connections, the current one, and the local runtimes this window started."""

    sig_connections_changed = Signal()
    sig_current_changed = Signal(object)  # Connection | None
    sig_data_changed = Signal(str)  # table that changed through this app
    sig_runtime_state = Signal(str, str)  # runtime name, state
    sig_error = Signal(object)  # ErrorInfo

    def __init__(self, store: ConnectionStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store or ConnectionStore()
        self.connections: list[Connection] = self.store.load()
        self.current: Connection | None = None
        self.cp: ControlPlane | None = None
        self.runtimes: dict[str, Any] = {}  # name -> LocalRuntime
        self._cps: dict[str, ControlPlane] = {}
        self.runner = TaskRunner(self)
        self.runner.sig_error.connect(self.sig_error)
        # where new local runtimes listen; tests use port 0 (any free port)
        self.listen: tuple[str, str] = ("127.0.0.1:8000", "127.0.0.1:8001")
        # small tables every page needs for names and choices (services, routes, consumers, ...)
        self.cache: dict[str, list[dict[str, Any]]] = {}
        self.sig_data_changed.connect(self._invalidate)
        self.sig_current_changed.connect(lambda _c: self.cache.clear())
        if not any(c.kind == "local" for c in self.connections):
            self.connections.insert(0, Connection(kind="local", name="default", id="local-default"))
            self.store.save(self.connections)

    # -- connections ---------------------------------------------------------------------------
    def find(self, conn_id: str) -> Connection | None:
        return next((c for c in self.connections if c.id == conn_id), None)

    def add_connection(self, conn: Connection) -> None:
        self.connections.append(conn)
        self.store.save(self.connections)
        self.sig_connections_changed.emit()

    def update_connection(self, conn: Connection) -> None:
        self.connections = [conn if c.id == conn.id else c for c in self.connections]
        self.store.save(self.connections)
        old = self._cps.pop(conn.id, None)
        if old is not None:
            self.runner.run(old.close(), label="Closing old connection")
        self.sig_connections_changed.emit()

    async def remove_connection(self, conn: Connection) -> None:
        self.connections = [c for c in self.connections if c.id != conn.id]
        self.store.save(self.connections)
        cp = self._cps.pop(conn.id, None)
        if cp is not None:
            await cp.close()
        if conn.kind == "local" and conn.name in self.runtimes:
            await self.stop_runtime(conn.name)
        if conn.has_token:
            from .. import credentials

            await credentials.adelete_token(conn.id)
        if self.current is not None and self.current.id == conn.id:
            self.current, self.cp = None, None
            self.sig_current_changed.emit(None)
        self.sig_connections_changed.emit()

    async def control_plane_for(self, conn: Connection) -> ControlPlane:
        """The (cached) control plane of a connection; local runtimes are opened, not started."""
        cp = self._cps.get(conn.id)
        if cp is not None:
            return cp
        cp = await self._build(conn)
        self._cps[conn.id] = cp
        return cp

    async def _build(self, conn: Connection, token: Any = None) -> ControlPlane:
        if conn.kind == "local":
            from ..controlplanes.local import LocalControlPlane

            rt = self.runtimes.get(conn.name)
            if rt is not None:
                return LocalControlPlane(rt, name=conn.name)
            store = await _open_store(conn.name)
            return LocalControlPlane(store=store, name=conn.name)
        if conn.kind == "kong-admin":
            if token is None and conn.has_token:
                from .. import credentials

                token = await credentials.aget_token(conn.id)

            def make_kong() -> ControlPlane:
                # importing httpx and loading the CA bundle take ~100s of ms: not on the UI thread
                from ..controlplanes.kong_admin import KongAdminControlPlane

                return KongAdminControlPlane(conn.url or "", dict(conn.headers), name=conn.name,
                                             admin_token=token, verify=conn.verify_tls)

            return await asyncio.to_thread(make_kong)
        if conn.kind == "konnect":
            from .. import credentials

            if token is None:
                token = await credentials.aget_token(conn.id)
            if token is None:
                raise LookupError(f"No Konnect token saved for “{conn.name}”: edit the connection to add one.")

            def make_konnect() -> ControlPlane:
                from ..controlplanes.konnect import KonnectControlPlane

                return KonnectControlPlane(conn.region or "us", token, conn.control_plane)

            return await asyncio.to_thread(make_konnect)
        raise ValueError(f"unknown connection kind '{conn.kind}'")

    async def build_control_plane(self, conn: Connection, token: Any = None) -> ControlPlane:
        """A fresh, uncached control plane (the add-connection dialog tests with it, then closes it)."""
        return await self._build(conn, token)

    async def switch(self, conn: Connection) -> ControlPlane:
        cp = await self.control_plane_for(conn)
        self.current, self.cp = conn, cp
        self.store.set_value("connections/current", conn.id)
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

    def use(self, conn: Connection, cp: ControlPlane) -> None:
        """Make an already open control plane current (scripts and tests bring their own)."""
        self._cps[conn.id] = cp
        if self.find(conn.id) is None:
            self.connections.append(conn)
            self.sig_connections_changed.emit()
        self.current, self.cp = conn, cp
        self.sig_current_changed.emit(conn)

    def last_connection(self) -> Connection | None:
        cid = self.store.get_value("connections/current")
        return self.find(cid) if isinstance(cid, str) else None

    # -- local runtimes --------------------------------------------------------------------------
    def runtime_state(self, name: str) -> str:
        rt = self.runtimes.get(name)
        if rt is None:
            return "stopped"
        st = getattr(rt, "state", "stopped")
        return str(getattr(st, "value", st)).lower()

    def runtime(self, name: str) -> Any:
        return self.runtimes.get(name)

    async def start_runtime(self, name: str, *, sample: bool = True) -> Any:
        """Start the local runtime group ``name`` (its store in the app's data folder). An empty
        store first gets the sample configuration, so a new user has something to call."""
        from ..runtime.runtime import LocalRuntime

        rt = self.runtimes.get(name)
        if rt is not None and self.runtime_state(name) in ("running", "starting"):
            return rt
        self.sig_runtime_state.emit(name, "starting")
        # close the store-backed control plane first: the runtime opens the file itself
        await self._drop_local(name)
        try:
            rt = await _start_runtime(LocalRuntime, name, self.listen, sample=sample)
        except BaseException:
            self.runtimes.pop(name, None)
            self.sig_runtime_state.emit(name, "stopped")
            await self._reopen_local(name)
            raise
        self.runtimes[name] = rt
        await self._reopen_local(name)
        self.sig_runtime_state.emit(name, self.runtime_state(name))
        return rt

    async def stop_runtime(self, name: str) -> None:
        rt = self.runtimes.get(name)
        if rt is None:
            return
        self.sig_runtime_state.emit(name, "stopping")
        try:
            await rt.stop()
        finally:
            self.runtimes.pop(name, None)
            await self._reopen_local(name)
            self.sig_runtime_state.emit(name, "stopped")

    async def _drop_local(self, name: str) -> None:
        for conn in self.connections:
            if conn.kind == "local" and conn.name == name:
                old = self._cps.pop(conn.id, None)
                if old is not None:
                    # the store-backed control plane stops taking calls; its SQLite connection is
                    # left to the garbage collector: closing it here could race a query that a
                    # page's worker thread is still running (WAL lets both files stay open)
                    await old.close()

    async def _reopen_local(self, name: str) -> None:
        """Swap the control plane of a local connection between runtime-backed and store-backed."""
        for conn in self.connections:
            if conn.kind == "local" and conn.name == name:
                old = self._cps.pop(conn.id, None)
                if old is not None:
                    await old.close()
                if self.current is not None and self.current.id == conn.id:
                    self.cp = await self.control_plane_for(conn)
                    self.sig_current_changed.emit(conn)

    def create_local_group(self, name: str) -> Connection:
        err = validate_runtime_name(name)
        if err:
            raise ValueError(err)
        if any(c.kind == "local" and c.name == name for c in self.connections):
            raise ValueError(f"A local runtime group named “{name}” already exists.")
        conn = Connection(kind="local", name=name)
        self.add_connection(conn)
        return conn

    async def close(self) -> None:
        for name in list(self.runtimes):
            try:
                await self.stop_runtime(name)
            except Exception:  # closing the window must not hang on one bad runtime
                log.exception("stopping runtime %s failed", name)
        for cp in list(self._cps.values()):
            try:
                await cp.close()
            except Exception:
                log.exception("closing %s failed", cp)
        self._cps.clear()

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


async def _open_store(name: str) -> Any:
    from ..runtime.store import Store

    return await asyncio.to_thread(Store, appdirs.runtime_db_path(name))


async def _start_runtime(cls: Any, name: str, listen: tuple[str, str], *, sample: bool) -> Any:
    from ..runtime.store import Store

    db = appdirs.runtime_db_path(name)
    store = await asyncio.to_thread(Store, db)
    try:
        if sample:
            await asyncio.to_thread(_load_sample_if_empty, store)
    except BaseException:
        await asyncio.to_thread(store.close)
        raise
    for proxy_listen, admin_listen in (listen, ("127.0.0.1:0", "127.0.0.1:0")):
        rt = cls(name, db, proxy_listen=proxy_listen, admin_listen=admin_listen)
        rt.store = store
        try:
            await rt.start()
            return rt
        except OSError:
            if listen[0].endswith(":0") or proxy_listen.endswith(":0"):
                raise
            # the usual ports are taken (another gateway?): any free port will do
            log.info("ports %s/%s busy, using free ports", proxy_listen, admin_listen)
            store = await asyncio.to_thread(Store, db)
    raise RuntimeError("unreachable")


def _load_sample_if_empty(store: Any) -> None:
    from ..model import declarative
    from ..runtime.gateway_cli import sample_config_path

    if any(store.count(t) for t in ("services", "routes", "plugins", "consumers", "upstreams")):
        return
    path = sample_config_path()
    if not path.exists():
        return
    try:
        store.replace_all(declarative.load(path))
    except Exception as exc:  # a sample the bundled plugins cannot take: start empty, say why
        log.warning("sample configuration not loaded: %s", exc)
