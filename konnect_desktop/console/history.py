"""Request history: every request the console sent, in SQLite (WAL) in the app's data folder.

Searchable ("POST 429 /pay": methods, status codes or classes like ``4xx``, and URL words),
replayable (the request is kept as typed, ``{{ variables }}`` included, so a replay resolves them
again — secret ones from the keyring), exportable as JSON or cURL.

Secrets never reach the file: ``record()`` runs every request and response through a
``Redactor`` before writing — secret headers, query and form fields blanked by name, and the
values of secret variables and of everything blanked scrubbed from URLs, response headers and
bodies (an echo service would otherwise write your key back into the history); secret-named
fields of JSON and form bodies, typed or raw, request or response, are blanked too. Exports redact
again. A replayed request whose secret was blanked says where (``redacted`` lists the places).

Synchronous and thread-safe: the GUI calls it through ``asyncio.to_thread`` (the ``a*``
methods).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import appdirs
from ..jsontypes import JSONObject
from .curl import to_curl
from .redact import Redactor, redacted_places
from .request import METHODS, RequestSpec

if TYPE_CHECKING:  # the sender imports httpx, which history does not need
    from .sender import Exchange

FILENAME = "console-history.db"
SCHEMA_VERSION = 1
BODY_KEEP = 64 * 1024  # response bytes kept per entry
DEFAULT_MAX_ENTRIES = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL NOT NULL,
    method      TEXT NOT NULL,
    url         TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms REAL,
    size        INTEGER,
    environment TEXT,
    request_id  TEXT,
    template    TEXT NOT NULL,
    response    TEXT
);
CREATE INDEX IF NOT EXISTS requests_created ON requests(created_at);
"""


def default_path() -> Path:
    return appdirs.data_dir() / FILENAME


@dataclass
class HistoryEntry:
    id: int | None
    created_at: float
    method: str
    url: str  # resolved, redacted
    status: int | None
    error: str | None
    duration_ms: float | None
    size: int | None
    environment: str | None
    request_id: str | None
    template: RequestSpec  # as typed, redacted
    response: JSONObject | None = None  # {"status", "reason", "headers", "body", "timing"}
    redacted: list[str] = field(default_factory=list)

    def label(self) -> str:
        outcome = str(self.status) if self.status is not None else "error"
        return f"{self.method} {self.url} {outcome}"

    def to_dict(self) -> JSONObject:
        return {
            "id": self.id, "created_at": self.created_at, "method": self.method, "url": self.url,
            "status": self.status, "error": self.error, "duration_ms": self.duration_ms,
            "size": self.size, "environment": self.environment, "request_id": self.request_id,
            "request": self.template.to_dict(), "response": self.response,
        }


def _row(r: sqlite3.Row) -> HistoryEntry:
    template = RequestSpec.from_dict(json.loads(r["template"]))
    return HistoryEntry(
        id=r["id"], created_at=r["created_at"], method=r["method"], url=r["url"], status=r["status"],
        error=r["error"], duration_ms=r["duration_ms"], size=r["size"], environment=r["environment"],
        request_id=r["request_id"], template=template,
        response=json.loads(r["response"]) if r["response"] else None,
        redacted=redacted_places(template),
    )


def parse_query(q: str) -> tuple[str, list[str | int]]:
    """Search words → SQL condition: a method, a status (``429``), a class (``4xx``), else URL text."""
    conds: list[str] = []
    args: list[str | int] = []
    for word in q.split():
        up = word.upper()
        if up in METHODS:
            conds.append("method = ?")
            args.append(up)
        elif re.fullmatch(r"[1-5]\d\d", word):
            conds.append("status = ?")
            args.append(int(word))
        elif re.fullmatch(r"[1-5][xX][xX]", word):
            base = int(word[0]) * 100
            conds.append("status >= ? AND status < ?")
            args += [base, base + 100]
        elif word.lower() in ("error", "failed"):
            conds.append("status IS NULL")
        else:
            conds.append("url LIKE ? ESCAPE '\\'")
            esc = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{esc}%")
    return (" AND ".join(conds) or "1"), args


