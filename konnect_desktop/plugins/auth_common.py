"""What every Kong authentication plugin does around its own credential check.

Kong's auth plugins (key-auth, basic-auth, jwt, hmac-auth, oauth2) each repeat the same tail in
their handler: skip OPTIONS when ``run_on_preflight`` is off, skip when ``anonymous`` is set and
another plugin already authenticated the request ("logical OR"), and on the outcome either
authenticate the consumer and tell the upstream who it is (``X-Consumer-*``,
``X-Credential-Identifier``, ``X-Anonymous-Consumer``), or fall back to the anonymous consumer,
or answer 4xx. Here that tail lives once: :class:`AuthHandler` runs it around a plugin's
``authenticate`` (which returns the consumer and credential, or raises :class:`AuthFailure`), and
key-auth uses the same pieces (:func:`set_consumer`, :func:`skip`, :func:`fail`, :func:`succeed`).

Decisions never carry a secret: only the consumer, the credential id and the identifier Kong
sends upstream (a username or key id, never a password, key or token).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import AppError
from ..jsontypes import JSONObject
from .base import Decision, Handler, PluginExit, RequestContext

CONSUMER_ID = "X-Consumer-ID"
CONSUMER_CUSTOM_ID = "X-Consumer-Custom-ID"
CONSUMER_USERNAME = "X-Consumer-Username"
CREDENTIAL_IDENTIFIER = "X-Credential-Identifier"
ANONYMOUS = "X-Anonymous-Consumer"

Identity = tuple[dict[str, Any] | None, dict[str, Any]]

# The wall clock the auth plugins read (token expiry, request dates). Tests replace it
# (``monkeypatch.setattr(auth_common, "clock", ...)``) instead of waiting for time to pass.
clock: Callable[[], float] = time.time


def now() -> float:
    return clock()


class AuthFailure(AppError):
    """Authentication failed: what Kong answers when no ``anonymous`` consumer is configured.

    ``body`` replaces Kong's ``{"message", "request_id"}`` error document where a plugin answers
    with its own table (jwt's claim errors, oauth2's ``error``/``error_description``)."""

    status: int

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.body = body


def set_consumer(ctx: RequestContext, consumer: dict[str, Any] | None, credential: dict[str, Any] | None,
                 identifier: str = "id") -> None:
    """Kong's ``set_consumer`` of every auth plugin: authenticate the request and tell the upstream
    who it is. Client-sent copies of the headers are replaced or cleared. ``identifier`` is the
    credential field sent as ``X-Credential-Identifier`` (key-auth: ``id``, basic-auth and
    hmac-auth: ``username``, jwt: ``key``, oauth2: the client's ``client_id``)."""
    ctx.authenticate(consumer, credential)
    h = ctx.headers
    for header, value in (
        (CONSUMER_ID, (consumer or {}).get("id")),
        (CONSUMER_CUSTOM_ID, (consumer or {}).get("custom_id")),
        (CONSUMER_USERNAME, (consumer or {}).get("username")),
        (CREDENTIAL_IDENTIFIER, (credential or {}).get(identifier)),
    ):
        h.popall(header, None)
        if value:
            h[header] = str(value)
    h.popall(ANONYMOUS, None)
    if credential is None:
        h[ANONYMOUS] = "true"


def who(consumer: dict[str, Any] | None) -> str:
    """A consumer's name for decisions."""
    if not consumer:
        return "unknown consumer"
    return str(consumer.get("username") or consumer.get("custom_id") or consumer.get("id"))


def skip(ctx: RequestContext, plugin: str, anonymous: str | None, run_on_preflight: bool = True) -> bool:
    """True (and a "skip" decision) when this plugin must not authenticate this request."""
    if not run_on_preflight and ctx.method == "OPTIONS":
        ctx.decisions.append(Decision(plugin, "skip", "preflight request not authenticated"))
        return True
    if anonymous and ctx.credential is not None:
        # logical OR with another auth plugin that already authenticated the request
        ctx.decisions.append(Decision(plugin, "skip", "already authenticated by another plugin"))
        return True
    return False


def fail(ctx: RequestContext, plugin: str, anonymous: str | None, failure: AuthFailure,
         identifier: str = "id") -> None:
    """Authentication failed: continue as the anonymous consumer, or answer the client."""
    if not anonymous:
        ctx.decisions.append(Decision(plugin, "reject", failure.message, {"status": failure.status}))
        if failure.body is not None:
            raise PluginExit(failure.status, failure.body, failure.headers) from None
        raise ctx.kong_error(failure.status, failure.message, failure.headers) from None
    anon = ctx.config.consumer(anonymous)
    if anon is None:
        msg = f"anonymous consumer {anonymous} is configured but doesn't exist"
        ctx.decisions.append(Decision(plugin, "error", msg, {"status": 500}))
        raise ctx.kong_error(500, msg) from None
    set_consumer(ctx, anon, None, identifier)
    ctx.decisions.append(Decision(plugin, "pass", f"anonymous consumer {who(anon)} ({failure.message})",
                                  {"consumer_id": anon.get("id"), "anonymous": True}))


def succeed(ctx: RequestContext, plugin: str, consumer: dict[str, Any] | None, credential: dict[str, Any],
            identifier: str = "id") -> None:
    set_consumer(ctx, consumer, credential, identifier)
    ctx.decisions.append(Decision.later(plugin, "pass", _explain_success, consumer, credential))


def _explain_success(consumer: dict[str, Any] | None, credential: dict[str, Any]) -> tuple[str, JSONObject]:
    return (f"consumer {who(consumer)} via credential {str(credential.get('id'))[:8]}…",
            {"consumer_id": (consumer or {}).get("id"), "credential_id": credential.get("id")})


def consumer_of(ctx: RequestContext, credential: dict[str, Any]) -> dict[str, Any] | None:
    """The consumer a credential belongs to (None when it is gone, as Kong's cache may say)."""
    ref = credential.get("consumer") or {}
    cid = ref.get("id") if isinstance(ref, dict) else ref
    return ctx.config.consumer(cid) if cid else None


class AuthHandler(Handler):
    """An auth plugin's access phase: the shared tail around ``authenticate``.

    Subclasses set ``name`` and ``identifier`` and implement ``authenticate(ctx)``, which returns
    ``(consumer, credential)`` or an awaitable of it (when it must read the body), or raises
    :class:`AuthFailure`. Plugins without ``run_on_preflight`` in their schema always run.
    """

    name = ""
    identifier = "id"

    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, plugin, runtime)
        self.anonymous: str | None = config.get("anonymous") or None
        self.run_on_preflight: bool = config.get("run_on_preflight", True) is not False

    def authenticate(self, ctx: RequestContext) -> Identity | Awaitable[Identity]:
        raise NotImplementedError

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        if skip(ctx, self.name, self.anonymous, self.run_on_preflight):
            return None
        try:
            got = self.authenticate(ctx)
        except AuthFailure as failure:
            fail(ctx, self.name, self.anonymous, failure, self.identifier)
            return None
        if inspect.isawaitable(got):
            return self._finish(ctx, got)
        self.passed(ctx, *got)
        return None

    async def _finish(self, ctx: RequestContext, pending: Awaitable[Identity]) -> None:
        try:
            consumer, credential = await pending
        except AuthFailure as failure:
            fail(ctx, self.name, self.anonymous, failure, self.identifier)
            return
        self.passed(ctx, consumer, credential)

    def passed(self, ctx: RequestContext, consumer: dict[str, Any] | None, credential: dict[str, Any]) -> None:
        """Success (override to add what the plugin sets besides the consumer, then call this)."""
        succeed(ctx, self.name, consumer, credential, self.identifier)


__all__ = [
    "now", "ANONYMOUS", "CONSUMER_CUSTOM_ID", "CONSUMER_ID", "CONSUMER_USERNAME", "CREDENTIAL_IDENTIFIER",
    "AuthFailure", "AuthHandler", "Identity", "consumer_of", "fail", "set_consumer", "skip", "succeed", "who",
]
