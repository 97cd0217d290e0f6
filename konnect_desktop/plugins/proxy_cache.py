"""proxy-cache: answer repeated requests from a cache of upstream responses (Kong's plugin,
``memory`` strategy).

Access: a request whose method is cacheable gets its cache key (Kong's: route, consumer, method,
request line, query and ``vary_headers``; see ``proxy_cache_store``) and ``X-Cache-Key``. A fresh
entry answers the request at once (``X-Cache-Status: Hit``, ``Age``); otherwise the request goes
upstream marked ``Miss`` (or ``Refresh`` for a stale entry) and, when the response's status and
content type are cacheable, its headers and whole body are stored for ``cache_ttl`` seconds
(``storage_ttl`` keeps stale entries longer; with ``cache_control`` RFC 7234's directives decide).
Anything not cacheable is marked ``Bypass``. ``response_headers`` hides the diagnostic headers,
unless the request carries ``Kong-Debug``.

The Admin API gains Kong's purge endpoints: ``DELETE /proxy-cache`` (everything),
``GET|DELETE /proxy-cache/{cache_key}`` (any instance) and
``GET|DELETE /proxy-cache/{plugin_id}/caches/{cache_key}``.

Differences from Kong, forced by the data plane: the request line in the key is always
``HTTP/1.1`` when the request has no query (the plugin API does not carry the client's HTTP
version); a hit is answered as a plugin answer, so it carries ``X-Kong-Response-Latency`` where
Kong shows the proxy/upstream latency headers; a miss is buffered whole, so it has a
``Content-Length`` even when the upstream streamed it.
"""

from __future__ import annotations

from multidict import MultiMapping

from ..jsontypes import JSONObject, JSONValue
from ..model.schema import Array, Boolean, Custom, Integer, Record, String
from .base import (
    AdminCall,
    AdminRoute,
    Decision,
    Handler,
    PluginExit,
    PluginSpec,
    RequestContext,
    ResponseContext,
    RuntimeServices,
)
from .http_util import args_from_multidict
from .proxy_cache_store import (
    CACHE_VERSION,
    SHARED_DICTS,
    CacheStorage,
    build_cache_key,
    content_type_matches,
    parse_directive_header,
    parse_mime_type,
    resource_ttl,
    storage_of,
)

NAME = "proxy-cache"
PRIORITY = 100
STRATEGIES = ("memory",)
METHODS = ("HEAD", "GET", "POST", "PATCH", "PUT")

# not copied from a cached response into a hit (hop-by-hop, and a length we set ourselves)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                         "trailers", "transfer-encoding", "upgrade", "content-length"})
_DIAGNOSTIC = ("age", "x-cache-status", "x-cache-key")


def _shdict_check(entity: JSONObject) -> str | None:
    config = entity.get("config") or {}
    if config.get("strategy") == "memory":
        name = (config.get("memory") or {}).get("dictionary_name")
        if name not in SHARED_DICTS:
            return f"missing shared dict '{name}'"
    return None


CONFIG = Record(
    [
        ("response_code", Array(Integer(between=(100, 900)), default=[200, 301, 404], len_min=1, required=True,
                                description="Upstream response status code considered cacheable.")),
        ("request_method", Array(String(one_of=METHODS), default=["GET", "HEAD"], required=True,
                                 description="Downstream request methods considered cacheable.")),
        ("content_type", Array(String(), default=["text/plain", "application/json"], required=True,
                               description="Upstream response content types considered cacheable (exact match; `*` wildcards allowed).")),
        ("cache_ttl", Integer(default=300, gt=0, description="TTL, in seconds, of cache entities.")),
        ("strategy", String(one_of=STRATEGIES, required=True,
                            description="The backing data store in which to hold cache entities (`memory`).")),
        ("cache_control", Boolean(default=False, required=True,
                                  description="When enabled, respect the Cache-Control behaviors defined in RFC7234.")),
        ("ignore_uri_case", Boolean(default=False, required=False,
                                    description="Lower-case the request URI for the cache key.")),
        ("storage_ttl", Integer(description="Number of seconds to keep resources in the storage backend. This value is independent of `cache_ttl` or resource TTLs defined by Cache-Control behaviors.")),
        ("memory", Record([
            ("dictionary_name", String(required=True, default="kong_db_cache",
                                       description="The name of the shared dictionary in which to hold cache entities when the memory strategy is selected (one of Kong's: `kong_db_cache`, `kong`, ...).")),
        ], nullable=False, description="Settings of the memory strategy.")),
        ("vary_query_params", Array(String(), description="Relevant query parameters considered for the cache key. If undefined, all params are taken into consideration.")),
        ("vary_headers", Array(String(), description="Relevant headers considered for the cache key. If undefined, none of the headers are taken into consideration.")),
        ("response_headers", Record([
            ("age", Boolean(default=True)),
            ("X-Cache-Status", Boolean(default=True)),
            ("X-Cache-Key", Boolean(default=True)),
        ], nullable=False, description="Caching related diagnostic headers that should be included in cached responses")),
    ],
    nullable=False,
    description="What is cached, for how long, and where.",
)


