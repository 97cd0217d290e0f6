"""The embedded store of a local runtime: Kong's entities in one SQLite file.

Everything the local gateway knows (services, routes, plugins, consumers, credentials, ...) lives
here; the Admin API, the data plane, decK import and the replication engine all go through this
one class. Entities go in and come out as dicts in Kong's Admin API shape (see ``model``), and the
store answers problems with Kong's error codes and words (``model.errors``).

Layout on disk: one SQL table per entity kind (``e_<table>``) holding the entity JSON plus the
columns SQLite needs to enforce what Kong enforces -- unique fields, composite cache keys and
foreign keys (``ON DELETE CASCADE`` / ``RESTRICT`` from ``EntityDef``) -- and a tags side table per
kind for the ``tags`` filter. The JSON body is the source of truth: the other columns are derived
from it, so a schema change rebuilds them (``_migrate``). ``seq`` (autoincrement) gives every row
a stable place, which is what pagination walks.

Concurrency: one write connection guarded by a re-entrant lock (SQLite allows one writer anyway),
plus one read-only connection per reading thread, so readers (GUI, Admin API, data plane rebuilds)
never wait behind a long import (WAL). Callers on an event loop use ``asyncio.to_thread`` or
``store.aio``. Every committed change bumps ``version`` (a counter row, so another process writing
the same file is noticed by ``poll_external_changes``) and then calls the subscribers, outside the
transaction and the lock.

Closing: ``close()`` is safe while other threads are inside the store. It stops new operations
first (they raise ``StoreClosed``), waits for the running transaction and for reads in flight
(interrupting reads still running after ``grace`` seconds), and only then closes the SQLite
connections: closing a connection under a running statement crashes the interpreter.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Concatenate, Generic, ParamSpec, TypeVar

from .. import appdirs
from ..jsontypes import JSONArray, JSONObject, JSONValue
from ..model import DEPENDENCY_ORDER, ENTITIES, check_entity
from ..model.errors import (
    DECLARATIVE_CONFIG,
    KongError,
    NotFound,
    foreign_key_invalid,
    foreign_key_restricted,
    foreign_keys_unresolved,
    invalid_offset,
    invalid_size,
    lua_pretty,
    schema_violation,
    unique_violation,
)
from ..model.schema import Schema, foreign_id, is_uuid

log = logging.getLogger(__name__)

PRIMARY_KEY_VIOLATION = 3
DATABASE_ERROR = 8
MAX_PAGE_SIZE = 1000
MASK = "******"  # what a secret value looks like in an error message

Entity = JSONObject
Config = dict[str, list[Entity]]
Subscriber = Callable[[int], object]  # its return value is not used


# -- table layout ---------------------------------------------------------------------------------
@dataclass
class _Table:
    """How one entity kind is laid out in SQL, derived from its ``EntityDef``."""

    name: str  # Kong's table name: "services"
    sql: str  # SQL table: "e_services"
    tags_sql: str  # tags side table: "e_services_tags"
    unique: tuple[str, ...]  # single-field unique constraints -> column u_<field>
    fks: tuple[tuple[str, str, str], ...]  # (field, parent table, "cascade" | "restrict")
    cache_key: tuple[str, ...]  # composite uniqueness -> column ckey
    endpoint_key: str | None
    ek_column: str | None  # column used to look the endpoint key up
    has_tags: bool
    has_updated_at: bool
    has_created_at: bool
    secret_fields: frozenset[str]
    runtime: bool = False  # EntityDef.runtime_data: writes leave the configuration version alone
    columns: tuple[str, ...] = ()  # insert column order
    children: list[tuple[str, str, str]] = field(default_factory=list)  # (child table, fk field, on_delete)

    @property
    def insert_sql(self) -> str:
        cols = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.sql} ({cols}) VALUES ({marks})"

    @property
    def update_sql(self) -> str:
        sets = ", ".join(f"{c} = ?" for c in self.columns[1:])
        return f"UPDATE {self.sql} SET {sets} WHERE id = ?"

    def row(self, entity: Entity) -> tuple[JSONValue, ...]:
        """The column values of an entity (in ``columns`` order)."""
        vals: JSONArray = [entity["id"], _dumps(entity)]
        for f in self.unique:
            vals.append(_scalar(entity.get(f)))
        for f, _parent, _od in self.fks:
            vals.append(foreign_id(entity.get(f)))
        if self.cache_key:
            vals.append(self.ckey(entity))
        if self.ek_column == "ek":
            vals.append(_scalar(entity.get(self.endpoint_key or "")))
        return tuple(vals)

    def ckey(self, entity: Entity) -> str:
        return _dumps([foreign_id(entity.get(f)) if isinstance(entity.get(f), dict) else entity.get(f)
                       for f in self.cache_key])

    def ckey_fields(self, entity: Entity) -> JSONObject:
        """The composite key in the shape of Kong's unique-violation ``fields``."""
        out: JSONObject = {}
        for f in self.cache_key:
            v = entity.get(f)
            out[f] = {"id": v["id"]} if isinstance(v, dict) and "id" in v else v
        return out


def _dumps(v: JSONValue) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _scalar(v: JSONValue) -> str | int | float | None:
    if v is None or isinstance(v, (str, int, float)):
        return v
    return _dumps(v)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _build_layout() -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    for name, edef in ENTITIES.items():
        schema = edef.schema
        fks = tuple(
            (fname, f.reference or "", "cascade" if f.on_delete == "cascade" else "restrict")
            for fname, f in schema.fields
            if f.type == "foreign"
        )
        unique = tuple(edef.unique)
        ek = edef.endpoint_key
        ek_column = None
        if ek:
            ek_column = f"u_{ek}" if ek in unique else "ek"
        t = _Table(
            name=name,
            sql=f"e_{name}",
            tags_sql=f"e_{name}_tags",
            unique=unique,
            fks=fks,
            cache_key=tuple(edef.cache_key),
            endpoint_key=ek,
            ek_column=ek_column,
            has_tags=schema.get("tags") is not None,
            has_updated_at=schema.get("updated_at") is not None,
            has_created_at=schema.get("created_at") is not None,
            secret_fields=frozenset(n for n, f in schema.fields if f.secret),
            runtime=edef.runtime_data,
        )
        cols = ["id", "body", *(f"u_{f}" for f in unique), *(f"f_{f}" for f, _, _ in fks)]
        if t.cache_key:
            cols.append("ckey")
        if ek_column == "ek":
            cols.append("ek")
        t.columns = tuple(cols)
        tables[name] = t
    for t in tables.values():
        for fname, parent, od in t.fks:
            if parent in tables:
                tables[parent].children.append((t.name, fname, od))
    return tables


