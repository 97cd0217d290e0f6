"""``/config`` of the Admin API: a whole decK/Kong declarative document in, or the current one out.

The document is read with ``model.declarative`` (the same reader the CLI and the GUI use) and
stored with ``Store.replace_all`` (one transaction: all or nothing). Problems come back in Kong's
code-14 shape (``kong/db/errors.lua``): ``fields`` mirrors the document (``{"services": [null,
{"routes": [{"paths": [null, "msg"]}]}]}``) and, when the client asks with ``flatten_errors=1``
as Kong 3.x clients do, ``flattened_errors`` lists one item per invalid entity with its type,
name, id, tags, the entity as given and its errors (``{"type": "field", "field": "paths.2",
"message": ...}``; positions 1-based as Kong writes them).

A string is always parsed as document text here, never taken for a file name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from ..errors import AppError
from ..jsontypes import JSONArray, JSONObject, JSONValue
from ..model import declarative
from ..model.entities import ENTITIES
from ..model.errors import DECLARATIVE_CONFIG, KongError, lua_pretty
from ..model.schema import UUID_RE

# Keys under which a decK document lists entities (top level or nested in a parent).
_ENTITY_KEYS = frozenset(
    {e.deck_key for e in ENTITIES.values() if e.deck_key}
    | {"services", "routes", "plugins", "consumers", "consumer_groups", "targets", "snis", "groups"}
)
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_Key = TypeVar("_Key", str, int)  # error trees are keyed by field name, and by position inside arrays


def config_error(fields: JSONObject) -> KongError:
    return KongError(DECLARATIVE_CONFIG, f"declarative config is invalid: {lua_pretty(fields)}", fields)


def _tokens(path: str) -> list[str | int]:
    return [int(idx) if idx else name for name, idx in _TOKEN.findall(path)]


def _split(path: str) -> tuple[list[str | int], list[str | int]]:
    """``services[2].routes[0].paths[1]`` → (entity tokens, field tokens)."""
    toks = _tokens(path)
    i = 0
    entity: list[str | int] = []
    while i + 1 < len(toks) and isinstance(toks[i], str) and toks[i] in _ENTITY_KEYS and isinstance(toks[i + 1], int):
        entity += toks[i:i + 2]
        i += 2
    return entity, toks[i:]


def _put(root: JSONObject, toks: list[str | int], message: str) -> None:
    """Place ``message`` at ``toks`` in a nested dict/list structure (lists padded with None)."""
    cur: JSONValue = root
    for n, tok in enumerate(toks):
        last = n == len(toks) - 1
        nxt_is_index = not last and isinstance(toks[n + 1], int)
        if isinstance(tok, int):
            if not isinstance(cur, list):
                return
            while len(cur) <= tok:
                cur.append(None)
            if last:
                if cur[tok] is None:
                    cur[tok] = message
                return
            if not isinstance(cur[tok], (dict, list)):
                cur[tok] = [] if nxt_is_index else {}
            cur = cur[tok]
        else:
            if not isinstance(cur, dict):
                return
            if last:
                cur.setdefault(tok, message)
                return
            if not isinstance(cur.get(tok), (dict, list)):
                cur[tok] = [] if nxt_is_index else {}
            cur = cur[tok]


def fields_from_problems(problems: JSONArray) -> JSONObject:
    """Located problems → Kong's nested ``fields`` (entity-level errors under ``@entity``)."""
    root: JSONObject = {}
    for p in problems:
        entity, field = _split(p.path)
        if not entity and not field:
            root.setdefault("@entity", []).append(p.message)
            continue
        if field:
            _put(root, entity + field, p.message)
        else:
            # an error about the entity as a whole
            _put(root, [*entity, "@entity"], "")
            holder = _walk(root, entity)
            if isinstance(holder, dict):
                ent = holder.get("@entity")
                holder["@entity"] = [m for m in (ent if isinstance(ent, list) else []) if m] + [p.message]
    return root


def _walk(node: JSONValue, toks: list[str | int]) -> JSONValue:
    for tok in toks:
        if isinstance(tok, int):
            if not isinstance(node, list) or tok >= len(node):
                return None
            node = node[tok]
        else:
            if not isinstance(node, dict):
                return None
            node = node.get(tok)
    return node


def _singular(key: str) -> str:
    return {"groups": "consumer_group"}.get(key, key[:-1] if key.endswith("s") else key)


def _field_name(toks: list[str | int]) -> str:
    return ".".join(str(t + 1) if isinstance(t, int) else t for t in toks)


def _item(entity_type: str, entity: JSONValue, errors: list[JSONObject]) -> JSONObject:
    ent = entity if isinstance(entity, dict) else {}
    item: JSONObject = {"entity_type": entity_type, "entity": ent, "errors": errors}
    name = ent.get("name")
    if isinstance(name, str) and name:
        item["entity_name"] = name
    eid = ent.get("id")
    if isinstance(eid, str) and UUID_RE.match(eid):
        item["entity_id"] = eid
    tags = ent.get("tags")
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        item["entity_tags"] = tags
    return item


