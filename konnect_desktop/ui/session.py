"""The app's state that every page shares: connections, the current control plane, local runtimes.

Pages never build a control plane themselves; they ask the ``Session`` for the current one and
listen to its signals (connection switched, data changed, runtime state). All I/O is coroutines
run through the session's ``TaskRunner`` (or the page's own), awaited on the qasync loop.

Saved connections are the app's one profile store, ``settings.Settings`` (the file the CLI reads:
a connection saved here is a valid ``--from``/``--to`` there), and they are opened with
``controlplanes.open_profile``. Profiles hold no secret: tokens live in the OS keyring
(``credentials``) under the profile's name. Window state goes to the same file (``Settings.ui``).
Writes run on one worker thread, in order, so the window never waits on the disk. Connections
kept by older versions in ``konnect-desktop.ini`` are copied over once (tokens moved to the
profile names in the keyring); the INI is never written again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from .. import appdirs
from ..controlplanes.base import ControlPlane
from ..settings import REGIONS, SECRET_HEADERS, Profile, Settings, SettingsError
from .tasks import TaskRunner

log = logging.getLogger(__name__)

KINDS = {"local": "Local runtime", "kong-admin": "Kong Gateway Admin API", "konnect": "Konnect"}
KONNECT_REGIONS = REGIONS
LEGACY_INI = "konnect-desktop.ini"
_RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_KIND_AUTH = {"konnect": "konnect-token"}


@dataclass
class Connection:
    """A saved connection as the GUI shows it: a ``settings.Profile`` plus a session-stable id.

    ``id`` is the profile's name when the connection was loaded or created, and stays the same
    for the rest of the session if the connection is renamed (pickers keep their selection).
    Never holds a secret: ``auth`` says which kind of token the keyring keeps for it.
    """

    kind: str
    name: str
    id: str = ""
    url: str | None = None  # kong-admin
    headers: dict[str, str] = field(default_factory=dict)  # non-secret headers
    verify_tls: bool = True
    region: str | None = None  # konnect
    control_plane: str | None = None  # konnect: id or name of the runtime group
    auth: str = ""  # "" = the kind's default: konnect-token for Konnect, none otherwise
    runtime: str | None = None  # local: runtime name when it differs from the connection's
    basic_user: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    timeout: float = 30.0
    base_url: str | None = None  # konnect: regional URL override
    # its token lives only in this process's memory (no usable keyring): never written to the
    # settings file, so it is not listed after a restart without the token it needs
    session_only: bool = False

    def __post_init__(self) -> None:
        self.id = self.id or self.name
        self.auth = self.auth or _KIND_AUTH.get(self.kind, "none")

    @property
    def has_token(self) -> bool:
        """Whether the keyring (or this session's store) is expected to hold a token for it."""
        return self.auth != "none"

    @property
    def label(self) -> str:
        if self.kind == "local":
            return f"Local · {self.name}"
        if self.kind == "konnect":
            return f"Konnect {self.region or ''} · {self.control_plane or self.name}"
        return f"Kong · {self.name}"

    @property
    def runtime_name(self) -> str:
        return self.runtime or self.name

    def to_profile(self) -> Profile:
        remote = self.kind != "local"
        return Profile(
            name=self.name, kind=self.kind,
            url=self.url if self.kind == "kong-admin" else None,
            region=self.region if self.kind == "konnect" else None,
            control_plane=self.control_plane if self.kind == "konnect" else None,
            runtime=self.runtime if self.kind == "local" else None,
            auth=self.auth, basic_user=self.basic_user if self.auth == "basic" else None,
            verify_tls=self.verify_tls, ca_file=self.ca_file if remote else None,
            client_cert=self.client_cert if remote else None,
            headers=dict(self.headers) if remote else {}, timeout=self.timeout,
            base_url=self.base_url if self.kind == "konnect" else None,
        )

    @classmethod
    def from_profile(cls, p: Profile) -> Connection:
        return cls(kind=p.kind, name=p.name, id=p.name, url=p.url, headers=dict(p.headers),
                   verify_tls=p.verify_tls, region=p.region, control_plane=p.control_plane, auth=p.auth,
                   runtime=p.runtime, basic_user=p.basic_user, ca_file=p.ca_file, client_cert=p.client_cert,
                   timeout=p.timeout, base_url=p.base_url)


def profile_problem(conn: Connection) -> str | None:
    """The first thing wrong with ``conn`` as a saved profile, in words, or None."""
    problems = conn.to_profile().problems()
    if not problems:
        return None
    fname, why = next(iter(problems.items()))
    return f"{fname.replace('_', ' ')}: {why}"


class ConnectionStore:
    """The GUI's view of ``settings.Settings``: profiles and window state, in the one settings file.

    Every change re-reads the file and writes it back atomically (``Settings.save``), so profiles
    the CLI or another window added meanwhile are kept. A file that cannot be read is never
    written over: ``problem`` says why, and every change raises ``SettingsError`` until it is
    fixed. Methods that touch the disk are called from the session's writer thread.
    """

    def __init__(self, path: str | Path | None = None, *, legacy_ini: str | Path | None = None) -> None:
        p = Path(path) if path is not None else Settings.default_path()
        if p.suffix == ".ini":  # older callers named the INI file: keep the settings beside it
            legacy_ini = legacy_ini or p
            p = p.with_suffix(".json")
        if legacy_ini is None and path is None:
            legacy_ini = appdirs.config_dir() / LEGACY_INI
        self.path = p
        self.legacy_ini = Path(legacy_ini) if legacy_ini is not None else None
        self.problem: str | None = None
        self._lock = threading.Lock()  # one change of the file at a time (writer thread)
        # guards the window settings in memory (``settings.ui`` and what is not written yet),
        # which the UI thread sets while the writer thread may be mid-change; held for dict
        # operations only, so the UI thread never waits for the disk
        self._mem = threading.Lock()
        self._ui_dirty: dict[str, Any] = {}
        try:
            self.settings = Settings.load(p)
        except SettingsError as exc:
            self.problem = str(exc)
            self.settings = Settings(path=p)
        else:
            try:
                self._migrate_ini()
            except Exception as exc:  # an old file we cannot take over must not stop the app
                log.warning("connections in %s were not copied over: %s", self.legacy_ini, exc)

    # -- reading (memory) ------------------------------------------------------------------------
    def profiles(self) -> list[Profile]:
        return [self.settings.profiles[n] for n in sorted(self.settings.profiles)]

    def get_value(self, key: str, default: Any = None) -> Any:
        return self.settings.ui.get(key, default)

    def token_moves(self) -> dict[str, str]:
        """Profile name → the keyring entry an older version kept its token under."""
        moves = self.settings.ui.get("ini_token_moves")
        return dict(moves) if isinstance(moves, dict) else {}

    # -- writing (disk; called on the writer thread) ---------------------------------------------
    def _change(self, fn: Callable[[Settings], None]) -> None:
        with self._lock:
            if self.problem is not None:
                raise SettingsError(self.problem)
            fresh = Settings.load(self.path)
            fn(fresh)
            with self._mem:
                written = dict(self._ui_dirty)
            fresh.ui.update(written)
            fresh.save()
            with self._mem:
                # a value set while the file was written stays pending and stays visible
                for key, value in written.items():
                    if key in self._ui_dirty and self._ui_dirty[key] is value:
                        del self._ui_dirty[key]
                fresh.ui.update(self._ui_dirty)
                self.settings = fresh

    def put(self, profile: Profile, old_name: str | None = None) -> None:
        """Save ``profile`` (replacing ``old_name`` when it was renamed)."""

        def change(s: Settings) -> None:
            if old_name and old_name != profile.name:
                s.profiles.pop(old_name, None)
            if profile.name in s.profiles and old_name != profile.name and profile.name not in self.settings.profiles:
                raise SettingsError(f"a profile named {profile.name!r} was saved meanwhile (by the CLI or another window)")
            s.add_profile(profile, replace=True)

        self._change(change)

    def remove(self, name: str) -> None:
        def change(s: Settings) -> None:
            s.profiles.pop(name, None)

        self._change(change)

    def set_value(self, key: str, value: Any) -> None:
        """Remember a window setting (JSON-able); written by the next ``sync()`` or change."""
        with self._mem:
            self.settings.ui[key] = value
            self._ui_dirty[key] = value

    def sync(self) -> None:
        if self._ui_dirty:
            self._change(lambda s: None)

    def forget_token_move(self, name: str) -> None:
        def change(s: Settings) -> None:
            moves = s.ui.get("ini_token_moves")
            if isinstance(moves, dict):
                moves.pop(name, None)
                if not moves:
                    s.ui.pop("ini_token_moves", None)
        with self._mem:
            self._ui_dirty.pop("ini_token_moves", None)
        self._change(change)

    # -- the INI of older versions ---------------------------------------------------------------
    def _migrate_ini(self) -> None:
        """Copy the connections an older version kept in its INI file, once."""
        ini = self.legacy_ini
        if ini is None or not ini.exists() or self.settings.ui.get("ini_migrated"):
            return
        qs = QSettings(str(ini), QSettings.Format.IniFormat)
        raw = qs.value("connections/list", "[]")
        try:
            items = json.loads(raw if isinstance(raw, str) else "[]")
        except ValueError:
            items = []
        s = self.settings
        ids: dict[str, str] = {}
        moves: dict[str, str] = {}
        for it in items if isinstance(items, list) else []:
            if not isinstance(it, dict) or it.get("kind") not in KINDS or not isinstance(it.get("name"), str):
                log.warning("skipping an unreadable connection in %s", ini)
                continue
            kind, name = it["kind"], it["name"].strip()
            headers = it.get("headers") if isinstance(it.get("headers"), dict) else {}
            dropped = sorted(k for k in headers if str(k).lower() in SECRET_HEADERS)
            if dropped:  # a secret has no place in the settings file: enter it as the token again
                log.warning("connection %r: header(s) %s not copied (secrets go to the keyring)", name, ", ".join(dropped))
            had_token = bool(it.get("has_token")) or kind == "konnect"
            conn = Connection(
                kind=kind, name=name, url=(it.get("url") or "").rstrip("/") or None,
                headers={str(k): str(v) for k, v in headers.items() if k not in dropped},
                verify_tls=bool(it.get("verify_tls", True)), region=it.get("region"),
                control_plane=it.get("control_plane"),
                auth=("admin-token" if kind == "kong-admin" else "") if had_token else "",
            )
            existing = s.profiles.get(name)
            if existing is not None:
                if existing.kind == kind and (existing.url, existing.region) == (conn.url, conn.region):
                    ids[str(it.get("id"))] = name  # the same connection, already here
                    continue
                conn.name = conn.id = f"{name} ({kind})"
                if conn.name in s.profiles:
                    continue
            problem = profile_problem(conn)
            if problem:
                log.warning("connection %r not copied from %s: %s", name, ini, problem)
                continue
            s.profiles[conn.name] = conn.to_profile()
            ids[str(it.get("id"))] = conn.name
            if had_token and it.get("id"):
                moves[conn.name] = str(it["id"])
        current = qs.value("connections/current")
        if isinstance(current, str) and current in ids and "connections/current" not in s.ui:
            s.ui["connections/current"] = ids[current]
        page = qs.value("window/page")
        if isinstance(page, str) and "window/page" not in s.ui:
            s.ui["window/page"] = page
        s.ui["ini_migrated"] = True
        if moves:
            s.ui["ini_token_moves"] = {**self.token_moves(), **moves}
        s.save()
        log.info("copied %d connection(s) from %s into %s", len(ids), ini, s.path)


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
    # a page asks the window to show another page and act on it: (page id, callable(page))
    sig_open_page = Signal(str, object)
    sig_preferences = Signal(object)  # dict: the Preferences were saved (``preferences.py``)

    def __init__(self, store: ConnectionStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store or ConnectionStore()
        self.connections: list[Connection] = [Connection.from_profile(p) for p in self.store.profiles()]
        self.connections.sort(key=lambda c: (c.kind != "local", c.name.lower()))
        self.current: Connection | None = None
        self.cp: ControlPlane | None = None
        self.runtimes: dict[str, Any] = {}  # runtime name -> LocalRuntime
        self._cps: dict[str, ControlPlane] = {}
        # stores this session opened for local groups that are not running (it closes them)
        self._own_stores: dict[int, Any] = {}
        self.runner = TaskRunner(self)
        self.runner.sig_error.connect(self.sig_error)
        # settings writes: one thread, in order, off the UI thread
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="settings-writer")
        self._writes: set[asyncio.Future[Any]] = set()
        # where new local runtimes listen; tests use port 0 (any free port)
        self.listen: tuple[str, str] = ("127.0.0.1:8000", "127.0.0.1:8001")
        self.preferences: dict[str, Any] = {}  # set by ``preferences.apply``
        # small tables every page needs for names and choices (services, routes, consumers, ...)
        self.cache: dict[str, list[dict[str, Any]]] = {}
        self.sig_data_changed.connect(self._invalidate)
        self.sig_current_changed.connect(lambda _c: self.cache.clear())
        if self.store.problem is None and not any(c.kind == "local" for c in self.connections):
            taken = {c.name for c in self.connections}
            name = next(n for n in ("default", "local", "local-default") if n not in taken)
            self.add_connection(Connection(kind="local", name=name))
        if self.store.problem is not None:
            QTimer.singleShot(0, self._report_settings_problem)
        if self.store.token_moves():
            self.runner.run(self._move_old_tokens(), label="Moving saved tokens", key="token-moves")

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

    async def _move_old_tokens(self) -> None:
        """Tokens an older version kept under a connection id move to the profile's name."""
        from .. import credentials

        for name, old_key in self.store.token_moves().items():
            try:
                token = await credentials.aget_token(old_key)
                if token is not None:
                    await credentials.astore_token(name, token)
                    await credentials.adelete_token(old_key)
            except credentials.KeyringUnavailable as exc:  # try again next start
                log.warning("token of %r not moved yet: %s", name, exc)
                return
            await self._write_now(self.store.forget_token_move, name)

    # -- connections ---------------------------------------------------------------------------
    def find(self, conn_id: str) -> Connection | None:
        return next((c for c in self.connections if c.id == conn_id), None) or \
            next((c for c in self.connections if c.name == conn_id), None)

    def check_connection(self, conn: Connection, replacing: Connection | None = None) -> None:
        problem = profile_problem(conn)
        if problem:
            raise ValueError(problem)
        for c in self.connections:
            if c.name == conn.name and (replacing is None or c.id != replacing.id):
                if c.kind == "local" and conn.kind == "local":
                    raise ValueError(f"A local runtime group named “{conn.name}” already exists.")
                raise ValueError(f"A connection named “{conn.name}” already exists.")

    def add_connection(self, conn: Connection) -> None:
        """Add and save a connection (its token, if any, is the caller's: see ``save_connection``)."""
        self.check_connection(conn)
        self.connections.append(conn)
        self._write(self.store.put, conn.to_profile(), None)
        self.sig_connections_changed.emit()

    def update_connection(self, conn: Connection) -> None:
        """Save changed fields of a connection (same name; renaming goes through ``save_connection``)."""
        old = self.find(conn.id)
        self.check_connection(conn, old)
        self.connections = [conn if c.id == conn.id else c for c in self.connections]
        conn.session_only = old.session_only if old is not None else conn.session_only
        if not conn.session_only:
            self._write(self.store.put, conn.to_profile(), old.name if old else None)
        if self.current is not None and self.current.id == conn.id:
            self.current = conn
        cp = self._cps.pop(conn.id, None)
        if cp is not None:
            self.runner.run(self._close_cp(cp), label="Closing old connection")
        self.sig_connections_changed.emit()

    async def save_connection(self, conn: Connection, *, token: str | None = None,
                              original: Connection | None = None) -> Connection:
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
            await self._write_now(self.store.put, conn.to_profile(), original.name if original else None)
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

    async def remove_connection(self, conn: Connection) -> None:
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

    async def control_plane_for(self, conn: Connection) -> ControlPlane:
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

    async def _build(self, conn: Connection, token: Any = None) -> ControlPlane:
        """A control plane through ``controlplanes.open_profile`` (the CLI's way too). ``token``
        is a token typed but not saved yet (the dialog's Test)."""
        from ..controlplanes import open_profile

        if conn.kind not in KINDS:
            raise ValueError(f"unknown connection kind '{conn.kind}'")
        problem = profile_problem(conn)
        if problem:
            raise ValueError(f"Connection “{conn.name}”: {problem}")
        profile = conn.to_profile()
        if conn.kind == "local":
            rt = self.runtimes.get(conn.runtime_name)
            if rt is not None:
                return await open_profile(profile, runtime=rt)
            cp = await open_profile(profile)
            self._own_stores[id(cp)] = cp.store  # type: ignore[attr-defined]
            return cp
        # no token typed: open_profile takes the saved one from the keyring, or says it is missing
        return await open_profile(profile, secret=token or None)

    async def build_control_plane(self, conn: Connection, token: Any = None) -> ControlPlane:
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

    def group_of(self, conn: Connection | None) -> str:
        """The runtime group a connection shows, as the connection bar and status bar name it."""
        if conn is None:
            return "—"
        return (conn.control_plane or conn.name) if conn.kind == "konnect" else conn.name

    async def switch(self, conn: Connection) -> ControlPlane:
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

    def use(self, conn: Connection, cp: ControlPlane) -> None:
        """Make an already open control plane current (scripts and tests bring their own; the
        connection is not saved)."""
        self._cps[conn.id] = cp
        if self.find(conn.id) is None:
            self.connections.append(conn)
            self.sig_connections_changed.emit()
        self.current, self.cp = conn, cp
        self.sig_current_changed.emit(conn)

    def last_connection(self) -> Connection | None:
        name = self.store.get_value("connections/current")
        return self.find(name) if isinstance(name, str) else None

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

    def _local_conns(self, name: str) -> list[Connection]:
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

    def create_local_group(self, name: str) -> Connection:
        err = validate_runtime_name(name)
        if err:
            raise ValueError(err)
        conn = Connection(kind="local", name=name)
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
