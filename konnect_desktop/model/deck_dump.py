"""A ``Config`` written back as a decK file, the way ``deck gateway dump`` writes one: nested,
sorted and stable, so that load → dump → load gives the same Config and dump → load → dump the
same bytes (``model.declarative`` reads files; both share ``model.deck_config``).

A dump reads top to bottom: ``to_deck_dict`` selects the rows (``_DumpTables``), then each
section nests its children (routes under services, credentials under consumers, members under
groups, targets under upstreams, SNIs under certificates, plugins under their one parent); what has
no parent in the file stays at the top level, referring by name. ``render`` turns the document
into YAML or JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from .deck_config import CREDENTIALS, REF_KEY, SORT_KEYS, TIMESTAMPS, Config
from .entities import DEPENDENCY_ORDER, ENTITIES
from .schema import foreign_id

Row = dict[str, Any]
Rows = list[Row]
# the plugin fields that scope a plugin, and the table each refers to
PLUGIN_SCOPES = {"route": "routes", "service": "services", "consumer": "consumers", "consumer_group": "consumer_groups"}
# references decK writes by name (``{name: ...}``) rather than by id, when the parent has one
_REF_BY_NAME = ("services", "consumers", "consumer_groups")


def _sort_key(table: str, e: Row) -> tuple[Any, ...]:
    keys = SORT_KEYS.get(table, ())
    return (*((e.get(k) is None, str(e.get(k) or "")) for k in keys), str(e.get("id") or ""))


def _has_all_tags(e: Row, tags: list[str]) -> bool:
    have = e.get("tags") or []
    return all(t in have for t in tags)


@dataclass(frozen=True)
class _DumpTables:
    """The rows a dump writes (after ``select_tags``), indexed by id, and whether ids are kept."""

    rows: dict[str, Rows]
    by_id: dict[str, dict[str, Row]]
    with_id: bool

    @classmethod
    def of(cls, cfg: Config, with_id: bool, select_tags: list[str] | None) -> _DumpTables:
        rows = {t: list(cfg.get(t) or []) for t in DEPENDENCY_ORDER}
        if select_tags:
            rows = {t: ([e for e in r if _has_all_tags(e, select_tags)] if "tags" in ENTITIES[t].schema.field_names
                        else r) for t, r in rows.items()}
        by_id = {t: {e["id"]: e for e in r if e.get("id")} for t, r in rows.items()}
        return cls(rows, by_id, with_id)

    def ordered(self, table: str) -> Rows:
        return sorted(self.rows[table], key=lambda e: _sort_key(table, e))


def _keep_id(dt: _DumpTables, table: str, e: Row) -> bool:
    if dt.with_id or table in ("certificates", "ca_certificates"):
        return True  # certificates have no name: decK always writes their ids
    key = REF_KEY.get(table)
    return key is not None and table in ("services", "routes") and not e.get(key)


def _ref_name(dt: _DumpTables, table: str, fk: Any) -> str | None:
    """A top-level plugin's scope: the parent's name, else its id."""
    rid = foreign_id(fk)
    parent = dt.by_id.get(table, {}).get(rid) if rid else None
    key = REF_KEY.get(table)
    if parent is not None and key and parent.get(key):
        return str(parent[key])
    return str(rid) if rid else None


def _ref_obj(dt: _DumpTables, table: str, fk: Any) -> Row:
    """A foreign key as decK writes it: ``{name: ...}`` for a named service/consumer/group."""
    rid = foreign_id(fk)
    parent = dt.by_id.get(table, {}).get(rid) if rid else None
    key = REF_KEY.get(table)
    if parent is not None and key and parent.get(key) and table in _REF_BY_NAME:
        return {key: parent[key]}
    return {"id": rid}


def _clean(dt: _DumpTables, table: str, e: Row, drop: Iterable[str] = ()) -> Row:
    """An entity as a decK file writes it: no nulls, no timestamps, ids only where decK keeps
    them, foreign keys by reference (``drop``: the fields its nesting already says)."""
    out: Row = {}
    fks = ENTITIES[table].foreign_keys
    for k, v in e.items():
        if v is None or k in TIMESTAMPS or k in drop:
            continue
        if k == "id" and not _keep_id(dt, table, e):
            continue
        out[k] = _ref_obj(dt, fks[k].reference or "", v) if k in fks else v
    return out


def _children(dt: _DumpTables, table: str, fk: str, parent_table: str) -> tuple[dict[str, Rows], Rows]:
    """Rows of ``table`` grouped by parent id; orphans (parent not in the file) kept apart."""
    grouped: dict[str, Rows] = {}
    orphans: Rows = []
    for e in dt.ordered(table):
        pid = foreign_id(e.get(fk))
        if isinstance(pid, str) and pid in dt.by_id[parent_table]:
            grouped.setdefault(pid, []).append(e)
        else:
            orphans.append(e)
    return grouped, orphans


class _Plugins:
    """Plugins nested under their single parent when it is in the file; the rest top level."""

    def __init__(self, dt: _DumpTables) -> None:
        self.nested: dict[tuple[str, str], Rows] = {}
        self.top: Rows = []
        for p in dt.ordered("plugins"):
            scopes = [f for f in PLUGIN_SCOPES if p.get(f)]
            if len(scopes) == 1:
                f = scopes[0]
                pid = foreign_id(p[f])
                if pid in dt.by_id[PLUGIN_SCOPES[f]]:
                    self.nested.setdefault((f, pid), []).append(_clean(dt, "plugins", p, drop=(f,)))
                    continue
            out = _clean(dt, "plugins", p, drop=tuple(PLUGIN_SCOPES))
            for f in scopes:
                out[f] = _ref_name(dt, PLUGIN_SCOPES[f], p[f])
            self.top.append(out)

    def of(self, scope: str, eid: str) -> Row:
        """``{"plugins": [...]}`` for the entity, or nothing."""
        pl = self.nested.get((scope, eid))
        return {"plugins": pl} if pl else {}


def _meta(cfg: Config, select_tags: list[str] | None) -> Row:
    doc: Row = {"_format_version": "3.0"}
    info = dict(cfg.info)
    if select_tags:
        info["select_tags"] = list(select_tags)
    if info:
        doc["_info"] = info
    for key, value in (("_transform", cfg.transform), ("_konnect", cfg.konnect), ("_workspace", cfg.workspace)):
        if value is not None:
            doc[key] = value
    return doc


def _services_and_routes(dt: _DumpTables, plugins: _Plugins) -> tuple[Rows, Rows]:
    """Services with their routes nested, and the routes without a service in the file."""
    routes_by_service, serviceless = _children(dt, "routes", "service", "services")
    services = []
    for s in dt.ordered("services"):
        out = _clean(dt, "services", s)
        routes = [{**_clean(dt, "routes", r, drop=("service",)), **plugins.of("route", r["id"])}
                  for r in routes_by_service.get(s["id"], [])]
        if routes:
            out["routes"] = routes
        out.update(plugins.of("service", s["id"]))
        services.append(out)
    top_routes = [{**_clean(dt, "routes", r), **plugins.of("route", r["id"])} for r in serviceless]
    return services, top_routes


def _consumers(dt: _DumpTables, plugins: _Plugins, cfg: Config,
               credentials: dict[str, tuple[dict[str, Rows], Rows]]) -> Rows:
    """Consumers with their credentials, plugins and unmodelled extras nested."""
    consumers = []
    for c in dt.ordered("consumers"):
        out = _clean(dt, "consumers", c)
        for t in CREDENTIALS:
            rows = credentials[t][0].get(c["id"])
            if rows:
                out[t] = [_clean(dt, t, r, drop=("consumer",)) for r in rows]
        out.update(plugins.of("consumer", c["id"]))
        out.update(cfg.consumer_extra.get(c["id"], {}))
        consumers.append(out)
    return consumers


def _memberships(dt: _DumpTables) -> tuple[dict[str, list[str]], Rows]:
    """Consumer ids per group id (both in the file), and the memberships that are not."""
    members: dict[str, list[str]] = {}
    orphans: Rows = []
    for m in dt.rows["consumer_group_consumers"]:
        gid, cid = foreign_id(m.get("consumer_group")), foreign_id(m.get("consumer"))
        if isinstance(gid, str) and isinstance(cid, str) and gid in dt.by_id["consumer_groups"] \
                and cid in dt.by_id["consumers"]:
            members.setdefault(gid, []).append(cid)
        else:
            orphans.append({"consumer_group": gid, "consumer": cid})
    return members, orphans


def _member_key(m: Row) -> tuple[bool, str]:
    return m.get("username") is None, str(m.get("username") or m.get("id"))


def _consumer_groups(dt: _DumpTables, plugins: _Plugins, members: dict[str, list[str]]) -> Rows:
    """Consumer groups with their members (by username, else id) and plugins nested."""
    groups = []
    for g in dt.ordered("consumer_groups"):
        out = _clean(dt, "consumer_groups", g)
        ms = []
        for cid in members.get(g["id"], []):
            c = dt.by_id["consumers"][cid]
            ms.append({"username": c["username"]} if c.get("username") else {"id": cid})
        if ms:
            out["consumers"] = sorted(ms, key=_member_key)
        out.update(plugins.of("consumer_group", g["id"]))
        groups.append(out)
    return groups


def _with_children(dt: _DumpTables, parent_table: str, table: str, fk: str) -> tuple[Rows, Rows]:
    """Parents with their children nested under ``table`` (when any), and the orphans."""
    grouped, orphans = _children(dt, table, fk, parent_table)
    parents = []
    for p in dt.ordered(parent_table):
        out = _clean(dt, parent_table, p)
        kids = [_clean(dt, table, e, drop=(fk,)) for e in grouped.get(p["id"], [])]
        if kids:
            out[table] = kids
        parents.append(out)
    return parents, orphans


def to_deck_dict(config: Config | dict[str, Rows], *, with_id: bool = False,
                 select_tags: list[str] | None = None) -> dict[str, Any]:
    """A Config → a decK document (plain dict), nested and sorted as ``deck gateway dump`` does."""
    cfg = config if isinstance(config, Config) else Config(config)
    dt = _DumpTables.of(cfg, with_id, select_tags)
    plugins = _Plugins(dt)
    services, top_routes = _services_and_routes(dt, plugins)
    credentials = {t: _children(dt, t, "consumer", "consumers") for t in CREDENTIALS}
    members, member_orphans = _memberships(dt)
    upstreams, target_orphans = _with_children(dt, "upstreams", "targets", "upstream")
    certificates, sni_orphans = _with_children(dt, "certificates", "snis", "certificate")
    sections: dict[str, Rows] = {
        "services": services, "routes": top_routes,
        "consumers": _consumers(dt, plugins, cfg, credentials),
        "consumer_groups": _consumer_groups(dt, plugins, members),
        "plugins": plugins.top, "upstreams": upstreams, "certificates": certificates,
        "ca_certificates": [_clean(dt, "ca_certificates", e) for e in dt.ordered("ca_certificates")],
        "vaults": [_clean(dt, "vaults", e) for e in dt.ordered("vaults")],
        "targets": [_clean(dt, "targets", e) for e in target_orphans],
        "snis": [_clean(dt, "snis", e) for e in sni_orphans],
        "consumer_group_consumers": member_orphans,
    }
    for t in CREDENTIALS:
        sections[t] = [_clean(dt, t, e) for e in credentials[t][1]]
    doc = _meta(cfg, select_tags)
    doc.update((k, rows) for k, rows in sections.items() if rows)
    for k, v in cfg.extra.items():
        doc.setdefault(k, v)
    return doc


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:  # a decK file spells every value out (no &id001)
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # certificates and keys read best as literal blocks, as decK writes them
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def dump(config: Config | dict[str, list[dict[str, Any]]], *, with_id: bool = False,
         select_tags: list[str] | None = None, fmt: str = "yaml") -> str:
    """A Config → decK file text (YAML or JSON), deterministic: keys and lists sorted."""
    return render(to_deck_dict(config, with_id=with_id, select_tags=select_tags), fmt)


def render(doc: dict[str, Any], fmt: str = "yaml") -> str:
    """A decK document (already in file shape) → its text, keys sorted."""
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown format {fmt!r} (expected 'yaml' or 'json')")
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=2**20)


__all__ = ["PLUGIN_SCOPES", "dump", "render", "to_deck_dict"]