def flatten_problems(problems: JSONArray, doc: JSONObject) -> list[JSONObject]:
    """Kong 3.x ``flattened_errors`` from located problems of the document ``doc``."""
    groups: dict[str, tuple[list[str | int], list[JSONObject]]] = {}
    for p in problems:
        entity, field = _split(p.path)
        if not entity:
            continue
        key = repr(entity)
        errs = groups.setdefault(key, (entity, []))[1]
        if field:
            errs.append({"type": "field", "field": _field_name(field), "message": p.message})
        else:
            errs.append({"type": "entity", "message": p.message})
    out = []
    for entity, errs in groups.values():
        raw = _walk(doc, entity)
        out.append(_item(_singular(str(entity[-2])), raw, errs))
    return out


def flatten_fields(fields: JSONObject, config: JSONObject) -> list[JSONObject]:
    """``flattened_errors`` for the store's verdict on a loaded config (tables of flat entities,
    errors positioned per table as ``replace_all`` reports them)."""
    out: list[JSONObject] = []
    for table in sorted(fields):
        per = fields[table]
        if not isinstance(per, list):
            continue
        given = config.get(table) or []
        for i, errs in enumerate(per):
            if not isinstance(errs, dict) or not errs:
                continue
            items: list[JSONObject] = []
            _categorize(errs, [], items)
            entity = given[i] if i < len(given) else {}
            out.append(_item(_singular(table), entity, items))
    return out


def _categorize(errors: Mapping[_Key, JSONValue], ns: list[str | int], out: list[JSONObject]) -> None:
    for key in sorted(errors, key=str):
        err = errors[key]
        if key == "@entity":
            for m in err if isinstance(err, list) else [err]:
                out.append({"type": "entity", "message": m})
        elif isinstance(err, dict):
            _categorize(err, [*ns, key], out)
        elif isinstance(err, list):
            _categorize({i: v for i, v in enumerate(err) if v is not None}, [*ns, key], out)
        else:
            out.append({"type": "field", "field": _field_name([*ns, key]), "message": str(err)})


def parse_document(source: JSONValue) -> JSONObject:
    """The posted document (text or an already-decoded mapping) → its top-level mapping."""
    try:
        if isinstance(source, dict):
            return declarative.check_document(source, name="config")
        if isinstance(source, (str, bytes)):
            return declarative.parse_text(source, name="config")
    except declarative.FileFormatError as exc:
        raise _rejected(config_error({"error": str(exc)}), None) from None
    raise _rejected(config_error({"error": "expected a declarative configuration (YAML or JSON text)"}), None)


class ConfigRejected(AppError):
    """The configuration is invalid: ``body`` is Kong's code-14 answer (HTTP 400)."""

    status = 400

    def __init__(self, body: JSONObject) -> None:
        super().__init__(str(body.get("message") or "declarative config is invalid"))
        self.body = body
        if isinstance(body.get("code"), int):
            self.code = body["code"]
        if isinstance(body.get("fields"), dict):
            self.fields = body["fields"]


def _rejected(err: KongError, flattened: list[JSONObject] | None) -> ConfigRejected:
    body = err.to_dict()
    if flattened is not None:
        body["flattened_errors"] = flattened
    return ConfigRejected(body)


def load_document(doc: JSONObject, *, flatten: bool) -> declarative.Config:
    """A parsed document → Config, or ``ConfigRejected`` (with ``flattened_errors`` if asked)."""
    report = declarative.from_deck_dict(doc, strict_plugins=True)
    if report.errors or report.config is None:  # (no config comes with its errors)
        err = config_error(fields_from_problems(report.errors))
        raise _rejected(err, flatten_problems(report.errors, doc) if flatten else None)
    return report.config


def store_rejected(err: KongError, config: JSONObject, *, flatten: bool) -> ConfigRejected:
    """The store refused the config (code 14 from ``replace_all``)."""
    flattened = None
    if flatten and isinstance(err.fields, dict):
        flattened = flatten_fields(err.fields, config)
    return _rejected(err, flattened)


def loaded_entities(config: JSONObject) -> JSONObject:
    """What Kong answers a successful ``POST /config`` with: entities by table, then by id."""
    return {
        table: {e["id"]: e for e in items}
        for table, items in config.items()
        if not table.startswith("_") and isinstance(items, list) and items
    }


def dump_current(export: JSONObject) -> str:
    """The current configuration as decK YAML, with ids (so it loads back onto the same ids)."""
    return declarative.dump(export, with_id=True)


__all__ = [
    "ConfigRejected", "parse_document", "load_document", "store_rejected", "loaded_entities", "dump_current",
    "fields_from_problems", "flatten_problems", "flatten_fields", "config_error",
]