class ProxyCacheHandler(Handler):

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.buffers_response = True  # a miss stores the whole body
        self.storage = storage_of(runtime)
        self.dict_name: str = (config.get("memory") or {}).get("dictionary_name") or "kong_db_cache"
        self.methods = frozenset(config.get("request_method") or ())
        self.codes = frozenset(config.get("response_code") or ())
        self.accepted = [p for p in (parse_mime_type(ct) for ct in config.get("content_type") or ()) if p]
        self.cache_ttl: int = config.get("cache_ttl") or 300
        self.cache_control = bool(config.get("cache_control"))
        rh = config.get("response_headers") or {}
        self.show = {"age": rh.get("age", True) is not False,
                     "x-cache-status": rh.get("X-Cache-Status", True) is not False,
                     "x-cache-key": rh.get("X-Cache-Key", True) is not False}

    # -- helpers ----------------------------------------------------------------------------
    def _set_header(self, ctx: RequestContext, debug: bool, header: str, value: str) -> None:
        """A diagnostic header, when configured or asked for (``Kong-Debug``)."""
        if debug or self.show[header.lower()]:
            ctx.response_headers[header] = value

    def _signal(self, ctx: RequestContext, debug: bool, key: str, status: str, why: str) -> None:
        """Send the request upstream, storing its response if it is cacheable."""
        decision = Decision(NAME, "pass", f"{status}: {why}", {"cache_status": status, "cache_key": key})
        ctx.decisions.append(decision)
        ctx.plugin_ctx(self)["pending"] = {"key": key, "decision": decision}
        self._set_header(ctx, debug, "X-Cache-Status", status)

    def _bypass(self, ctx: RequestContext, debug: bool, why: str) -> None:
        ctx.decisions.append(Decision(NAME, "skip", f"Bypass: {why}", {"cache_status": "Bypass"}))
        self._set_header(ctx, debug, "X-Cache-Status", "Bypass")

    # -- phases -----------------------------------------------------------------------------
    def access(self, ctx: RequestContext) -> None:
        o = ctx.original
        debug = "Kong-Debug" in o.headers
        cc = parse_directive_header(o.headers.get("Cache-Control"))
        if o.method not in self.methods:
            self._bypass(ctx, debug, f"method {o.method} is not cached")
            return
        # (Kong also tests ``ngx.var.authorization`` here, a variable nginx never sets)
        if self.cache_control and (cc.get("no-store") or cc.get("no-cache")):
            self._bypass(ctx, debug, "the request's Cache-Control forbids caching")
            return
        # ngx.var.request with everything from "?" on removed: "GET /path HTTP/1.1" or "GET /path"
        raw = o.raw_path
        uri = f"{o.method} {raw.split('?', 1)[0]}" if "?" in raw else f"{o.method} {raw} HTTP/1.1"
        if self.config.get("ignore_uri_case"):
            uri = uri.lower()
        key = build_cache_key((ctx.consumer or {}).get("id"), (ctx.route or {}).get("id"), o.method, uri,
                              args_from_multidict(o.query), o.headers, self.config)
        self._set_header(ctx, debug, "X-Cache-Key", key)
        res = self.storage.fetch(self.dict_name, key)
        if res is None:
            if self.cache_control and cc.get("only-if-cached"):
                ctx.decisions.append(Decision(NAME, "reject", "only-if-cached and not in cache", {"status": 504}))
                raise PluginExit(504)
            self._signal(ctx, debug, key, "Miss", "not in cache")
            return
        if res.get("version") != CACHE_VERSION:
            self.storage.purge(self.dict_name, key)
            self._signal(ctx, debug, key, "Bypass", "cache format mismatch")
            return
        now = self.storage.now()
        age = now - res["timestamp"]
        if self.cache_control:
            if _num(cc.get("max-age")) is not None and age > cc["max-age"]:
                self._signal(ctx, debug, key, "Refresh", f"older ({age}s) than the request's max-age")
                return
            if _num(cc.get("max-stale")) is not None and age - res["ttl"] > cc["max-stale"]:
                self._signal(ctx, debug, key, "Refresh", "staler than the request's max-stale")
                return
            if _num(cc.get("min-fresh")) is not None and res["ttl"] - age < cc["min-fresh"]:
                self._signal(ctx, debug, key, "Refresh", "not fresh for the request's min-fresh")
                return
        elif age > self.cache_ttl:  # stale but kept (storage_ttl): not served
            self._signal(ctx, debug, key, "Refresh", f"older ({age}s) than cache_ttl")
            return
        self._hit(ctx, debug, key, res, age)

    def _hit(self, ctx: RequestContext, debug: bool, key: str, res: JSONObject, age: int) -> None:
        ctx.shared["proxy_cache_hit"] = {"res": res}
        # the cached headers go out as they were stored (repeated ones too), replacing any of
        # the same name an earlier plugin set; the current rate-limit counters stay
        out = ctx.response_headers
        names, pairs = res["_replay"]
        for name in names:
            out.popall(name, None)
        out.extend(pairs)
        self._set_header(ctx, debug, "Age", str(age))
        self._set_header(ctx, debug, "X-Cache-Status", "Hit")
        self._set_header(ctx, debug, "X-Cache-Key", key)
        ctx.decisions.append(Decision(NAME, "pass", f"Hit: answered from cache (age {age}s)",
                                      {"cache_status": "Hit", "cache_key": key, "age": age, "status": res["status"]}))
        # a cached response stands for a proxied one: Kong's handler sets KONG_PROXIED
        raise PluginExit(res["status"], res["body"], proxied=True)

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        pc = ctx.plugin_ctx(self)
        pending = pc.get("pending")
        if pending is None:  # not cacheable, or answered from the cache
            return
        cc = parse_directive_header(resp.headers.get("Cache-Control"))
        why = self._uncacheable(resp, cc)
        if why is None:
            pending["headers"] = _header_table(resp.headers)
            pending["replay"] = _replay(resp.headers)
            pending["ttl"] = resource_ttl(cc, _last(resp.headers, "Expires"), self.storage.clock()) \
                if self.cache_control else self.cache_ttl
            return
        del pc["pending"]
        if "Kong-Debug" in ctx.original.headers or self.show["x-cache-status"]:
            resp.headers["X-Cache-Status"] = "Bypass"
        d: Decision = pending["decision"]
        d.outcome, d.summary = "skip", f"Bypass: {why}"
        d.data["cache_status"] = "Bypass"

    def _uncacheable(self, resp: ResponseContext, cc: JSONObject) -> str | None:
        if resp.status not in self.codes:
            return f"status {resp.status} is not cached"
        cts = resp.headers.getall("Content-Type", [])
        if len(cts) != 1 or not cts[0]:
            return "no single Content-Type"
        if not content_type_matches(cts[0], self.accepted):
            return f"content type {cts[0]!r} is not cached"
        if self.cache_control:
            if cc.get("private") or cc.get("no-store") or cc.get("no-cache"):
                return "the response's Cache-Control forbids caching"
            if resource_ttl(cc, _last(resp.headers, "Expires"), self.storage.clock()) <= 0:
                return "the response is already stale"
        return None

    def body_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        pending = ctx.plugin_ctx(self).get("pending")
        if pending is None or "headers" not in pending or resp.body is None:
            return
        body = resp.body
        res = {"status": resp.status, "headers": pending["headers"], "body": body, "body_len": len(body),
               "timestamp": self.storage.now(), "ttl": pending["ttl"], "version": CACHE_VERSION,
               "_replay": pending["replay"]}
        storage_ttl = self.config.get("storage_ttl")
        ttl = storage_ttl or (pending["ttl"] if self.cache_control else self.cache_ttl)
        stored = self.storage.store(self.dict_name, pending["key"], res, ttl)
        d: Decision = pending["decision"]
        d.summary += f"; response stored for {ttl:g}s" if stored else "; response too large for the cache"
        d.data["stored"] = stored