class History:
    def __init__(self, path: str | Path | None = None, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = Path(path) if path is not None else default_path()
        appdirs.private_file(self.path, companions=appdirs.SQLITE_COMPANIONS)  # 0600 in a 0700 folder
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # a deleted row's bytes are overwritten, not left in free pages
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._db.close()

    # -- writing --------------------------------------------------------------------------------
    def record(
        self,
        template: RequestSpec,
        *,
        resolved: RequestSpec | None = None,
        exchange: Exchange | None = None,
        error: str | None = None,
        environment: str | None = None,
        secret_values: Iterable[str] = (),
        secret_names: Iterable[str] = (),
    ) -> HistoryEntry:
        """Store one sent request (redacted) and return the stored entry."""
        red = Redactor(secret_names, secret_values)
        resolved = resolved or template
        red.collect(resolved)
        red.collect(template)
        safe_template = red.spec(template)
        response = None
        status = size = None
        duration = None
        request_id = None
        if exchange is not None:
            status = exchange.status
            size = exchange.size
            duration = exchange.timing.total_ms
            request_id = exchange.request_id
            body = exchange.body[:BODY_KEEP].decode("utf-8", "replace")
            red.collect_body(body)  # a token endpoint's {"access_token": …} is a secret too
            response = {
                "status": exchange.status,
                "reason": exchange.reason,
                "http_version": exchange.http_version,
                "headers": [list(h) for h in red.headers(exchange.headers)],
                "sent_headers": [list(h) for h in red.headers(exchange.sent_headers)],
                "body": red.text(body),
                "body_truncated": len(exchange.body) > BODY_KEEP,
                "timing": exchange.timing.to_dict(),
                "remote": exchange.remote,
            }
        entry = HistoryEntry(
            id=None, created_at=time.time(), method=resolved.method.upper(),
            url=red.url(resolved.url), status=status, error=red.text(error) if error else None,
            duration_ms=duration, size=size, environment=environment, request_id=request_id,
            template=safe_template, response=response, redacted=redacted_places(safe_template),
        )
        entry.id = self._insert(entry)
        return entry

    def _insert(self, e: HistoryEntry) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO requests (created_at, method, url, status, error, duration_ms, size,"
                " environment, request_id, template, response) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (e.created_at, e.method, e.url, e.status, e.error, e.duration_ms, e.size, e.environment,
                 e.request_id, json.dumps(e.template.to_dict()),
                 json.dumps(e.response) if e.response is not None else None),
            )
            new_id = int(cur.lastrowid or 0)
            if self.max_entries and new_id % 50 == 0:  # prune now and then, not on every insert
                self._db.execute(
                    "DELETE FROM requests WHERE id <= (SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (self.max_entries,))
            return new_id

    def delete(self, entry_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM requests WHERE id = ?", (entry_id,))

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM requests")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")

    # -- reading --------------------------------------------------------------------------------
    def search(self, query: str = "", limit: int = 200) -> list[HistoryEntry]:
        """Newest first."""
        where, args = parse_query(query)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM requests WHERE {where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_row(r) for r in rows]

    def get(self, entry_id: int) -> HistoryEntry | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM requests WHERE id = ?", (entry_id,)).fetchone()
        return _row(r) if r is not None else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM requests").fetchone()[0])

    # -- export ---------------------------------------------------------------------------------
    def _entries(self, ids: Iterable[int] | None) -> list[HistoryEntry]:
        if ids is None:
            return list(reversed(self.search("", limit=self.max_entries or 100000)))
        return [e for e in (self.get(i) for i in ids) if e is not None]

    def export_json(self, ids: Iterable[int] | None = None, secret_names: Iterable[str] = (),
                    secret_values: Iterable[str] = ()) -> str:
        """The entries as JSON (oldest first), redacted once more on the way out."""
        red = Redactor(secret_names, secret_values)
        out = []
        for e in self._entries(ids):
            d = e.to_dict()
            d["url"] = red.url(e.url)
            d["request"] = red.spec(e.template).to_dict()
            out.append(d)
        return red.text(json.dumps({"format": "konnect-desktop-history", "version": 1, "requests": out},
                                   indent=2, ensure_ascii=False)) or ""

    def export_curl(self, ids: Iterable[int] | None = None, secret_names: Iterable[str] = (),
                    secret_values: Iterable[str] = ()) -> str:
        """The entries as a shell script of curl commands (``{{ variables }}`` left as typed)."""
        red = Redactor(secret_names, secret_values)
        blocks = []
        for e in self._entries(ids):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at))
            outcome = e.status if e.status is not None else "error"
            blocks.append(f"# {when} → {outcome}\n{to_curl(red.spec(e.template))}")
        return (red.text("\n\n".join(blocks)) or "") + "\n"

    # -- async ----------------------------------------------------------------------------------
    async def arecord(self, template: RequestSpec, **kw: Any) -> HistoryEntry:
        return await asyncio.to_thread(lambda: self.record(template, **kw))

    async def asearch(self, query: str = "", limit: int = 200) -> list[HistoryEntry]:
        return await asyncio.to_thread(self.search, query, limit)

    async def aget(self, entry_id: int) -> HistoryEntry | None:
        return await asyncio.to_thread(self.get, entry_id)