def _ddl(tables: Mapping[str, _Table]) -> list[str]:
    """The CREATE statements for every table, in a stable order (their hash versions the layout)."""
    out: list[str] = []
    for t in tables.values():
        cols = [
            "seq INTEGER PRIMARY KEY AUTOINCREMENT",
            "id TEXT NOT NULL UNIQUE",
            "body TEXT NOT NULL",
        ]
        cols += [f"u_{f} UNIQUE" for f in t.unique]
        for f, parent, od in t.fks:
            action = "CASCADE" if od == "cascade" else "RESTRICT"
            cols.append(f"f_{f} TEXT REFERENCES e_{parent}(id) ON DELETE {action}")
        if t.cache_key:
            cols.append("ckey TEXT NOT NULL UNIQUE")
        if t.ek_column == "ek":
            cols.append("ek")
        out.append(f"CREATE TABLE {t.sql} (\n  " + ",\n  ".join(cols) + "\n)")
        for f, _parent, _od in t.fks:
            # Cascades, restrict checks and nested listings (/services/{id}/routes) all look here.
            out.append(f"CREATE INDEX {t.sql}_f_{f} ON {t.sql}(f_{f}, seq)")
        if t.ek_column == "ek":
            out.append(f"CREATE INDEX {t.sql}_ek ON {t.sql}(ek)")
        if t.has_tags:
            out.append(
                f"CREATE TABLE {t.tags_sql} (tag TEXT NOT NULL, "
                f"eid TEXT NOT NULL REFERENCES {t.sql}(id) ON DELETE CASCADE, "
                "PRIMARY KEY (tag, eid)) WITHOUT ROWID"
            )
            out.append(f"CREATE INDEX {t.tags_sql}_eid ON {t.tags_sql}(eid)")
    return out


LAYOUT = _build_layout()
# Parents first; a kind missing from DEPENDENCY_ORDER still gets stored and cleared (and exported,
# unless it is runtime data: oauth2 tokens and codes).
ORDER: tuple[str, ...] = (*DEPENDENCY_ORDER, *(t for t in LAYOUT if t not in DEPENDENCY_ORDER))
_DDL = _ddl(LAYOUT)
LAYOUT_FINGERPRINT = hashlib.sha256("\n;\n".join(_DDL).encode()).hexdigest()[:16]


# -- offsets --------------------------------------------------------------------------------------
def encode_offset(seq: int) -> str:
    """An opaque page token (base64 of a JSON array, like Kong's)."""
    return base64.b64encode(_dumps([seq]).encode()).decode().rstrip("=")


def decode_offset(token: str) -> int:
    if not isinstance(token, str) or not token:
        raise invalid_offset(str(token), "bad base64 encoding")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_offset(token, "bad base64 encoding") from None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_offset(token, "bad json encoding") from None
    if not (isinstance(value, list) and len(value) == 1 and type(value[0]) is int and value[0] >= 0):
        raise invalid_offset(token, "bad json encoding")
    return value[0]


# -- errors ---------------------------------------------------------------------------------------
def primary_key_violation(key: JSONObject) -> KongError:
    return KongError(PRIMARY_KEY_VIOLATION, f"primary key violation on key '{lua_pretty(key)}'", key)


def database_error(exc: BaseException) -> KongError:
    return KongError(DATABASE_ERROR, f"database error: {exc}")


