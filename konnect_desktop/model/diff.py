"""The replication plan: what must change to turn one configuration into another.

Pure and synchronous: two whole configurations in (``dict[table, list[entity]]`` in Kong's Admin
API shape, as ``Store.export()``, ``ControlPlane.export()`` and ``declarative.load`` give them),
a ``Plan`` out. Entities are matched by id when both sides carry the same one, otherwise by their
natural key (a service's name, a plugin's name and scope, a key-auth credential's key …), and
compared after normalizing foreign keys to natural keys, sets to sorted lists and absent fields to
null, so two control planes that only differ in ids or defaults show no drift.

Applying a plan is I/O and lives in ``controlplanes/sync.py``; printing it the way decK prints its
diffs lives here (``render_text`` / ``render_json``).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..jsontypes import JSONObject, JSONValue
from .entities import ENTITIES, oauth2_secret_verify
from .plugin_catalog import plugin_entity_schema
from .schema import Field

Config = dict[str, list[JSONObject]]

_IGNORED = frozenset({"id", "created_at", "updated_at", "ttl"})
# Fields decK never compares, per table: a basic-auth password is stored hashed by the gateway,
# so a file's plain password and the stored hash always differ (decK: "changes in password of
# basic-auth credentials are not detected").
_IGNORED_IN = {"basicauth_credentials": frozenset({"password"})}
MASK = "[masked]"


# -- dependency levels ---------------------------------------------------------------------------
def _levels() -> dict[str, int]:
    level: dict[str, int] = {}

    def of(table: str) -> int:
        if table not in level:
            parents = [f.reference for f in ENTITIES[table].foreign_keys.values() if f.reference]
            level[table] = 1 + max((of(p) for p in parents if p != table), default=-1)
        return level[table]

    for t in ENTITIES:
        of(t)
    return level


LEVELS: dict[str, int] = _levels()
TABLE_ORDER: list[str] = sorted(ENTITIES, key=lambda t: (LEVELS[t], t))


# -- natural keys --------------------------------------------------------------------------------
class Index:
    """id → entity for every table of one configuration, to resolve foreign keys."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.by_id: dict[str, dict[str, JSONObject]] = {
            t: {e["id"]: e for e in config.get(t, []) if e.get("id")} for t in ENTITIES
        }
        self._keys: dict[tuple[str, str], Hashable] = {}

    def ref(self, table: str, fk: JSONValue) -> Hashable:
        """The natural key of the entity a foreign key points at (or its id if unknown here)."""
        if not isinstance(fk, dict) or fk.get("id") is None:
            return None
        target = self.by_id.get(table, {}).get(fk["id"])
        if target is None:
            return ("id", fk["id"])
        return self.key(table, target)

    def key(self, table: str, e: JSONObject) -> Hashable:
        cache_id = (table, e.get("id") or str(id(e)))
        if cache_id in self._keys:
            return self._keys[cache_id]
        k = self._natural_key(table, e)
        self._keys[cache_id] = k
        return k

    def _natural_key(self, table: str, e: JSONObject) -> Hashable:
        d = ENTITIES[table]
        fks = d.foreign_keys
        if table == "plugins":
            return (
                "plugin", e.get("name"),
                *(self.ref(fks[f].reference or "", e.get(f)) for f in ("route", "service", "consumer", "consumer_group")),
            )
        if d.cache_key:
            return tuple(self.ref(fks[f].reference or "", e.get(f)) if f in fks else e.get(f) for f in d.cache_key)
        if table == "consumers":
            return ("username", e["username"]) if e.get("username") else ("custom_id", e.get("custom_id"))
        if table in ("certificates", "ca_certificates"):
            return ("cert", (e.get("cert") or "").strip())
        if d.endpoint_key and e.get(d.endpoint_key) is not None and table != "keyauth_credentials":
            return (d.endpoint_key, e[d.endpoint_key])
        if table == "keyauth_credentials" and e.get("key"):
            return ("key", e["key"])
        return ("id", e.get("id"))

    def display(self, table: str, e: JSONObject) -> str:
        """decK's words for an entity in diff output."""
        d = ENTITIES[table]

        def name_of(t: str, fk: JSONValue) -> str | None:
            if not isinstance(fk, dict) or not fk.get("id"):
                return None
            tgt = self.by_id.get(t, {}).get(fk["id"])
            if tgt is None:
                return str(fk["id"])
            return str(tgt.get(ENTITIES[t].endpoint_key or "id") or tgt.get("custom_id") or tgt["id"])

        if table == "plugins":
            scopes = [
                (label, name_of(t, e.get(f)))
                for f, t, label in (
                    ("service", "services", "service"), ("route", "routes", "route"),
                    ("consumer", "consumers", "consumer"), ("consumer_group", "consumer_groups", "consumer-group"),
                )
            ]
            scopes = [(lbl, n) for lbl, n in scopes if n]
            if not scopes:
                return f"{e.get('name')} (global)"
            return f"{e.get('name')} for " + " and ".join(f"{lbl} {n}" for lbl, n in scopes)
        consumer = name_of("consumers", e.get("consumer"))
        if table == "keyauth_credentials":
            return f"{(e.get('key') or '')[-5:]} for consumer {consumer}"
        if table == "acls":
            return f"{e.get('group')} for consumer {consumer}"
        if table in ("basicauth_credentials", "hmacauth_credentials"):
            return f"{e.get('username')} for consumer {consumer}"
        if table == "oauth2_credentials":
            return f"{e.get('client_id')} for consumer {consumer}"
        if table == "jwt_secrets":
            return f"{e.get('key')} for consumer {consumer}"
        if table == "consumer_group_consumers":
            return f"{consumer} for consumer-group {name_of('consumer_groups', e.get('consumer_group'))}"
        if table == "targets":
            return f"{e.get('target')} for upstream {name_of('upstreams', e.get('upstream'))}"
        if table == "consumers":
            return str(e.get("username") or e.get("custom_id") or e.get("id"))
        key = d.endpoint_key
        return str((e.get(key) if key else None) or e.get("id"))


