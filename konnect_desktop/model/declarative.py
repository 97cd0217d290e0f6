"""decK declarative files (``kong.yaml``) ↔ ``Config``, the one in-memory shape of a whole configuration.

A decK file nests entities (routes under services, credentials under consumers, ...) and refers to
other entities by name. A ``Config`` is flat: one list per Kong table, every entity in the Admin
API shape with its id and foreign keys ``{"id": ...}``. ``load`` turns a file into a Config and
reports every problem located in the file's own terms (``services[2].routes[0].paths[1]: ...``);
``dump`` (``model.deck_dump``, re-exported here) writes a Config back the way ``deck gateway dump``
does (sorted, nested, stable), so that load → dump → load gives the same Config and
dump → load → dump the same bytes. ``Config`` lives in ``model.deck_config``.

Ids the file does not give are derived (uuid5) from the entity's kind and natural key (its name,
or its parent's id and its own key), so loading the same file twice yields the same ids. Top-level
kinds we do not model (partials, keys, filter_chains, ...) are carried verbatim and written back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import AppError
from .deck_config import CREDENTIALS, REF_KEY, SORT_KEYS, TIMESTAMPS, Config
from .deck_dump import dump, render, to_deck_dict
from .entities import DEPENDENCY_ORDER, ENTITIES
from .errors import DECLARATIVE_CONFIG, KongError

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
# Every id we derive lives under this namespace (uuid5), so ids never collide with other apps'.
ID_NAMESPACE = uuid.UUID("6f0f1c2e-4a0b-5e7d-9c1a-3b8e2d4f6a10")

META_KEYS = ("_format_version", "_transform", "_info", "_konnect", "_workspace")
# Top-level kinds real decK files carry that we do not model: kept verbatim, no warning.
VERBATIM_KINDS = (
    "partials", "keys", "key_sets", "filter_chains", "custom_entities", "rbac_roles",
    "rbac_endpoint_permissions", "licenses", "workspaces", "custom_plugins", "degraphql_routes",
    "graphql_ratelimiting_cost_decorations", "document_objects", "service_packages",
    "consumer_group_plugins", "plugins_partials",
)
# Credential kinds decK nests under consumers that we do not model: kept verbatim per consumer.
VERBATIM_CONSUMER_KEYS = ("mtls_auth_credentials",)
# Comments Kong allows on any entity and ignores.
IGNORED_ENTITY_KEYS = ("_comment", "_ignore")

# The words used in reference errors, per referenced table.
KIND_WORD = {
    "services": "service", "routes": "route", "consumers": "consumer", "consumer_groups": "consumer group",
    "upstreams": "upstream", "certificates": "certificate", "ca_certificates": "ca certificate",
    "plugins": "plugin", "vaults": "vault",
}
# Natural keys that make a derived id stable (first non-empty wins).
# what names an item in a problem's location: the keys a dump sorts by, but a plugin by its name
# alone (instance_name only orders plugins of one name)
NATURAL_KEY = {**SORT_KEYS, "plugins": ("name",)}
_NIL_ID = "00000000-0000-0000-0000-000000000000"


# -- problems -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One problem in a file, located in the file's own terms."""

    path: str  # "services[2].routes[0].paths[1]" ("" for the whole document)
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FileFormatError(AppError, ValueError):
    """The document cannot be read as a decK file at all (I/O, syntax, shape, version)."""