def _num(v: JSONValue) -> float | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _last(headers: MultiMapping[str], name: str) -> str | None:
    values = headers.getall(name, [])
    return values[-1] if values else None


def _replay(headers: MultiMapping[str]) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """What a hit sends of the stored headers: (names to replace, (name, value) pairs), computed
    once when storing. Hop-by-hop headers, a length, the rate-limit counters and the diagnostic
    headers (set afresh) are left out."""
    pairs = [(k, v) for k, v in headers.items()
             if (lk := k.lower()) not in _HOP_BY_HOP and lk not in _DIAGNOSTIC and "ratelimit-remaining" not in lk]
    names = tuple({k.lower(): k for k, _v in pairs}.values())
    return names, pairs


def _header_table(headers: MultiMapping[str]) -> JSONObject:
    """Response headers as ``ngx.resp.get_headers`` keeps them: a name, a value or a list."""
    out: JSONObject = {}
    for k, v in headers.items():
        cur = out.get(k)
        out[k] = v if cur is None else ([*cur, v] if isinstance(cur, list) else [cur, v])
    return out


# -- Admin API (kong/plugins/proxy-cache/api.lua) -------------------------------------------------
def _entry_json(res: JSONObject) -> JSONObject:
    """A stored entry as Kong's Admin API shows it (the body as text; our own keys left out)."""
    out = {k: v for k, v in res.items() if not k.startswith("_")}
    out["body"] = res["body"].decode("utf-8", "replace")
    return out


