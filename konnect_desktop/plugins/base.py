"""What a plugin module provides, and what the data plane hands to a plugin.

A plugin is one module in this package exporting ``PLUGIN = PluginSpec(...)``: its config schema
(a ``Record`` field, each sub-field with a human description, Kong's defaults and checks) and its
``Handler`` class. The data plane compiles one handler per enabled plugin instance whenever the
configuration changes, and calls its phase methods for each request the instance applies to.

The request/response objects here are plain Python (no aiohttp types), so handlers are testable
without sockets; the proxy adapts aiohttp requests to them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict
from mypy_extensions import mypyc_attr

from ..jsontypes import JSONObject
from ..model.kong_compat import KONG_VERSION
from ..model.schema import Check, Field
from .search_params import SearchParams

# the protocols of Kong's http subsystem: what typedefs.protocols_http accepts and defaults to
HTTP_SUBSYSTEM_PROTOCOLS: tuple[str, ...] = ("grpc", "grpcs", "http", "https")
# the fields that scope a plugin instance, most specific first
SCOPE_FIELDS: tuple[str, ...] = ("route", "service", "consumer", "consumer_group")


@dataclass(eq=False)
class PluginSpec:
    name: str
    priority: int  # higher runs first (Kong's PRIORITY)
    config: Field  # a Record field: the plugin's config schema
    description: str
    handler: type[Handler] | None = None
    entity_checks: list[Check] = field(default_factory=list)  # on the whole plugin entity
    # -- where an instance may be attached (Kong's plugin schema fields; refused with Kong's words
    # "value must be null" by the Admin API, decK files and the GUI's scope picker alike)
    no_consumer: bool = False  # typedefs.no_consumer: cannot be scoped to a consumer
    no_route: bool = False  # typedefs.no_route
    no_service: bool = False  # typedefs.no_service
    # Kong Enterprise/Konnect consumer-group scoping, which only some plugins support (Kong's plugin
    # reference, "Supported scopes by plugin"; the others declare typedefs.no_consumer_group)
    consumer_groups: bool = False
    # the protocols field: Kong's typedefs.protocols_http (grpc, grpcs, http, https) unless
    # ``any_protocol`` (typedefs.protocols: stream protocols too); ``protocols`` is its default
    any_protocol: bool = False
    protocols: tuple[str, ...] = HTTP_SUBSYSTEM_PROTOCOLS
    version: str = KONG_VERSION
    # Kong's shorthand_fields: rewrites deprecated config keys (e.g. rate-limiting's flat
    # ``redis_host``) into their current place before validation. Takes and returns a config dict.
    shorthands: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Carried but not run by the local runtime: why not (None = it runs). Such a plugin validates,
    # stores, dumps and syncs like any other; its handler (plugins.not_run) refuses or skips.
    not_run: str | None = None
    # Endpoints the plugin adds to the Admin API (Kong's ``kong/plugins/<name>/api.lua``), e.g.
    # proxy-cache's ``DELETE /proxy-cache``.
    admin_routes: tuple[AdminRoute, ...] = ()

    @property
    def runs_locally(self) -> bool:
        return self.not_run is None

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scope fields an instance may set, of ``route, service, consumer, consumer_group``."""
        refused = {"route": self.no_route, "service": self.no_service, "consumer": self.no_consumer,
                   "consumer_group": not self.consumer_groups}
        return tuple(k for k in SCOPE_FIELDS if not refused[k])


