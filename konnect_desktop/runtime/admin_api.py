"""The local runtime's Admin API: Kong Gateway's Admin API over the SQLite ``Store``.

Anything that speaks to Kong (decK, Kong Manager, client libraries, curl scripts, the app's own
remote client) must work against it unchanged, so paths, verbs, status codes, pagination and the
error bodies follow Kong 3.x (``kong/api/endpoints.lua``, ``kong/api/arguments.lua``,
``kong/db/errors.lua``). As in Kong, the entity endpoints are *generated* from the entity model
(``ENTITIES``): for each entity its collection and entity paths, and for each foreign key the
nested collection (``/services/{s}/routes``), the nested entity (``/services/{s}/routes/{r}``) and
the foreign-entity path (``/routes/{r}/service``). Hand-written handlers cover what Kong writes by
hand too: consumer-group membership, info and status, schemas, tags and ``/config``. Bundled
plugins add their own endpoints (``PluginSpec.admin_routes``, e.g. proxy-cache's purges).

The store is synchronous SQLite; every store call runs on one worker thread owned by this app, so
the event loop (shared with the proxy and the GUI) never waits on disk, and a multi-step change
runs inside one store transaction (nothing is half-written on any error).

Choices where Kong has none to copy:
* ``GET /`` reports ``configuration.database = "sqlite"`` (honest; not ``"off"``, so decK and Kong
  Manager treat the runtime as a database-backed node and use the CRUD endpoints).
* ``/config`` works although the node has a database: ``POST`` replaces everything in one
  transaction (201 with the loaded entities keyed by table and id, as Kong's DB-less node
  answers), ``GET`` returns ``{"config": "<decK YAML>"}``.
* ``Kong-Admin-Token`` (Enterprise's RBAC header) protects the API when a token is configured.
* Only loopback (or explicitly allowed) ``Host`` names are served, a browser ``Origin`` must be
  allowed, and CORS headers are sent only for allowed origins (``admin_guard``): the runtime
  lives next to a web browser, Kong's Admin API behind a firewall.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hmac
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from multidict import MultiMapping

from .. import plugins as plugin_registry
from ..errors import AppError
from ..model import ENTITIES, EntityDef, check_entity
from ..model.entities import VAULT_BACKENDS
from ..model.errors import DECLARATIVE_CONFIG, KongError, NotFound, lua_pretty, schema_violation
from ..model.kong_compat import KONG_VERSION, TAGLINE
from ..model.schema import Schema, is_uuid
from ..plugins.base import AdminCall as PluginAdminCall
from . import admin_certificates, admin_config, admin_debug, admin_upstreams
from .admin_body import Body, BodyError, decode_form, parse_json, parse_multipart, parse_urlencoded
from .admin_guard import TOKEN_HEADER, AdminAccess, check_bind, require_token_for
from .status_api import status_body, store_reachable
from .store import Store

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_TAGS_FILTER = 5
JSON_TYPE = "application/json; charset=utf-8"

# Kong's names for credential collections under their consumer (``admin_api_nested_name``).
NESTED_NAME: dict[str, str] = {
    "keyauth_credentials": "key-auth",
    "basicauth_credentials": "basic-auth",
    "jwt_secrets": "jwt",
    "hmacauth_credentials": "hmac-auth",
}

# Tag filters (kong/api/endpoints.lua): printable ASCII except ',' and '/', or UTF-8.
_TAG_CHARS = "[\x20-\x2b\x2d\x2e\x30-\x7e\u0080-\U0010ffff]"
_TAGS_AND = re.compile(f"^(?:{_TAG_CHARS}+(?:,|$))+$")
_TAGS_OR = re.compile(f"^(?:{_TAG_CHARS}+(?:/|$))+$")
_LUA_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")

NEEDS_BODY = frozenset({"POST", "PUT", "PATCH"})


ADMIN_API_KEY: web.AppKey[AdminAPI] = web.AppKey("admin_api")


# -- small helpers ------------------------------------------------------------------------------
class HttpAnswer(AppError):
    """An Admin API response decided early: status and JSON body (``message`` is its message)."""

    status: int

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("message", "")))
        self.status = status
        self.body = body


def _message(status: int, message: str) -> HttpAnswer:
    return HttpAnswer(status, {"message": message})


def _json_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return web.Response(status=status, body=text.encode("utf-8"), content_type="application/json",
                        charset="utf-8", headers=headers)


@dataclass(frozen=True)
class _Side:
    """One end of a consumer-group membership, as a URL stands on it."""

    table: str  # the collection in the URL: consumer_groups | consumers
    fk: str  # its field in a membership row
    other_table: str
    other_fk: str
    body_key: str  # what a POST body names the other side with
    other_word: str  # for "… not found"


_GROUP_SIDE = _Side("consumer_groups", "consumer_group", "consumers", "consumer", "consumer", "Consumer")
_CONSUMER_SIDE = _Side("consumers", "consumer", "consumer_groups", "consumer_group", "group", "Consumer group")


def _escape_uri(value: str) -> str:
    # ngx.escape_uri leaves unreserved characters (and a few sub-delims) alone.
    return quote(value, safe="-_.~!*'()")


def _lua_tonumber(raw: str) -> float | int | None:
    if not _LUA_NUMBER.match(raw):
        return None
    s = raw.strip()
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:  # pragma: no cover - regex guards
            return None


def _page_size(call: Call) -> int:
    """The ``size`` argument of a listing (entities and /tags alike), Kong's words on bad input."""
    size_raw = call.arg("size")
    if size_raw is None:
        return DEFAULT_PAGE_SIZE
    n = _lua_tonumber(size_raw)
    if n is None:
        raise KongError(9, "size must be a number")
    if isinstance(n, float) and not n.is_integer() or not 1 <= n <= MAX_PAGE_SIZE:
        raise KongError(9, f"size must be an integer between 1 and {MAX_PAGE_SIZE}")
    return int(n)


