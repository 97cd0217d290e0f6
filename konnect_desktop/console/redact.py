"""Which parts of a request are secret, and how they are blanked before anything is stored.

Secret by name: ``Authorization``, ``Proxy-Authorization``, ``Cookie``/``Set-Cookie``, API-key
headers (``apikey``, ``x-api-key`` … and the key names the local runtime's key-auth plugins
use), any header that looks like one (``X-Custom-Auth``, ``*-Token``, ``*-Key``, ``*-Secret``,
``*-Signature``…), anything called *token*, *secret* or *password*; query, form and JSON fields
such as ``apikey=``, ``key=``, ``token=``, ``access_token=``, ``client_secret=`` — in typed
JSON/form bodies and in raw bodies that hold JSON or a form (request and response alike).
Secret by value: the values of secret environment variables, the credentials stored in the local
runtime (``runtime_secrets``) and every value found under a secret name — those are scrubbed
from any text (URLs, response headers, response bodies that echo them back), in their plain,
URL-encoded and JSON-escaped spellings.

``Redactor`` is used at the storage boundary (history) and by every export, so no caller can
forget it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from ..credentials import SECRET_HEADERS, SECRET_PARAMS, mask_text
from ..credentials import SECRET_NAME_WORDS as _WORDS
from .auth import Auth
from .request import FormField, RequestSpec, query_pairs, set_query

if TYPE_CHECKING:
    from ..runtime.store import Store

REDACTED = "REDACTED"

# header names are freer than field names: anything auth-looking (X-Custom-Auth, X-Client-Key)
_HEADER_WORDS = re.compile(r"auth|cookie|(?:^|[-_])key$", re.I)
_FORM_BODY = re.compile(r"[^\s=&]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)*")
_MIN_SCRUB = 3  # shorter values would blank ordinary characters in stored text


class Redactor:
    """Decides what is secret and blanks it. ``extra_names``: more header/param names (e.g. the
    runtime's key-auth ``key_names``); ``secret_values``: values to scrub wherever they appear."""

    def __init__(self, extra_names: Iterable[str] = (), secret_values: Iterable[str] = ()) -> None:
        self.extra = {n.strip().lower() for n in extra_names if n and n.strip()}
        self.values: set[str] = {v for v in secret_values if isinstance(v, str) and v}

    # -- names ----------------------------------------------------------------------------------
    def secret_header(self, name: str) -> bool:
        n = name.strip().lower()
        return n in SECRET_HEADERS or n in self.extra or bool(_WORDS.search(n) or _HEADER_WORDS.search(n))

    def secret_param(self, name: str) -> bool:
        n = name.strip().lower()
        return n in SECRET_PARAMS or n in self.extra or bool(_WORDS.search(n))

    # -- values ---------------------------------------------------------------------------------
    def _add_header_value(self, value: str) -> None:
        v = value.strip()
        if not v:
            return
        self.values.add(v)
        scheme, _, cred = v.partition(" ")
        if cred.strip():
            cred = cred.strip()
            self.values.add(cred)
            if scheme.lower() == "basic":
                try:
                    plain = base64.b64decode(cred, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    plain = ""
                if plain:
                    self.values.add(plain)
                    user, _, pw = plain.partition(":")
                    if pw:
                        self.values.add(pw)
        # cookies: every cookie value
        if ";" in v or "=" in v:
            for part in v.split(";"):
                _, eq, cv = part.partition("=")
                if eq and cv.strip():
                    self.values.add(cv.strip())

    def collect(self, spec: RequestSpec) -> RequestSpec:
        """Remember the secret values ``spec`` carries (so ``text`` scrubs them); returns spec."""
        for k, v in spec.headers:
            if self.secret_header(k):
                self._add_header_value(v)
        for k, v in query_pairs(spec.url):
            if self.secret_param(k) and v:
                self.values.add(v)
        for f in spec.form:
            if not f.file and self.secret_param(f.name) and f.value:
                self.values.add(f.value)
        # the Auth tab's values are secret whatever the key is called: remember them the way the
        # header they become would be remembered (Basic: the credential, user:password, password)
        a = spec.auth.canonical()
        hdr = a.header()
        if hdr is not None:
            self._add_header_value(hdr[1])
        if a.kind == "apikey":
            self.extra.add(a.name.lower())  # its own name is secret too (sent headers, URLs)
        if a.kind in ("apikey", "bearer"):
            self.values.add(a.value)
        elif a.kind == "basic" and a.password:
            self.values.add(a.password)
        if spec.body:
            self.collect_body(spec.body)
        return spec

    def collect_body(self, text: str | None) -> None:
        """Remember the secret fields' values of a body whatever it was labelled: JSON
        (``{"token": …}``) or a url-encoded form (``client_secret=…``); other text is left to
        the values already known."""
        body = (text or "").strip()
        if not body:
            return
        if body[:1] in "{[":
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            self.values.update(self._json_secrets(doc))
        elif _FORM_BODY.fullmatch(body):
            for k, v in parse_qsl(body, keep_blank_values=True):
                if v and self.secret_param(k):
                    self.values.add(v)

    def _json_secrets(self, doc: object, depth: int = 0) -> list[str]:
        out: list[str] = []
        if depth > 20:
            return out
        if isinstance(doc, dict):
            for k, v in doc.items():
                if isinstance(v, str) and self.secret_param(str(k)) and v:
                    out.append(v)
                else:
                    out.extend(self._json_secrets(v, depth + 1))
        elif isinstance(doc, list):
            for v in doc:
                out.extend(self._json_secrets(v, depth + 1))
        return out

    def _variants(self) -> list[str]:
        out: set[str] = set()
        for v in self.values:
            if len(v) < _MIN_SCRUB:
                continue
            out.add(v)
            out.add(quote(v, safe=""))
            out.add(quote_plus(v))
            out.add(json.dumps(v)[1:-1])
        return sorted(out, key=len, reverse=True)  # longest first: one may contain another

    def text(self, s: str | None) -> str | None:
        """``s`` with every known secret value (any spelling) replaced and token-looking words masked."""
        if not s:
            return s
        for v in self._variants():
            if v in s:
                s = s.replace(v, REDACTED)
        return mask_text(s)

    def url(self, url: str) -> str:
        """Secret query parameters blanked, then known values scrubbed."""
        pairs = query_pairs(url)
        if any(self.secret_param(k) for k, _ in pairs):
            url = set_query(url, [(k, REDACTED if self.secret_param(k) and v else v) for k, v in pairs])
        try:
            parts = urlsplit(url)
            if parts.password:
                url = url.replace(f":{parts.password}@", f":{REDACTED}@", 1)
        except ValueError:
            pass
        return self.text(url) or url

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for k, v in headers:
            if self.secret_header(k) and v:
                scheme, sp, cred = v.strip().partition(" ")
                keep = sp and scheme.lower() in ("bearer", "basic", "digest", "token", "apikey")
                out.append((k, f"{scheme} {REDACTED}" if keep else REDACTED))
            else:
                out.append((k, self.text(v) or v))
        return out

    def spec(self, spec: RequestSpec) -> RequestSpec:
        """A copy of ``spec`` with its secrets blanked (``{{ variables }}`` stay as typed)."""
        self.collect(spec)
        body = spec.body
        if spec.body_kind == "json" and body:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if doc is not None:
                body = json.dumps(self._blank_json(doc), ensure_ascii=False)
        form = [
            FormField(f.name, REDACTED if (not f.file and self.secret_param(f.name) and f.value) else (self.text(f.value) or f.value), f.file)
            for f in spec.form
        ]
        return RequestSpec(spec.method, self.url(spec.url), self.headers(spec.headers), spec.body_kind,
                           self.text(body) or body, form, self.auth(spec.auth))

    def auth(self, auth: Auth) -> Auth:
        """The Auth tab blanked like a typed secret header: the key or token REDACTED; for Basic
        the user name stays (it names who, not how) and the password is REDACTED."""
        a = auth.canonical()
        if a.kind in ("apikey", "bearer"):
            return replace(a, value=REDACTED)
        if a.kind == "basic":
            return replace(a, user=self.text(a.user) or a.user, password=REDACTED if a.password else "")
        return a

    def _blank_json(self, doc: object, depth: int = 0) -> object:
        if depth > 20:
            return doc
        if isinstance(doc, dict):
            return {k: (REDACTED if isinstance(v, str) and v and self.secret_param(str(k)) else self._blank_json(v, depth + 1))
                    for k, v in doc.items()}
        if isinstance(doc, list):
            return [self._blank_json(v, depth + 1) for v in doc]
        return doc


# credential fields the local runtime stores (schema fields marked secret); key-auth's key names
def runtime_secrets(store: Store) -> tuple[list[str], list[str]]:
    """(names, values) to redact for a local runtime's ``store``: the header/query/cookie names
    its auth plugins read credentials from (key-auth ``key_names``, jwt's parameter, header and
    cookie names, oauth2's ``auth_header_name``, session's cookie names), and every stored
    credential secret (key-auth keys, basic-auth password hashes, JWT and HMAC secrets, oauth2
    client secrets and the tokens the runtime issued), so a response echoing one never reaches
    the history."""
    from ..model.entities import CREDENTIAL_TABLES, ENTITIES, RUNTIME_TABLES

    names: list[str] = []
    name_fields = {"key-auth": ("key_names",), "jwt": ("uri_param_names", "header_names", "cookie_names"),
                   "oauth2": ("auth_header_name",), "session": ("cookie_name", "remember_cookie_name")}
    for p in store.all("plugins"):
        config = p.get("config") or {}
        for field in name_fields.get(str(p.get("name")), ()):
            value = config.get(field)
            names += [n for n in (value if isinstance(value, list) else [value]) if isinstance(n, str) and n]
    values: list[str] = []
    for table in (*CREDENTIAL_TABLES, *RUNTIME_TABLES):
        edef = ENTITIES.get(table)
        if edef is None:
            continue
        secret_fields = [fname for fname, f in edef.schema.fields if getattr(f, "secret", False)]
        if not secret_fields:
            continue
        for row in store.all(table):
            values += [row[f] for f in secret_fields if isinstance(row.get(f), str) and row[f]]
    return names, values


def redacted_places(spec: RequestSpec) -> list[str]:
    """Where a stored request had a secret blanked ("header Authorization", "query apikey")."""
    out = [f"header {k}" for k, v in spec.headers if REDACTED in v]
    out += [f"query {k}" for k, v in query_pairs(spec.url) if v == REDACTED]
    out += [f"form field {f.name}" for f in spec.form if f.value == REDACTED]
    if REDACTED in spec.body:
        out.append("body")
    if REDACTED in (spec.auth.value, spec.auth.password):
        out.append(f"auth {spec.auth.summary() or spec.auth.kind}")
    return out