def moved_fields(*moves: tuple[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Kong's deprecated ``shorthand_fields`` as data, for ``PluginSpec.shorthands``: each
    ``(old, new)`` pair is a dotted path inside the config; a non-null value at ``old`` moves to
    ``new``, replacing what is there.

    Replacing is what a PATCH needs here: Kong rewrites the patch alone before merging it, while
    this app validates the patch merged with the stored entity, so the stored new-style value is
    always present. (Given both in one request with different values, Kong >= 3.8 refuses them
    when the shorthand names its replacement; here the shorthand wins.)"""

    def apply(config: dict[str, Any]) -> dict[str, Any]:
        out = config
        for old, new in moves:
            *old_parents, old_key = old.split(".")
            holder = _walk(out, old_parents)
            if holder is None or old_key not in holder:
                continue
            out = _copy_path(out, old_parents)
            holder = _walk(out, old_parents)
            assert holder is not None
            value = holder.pop(old_key)
            if value is None:
                continue
            *new_parents, new_key = new.split(".")
            out = _copy_path(out, new_parents, create=True)
            target = _walk(out, new_parents)
            if isinstance(target, dict):
                target[new_key] = value
        return out

    return apply


def _walk(d: Any, parts: list[str]) -> dict[str, Any] | None:
    for p in parts:
        d = d.get(p) if isinstance(d, dict) else None
    return d if isinstance(d, dict) else None


def _copy_path(d: dict[str, Any], parts: list[str], *, create: bool = False) -> dict[str, Any]:
    """``d`` with the dicts along ``parts`` copied (the caller's input is never changed)."""
    root = dict(d)
    cur = root
    for p in parts:
        nxt = cur.get(p)
        if isinstance(nxt, dict):
            nxt = dict(nxt)
        elif nxt is None and create:
            nxt = {}
        else:
            return root
        cur[p] = nxt
        cur = nxt
    return root


@dataclass(frozen=True)
class AdminCall:
    """One Admin API request as a plugin's endpoint sees it (plain Python, no web framework)."""

    params: dict[str, str]  # path parameters by name, decoded: {"cache_key": "..."}
    query: Mapping[str, str]
    runtime: RuntimeServices | None  # the running gateway's services; None when none runs
    # the stored instances of this plugin, and one stored instance of it by id (None if absent
    # or another plugin); both read the store off the event loop
    plugins: Callable[[], Awaitable[list[dict[str, Any]]]]
    plugin: Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class AdminRoute:
    """An Admin API endpoint contributed by a plugin: ``handler`` answers (status, JSON body or
    None for an empty body)."""

    method: str
    template: str  # "/proxy-cache/{plugin_id}/caches/{cache_key}"
    handler: Callable[[AdminCall], Awaitable[tuple[int, Any]]]


class ConfigView(Protocol):
    """Read-only view of the runtime's current configuration, indexed for the hot path.

    Built by the data plane from the store whenever configuration changes.
    """

    def consumer(self, id_or_username: str) -> dict[str, Any] | None: ...

    def credential(self, table: str, key: str) -> dict[str, Any] | None:
        """A credential by its lookup key, e.g. ``credential("keyauth_credentials", "abc")``."""
        ...

    def credential_by_id(self, credential_id: str) -> dict[str, Any] | None:
        """A credential of any table by its id (oauth2 tokens name their client this way)."""
        ...

    def acl_groups(self, consumer_id: str) -> list[str]:
        """The consumer's ACL group names (from ``acls``), in insertion order."""
        ...

    def consumer_groups(self, consumer_id: str) -> list[dict[str, Any]]:
        """The consumer groups the consumer belongs to, sorted by name."""
        ...


class RuntimeServices(Protocol):
    """Long-lived things a handler may use: they survive configuration rebuilds."""

    node_id: str

    def shared_state(self, name: str) -> dict[str, Any]:
        """A dict that lives as long as the runtime (e.g. local rate-limit counters)."""
        ...

    # Optional: the runtime's ``Store`` (``runtime.store.Store``), for plugins that keep data the
    # gateway writes while serving (oauth2 tokens and codes, ``EntityDef.runtime_data``). Read it
    # with ``getattr(runtime, "store", None)``; use ``store.aio`` from the event loop.


class PluginExit(Exception):
    """Raised by a handler to answer the client directly (Kong's ``kong.response.exit``).

    ``headers``: a value may be a list of values, each sent as its own header line (Kong's
    ``kong.response.exit`` takes a table of strings: several ``Set-Cookie``, say).
    ``proxied``: the answer stands for a proxied response (a proxy-cache hit: Kong's plugin
    sets ``ngx.ctx.KONG_PROXIED`` before exiting), so it carries the proxied response's
    headers — ``X-Kong-Proxy-Latency`` / ``X-Kong-Upstream-Latency`` and ``Via`` — instead of
    ``X-Kong-Response-Latency``; the log still names its source ``exit``."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        proxied: bool = False,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.proxied = proxied


_UNMADE: JSONObject = {}  # a later decision's data until made: never handed out (``_made`` replaces it)


class Decision:
    """One plugin's verdict on one request, shown in the traffic log and request console.

    ``plugin``; ``outcome``: "pass" | "reject" | "skip" | "transform" | "error"; ``summary``: a
    human sentence ("minute 7/10 left", "consumer alice via key …f3a9c"); ``data``: the facts
    behind it. A plugin on the hot path records ``Decision.later(plugin, outcome, make)``:
    ``make()`` returns (summary, data) and runs when somebody first reads them — most requests'
    verdicts are never looked at, and formatting them costs more than the plugin's own work.
    """

    __slots__ = ("plugin", "outcome", "_summary", "_data", "_make", "_args")

    def __init__(self, plugin: str, outcome: str, summary: str = "", data: JSONObject | None = None,
                 make: Callable[..., tuple[str, JSONObject]] | None = None, args: tuple[object, ...] = ()) -> None:
        self.plugin = plugin
        self.outcome = outcome
        self._summary = summary
        # a later decision's data stays the shared _UNMADE until made: no empty dict per verdict
        self._data = data if data is not None else (_UNMADE if make is not None else {})
        self._make = make
        self._args = args

    @classmethod
    def later(cls, plugin: str, outcome: str, make: Callable[..., tuple[str, JSONObject]],
              *args: object) -> Decision:
        """``make(*args)`` gives (summary, data) when first read. Pass a plain function and its
        arguments rather than a closure: the traffic log keeps a thousand verdicts, and each
        closure's cells would be more objects for the cyclic collector to walk."""
        return cls(plugin, outcome, "", None, make, args)

    def _made(self) -> None:
        make = self._make
        if make is not None:
            # made first, then cleared: a make that raises leaves the decision unmade, never
            # holding the shared _UNMADE dict as its data
            self._summary, self._data = make(*self._args)
            self._make = None
            self._args = ()

    @property
    def summary(self) -> str:
        if self._make is not None:
            self._made()
        return self._summary

    @summary.setter
    def summary(self, value: str) -> None:
        self._made()
        self._summary = value

    @property
    def data(self) -> JSONObject:
        if self._make is not None:
            self._made()
        return self._data

    @data.setter
    def data(self, value: JSONObject) -> None:
        self._made()
        self._data = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (self.plugin, self.outcome, self.summary, self.data) == (
            other.plugin, other.outcome, other.summary, other.data)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return (f"Decision(plugin={self.plugin!r}, outcome={self.outcome!r}, summary={self.summary!r}, "
                f"data={self.data!r})")


@dataclass(frozen=True)
class OriginalRequest:
    """The request as the client sent it (templates and logs read this, never the mutated one)."""

    method: str
    path: str  # normalized request path, no query
    raw_path: str  # path + query as received
    query: MultiDict[str]
    headers: CIMultiDictProxy[str]
    scheme: str
    host: str
    port: int
    http_version: float = 1.1  # Kong's ``kong.request.get_http_version()``: 1.0, 1.1


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """The client connection a request came on, as nginx's variables tell it (Kong's
    correlation-id ``tracker`` generator reads them)."""

    server_addr: str  # $server_addr: the local address the connection was accepted on
    server_port: int  # $server_port
    serial: int  # $connection: the connection's serial number, from 1 since the listener started
    requests: int  # $connection_requests: this request's number on its connection, from 1


class LazyParts(Protocol):
    """How the proxy builds a context's costlier parts on first use (see ``RequestContext``)."""

    def original(self) -> OriginalRequest: ...

    def connection(self) -> ConnectionFacts: ...

    def query(self) -> MultiDict[str]: ...

    def headers(self) -> CIMultiDict[str]: ...


class RequestContext:
    """The request as it will be sent upstream, mutable by access-phase handlers.

    Fields (all readable and assignable): ``request_id``, ``client_ip``, ``original``,
    ``method``, ``path`` (upstream path: service.path ⊕ request path already applied),
    ``query`` (serialize with ``encode_args`` when ``query_dirty``), ``headers`` (as sent
    upstream; a ``Host`` entry here is the upstream Host), ``route``, ``service``, ``config``,
    ``runtime``, ``uri_captures``, ``consumer``, ``credential``, ``authenticated_groups``,
    ``shared`` (kong.ctx.shared), ``decisions``, ``response_headers`` (added to the client
    response), ``query_dirty``, ``body_reader`` (async () -> bytes; set by the proxy), ``_body``,
    ``body_dirty``, ``plugin_data`` (kong.ctx.plugin).
    ``started_at`` (Unix seconds when the proxy built the context, right after routing: Kong's
    ``kong.request.get_start_time``; the log serializer reads it). ``connection``
    (``ConnectionFacts``: local address and port, connection serial, request number).

    A slotted class: the proxy makes one per request with plugins. When it passes ``lazy``,
    ``original``, ``query`` and ``headers`` are built the first time a plugin reads them (most
    chains read few of them), and ``shared``, ``response_headers`` and ``plugin_data`` are
    created on first use.
    """

    __slots__ = ("request_id", "client_ip", "_original", "method", "path", "_query", "_headers", "route",
                 "service", "config", "runtime", "uri_captures", "consumer", "credential",
                 "authenticated_groups", "_shared", "decisions", "_response_headers", "query_dirty",
                 "body_reader", "_body", "body_dirty", "_plugin_data", "started_at", "_lazy", "_connection")

    def __init__(
        self,
        request_id: str,
        client_ip: str,
        original: OriginalRequest | None,
        method: str,
        path: str,
        query: MultiDict[str] | None,
        headers: CIMultiDict[str] | None,
        route: dict[str, Any] | None,
        service: dict[str, Any] | None,
        config: ConfigView,
        runtime: RuntimeServices,
        uri_captures: dict[str | int, str] | None = None,
        consumer: dict[str, Any] | None = None,
        credential: dict[str, Any] | None = None,
        authenticated_groups: list[str] | None = None,
        shared: dict[str, Any] | None = None,
        decisions: list[Decision] | None = None,
        response_headers: CIMultiDict[str] | None = None,
        query_dirty: bool = False,
        body_reader: Callable[[], Any] | None = None,
        _body: bytes | None = None,
        body_dirty: bool = False,
        plugin_data: dict[int, dict[str, Any]] | None = None,
        started_at: float | None = None,
        *,
        lazy: LazyParts | None = None,
        connection: ConnectionFacts | None = None,
    ) -> None:
        self.request_id = request_id
        self.client_ip = client_ip
        self._original = original
        self.method = method
        self.path = path
        self._query = query
        self._headers = headers
        self.route = route
        self.service = service
        self.config = config
        self.runtime = runtime
        self.uri_captures = uri_captures if uri_captures is not None else {}
        self.consumer = consumer
        self.credential = credential
        self.authenticated_groups = authenticated_groups
        self._shared = shared
        self.decisions = decisions if decisions is not None else []
        self._response_headers = response_headers
        self.query_dirty = query_dirty
        self.body_reader = body_reader
        self._body = _body
        self.body_dirty = body_dirty
        self._plugin_data = plugin_data
        self.started_at = time.time() if started_at is None else started_at
        self._lazy = lazy
        self._connection = connection

    # -- parts built on first use -------------------------------------------------------------
    @property
    def original(self) -> OriginalRequest:
        o = self._original
        if o is None:
            assert self._lazy is not None, "RequestContext without original"
            o = self._original = self._lazy.original()
        return o

    @original.setter
    def original(self, value: OriginalRequest) -> None:
        self._original = value

    @property
    def connection(self) -> ConnectionFacts:
        c = self._connection
        if c is None:
            assert self._lazy is not None, "RequestContext without connection"
            c = self._connection = self._lazy.connection()
        return c

    @property
    def query(self) -> MultiDict[str]:
        q = self._query
        if q is None:
            q = self._query = self._lazy.query() if self._lazy is not None else MultiDict()
        return q

    @query.setter
    def query(self, value: MultiDict[str]) -> None:
        self._query = value

    @property
    def headers(self) -> CIMultiDict[str]:
        h = self._headers
        if h is None:
            h = self._headers = self._lazy.headers() if self._lazy is not None else CIMultiDict()
        return h

    @headers.setter
    def headers(self, value: CIMultiDict[str]) -> None:
        self._headers = value

    @property
    def shared(self) -> dict[str, Any]:
        d = self._shared
        if d is None:
            d = self._shared = {}
        return d

    @shared.setter
    def shared(self, value: dict[str, Any]) -> None:
        self._shared = value

    @property
    def response_headers(self) -> CIMultiDict[str]:
        h = self._response_headers
        if h is None:
            h = self._response_headers = CIMultiDict()
        return h

    @response_headers.setter
    def response_headers(self, value: CIMultiDict[str]) -> None:
        self._response_headers = value

    @property
    def plugin_data(self) -> dict[int, dict[str, Any]]:
        d = self._plugin_data
        if d is None:
            d = self._plugin_data = {}
        return d

    @plugin_data.setter
    def plugin_data(self, value: dict[int, dict[str, Any]]) -> None:
        self._plugin_data = value

    def __repr__(self) -> str:
        return f"<RequestContext {self.request_id} {self.method} {self.path}>"

    # -- what plugins call --------------------------------------------------------------------
    def plugin_ctx(self, handler: Handler) -> dict[str, Any]:
        """Per-request scratch space of one plugin instance (Kong's ``kong.ctx.plugin``):
        what its access phase leaves for its header/body/log phases of the same request."""
        data = self.plugin_data
        d = data.get(id(handler))
        if d is None:
            d = data[id(handler)] = {}
        return d

    async def read_body(self) -> bytes:
        """The request body (buffered on first use)."""
        if self._body is None:
            self._body = await self.body_reader() if self.body_reader else b""
        return self._body

    def set_body(self, body: bytes) -> None:
        self._body = body
        self.body_dirty = True

    def authenticate(self, consumer: dict[str, Any] | None, credential: dict[str, Any] | None) -> None:
        """Kong's ``kong.client.authenticate``."""
        self.consumer = consumer
        self.credential = credential

    def kong_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> PluginExit:
        """A Kong-style error answer: ``{"message": ..., "request_id": ...}``."""
        return PluginExit(status, {"message": message, "request_id": self.request_id}, headers)


@dataclass(eq=False, slots=True)
class ResponseContext:
    """The upstream's (or an exit's) response on its way to the client."""

    status: int
    headers: CIMultiDict[str]
    body: bytes | None = None  # None while streaming; set when a handler asked for buffering
    body_dirty: bool = False
    # What the proxy measured for this request, for the log phase (None: the proxy did not say;
    # the log serializer then writes Kong's own "unknown" values)
    served: Served | None = None


@dataclass
class Served:
    """Facts only the proxy knows, handed to the log phase on ``ResponseContext.served``.

    The fields mirror what Kong's log serializer reads from nginx: ``KONG_PROXY_LATENCY``
    (``proxy_latency``), ``KONG_WAITING_TIME`` (``upstream_latency``), ``$request_length``,
    ``$bytes_sent``, ``$upstream_status``, the balancer's tries and the response's source.
    """

    proxy_latency: float | None = None  # ms: arrival → request sent upstream (or → exit answered)
    upstream_latency: float | None = None  # ms: request sent upstream → response headers received
    request_size: int | None = None  # bytes received from the client (head + body)
    response_size: int | None = None  # bytes sent to the client (head + body)
    upstream_status: int | None = None
    source: str | None = None  # "service" (upstream answered) | "exit" (a plugin) | "error" (the proxy)
    tries: list[dict[str, Any]] | None = None  # balancer tries: {"ip", "port", "balancer_latency"}


def _escape_uri(s: str) -> str:
    # nginx's escape_uri for arguments: everything but unreserved characters is %XX-encoded
    return quote(s, safe="")


def _whatwg(s: str) -> str:
    # application/x-www-form-urlencoded serializer: A-Z a-z 0-9 * - . _ kept, space as "+"
    return quote(s, safe="*").replace("%20", "+").replace("~", "%7E")


def clear_query_arg(ctx: RequestContext, name: str) -> None:
    """Kong's ``kong.service.request.clear_query_arg``: drop every ``name`` argument, keeping the
    others in the order they came (decoded and re-encoded, so ``api%6B%65%79=kong`` goes too)."""
    if name not in ctx.query:
        return
    ctx.query = SearchParams((k, v) for k, v in ctx.query.items() if k != name)
    ctx.query_dirty = True


def encode_args(query: MultiDict[str]) -> str:
    """A query a plugin rewrote, serialized as Kong's ``kong.service.request.set_query`` does:
    keys in sorted order, repeated keys as ``k=v1&k=v2`` (values in their order), every
    character but ``A-Z a-z 0-9 - . _ ~`` percent-encoded (so ``a[1]`` → ``a%5B1%5D``).
    A ``SearchParams`` keeps its order (``clear_query_arg``)."""
    if isinstance(query, SearchParams):
        return "&".join(f"{_whatwg(k)}={_whatwg(v)}" for k, v in query.items())
    parts = []
    for key in sorted(set(query.keys())):
        ek = _escape_uri(key)
        for value in query.getall(key):
            parts.append(f"{ek}={_escape_uri(value)}")
    return "&".join(parts)


# compiled with the proxy (konnect_desktop/native.py); the plugins that are not subclass it
@mypyc_attr(allow_interpreted_subclasses=True)
class Handler:
    """Base class: one instance per enabled plugin instance, built when configuration changes.

    Override the phases you need. ``access`` may mutate ``ctx`` or raise ``PluginExit``.
    Set ``self.buffers_response = True`` in ``__init__`` to receive the whole response body in
    ``body_filter``.
    """

    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: RuntimeServices) -> None:
        self.config = config
        self.plugin = plugin
        self.runtime = runtime
        self.buffers_response = False  # a subclass's __init__ sets it (an attribute of the compiled class)

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        """The access phase. A plain call: return None when done; when the request must wait
        (a body to read, a remote store to ask) return an awaitable and the proxy awaits it.
        (``async def access`` still works: its coroutine is that awaitable.)"""
        return None

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        return None

    def body_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        return None

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        return None

    async def close(self) -> None:
        """Release resources (connections) when this handler is replaced."""
        return None
