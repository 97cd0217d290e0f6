"""A remote Kong Gateway through its Admin API (httpx, async).

Also the base of the Konnect backend: Konnect's core entities are the same Admin API under
``/v2/control-planes/{id}/core-entities``, so both share one HTTP layer:

* TLS verification on by default; a custom CA bundle or ``verify=False`` is an explicit choice.
* Retries with exponential backoff and jitter on connection errors, 429 and 5xx, honouring
  ``Retry-After``. A request that may already have reached the server (read timeout, reset, 500)
  is retried only when repeating it is harmless (GET, PUT, DELETE); refusals the server promises
  did nothing (connection refused, 429, 503) are retried for every method.
* Cancellation: cancelling the awaiting task cancels the request; httpx closes the connection.
* Pagination follows the ``offset`` token Kong returns (its ``next`` link is relative to the Admin
  API root, which differs behind a path prefix or on Konnect).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

from ..credentials import Secret, mask_text, register_secret, reveal
from ..jsontypes import JSONArray, JSONObject, JSONValue
from ..model.entities import DEPENDENCY_ORDER, ENTITIES
from .base import (
    MEMBERSHIP_TABLE,
    Capabilities,
    ControlPlane,
    Node,
    Parent,
    RuntimeGroup,
    check_table,
    normalize_entity,
    tags_param,
)
from .errors import (
    ApiError,
    ConnectionFailed,
    ControlPlaneError,
    NotFound,
    TimedOut,
    Unsupported,
    from_kong_body,
)
from .transport import describe_transport_error, host_port, is_tls_failure

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Nested collections: (parent table, child table) -> path segment under the parent.
NESTED: dict[tuple[str, str], str] = {
    ("services", "routes"): "routes",
    ("services", "plugins"): "plugins",
    ("routes", "plugins"): "plugins",
    ("consumers", "plugins"): "plugins",
    ("consumer_groups", "plugins"): "plugins",
    ("consumers", "keyauth_credentials"): "key-auth",
    ("consumers", "acls"): "acls",
    ("consumers", "basicauth_credentials"): "basic-auth",
    ("consumers", "jwt_secrets"): "jwt",
    ("consumers", "hmacauth_credentials"): "hmac-auth",
    ("upstreams", "targets"): "targets",
    ("certificates", "snis"): "snis",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``attempts`` counts the first try."""

    attempts: int = 4
    backoff: float = 0.25  # first delay in seconds, doubled each retry
    max_backoff: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is reported instead of waited out
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    always_retry_statuses: frozenset[int] = frozenset({429, 503})  # the server did nothing
    # how a retry waits its delay (a test passes a clock's sleep instead of waiting)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def delay(self, retry: int) -> float:
        """Delay before retry number ``retry`` (0-based): exponential with "equal jitter"."""
        cap = min(self.max_backoff, self.backoff * 2.0**retry)
        return cap / 2 + random.uniform(0, cap / 2)


NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class HttpOptions:
    """Connection settings shared by the HTTP backends."""

    headers: dict[str, str] = field(default_factory=dict)  # extra, non-secret headers
    verify: bool = True
    ca_file: str | None = None
    client_cert: tuple[str, str] | str | None = None  # (cert, key) or combined PEM
    timeout: float | httpx.Timeout = 30.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_connections: int = 10


RetryHook = Callable[[int, float, str], None]