def _normalize_value(f: Field | None, v: JSONValue) -> JSONValue:
    if v is None:
        return None
    if f is not None and f.type == "set" and isinstance(v, list):
        try:
            return sorted(v)
        except TypeError:
            return v
    if f is not None and f.type == "record" and isinstance(v, dict) and f.fields:
        sub = f.field_map()
        return {k: _normalize_value(sub.get(k), x) for k, x in v.items()}
    return v


def comparable(table: str, e: JSONObject, idx: Index) -> JSONObject:
    """The entity as compared across control planes: no ids or timestamps, foreign keys as
    natural keys, sets sorted."""
    d = ENTITIES[table]
    schema = d.schema
    if table == "plugins":
        schema = plugin_entity_schema(e.get("name"))
    out: JSONObject = {}
    ignored = _IGNORED_IN.get(table, frozenset())
    for name, f in schema.fields:
        if name in _IGNORED or name in ignored:
            continue
        v = e.get(name)
        if f.type == "foreign":
            out[name] = idx.ref(f.reference or "", v)
        else:
            out[name] = _normalize_value(f, v)
    return out


def _same_hashed_secret(current: JSONObject, desired: JSONObject) -> bool:
    """An oauth2 client secret stored hashed (``hash_secret``) and the plain secret a file gives:
    the same secret is no drift (the gateway hashes on write, so they never compare equal)."""
    stored, given = current.get("client_secret"), desired.get("client_secret")
    return (bool(current.get("hash_secret")) and isinstance(stored, str) and stored.startswith("$pbkdf2-")
            and oauth2_secret_verify(given, stored))


def _empty(v: JSONValue) -> bool:
    return v is None or v == [] or v == {}


