"""The Auth tab's model: how a request proves who sends it, kept apart from the typed headers.

Kinds (``Auth.kind``):

* ``none`` — nothing added.
* ``apikey`` — ``name: value`` as a header, or ``name=value`` in the query (``location``). The
  default name is ``apikey``, Kong key-auth's default ``key_names``.
* ``bearer`` — ``Authorization: Bearer <token>``.
* ``basic`` — ``Authorization: Basic base64(user:password)``, what ``curl -u`` sends.

Values may hold ``{{variables}}`` (a secret variable keeps a token in the keyring); the
environment resolves them like any other field. ``apply`` turns the auth into the header or
query parameter it stands for, replacing a typed header/parameter of the same name — the Auth
tab wins, as it does in other API clients. ``from_header`` recognises the header forms again
(cURL import). Redaction lives in ``redact.py`` with every other secret.

Plain data, no Qt.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

AUTH_KINDS = ("none", "apikey", "bearer", "basic")
LOCATIONS = ("header", "query")
DEFAULT_KEY_NAME = "apikey"  # Kong key-auth's default key_names


@dataclass(frozen=True)
class Auth:
    kind: str = "none"
    name: str = DEFAULT_KEY_NAME  # apikey: header / parameter name
    value: str = ""  # apikey: the key; bearer: the token
    location: str = "header"  # apikey: header | query
    user: str = ""  # basic
    password: str = ""  # basic

    def canonical(self) -> Auth:
        """The one spelling: unused fields dropped; a bearer/API key without a value is no auth
        (nothing would be sent); Basic split at the first colon as the server will split it."""
        kind = self.kind if self.kind in AUTH_KINDS else "none"
        if kind == "apikey":
            value = self.value.strip()
            if not value:
                return NO_AUTH
            loc = self.location if self.location in LOCATIONS else "header"
            return Auth("apikey", self.name.strip() or DEFAULT_KEY_NAME, value, loc)
        if kind == "bearer":
            value = self.value.strip()
            return Auth("bearer", DEFAULT_KEY_NAME, value) if value else NO_AUTH
        if kind == "basic":
            user, _, password = f"{self.user}:{self.password}".partition(":")
            return Auth("basic", user=user, password=password)
        return NO_AUTH

    @property
    def active(self) -> bool:
        return self.canonical().kind != "none"

    def header(self) -> tuple[str, str] | None:
        """The header this auth sends, or None (query API key, no auth)."""
        a = self.canonical()
        if a.kind == "apikey" and a.location == "header":
            return (a.name, a.value)
        if a.kind == "bearer":
            return ("Authorization", f"Bearer {a.value}")
        if a.kind == "basic":
            cred = base64.b64encode(f"{a.user}:{a.password}".encode()).decode()
            return ("Authorization", f"Basic {cred}")
        return None

    def query_param(self) -> tuple[str, str] | None:
        a = self.canonical()
        if a.kind == "apikey" and a.location == "query":
            return (a.name, a.value)
        return None

    def texts(self) -> list[str]:
        """Every field a ``{{variable}}`` may sit in."""
        return [self.name, self.value, self.user, self.password]

    def summary(self) -> str:
        """Short label for the tab ("API key", "Bearer", "Basic")."""
        return {"apikey": "API key", "bearer": "Bearer", "basic": "Basic"}.get(self.canonical().kind, "")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "value": self.value, "location": self.location,
                "user": self.user, "password": self.password}

    @classmethod
    def from_dict(cls, d: object) -> Auth:
        if not isinstance(d, dict):
            return NO_AUTH
        return cls(str(d.get("kind") or "none"), str(d.get("name") or DEFAULT_KEY_NAME), str(d.get("value") or ""),
                   str(d.get("location") or "header"), str(d.get("user") or ""), str(d.get("password") or ""))


NO_AUTH = Auth()


def from_header(name: str, value: str) -> Auth | None:
    """The auth a typed header expresses, if it is one the Auth tab writes exactly so:
    ``Authorization: Bearer <token>``, ``Authorization: Basic <base64 of user:password>``,
    ``apikey: <key>``. None otherwise (the header then stays a header)."""
    n, v = name.strip().lower(), value.strip()
    if n == "authorization":
        scheme, sp, cred = v.partition(" ")
        if not sp or not cred or cred != cred.strip():
            return None
        if scheme == "Bearer":
            return Auth("bearer", value=cred)
        if scheme == "Basic":
            try:
                raw = base64.b64decode(cred, validate=True)
                plain = raw.decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            if ":" not in plain or base64.b64encode(raw).decode() != cred:
                return None
            user, _, password = plain.partition(":")
            return Auth("basic", user=user, password=password)
        return None
    if n == DEFAULT_KEY_NAME and v:
        return Auth("apikey", name.strip(), v, "header")
    return None
