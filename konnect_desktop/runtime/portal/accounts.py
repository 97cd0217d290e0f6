"""The Dev Portal's own data: developer accounts, their applications and registrations.

Kept in side tables of the runtime's SQLite file (``x_portal_*``, see ``Store.side_write``), next
to the catalog. Passwords are hashed with Argon2id (argon2-cffi's defaults); the key an approved
registration gets is never stored here -- it is a key-auth credential of the registration's
consumer. It is kept here (``fresh_key``, in the same private file as the credential itself)
only until the developer's next page shows it once; after that only a re-generated key is shown.

A registration is ``pending`` (manual approval), ``approved`` (it has a consumer), ``rejected``
or ``revoked`` (its consumer deleted). Every query that returns apps or registrations takes the
developer's id, so one developer never sees another's.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ...errors import AppError
from ...jsontypes import JSONObject
from ..store import Store

_DDL = (
    """CREATE TABLE IF NOT EXISTS x_portal_developers (
      id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
      password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS x_portal_apps (
      id TEXT PRIMARY KEY,
      developer_id TEXT NOT NULL REFERENCES x_portal_developers(id) ON DELETE CASCADE,
      name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
      UNIQUE (developer_id, name))""",
    """CREATE TABLE IF NOT EXISTS x_portal_registrations (
      id TEXT PRIMARY KEY,
      app_id TEXT NOT NULL REFERENCES x_portal_apps(id) ON DELETE CASCADE,
      version_id TEXT NOT NULL REFERENCES x_product_versions(id) ON DELETE CASCADE,
      status TEXT NOT NULL, consumer_id TEXT, fresh_key TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      UNIQUE (app_id, version_id))""",
    """CREATE TABLE IF NOT EXISTS x_portal_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
)

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")
APP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
MIN_PASSWORD = 10
SETTINGS_DEFAULTS = {"title": "Developer Portal", "accent": "#1155cb", "background": "#f7f8fa", "logo": ""}
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class FormError(AppError, ValueError):
    """Bad input on a portal form: ``field`` names the input, the message says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Accounts:
    """Developers, apps, registrations and portal settings of one runtime's store."""

    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        with store.side_write() as w:
            for stmt in _DDL:
                w.execute(stmt)

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self.store.side_read() as r:
            row: tuple[Any, ...] | None = r.execute(sql, args).fetchone()  # sqlite3 rows are untyped
            return row

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.store.side_read() as r:
            return r.execute(sql, args).fetchall()

    # -- developers ---------------------------------------------------------------------------
    def sign_up(self, email: str, name: str, password: str) -> str:
        email, name = email.strip(), name.strip()
        if not EMAIL_RE.match(email):
            raise FormError("email", "Enter an e-mail address like dev@example.com.")
        if not name or len(name) > 100:
            raise FormError("name", "Enter your name (up to 100 characters).")
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            raise FormError("password", f"Choose a password of at least {MIN_PASSWORD} characters.")
        did = str(uuid.uuid4())
        digest = self.hasher.hash(password)
        with self.store.side_write(on_duplicate=lambda: FormError("email", "An account with this e-mail address exists; log in instead.")) as w:
            w.execute("INSERT INTO x_portal_developers VALUES (?, ?, ?, ?, ?)",
                      (did, email, name, digest, int(time.time())))
        return did

    def log_in(self, email: str, password: str) -> str:
        """The developer's id, or FormError (the same message whether the e-mail or the password
        was wrong, and a hash is verified either way, so neither is revealed)."""
        row = self._one("SELECT id, password_hash FROM x_portal_developers WHERE email = ?", (email.strip(),))
        digest = row[1] if row else _dummy_hash()
        try:
            self.hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            row = None
        if row is None:
            raise FormError("password", "Wrong e-mail address or password.")
        return str(row[0])

    def developer(self, developer_id: str) -> JSONObject | None:
        row = self._one("SELECT id, email, name FROM x_portal_developers WHERE id = ?", (developer_id,))
        return {"id": row[0], "email": row[1], "name": row[2]} if row else None

    # -- apps ---------------------------------------------------------------------------------
    def create_app(self, developer_id: str, name: str, description: str = "") -> str:
        name = name.strip()
        if not APP_NAME_RE.match(name):
            raise FormError("name", "Name the application with 1-63 letters, digits, spaces, '.', '_' or '-'.")
        if len(description) > 500:
            raise FormError("description", "Keep the description under 500 characters.")
        aid = str(uuid.uuid4())
        with self.store.side_write(on_duplicate=lambda: FormError("name", f"You already have an application named {name!r}.")) as w:
            w.execute("INSERT INTO x_portal_apps VALUES (?, ?, ?, ?, ?)",
                      (aid, developer_id, name, description.strip(), int(time.time())))
        return aid

    def apps(self, developer_id: str) -> list[JSONObject]:
        rows = self._all("SELECT id, name, description FROM x_portal_apps WHERE developer_id = ? ORDER BY name",
                         (developer_id,))
        return [{"id": r[0], "name": r[1], "description": r[2]} for r in rows]

    def app(self, developer_id: str, app_id: str) -> JSONObject | None:
        row = self._one("SELECT id, name, description FROM x_portal_apps WHERE id = ? AND developer_id = ?",
                        (app_id, developer_id))
        return {"id": row[0], "name": row[1], "description": row[2]} if row else None

    # -- registrations ------------------------------------------------------------------------
    _REG_COLS = ("r.id, r.app_id, r.version_id, r.status, r.consumer_id, r.created_at, a.name, a.developer_id, "
                 "v.version, p.name, d.email")
    _REG_FROM = ("x_portal_registrations r JOIN x_portal_apps a ON a.id = r.app_id "
                 "JOIN x_product_versions v ON v.id = r.version_id JOIN x_products p ON p.id = v.product_id "
                 "JOIN x_portal_developers d ON d.id = a.developer_id")

    @staticmethod
    def _reg(row: tuple[Any, ...]) -> JSONObject:
        keys = ("id", "app_id", "version_id", "status", "consumer_id", "created_at", "app_name", "developer_id",
                "version", "product", "developer_email")
        return dict(zip(keys, row, strict=True))

    def new_registration(self, app_id: str, version_id: str) -> str:
        rid, now = str(uuid.uuid4()), int(time.time())
        with self.store.side_write(on_duplicate=lambda: FormError("version", "This application already asked for this version.")) as w:
            w.execute("INSERT INTO x_portal_registrations VALUES (?, ?, ?, 'pending', NULL, NULL, ?, ?)",
                      (rid, app_id, version_id, now, now))
        return rid

    def set_status(self, registration_id: str, status: str, consumer_id: str | None,
                   fresh_key: str | None = None) -> None:
        with self.store.side_write() as w:
            w.execute("UPDATE x_portal_registrations SET status = ?, consumer_id = ?, fresh_key = ?, updated_at = ? "
                      "WHERE id = ?", (status, consumer_id, fresh_key, int(time.time()), registration_id))

    def set_fresh_key(self, registration_id: str, key: str | None) -> None:
        with self.store.side_write() as w:
            w.execute("UPDATE x_portal_registrations SET fresh_key = ? WHERE id = ?", (key, registration_id))

    def take_fresh_keys(self, developer_id: str) -> dict[str, str]:
        """The keys approved since this developer last looked (registration id → key), cleared
        as they are returned: each is shown once."""
        with self.store.side_write() as w:
            rows = w.execute("SELECT r.id, r.fresh_key FROM x_portal_registrations r JOIN x_portal_apps a "
                             "ON a.id = r.app_id WHERE a.developer_id = ? AND r.fresh_key IS NOT NULL",
                             (developer_id,)).fetchall()
            for rid, _key in rows:
                w.execute("UPDATE x_portal_registrations SET fresh_key = NULL WHERE id = ?", (rid,))
        return {rid: key for rid, key in rows}

    def registration(self, registration_id: str) -> JSONObject | None:
        row = self._one(f"SELECT {self._REG_COLS} FROM {self._REG_FROM} WHERE r.id = ?", (registration_id,))
        return self._reg(row) if row else None

    def registrations(self, *, developer_id: str | None = None, status: str | None = None) -> list[JSONObject]:
        conds, args = [], []
        if developer_id is not None:
            conds.append("a.developer_id = ?")
            args.append(developer_id)
        if status is not None:
            conds.append("r.status = ?")
            args.append(status)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        rows = self._all(f"SELECT {self._REG_COLS} FROM {self._REG_FROM}{where} ORDER BY r.created_at, r.id",
                         tuple(args))
        return [self._reg(r) for r in rows]

    # -- settings (title, logo, colours) ------------------------------------------------------
    def settings(self) -> dict[str, str]:
        out = dict(SETTINGS_DEFAULTS)
        for k, v in self._all("SELECT key, value FROM x_portal_settings"):
            if k in out:
                out[k] = v
        return out

    def update_settings(self, values: dict[str, str]) -> dict[str, str]:
        for k, v in values.items():
            if k not in SETTINGS_DEFAULTS:
                raise FormError(k, f"unknown portal setting {k!r}")
            if k in ("accent", "background") and not COLOUR_RE.match(v):
                raise FormError(k, f"{k}: expected a colour like #1155cb")
            if k == "title" and not (0 < len(v.strip()) <= 80):
                raise FormError(k, "title: 1-80 characters")
            if k == "logo" and v and not (v.startswith("data:image/png;base64,") or v.startswith("data:image/svg+xml;base64,")) :
                raise FormError(k, "logo: a PNG or SVG image (data: URL)")
        with self.store.side_write() as w:
            for k, v in values.items():
                w.execute("INSERT OR REPLACE INTO x_portal_settings VALUES (?, ?)", (k, v.strip()))
        return self.settings()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so a failed log-in costs the same either way
    (made on first use: hashing costs tens of milliseconds by design)."""
    return PasswordHasher().hash("not a password of anyone")


__all__ = ["Accounts", "FormError", "MIN_PASSWORD", "SETTINGS_DEFAULTS"]