# -- routing ------------------------------------------------------------------------------------
@dataclass
class Call:
    """One request as handlers see it."""

    request: web.Request
    params: list[str]  # decoded path parameters, in order
    raw_params: list[str]  # as they appeared in the URL
    query: MultiMapping[str]
    body: Body | None = None

    def arg(self, name: str) -> str | None:
        return self.query.get(name)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass
class Endpoint:
    segments: tuple[str | None, ...]  # literal segment, or None for a parameter
    template: str  # "/services/{services}" (Kong's /endpoints notation)
    methods: dict[str, Handler] = field(default_factory=dict)
    raw_body: bool = False  # /config reads its body itself

    @property
    def score(self) -> tuple[bool, ...]:
        return tuple(s is not None for s in self.segments)


def _segments(template: str) -> tuple[str | None, ...]:
    return tuple(None if p.startswith("{") else p for p in template.strip("/").split("/") if p)


class AdminAPI:
    """The Admin API over one store. ``app`` is the aiohttp application."""

    def __init__(
        self,
        store: Store,
        *,
        info: Callable[[], dict[str, Any]] | None = None,
        admin_token: str | None = None,
        max_body: int = MAX_BODY,
        access: AdminAccess | None = None,
        services: Any = None,
        metrics: Callable[[], Awaitable[str]] | None = None,
        health: Any = None,
    ) -> None:
        self.store = store
        self.services = services  # the gateway's RuntimeServices, for plugin endpoints
        self.health = health  # runtime.health.HealthRegistry shared with the balancers
        self._info = info
        self.access = access if access is not None else AdminAccess()
        self._metrics = metrics
        self._token = admin_token.encode("utf-8") if admin_token else None
        self.max_body = max_body
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="admin-api")
        self._endpoints: dict[int, list[Endpoint]] = {}
        self._all: dict[str, Endpoint] = {}
        self.started = time.time()
        self.node_id = str(uuid.uuid4())
        self.stats = {"total_requests": 0, "active": 0, "accepted": 0}
        self._build_routes()
        self.app = web.Application(client_max_size=max_body)
        self.app[ADMIN_API_KEY] = self
        # one catch-all route: the path table below decides (404/405 in Kong's words, any byte in a
        # segment, trailing slashes)
        self.app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)
        self.app.on_cleanup.append(self._on_cleanup)

    async def _on_cleanup(self, _app: web.Application) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run store work on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    # -- route table --------------------------------------------------------------------------
    def route(self, template: str, method: str, handler: Handler, *, raw_body: bool = False) -> None:
        ep = self._all.get(template)
        if ep is None:
            ep = Endpoint(_segments(template), template, raw_body=raw_body)
            self._all[template] = ep
            self._endpoints.setdefault(len(ep.segments), []).append(ep)
        ep.methods[method] = handler

    def endpoint_templates(self) -> list[str]:
        return sorted(self._all)

    def _match(self, segs: list[str]) -> tuple[Endpoint, list[str]] | None:
        best: tuple[Endpoint, list[str]] | None = None
        for ep in self._endpoints.get(len(segs), ()):
            params: list[str] = []
            for want, got in zip(ep.segments, segs, strict=True):
                if want is None:
                    params.append(got)
                elif want != got:
                    break
            else:
                if best is None or ep.score > best[0].score:
                    best = (ep, params)
        return best

    def _build_routes(self) -> None:
        tables = {t: e for t, e in ENTITIES.items() if e.admin_path}
        by_table_path = {t: e.admin_path.strip("/") for t, e in tables.items()}
        for table, edef in tables.items():
            path = by_table_path[table]
            ph = "{" + table + "}"
            self.route(f"/{path}", "GET", self._list_handler(edef))
            self.route(f"/{path}", "POST", self._create_handler(edef))
            for verb in ("GET", "PATCH", "PUT", "DELETE"):
                self.route(f"/{path}/{ph}", verb, self._entity_handler(edef, verb))
            for fname, f in edef.schema.fields:
                if f.type != "foreign" or f.reference not in tables:
                    continue
                parent = tables[f.reference]
                ppath = by_table_path[parent.table]
                pph = "{" + parent.table + "}"
                nested = NESTED_NAME.get(table, path)
                for verb in ("GET", "PATCH", "PUT", "DELETE"):
                    self.route(f"/{path}/{ph}/{fname}", verb, self._foreign_entity_handler(edef, fname, parent, verb))
                self.route(f"/{ppath}/{pph}/{nested}", "GET", self._list_handler(edef, fname, parent, nested))
                self.route(f"/{ppath}/{pph}/{nested}", "POST", self._create_handler(edef, fname, parent))
                for verb in ("GET", "PATCH", "PUT", "DELETE"):
                    self.route(f"/{ppath}/{pph}/{nested}/{ph}", verb, self._nested_entity_handler(edef, fname, parent, verb))
        # consumer groups: membership and Enterprise's wrapped GET
        self.route("/consumer_groups/{consumer_groups}", "GET", self._get_consumer_group)
        for side in (_GROUP_SIDE, _CONSUMER_SIDE):
            base = f"/{side.table}/{{{side.table}}}/{side.other_table}"
            self.route(base, "GET", functools.partial(self._members_list, side=side))
            self.route(base, "POST", functools.partial(self._members_add, side=side))
            self.route(base, "DELETE", functools.partial(self._members_clear, side=side))
            self.route(f"{base}/{{{side.other_table}}}", "DELETE", functools.partial(self._members_remove, side=side))
        # information
        self.route("/", "GET", self._root)
        self.route("/status", "GET", self._status)
        self.route("/endpoints", "GET", self._endpoints_list)
        self.route("/plugins/enabled", "GET", self._plugins_enabled)
        self.route("/schemas/{name}", "GET", self._schema_entity)
        self.route("/schemas/{name}/validate", "POST", self._schema_validate)
        self.route("/schemas/plugins/{name}", "GET", self._schema_plugin)
        self.route("/schemas/vaults/{name}", "GET", self._schema_vault)
        self.route("/schemas/plugins/validate", "POST", self._schema_plugin_validate)
        self.route("/tags", "GET", self._tags)
        self.route("/tags/{tags}", "GET", self._tags)
        self.route("/config", "GET", self._config_get, raw_body=True)
        self.route("/config", "POST", self._config_post, raw_body=True)
        self.route("/metrics", "GET", self._metrics_get)
        admin_debug.register(self)  # /timers, /debug/node/log-level, /status/dns
        admin_upstreams.register(self)  # /upstreams/{u}/health, target health by hand
        admin_certificates.register(self)  # certificates with their snis pseudo-field
        # endpoints bundled plugins contribute (Kong's kong/plugins/<name>/api.lua)
        for spec in plugin_registry.all_specs():
            for pr in spec.admin_routes:
                self.route(pr.template, pr.method, self._plugin_endpoint(spec.name, pr))

    def _plugin_endpoint(self, name: str, pr: Any) -> Handler:
        names = [p[1:-1] for p in pr.template.strip("/").split("/") if p.startswith("{")]

        async def instances() -> list[dict[str, Any]]:
            stored = await self.run(lambda: self.store.all("plugins"))
            return [p for p in stored if p.get("name") == name]

        async def instance(plugin_id: str) -> dict[str, Any] | None:
            if not is_uuid(plugin_id):
                return None
            found = await self.run(lambda: self.store.find("plugins", plugin_id))
            return found if found is not None and found.get("name") == name else None

        async def handler(call: Call) -> web.StreamResponse:
            pcall = PluginAdminCall(dict(zip(names, call.params, strict=True)), call.query, self.services,
                                    instances, instance)
            status, body = await pr.handler(pcall)
            return _json_response(status, body)

        return handler

    # -- request pipeline ---------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refused = self.access.refusal(request.headers)
        if refused is not None:  # before anything else: a foreign page never reaches the store
            log.warning("Admin API: refused %s %s: %s", request.method, request.rel_url.path, refused)
            return _json_response(403, {"message": refused})
        self.stats["total_requests"] += 1
        self.stats["active"] += 1
        started = time.perf_counter()
        try:
            response = await self._dispatch(request)
        except HttpAnswer as exc:
            response = _json_response(exc.status, exc.body)
        except KongError as exc:
            response = _json_response(exc.status, exc.to_dict())
        except NotFound as exc:
            response = _json_response(404, exc.to_dict())
        except web.HTTPRequestEntityTooLarge:
            response = _json_response(413, {"message": "Request body too large"})
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception:
            log.exception("Admin API: unexpected error on %s %s", request.method, request.rel_url.path)
            response = _json_response(500, {"message": "An unexpected error occurred"})
        finally:
            self.stats["active"] -= 1
        response.headers["X-Kong-Admin-Latency"] = str(int((time.perf_counter() - started) * 1000))
        for k, v in self.access.cors_headers(request.headers).items():
            response.headers.setdefault(k, v)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        given = request.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        if raw_path != "/" and raw_path.endswith("/"):
            raw_path = raw_path[:-1]  # Kong answers /services/ like /services
        raw_segs = [s for s in raw_path.split("/") if s != ""]
        try:
            segs = [unquote(s, errors="strict") for s in raw_segs]
        except UnicodeDecodeError:
            raise _message(404, "Not found") from None
        found = self._match(segs)
        method = request.method.upper()
        if method == "OPTIONS":
            # Kong answers OPTIONS with the path's verbs, without the token (browsers' preflights
            # carry none); CORS headers only for an origin the user allowed (admin_guard).
            if found is None:
                raise _message(404, "Not found")
            allowed = self._allowed(found[0])
            return web.Response(status=204, headers={
                "Allow": allowed, **self.access.preflight_headers(request.headers, allowed)})
        if not self._authorized(request):
            raise _message(401, "Invalid admin token")
        if found is None:
            raise _message(404, "Not found")
        ep, params = found
        lookup = "GET" if method == "HEAD" else method
        handler = ep.methods.get(lookup)
        if handler is None:
            raise _message(405, "Method not allowed")
        if request.content_length is not None and request.content_length > self.max_body:
            raise _message(413, "Request body too large")
        try:
            query = request.query
        except (UnicodeDecodeError, ValueError):
            raise _message(400, "Cannot parse query string") from None
        raw_params = [s for i, s in enumerate(raw_segs) if ep.segments[i] is None]
        call = Call(request, params, raw_params, query)
        if method in NEEDS_BODY and not ep.raw_body:
            call.body = await self._read_body(request)
        return await handler(call)

    @staticmethod
    def _allowed(ep: Endpoint) -> str:
        verbs = set(ep.methods)
        if "GET" in verbs:
            verbs.add("HEAD")
        verbs.add("OPTIONS")
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return ", ".join(v for v in order if v in verbs)

    async def _read_body(self, request: web.Request) -> Body:
        ctype = (request.headers.get("Content-Type") or "").strip().lower()
        if ctype.startswith("multipart/form-data"):
            return Body(decode_form(await self._read_multipart(request)), form=True)
        raw = await self._read_raw(request)
        if not ctype:
            if raw.strip():
                raise _message(415, "Unsupported Media Type")
            return Body({}, form=False)
        if ctype.startswith("application/json"):
            if not raw.strip():
                raise _message(400, "Cannot parse JSON body")
            try:
                return Body(parse_json(raw), form=False, raw=raw)
            except BodyError as exc:
                raise _message(exc.status, exc.message) from None
        if ctype.startswith("application/x-www-form-urlencoded"):
            try:
                return Body(decode_form(parse_urlencoded(raw)), form=True, raw=raw)
            except BodyError as exc:
                raise _message(exc.status, exc.message) from None
        raise _message(415, "Unsupported Media Type")

    async def _read_raw(self, request: web.Request) -> bytes:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _message(413, "Request body too large") from None

    async def _read_multipart(self, request: web.Request) -> list[tuple[str, Any]]:
        raw = await self._read_raw(request)  # over max_body: 413 (aiohttp's client_max_size)
        try:
            return parse_multipart(raw, request.headers.get("Content-Type") or "")
        except BodyError as exc:
            raise _message(exc.status, exc.message) from None

    # -- shared pieces ------------------------------------------------------------------------
    @staticmethod
    def _schema_for(edef: EntityDef, data: Any = None, existing: dict[str, Any] | None = None) -> Schema:
        if edef.table == "plugins":
            name = (data or {}).get("name") if isinstance(data, dict) else None
            if not isinstance(name, str) and existing:
                name = existing.get("name")
            return plugin_registry.entity_schema(name if isinstance(name, str) else None)
        return edef.schema

    def _args(self, call: Call, edef: EntityDef, existing: dict[str, Any] | None = None) -> dict[str, Any]:
        body = call.body or Body({}, form=False)
        args = body.for_schema(self._schema_for(edef, body.data, existing))
        if not isinstance(args, dict):
            raise schema_violation({"@entity": ["expected an input table"]})
        return args

    def _page_options(self, call: Call) -> dict[str, Any]:
        opts: dict[str, Any] = {"size": _page_size(call), "offset": call.arg("offset")}
        tags_raw = call.arg("tags")
        if tags_raw:
            tags, mode = parse_tags_filter(tags_raw)
            opts["tags"] = tags
            opts["tags_mode"] = mode
        return opts

    def _resolve(self, table: str, key: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
        """One entity by id or endpoint key (sync, on the worker). Certificates also answer to
        one of their SNI names, as in Kong."""
        entity = self.store.find(table, key, where=where)
        if entity is not None:
            return entity
        if table == "certificates" and not is_uuid(key):
            sni = self.store.find("snis", key)
            if sni is not None and sni.get("certificate"):
                cert = self.store.find("certificates", sni["certificate"]["id"], where=where)
                if cert is not None:
                    return cert
        if not is_uuid(key):
            edef = ENTITIES[table]
            # acls under a consumer, targets under an upstream: the other half of the cache key
            if where and len(edef.cache_key) == 2:
                other = [f for f in edef.cache_key if f not in where]
                if len(other) == 1:
                    for e in self.store.all(table, where=where):
                        if e.get(other[0]) == key:
                            return e
        raise NotFound()

    @staticmethod
    def _list_body(data: list[dict[str, Any]], offset: str | None, next_url: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"data": data, "next": next_url}
        if offset is not None:
            body["offset"] = offset
        return body

    # -- generated handlers -------------------------------------------------------------------
    def _list_handler(
        self, edef: EntityDef, fk: str | None = None, parent: EntityDef | None = None, nested: str | None = None
    ) -> Handler:
        path = edef.admin_path.strip("/")

        async def handler(call: Call) -> web.StreamResponse:
            opts = self._page_options(call)

            def work() -> tuple[list[dict[str, Any]], str | None]:
                where = None
                if parent is not None and fk is not None:
                    p = self._resolve(parent.table, call.params[0])
                    where = {fk: p["id"]}
                return self.store.page(edef.table, where=where, **opts)

            data, offset = await self.run(work)
            next_url = None
            if offset is not None:
                if parent is None:
                    extra = ""
                    if call.arg("tags"):
                        extra += "&tags=" + _escape_uri(call.arg("tags") or "")
                    if call.arg("size") is not None:
                        extra += "&size=" + (call.arg("size") or "")
                    next_url = f"/{path}?offset={_escape_uri(offset)}{extra}"
                else:
                    ppath = parent.admin_path.strip("/")
                    key = quote(call.params[0], safe="-_.~!*'()@:$+;=,")
                    next_url = f"/{ppath}/{key}/{nested}?offset={_escape_uri(offset)}"
            return _json_response(200, self._list_body(data, offset, next_url))

        return handler

    def _create_handler(self, edef: EntityDef, fk: str | None = None, parent: EntityDef | None = None) -> Handler:
        async def handler(call: Call) -> web.StreamResponse:
            args = self._args(call, edef)

            def work() -> dict[str, Any]:
                if parent is not None and fk is not None:
                    p = self._resolve(parent.table, call.params[0])
                    args[fk] = {"id": p["id"]}
                return self.store.insert(edef.table, args)

            return _json_response(201, await self.run(work))

        return handler

    def _entity_handler(self, edef: EntityDef, verb: str) -> Handler:
        table = edef.table

        async def get(call: Call) -> web.StreamResponse:
            return _json_response(200, await self.run(lambda: self._resolve(table, call.params[0])))

        async def patch(call: Call) -> web.StreamResponse:
            def work() -> dict[str, Any]:
                existing = self._resolve(table, call.params[0])
                args = self._args(call, edef, existing)
                return self.store.update(table, existing["id"], args)

            return _json_response(200, await self.run(work))

        async def put(call: Call) -> web.StreamResponse:
            args = self._args(call, edef)

            def work() -> dict[str, Any]:
                key = call.params[0]
                if not is_uuid(key) and edef.endpoint_key is None:
                    raise invalid_primary_key(key)
                return self.store.upsert(table, key, args)

            return _json_response(200, await self.run(work))

        async def delete(call: Call) -> web.StreamResponse:
            def work() -> None:
                key = call.params[0]
                if table == "certificates" and not is_uuid(key):
                    found = self.store.find("snis", key)
                    if found is None or not found.get("certificate"):
                        return
                    key = found["certificate"]["id"]
                self.store.delete(table, key)

            await self.run(work)
            return _json_response(204)

        return {"GET": get, "PATCH": patch, "PUT": put, "DELETE": delete}[verb]

    def _nested_entity_handler(self, edef: EntityDef, fk: str, parent: EntityDef, verb: str) -> Handler:
        table = edef.table

        def find_pair(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
            p = self._resolve(parent.table, call.params[0])
            child = self._resolve(table, call.params[1], where={fk: p["id"]})
            return p, child

        async def get(call: Call) -> web.StreamResponse:
            return _json_response(200, (await self.run(lambda: find_pair(call)))[1])

        async def patch(call: Call) -> web.StreamResponse:
            def work() -> dict[str, Any]:
                with self.store.transaction():
                    p, child = find_pair(call)
                    args = self._args(call, edef, child)
                    args.setdefault(fk, {"id": p["id"]})
                    return self.store.update(table, child["id"], args)

            return _json_response(200, await self.run(work))

        async def put(call: Call) -> web.StreamResponse:
            args = self._args(call, edef)

            def work() -> dict[str, Any]:
                with self.store.transaction():
                    p = self._resolve(parent.table, call.params[0])
                    args[fk] = {"id": p["id"]}
                    key = call.params[1]
                    if not is_uuid(key) and edef.endpoint_key is None:
                        raise invalid_primary_key(key)
                    return self.store.upsert(table, key, args)

            return _json_response(200, await self.run(work))

        async def delete(call: Call) -> web.StreamResponse:
            def work() -> None:
                with self.store.transaction():
                    _p, child = find_pair(call)
                    self.store.delete(table, child["id"])

            await self.run(work)
            return _json_response(204)

        return {"GET": get, "PATCH": patch, "PUT": put, "DELETE": delete}[verb]

    def _foreign_entity_handler(self, edef: EntityDef, fk: str, parent: EntityDef, verb: str) -> Handler:
        """``/routes/{r}/service``: the entity a foreign key points at."""
        table = edef.table
        ptable = parent.table

        def target(call: Call) -> tuple[dict[str, Any], str | None]:
            e = self._resolve(table, call.params[0])
            ref = e.get(fk)
            return e, (ref.get("id") if isinstance(ref, dict) else None)

        async def get(call: Call) -> web.StreamResponse:
            def work() -> dict[str, Any]:
                _e, pid = target(call)
                if pid is None:
                    raise NotFound()
                return self._resolve(ptable, pid)

            return _json_response(200, await self.run(work))

        async def patch(call: Call) -> web.StreamResponse:
            def work() -> dict[str, Any]:
                with self.store.transaction():
                    _e, pid = target(call)
                    if pid is None:
                        raise NotFound()
                    existing = self._resolve(ptable, pid)
                    return self.store.update(ptable, pid, self._args(call, parent, existing))

            return _json_response(200, await self.run(work))

        async def put(call: Call) -> web.StreamResponse:
            args = self._args(call, parent)

            def work() -> dict[str, Any]:
                with self.store.transaction():
                    e, pid = target(call)
                    if pid is not None:
                        return self.store.upsert(ptable, pid, args)
                    # Nothing referenced yet: create it and point the foreign key at it.
                    created = self.store.upsert(ptable, str(uuid.uuid4()), args)
                    self.store.update(table, e["id"], {fk: {"id": created["id"]}})
                    return created

            return _json_response(200, await self.run(work))

        async def delete(call: Call) -> web.StreamResponse:
            def work() -> None:
                _e, pid = target(call)
                if pid is None:
                    raise NotFound()

            await self.run(work)
            raise _message(405, "Method not allowed")

        return {"GET": get, "PATCH": patch, "PUT": put, "DELETE": delete}[verb]

    # -- consumer groups ----------------------------------------------------------------------
    def _members(self, group_id: str) -> list[dict[str, Any]]:
        out = []
        for m in self.store.all("consumer_group_consumers", where={"consumer_group": group_id}):
            c = self.store.find("consumers", m["consumer"]["id"])
            if c is not None:
                out.append(c)
        return out

    @staticmethod
    def _names(body: Body | None, field_name: str) -> list[str]:
        data = body.data if body is not None else None
        value = data.get(field_name) if isinstance(data, dict) else None
        if value is None or value == "" or value == []:
            raise schema_violation({field_name: "required field missing"})
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) and v for v in values):
            raise schema_violation({field_name: "expected a string or an array of strings"})
        return list(dict.fromkeys(values))

    async def _get_consumer_group(self, call: Call) -> web.StreamResponse:
        with_members = (call.arg("list_consumers") or "true").lower() not in ("false", "0")

        def work() -> dict[str, Any]:
            g = self._resolve("consumer_groups", call.params[0])
            out: dict[str, Any] = {"consumer_group": g}
            if with_members:
                out["consumers"] = self._members(g["id"])
            return out

        return _json_response(200, await self.run(work))

    # Membership is reachable from both sides: /consumer_groups/{g}/consumers and
    # /consumers/{c}/consumer_groups. One implementation, told which side the URL stands on.
    def _membership(self, group_key: str, consumer_key: str) -> dict[str, Any]:
        g = self._resolve("consumer_groups", group_key)
        c = self._resolve("consumers", consumer_key)
        rows = self.store.all("consumer_group_consumers", where={"consumer_group": g["id"], "consumer": c["id"]})
        if not rows:
            raise NotFound()
        return rows[0]

    async def _members_list(self, call: Call, side: _Side) -> web.StreamResponse:
        opts = self._page_options(call)

        def work() -> tuple[list[dict[str, Any]], str | None]:
            own = self._resolve(side.table, call.params[0])
            rows, offset = self.store.page("consumer_group_consumers", size=opts["size"], offset=opts["offset"],
                                           where={side.fk: own["id"]})
            data = [e for e in (self.store.find(side.other_table, r[side.other_fk]["id"]) for r in rows) if e]
            return data, offset

        data, offset = await self.run(work)
        next_url = None
        if offset is not None:
            key = quote(call.params[0], safe="-_.~!*'()@:$+;=,")
            next_url = f"/{side.table}/{key}/{side.other_table}?offset={_escape_uri(offset)}"
        return _json_response(200, self._list_body(data, offset, next_url))

    async def _members_add(self, call: Call, side: _Side) -> web.StreamResponse:
        names = self._names(call.body, side.body_key)

        def work() -> dict[str, Any]:
            with self.store.transaction():
                own = self._resolve(side.table, call.params[0])
                added = []
                for n in names:
                    other = self.store.find(side.other_table, n)
                    if other is None:
                        raise _message(404, f"{side.other_word} '{n}' not found")
                    self.store.insert("consumer_group_consumers",
                                      {side.fk: {"id": own["id"]}, side.other_fk: {"id": other["id"]}})
                    added.append(other)
                return {side.fk: own, side.other_table: added}

        return _json_response(201, await self.run(work))

    async def _members_clear(self, call: Call, side: _Side) -> web.StreamResponse:
        def work() -> None:
            with self.store.transaction():
                own = self._resolve(side.table, call.params[0])
                for m in self.store.all("consumer_group_consumers", where={side.fk: own["id"]}):
                    self.store.delete("consumer_group_consumers", m["id"])

        await self.run(work)
        return _json_response(204)

    async def _members_remove(self, call: Call, side: _Side) -> web.StreamResponse:
        def work() -> None:
            with self.store.transaction():
                own, other = call.params[0], call.params[1]
                group, consumer = (own, other) if side is _GROUP_SIDE else (other, own)
                self.store.delete("consumer_group_consumers", self._membership(group, consumer)["id"])

        await self.run(work)
        return _json_response(204)

    # -- information --------------------------------------------------------------------------
    def _extra_info(self) -> dict[str, Any]:
        if self._info is None:
            return {}
        try:
            extra = self._info() or {}
        except Exception:  # a broken info provider must not break GET /
            log.exception("Admin API: info provider failed")
            return {}
        return dict(extra)

    async def _root(self, call: Call) -> web.StreamResponse:
        extra = self._extra_info()
        enabled = await self.run(lambda: sorted({p["name"] for p in self.store.all("plugins")}))
        host = call.request.host or ""
        configuration: dict[str, Any] = {
            "database": "sqlite",
            "role": "traditional",
            "router_flavor": "traditional_compatible",
            "admin_listen": [host] if host else [],
            "proxy_listen": [],
            "plugins": ["bundled"],
            "loaded_plugins": {s.name: True for s in plugin_registry.all_specs()},
            "nginx_worker_processes": 1,
            "admin_gui_listen": [],
            "enforce_rbac": "on" if self._token else "off",
            "admin_auth_header": TOKEN_HEADER if self._token else None,
        }
        configuration.update(extra.pop("configuration", {}) or {})
        for k in ("admin_listen", "proxy_listen", "role", "router_flavor", "database"):
            if k in extra:
                configuration[k] = extra.pop(k)
        body: dict[str, Any] = {
            "version": KONG_VERSION,
            "edition": "community",
            "tagline": TAGLINE,
            "node_id": self.node_id,
            "hostname": socket.gethostname(),
            "plugins": {
                "available_on_server": {
                    s.name: {"version": s.version, "priority": s.priority} for s in plugin_registry.all_specs()
                },
                "enabled_in_cluster": enabled,
            },
            "pids": {"master": os.getpid(), "workers": [os.getpid()]},
            "timers": {"running": 0, "pending": 0},
            "configuration": configuration,
        }
        body.update(extra)
        return _json_response(200, body)

    async def _metrics_get(self, call: Call) -> web.StreamResponse:
        """The prometheus plugin's ``GET /metrics`` (Prometheus text format)."""
        if self._metrics is None:  # an Admin API over a bare store: no runtime to measure
            raise _message(404, "Not found")
        from .metrics import CONTENT_TYPE

        return web.Response(body=(await self._metrics()).encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    async def _status(self, call: Call) -> web.StreamResponse:
        reachable = await self.run(lambda: store_reachable(self.store))
        return _json_response(200, status_body(self.store, self.stats, reachable))

    async def _endpoints_list(self, call: Call) -> web.StreamResponse:
        return _json_response(200, {"data": self.endpoint_templates()})

    async def _plugins_enabled(self, call: Call) -> web.StreamResponse:
        return _json_response(200, {"enabled_plugins": sorted(s.name for s in plugin_registry.all_specs())})

    async def _schema_entity(self, call: Call) -> web.StreamResponse:
        name = call.params[0]
        edef = ENTITIES.get(name)
        if edef is None:
            raise _message(404, f"No entity named '{name}'")
        return _json_response(200, _schema_json(edef.schema, edef))

    async def _schema_plugin(self, call: Call) -> web.StreamResponse:
        name = call.params[0]
        if plugin_registry.get(name) is None:
            raise _message(404, f"No plugin named '{name}'")
        schema = plugin_registry.entity_schema(name)
        keep = ("consumer", "service", "route", "consumer_group", "protocols", "config")
        out = schema.to_kong()
        out["fields"] = [f for f in out["fields"] if next(iter(f)) in keep]
        return _json_response(200, out)

    async def _schema_vault(self, call: Call) -> web.StreamResponse:
        """A vault backend's schema (Kong's vault subschema: the entity with its config record)."""
        name = call.params[0]
        backend = VAULT_BACKENDS.get(name)
        if backend is None:
            raise _message(404, f"No vault named '{name}'")
        out = ENTITIES["vaults"].schema.to_kong()
        config = {"type": "record", "fields": backend.to_kong()["fields"]}
        out["fields"] = [({"config": config} if next(iter(f)) == "config" else f) for f in out["fields"]]
        return _json_response(200, out)

    async def _schema_validate(self, call: Call) -> web.StreamResponse:
        name = call.params[0]
        edef = ENTITIES.get(name)
        if edef is None:
            raise _message(404, f"No entity named '{name}'")
        return self._validated(call, edef)

    async def _schema_plugin_validate(self, call: Call) -> web.StreamResponse:
        return self._validated(call, ENTITIES["plugins"])

    def _validated(self, call: Call, edef: EntityDef) -> web.StreamResponse:
        args = self._args(call, edef)
        _out, errors = check_entity(edef.table, args, strict=True)
        if errors:
            raise schema_violation(errors)
        return _json_response(200, {"message": "schema validation successful"})

    async def _tags(self, call: Call) -> web.StreamResponse:
        tag = call.params[0] if call.params else None
        size = _page_size(call)
        offset_raw = call.arg("offset")
        start = 0
        if offset_raw is not None:
            start = _decode_tags_offset(offset_raw)

        def work() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            for table, edef in ENTITIES.items():
                if edef.schema.get("tags") is None:
                    continue
                for e in self.store.all(table):
                    for t in e.get("tags") or ():
                        if tag is None or t == tag:
                            rows.append({"entity_name": table, "entity_id": e["id"], "tag": t})
            return rows

        rows = await self.run(work)
        page = rows[start:start + size]
        offset = None
        next_url = None
        if start + size < len(rows):
            offset = _encode_tags_offset(start + size)
            base = "/tags" if tag is None else f"/tags/{_escape_uri(tag)}"
            next_url = f"{base}?offset={_escape_uri(offset)}"
        return _json_response(200, self._list_body(page, offset, next_url))

    # -- declarative configuration ------------------------------------------------------------
    async def _config_get(self, call: Call) -> web.StreamResponse:
        text = await self.run(lambda: admin_config.dump_current(self.store.export()))
        return _json_response(200, {"config": text})

    async def _config_post(self, call: Call) -> web.StreamResponse:
        source = await self._config_source(call.request)
        flatten = (call.arg("flatten_errors") or "").lower() in ("1", "true", "yes", "on")

        def work() -> dict[str, Any]:
            doc = admin_config.parse_document(source)
            config = admin_config.load_document(doc, flatten=flatten)
            try:
                self.store.replace_all(config)
            except KongError as exc:
                if exc.code != DECLARATIVE_CONFIG:
                    raise
                raise admin_config.store_rejected(exc, config, flatten=flatten) from None
            return admin_config.loaded_entities(self.store.export())

        try:
            return _json_response(201, await self.run(work))
        except admin_config.ConfigRejected as exc:
            raise HttpAnswer(400, exc.body) from None

    async def _config_source(self, request: web.Request) -> Any:
        """The declarative document of a ``POST /config``: a JSON object with ``_format_version``
        (the config itself), a ``config`` field (JSON, form or multipart), or the raw body."""
        ctype = (request.headers.get("Content-Type") or "").strip().lower()
        if ctype.startswith("multipart/form-data"):
            items = dict(await self._read_multipart(request))
            src = items.get("config")
        else:
            raw = await self._read_raw(request)
            if ctype.startswith("application/json"):
                try:
                    data = parse_json(raw)
                except BodyError:
                    raise _message(400, "Cannot parse JSON body") from None
                if isinstance(data, dict) and "_format_version" not in data and "config" in data:
                    src = data["config"]
                else:
                    src = data
            elif ctype.startswith("application/x-www-form-urlencoded"):
                try:
                    src = dict(parse_urlencoded(raw)).get("config")
                except BodyError as exc:
                    raise _message(400, exc.message) from None
            else:
                try:
                    src = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise _message(400, "Cannot parse declarative configuration: invalid UTF-8") from None
        if src is None or (isinstance(src, str) and not src.strip()):
            raise _message(400, "expected a declarative configuration")
        return src


# -- tags filter, offsets, errors --------------------------------------------------------------
def parse_tags_filter(raw: str) -> tuple[list[str], str]:
    """``a,b`` → (["a","b"], "and"); ``a/b`` → (["a","b"], "or"); Kong's code 11 otherwise."""
    if _TAGS_AND.match(raw):
        tags, mode = [t for t in raw.split(",") if t], "and"
    elif _TAGS_OR.match(raw):
        tags, mode = [t for t in raw.split("/") if t], "or"
    else:
        raise invalid_options({"tags": "invalid filter syntax"})
    if len(tags) > MAX_TAGS_FILTER:
        raise invalid_options({"tags": f"cannot query more than {MAX_TAGS_FILTER} tags"})
    return tags, mode


def invalid_options(errors: dict[str, str]) -> KongError:
    parts = [f"{k}: {v}" for k, v in sorted(errors.items())]
    message = f"invalid option ({parts[0]})" if len(parts) == 1 else f"{len(parts)} option violations ({'; '.join(parts)})"
    err = KongError(11, message)
    err.to_dict = lambda: {"code": 11, "name": "invalid options", "message": message, "options": errors}  # type: ignore[method-assign]
    return err


def invalid_primary_key(key: str) -> KongError:
    return KongError(1, f"invalid primary key: '{lua_pretty({'id': key})}'", {"id": "expected a valid UUID"})


def _encode_tags_offset(n: int) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps([n]).encode()).decode().rstrip("=")


