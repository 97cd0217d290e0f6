"""response-transformer: rewrite the upstream's response headers and JSON body (Kong's plugin).

Headers: remove → rename → replace → add → append, each verb judged against the headers the
upstream sent (Kong reads them once before transforming: e.g. ``add`` after ``remove`` of the
same header does not add it). The JSON body is transformed the same way (top-level keys;
``json_types`` say whether a value is written as a string, number or boolean). The handler asks
for the body to be buffered only when a JSON transformation is configured, and only JSON
responses are touched; a body that is not valid JSON passes unchanged.
"""

from __future__ import annotations

import json
from typing import Unpack

from ..jsontypes import JSONObject, JSONValue
from ..model.schema import Array, Field, FieldOptions, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .http_util import is_header_name, json_dumps, split_entry

NAME = "response-transformer"
PRIORITY = 800
_COLON = r"^[^:]+:.*$"


def _rename_header_pair(entry: str) -> str | None:
    name, value = split_entry(entry)
    if name is None or not is_header_name(name):
        return f"'{name}' is not a valid header"
    if not is_header_name(value):
        return f"'{value}' is not a valid header"
    return None


def _strings(desc: str, **elem: Unpack[FieldOptions]) -> Field:
    return Array(String(**elem), default=[], required=True, description=desc)


def _json_types(verb: str) -> Field:
    return Array(String(one_of=("boolean", "number", "string")), default=[], required=True,
                 description=f"Type of each value in `{verb}.json`, by position: `string` (default), `number` or `boolean`.")


CONFIG = Record(
    [
        ("remove", Record([
            ("json", _strings("Top-level JSON body keys to remove.")),
            ("headers", _strings("Response headers to remove.")),
        ], nullable=False, description="What to remove.")),
        ("rename", Record([
            ("headers", _strings("Response headers to rename, as `old:new`.", match=_COLON, custom=_rename_header_pair)),
            ("json", _strings("Top-level JSON body keys to rename, as `old:new`.", match=_COLON)),
        ], nullable=False, description="What to rename.")),
        ("replace", Record([
            ("headers", _strings("Response headers to replace (only if present), as `name:value`.", match=_COLON)),
            ("json", _strings("Top-level JSON body keys to replace (only if present), as `key:value`.", match=_COLON)),
            ("json_types", _json_types("replace")),
        ], nullable=False, description="What to replace.")),
        ("add", Record([
            ("headers", _strings("Response headers to add (only if absent), as `name:value`.", match=_COLON)),
            ("json", _strings("Top-level JSON body keys to add (only if absent), as `key:value`.", match=_COLON)),
            ("json_types", _json_types("add")),
        ], nullable=False, description="What to add.")),
        ("append", Record([
            ("headers", _strings("Response headers to append (another value), as `name:value`.", match=_COLON)),
            ("json", _strings("Top-level JSON body keys to append to (turning the value into an array), as `key:value`.", match=_COLON)),
            ("json_types", _json_types("append")),
        ], nullable=False, description="What to append.")),
    ],
    nullable=False,
    description="How to rewrite responses before they reach the client.",
)


def _pairs(entries: list[str] | None) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for raw in entries or ():
        name, value = split_entry(raw)
        if name is not None:
            out.append((name, value if value != "" else None))
    return out


def _cast(value: str, json_type: str | None) -> JSONValue:
    if json_type == "number":
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if f.is_integer() and "." not in value and "e" not in value.lower() else f
    if json_type == "boolean":
        return value == "true"
    return value


def is_json(content_type: str | None) -> bool:
    """Any media type listed in the header is application/json, or a ``+json`` suffix of it
    (``application/problem+json``), parameters aside (Kong's ``is_json_body`` and
    ``kong.tools.mime_type.includes``)."""
    if not content_type:
        return False
    for part in content_type.split(","):
        mt = part.split(";", 1)[0].strip().lower()
        if mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json")):
            return True
    return False


class ResponseTransformerHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        c = config
        self.headers = {verb: _pairs((c.get(verb) or {}).get("headers")) for verb in ("remove", "rename", "replace", "add", "append")}
        self.json = {verb: _pairs((c.get(verb) or {}).get("json")) for verb in ("remove", "rename", "replace", "add", "append")}
        self.json_types = {verb: list((c.get(verb) or {}).get("json_types") or []) for verb in ("replace", "add", "append")}
        self.body_transform = any(self.json.values())
        self.buffers_response = self.body_transform

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        h = resp.headers
        before = {k.lower() for k in h}  # Kong judges every verb against the headers as received
        changes = 0
        for name, _ in self.headers["remove"]:
            if h.popall(name, None) is not None:
                changes += 1
        for old, new in self.headers["rename"]:
            if old.lower() in before and new:
                values = h.getall(old, [])
                h.popall(old, None)
                h.popall(new, None)
                for v in values:
                    h.add(new, v)
                changes += 1
        for name, value in self.headers["replace"]:
            if name.lower() in before and value is not None:
                h[name] = value
                changes += 1
        for name, value in self.headers["add"]:
            if name.lower() not in before and value is not None:
                h[name] = value
                changes += 1
        for name, value in self.headers["append"]:
            if value is not None:
                h.add(name, value)
                changes += 1
        if self.body_transform and is_json(h.get("Content-Type")):
            h.popall("Content-Length", None)  # the body is going to change
        ctx.decisions.append(Decision(NAME, "transform" if changes else "pass",
                                      f"response headers: {changes} change{'s' if changes != 1 else ''}",
                                      {"header_changes": changes}))

    def body_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if not self.body_transform or resp.body is None or not is_json(resp.headers.get("Content-Type")):
            return
        try:
            body = json.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            ctx.decisions.append(Decision(NAME, "skip", "response body is not valid JSON; left unchanged"))
            return
        if not isinstance(body, dict):
            return
        for name, _ in self.json["remove"]:
            body.pop(name, None)
        for old, new in self.json["rename"]:
            if old in body and new:
                body[new] = body.pop(old)
        for i, (name, value) in enumerate(self.json["replace"]):
            v = self._value("replace", i, value)
            if name in body and body[name] is not False and v is not None:
                body[name] = v
        for i, (name, value) in enumerate(self.json["add"]):
            v = self._value("add", i, value)
            if (name not in body or body[name] is False) and v is not None:
                body[name] = v
        for i, (name, value) in enumerate(self.json["append"]):
            v = self._value("append", i, value)
            if v is not None:
                cur = body.get(name)
                body[name] = [*cur, v] if isinstance(cur, list) else ([cur, v] if isinstance(cur, str) else [v])
        resp.body = json_dumps(body)
        resp.body_dirty = True
        ctx.decisions.append(Decision(NAME, "transform", "JSON response body rewritten"))

    def _value(self, verb: str, i: int, value: str | None) -> JSONValue:
        if value is None:
            return None
        types = self.json_types.get(verb) or []
        return _cast(value, types[i] if i < len(types) else None)


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Transform the upstream response before it reaches the client: headers and JSON body.",
    handler=ResponseTransformerHandler,
    consumer_groups=True,
)