class DeclarativeError(KongError):
    """The file was read but its entities are invalid: every located problem, Kong's code 14."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        fields: dict[str, Any] = {}
        for p in problems:
            fields.setdefault(p.path or "@entity", p.message)
        n = len(problems)
        summary = "; ".join(str(p) for p in problems[:20]) + (f"; ... ({n - 20} more)" if n > 20 else "")
        super().__init__(DECLARATIVE_CONFIG, f"declarative config is invalid: {summary}", fields)


@dataclass
class Report:
    """What ``validate`` found: the Config (None when the document could not be read at all)."""

    config: Config | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# -- reading text ---------------------------------------------------------------------------------
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_text(text: str | bytes, *, name: str = "<input>") -> dict[str, Any]:
    """YAML or JSON (JSON is YAML) → the top-level mapping, or ``FileFormatError``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        # JSON is YAML, but the JSON parser is many times faster; fall back for YAML flow maps
        try:
            return check_document(json.loads(text), name=name)
        except ValueError:
            pass
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid syntax"
        raise FileFormatError(f"{name}: invalid YAML{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(f"{name}: invalid YAML: {exc}") from None
    return check_document(doc, name=name)


def check_document(doc: Any, *, name: str = "<input>") -> dict[str, Any]:
    """The document-level rules: a mapping with a supported ``_format_version``."""
    if doc is None:
        raise FileFormatError(f"{name}: empty document (expected a mapping with '_format_version')")
    if not isinstance(doc, dict):
        raise FileFormatError(f"{name}: expected a mapping at the top level, got {_type_word(doc)}")
    version = doc.get("_format_version")
    if version is None:
        raise FileFormatError(f"{name}: missing '_format_version' (one of: {', '.join(FORMAT_VERSIONS)})")
    if not isinstance(version, str) or version not in FORMAT_VERSIONS:
        raise FileFormatError(
            f"{name}: unsupported _format_version {version!r} (expected one of: {', '.join(FORMAT_VERSIONS)})")
    return doc


def _type_word(v: Any) -> str:
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    return type(v).__name__


def read_source(source: str | Path | bytes) -> tuple[dict[str, Any], str]:
    """A path, a text or bytes → (top-level mapping, display name)."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and _looks_like_path(source)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileFormatError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise FileFormatError(f"{path}: is a directory, not a file") from None
        except PermissionError:
            raise FileFormatError(f"{path}: permission denied") from None
        except OSError as exc:
            raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return parse_text(data, name=str(path)), str(path)
    return parse_text(source, name="<input>"), "<input>"


def _looks_like_path(s: str) -> bool:
    if s.lstrip().startswith(("{", "[", "_format_version")):
        return False  # a one-line document, not a file name
    if s.endswith((".yaml", ".yml", ".json")):
        return True
    try:
        return Path(s).exists()
    except (OSError, ValueError):  # too long or not a valid file name: it is text
        return False


# -- loading --------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Item:
    table: str
    loc: str
    raw: dict[str, Any]
    parents: dict[str, _Item] = field(default_factory=dict)  # fk field -> nesting parent
    refs: dict[str, Any] = field(default_factory=dict)  # fk field -> reference as written
    id: str | None = None
    entity: dict[str, Any] | None = None


class _Builder:
    def __init__(self, doc: dict[str, Any], strict_plugins: bool) -> None:
        self.doc = doc
        self.strict = strict_plugins
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.items: dict[str, list[_Item]] = {t: [] for t in DEPENDENCY_ORDER}
        self.memberships: list[tuple[str, _Item | None, Any, _Item | None, Any]] = []
        self.consumer_extra: dict[int, dict[str, Any]] = {}  # id(item) -> extra keys
        self.info: dict[str, Any] = doc["_info"] if isinstance(doc.get("_info"), dict) else {}
        self.select_tags = [t for t in (self.info.get("select_tags") or []) if isinstance(t, str)]
        self.defaults: dict[str, Any] = self.info["defaults"] if isinstance(self.info.get("defaults"), dict) else {}

    # -- problems
    def err(self, path: str, msg: str) -> None:
        self.errors.append(Problem(path, msg))

    def warn(self, path: str, msg: str) -> None:
        self.warnings.append(Problem(path, msg, "warning"))

    # -- walking the document
    def _list(self, value: Any, loc: str) -> list[tuple[int, dict[str, Any]]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(loc, "expected an array")
            return []
        out = []
        for i, v in enumerate(value):
            if isinstance(v, dict):
                out.append((i, v))
            else:
                self.err(f"{loc}[{i}]", "expected a record")
        return out

    def add(self, table: str, loc: str, raw: dict[str, Any], parents: dict[str, _Item] | None = None,
            children: Iterable[str] = ()) -> _Item:
        data = {k: v for k, v in raw.items() if k not in children and k not in IGNORED_ENTITY_KEYS}
        item = _Item(table, loc, data, dict(parents or {}))
        for fk, fdef in ENTITIES[table].foreign_keys.items():
            if fk in item.parents:
                if data.get(fk) is not None:
                    self.err(f"{loc}.{fk}", f"cannot be set on an entity nested under its {KIND_WORD.get(fdef.reference or '', fk)}")
                data.pop(fk, None)
            elif fk in data:
                ref = data.pop(fk)
                if ref is not None:
                    item.refs[fk] = ref
        self.items[table].append(item)
        return item

    def walk(self) -> None:
        """Every entity of the document, nested ones with their parents, in the file's order."""
        d = self.doc
        for i, svc in self._list(d.get("services"), "services"):
            self._walk_service(f"services[{i}]", svc)
        for i, rt in self._list(d.get("routes"), "routes"):
            self._walk_route(f"routes[{i}]", rt, {})
        for i, cons in self._list(d.get("consumers"), "consumers"):
            self._walk_consumer(f"consumers[{i}]", cons)
        for i, grp in self._list(d.get("consumer_groups"), "consumer_groups"):
            self._walk_consumer_group(f"consumer_groups[{i}]", grp)
        for i, up in self._list(d.get("upstreams"), "upstreams"):
            u = self.add("upstreams", f"upstreams[{i}]", up, children=("targets",))
            for k, tg in self._list(up.get("targets"), f"upstreams[{i}].targets"):
                self.add("targets", f"upstreams[{i}].targets[{k}]", tg, {"upstream": u})
        for i, cert in self._list(d.get("certificates"), "certificates"):
            self._walk_certificate(f"certificates[{i}]", cert)
        for i, pl in self._list(d.get("plugins"), "plugins"):
            self.add("plugins", f"plugins[{i}]", pl)
        # Kong's own declarative format also allows these at the top level, with references.
        for table in ("ca_certificates", "vaults", "snis", "targets", *CREDENTIALS):
            for i, e in self._list(d.get(table), table):
                self.add(table, f"{table}[{i}]", e)
        for i, m in self._list(d.get("consumer_group_consumers"), "consumer_group_consumers"):
            self.memberships.append((f"consumer_group_consumers[{i}]", None, m.get("consumer_group"), None, m.get("consumer")))

    def _walk_plugins(self, loc: str, raw: dict[str, Any], scope: str, parent: _Item) -> None:
        for k, pl in self._list(raw.get("plugins"), f"{loc}.plugins"):
            self.add("plugins", f"{loc}.plugins[{k}]", pl, {scope: parent})

    def _walk_service(self, loc: str, svc: dict[str, Any]) -> None:
        s = self.add("services", loc, svc, children=("routes", "plugins"))
        for j, rt in self._list(svc.get("routes"), f"{loc}.routes"):
            self._walk_route(f"{loc}.routes[{j}]", rt, {"service": s})
        self._walk_plugins(loc, svc, "service", s)

    def _walk_route(self, loc: str, rt: dict[str, Any], parents: dict[str, _Item]) -> None:
        r = self.add("routes", loc, rt, parents, children=("plugins",))
        self._walk_plugins(loc, rt, "route", r)

    def _walk_consumer(self, loc: str, cons: dict[str, Any]) -> None:
        children = ("plugins", "groups", *CREDENTIALS, *VERBATIM_CONSUMER_KEYS)
        c = self.add("consumers", loc, cons, children=children)
        extra = {k: cons[k] for k in VERBATIM_CONSUMER_KEYS if cons.get(k) is not None}
        if extra:
            self.consumer_extra[id(c)] = extra
        for cred in CREDENTIALS:
            for k, cr in self._list(cons.get(cred), f"{loc}.{cred}"):
                self.add(cred, f"{loc}.{cred}[{k}]", cr, {"consumer": c})
        self._walk_plugins(loc, cons, "consumer", c)
        groups = cons.get("groups")
        if groups is not None and not isinstance(groups, list):
            self.err(f"{loc}.groups", "expected an array")
        for k, g in enumerate(groups if isinstance(groups, list) else []):
            self.memberships.append((f"{loc}.groups[{k}]", None, g, c, None))

    def _walk_consumer_group(self, loc: str, grp: dict[str, Any]) -> None:
        g = self.add("consumer_groups", loc, grp, children=("consumers", "plugins"))
        self._walk_plugins(loc, grp, "consumer_group", g)
        members = grp.get("consumers")
        if members is not None and not isinstance(members, list):
            self.err(f"{loc}.consumers", "expected an array")
        for k, m in enumerate(members if isinstance(members, list) else []):
            self.memberships.append((f"{loc}.consumers[{k}]", g, None, None, m))

    def _walk_certificate(self, loc: str, cert: dict[str, Any]) -> None:
        c = self.add("certificates", loc, cert, children=("snis",))
        snis = cert.get("snis")
        if snis is not None and not isinstance(snis, list):
            self.err(f"{loc}.snis", "expected an array")
        for k, sni in enumerate(snis if isinstance(snis, list) else []):
            sloc = f"{loc}.snis[{k}]"
            if isinstance(sni, str):  # Kong's own files may list SNIs as bare names
                sni = {"name": sni}
            if not isinstance(sni, dict):
                self.err(sloc, "expected a record")
                continue
            self.add("snis", sloc, sni, {"certificate": c})

    # -- ids and references
    def _derive(self, item: _Item, key_parts: list[Any]) -> str:
        text = json.dumps([item.table, *key_parts], sort_keys=True, separators=(",", ":"), default=str)
        return str(uuid.uuid5(ID_NAMESPACE, text))

    def _natural(self, item: _Item) -> Any:
        for k in NATURAL_KEY.get(item.table, ()):
            v = item.raw.get(k)
            if isinstance(v, (str, int)) and v != "":
                return [k, v]
        # nothing names it: its whole content does (fields only, references excluded)
        return ["content", item.raw]

    def assign_ids(self, tables: Iterable[str]) -> None:
        for table in tables:
            seen: dict[str, int] = {}
            for item in self.items[table]:
                given = item.raw.get("id")
                if isinstance(given, str) and given:
                    item.id = given
                    continue
                parent_ids = {fk: self.resolved.get((id(item), fk)) for fk in ENTITIES[table].foreign_keys}
                parts = [self._natural(item), {k: v for k, v in parent_ids.items() if v}]
                if table == "plugins":
                    parts.append(item.raw.get("instance_name"))
                candidate = self._derive(item, parts)
                n = seen.get(candidate, 0)
                seen[candidate] = n + 1
                item.id = candidate if n == 0 else self._derive(item, [*parts, n])

    def index(self, table: str) -> dict[str, _Item]:
        idx: dict[str, _Item] = {}
        key = REF_KEY.get(table)
        for item in self.items[table]:
            if key and isinstance(item.raw.get(key), str):
                idx.setdefault("name:" + item.raw[key], item)
            if item.id:
                idx.setdefault("id:" + item.id, item)
        return idx

    def resolve_ref(self, table: str, ref: Any, loc: str) -> str | None:
        """A reference as decK writes it (a name or id string, or ``{name|username|id: ...}``)."""
        idx = self.indexes[table]
        word = KIND_WORD.get(table, table)
        key = REF_KEY.get(table)
        if isinstance(ref, dict):
            if ref.get("id") is not None:
                ref_id = ref["id"]
                hit = idx.get(f"id:{ref_id}")
                if hit is None:
                    self.err(loc, f"no {word} with id '{ref_id}'")
                return hit.id if hit else None
            for k in (key, "name", "username"):
                if k and ref.get(k) is not None:
                    hit = idx.get(f"name:{ref[k]}")
                    if hit is None:
                        self.err(loc, f"no {word} named '{ref[k]}'")
                    return hit.id if hit else None
            self.err(loc, f"expected a {word} name or id")
            return None
        if isinstance(ref, str) and ref:
            hit = idx.get(f"name:{ref}") or idx.get(f"id:{ref}")
            if hit is None:
                self.err(loc, f"no {word} named '{ref}'" if key else f"no {word} with id '{ref}'")
                return None
            return hit.id
        self.err(loc, f"expected a {word} name or id")
        return None

    def resolve_tables(self, tables: Iterable[str]) -> None:
        for table in tables:
            for item in self.items[table]:
                fks = ENTITIES[table].foreign_keys
                for fk, parent in item.parents.items():
                    self.resolved[(id(item), fk)] = parent.id
                for fk, ref in item.refs.items():
                    ref_table = fks[fk].reference or ""
                    if ref_table not in self.indexes:
                        self.indexes[ref_table] = self.index(ref_table)
                    self.resolved[(id(item), fk)] = self.resolve_ref(ref_table, ref, f"{item.loc}.{fk}")

    # -- the whole load
    def build(self) -> Config:
        self.walk()
        self.resolved: dict[tuple[int, str], str | None] = {}
        self.indexes: dict[str, dict[str, _Item]] = {}
        # Parents first: a child's derived id includes its parents' ids.
        levels = (
            ("services", "consumers", "consumer_groups", "upstreams", "certificates", "ca_certificates", "vaults"),
            ("routes",),
            ("snis", "targets", *CREDENTIALS),
            ("plugins",),
        )
        for level in levels:
            self.resolve_tables(level)
            self.assign_ids(level)
            for t in level:
                self.indexes[t] = self.index(t)
        tables: dict[str, list[dict[str, Any]]] = {t: [] for t in DEPENDENCY_ORDER}
        for level in levels:
            for t in level:
                for item in self.items[t]:
                    ent = self.check(item)
                    if ent is not None:
                        tables[t].append(ent)
        tables["consumer_group_consumers"] = self.build_memberships()
        self.check_unique(tables)
        consumer_extra = {}
        for item in self.items["consumers"]:
            extra = self.consumer_extra.get(id(item))
            if extra and item.id:
                consumer_extra[item.id] = extra
        return Config(tables, format_version="3.0", info=self.info or {}, transform=self.doc.get("_transform"),
                      konnect=self.doc.get("_konnect"), workspace=self.doc.get("_workspace"),
                      extra={k: v for k, v in self.doc.items() if k not in META_KEYS and k not in _MODELLED_KEYS},
                      consumer_extra=consumer_extra).sort()

    def check(self, item: _Item) -> dict[str, Any] | None:
        from . import check_entity

        data = dict(item.raw)
        data.setdefault("id", item.id)
        unresolved = []
        for fk in ENTITIES[item.table].foreign_keys:
            if (id(item), fk) in self.resolved:
                rid = self.resolved[(id(item), fk)]
                if rid is None:  # already reported where the reference is written
                    unresolved.append(fk)
                    rid = _NIL_ID
                data[fk] = {"id": rid}
        defaults = self.defaults.get(_singular(item.table))
        if isinstance(defaults, dict):
            for k, v in defaults.items():
                data.setdefault(k, v)
        if self.select_tags and "tags" in ENTITIES[item.table].schema.field_names:
            tags = data.get("tags")
            if tags is None or isinstance(tags, list):
                tags = list(tags or [])
                tags += [t for t in self.select_tags if t not in tags]
                data["tags"] = tags
        stamps = {k: data.pop(k, None) for k in TIMESTAMPS}
        out, errors = check_entity(item.table, data, strict=self.strict)
        for k, v in stamps.items():
            if k in out:
                out[k] = v
        for fk in unresolved:
            out[fk] = None
        if errors:
            for path, msg in flatten_errors(errors):
                self.err(f"{item.loc}.{path}" if path else item.loc, msg)
        item.entity = out
        return out

    def build_memberships(self) -> list[dict[str, Any]]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for loc, group_item, group_ref, consumer_item, consumer_ref in self.memberships:
            gid = group_item.id if group_item else self.resolve_ref("consumer_groups", group_ref, loc)
            cid = consumer_item.id if consumer_item else self.resolve_ref("consumers", consumer_ref, loc)
            if not gid or not cid:
                continue
            key = (gid, cid)
            if key not in rows:
                rows[key] = {
                    "id": str(uuid.uuid5(ID_NAMESPACE, f"consumer_group_consumers\x00{gid}\x00{cid}")),
                    "created_at": None, "consumer_group": {"id": gid}, "consumer": {"id": cid},
                }
        return list(rows.values())

    def check_unique(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        for table, items in self.items.items():
            edef = ENTITIES[table]
            seen: dict[tuple[str, Any], str] = {}
            k: tuple[str, Any]
            for item in items:
                ent = item.entity or {}
                checks: list[tuple[str, Any, str]] = [("primary key", ent.get("id"), "id")]
                checks += [(f, ent.get(f), f) for f in edef.unique]
                for label, value, fname in checks:
                    if value is None:
                        continue
                    k = (label, value if isinstance(value, (str, int)) else json.dumps(value, sort_keys=True))
                    if k in seen:
                        field_def = edef.schema.get(fname)
                        shown = "******" if field_def is not None and field_def.secret else value  # as the store says it
                        self.err(f"{item.loc}.{fname}",
                                 f"uniqueness violation: '{table}' entity with {label} set to '{shown}' already declared at {seen[k]}")
                    else:
                        seen[k] = item.loc
                if edef.cache_key and table in ("plugins", "acls", "targets"):
                    ck = tuple(json.dumps(ent.get(f), sort_keys=True) for f in edef.cache_key)
                    k = ("cache key", ck)
                    if k in seen:
                        what = ", ".join(f"{f}" for f in edef.cache_key if ent.get(f) is not None)
                        self.err(item.loc, f"uniqueness violation: '{table}' entity with the same {what} already declared at {seen[k]}")
                    else:
                        seen[k] = item.loc

    def top_level_warnings(self) -> None:
        for k in self.doc:
            if k in META_KEYS or k in _MODELLED_KEYS or k in VERBATIM_KINDS:
                continue
            self.warn(k, "unknown top-level key (kept as is, not validated)")


_MODELLED_KEYS = frozenset(
    ("services", "routes", "consumers", "consumer_groups", "plugins", "upstreams", "certificates",
     "ca_certificates", "vaults", "snis", "targets", "consumer_group_consumers", *CREDENTIALS)
)


def _singular(table: str) -> str:
    return {"services": "service", "routes": "route", "upstreams": "upstream", "targets": "target",
            "plugins": "plugin", "consumers": "consumer"}.get(table, table)


def flatten_errors(errors: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Kong's nested field errors → (located path, message) pairs; array positions 0-based as in
    the file, entity-level errors first on the entity itself."""
    out: list[tuple[str, str]] = []
    ent = errors.get("@entity")
    if ent:
        for m in ent if isinstance(ent, list) else [ent]:
            out.append((prefix, str(m)))
    for k in sorted(k for k in errors if k != "@entity"):
        v = errors[k]
        p = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out += flatten_errors(v, p)
        elif isinstance(v, list):
            for i, sub in enumerate(v):
                if sub is None:
                    continue
                if isinstance(sub, dict):
                    out += flatten_errors(sub, f"{p}[{i}]")
                else:
                    out.append((f"{p}[{i}]", str(sub)))
        else:
            out.append((p, str(v)))
    return out


def _migrate_routes(routes: Any) -> Any:
    """Routes of a 1.1/2.1 file with their paths migrated (anything else as it is)."""
    from .paths import migrate_path_v2

    if not isinstance(routes, list):
        return routes
    out = []
    for r in routes:
        if isinstance(r, dict) and isinstance(r.get("paths"), list):
            r = {**r, "paths": [migrate_path_v2(p) if isinstance(p, str) else p for p in r["paths"]]}
        out.append(r)
    return out


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Kong's on-the-fly migration of 1.1/2.1 files: route paths that look like regexes gain ``~``
    and prefix paths are normalized (top-level routes and routes nested in services only)."""
    if doc.get("_format_version") not in ("1.1", "2.1"):
        return doc
    doc = dict(doc)
    if "routes" in doc:
        doc["routes"] = _migrate_routes(doc["routes"])
    if isinstance(doc.get("services"), list):
        doc["services"] = [
            {**s, "routes": _migrate_routes(s["routes"])} if isinstance(s, dict) and "routes" in s else s
            for s in doc["services"]
        ]
    doc["_format_version"] = "3.0"
    return doc


def from_deck_dict(doc: dict[str, Any], *, strict_plugins: bool = False) -> Report:
    """A parsed decK document → Report (Config plus located errors and warnings)."""
    doc = migrate(doc)
    b = _Builder(doc, strict_plugins)
    if "_info" in doc and not isinstance(doc["_info"], dict):
        b.err("_info", "expected a record")
    if "_transform" in doc and not isinstance(doc["_transform"], bool):
        b.err("_transform", "expected a boolean")
    b.top_level_warnings()
    config = b.build()
    order = {k: i for i, k in enumerate(doc)}
    return Report(config, sorted(b.errors, key=lambda p: _path_key(p.path, order)), b.warnings)


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_key(path: str, order: dict[str, int]) -> tuple[Any, ...]:
    """Problems in the order their places appear in the file."""
    parts: list[Any] = []
    for name, index in _TOKEN.findall(path):
        parts.append((1, int(index), "") if index else (0, order.get(name, len(order)) if not parts else 0, name))
    return tuple(parts)


def validate(source: str | Path | bytes | dict[str, Any], *, strict_plugins: bool = False) -> Report:
    """Check a decK file without raising: a Report with every located problem.

    A document that cannot be read at all (missing file, bad YAML, not a mapping, unsupported
    ``_format_version``) gives a Report with no Config and that one error.
    """
    try:
        doc = check_document(source) if isinstance(source, dict) else read_source(source)[0]
    except FileFormatError as exc:
        return Report(None, [Problem("", str(exc))])
    return from_deck_dict(doc, strict_plugins=strict_plugins)


def load(source: str | Path | bytes, *, strict_plugins: bool = False) -> Config:
    """A decK file (path, text or bytes; YAML or JSON) → Config.

    Raises ``FileFormatError`` when the document cannot be read, ``DeclarativeError`` (Kong's
    code 14, all problems located) when its content is invalid.
    """
    doc, _name = read_source(source)
    return load_document(doc, strict_plugins=strict_plugins)


def load_document(doc: dict[str, Any], *, strict_plugins: bool = False) -> Config:
    """An already-parsed decK document → Config (``DeclarativeError`` when invalid)."""
    report = from_deck_dict(doc, strict_plugins=strict_plugins)
    if report.errors:
        raise DeclarativeError(report.errors, report.warnings)
    assert report.config is not None
    return report.config


def merge_documents(docs: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    """Several decK documents (with their names) as one, as ``deck file merge`` does: the
    top-level lists concatenated in order; every file must have the same ``_format_version``."""
    out: dict[str, Any] = {}
    for doc, name in docs:
        version = doc.get("_format_version")
        if "_format_version" in out and version != out["_format_version"]:
            raise FileFormatError(f"{name}: _format_version {version!r} differs from the first file's "
                                  f"{out['_format_version']!r}")
        for key, value in doc.items():
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = [*out[key], *value]
            else:
                out.setdefault(key, value)
    return out


__all__ = [
    "Config", "Problem", "Report", "FileFormatError", "DeclarativeError", "FORMAT_VERSIONS",
    "load", "load_document", "merge_documents", "validate", "dump", "render", "to_deck_dict", "from_deck_dict", "parse_text", "read_source",
    "flatten_errors", "migrate",
]
