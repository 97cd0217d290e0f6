"""A request as the console edits it: method, URL (query included), headers and one body.

``RequestSpec`` is plain data: the editors fill it, environments resolve its ``{{ variables }}``,
the sender sends it, history stores it (redacted), and cURL reads and writes it. Two specs that
would put the same request on the wire compare equal once ``canonical()`` has been applied —
which is the shape every producer (editors, cURL import, history) hands out.

Body kinds:

* ``none`` — no body.
* ``json`` — ``body`` is JSON text. Like curl's ``--json``, ``Content-Type`` and ``Accept`` are
  ``application/json`` unless the headers say otherwise.
* ``form`` — ``form`` fields, sent ``application/x-www-form-urlencoded``.
* ``multipart`` — ``form`` fields, some of them files (``FormField.file``: ``value`` is a path),
  sent ``multipart/form-data``.
* ``raw`` — ``body`` text sent as it is, with whatever ``Content-Type`` the headers give (none
  when they give none).

``auth`` (the Auth tab, ``auth.py``) stays its own field through editing, history and cURL;
``applied()`` is the request as it goes on the wire, the auth turned into its header or query
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from ..jsontypes import JSONObject
from .auth import NO_AUTH, Auth

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
BODY_KINDS = ("none", "json", "form", "multipart", "raw")

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


@dataclass(frozen=True)
class FormField:
    """One form field; for multipart bodies ``file=True`` means ``value`` is a file's path."""

    name: str
    value: str
    file: bool = False


@dataclass
class RequestSpec:
    method: str = "GET"
    url: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_kind: str = "none"
    body: str = ""  # json / raw
    form: list[FormField] = field(default_factory=list)  # form / multipart
    auth: Auth = NO_AUTH

    # -- headers -------------------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        """The first header ``name`` (case-insensitive) or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def content_type(self) -> str | None:
        """The Content-Type the request goes out with (explicit header, else the body kind's)."""
        explicit = self.header("content-type")
        if explicit is not None:
            return explicit
        return {"json": JSON_TYPE, "form": FORM_TYPE, "multipart": MULTIPART_TYPE}.get(self.body_kind)

    # -- shape ---------------------------------------------------------------------------------
    def canonical(self) -> RequestSpec:
        """The one spelling of this request (see the module docstring)."""
        method = (self.method or "GET").strip().upper() or "GET"
        kind = self.body_kind if self.body_kind in BODY_KINDS else "raw"
        headers = [(k.strip(), v.strip()) for k, v in self.headers]
        body, form = self.body, list(self.form)
        ct = next((v for k, v in headers if k.lower() == "content-type"), None)
        if kind in ("json", "raw"):
            form = []
            if body == "":
                kind = "none"
            elif ct is not None:
                kind = "json" if is_json_type(ct) else "raw"
        elif kind in ("form", "multipart"):
            body = ""
            if kind == "form":
                form = [FormField(f.name, f.value) for f in form]
                if form and ct is not None and ct.split(";")[0].strip().lower() != FORM_TYPE:
                    # fields sent under another type are just text
                    kind, body, form = "raw", encode_form([(f.name, f.value) for f in form]), []
            else:
                # the boundary comes from the encoder; a bare multipart type would hide it
                headers = [(k, v) for k, v in headers if not (k.lower() == "content-type" and "boundary=" not in v)]
            if kind != "raw" and not form:
                kind = "none"
        if kind == "none":
            body, form = "", []
        if kind == "json" and ct is None:
            # implied by a JSON body, like curl --json
            headers = [(k, v) for k, v in headers if not (k.lower() == "accept" and v == JSON_TYPE)]
        return RequestSpec(method, self.url.strip(), headers, kind, body, form, self.auth.canonical())

    def applied(self) -> RequestSpec:
        """The request as sent: the auth written into its header (replacing typed headers of that
        name) or query parameter (replacing parameters of that name); ``auth`` then none."""
        a = self.auth.canonical()
        if a.kind == "none":
            return replace(self, auth=NO_AUTH)
        headers, url = list(self.headers), self.url
        hdr = a.header()
        if hdr is not None:
            low = hdr[0].lower()
            headers = [(k, v) for k, v in headers if k.strip().lower() != low] + [hdr]
        qp = a.query_param()
        if qp is not None:
            pairs = query_pairs(url)
            if any(k == qp[0] for k, _ in pairs):
                url = set_query(url, [(k, v) for k, v in pairs if k != qp[0]] + [qp])
            else:
                # append without re-spelling the rest of the query as typed
                base, hash_, frag = url.partition("#")
                sep = "&" if "?" in base and not base.endswith(("?", "&")) else "" if "?" in base else "?"
                url = f"{base}{sep}{encode_component(qp[0])}={encode_component(qp[1])}{hash_}{frag}"
        return replace(self, headers=headers, url=url, auth=NO_AUTH)

    def with_(self, **changes: Any) -> RequestSpec:
        return replace(self, **changes)

    # -- query (kept inside the URL; the Params editor is a view of it) --------------------------
    def query(self) -> list[tuple[str, str]]:
        return query_pairs(self.url)

    def with_query(self, pairs: list[tuple[str, str]]) -> RequestSpec:
        return replace(self, url=set_query(self.url, pairs))

    # -- storage -------------------------------------------------------------------------------
    def to_dict(self) -> JSONObject:
        return {
            "method": self.method,
            "url": self.url,
            "headers": [[k, v] for k, v in self.headers],
            "body_kind": self.body_kind,
            "body": self.body,
            "form": [{"name": f.name, "value": f.value, "file": f.file} for f in self.form],
            "auth": self.auth.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: JSONObject) -> RequestSpec:
        return cls(
            method=str(d.get("method") or "GET"),
            url=str(d.get("url") or ""),
            headers=[(str(k), str(v)) for k, v in d.get("headers") or []],
            body_kind=str(d.get("body_kind") or "none"),
            body=str(d.get("body") or ""),
            form=[FormField(str(f.get("name", "")), str(f.get("value", "")), bool(f.get("file")))
                  for f in d.get("form") or []],
            auth=Auth.from_dict(d.get("auth")),
        )