class StoreClosed(KongError):
    """The store was closed (or is closing): nothing more can be read or written through it."""

    def __init__(self, path: Path | str | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(DATABASE_ERROR, f"database error: the store is closed{where}")


def declarative_error(fields: JSONObject) -> KongError:
    return KongError(DECLARATIVE_CONFIG, f"declarative config is invalid: {lua_pretty(fields)}", fields)


def _now() -> int:
    return int(time.time())


def _schema_for(table: str, entity: Mapping[str, JSONValue]) -> Schema:
    if table == "plugins":
        from ..plugins import entity_schema

        name = entity.get("name")
        return entity_schema(name if isinstance(name, str) else None)
    return ENTITIES[table].schema


# -- the store ------------------------------------------------------------------------------------
class Store:
    """Kong's entities in one SQLite file. Synchronous and thread-safe; see the module docstring."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock  # measures close()'s grace (a test holds its own)
        # the file (and so its WAL, which holds key-auth keys) is private: 0600 in a 0700 folder
        appdirs.private_file(self.path, companions=appdirs.SQLITE_COMPANIONS)
        self._busy_ms = int(busy_timeout * 1000)
        self._lock = threading.RLock()
        self._depth = 0  # transaction nesting on the write connection
        self._owner: int | None = None  # thread holding the open transaction
        self._dirty = False
        self._closed = False
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        # operations in flight (reads outside a transaction), and whether close() has begun;
        # close() waits on this condition until the count is zero
        self._gate = threading.Condition(threading.Lock())
        self._active = 0
        self._closing = False
        self._w = self._connect(write=True)
        try:
            self._migrate()
            self._version = self._read_version(self._w)
        except BaseException:
            self._w.close()
            raise
        self.aio = AsyncStore(self)

    @classmethod
    def open_default(cls, name: str) -> Store:
        """The store of the local runtime group ``name`` in the app's data folder."""
        return cls(appdirs.runtime_db_path(name))

    # -- connections --------------------------------------------------------------------------
    def _connect(self, *, write: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path), timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        if write:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":  # pragma: no cover - e.g. a network drive
                log.warning("SQLite refused WAL mode for %s (got %s)", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        else:
            conn.execute("PRAGMA query_only = ON")
        return conn

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection this thread reads with, for the length of the block. ``close()`` waits
        for every such block to end before it closes connections; once it has begun, new blocks
        raise ``StoreClosed`` (except inside this thread's own open transaction, which close()
        waits for anyway)."""
        mine = self._owner == threading.get_ident()
        with self._gate:
            if self._closing and not mine:
                raise StoreClosed(self.path)
            self._active += 1
        try:
            yield self._reader()
        except sqlite3.Error as exc:
            if self._closing:  # interrupted by close(): say so rather than "interrupted"
                raise StoreClosed(self.path) from exc
            raise
        finally:
            with self._gate:
                self._active -= 1
                if self._active == 0:
                    self._gate.notify_all()

    def _reader(self) -> sqlite3.Connection:
        """The connection this thread reads with: the writer's inside its own transaction (to see
        its uncommitted changes), otherwise a per-thread read-only connection. Use it only inside
        ``_reading()``."""
        if self._closed:
            raise StoreClosed(self.path)
        if self._owner == threading.get_ident():
            return self._w
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(write=False)
            self._local.conn = conn
            with self._readers_lock:
                # Close the connections of threads that have ended (nothing else can use them).
                keep = []
                for ref, other in self._readers:
                    thread = ref()
                    if thread is not None and thread.is_alive():
                        keep.append((ref, other))
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            other.close()
                keep.append((weakref.ref(threading.current_thread()), conn))
                self._readers = keep
        return conn

    def close(self, *, grace: float = 2.0) -> None:
        """Close every connection; safe while other threads are reading or writing.

        New operations are refused at once (``StoreClosed``); the open transaction, if any, is
        waited for; reads in flight finish, and those still running after ``grace`` seconds are
        interrupted (they raise ``StoreClosed``). Only then are the connections closed. Calling it
        again, from any thread, waits for the first call to finish and returns.
        """
        if self._owner == threading.get_ident():
            raise RuntimeError("Store.close() called inside one of its own transactions")
        with self._gate:
            if self._closing:
                while not self._closed:
                    self._gate.wait()
                return
            self._closing = True
        try:
            with self._lock:  # the running transaction ends first (it holds this lock)
                self._drain_readers(grace)
                with contextlib.suppress(sqlite3.Error):
                    self._w.execute("PRAGMA optimize")
                with contextlib.suppress(sqlite3.Error):
                    self._w.close()
                with self._readers_lock:
                    for _ref, conn in self._readers:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
                    self._readers.clear()
        finally:
            with self._gate:
                self._closed = True
                self._gate.notify_all()

    def _drain_readers(self, grace: float) -> None:
        """Wait until no read is in flight, interrupting the stragglers after ``grace`` seconds."""
        deadline = self._clock() + grace
        with self._gate:
            while self._active:
                if self._clock() >= deadline:
                    # sqlite3_interrupt may be called from any thread; a connection that is not
                    # running a statement ignores it
                    with self._readers_lock:
                        for _ref, conn in self._readers:
                            with contextlib.suppress(sqlite3.Error):
                                conn.interrupt()
                self._gate.wait(0.05)

    @property
    def closed(self) -> bool:
        """True once ``close()`` has begun: every further call raises ``StoreClosed``."""
        return self._closing

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- layout -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Create the tables, or rebuild the derived columns when the entity model changed."""
        w = self._w
        w.execute("CREATE TABLE IF NOT EXISTS kd_meta (key TEXT PRIMARY KEY, value)")
        # A rebuild drops and refills tables in whatever order; the data came from a consistent
        # store, so foreign keys are off meanwhile (the pragma only works outside a transaction).
        w.execute("PRAGMA foreign_keys = OFF")
        w.execute("BEGIN IMMEDIATE")
        try:
            w.execute("INSERT OR IGNORE INTO kd_meta (key, value) VALUES ('version', 0)")
            row = w.execute("SELECT value FROM kd_meta WHERE key = 'layout'").fetchone()
            if row is None:
                for stmt in _DDL:
                    w.execute(stmt)
            elif row[0] != LAYOUT_FINGERPRINT:
                self._rebuild(w)
            w.execute(
                "INSERT OR REPLACE INTO kd_meta (key, value) VALUES ('layout', ?)", (LAYOUT_FINGERPRINT,)
            )
            w.execute("COMMIT")
        except BaseException:
            w.execute("ROLLBACK")
            raise
        finally:
            w.execute("PRAGMA foreign_keys = ON")

    def _rebuild(self, w: sqlite3.Connection) -> None:
        """Re-create every entity table from the stored JSON bodies, keeping ids and order."""
        log.info("store layout changed; rebuilding tables of %s", self.path)
        existing = {r[0] for r in w.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        saved: dict[str, list[tuple[int, str]]] = {}
        for t in LAYOUT.values():
            if t.sql in existing:
                saved[t.name] = w.execute(f"SELECT seq, body FROM {t.sql} ORDER BY seq").fetchall()
        dropped = sorted(n for n in existing if n.startswith("e_") and n.removesuffix("_tags")[2:] not in LAYOUT)
        if dropped:
            log.warning("dropping tables of entity kinds no longer known: %s", ", ".join(dropped))
        for name in existing:
            if name.startswith("e_"):
                w.execute(f"DROP TABLE {_quote(name)}")
        for stmt in _DDL:
            w.execute(stmt)
        for name in ORDER:  # foreign keys are off here: order only keeps it tidy
            t = LAYOUT[name]
            for seq, body in saved.get(name, ()):
                entity = json.loads(body)
                w.execute(
                    f"INSERT INTO {t.sql} (seq, {', '.join(t.columns)}) VALUES (?, {', '.join('?' for _ in t.columns)})",
                    (seq, *t.row(entity)),
                )
                self._write_tags(w, t, entity, replace=False)

    # -- transactions and versions ------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside happen atomically; nested calls join (with a savepoint, so a failing
        inner block can be caught without losing the outer one's work). Subscribers are called once,
        after the outermost commit.

        The transaction belongs to the calling thread and holds the store's write lock: other
        threads' writes wait, their reads see the last committed state. From async code, run the
        whole block in a worker (``await asyncio.to_thread(fn)``); never hold it across an ``await``.
        """
        mine = self._owner == threading.get_ident()
        if self._closing and not mine:
            raise StoreClosed(self.path)
        new_version: int | None = None
        with self._lock:
            w = self._w
            if self._depth == 0:
                if self._closing:  # close() ran while we waited for the lock
                    raise StoreClosed(self.path)
                try:
                    w.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise database_error(exc) from exc
                self._owner = threading.get_ident()
                self._dirty = False
                self._depth = 1
                try:
                    yield self
                    new_version = self._commit()
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        w.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
                    self._owner = None
            else:
                sp = f"kd_sp{self._depth}"
                w.execute(f"SAVEPOINT {sp}")
                self._depth += 1
                dirty_before = self._dirty
                try:
                    yield self
                except BaseException:
                    w.execute(f"ROLLBACK TO {sp}")
                    w.execute(f"RELEASE {sp}")
                    self._dirty = dirty_before
                    raise
                else:
                    w.execute(f"RELEASE {sp}")
                finally:
                    self._depth -= 1
        if new_version is not None:
            self._notify(new_version)

    def _commit(self) -> int | None:
        w = self._w
        version = None
        try:
            if self._dirty:
                version = w.execute(
                    "UPDATE kd_meta SET value = value + 1 WHERE key = 'version' RETURNING value"
                ).fetchone()[0]
            w.execute("COMMIT")
        except sqlite3.Error as exc:
            raise database_error(exc) from exc
        if version is not None:
            self._version = version
        return version

    @property
    def version(self) -> int:
        """Bumps once per committed change (a whole transaction counts once). Shared through the
        file: another process's commits show up after ``poll_external_changes()``."""
        return self._version

    @staticmethod
    def _read_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM kd_meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def poll_external_changes(self) -> bool:
        """Notice commits made by another process (or another ``Store`` on the same file).
        Calls the subscribers and returns True when the stored version moved. Never waits: while
        a transaction of this store is open it returns False (its commit will announce itself)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._depth:
                return False
            try:
                with self._reading() as conn:
                    current = self._read_version(conn)
            except sqlite3.Error as exc:
                raise database_error(exc) from exc
            if current == self._version:
                return False
            self._version = current
        finally:
            self._lock.release()
        self._notify(current)
        return True

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(version)`` after every committed change. Returns the unsubscribe function.

        Callbacks run on the thread that committed (often a worker thread): hop to your own loop
        or thread (``loop.call_soon_threadsafe``) before touching anything not thread-safe.
        """
        with self._sub_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._sub_lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _notify(self, version: int) -> None:
        with self._sub_lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(version)
            except Exception:  # one broken subscriber must not break the writer or the others
                log.exception("store subscriber %r failed", cb)

    # -- reads --------------------------------------------------------------------------------
    @staticmethod
    def _layout(table: str) -> _Table:
        try:
            return LAYOUT[table]
        except KeyError:
            raise ValueError(f"unknown entity table {table!r}") from None

    def _where_sql(self, t: _Table, where: Mapping[str, JSONValue] | None) -> tuple[list[str], JSONArray]:
        clauses: list[str] = []
        args: JSONArray = []
        for fname, value in (where or {}).items():
            if any(fname == f for f, _, _ in t.fks):
                col = f"f_{fname}"
                value = foreign_id(value) if value is not None else None
            elif fname in t.unique:
                col = f"u_{fname}"
            elif fname == t.endpoint_key and t.ek_column:
                col = t.ek_column
            elif fname == "id":
                col = "id"
            else:
                raise ValueError(f"cannot filter {t.name} on {fname!r}")
            if value is None:
                clauses.append(f"{col} IS NULL")
            else:
                clauses.append(f"{col} = ?")
                args.append(value)
        return clauses, args

    def _find(
        self, conn: sqlite3.Connection, t: _Table, key: JSONValue, where: Mapping[str, JSONValue] | None = None
    ) -> tuple[int, Entity] | None:
        """Kong's lookup rule: a UUID is an id (falling back to the endpoint key), anything else
        the endpoint key."""
        if not isinstance(key, str) or key == "":
            return None
        extra, extra_args = self._where_sql(t, where)
        cond = "".join(f" AND {c}" for c in extra)
        if is_uuid(key):
            row = conn.execute(f"SELECT seq, body FROM {t.sql} WHERE id = ?{cond}", (key, *extra_args)).fetchone()
            if row is not None:
                return row[0], json.loads(row[1])
        if t.ek_column:
            row = conn.execute(
                f"SELECT seq, body FROM {t.sql} WHERE {t.ek_column} = ?{cond} ORDER BY seq LIMIT 1",
                (key, *extra_args),
            ).fetchone()
            if row is not None:
                return row[0], json.loads(row[1])
        return None

    def get(self, table: str, id_or_key: str, *, where: Mapping[str, JSONValue] | None = None) -> Entity:
        """One entity by id or endpoint key; ``NotFound`` when missing. ``where`` (foreign keys,
        e.g. ``{"consumer": cid}``) restricts the lookup, for nested Admin API paths."""
        t = self._layout(table)
        try:
            with self._reading() as conn:
                found = self._find(conn, t, id_or_key, where)
        except sqlite3.Error as exc:
            raise database_error(exc) from exc
        if found is None:
            raise NotFound()
        return found[1]

    def find(self, table: str, id_or_key: str, *, where: Mapping[str, JSONValue] | None = None) -> Entity | None:
        """Like ``get`` but None when missing."""
        try:
            return self.get(table, id_or_key, where=where)
        except NotFound:
            return None

    def find_by(self, table: str, field: str, value: JSONValue) -> Entity | None:
        """The entity whose unique ``field`` equals ``value`` (Kong's ``select_by_<field>``), or None."""
        t = self._layout(table)
        if field not in t.unique:
            raise ValueError(f"{table}.{field} is not a unique field")
        if value is None:
            return None
        try:
            with self._reading() as conn:
                row = conn.execute(f"SELECT body FROM {t.sql} WHERE u_{field} = ?", (_scalar(value),)).fetchone()
        except sqlite3.Error as exc:
            raise database_error(exc) from exc
        return json.loads(row[0]) if row else None

    def page(
        self,
        table: str,
        size: int = 100,
        offset: str | None = None,
        tags: Iterable[str] | None = None,
        tags_mode: str = "and",
        where: Mapping[str, JSONValue] | None = None,
    ) -> tuple[list[Entity], str | None]:
        """One page in insertion order and the token of the next page (None on the last one)."""
        t = self._layout(table)
        if type(size) is not int or not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid_size(f"size must be an integer between 1 and {MAX_PAGE_SIZE}")
        after = decode_offset(offset) if offset is not None else 0
        clauses, args = self._where_sql(t, where)
        clauses.insert(0, "seq > ?")
        args.insert(0, after)
        tag_clause, tag_args = self._tags_sql(t, tags, tags_mode)
        if tag_clause:
            clauses.append(tag_clause)
            args.extend(tag_args)
        sql = f"SELECT seq, body FROM {t.sql} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
        args.append(size + 1)
        try:
            with self._reading() as conn:
                rows = conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise database_error(exc) from exc
        next_offset = None
        if len(rows) > size:
            rows = rows[:size]
            next_offset = encode_offset(rows[-1][0])
        return [json.loads(body) for _seq, body in rows], next_offset

    def _tags_sql(self, t: _Table, tags: Iterable[str] | None, mode: str) -> tuple[str, JSONArray]:
        if tags is None:
            return "", []
        if isinstance(tags, str):
            tags = [tags]
        tags = list(dict.fromkeys(tags))
        if not tags:
            return "", []
        if not t.has_tags:
            return "0", []  # nothing of this kind carries tags
        if mode == "and":
            sub = f"EXISTS (SELECT 1 FROM {t.tags_sql} g WHERE g.tag = ? AND g.eid = {t.sql}.id)"
            return " AND ".join(sub for _ in tags), list(tags)
        if mode == "or":
            marks = ", ".join("?" for _ in tags)
            return f"EXISTS (SELECT 1 FROM {t.tags_sql} g WHERE g.tag IN ({marks}) AND g.eid = {t.sql}.id)", list(tags)
        raise ValueError(f"tags_mode must be 'and' or 'or', not {mode!r}")

    def all(self, table: str, *, where: Mapping[str, JSONValue] | None = None) -> list[Entity]:
        """Every entity of ``table`` (optionally filtered on foreign keys), in insertion order."""
        t = self._layout(table)
        clauses, args = self._where_sql(t, where)
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        try:
            with self._reading() as conn:
                rows = conn.execute(f"SELECT body FROM {t.sql}{cond} ORDER BY seq", args).fetchall()
        except sqlite3.Error as exc:
            raise database_error(exc) from exc
        return [json.loads(r[0]) for r in rows]

    def count(self, table: str, *, where: Mapping[str, JSONValue] | None = None) -> int:
        t = self._layout(table)
        clauses, args = self._where_sql(t, where)
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        try:
            with self._reading() as conn:
                count: int = conn.execute(f"SELECT COUNT(*) FROM {t.sql}{cond}", args).fetchone()[0]
                return count
        except sqlite3.Error as exc:
            raise database_error(exc) from exc

    def export(self) -> Config:
        """The whole configuration, every table (parents first), from one consistent snapshot."""
        try:
            with self._reading() as conn:
                own = conn is self._w
                if not own:
                    conn.execute("BEGIN")
                try:
                    out: Config = {}
                    for name in ORDER:
                        t = LAYOUT[name]
                        if t.runtime:  # tokens and codes the gateway issued are not configuration
                            continue
                        out[name] = [json.loads(r[0]) for r in conn.execute(f"SELECT body FROM {t.sql} ORDER BY seq")]
                    return out
                finally:
                    if not own and conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):  # an interrupted read already ended it
                            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise database_error(exc) from exc

    # -- writes -------------------------------------------------------------------------------
    def insert(self, table: str, data: Mapping[str, JSONValue]) -> Entity:
        """Validate (strictly: unknown plugins are refused), fill defaults, ids and timestamps,
        check unique and foreign keys, and store. Returns the stored entity."""
        t = self._layout(table)
        with self._write():
            return self._insert(t, self._resolve_foreign(t, data), keep_timestamps=False)

    def update(
        self, table: str, id_or_key: str, patch: Mapping[str, JSONValue], *, where: Mapping[str, JSONValue] | None = None
    ) -> Entity:
        """PATCH: records merge deeply into the stored entity, then the result is validated whole.
        ``id`` and ``created_at`` cannot change; ``updated_at`` is bumped. ``NotFound`` if missing
        (``where`` as in ``get``)."""
        t = self._layout(table)
        if not isinstance(patch, Mapping):
            raise schema_violation({"@entity": ["expected an input table"]})
        with self._write():
            found = self._find(self._w, t, id_or_key, where)
            if found is None:
                raise NotFound()
            _seq, existing = found
            if "id" in patch and patch["id"] != existing["id"]:
                raise schema_violation({"id": "immutable field cannot be updated"})
            ENTITIES[table].check_patch(patch)
            patch = self._resolve_foreign(t, patch)
            merged = _schema_for(table, {**existing, **patch}).merge(existing, dict(patch))
            return self._replace(t, existing, merged, given=patch)

    def upsert(self, table: str, id_or_key: str, data: Mapping[str, JSONValue]) -> Entity:
        """PUT: create or replace. The key in the URL supplies the id (a UUID) or the endpoint key."""
        t = self._layout(table)
        if not isinstance(data, Mapping):
            raise schema_violation({"@entity": ["expected an input table"]})
        data = dict(data)
        with self._write():
            data = self._resolve_foreign(t, data)
            if is_uuid(id_or_key):
                found = self._find_by_id(self._w, t, id_or_key)
                data["id"] = id_or_key
            elif t.endpoint_key:
                found = self._find(self._w, t, id_or_key)
                data[t.endpoint_key] = id_or_key
                if found is not None:
                    data["id"] = found[1]["id"]
                else:
                    data.pop("id", None)
            else:
                raise NotFound()
            if found is None:
                return self._insert(t, data, keep_timestamps=False)
            return self._replace(t, found[1], data, given=data)

    def delete(self, table: str, id_or_key: str, *, where: Mapping[str, JSONValue] | None = None) -> bool:
        """Delete one entity and, per foreign key ``on_delete``, cascade to its children or refuse
        while others reference it. Missing entity: no change, returns False."""
        t = self._layout(table)
        with self._write():
            found = self._find(self._w, t, id_or_key, where)
            if found is None:
                return False
            eid = found[1]["id"]
            self._check_restrict(t, [eid])
            try:
                self._w.execute(f"DELETE FROM {t.sql} WHERE id = ?", (eid,))
            except sqlite3.IntegrityError as exc:
                raise self._integrity(t, exc, found[1]) from exc
            self._dirty = self._dirty or not t.runtime
            return True

    def replace_all(self, config: Mapping[str, JSONValue]) -> dict[str, int]:
        """Replace the whole configuration in one transaction. Everything is validated first and
        all problems are reported together (code 14, per table and position); invalid input
        changes nothing. Tables missing from ``config`` become empty. Returns counts per table."""
        prepared = self._prepare_config(config)
        with self._write():
            w = self._w
            try:
                for name in reversed(ORDER):
                    t = LAYOUT[name]
                    if t.has_tags:
                        w.execute(f"DELETE FROM {t.tags_sql}")
                    w.execute(f"DELETE FROM {t.sql}")
                for name in ORDER:
                    self._bulk_insert(LAYOUT[name], prepared.get(name, []))
            except sqlite3.IntegrityError as exc:  # pragma: no cover - the checks above catch these
                raise database_error(exc) from exc
            self._dirty = True
        return {name: len(prepared.get(name, [])) for name in ORDER}

    def import_entities(self, config: Mapping[str, JSONValue]) -> dict[str, int]:
        """Insert many entities in one transaction (parents first), keeping given ids and
        timestamps; the first problem raises and nothing is stored."""
        counts: dict[str, int] = {}
        with self._write():
            for name in self._tables_in(config):
                t = LAYOUT[name]
                items = config.get(name) or []
                for data in items:
                    self._insert(t, data, keep_timestamps=True, declarative=True)
                counts[name] = len(items)
        return counts

    def clear(self) -> None:
        """Delete every entity (one change)."""
        self.replace_all({})

    # -- side tables ----------------------------------------------------------------------------
    # Data kept in the same file but not Kong entities (the API catalog, the Dev Portal's accounts):
    # their modules own tables named ``x_*``, which ``_rebuild`` never touches and ``export`` never
    # reads. Writes join the store's transaction, so an entity change and a side-table change can
    # commit together; a side-table change alone does not bump ``version`` (the proxy ignores it).
    @contextlib.contextmanager
    def side_write(self, on_duplicate: Callable[[], Exception] | None = None) -> Iterator[sqlite3.Connection]:
        """The write connection inside a (possibly nested) transaction. ``on_duplicate`` makes the
        error raised instead when a write breaks a UNIQUE constraint (the side table's own words:
        Kong's unique violation, a form's message), the transaction rolled back as for any error."""
        try:
            with self._write():
                yield self._w
        except KongError as exc:
            cause = exc.__cause__
            if on_duplicate is not None and isinstance(cause, sqlite3.IntegrityError) and "UNIQUE" in str(cause):
                raise on_duplicate() from None
            raise

    @contextlib.contextmanager
    def side_read(self) -> Iterator[sqlite3.Connection]:
        """A connection to read side tables with (this thread's, or the open transaction's)."""
        with self._reading() as conn:
            yield conn

    # -- write helpers ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        try:
            with self.transaction():
                yield
        except sqlite3.Error as exc:
            raise database_error(exc) from exc

    def _find_by_id(self, conn: sqlite3.Connection, t: _Table, eid: str) -> tuple[int, Entity] | None:
        row = conn.execute(f"SELECT seq, body FROM {t.sql} WHERE id = ?", (eid,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def _validate(self, t: _Table, data: JSONValue) -> Entity:
        if not isinstance(data, Mapping):
            raise schema_violation({"@entity": ["expected an input table"]})
        out, errors = check_entity(t.name, dict(data), strict=True)
        if errors:
            raise schema_violation(errors)
        return out

    def _insert(self, t: _Table, data: Mapping[str, JSONValue], *, keep_timestamps: bool, declarative: bool = False) -> Entity:
        entity = ENTITIES[t.name].transform(self._validate(t, data), data, declarative=declarative)
        # Kong keeps a given created_at and stamps updated_at; imports (sync) keep both.
        now = _now()
        # the schema's default stamped created_at a moment ago (possibly in the previous second):
        # an insert's two stamps are one instant unless created_at was given
        if t.has_created_at and (entity.get("created_at") is None or data.get("created_at") is None):
            entity["created_at"] = now
        if t.has_updated_at and (not keep_timestamps or entity.get("updated_at") is None):
            entity["updated_at"] = now
        w = self._w
        if self._find_by_id(w, t, entity["id"]) is not None:
            raise primary_key_violation({"id": entity["id"]})
        self._check_unique(t, entity, None)
        self._check_foreign(t, entity)
        try:
            w.execute(t.insert_sql, t.row(entity))
        except sqlite3.IntegrityError as exc:
            raise self._integrity(t, exc, entity) from exc
        self._write_tags(w, t, entity, replace=False)
        self._dirty = self._dirty or not t.runtime
        return entity

    def _replace(self, t: _Table, existing: Entity, data: Mapping[str, JSONValue], *, given: Mapping[str, JSONValue]) -> Entity:
        """Store ``data`` in place of ``existing``; ``given`` is what the caller wrote (Kong's
        transformations run only for the fields it carries: a PATCH without a password keeps
        the stored hash)."""
        data = dict(data)
        data["id"] = existing["id"]
        if t.has_created_at:
            data["created_at"] = existing.get("created_at")
        entity = ENTITIES[t.name].transform(self._validate(t, data), given)
        if t.has_updated_at:
            entity["updated_at"] = _now()
        self._check_unique(t, entity, existing["id"])
        self._check_foreign(t, entity)
        try:
            self._w.execute(t.update_sql, (*t.row(entity)[1:], existing["id"]))
        except sqlite3.IntegrityError as exc:
            raise self._integrity(t, exc, entity) from exc
        self._write_tags(self._w, t, entity, replace=True)
        self._dirty = self._dirty or not t.runtime
        return entity

    def _write_tags(self, w: sqlite3.Connection, t: _Table, entity: Entity, *, replace: bool) -> None:
        if not t.has_tags:
            return
        if replace:
            w.execute(f"DELETE FROM {t.tags_sql} WHERE eid = ?", (entity["id"],))
        tags = entity.get("tags")
        if tags:
            w.executemany(
                f"INSERT OR IGNORE INTO {t.tags_sql} (tag, eid) VALUES (?, ?)",
                [(tag, entity["id"]) for tag in tags],
            )

    def _unique_error(self, t: _Table, fname: str, value: JSONValue) -> KongError:
        return unique_violation({fname: MASK if fname in t.secret_fields else value})

    def _check_unique(self, t: _Table, entity: Entity, self_id: str | None) -> None:
        w = self._w
        for f in t.unique:
            v = _scalar(entity.get(f))
            if v is None:
                continue
            row = w.execute(f"SELECT id FROM {t.sql} WHERE u_{f} = ?", (v,)).fetchone()
            if row is not None and row[0] != self_id:
                raise self._unique_error(t, f, entity.get(f))
        if t.cache_key:
            row = w.execute(f"SELECT id FROM {t.sql} WHERE ckey = ?", (t.ckey(entity),)).fetchone()
            if row is not None and row[0] != self_id:
                raise unique_violation(t.ckey_fields(entity))

    def _resolve_foreign(self, t: _Table, data: Mapping[str, JSONValue]) -> JSONObject:
        """A foreign key given by a unique field of its entity (``"service": {"name": "echo"}``,
        form ``service.name=echo``) becomes ``{"id": ...}``, as Kong's DAO ``resolve_foreign``
        does before validating: a value without a valid id is tried field by field (the
        referenced schema's unique fields and endpoint key, in schema order) until one finds an
        entity; each tried field that finds nothing is reported (code 13)."""
        out = dict(data) if isinstance(data, Mapping) else data
        if not isinstance(out, dict):
            return out
        errors: dict[str, dict[str, str]] = {}
        for fname, parent, _od in t.fks:
            value = out.get(fname)
            if not isinstance(value, dict) or is_uuid(value.get("id")):
                continue
            pt = LAYOUT.get(parent)
            if pt is None:
                continue
            tried: dict[str, str] = {}
            for uf, uval in _unique_values(parent, value):
                found = self._find_unique(pt, uf, uval)
                if found is not None:
                    out[fname] = {"id": found}
                    break
                tried[uf] = (
                    f"the foreign key cannot be resolved with '{lua_pretty({uf: uval})}' "
                    f"for an existing '{parent}' entity"
                )
            if tried:
                errors[fname] = tried
        if errors:
            raise foreign_keys_unresolved(errors)
        return out

    def _find_unique(self, t: _Table, fname: str, value: JSONValue) -> str | None:
        if fname in t.unique:
            col = f"u_{fname}"
        elif fname == t.endpoint_key and t.ek_column:
            col = t.ek_column
        else:  # pragma: no cover - every unique field has its column
            return None
        row = self._w.execute(f"SELECT id FROM {t.sql} WHERE {col} = ? LIMIT 1", (value,)).fetchone()
        return row[0] if row else None

    def _check_foreign(self, t: _Table, entity: Entity) -> None:
        w = self._w
        for f, parent, _od in t.fks:
            fid = foreign_id(entity.get(f))
            if fid is None:
                continue
            if w.execute(f"SELECT 1 FROM e_{parent} WHERE id = ?", (fid,)).fetchone() is None:
                raise foreign_key_invalid(f, {"id": fid}, parent)

    def _check_restrict(self, t: _Table, ids: list[str], depth: int = 0) -> None:
        """Refuse the delete if a restricting child references any of ``ids``, looking through
        the rows a cascade would remove too."""
        if not ids or depth > 8:
            return
        w = self._w
        for child, fname, od in t.children:
            ct = LAYOUT[child]
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" for _ in chunk)
                if od == "restrict":
                    if w.execute(f"SELECT 1 FROM {ct.sql} WHERE f_{fname} IN ({marks}) LIMIT 1", chunk).fetchone():
                        raise foreign_key_restricted(t.name, child)
                elif ct.children:
                    child_ids = [r[0] for r in w.execute(f"SELECT id FROM {ct.sql} WHERE f_{fname} IN ({marks})", chunk)]
                    self._check_restrict(ct, child_ids, depth + 1)

    def _integrity(self, t: _Table, exc: sqlite3.IntegrityError, entity: Entity) -> KongError:
        """Translate a constraint SQLite caught (a race the checks above missed) into Kong's words."""
        msg = str(exc)
        if "UNIQUE" in msg:
            for f in t.unique:
                if f"u_{f}" in msg:
                    return self._unique_error(t, f, entity.get(f))
            if "ckey" in msg:
                return unique_violation(t.ckey_fields(entity))
            return primary_key_violation({"id": entity.get("id")})
        if "FOREIGN KEY" in msg:
            return KongError(4, f"foreign key violation on '{t.name}' entity")
        return database_error(exc)

    def _bulk_insert(self, t: _Table, entities: list[Entity]) -> None:
        if not entities:
            return
        w = self._w
        w.executemany(t.insert_sql, (t.row(e) for e in entities))
        if t.has_tags:
            w.executemany(
                f"INSERT OR IGNORE INTO {t.tags_sql} (tag, eid) VALUES (?, ?)",
                ((tag, e["id"]) for e in entities for tag in (e.get("tags") or ())),
            )

    @staticmethod
    def _tables_in(config: Mapping[str, JSONValue]) -> list[str]:
        unknown = [k for k in config if not k.startswith("_") and k not in LAYOUT]
        if unknown:
            raise declarative_error({k: "unknown entity type" for k in unknown})
        return [name for name in ORDER if config.get(name)]

    def _prepare_config(self, config: Mapping[str, JSONValue]) -> Config:
        """Validate a whole configuration on its own: schemas, duplicate ids and unique values,
        and foreign keys that must point inside it. Raises code 14 with every problem."""
        if not isinstance(config, Mapping):
            raise declarative_error({"@entity": ["expected an input table"]})
        names = self._tables_in(config)
        now = _now()
        # Kong's ``_transform`` (default true): false stores the file's values as they are
        transform = getattr(config, "transform", None)
        if transform is None:
            transform = config.get("_transform")
        transform = transform is not False
        errors: dict[str, dict[int, JSONValue]] = {}
        out: Config = {}

        def add(table: str, i: int, fname: str, msg: JSONValue) -> None:
            errors.setdefault(table, {}).setdefault(i, {}).setdefault(fname, msg)

        for name in names:
            t = LAYOUT[name]
            items = config[name]
            if not isinstance(items, list):
                errors.setdefault(name, {})[0] = {"@entity": ["expected an array"]}
                continue
            valid: list[Entity] = []
            for i, data in enumerate(items):
                if not isinstance(data, Mapping):
                    errors.setdefault(name, {})[i] = {"@entity": ["expected an input table"]}
                    continue
                entity, errs = check_entity(name, dict(data), strict=True)
                if errs:
                    errors.setdefault(name, {})[i] = errs
                    continue
                if transform:
                    entity = ENTITIES[name].transform(entity, data, declarative=True)
                if t.has_created_at and entity.get("created_at") is None:
                    entity["created_at"] = now
                if t.has_updated_at and entity.get("updated_at") is None:
                    entity["updated_at"] = now
                entity["_pos"] = i
                valid.append(entity)
            out[name] = valid

        # Uniqueness and references inside the new configuration (it replaces everything).
        ids: dict[str, set[str]] = {}
        for name in names:
            t = LAYOUT[name]
            seen_id: set[str] = set()
            seen_u: dict[str, set[JSONValue]] = {f: set() for f in t.unique}
            seen_ck: set[str] = set()
            for e in out.get(name, []):
                i = e["_pos"]
                if e["id"] in seen_id:
                    add(name, i, "id", f"uniqueness violation: '{name}' entity with primary key set to '{e['id']}' already declared")
                seen_id.add(e["id"])
                for f in t.unique:
                    v = _scalar(e.get(f))
                    if v is None:
                        continue
                    if v in seen_u[f]:
                        shown = MASK if f in t.secret_fields else v
                        add(name, i, f, f"uniqueness violation: '{name}' entity with {f} set to '{shown}' already declared")
                    seen_u[f].add(v)
                if t.cache_key:
                    ck = t.ckey(e)
                    if ck in seen_ck:
                        add(name, i, "@entity", [f"uniqueness violation: '{name}' entity with key {lua_pretty(t.ckey_fields(e))} already declared"])
                    seen_ck.add(ck)
            ids[name] = seen_id
        for name in names:
            t = LAYOUT[name]
            for e in out.get(name, []):
                for f, parent, _od in t.fks:
                    fid = foreign_id(e.get(f))
                    if fid is not None and fid not in ids.get(parent, ()):
                        add(name, e["_pos"], f,
                            f"the foreign key '{lua_pretty({'id': fid})}' does not reference an existing '{parent}' entity.")
        if errors:
            fields: JSONObject = {}
            for name, by_pos in errors.items():
                # Kong's shape: an array per table, positioned like the input (null where valid).
                arr: JSONArray = [None] * (max(by_pos) + 1)
                for i, err in by_pos.items():
                    arr[i] = err
                fields[name] = arr
            raise declarative_error(fields)
        for entities in out.values():
            for e in entities:
                del e["_pos"]
        return out


def _unique_values(table: str, value: Mapping[str, JSONValue]) -> Iterator[tuple[str, JSONValue]]:
    """The (field, value) pairs of ``value`` that can name one ``table`` entity: its unique
    fields and endpoint key, in schema order, with a value of the field's type."""
    edef = ENTITIES[table]
    for fname, f in edef.schema.fields:
        if not (f.unique or fname == edef.endpoint_key) or fname == "id":
            continue
        v = value.get(fname)
        if v is None or isinstance(v, bool):
            continue
        if f.type == "string" and isinstance(v, str) and v:
            yield fname, v
        elif f.type in ("integer", "number") and isinstance(v, (int, float)):
            yield fname, v


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


_P = ParamSpec("_P")
_T = TypeVar("_T")


class _OffThread(Generic[_P, _T]):
    """One ``AsyncStore`` method: the Store method of the same name, run in a worker thread. Typed
    from the unbound ``Store`` method, so ``await store.aio.get(...)`` has ``get``'s parameters
    and result; called through the instance, so a Store subclass's own method is the one run."""

    def __init__(self, method: Callable[Concatenate[Store, _P], _T]) -> None:
        self.name = method.__name__

    def __get__(self, aio: AsyncStore, owner: type[AsyncStore] | None = None) -> Callable[_P, Awaitable[_T]]:
        method: Callable[_P, _T] = getattr(aio._store, self.name)

        @functools.wraps(method)
        async def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


class AsyncStore:
    """``await store.aio.get(...)``: every public Store method run in a worker thread, so an event
    loop (the data plane's, the GUI's qasync loop) never blocks on SQLite."""

    def __init__(self, store: Store) -> None:
        self._store = store

    insert = _OffThread(Store.insert)
    get = _OffThread(Store.get)
    find = _OffThread(Store.find)
    find_by = _OffThread(Store.find_by)
    update = _OffThread(Store.update)
    upsert = _OffThread(Store.upsert)
    delete = _OffThread(Store.delete)
    page = _OffThread(Store.page)
    all = _OffThread(Store.all)
    count = _OffThread(Store.count)
    export = _OffThread(Store.export)
    replace_all = _OffThread(Store.replace_all)
    import_entities = _OffThread(Store.import_entities)
    clear = _OffThread(Store.clear)
    poll_external_changes = _OffThread(Store.poll_external_changes)


__all__ = [
    "Store", "StoreClosed", "AsyncStore", "LAYOUT", "encode_offset", "decode_offset", "is_uuid",
    "primary_key_violation", "declarative_error", "MAX_PAGE_SIZE",
]
