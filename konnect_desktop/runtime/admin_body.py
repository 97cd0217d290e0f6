"""Request bodies of the Admin API: JSON, url-encoded forms and multipart, read as Kong reads them.

Kong accepts entity bodies in three encodings and clients use all of them (curl scripts post
forms, decK and most libraries post JSON, some upload files as multipart; multipart is read by
``plugins.multipart``, the one parser the proxy's plugins use too). Form fields are flat
strings, so Kong decodes their names into structure (``config.minute=5`` → ``{"config":
{"minute": "5"}}``, ``paths[]=/a`` and ``paths[1]=/a`` → arrays, a repeated key → an array) and
then *infers* types from the entity's schema (``"5"`` → 5, ``"true"`` → true, ``""`` → null, a
lone value for an array field → a one-element array). JSON bodies are taken as they are.
Everything here follows ``kong/api/arguments.lua``; nothing touches the store.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from ..errors import AppError
from ..model.schema import Field, Schema
from ..plugins.multipart import Multipart

_INDEX_RE = re.compile(r"^(.+)\[(\d*)\]$", re.S)
# Lua's tonumber() on a form value, without its hex and whitespace quirks.
_NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
# Integers beyond this are carried as floats, as Lua (whose numbers are doubles) would.
MAX_SAFE_INT = 2**53


class BodyError(AppError):
    """The body cannot be read at all (bad JSON, bad UTF-8, bad multipart)."""

    status: int

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _Append:
    """Marker for ``name[]``: append after the highest index so far."""


APPEND = _Append()


# -- JSON ---------------------------------------------------------------------------------------
def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _parse_int(text: str) -> int | float:
    try:
        value = int(text)
    except ValueError:  # beyond Python's digit limit for int(): certainly out of any range
        return -math.inf if text.lstrip().startswith("-") else math.inf
    # Kong (LuaJIT) has no big integers: huge literals become doubles (or infinity). Doing the
    # same keeps absurd numbers out of the store; the schema then rejects them by range or type.
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body strictly (UTF-8, no NaN/Infinity). Raises ``BodyError``."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_no_constant, parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BodyError("Cannot parse JSON body") from None


# -- multipart ----------------------------------------------------------------------------------
def parse_multipart(raw: bytes, content_type: str) -> list[tuple[str, Any]]:
    """The form fields of a multipart body, in order, read by the one multipart parser
    (``plugins.multipart``): a part whose own type is JSON is decoded (kept as text when it is
    not JSON), any other part is UTF-8 text; parts without a name, and nested multipart parts,
    are skipped. Raises ``BodyError`` when the body cannot be read."""
    parsed = Multipart.parse(raw, content_type)
    if parsed is None:
        raise BodyError("Cannot parse multipart body")
    items: list[tuple[str, Any]] = []
    for part in parsed.parts:
        ptype = part.content_type
        if part.name is None or ptype.startswith("multipart/"):
            continue
        value: Any
        if ptype.startswith("application/json"):
            try:
                value = parse_json(part.content)
            except BodyError:
                value = part.content.decode("utf-8", "replace")
        else:
            try:
                value = part.content.decode("utf-8")
            except UnicodeDecodeError:
                raise BodyError("Cannot parse multipart body: invalid UTF-8") from None
        items.append((part.name, value))
    return items


# -- forms --------------------------------------------------------------------------------------
def parse_urlencoded(raw: bytes) -> list[tuple[str, Any]]:
    try:
        text = raw.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=10000)
    except UnicodeDecodeError:
        raise BodyError("Cannot parse form body: invalid UTF-8") from None
    except ValueError as exc:
        raise BodyError(f"Cannot parse form body: {exc}") from None


def _tokens(name: str) -> list[Any]:
    """``config.allow[]`` → ["config", "allow", APPEND]; ``a[1][2]`` → ["a", 1, 2]."""
    if name.startswith(".") or name.endswith("."):
        return [name]
    out: list[Any] = []
    for part in name.split("."):
        if not part:
            continue
        indexes: list[Any] = []
        while True:
            m = _INDEX_RE.match(part)
            if not m:
                break
            part = m.group(1)
            indexes.insert(0, int(m.group(2)) if m.group(2) else APPEND)
        out.append(part)
        out.extend(indexes)
    return out or [name]


class _Multi(list[Any]):  # values of a key given several times
    pass


def _as_container(value: Any) -> dict[Any, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {i + 1: v for i, v in enumerate(value)}
    if value is None:
        return {}
    return {1: value}


def _next_index(container: dict[Any, Any]) -> int:
    ints = [k for k in container if isinstance(k, int)]
    return max(ints) + 1 if ints else 1


def _insert(root: dict[Any, Any], tokens: list[Any], value: Any) -> None:
    cur = root
    for i, tok in enumerate(tokens):
        if tok is APPEND:
            tok = _next_index(cur)
        last = i == len(tokens) - 1
        if last:
            if isinstance(tok, str) and tok in cur:
                existing = cur[tok]
                if isinstance(existing, _Multi):
                    existing.append(value)
                elif isinstance(existing, dict):
                    existing[_next_index(existing)] = value
                else:
                    cur[tok] = _Multi([existing, value])
            else:
                cur[tok] = value
        else:
            nxt = cur.get(tok)
            if not isinstance(nxt, dict):
                nxt = _as_container(nxt)
                cur[tok] = nxt
            cur = nxt


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(isinstance(k, int) for k in value):
            return [_normalize(value[k]) for k in sorted(value)]
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def decode_form(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """Turn flat form fields into nested data, as Kong's ``arguments.decode`` does."""
    root: dict[Any, Any] = {}
    for name, value in items:
        _insert(root, _tokens(name), value)
    out = _normalize(root)
    return out if isinstance(out, dict) else {}


