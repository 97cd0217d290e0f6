"""proxy-cache's parts that are not the handler: Kong's cache key, the ``memory`` strategy, and
the HTTP header rules (``Cache-Control`` directives, resource TTL, media types) it decides with.

The memory strategy stands in for an nginx shared dictionary: one ``MemoryDict`` per
``memory.dictionary_name``, shared by every proxy-cache instance naming it (as in Kong) and kept in
the runtime's shared state, so entries survive configuration changes and the Admin API's purge
endpoints reach them. Each dictionary has the byte size Kong's nginx template gives it; storing
past it evicts the least recently used entries, as a full shared dictionary does.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from multidict import MultiMapping

from ..jsontypes import JSONObject, JSONValue
from .base import RuntimeServices
from .http_util import ArgValue

NOT_IN_CACHE = "request object not in cache"
CACHE_VERSION = 1

# The shared dictionaries of Kong's default nginx template (kong/templates/nginx_kong.lua) and
# their sizes; ``mem_cache_size`` (128m) and ``resolver_mem_cache_size`` (5m) at their defaults.
_M = 1024 * 1024
SHARED_DICTS: dict[str, int] = {
    "kong": 5 * _M,
    "kong_locks": 8 * _M,
    "kong_healthchecks": 5 * _M,
    "kong_cluster_events": 5 * _M,
    "kong_rate_limiting_counters": 12 * _M,
    "kong_core_db_cache": 128 * _M,
    "kong_core_db_cache_miss": 12 * _M,
    "kong_db_cache": 128 * _M,
    "kong_db_cache_miss": 12 * _M,
    "kong_secrets": 5 * _M,
    "kong_dns_cache": 5 * _M,
}
_ENTRY_OVERHEAD = 256  # bytes counted per entry besides its key, body and headers


# -- the cache key (kong/plugins/proxy-cache/cache_key.lua) ---------------------------------------
def _key_from(args: Mapping[str, ArgValue], fields: Iterable[str]) -> str:
    """``name=value`` parts joined by ``:``: repeated values sorted and joined by ``,``, a bare
    flag as its name; fields the request lacks are left out."""
    parts: list[str] = []
    for name in fields:
        value = args.get(name)
        if value is None or value is False:
            continue
        if isinstance(value, list):
            parts.append(f"{name}=" + ",".join(sorted(str(v) for v in value)))
        elif value is True:
            parts.append(name)
        else:
            parts.append(f"{name}={value}")
    return ":".join(parts)


def params_key(query: Mapping[str, ArgValue], vary_query_params: list[str] | None) -> str:
    """The query part: every argument in name order, or only ``vary_query_params``."""
    if not vary_query_params:
        return _key_from(query, sorted(query))
    return _key_from(query, vary_query_params)


class _Headers(Mapping[str, ArgValue]):
    """A request's headers as Kong's header table: any case, ``_`` for ``-``, lists for repeats."""

    def __init__(self, headers: MultiMapping[str]) -> None:
        self._h = headers

    def __getitem__(self, name: str) -> ArgValue:
        values = self._h.getall(name, None) or self._h.getall(name.replace("_", "-"), None)
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else list(values)

    def __iter__(self) -> Iterator[str]:
        return iter({k.lower() for k in self._h})

    def __len__(self) -> int:
        return len({k.lower() for k in self._h})


def headers_key(headers: MultiMapping[str], vary_headers: list[str] | None) -> str:
    """The header part: only ``vary_headers`` count (none by default)."""
    if not vary_headers:
        return ""
    return _key_from(_Headers(headers), vary_headers)


def prefix_uuid(consumer_id: str | None, route_id: str | None) -> str:
    if consumer_id and route_id:
        return f"{consumer_id}:{route_id}"
    if route_id:
        return route_id
    return "default"


def build_cache_key(consumer_id: str | None, route_id: str | None, method: str, uri: str,
                    query: Mapping[str, ArgValue], headers: MultiMapping[str], conf: Mapping[str, JSONValue]) -> str:
    """Kong's key: sha256 hex of ``prefix|method|uri|params|headers``."""
    text = "|".join((prefix_uuid(consumer_id, route_id), method, uri,
                     params_key(query, conf.get("vary_query_params")),
                     headers_key(headers, conf.get("vary_headers"))))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# -- HTTP rules (kong/tools/http.lua, kong/tools/mime_type.lua) -----------------------------------
_DIRECTIVE = re.compile(r"^\s*([^=]+)(?:=(.+))?")


def _lua_tonumber(s: str) -> float | int | None:
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return None


def parse_directive_header(value: str | None) -> JSONObject:
    """``Cache-Control: max-age=60, no-cache`` → ``{"max-age": 60, "no-cache": True}``."""
    out: JSONObject = {}
    if not value:
        return out
    for piece in value.split(","):
        if not piece:
            continue
        m = _DIRECTIVE.match(piece)
        if not m:
            continue
        token = m.group(2)
        num = _lua_tonumber(token.strip()) if token is not None else None
        out[m.group(1).lower()] = num if num is not None else (token if token is not None else True)
    return out


