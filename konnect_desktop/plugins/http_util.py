"""Small HTTP helpers the bundled plugins share: Kong's header-name rule, ``name:value`` config
entries, Lua-style argument tables (query strings and form bodies), bodies as tables
(``kong.request.get_body``; multipart through ``plugins.multipart``, the one multipart parser), and
the request-body reader key-auth and request-transformer use.

Arguments are handled the way OpenResty hands them to Kong's plugins: a table from name to a
string, a list of strings (the name was repeated) or ``True`` (a bare ``?flag``). Keeping that
shape lets the plugins follow Kong's rules literally (e.g. "add only if absent", "append turns a
value into a list").
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote, unquote_plus

from multidict import MultiDict, MultiMapping, MutableMultiMapping

from ..jsontypes import JSONArray, JSONObject, JSONValue
from ..model.typedefs import header_name_error, url_error
from .multipart import Multipart

UNEXPECTED = "An unexpected error occurred"

# -- headers --------------------------------------------------------------------------------------
_HEADER_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def request_header(headers: MultiMapping[str], name: str) -> list[str]:
    """The values of request header ``name`` as Kong's ``kong.request.get_headers()[name]`` finds
    them: case-insensitive, and a name with underscores also finds its dashed spelling
    (``api_key`` finds ``api-key``), as nginx's header table does."""
    values = headers.getall(name, [])  # (a new list: the caller's own)
    if not values and "_" in name:
        values = headers.getall(name.replace("_", "-"), [])
    return values


def clear_request_header(headers: MutableMultiMapping[str], name: str) -> None:
    """Kong's ``kong.service.request.clear_header``: the header under both spellings (nginx turns
    underscores into dashes; a header sent with underscores goes too)."""
    headers.popall(name, None)
    if "_" in name:
        headers.popall(name.replace("_", "-"), None)


def request_cookie(header: str | None, name: str) -> str | None:
    """nginx's ``$cookie_<name>``: the first cookie of that name in a Cookie header."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def is_header_name(name: str) -> bool:
    return bool(_HEADER_NAME.match(name))


def is_header_value(value: str) -> bool:
    """No control characters (CR/LF would split the header); tabs are allowed."""
    return _BAD_VALUE.search(value) is None


def url_userinfo(value: str) -> str | None:
    """The ``user:password`` part of a URL, if any."""
    m = _URL.match(value)
    return m.group(2) if m else None


# scheme, userinfo, host[:port]
_URL = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?://(?:([^/?#@]*)@)?([^/?#]*))?")


# -- "name:value" entries -------------------------------------------------------------------------
_ENTRY = re.compile(r"^([^:]+):*(.*)$", re.S)


def split_entry(entry: str) -> tuple[str | None, str]:
    """Split a config entry as Kong's ``^([^:]+):*(.-)$`` does: the name runs to the first colon,
    then every colon directly after it is dropped; the rest (further colons included) is the
    value. ``"h2:value:2"`` → ``("h2", "value:2")``; an entry starting with ``:`` has no name."""
    m = _ENTRY.match(entry)
    if not m:
        return None, ""
    return m.group(1), m.group(2)


# -- argument tables (query strings, url-encoded forms) -------------------------------------------
# a query or form argument: its value (True for a bare key ``?a``), or the values of a repeated one
ArgValue = str | bool | list[str | bool]
Args = dict[str, ArgValue]


def decode_args(text: str | bytes, plus_as_space: bool = True) -> Args:
    """``ngx.decode_args``: ``a=1&a=2&b&c=%20`` → ``{"a": ["1", "2"], "b": True, "c": " "}``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out: Args = {}
    unq = unquote_plus if plus_as_space else unquote
    for piece in text.split("&"):
        if not piece:
            continue
        if "=" in piece:
            k, v = piece.split("=", 1)
            key: str = unq(k)
            val: str | bool = unq(v)
        else:
            key, val = unq(piece), True
        if key == "":
            continue
        if key in out:
            cur = out[key]
            out[key] = [*cur, val] if isinstance(cur, list) else [cur, val]
        else:
            out[key] = val
    return out