class _Http:
    """The HTTP layer: one pooled client, retries, error mapping, no secrets in messages."""

    def __init__(
        self,
        base_url: str,
        options: HttpOptions,
        secret_headers: dict[str, Secret],
        on_retry: RetryHook | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.on_retry = on_retry
        headers = {"Accept": "application/json", "User-Agent": "konnect-desktop"}
        headers.update(options.headers)
        for name, value in secret_headers.items():
            headers[name] = value.reveal()
        verify: bool | ssl.SSLContext = options.verify
        if options.ca_file:
            verify = ssl.create_default_context(cafile=options.ca_file)
        elif options.verify:
            verify = ssl.create_default_context()
        if options.client_cert and isinstance(verify, ssl.SSLContext):
            cert = options.client_cert
            if isinstance(cert, tuple):
                verify.load_cert_chain(cert[0], cert[1])
            else:
                verify.load_cert_chain(cert)
        timeout = options.timeout
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout, connect=min(options.connect_timeout, timeout))
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            # retries are ours (policy above); the transport never retries on its own
            transport=httpx.AsyncHTTPTransport(retries=0, verify=verify,
                                               limits=httpx.Limits(max_connections=options.max_connections)),
        )
        self.closed = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.client.aclose()

    def _sentence(self, exc: BaseException, method: str, path: str, attempt: int) -> str:
        """The transport failure in words (``controlplanes.transport``), with the request and the
        attempts it took."""
        seconds = self.client.timeout.connect if isinstance(exc, httpx.ConnectTimeout) else self.client.timeout.read
        text = describe_transport_error(exc, host_port(self.base_url), url=self.base_url, timeout=seconds)
        return f"{text.rstrip('.')} ({method} {path}, after {attempt} attempt(s))"

    def _where(self, method: str, path: str) -> str:
        return f"{method} {self.base_url}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: JSONObject | None = None,
        json: JSONValue = None,
    ) -> tuple[int, JSONValue]:
        """Send, retrying as the policy allows; returns (status, decoded JSON or None)."""
        if self.closed:
            raise ControlPlaneError("this connection was closed", target=self.base_url)
        policy = self.options.retry
        method = method.upper()
        idempotent = method in IDEMPOTENT
        where = self._where(method, path)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= policy.attempts
            try:
                resp = await self.client.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                text = self._sentence(exc, method, path, attempt)
                if isinstance(exc, httpx.ConnectError) and is_tls_failure(exc):
                    # retrying cannot help; say what to change
                    raise ConnectionFailed(f"{text}; set the server's CA certificate in the connection's TLS "
                                           "options", target=self.base_url) from None
                # a connect never reached the server, so it is retried whatever the method
                retry = isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)) or idempotent
                if retry and not last:
                    await self._wait(attempt, policy.delay(attempt - 1), text)
                    continue
                failure = TimedOut if isinstance(exc, httpx.TimeoutException) else ConnectionFailed
                raise failure(text, target=self.base_url) from None
            status = resp.status_code
            body = _decode(resp)
            if status < 400:
                if status >= 300:
                    raise ApiError(f"{where}: unexpected redirect to {resp.headers.get('location')}", status=status,
                                   target=self.base_url)
                return status, body
            retryable = status in policy.retry_statuses and (idempotent or status in policy.always_retry_statuses)
            if retryable and not last:
                after = parse_retry_after(resp.headers.get("retry-after"))
                if after is not None and after > policy.max_retry_after:
                    raise ApiError(f"{where}: the server asks to retry after {after:.0f} s (HTTP {status})",
                                   status=status, body=body, target=self.base_url)
                delay = after if after is not None else policy.delay(attempt - 1)
                await self._wait(attempt, delay, f"HTTP {status}")
                continue
            err = from_kong_body(status, body, target=self.base_url)
            if isinstance(err, ApiError) and err.status in (429, 500, 502, 503, 504) and attempt > 1:
                err = ApiError(f"{err.message} (after {attempt} attempts)", status=err.status, code=err.code,
                               name=err.name, fields=err.fields, body=err.body, target=self.base_url)
            raise err

    async def _wait(self, attempt: int, delay: float, reason: str) -> None:
        if self.on_retry is not None:
            self.on_retry(attempt, delay, mask_text(reason))
        await self.options.retry.sleep(delay)


