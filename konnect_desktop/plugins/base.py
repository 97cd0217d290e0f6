"""What a plugin module provides, and what the data plane hands to a plugin.

A plugin is one module in this package exporting ``PLUGIN = PluginSpec(...)``: its config schema
(a ``Record`` field, each sub-field with a human description, Kong's defaults and checks) and its
``Handler`` class. The data plane compiles one handler per enabled plugin instance whenever the
configuration changes, and calls its phase methods for each request the instance applies to.

The request/response objects here are plain Python (no aiohttp types), so handlers are testable
without sockets; the proxy adapts aiohttp requests to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from ..model.schema import Check, Field


@dataclass(eq=False)
class PluginSpec:
    name: str
    priority: int  # higher runs first (Kong's PRIORITY)
    config: Field  # a Record field: the plugin's config schema
    description: str
    handler: type[Handler] | None = None
    entity_checks: list[Check] = field(default_factory=list)  # on the whole plugin entity
    no_consumer: bool = False  # Kong's typedefs.no_consumer: cannot be scoped to a consumer
    protocols: tuple[str, ...] = ("grpc", "grpcs", "http", "https")
    version: str = "3.9.1"
    # Kong's shorthand_fields: rewrites deprecated config keys (e.g. rate-limiting's flat
    # ``redis_host``) into their current place before validation. Takes and returns a config dict.
    shorthands: Callable[[dict[str, Any]], dict[str, Any]] | None = None


class ConfigView(Protocol):
    """Read-only view of the runtime's current configuration, indexed for the hot path.

    Built by the data plane from the store whenever configuration changes.
    """

    def consumer(self, id_or_username: str) -> dict[str, Any] | None: ...

    def credential(self, table: str, key: str) -> dict[str, Any] | None:
        """A credential by its lookup key, e.g. ``credential("keyauth_credentials", "abc")``."""
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


class PluginExit(Exception):
    """Raised by a handler to answer the client directly (Kong's ``kong.response.exit``)."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass(slots=True)
class Decision:
    """One plugin's verdict on one request, shown in the traffic log and request console."""

    plugin: str
    outcome: str  # "pass" | "reject" | "skip" | "transform" | "error"
    summary: str  # human sentence: "minute 7/10 left", "consumer alice via key …f3a9c"
    data: dict[str, Any] = field(default_factory=dict)


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


class LazyParts(Protocol):
    """How the proxy builds a context's costlier parts on first use (see ``RequestContext``)."""

    def original(self) -> OriginalRequest: ...

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

    A slotted class: the proxy makes one per request with plugins. When it passes ``lazy``,
    ``original``, ``query`` and ``headers`` are built the first time a plugin reads them (most
    chains read few of them), and ``shared``, ``response_headers`` and ``plugin_data`` are
    created on first use.
    """

    __slots__ = ("request_id", "client_ip", "_original", "method", "path", "_query", "_headers", "route",
                 "service", "config", "runtime", "uri_captures", "consumer", "credential",
                 "authenticated_groups", "_shared", "decisions", "_response_headers", "query_dirty",
                 "body_reader", "_body", "body_dirty", "_plugin_data", "_lazy")

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
        *,
        lazy: LazyParts | None = None,
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
        self._lazy = lazy

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


def _escape_uri(s: str) -> str:
    # nginx's escape_uri for arguments: everything but unreserved characters is %XX-encoded
    return quote(s, safe="")


def encode_args(query: MultiDict[str]) -> str:
    """A query a plugin rewrote, serialized as Kong's ``kong.service.request.set_query`` does:
    keys in sorted order, repeated keys as ``k=v1&k=v2`` (values in their order), every
    character but ``A-Z a-z 0-9 - . _ ~`` percent-encoded (so ``a[1]`` → ``a%5B1%5D``)."""
    parts = []
    for key in sorted(set(query.keys())):
        ek = _escape_uri(key)
        for value in query.getall(key):
            parts.append(f"{ek}={_escape_uri(value)}")
    return "&".join(parts)


class Handler:
    """Base class: one instance per enabled plugin instance, built when configuration changes.

    Override the phases you need. ``access`` may mutate ``ctx`` or raise ``PluginExit``.
    Set ``buffers_response = True`` to receive the whole response body in ``body_filter``.
    """

    buffers_response: bool = False

    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: RuntimeServices) -> None:
        self.config = config
        self.plugin = plugin
        self.runtime = runtime

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