def _dict_of(plugin: JSONObject) -> str:
    return ((plugin.get("config") or {}).get("memory") or {}).get("dictionary_name") or "kong_db_cache"


async def _purge_all(call: AdminCall) -> tuple[int, JSONValue]:
    if call.runtime is not None:
        storage = storage_of(call.runtime)
        for plugin in await call.plugins():
            storage.flush(_dict_of(plugin))
    return 204, None


async def _find(call: AdminCall) -> tuple[CacheStorage, str, JSONObject] | None:
    if call.runtime is None:
        return None
    storage = storage_of(call.runtime)
    key = call.params["cache_key"]
    for plugin in await call.plugins():
        res = storage.fetch(_dict_of(plugin), key)
        if res is not None:
            return storage, _dict_of(plugin), res
    return None


async def _get_any(call: AdminCall) -> tuple[int, JSONValue]:
    found = await _find(call)
    return (200, _entry_json(found[2])) if found else (404, None)


async def _delete_any(call: AdminCall) -> tuple[int, JSONValue]:
    found = await _find(call)
    if not found:
        return 404, None
    storage, name, _res = found
    storage.purge(name, call.params["cache_key"])
    return 204, None


async def _one(call: AdminCall) -> tuple[CacheStorage, str, JSONObject] | None:
    plugin = await call.plugin(call.params["plugin_id"])
    if plugin is None or call.runtime is None:
        return None
    storage = storage_of(call.runtime)
    res = storage.fetch(_dict_of(plugin), call.params["cache_key"])
    return (storage, _dict_of(plugin), res) if res is not None else None


async def _get_one(call: AdminCall) -> tuple[int, JSONValue]:
    found = await _one(call)
    return (200, _entry_json(found[2])) if found else (404, None)


async def _delete_one(call: AdminCall) -> tuple[int, JSONValue]:
    found = await _one(call)
    if not found:
        return 404, None
    storage, name, _res = found
    storage.purge(name, call.params["cache_key"])
    return 204, None


ADMIN_ROUTES = (
    AdminRoute("DELETE", "/proxy-cache", _purge_all),
    AdminRoute("GET", "/proxy-cache/{cache_key}", _get_any),
    AdminRoute("DELETE", "/proxy-cache/{cache_key}", _delete_any),
    AdminRoute("GET", "/proxy-cache/{plugin_id}/caches/{cache_key}", _get_one),
    AdminRoute("DELETE", "/proxy-cache/{plugin_id}/caches/{cache_key}", _delete_one),
)

PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Cache upstream responses in memory and answer repeated requests from the cache.",
    handler=ProxyCacheHandler,
    consumer_groups=True,
    any_protocol=True,  # typedefs.protocols
    entity_checks=[Custom(["config"], _shdict_check)],
    admin_routes=ADMIN_ROUTES,
)