def _decode(resp: httpx.Response) -> JSONValue:
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class AdminApiControlPlane(ControlPlane):
    """Entity operations over an Admin-API-shaped HTTP surface (Kong Admin API, Konnect core entities)."""

    def __init__(self, http: _Http) -> None:
        super().__init__()
        self._http = http

    # Path of the Admin API root inside the HTTP client's base URL ("" for Kong itself).
    def _root(self) -> str:
        return ""

    async def _prepare(self) -> None:
        """Called before every entity operation (Konnect resolves its control plane here)."""

    def _collection(self, table: str, parent: Parent | None) -> str:
        check_table(table)
        d = ENTITIES[table]
        if parent is not None:
            ptable, pkey = parent
            seg = NESTED.get((ptable, table))
            if seg is None:
                raise Unsupported(f"'{table}' cannot be nested under '{ptable}'")
            return f"{self._root()}{ENTITIES[ptable].admin_path}/{_segment(pkey)}/{seg}"
        if not d.admin_path:
            raise Unsupported(f"'{table}' has no collection of its own in the Admin API")
        return f"{self._root()}{d.admin_path}"

    def _out(self, table: str, body: JSONValue) -> JSONObject:
        if not isinstance(body, dict):
            raise ApiError(f"unexpected answer for {table}: expected a JSON object", body=body, target=self.target)
        return normalize_entity(table, body)

    def _body(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        """What goes on the wire; Konnect strips nulls."""
        return data

    def _check_writable(self) -> None:
        if not self.capabilities.writable:
            raise Unsupported(f"{self.target} is read-only (DB-less): change it through its declarative config")

    # -- listing -------------------------------------------------------------------------------
    async def _pages(self, path: str, params: JSONObject, *, size_param: str = "size") -> AsyncIterator[JSONArray]:
        offset: str | None = None
        seen: set[str] = set()
        while True:
            q = dict(params)
            if offset is not None:
                q["offset"] = offset
            _, body = await self._http.request("GET", path, params=q)
            if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
                raise ApiError(f"unexpected list answer from {path}", body=body, target=self.target)
            data = body.get("data") or []
            yield data
            nxt = body.get("offset")
            if not nxt or not body.get("next", True) or not data:
                return
            if nxt in seen:  # a server handing the same token twice would loop forever
                raise ApiError(f"the server repeated pagination offset on {path}", target=self.target)
            seen.add(nxt)
            offset = nxt

    async def list(
        self,
        table: str,
        *,
        page_size: int = 1000,
        tags: str | Sequence[str] | None = None,
        tags_mode: str = "and",
        parent: Parent | None = None,
    ) -> AsyncIterator[JSONObject]:
        check_table(table)
        await self._prepare()
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        if table == MEMBERSHIP_TABLE:
            async for m in self.memberships():
                yield m
            return
        if table == "targets" and parent is None:
            async for up in self.list("upstreams", page_size=page_size):
                async for t in self.list("targets", page_size=page_size, tags=tags, tags_mode=tags_mode,
                                         parent=("upstreams", up["id"])):
                    yield t
            return
        params: JSONObject = {"size": page_size}
        tp = tags_param(tags, tags_mode)
        if tp:
            params["tags"] = tp
        async for page in self._pages(self._collection(table, parent), params):
            for item in page:
                yield self._out(table, item)

    # -- single entities -----------------------------------------------------------------------
    async def _target_parent(self, id_: str) -> Parent:
        """Targets live under their upstream; find it when the caller did not say."""
        async for up in self.list("upstreams"):
            try:
                await self._http.request("GET", f"{self._collection('targets', ('upstreams', up['id']))}/{_segment(id_)}")
            except NotFound:
                continue
            return ("upstreams", up["id"])
        raise NotFound(target=self.target)

    async def _entity_path(self, table: str, key: str, parent: Parent | None) -> str:
        if table == "targets" and parent is None:
            parent = await self._target_parent(key)
        return f"{self._collection(table, parent)}/{_segment(key)}"

    async def get(self, table: str, id_or_key: str, *, parent: Parent | None = None) -> JSONObject:
        await self._prepare()
        _, body = await self._http.request("GET", await self._entity_path(table, id_or_key, parent))
        return self._out(table, body)

    async def upstream_health(self, upstream: str) -> dict[str, str] | None:
        """``GET /upstreams/{u}/health`` (Kong answers it on a traditional node; a control plane
        of a hybrid cluster has no health to report: None)."""
        await self._prepare()
        path = f"{self._root()}{ENTITIES['upstreams'].admin_path}/{_segment(upstream)}/health"
        try:
            _, body = await self._http.request("GET", path)
        except ControlPlaneError:
            return None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        return {str(t.get("target")): str(t.get("health")) for t in data if isinstance(t, dict)}

    async def create(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        await self._prepare()
        self._check_writable()
        if table == "targets" and parent is None:
            up = (data.get("upstream") or {}).get("id") if isinstance(data.get("upstream"), dict) else None
            if not up:
                raise ApiError("schema violation (upstream: required field missing)", status=400, code=2,
                               name="schema violation", fields={"upstream": "required field missing"})
            parent = ("upstreams", up)
        _, body = await self._http.request("POST", self._collection(table, parent), json=self._body(table, data, parent))
        return self._out(table, body)

    async def update(self, table: str, id: str, patch: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        await self._prepare()
        self._check_writable()
        _, body = await self._http.request("PATCH", await self._entity_path(table, id, parent), json=self._body(table, patch, parent))
        return self._out(table, body)

    async def upsert(self, table: str, id_or_key: str, data: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        await self._prepare()
        self._check_writable()
        if table == "targets" and parent is None and isinstance(data.get("upstream"), dict):
            parent = ("upstreams", data["upstream"]["id"])
        _, body = await self._http.request("PUT", await self._entity_path(table, id_or_key, parent), json=self._body(table, data, parent))
        return self._out(table, body)

    async def delete(self, table: str, id: str, *, parent: Parent | None = None) -> None:
        await self._prepare()
        self._check_writable()
        try:
            path = await self._entity_path(table, id, parent)
        except NotFound:  # a target nobody has: deleting it is already done
            return
        await self._http.request("DELETE", path)

    # -- consumer groups -----------------------------------------------------------------------
    def _group_path(self, group: str) -> str:
        return f"{self._root()}/consumer_groups/{_segment(group)}/consumers"

    async def add_consumer_to_group(self, group: str, consumer: str) -> None:
        await self._prepare()
        self._check_writable()
        await self._http.request("POST", self._group_path(group), json={"consumer": consumer})

    async def remove_consumer_from_group(self, group: str, consumer: str) -> None:
        await self._prepare()
        self._check_writable()
        await self._http.request("DELETE", f"{self._group_path(group)}/{_segment(consumer)}")

    async def group_consumers(self, group: str) -> AsyncIterator[JSONObject]:
        await self._prepare()
        async for page in self._pages(self._group_path(group), {"size": 1000}):
            for item in page:
                # Kong EE lists members either as consumers or as {"consumer": {...}} rows
                if isinstance(item, dict) and isinstance(item.get("consumer"), dict) and "username" not in item:
                    item = item["consumer"]
                yield self._out("consumers", item)

    # -- schemas -------------------------------------------------------------------------------
    async def schema(self, plugin_name: str) -> JSONObject:
        await self._prepare()
        _, body = await self._http.request("GET", f"{self._root()}/schemas/plugins/{_segment(plugin_name)}")
        if not isinstance(body, dict):
            raise ApiError(f"unexpected schema answer for plugin '{plugin_name}'", body=body, target=self.target)
        return body

    async def close(self) -> None:
        await self._http.close()


class KongAdminControlPlane(AdminApiControlPlane):
    """A Kong Gateway (or the local runtime's Admin API) reached over HTTP.

    ``admin_token`` goes into the ``Kong-Admin-Token`` header, ``basic_auth`` into
    ``Authorization``; both are kept as ``Secret`` and never appear in messages.
    """

    kind = "kong-admin"

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        *,
        name: str | None = None,
        admin_token: str | Secret | None = None,
        basic_auth: tuple[str, str | Secret] | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {mask_text(base_url)!r}")
        secret_headers: dict[str, Secret] = {}
        if admin_token:
            secret_headers["Kong-Admin-Token"] = Secret(admin_token)
        if basic_auth:
            import base64

            user, password = basic_auth[0], reveal(basic_auth[1]) or ""
            register_secret(password)
            raw = base64.b64encode(f"{user}:{password}".encode()).decode()
            secret_headers["Authorization"] = Secret(f"Basic {raw}")
        for hname in list(headers or {}):
            if hname.lower() in ("authorization", "kong-admin-token", "apikey", "x-api-key"):
                # a secret header given as plain text: keep it, but treat it as a secret
                secret_headers[hname] = Secret((headers or {})[hname])
        plain = {k: v for k, v in (headers or {}).items() if k not in secret_headers}
        options = HttpOptions(headers=plain, verify=verify, ca_file=ca_file, client_cert=client_cert,
                              timeout=timeout, connect_timeout=connect_timeout, retry=retry or RetryPolicy())
        self._base_url = base_url.rstrip("/")
        self._name = name or parts.netloc
        super().__init__(_Http(self._base_url, options, secret_headers, on_retry))
        self._root_info: JSONObject | None = None

    @property
    def target(self) -> str:
        return self._base_url

    async def _root_doc(self, refresh: bool = False) -> JSONObject:
        if self._root_info is None or refresh:
            _, body = await self._http.request("GET", "/")
            if not isinstance(body, dict) or "version" not in body:
                raise ApiError(f"{self._base_url} does not look like a Kong Admin API (no version in GET /)",
                               body=body if isinstance(body, dict) else None, target=self.target)
            self._root_info = body
        return self._root_info

    async def probe(self) -> Capabilities:
        root = await self._root_doc(refresh=True)
        conf = root.get("configuration") or {}
        dbless = conf.get("database") == "off"
        role = conf.get("role")
        plugins_doc = root.get("plugins") or {}
        available = plugins_doc.get("available_on_server") or {}
        names = tuple(sorted(available)) if isinstance(available, (dict, list)) else ()
        try:
            await self._http.request("GET", "/consumer_groups", params={"size": 1})
            groups = True
        except (NotFound, ApiError):
            groups = False
        tables = tuple(t for t in DEPENDENCY_ORDER if groups or t not in ("consumer_groups", MEMBERSHIP_TABLE))
        self.capabilities = Capabilities(
            kind=self.kind, writable=not dbless and role != "data_plane", dbless=dbless,
            consumer_groups=groups, konnect=False, supports_tags=True, supports_patch=True,
            plugins=names, tables=tables, version=root.get("version"), probed=True,
        )
        return self.capabilities

    async def info(self) -> JSONObject:
        root = await self._root_doc(refresh=True)
        conf = root.get("configuration") or {}
        available = (root.get("plugins") or {}).get("available_on_server") or {}
        return {
            "kind": self.kind,
            "target": self.target,
            "version": root.get("version"),
            "edition": root.get("edition") or ("enterprise" if "enterprise" in str(root.get("version", "")) else "community"),
            "node_id": root.get("node_id"),
            "hostname": root.get("hostname"),
            "database": conf.get("database"),
            "role": conf.get("role"),
            "dbless": conf.get("database") == "off",
            "plugins_available": sorted(available) if isinstance(available, (dict, list)) else [],
        }

    async def list_groups(self) -> list[RuntimeGroup]:
        root = await self._root_doc()
        return [RuntimeGroup(id=self._base_url, name=self._name, kind=self.kind,
                             description=f"Kong Gateway {root.get('version', '')}".strip(),
                             extra={"node_id": root.get("node_id")})]

    async def nodes(self) -> list[Node]:
        root = await self._root_doc()
        conf = root.get("configuration") or {}
        if conf.get("role") == "control_plane":
            out = []
            async for page in self._pages("/clustering/data-planes", {}):
                for dp in page:
                    last = dp.get("last_seen")
                    out.append(Node(
                        id=str(dp.get("id")), hostname=dp.get("hostname"), version=dp.get("version"),
                        last_seen=float(last) if last is not None else None,
                        status=str(dp.get("sync_status") or "unknown").lower(), extra=dp,
                    ))
            return out
        return [Node(id=str(root.get("node_id")), hostname=root.get("hostname"), version=root.get("version"),
                     last_seen=time.time(), status="connected",
                     extra={"role": conf.get("role") or "traditional"})]


__all__ = ["KongAdminControlPlane", "AdminApiControlPlane", "RetryPolicy", "NO_RETRY", "HttpOptions",
           "parse_retry_after", "NESTED"]