def _decode_tags_offset(token: str) -> int:
    import base64
    import binascii

    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise KongError(7, f"'{token}' is not a valid offset: bad base64 encoding") from None
    if not (isinstance(value, list) and len(value) == 1 and type(value[0]) is int and value[0] >= 0):
        raise KongError(7, f"'{token}' is not a valid offset: bad json encoding")
    return value[0]


def _schema_json(schema: Schema, edef: EntityDef) -> dict[str, Any]:
    out = schema.to_kong()
    if edef.endpoint_key:
        out["endpoint_key"] = edef.endpoint_key
    if edef.cache_key:
        out["cache_key"] = list(edef.cache_key)
    out["primary_key"] = ["id"]
    return out


def create_admin_app(
    store: Any,
    *,
    info: Callable[[], dict[str, Any]] | None = None,
    admin_token: str | None = None,
    max_body: int = MAX_BODY,
    access: AdminAccess | None = None,
    services: Any = None,
    metrics: Callable[[], Awaitable[str]] | None = None,
    health: Any = None,
) -> web.Application:
    """The Kong-compatible Admin API over ``store``, as an aiohttp application.

    ``info()`` (optional) adds to ``GET /``: e.g. ``node_id``, ``hostname``, ``admin_listen``,
    ``proxy_listen`` (lists of "host:port") or a ``configuration`` dict merged into Kong's.
    With ``admin_token`` every request needs the header ``Kong-Admin-Token: <token>``.
    ``access`` (default: bound to 127.0.0.1, nothing else allowed) decides which ``Host`` and
    ``Origin`` headers are served. ``services`` (the running gateway's ``RuntimeServices``) lets
    plugin endpoints reach their runtime state (proxy-cache's purge endpoints). ``metrics()``
    (optional) produces the Prometheus text served on ``GET /metrics``; ``health`` is the
    runtime's health registry (upstream/target health endpoints).
    """
    return AdminAPI(store, info=info, admin_token=admin_token, max_body=max_body, access=access,
                    services=services, metrics=metrics, health=health).app


def admin_api_of(app: web.Application) -> AdminAPI:
    return app[ADMIN_API_KEY]


__all__ = [
    "create_admin_app", "require_token_for", "check_bind", "AdminAccess", "AdminAPI", "admin_api_of",
    "parse_tags_filter", "KONG_VERSION", "MAX_BODY",
]