def resource_ttl(cc: Mapping[str, JSONValue], expires: str | None, now: float) -> float:
    """Seconds a response may be cached: ``s-maxage``, else ``max-age``, else ``Expires``."""
    max_age = cc.get("s-maxage", cc.get("max-age"))
    if not isinstance(max_age, (int, float)) or isinstance(max_age, bool):
        max_age = None
    if max_age is None and expires:
        try:
            max_age = parsedate_to_datetime(expires).timestamp() - now
        except (TypeError, ValueError, IndexError):
            max_age = None
    return max(max_age, 0) if max_age is not None else 0


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA = re.compile(rf"^(?:({_TOKEN})/({_TOKEN})|(\*))((?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"(?:[^\"\\\x00-\x1f\x7f]|\\[\x00-\x7f])*\"))*)$")
_PARAM = re.compile(rf"[ \t]*;[ \t]*({_TOKEN})=({_TOKEN}|\"((?:[^\"\\\x00-\x1f\x7f]|\\[\x00-\x7f])*)\")")


def parse_mime_type(value: str) -> tuple[str, str, dict[str, str]] | None:
    """(type, subtype, parameters) with lower-case type, subtype and parameter names, or None
    when ``value`` is not a media type (RFC 2045), as Kong's ``parse_mime_type``."""
    m = _MEDIA.match(value)
    if not m:
        return None
    if m.group(3):
        t, sub = "*", "*"
    else:
        t, sub = m.group(1).lower(), m.group(2).lower()
    params = {p.group(1).lower(): (p.group(3) if p.group(3) is not None else p.group(2))
              for p in _PARAM.finditer(m.group(4) or "")}
    return t, sub, params


def content_type_matches(content_type: str, accepted: Iterable[tuple[str, str, dict[str, str]]]) -> bool:
    """Whether a response's content type is one of ``accepted`` (wildcards allowed; parameters
    must all match, no more and no fewer)."""
    parsed = parse_mime_type(content_type)
    if parsed is None:
        return False
    t, sub, params = parsed
    for et, esub, eparams in accepted:
        if (et == "*" or et == t) and (esub == "*" or esub == sub) and eparams == params:
            return True
    return False


# -- the memory strategy --------------------------------------------------------------------------
@dataclass
class _Entry:
    value: JSONObject
    expires_at: float  # 0: never
    size: int


class MemoryDict:
    """One shared dictionary: entries with a TTL, least recently used evicted past ``capacity``."""

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.clock = clock
        self.used = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> JSONObject | None:
        e = self._entries.get(key)
        if e is None:
            return None
        if e.expires_at and e.expires_at <= self.clock():
            self.delete(key)
            return None
        self._entries.move_to_end(key)
        return e.value

    def set(self, key: str, value: JSONObject, ttl: float, size: int) -> bool:
        """Store ``value`` for ``ttl`` seconds (0: no expiry); False when it cannot fit at all."""
        self.delete(key)
        size += len(key) + _ENTRY_OVERHEAD
        if size > self.capacity:
            return False
        now = self.clock()
        while self.used + size > self.capacity and self._entries:
            self._evict_one(now)
        self._entries[key] = _Entry(value, now + ttl if ttl else 0, size)
        self.used += size
        return True

    def _evict_one(self, now: float) -> None:
        # expired entries go first (as a shared dictionary reclaims them), then the oldest used
        for k, e in self._entries.items():
            if e.expires_at and e.expires_at <= now:
                self.delete(k)
                return
        self.delete(next(iter(self._entries)))

    def delete(self, key: str) -> None:
        e = self._entries.pop(key, None)
        if e is not None:
            self.used -= e.size

    def flush(self) -> None:
        self._entries.clear()
        self.used = 0


@dataclass
class CacheStorage:
    """The memory strategy's dictionaries of one runtime (``runtime.shared_state("proxy-cache")``).

    ``clock`` (Unix seconds) is read for timestamps and expiry; tests replace it."""

    clock: Callable[[], float] = time.time
    dicts: dict[str, MemoryDict] = field(default_factory=dict)

    def now(self) -> int:
        return int(self.clock())  # Kong's ngx.time(): whole seconds

    def dict(self, name: str) -> MemoryDict:
        d = self.dicts.get(name)
        if d is None:
            d = self.dicts[name] = MemoryDict(SHARED_DICTS.get(name, SHARED_DICTS["kong_db_cache"]), self.now)
        return d

    def fetch(self, name: str, key: str) -> JSONObject | None:
        return self.dict(name).get(key)

    def store(self, name: str, key: str, res: JSONObject, ttl: float) -> bool:
        size = len(res.get("body") or b"") + sum(len(k) + len(v) + 4 for k, vs in res.get("headers", {}).items()
                                                 for v in (vs if isinstance(vs, list) else [vs]))
        return self.dict(name).set(key, res, ttl, size)

    def purge(self, name: str, key: str) -> None:
        self.dict(name).delete(key)

    def flush(self, name: str) -> None:
        self.dict(name).flush()


def storage_of(runtime: RuntimeServices) -> CacheStorage:
    """The runtime's cache storage (created on first use)."""
    state = runtime.shared_state("proxy-cache")
    st = state.get("storage")
    if not isinstance(st, CacheStorage):
        st = state["storage"] = CacheStorage()
    return st


__all__ = ["build_cache_key", "params_key", "headers_key", "prefix_uuid", "parse_directive_header",
           "resource_ttl", "parse_mime_type", "content_type_matches", "MemoryDict", "CacheStorage",
           "storage_of", "SHARED_DICTS", "NOT_IN_CACHE", "CACHE_VERSION"]