def changed_fields(old: JSONObject, new: JSONObject, prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ; keys only the current side has and that are empty
    there (fields a newer gateway adds) are not drift."""
    out: list[str] = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if k not in new and _empty(a):
            continue
        if isinstance(a, dict) and isinstance(b, dict) and k == "config":
            out.extend(changed_fields(a, b, f"{prefix}{k}."))
        elif a != b and not (_empty(a) and _empty(b)):
            out.append(f"{prefix}{k}")
    return out


# -- the plan ------------------------------------------------------------------------------------
@dataclass
class Change:
    action: str  # "create" | "update" | "delete"
    table: str
    name: str  # decK's display words
    old: JSONObject | None = None  # current entity (update/delete)
    new: JSONObject | None = None  # desired entity (create/update)
    fields: list[str] = field(default_factory=list)  # changed fields (update)
    collides: bool = False  # a delete that must run before creates (a rename freeing a unique key)

    @property
    def kind(self) -> str:
        return ENTITIES[self.table].kind

    @property
    def level(self) -> int:
        return LEVELS[self.table]


@dataclass
class Plan:
    changes: list[Change]
    current: Config
    desired: Config
    select_tags: list[str] = field(default_factory=list)
    # (table, desired id) -> current id for every desired entity matched on the current side
    id_map: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def creates(self) -> list[Change]:
        return [c for c in self.changes if c.action == "create"]

    @property
    def updates(self) -> list[Change]:
        return [c for c in self.changes if c.action == "update"]

    @property
    def deletes(self) -> list[Change]:
        return [c for c in self.changes if c.action == "delete"]

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        c, u, d = len(self.creates), len(self.updates), len(self.deletes)
        return {"creating": c, "updating": u, "deleting": d, "total": c + u + d}

    def steps(self) -> list[list[Change]]:
        """Batches in the order they must run; changes within a batch are independent.

        Colliding deletes first (children before parents), then creates and updates one
        dependency level at a time (parents first), then the other deletes (children first).
        """
        out: list[list[Change]] = []
        max_level = max(LEVELS.values())
        for lvl in range(max_level, -1, -1):
            batch = [c for c in self.deletes if c.collides and c.level == lvl]
            if batch:
                out.append(batch)
        for lvl in range(max_level + 1):
            batch = [c for c in self.changes if c.action != "delete" and c.level == lvl]
            if batch:
                out.append(batch)
        for lvl in range(max_level, -1, -1):
            batch = [c for c in self.deletes if not c.collides and c.level == lvl]
            if batch:
                out.append(batch)
        return out


def has_tags(e: JSONObject, tags: list[str]) -> bool:
    have = set(e.get("tags") or ())
    return all(t in have for t in tags)


def _filter_tags(config: Config, tags: list[str]) -> Config:
    """Only the entities decK would manage under ``select_tags`` (AND). Untagged kinds
    (memberships) follow their parents."""
    if not tags:
        return config
    out: Config = {}
    for t, items in config.items():
        if t not in ENTITIES:
            continue
        if "tags" in dict(ENTITIES[t].schema.fields):
            out[t] = [e for e in items if has_tags(e, tags)]
        else:
            out[t] = list(items)
    keep_groups = {e["id"] for e in out.get("consumer_groups", [])}
    keep_consumers = {e["id"] for e in out.get("consumers", [])}
    out["consumer_group_consumers"] = [
        m for m in out.get("consumer_group_consumers", [])
        if (m.get("consumer_group") or {}).get("id") in keep_groups
        and (m.get("consumer") or {}).get("id") in keep_consumers
    ]
    return out


def _unique_values(table: str, e: JSONObject) -> set[tuple[str, JSONValue]]:
    return {(f, e.get(f)) for f in ENTITIES[table].unique if e.get(f) is not None}


def plan(current: Config, desired: Config, *, select_tags: list[str] | None = None) -> Plan:
    """What to create, update and delete so that ``current`` becomes ``desired``.

    With ``select_tags`` only entities carrying all those tags are managed on the current side
    (others are neither compared nor deleted); the desired side is expected to carry them already
    (decK files get them from ``_info.select_tags`` when loaded).
    """
    tags = list(select_tags or [])
    cur = _filter_tags(current, tags)
    des = desired
    ci, di = Index(cur), Index(des)
    changes: list[Change] = []
    id_map: dict[tuple[str, str], str] = {}
    for table in TABLE_ORDER:
        cur_items = cur.get(table, [])
        des_items = des.get(table, [])
        cur_by_id = {e["id"]: e for e in cur_items if e.get("id")}
        cur_by_key: dict[Hashable, JSONObject] = {}
        for e in cur_items:
            cur_by_key.setdefault(ci.key(table, e), e)
        matched: set[int] = set()
        creates: list[Change] = []
        for e in des_items:
            other = cur_by_id.get(e.get("id")) if e.get("id") else None
            if other is None or id(other) in matched:
                other = cur_by_key.get(di.key(table, e))
            if other is not None and id(other) in matched:
                other = None
            if other is None:
                creates.append(Change("create", table, di.display(table, e), None, e))
                continue
            matched.add(id(other))
            if e.get("id") and other.get("id"):
                id_map[(table, e["id"])] = other["id"]
            a, b = comparable(table, other, ci), comparable(table, e, di)
            diff_fields = changed_fields(a, b)
            if "client_secret" in diff_fields and table == "oauth2_credentials" and _same_hashed_secret(other, e):
                diff_fields.remove("client_secret")
            if diff_fields:
                changes.append(Change("update", table, di.display(table, e), other, e, diff_fields))
        deletes = [
            Change("delete", table, ci.display(table, e), e, None)
            for e in cur_items if id(e) not in matched
        ]
        # A delete that frees a unique value a create needs must run first.
        wanted: set[tuple[str, JSONValue]] = set()
        for c in creates:
            wanted |= _unique_values(table, c.new or {}) | {("id", (c.new or {}).get("id"))}
        for d in deletes:
            if wanted & (_unique_values(table, d.old or {}) | {("id", (d.old or {}).get("id"))}):
                d.collides = True
        changes.extend(creates)
        changes.extend(deletes)
    order = {"create": 0, "update": 1, "delete": 2}
    changes.sort(key=lambda c: (order[c.action], c.level if c.action != "delete" else -c.level, c.table, c.name))
    return Plan(changes, cur, des, tags, id_map)


# -- printing, as decK prints ----------------------------------------------------------------------
def masked(table: str, e: JSONObject | None) -> JSONObject | None:
    """The entity for display: secrets masked, timestamps dropped, unset fields dropped."""
    if e is None:
        return None
    secret = {n for n, f in ENTITIES[table].schema.fields if f.secret}
    out: JSONObject = {}
    for k, v in e.items():
        if k in ("created_at", "updated_at") or v is None:
            continue
        out[k] = MASK if k in secret else v
    if table == "plugins" and isinstance(out.get("config"), dict):
        config = plugin_entity_schema(e.get("name") or None).field("config")
        if config.fields:
            cfg = dict(out["config"])
            for n, f in config.fields:
                if f.secret and cfg.get(n) is not None:
                    cfg[n] = MASK
            out["config"] = cfg
    return out


def _json_lines(value: JSONValue) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).split("\n")


def _update_body(old: JSONObject, new: JSONObject) -> list[str]:
    """decK's annotated JSON: unchanged keys with three spaces, old values with '-', new with '+';
    keys only the new side has come last."""
    lines: list[str] = []
    old_keys = sorted(old)
    added = sorted(k for k in new if k not in old)

    def emit(prefix: str, key: str, value: JSONValue, comma: bool) -> None:
        rendered = _json_lines(value)
        rendered[0] = f"{json.dumps(key)}: {rendered[0]}"
        if comma:
            rendered[-1] += ","
        lines.extend(f"{prefix}  {r}" for r in rendered)

    for i, k in enumerate(old_keys):
        last = i == len(old_keys) - 1
        if k in new and new[k] == old[k]:
            emit(" ", k, old[k], not last)
        elif k in new:
            emit("-", k, old[k], not last)
            emit("+", k, new[k], not last)
        else:
            emit("-", k, old[k], not last)
    for i, k in enumerate(added):
        emit("+", k, new[k], i != len(added) - 1)
    return lines


def render_change(c: Change) -> str:
    verb = {"create": "creating", "update": "updating", "delete": "deleting"}[c.action]
    head = f"{verb} {c.kind} {c.name}"
    if c.action != "update":
        return head + "\n"
    old = masked(c.table, c.old) or {}
    new = masked(c.table, {**(c.new or {}), "id": (c.old or {}).get("id")}) or {}
    return head + "  {\n" + "\n".join(_update_body(old, new)) + "\n }\n\n"


def render_summary(p: Plan | dict[str, int]) -> str:
    s = p.summary() if isinstance(p, Plan) else p
    return f"Summary:\n  Created: {s['creating']}\n  Updated: {s['updating']}\n  Deleted: {s['deleting']}\n"


def render_text(p: Plan) -> str:
    return "".join(render_change(c) for c in p.changes) + render_summary(p)


def render_json(p: Plan, *, errors: list[str] | None = None, warnings: list[str] | None = None) -> str:
    """decK's ``--json-output`` shape."""

    def item(c: Change) -> JSONObject:
        new = masked(c.table, c.new) if c.action != "update" else masked(c.table, {**(c.new or {}), "id": (c.old or {}).get("id")})
        return {"name": c.name, "kind": c.kind, "body": {"new": new, "old": masked(c.table, c.old)}}

    body = {
        "changes": {
            "creating": [item(c) for c in p.creates],
            "updating": [item(c) for c in p.updates],
            "deleting": [item(c) for c in p.deletes],
        },
        "summary": p.summary(),
        "warnings": warnings or [],
        "errors": errors or [],
    }
    return json.dumps(body, indent="\t", ensure_ascii=False) + "\n"
