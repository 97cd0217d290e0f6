"""The service catalog: API products and their versions, stored with a local runtime group.

An API product ("OpenAI") has a display name, a description and labels; each of its versions
("v1", "v2") may carry an OpenAPI document and is implemented by a gateway service of the same
runtime group. A version can be published to the Dev Portal, and its registration policy says
what happens when a developer asks for access: ``auto`` (approved at once), ``manual`` (waits in
the operator's approvals list) or ``off`` (no registration). An approved registration puts the
application's consumer in the version's consumer group (``consumer_group``, e.g. Gold) and in the
version's ACL group (``acl_group``), which the acl plugin on the implementing service allows.

Products are not Kong entities: decK files carry none. They live in their own tables of the
runtime's SQLite file (``x_products``, ``x_product_versions``; see ``Store.side_write``), and
travel in a side file next to the decK file: ``kong.yaml`` → ``kong.products.yaml`` (format in
``export_products``). Services are named there (not by id), so the file applies to another runtime
group holding the same services.

Errors are ``KongError`` schema violations naming the field; nothing is half-written.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..jsontypes import JSONObject, JSONValue
from ..model.errors import KongError, NotFound, schema_violation, unique_violation
from .store import Store

POLICIES = ("auto", "manual", "off")
SIDE_SUFFIX = ".products.yaml"
FORMAT_VERSION = "1.0"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

_DDL = (
    """CREATE TABLE IF NOT EXISTS x_products (
      id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
      labels TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS x_product_versions (
      id TEXT PRIMARY KEY,
      product_id TEXT NOT NULL REFERENCES x_products(id) ON DELETE CASCADE,
      version TEXT NOT NULL, openapi TEXT, service TEXT, published INTEGER NOT NULL DEFAULT 0,
      registration TEXT NOT NULL DEFAULT 'auto', consumer_group TEXT, acl_group TEXT NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (product_id, version))""",
)


def side_file_for(deck_path: str | Path) -> Path:
    """``kong.yaml`` → ``kong.products.yaml`` (same folder)."""
    p = Path(deck_path)
    stem = p.name
    for ext in (".yaml", ".yml", ".json"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    return p.with_name(stem + SIDE_SUFFIX)


@functools.lru_cache(maxsize=32)
def _parse_document(text: str) -> JSONValue:
    return yaml.safe_load(text)


def _now() -> int:
    import time

    return int(time.time())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "product"


class Catalog:
    """The API products of one local runtime group (its ``Store``). Synchronous and thread-safe
    like the store; async callers use ``asyncio.to_thread``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.side_write() as w:
            for stmt in _DDL:
                w.execute(stmt)

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _product(row: sqlite3.Row | tuple[Any, ...]) -> JSONObject:
        pid, name, desc, labels, created, updated = row
        return {"id": pid, "name": name, "description": desc, "labels": json.loads(labels),
                "created_at": created, "updated_at": updated}

    @staticmethod
    def _version(row: tuple[Any, ...]) -> JSONObject:
        (vid, pid, version, openapi, service, published, registration, group, acl, created,
         updated) = row
        return {"id": vid, "product": {"id": pid}, "version": version, "openapi": openapi,
                "service": service, "published": bool(published), "registration": registration,
                "consumer_group": group, "acl_group": acl, "created_at": created, "updated_at": updated}

    def list_products(self) -> list[JSONObject]:
        with self.store.side_read() as r:
            rows = r.execute("SELECT * FROM x_products ORDER BY name COLLATE NOCASE").fetchall()
        return [self._product(row) for row in rows]

    def get_product(self, id_or_name: str) -> JSONObject:
        with self.store.side_read() as r:
            row = r.execute("SELECT * FROM x_products WHERE id = ? OR name = ?", (id_or_name, id_or_name)).fetchone()
        if row is None:
            raise NotFound()
        return self._product(row)

    def list_versions(self, product: str | None = None, *, published: bool | None = None) -> list[JSONObject]:
        sql, args = "SELECT * FROM x_product_versions", []
        conds = []
        if product is not None:
            conds.append("product_id = ?")
            args.append(self.get_product(product)["id"])
        if published is not None:
            conds.append("published = ?")
            args.append(int(published))
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        with self.store.side_read() as r:
            rows = r.execute(sql + " ORDER BY product_id, version", args).fetchall()
        return [self._version(row) for row in rows]

    def get_version(self, version_id: str) -> JSONObject:
        with self.store.side_read() as r:
            row = r.execute("SELECT * FROM x_product_versions WHERE id = ?", (version_id,)).fetchone()
        if row is None:
            raise NotFound()
        return self._version(row)

    def find_version(self, product: str, version: str) -> JSONObject:
        pid = self.get_product(product)["id"]
        with self.store.side_read() as r:
            row = r.execute("SELECT * FROM x_product_versions WHERE product_id = ? AND version = ?",
                            (pid, version)).fetchone()
        if row is None:
            raise NotFound()
        return self._version(row)

    def openapi(self, version_id: str) -> JSONObject | None:
        """The version's OpenAPI document, parsed (None when it has none). The parse is cached by
        the text (YAML parsing was ~90% of a portal page): treat the result as read-only."""
        text = self.get_version(version_id)["openapi"]
        return _parse_document(text) if text else None

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def _check_product(data: Mapping[str, JSONValue], *, partial: bool) -> JSONObject:
        errors: JSONObject = {}
        out: JSONObject = {}
        unknown = set(data) - {"name", "description", "labels"}
        for f in sorted(unknown):
            errors[f] = "unknown field"
        if "name" in data or not partial:
            name = data.get("name")
            if not isinstance(name, str) or not name.strip():
                errors["name"] = "required field missing" if name is None else "expected a non-empty string"
            elif len(name) > 100:
                errors["name"] = "length must be at most 100"
            else:
                out["name"] = name.strip()
        if "description" in data:
            d = data["description"]
            if d is not None and not isinstance(d, str):
                errors["description"] = "expected a string"
            else:
                out["description"] = d or ""
        if "labels" in data:
            labels = data["labels"] or {}
            if not isinstance(labels, Mapping):
                errors["labels"] = "expected a map"
            else:
                bad = [k for k, v in labels.items() if not isinstance(k, str) or not _LABEL_RE.match(k)
                       or not isinstance(v, str) or len(v) > 63]
                if bad:
                    errors["labels"] = f"invalid label {bad[0]!r}: keys are 1-63 letters, digits, '.', '_' or '-', values strings up to 63"
                else:
                    out["labels"] = dict(labels)
        if errors:
            raise schema_violation(errors)
        return out

    def _check_version(self, data: Mapping[str, JSONValue], *, partial: bool) -> JSONObject:
        errors: JSONObject = {}
        out: JSONObject = {}
        fields = {"version", "openapi", "service", "published", "registration", "consumer_group", "acl_group"}
        for f in sorted(set(data) - fields):
            errors[f] = "unknown field"
        if "version" in data or not partial:
            v = data.get("version")
            if not isinstance(v, str) or not _VERSION_RE.match(v):
                errors["version"] = ("required field missing" if v is None else
                                     "expected 1-32 letters, digits, '.', '_' or '-' (e.g. v1)")
            else:
                out["version"] = v
        if "openapi" in data:
            doc = data["openapi"]
            if isinstance(doc, Mapping):
                doc = yaml.safe_dump(dict(doc), sort_keys=False)
            if doc is not None:
                try:
                    parsed = yaml.safe_load(doc) if isinstance(doc, str) else None
                except yaml.YAMLError as exc:
                    parsed = None
                    errors["openapi"] = f"not YAML or JSON: {str(exc).splitlines()[0]}"
                if "openapi" not in errors and (not isinstance(parsed, Mapping) or not (
                        "openapi" in parsed or "swagger" in parsed)):
                    errors["openapi"] = "expected an OpenAPI document (a map with an 'openapi' field)"
            out["openapi"] = doc
        if "service" in data:
            svc = data["service"]
            if isinstance(svc, Mapping):
                svc = svc.get("id") or svc.get("name")
            if svc is not None:
                found = self.store.find("services", str(svc)) if isinstance(svc, str) else None
                if found is None:
                    errors["service"] = f"no gateway service {svc!r} in this runtime group"
                else:
                    svc = found["id"]
            out["service"] = svc
        if "published" in data:
            if not isinstance(data["published"], bool):
                errors["published"] = "expected a boolean"
            out["published"] = int(bool(data["published"]))
        if "registration" in data:
            if data["registration"] not in POLICIES:
                errors["registration"] = f"expected one of: {', '.join(POLICIES)}"
            out["registration"] = data["registration"]
        if "consumer_group" in data:
            g = data["consumer_group"]
            if g is not None:
                found = self.store.find("consumer_groups", str(g)) if isinstance(g, str) else None
                if found is None:
                    errors["consumer_group"] = f"no consumer group {g!r} in this runtime group"
                else:
                    g = found["name"]
            out["consumer_group"] = g
        if "acl_group" in data:
            a = data["acl_group"]
            if not isinstance(a, str) or not _LABEL_RE.match(a):
                errors["acl_group"] = "expected 1-63 letters, digits, '.', '_' or '-'"
            out["acl_group"] = a
        if errors:
            raise schema_violation(errors)
        return out

    # -- writing ------------------------------------------------------------------------------
    def create_product(self, data: Mapping[str, JSONValue]) -> JSONObject:
        vals = self._check_product(data, partial=False)
        pid, now = str(uuid.uuid4()), _now()
        with self.store.side_write(on_duplicate=lambda: unique_violation({"name": vals["name"]})) as w:
            w.execute("INSERT INTO x_products VALUES (?, ?, ?, ?, ?, ?)",
                      (pid, vals["name"], vals.get("description", ""), json.dumps(vals.get("labels", {})), now, now))
        return self.get_product(pid)

    def update_product(self, product: str, patch: Mapping[str, JSONValue]) -> JSONObject:
        current = self.get_product(product)
        vals = self._check_product(patch, partial=True)
        if not vals:
            return current
        sets = ", ".join(f"{k} = ?" for k in vals)
        args = [json.dumps(v) if k == "labels" else v for k, v in vals.items()]
        with self.store.side_write(on_duplicate=lambda: unique_violation({"name": vals["name"]})) as w:
            w.execute(f"UPDATE x_products SET {sets}, updated_at = ? WHERE id = ?", (*args, _now(), current["id"]))
        return self.get_product(current["id"])

    def delete_product(self, product: str) -> None:
        """The product and its versions (registrations of those versions go too: see the portal)."""
        pid = self.get_product(product)["id"]
        with self.store.side_write() as w:
            w.execute("DELETE FROM x_products WHERE id = ?", (pid,))

    def create_version(self, product: str, data: Mapping[str, JSONValue]) -> JSONObject:
        p = self.get_product(product)
        vals = self._check_version(data, partial=False)
        vid, now = str(uuid.uuid4()), _now()
        acl = vals.get("acl_group") or f"{_slug(p['name'])}-{vals['version']}"
        with self.store.side_write(on_duplicate=lambda: unique_violation({"product": p["name"], "version": vals["version"]})) as w:
            w.execute("INSERT INTO x_product_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (vid, p["id"], vals["version"], vals.get("openapi"), vals.get("service"),
                       vals.get("published", 0), vals.get("registration", "auto"),
                       vals.get("consumer_group"), acl, now, now))
        return self.get_version(vid)

    def update_version(self, version_id: str, patch: Mapping[str, JSONValue]) -> JSONObject:
        current = self.get_version(version_id)
        vals = self._check_version(patch, partial=True)
        if not vals:
            return current
        sets = ", ".join(f"{k} = ?" for k in vals)
        with self.store.side_write(on_duplicate=lambda: unique_violation({"version": vals.get("version")})) as w:
            w.execute(f"UPDATE x_product_versions SET {sets}, updated_at = ? WHERE id = ?",
                      (*vals.values(), _now(), version_id))
        return self.get_version(version_id)

    def delete_version(self, version_id: str) -> None:
        self.get_version(version_id)
        with self.store.side_write() as w:
            w.execute("DELETE FROM x_product_versions WHERE id = ?", (version_id,))

    def publish(self, version_id: str, published: bool = True) -> JSONObject:
        return self.update_version(version_id, {"published": published})

    def unpublish(self, version_id: str) -> JSONObject:
        return self.publish(version_id, False)

    def set_registration(self, version_id: str, policy: str) -> JSONObject:
        return self.update_version(version_id, {"registration": policy})

    def set_consumer_group(self, version_id: str, group: str | None) -> JSONObject:
        return self.update_version(version_id, {"consumer_group": group})

    # -- side file ----------------------------------------------------------------------------
    def export_products(self) -> JSONObject:
        """The catalog as the side file's document::

            _format_version: "1.0"
            products:
            - name: OpenAI
              description: ...
              labels: {team: ai}
              versions:
              - version: v1
                service: openai          # the gateway service's name (its id when unnamed)
                published: true
                registration: auto       # auto | manual | off
                consumer_group: Gold     # optional
                acl_group: openai-v1
                openapi:                 # optional: the document inline ...
                  openapi: 3.0.3
                # openapi_file: openapi.yaml   ... or a file beside the side file (import only)
        """
        out = []
        for p in self.list_products():
            versions = []
            for v in self.list_versions(p["id"]):
                svc = self.store.find("services", v["service"]) if v["service"] else None
                item: JSONObject = {"version": v["version"],
                                        "service": (svc.get("name") or svc["id"]) if svc else v["service"],
                                        "published": v["published"], "registration": v["registration"],
                                        "consumer_group": v["consumer_group"], "acl_group": v["acl_group"]}
                if v["openapi"]:
                    item["openapi"] = yaml.safe_load(v["openapi"])  # readable YAML, not a text block
                versions.append({k: val for k, val in item.items() if val is not None})
            out.append({"name": p["name"], "description": p["description"], "labels": p["labels"],
                        "versions": versions})
        return {"_format_version": FORMAT_VERSION, "products": out}

    def import_products(self, doc: Mapping[str, JSONValue]) -> int:
        """Make the catalog match ``doc`` (``export_products``' format) in one transaction; returns
        the number of versions. Products and versions are matched by name and version string, so
        the ones that stay keep their ids (and the Dev Portal's registrations of them); the rest
        are deleted. A bad entry raises and leaves the catalog as it was."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("products", []), list):
            raise schema_violation({"products": "expected a list"})
        count = 0
        with self.store.transaction():
            keep_products, keep_versions = set(), set()
            for i, p in enumerate(doc.get("products") or []):
                if not isinstance(p, Mapping):
                    raise schema_violation({f"products[{i}]": "expected a map"})
                fields = {k: v for k, v in p.items() if k != "versions"}
                try:
                    existing = self._find_product(str(p.get("name")))
                    prod = (self.update_product(existing["id"], {"labels": {}, "description": "", **fields})
                            if existing else self.create_product(fields))
                    keep_products.add(prod["id"])
                    for v in p.get("versions") or []:
                        if not isinstance(v, Mapping):
                            raise schema_violation({"versions": "expected a list of maps"})
                        old = self._find_version(prod["id"], str(v.get("version")))
                        full = {"openapi": None, "service": None, "published": False, "registration": "auto",
                                "consumer_group": None, **v}
                        if old is not None and "acl_group" not in v:
                            full["acl_group"] = old["acl_group"]
                        ver = self.update_version(old["id"], full) if old else self.create_version(prod["id"], v)
                        keep_versions.add(ver["id"])
                        count += 1
                except KongError as exc:
                    raise schema_violation({f"products[{i}] ({p.get('name')})": exc.fields or exc.message}) from None
            with self.store.side_write() as w:
                for pid in {x["id"] for x in self.list_products()} - keep_products:
                    w.execute("DELETE FROM x_products WHERE id = ?", (pid,))
                for vid in {x["id"] for x in self.list_versions()} - keep_versions:
                    w.execute("DELETE FROM x_product_versions WHERE id = ?", (vid,))
        return count

    def _find_product(self, name: str) -> JSONObject | None:
        try:
            return self.get_product(name)
        except NotFound:
            return None

    def _find_version(self, product_id: str, version: str) -> JSONObject | None:
        try:
            return self.find_version(product_id, version)
        except NotFound:
            return None

    def save_side_file(self, deck_path: str | Path) -> Path:
        path = side_file_for(deck_path)
        path.write_text(yaml.safe_dump(self.export_products(), sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    def load_side_file(self, deck_path: str | Path) -> int | None:
        """Import the side file next to ``deck_path`` when there is one (None when there is not).
        A version's ``openapi_file`` is read relative to the side file's folder."""
        path = side_file_for(deck_path)
        if not path.exists():
            return None
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:  # said in words, where: never a traceback
            mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise schema_violation({"products": f"{path.name} is not valid YAML{where}"}) from None
        for p in (doc.get("products") or []) if isinstance(doc, dict) else []:
            for v in (p.get("versions") or []) if isinstance(p, dict) else []:
                if isinstance(v, dict) and "openapi_file" in v:
                    ref = path.parent / str(v.pop("openapi_file"))
                    try:
                        v["openapi"] = ref.read_text(encoding="utf-8")
                    except OSError as exc:
                        raise schema_violation({"openapi_file": f"cannot read {ref}: {exc.strerror}"}) from None
        return self.import_products(doc)

    def published(self) -> Iterator[tuple[JSONObject, list[JSONObject]]]:
        """Products with at least one published version, each with its published versions."""
        for p in self.list_products():
            vs = self.list_versions(p["id"], published=True)
            if vs:
                yield p, vs


__all__ = ["Catalog", "POLICIES", "SIDE_SUFFIX", "side_file_for"]
