"""key-auth: authenticate the client by an API key (Kong's bundled plugin).

The key is looked for, name by name in ``key_names`` order, in a header, then the query string,
then (if enabled) the body. A found key is resolved through ``keyauth_credentials`` to its
consumer, whose identity is sent upstream in ``X-Consumer-*`` headers. Failures answer 401 with
Kong's words and a ``WWW-Authenticate`` challenge, unless ``anonymous`` names a consumer to
continue as. Keys never appear in decisions or logs (only the credential id does).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from ..model.schema import Array, Boolean, Record, String
from .auth_common import AuthFailure, consumer_of, fail, now, skip, succeed
from .base import Handler, PluginSpec, RequestContext, clear_query_arg
from .http_util import (
    clear_request_header,
    header_name_error,
    parse_body,
    request_header,
    serialize_body,
)

NAME = "key-auth"
PRIORITY = 1250
TABLE = "keyauth_credentials"

NO_KEY = "No API key found in request"
DUPLICATE = "Duplicate API key found"
INVALID = "Unauthorized"

CONFIG = Record(
    [
        ("key_names", Array(String(custom=header_name_error), required=True, default=["apikey"],
                            description="Names of the header, query parameter or body field the key is read from, tried in order. Only A-Z, a-z, 0-9, `_` and `-`.")),
        ("hide_credentials", Boolean(required=True, default=False,
                                     description="Remove the key from the request (header, query and body) before proxying it upstream.")),
        ("anonymous", String(description="Consumer (id or username) to continue as when authentication fails. When empty, a failed authentication answers 401.")),
        ("key_in_header", Boolean(required=True, default=True, description="Look for the key in request headers.")),
        ("key_in_query", Boolean(required=True, default=True, description="Look for the key in the query string.")),
        ("key_in_body", Boolean(required=True, default=False,
                                description="Look for the key in the request body (url-encoded form, JSON or multipart).")),
        ("run_on_preflight", Boolean(required=True, default=True,
                                     description="Authenticate OPTIONS preflight requests too. When false, OPTIONS requests pass without a key.")),
        ("realm", String(description="Realm sent in the `WWW-Authenticate` header of 401 answers (`Key realm=\"<realm>\"`).")),
    ],
    nullable=False,
    description="How API keys are found and checked.",
)


def _expired(cred: dict[str, Any]) -> bool:
    """A key with a ``ttl`` lives that many seconds from its creation (read on the auth clock)."""
    ttl = cred.get("ttl")
    if not ttl:
        return False
    created = cred.get("created_at")
    return isinstance(created, (int, float)) and created + ttl <= now()


class KeyAuthHandler(Handler):
    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, plugin, runtime)
        self.key_names: list[str] = list(config.get("key_names") or ["apikey"])
        realm = config.get("realm")
        self.challenge = f'Key realm="{realm}"' if realm else "Key"
        self.anonymous: str | None = config.get("anonymous") or None
        self.run_on_preflight = config.get("run_on_preflight", True)
        self.key_in_header = config.get("key_in_header", True)
        self.key_in_query = config.get("key_in_query", True)
        self.key_in_body = config.get("key_in_body", False)
        self.hide_credentials = config.get("hide_credentials")

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        """A plain call; it waits (returns a coroutine) only when the body is a place to look
        (``key_in_body``)."""
        if skip(ctx, NAME, self.anonymous, self.run_on_preflight):
            return None
        if self.key_in_body:
            return self._access_with_body(ctx)
        try:
            consumer, credential = self._resolve(ctx, self._find_key(ctx))
        except AuthFailure as failure:
            self._failed(ctx, failure)
            return None
        succeed(ctx, NAME, consumer, credential)
        return None

    async def _access_with_body(self, ctx: RequestContext) -> None:
        try:
            consumer, credential = await self._authenticate(ctx)
        except AuthFailure as failure:
            self._failed(ctx, failure)
            return
        succeed(ctx, NAME, consumer, credential)

    def _failed(self, ctx: RequestContext, failure: AuthFailure) -> None:
        failure.headers.setdefault("WWW-Authenticate", self.challenge)
        fail(ctx, NAME, self.anonymous, failure)

    async def _authenticate(self, ctx: RequestContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The key from the headers, the query or the body (``key_in_body``: access comes here
        only then)."""
        body: dict[str, Any] | None = None
        body_read = False
        key: str | None = None
        for name in self.key_names:
            value = self._lookup(ctx, name)
            if value is None:
                if not body_read:
                    body = parse_body(await ctx.read_body(), ctx.headers.get("Content-Type")) or {}
                    body_read = True
                value = (body or {}).get(name)
            if isinstance(value, str):
                key = value
                if self.hide_credentials:
                    await self._hide(ctx, name, body if body_read else None)
                break
            if isinstance(value, (list, dict)):
                raise AuthFailure(401, DUPLICATE)
        return self._resolve(ctx, key)

    def _lookup(self, ctx: RequestContext, name: str) -> Any:
        """The key named ``name`` in the headers, then the query: a str, a list (several), or None."""
        value: Any = None
        if self.key_in_header:
            values = request_header(ctx.headers, name)
            value = values[0] if len(values) == 1 else (values or None)
        if value is None and self.key_in_query:
            values = ctx.query.getall(name, [])
            value = values[0] if len(values) == 1 else (values or None)
        return value

    def _find_key(self, ctx: RequestContext) -> str | None:
        """Headers and query only (``key_in_body`` off)."""
        for name in self.key_names:
            value = self._lookup(ctx, name)
            if isinstance(value, str):
                if self.hide_credentials:
                    self._hide_sync(ctx, name)
                return value
            if isinstance(value, (list, dict)):
                raise AuthFailure(401, DUPLICATE)
        return None

    @staticmethod
    def _resolve(ctx: RequestContext, key: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if not key:
            raise AuthFailure(401, NO_KEY)
        credential = ctx.config.credential(TABLE, key)
        if credential is None or _expired(credential):
            raise AuthFailure(401, INVALID)
        # a credential whose consumer is gone authenticates without a consumer, as in Kong
        return consumer_of(ctx, credential), credential

    @staticmethod
    def _hide_sync(ctx: RequestContext, name: str) -> None:
        clear_query_arg(ctx, name)  # the other arguments keep their order, as in Kong
        clear_request_header(ctx.headers, name)

    async def _hide(self, ctx: RequestContext, name: str, body: dict[str, Any] | None) -> None:
        self._hide_sync(ctx, name)
        if self.key_in_body:
            raw = await ctx.read_body()
            content_type = ctx.headers.get("Content-Type")
            table = body if body is not None else parse_body(raw, content_type)
            if table and name in table:
                table = dict(table)
                table.pop(name)
                new = serialize_body(table, content_type, raw)
                ctx.set_body(new)
                ctx.headers["Content-Length"] = str(len(new))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Authenticate consumers with API keys sent in a header, the query string or the body.",
    handler=KeyAuthHandler,
    no_consumer=True,
)