def is_json_type(ct: str | None) -> bool:
    if not ct:
        return False
    main = ct.split(";", 1)[0].strip().lower()
    return main == JSON_TYPE or (main.startswith("application/") and main.endswith("+json"))


def query_pairs(url: str) -> list[tuple[str, str]]:
    """The URL's query as decoded pairs (``{{ templates }}`` inside are kept as typed)."""
    q = url.partition("?")[2].partition("#")[0]
    return parse_qsl(q, keep_blank_values=True) if q else []


def _enc(s: str) -> str:
    # what curl_easy_escape does: everything but ALPHA / DIGIT / - . _ ~ percent-encoded (UTF-8)
    return quote(s, safe="")


def encode_form(pairs: list[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` exactly as curl's ``--data-urlencode`` spells it."""
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs)


def encode_component(s: str) -> str:
    # keep template braces readable in the URL field; everything else unreserved-only
    return quote(s, safe="{}$ ").replace(" ", "%20")


def set_query(url: str, pairs: list[tuple[str, str]]) -> str:
    """``url`` with its query replaced by ``pairs`` (fragment kept)."""
    base, _, rest = url.partition("?")
    frag = ""
    if "#" in (rest if rest else base):
        if rest:
            rest, _, frag = rest.partition("#")
        else:
            base, _, frag = base.partition("#")
    q = "&".join(f"{encode_component(k)}={encode_component(v)}" for k, v in pairs)
    out = base + (f"?{q}" if q else "")
    return out + (f"#{frag}" if frag else "")


def path_of(url: str) -> str:
    """Path + query of a URL ("/echo?x=1")."""
    try:
        p = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(("", "", p.path or "/", p.query, ""))
