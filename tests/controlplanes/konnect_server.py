"""A Konnect look-alike on 127.0.0.1 that checks every exchange against Konnect's OpenAPI files.

Test support code, not a fake of our own client: each request the Konnect client sends is
validated with openapi-core against ``konnect-control-planes-v2`` / ``konnect-control-planes-
config-v2`` (parameters, bodies, security), and so is each response before it is sent back.
Violations are collected in ``server.violations``; the fixture fails the test when any exist.

Answers come from real data: control planes in memory, core entities in one real SQLite
``Store`` per control plane (Kong's validation, errors and pagination), data plane nodes seeded
by the test. The wire format follows the spec rather than the Admin API where they differ:
no ``null`` values, no ``next`` on the last page, problem+json errors on control planes.

Two details of the files are worked around, both written down here:
* openapi-core cannot deserialize the control-planes ``filter`` deepObject (its properties are
  objects themselves), so that parameter is expanded into the explicit names its serialization
  produces (``filter[name][eq]``, ``filter[name][contains]``, ...) before loading.
* The core-entities file documents no 400/409 answers; the server still sends Kong's error body
  for them (as Konnect does) and records them in ``server.undocumented`` after checking the body
  has Kong's shape, instead of calling them violations.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from aiohttp import web

from konnect_desktop.controlplanes.kong_admin import NESTED
from konnect_desktop.model.entities import ENTITIES
from konnect_desktop.model.errors import KongError
from konnect_desktop.model.errors import NotFound as ModelNotFound
from konnect_desktop.runtime.store import Store

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "tests" / "specs"  # the repository's copy (source and licence in its README)
CP_SPEC = "konnect-control-planes-v2.openapi.yaml"
CONFIG_SPEC = "konnect-control-planes-config-v2.openapi.yaml"
SPEC_HOST = "https://us.api.konghq.com"  # a server URL listed in both files

TOP: dict[str, str] = {d.admin_path.strip("/"): t for t, d in ENTITIES.items() if d.admin_path}
NESTED_BY_SEGMENT: dict[tuple[str, str], str] = {(p, seg): child for (p, child), seg in NESTED.items()}


def specs_available() -> bool:
    return (SPEC_DIR / CP_SPEC).is_file() and (SPEC_DIR / CONFIG_SPEC).is_file()


# -- spec loading and validation -----------------------------------------------------------------

def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _expand_deep_objects(spec: dict[str, Any]) -> None:
    """Replace deepObject parameters by the explicit query names they serialize to."""
    for item in spec.get("paths", {}).values():
        for key, op in item.items():
            if key == "parameters":
                params_holder = item
            elif isinstance(op, dict) and "parameters" in op:
                params_holder = op
            else:
                continue
            new: list[Any] = []
            for p in params_holder["parameters"]:
                rp = _resolve(spec, p)
                if rp.get("in") == "query" and rp.get("style") == "deepObject":
                    schema = _resolve(spec, rp.get("schema", {}))
                    for prop, psch in (schema.get("properties") or {}).items():
                        psch = _resolve(spec, psch)
                        if psch.get("type") == "object" and psch.get("properties"):
                            for opname, osch in psch["properties"].items():
                                new.append({"name": f"{rp['name']}[{prop}][{opname}]", "in": "query",
                                            "required": False, "schema": copy.deepcopy(_resolve(spec, osch))})
                        else:
                            new.append({"name": f"{rp['name']}[{prop}]", "in": "query", "required": False,
                                        "schema": copy.deepcopy(psch)})
                else:
                    new.append(p)
            params_holder["parameters"] = new


@dataclass
class LoadedSpec:
    spec: dict[str, Any]
    openapi: Any


@functools.cache
def load_spec(name: str) -> LoadedSpec:
    from openapi_core import Config, OpenAPI

    raw = yaml.safe_load((SPEC_DIR / name).read_text(encoding="utf-8"))
    _expand_deep_objects(raw)
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return LoadedSpec(raw, OpenAPI.from_dict(raw, config=config))


def _declared_query(ls: LoadedSpec, template: str, method: str) -> set[str] | None:
    item = ls.spec["paths"].get(template)
    if item is None:
        return None
    names = set()
    for p in list(item.get("parameters", [])) + list((item.get(method) or {}).get("parameters", [])):
        rp = _resolve(ls.spec, p)
        if rp.get("in") == "query":
            names.add(rp["name"])
    return names


def _template_for(ls: LoadedSpec, path: str) -> str | None:
    """The spec path template matching ``path`` (relative to /v2), preferring literal segments."""
    parts = path.strip("/").split("/")
    best: tuple[int, str] | None = None
    for template in ls.spec["paths"]:
        tparts = template.strip("/").split("/")
        if len(tparts) != len(parts):
            continue
        literal = 0
        for tp, pp in zip(tparts, parts, strict=True):
            if tp.startswith("{") and tp.endswith("}"):
                continue
            if tp != pp:
                break
            literal += 1
        else:
            if best is None or literal > best[0]:
                best = (literal, template)
    return best[1] if best else None


# -- the server ----------------------------------------------------------------------------------

def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _strip_nulls(entity: Any) -> Any:
    """Konnect leaves unset fields out at every level (an upstream's ``healthchecks.active.
    https_sni`` too), where the Admin API answers null."""
    if isinstance(entity, dict):
        return {k: _strip_nulls(v) for k, v in entity.items() if v is not None}
    return entity


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    status: int
    documented: bool


@dataclass
class KonnectTestServer:
    """``await server.start()`` → base URL; ``server.violations`` must stay empty."""

    token: str
    tmp: Path
    violations: list[str] = field(default_factory=list)
    undocumented: list[Exchange] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    control_planes: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cp_spec = load_spec(CP_SPEC)
        self.cfg_spec = load_spec(CONFIG_SPEC)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._trace = itertools.count(1)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        for st in self.stores.values():
            st.close()

    # -- seeding -------------------------------------------------------------------------------
    def add_control_plane(self, name: str, *, labels: dict[str, str] | None = None,
                          cluster_type: str = "CLUSTER_TYPE_CONTROL_PLANE", description: str = "") -> dict[str, Any]:
        cid = str(uuid.uuid4())
        now = _iso(time.time())
        short = cid.split("-")[0]
        cp = {
            "id": cid, "name": name, "description": description, "labels": dict(labels or {}),
            "config": {
                "control_plane_endpoint": f"https://{short}.us.cp0.konghq.com",
                "telemetry_endpoint": f"https://{short}.us.tp0.konghq.com",
                "cluster_type": cluster_type, "auth_type": "pinned_client_certs",
                "cloud_gateway": False, "proxy_urls": [],
            },
            "created_at": now, "updated_at": now,
        }
        self.control_planes[cid] = cp
        self.nodes[cid] = []
        return cp

    def add_node(self, cp_id: str, hostname: str, version: str = "3.9.1.0", last_ping: float | None = None) -> dict[str, Any]:
        now = int(time.time())
        node = {
            "id": str(uuid.uuid4()), "version": version, "hostname": hostname,
            "last_ping": int(last_ping if last_ping is not None else now), "type": "kong-proxy",
            "created_at": now, "updated_at": now, "config_hash": "a" * 32,
            "compatibility_status": {"state": "COMPATIBILITY_STATE_FULLY_COMPATIBLE", "issues": []},
        }
        self.nodes[cp_id].append(node)
        return node

    def store(self, cp_id: str) -> Store:
        if cp_id not in self.stores:
            self.stores[cp_id] = Store(self.tmp / f"konnect-{cp_id}.db")
        return self.stores[cp_id]

    # -- validation ----------------------------------------------------------------------------
    def _spec_for(self, path: str) -> LoadedSpec:
        rel = path[len("/v2"):]
        tail = rel.split("/")
        if len(tail) <= 3:  # /control-planes, /control-planes/{id}
            return self.cp_spec
        if _template_for(self.cp_spec, rel) is not None:
            return self.cp_spec
        return self.cfg_spec

    def _mock_request(self, request: web.Request, body: bytes) -> Any:
        from openapi_core.testing import MockRequest

        return MockRequest(
            SPEC_HOST, request.method.lower(), request.path,
            args={k: v for k, v in request.query.items()},
            headers=dict(request.headers), data=body or None,
            content_type=request.headers.get("Content-Type", "application/json").split(";")[0],
        )

    def _check_request(self, ls: LoadedSpec, request: web.Request, body: bytes) -> list[str]:
        errors: list[str] = []
        rel = request.path[len("/v2"):]
        template = _template_for(ls, rel)
        if template is None:
            return [f"{request.method} {request.path}: no such path in the spec"]
        declared = _declared_query(ls, template, request.method.lower()) or set()
        for k in request.query:
            if k not in declared:
                errors.append(f"{request.method} {request.path}: query parameter '{k}' is not declared")
        if len(request.query.getall("size", [])) > 1:
            errors.append("repeated query parameter")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # allowEmptyValue in the files
                ls.openapi.validate_request(self._mock_request(request, body))
        except Exception as exc:  # openapi-core raises one of many validation error types
            errors.append(f"{request.method} {request.path}: request invalid: {_describe(exc)}")
        return errors

    def _check_response(self, ls: LoadedSpec, request: web.Request, body: bytes, status: int,
                        payload: bytes, content_type: str) -> tuple[list[str], bool]:
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from openapi_core.testing import MockResponse

        resp = MockResponse(payload, status_code=status, content_type=content_type)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ls.openapi.validate_response(self._mock_request(request, body), resp)
        except ResponseNotFound:
            return [], False
        except Exception as exc:
            return [f"{request.method} {request.path} -> {status}: response invalid: {_describe(exc)}"], True
        return [], True

    # -- dispatch ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        if not path.startswith("/v2/"):
            self.violations.append(f"{request.method} {path}: not under /v2")
            return web.json_response({"message": "Not found"}, status=404)
        ls = self._spec_for(path)
        req_errors = self._check_request(ls, request, body)
        self.violations.extend(req_errors)
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            status, obj, ctype = self._unauthorized(ls)
        elif req_errors:
            status, obj, ctype = 400, self._problem(400, "Bad Request", "; ".join(req_errors)), "application/problem+json"
        else:
            try:
                status, obj, ctype = self._route(request, body)
            except _Answer as a:
                status, obj, ctype = a.status, a.body, a.content_type
        payload = b"" if obj is None else json.dumps(obj).encode()
        resp_errors, documented = self._check_response(ls, request, body, status, payload, ctype)
        self.violations.extend(resp_errors)
        ex = Exchange(request.method, path, dict(request.query), status, documented)
        self.exchanges.append(ex)
        if not documented:
            if not (isinstance(obj, dict) and isinstance(obj.get("message"), str)):
                self.violations.append(f"{request.method} {path} -> {status}: undocumented status without a message body")
            self.undocumented.append(ex)
        if obj is None:
            return web.Response(status=status)
        return web.Response(status=status, body=payload, content_type=ctype)

    def _problem(self, status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
        return {"status": status, "title": title, "instance": f"kong:trace:{next(self._trace)}",
                "detail": detail, **extra}

    def _unauthorized(self, ls: LoadedSpec) -> tuple[int, Any, str]:
        if ls is self.cp_spec:
            return 401, self._problem(401, "Unauthorized", "Invalid credentials"), "application/problem+json"
        return 401, {"message": "Unauthorized", "status": 401}, "application/json"

    def _route(self, request: web.Request, body: bytes) -> tuple[int, Any, str]:
        parts = request.path[len("/v2/"):].strip("/").split("/")
        if parts[0] != "control-planes":
            raise _Answer(404, {"message": "Not found"})
        data = _json_body(body)
        m = request.method
        if len(parts) == 1:
            if m == "GET":
                return self._list_cps(request)
            if m == "POST":
                return self._create_cp(data)
        cp = self.control_planes.get(parts[1]) if len(parts) > 1 else None
        if cp is None:
            raise _Answer(404, self._problem(404, "Not Found", f"control plane '{parts[1] if len(parts) > 1 else ''}' not found"),
                          "application/problem+json")
        if len(parts) == 2:
            if m == "GET":
                return 200, cp, "application/json"
            if m == "DELETE":
                del self.control_planes[cp["id"]]
                return 204, None, "application/json"
            if m == "PATCH" and isinstance(data, dict):
                cp.update({k: v for k, v in data.items() if k in ("name", "description", "labels")})
                cp["updated_at"] = _iso(time.time())
                return 200, cp, "application/json"
        if len(parts) == 3 and parts[2] == "nodes" and m == "GET":
            return self._list_nodes(request, cp["id"])
        if len(parts) >= 4 and parts[2] == "core-entities":
            return self._entities(request, cp["id"], parts[3:], data)
        raise _Answer(405, {"message": "Method not allowed"})

    # -- control planes ------------------------------------------------------------------------
    def _list_cps(self, request: web.Request) -> tuple[int, Any, str]:
        q = request.query
        size = int(q.get("page[size]", "10"))
        number = int(q.get("page[number]", "1"))
        items = sorted(self.control_planes.values(), key=lambda c: c["created_at"])
        if "filter[name][eq]" in q:
            items = [c for c in items if c["name"] == q["filter[name][eq]"]]
        if "filter[name][contains]" in q:
            items = [c for c in items if q["filter[name][contains]"] in c["name"]]
        page = items[(number - 1) * size: number * size]
        return 200, {"meta": {"page": {"number": number, "size": size, "total": len(items)}}, "data": page}, "application/json"

    def _create_cp(self, data: Any) -> tuple[int, Any, str]:
        if any(c["name"] == data["name"] for c in self.control_planes.values()):
            raise _Answer(409, self._problem(409, "Conflict", f"Key (org_id, name)=({data['name']}) already exists."),
                          "application/problem+json")
        cp = self.add_control_plane(data["name"], labels=data.get("labels"),
                                    cluster_type=data.get("cluster_type", "CLUSTER_TYPE_CONTROL_PLANE"),
                                    description=data.get("description", ""))
        return 201, cp, "application/json"

    def _list_nodes(self, request: web.Request, cp_id: str) -> tuple[int, Any, str]:
        q = request.query
        size = int(q.get("page[size]") or 100)
        start = int(q.get("page[after]") or 0)
        items = self.nodes[cp_id][start:start + size]
        page: dict[str, Any] = {"total_count": len(self.nodes[cp_id])}
        if start + size < len(self.nodes[cp_id]):
            page["next"] = f"/v2/control-planes/{cp_id}/nodes?page%5Bafter%5D={start + size}&page%5Bsize%5D={size}"
        return 200, {"items": items, "page": page}, "application/json"

    # -- core entities -------------------------------------------------------------------------
    def _entities(self, request: web.Request, cp_id: str, parts: list[str], data: Any) -> tuple[int, Any, str]:
        st = self.store(cp_id)
        m = request.method
        try:
            if parts[0] == "schemas" and len(parts) == 3 and parts[1] == "plugins" and m == "GET":
                from konnect_desktop import plugins

                if plugins.get(parts[2]) is None:
                    raise ModelNotFound()
                return 200, plugins.entity_schema(parts[2]).to_kong(), "application/json"
            if parts[0] == "consumer_groups" and len(parts) >= 3 and parts[2] == "consumers":
                return self._membership(st, parts, m, data)
            table = TOP.get(parts[0])
            if table is None:
                raise ModelNotFound()
            where: dict[str, Any] | None = None
            fk_set: dict[str, Any] = {}
            if len(parts) >= 3:
                child = NESTED_BY_SEGMENT.get((table, parts[2]))
                if child is None:
                    raise ModelNotFound()
                parent = st.get(table, parts[1])
                fk = next(f for f, fd in ENTITIES[child].foreign_keys.items() if fd.reference == table)
                where, fk_set = {fk: parent["id"]}, {fk: {"id": parent["id"]}}
                table, key = child, (parts[3] if len(parts) == 4 else None)
            else:
                key = parts[1] if len(parts) == 2 else None
            if key is None:
                if m == "GET":
                    return self._page(request, st, table, where)
                if m == "POST":
                    return 201, _strip_nulls(st.insert(table, {**(data or {}), **fk_set})), "application/json"
            else:
                if m == "GET":
                    return 200, _strip_nulls(st.get(table, key, where=where)), "application/json"
                if m == "PUT":
                    return 200, _strip_nulls(st.upsert(table, key, {**(data or {}), **fk_set})), "application/json"
                if m == "DELETE":
                    st.delete(table, key, where=where)
                    return 204, None, "application/json"
            raise _Answer(405, {"message": "Method not allowed"})
        except ModelNotFound:
            raise _Answer(404, {"message": "Not found"}) from None
        except KongError as exc:
            raise _Answer(exc.status, exc.to_dict()) from None

    def _page(self, request: web.Request, st: Store, table: str, where: dict[str, Any] | None) -> tuple[int, Any, str]:
        q = request.query
        size = int(q.get("size", "100"))
        tags_raw = q.get("tags")
        tags, mode = None, "and"
        if tags_raw:
            mode = "or" if "/" in tags_raw else "and"
            tags = [t for t in tags_raw.replace("/", ",").split(",") if t]
        items, nxt = st.page(table, size, q.get("offset") or None, tags, mode, where)
        out: dict[str, Any] = {"data": [_strip_nulls(e) for e in items]}
        if nxt:
            out["offset"] = nxt
            out["next"] = f"{request.path}?offset={quote(nxt, safe='')}&size={size}"
        return 200, out, "application/json"

    def _membership(self, st: Store, parts: list[str], m: str, data: Any) -> tuple[int, Any, str]:
        group = st.get("consumer_groups", parts[1])
        if len(parts) == 3 and m == "GET":
            rows = st.all("consumer_group_consumers", where={"consumer_group": group["id"]})
            consumers = [_strip_nulls(st.get("consumers", r["consumer"]["id"])) for r in rows]
            return 200, {"data": consumers}, "application/json"
        if len(parts) == 3 and m == "POST":
            consumer = st.get("consumers", (data or {}).get("consumer", ""))
            st.insert("consumer_group_consumers", {"consumer_group": {"id": group["id"]}, "consumer": {"id": consumer["id"]}})
            return 201, {"consumer_group": _strip_nulls(group), "consumers": [_strip_nulls(consumer)]}, "application/json"
        if len(parts) == 4 and m == "DELETE":
            consumer = st.get("consumers", parts[3])
            rows = st.all("consumer_group_consumers", where={"consumer_group": group["id"], "consumer": consumer["id"]})
            if not rows:
                raise ModelNotFound()
            st.delete("consumer_group_consumers", rows[0]["id"])
            return 204, None, "application/json"
        raise _Answer(405, {"message": "Method not allowed"})


class _Answer(Exception):
    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def _json_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise _Answer(400, {"message": "Cannot parse JSON body"}) from None


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return " <- ".join(parts)[:2000]