def _esc(s: str) -> str:
    return quote(s, safe="")


def encode_form(args: Args) -> str:
    """``ngx.encode_args`` for a form body (keys in table order, repeated keys for lists)."""
    parts: list[str] = []
    for k, v in args.items():
        for item in v if isinstance(v, list) else [v]:
            if item is True:
                parts.append(_esc(k))
            elif item is False or item is None:
                continue
            else:
                parts.append(f"{_esc(k)}={_esc(str(item))}")
    return "&".join(parts)


def args_from_multidict(md: MultiDict[str]) -> Args:
    """A request's query as the Lua table ``kong.request.get_query()`` returns."""
    out: Args = {}
    for k, v in md.items():
        if k in out:
            cur = out[k]
            out[k] = [*cur, v] if isinstance(cur, list) else [cur, v]
        else:
            out[k] = v
    return out


def multidict_from_args(args: Args) -> MultiDict[str]:
    """Back to the upstream query, keys sorted as ``kong.service.request.set_query`` sends them
    (a bare flag becomes an empty value)."""
    md: MultiDict[str] = MultiDict()
    for k in sorted(args):
        v = args[k]
        for item in v if isinstance(v, list) else [v]:
            if item is False or item is None:
                continue
            md.add(k, "" if item is True else str(item))
    return md


def append_value(current: ArgValue | None, value: str) -> JSONArray:
    """Kong's ``append_value``: a string becomes ``[old, new]``, a list grows, nothing → ``[new]``."""
    if isinstance(current, list):
        return [*current, value]
    if isinstance(current, str):
        return [current, value]
    return [value]


# -- content types --------------------------------------------------------------------------------
JSON, MULTIPART, FORM = "json", "multipart", "form"


def content_kind(content_type: str | None) -> str | None:
    """Which body format a Content-Type names (substring match, as Kong's transformer does)."""
    if not content_type:
        return None
    ct = content_type.lower()
    if "application/json" in ct:
        return JSON
    if "multipart/form-data" in ct:
        return MULTIPART
    if "application/x-www-form-urlencoded" in ct:
        return FORM
    return None


def json_dumps(value: JSONValue) -> bytes:
    """Compact JSON like cjson writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_body(body: bytes, content_type: str | None) -> JSONObject | None:
    """``kong.request.get_body()``: a form, JSON object or multipart body as a table; None when
    the body is empty, malformed or of another type."""
    kind = content_kind(content_type)
    if kind == FORM:
        return decode_args(body)
    if kind == JSON:
        if not body:
            return None
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None
    if kind == MULTIPART:
        mp = Multipart.parse(body, content_type or "")
        if mp is None:
            return None
        out: JSONObject = {}
        for name, _h, content in mp.parts:
            if name is None:
                continue
            text = content.decode("utf-8", "replace")
            if name in out:
                cur = out[name]
                out[name] = [*cur, text] if isinstance(cur, list) else [cur, text]
            else:
                out[name] = text
        return out
    return None


def serialize_body(table: JSONObject, content_type: str | None, original: bytes) -> bytes:
    """``kong.service.request.set_body``: the table written back in the request's own format."""
    kind = content_kind(content_type)
    if kind == FORM:
        return encode_form(table).encode("utf-8")
    if kind == JSON:
        return json_dumps(table)
    if kind == MULTIPART:
        mp = Multipart.parse(original, content_type or "")
        if mp is None:
            return original
        keep = set(table)
        mp.parts = [p for p in mp.parts if p.name is None or p.name in keep]
        return mp.to_bytes()
    return original


__all__ = [
    "request_cookie",
    "UNEXPECTED", "header_name_error", "url_error", "url_userinfo", "request_header", "clear_request_header",
    "is_header_name", "is_header_value", "split_entry",
    "decode_args", "encode_form", "args_from_multidict", "multidict_from_args", "append_value",
    "content_kind", "json_dumps", "Multipart", "parse_body", "serialize_body", "JSON", "MULTIPART",
    "FORM",
]