# -- type inference -----------------------------------------------------------------------------
def _to_number(text: str) -> int | float | None:
    s = text.strip()
    if not _NUMBER_RE.match(s):
        return None
    if re.fullmatch(r"[-+]?\d+", s):
        return _parse_int(s)
    value = float(s)
    return value if math.isfinite(value) else None


def infer_value(value: Any, f: Field | None) -> Any:
    """Coerce one form value by its field's type (``arguments.infer_value``)."""
    if f is None or value is None:
        return value
    if value == "":
        return None
    t = f.type
    if t in ("number", "integer"):
        if isinstance(value, str):
            n = _to_number(value)
            return value if n is None else n
        return value
    if t == "boolean":
        if value == "true":
            return True
        if value == "false":
            return False
        return value
    if t in ("array", "set"):
        if not isinstance(value, list):
            value = [value]
        return [infer_value(v, f.elements) for v in value]
    if t == "map":
        if isinstance(value, dict):
            return {k: infer_value(v, f.values) for k, v in value.items()}
        return value
    if t in ("record", "foreign"):
        if isinstance(value, dict):
            subs = f.field_map() if f.fields else {}
            return {k: infer_value(v, subs.get(k)) for k, v in value.items()}
        return value
    return value


def infer(args: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """Coerce every known top-level field of a decoded form by ``schema``."""
    if schema is None:
        return args
    return {k: infer_value(v, schema.get(k)) for k, v in args.items()}


class Body:
    """A parsed request body. ``for_schema`` gives the entity arguments, typed for forms."""

    def __init__(self, data: Any, *, form: bool, raw: bytes = b"") -> None:
        self.data = data
        self.form = form
        self.raw = raw

    @property
    def is_object(self) -> bool:
        return isinstance(self.data, dict)

    def for_schema(self, schema: Schema | None) -> Any:
        if not isinstance(self.data, dict):
            return self.data
        if self.form:
            return infer(dict(self.data), schema)
        return dict(self.data)


__all__ = [
    "Body", "BodyError", "decode_form", "infer", "infer_value", "parse_json", "parse_multipart",
    "parse_urlencoded",
]
