"""session: keep a consumer signed in with an encrypted cookie (Kong's bundled plugin, storage
``cookie``).

Used with an auth plugin (key-auth, basic-auth, ... configured with ``anonymous``): the first
request authenticates through that plugin and this plugin's header phase answers with a session
cookie; later requests carrying the cookie are authenticated here first (priority 1900, before
every auth plugin, which then skips as "already authenticated"). The cookie holds the consumer
id, the credential id and the authenticated groups, encrypted and authenticated with AES-256-GCM
under a key derived from ``secret`` and ``audience``; it is valid until ``idling_timeout``
(since last use), ``rolling_timeout`` (since last renewal) or ``absolute_timeout`` (since
creation) runs out. A request with a ``logout_methods`` method and the ``logout_query_arg`` (or,
with ``read_body_for_logout``, the ``logout_post_arg`` form field) ends the session: 200 and an
expired cookie.

Differences from Kong, on purpose: Kong's cookie is lua-resty-session 4's binary format; this one
is our own (same contents and timeouts), so a cookie issued by a real Kong does not open a session
here and vice versa. Renewal: the cookie is re-issued when half the rolling timeout has passed
(rotation) or after a minute (half the idling timeout if shorter) since it was last refreshed;
resty-session's exact schedule differs. ``storage: kong`` keeps sessions in the gateway's database; here it is refused at
request time with a 500 (never let through) — only ``cookie`` runs locally.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Awaitable
from email.utils import formatdate

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from multidict import MutableMultiMapping

from ..jsontypes import JSONObject, JSONValue
from ..model.schema import Boolean, Number, Record, Set, String
from . import auth_common
from .auth_common import set_consumer, who
from .base import (
    Decision,
    Handler,
    PluginExit,
    PluginSpec,
    RequestContext,
    ResponseContext,
    RuntimeServices,
)
from .http_util import parse_body, request_cookie

NAME = "session"
PRIORITY = 1900
AUTHENTICATED_GROUPS = "X-Authenticated-Groups"
REFRESH_AFTER = 60  # seconds between idle-marker refreshes (at most; half the idling timeout if shorter)


def _random_secret() -> str:
    """schema.lua's random_string: 32 random bytes in base64 with '/', '+', '=' replaced."""
    raw = base64.b64encode(os.urandom(32)).decode()
    return raw.replace("/", "7").replace("+", "K").replace("=", "q")


_HEADERS = Set(String(one_of=("id", "audience", "subject", "timeout", "idling-timeout", "rolling-timeout",
                              "absolute-timeout")),
               description="List of information to include, as headers, in the response to the downstream.")

CONFIG = Record(
    [
        ("secret", String(default=_random_secret(), secret=True, description="The secret that is used in keyed HMAC generation.")),
        ("storage", String(default="cookie", one_of=("cookie", "kong"), description="Determines where the session data is stored. `kong`: Stores encrypted session data into Kong's current database strategy; the cookie will not contain any session data. `cookie`: Stores encrypted session data within the cookie itself.")),
        ("audience", String(default="default", description="The session audience, which is the intended target application. For example `\"my-application\"`.")),
        ("idling_timeout", Number(default=900, description="The session cookie idle time, in seconds.")),
        ("rolling_timeout", Number(default=3600, description="The session cookie rolling timeout, in seconds. Specifies how long the session can be used until it needs to be renewed.")),
        ("absolute_timeout", Number(default=86400, description="The session cookie absolute timeout, in seconds. Specifies how long the session can be used until it is no longer valid.")),
        ("stale_ttl", Number(default=10, description="The duration, in seconds, after which an old cookie is discarded, starting from the moment when the session becomes outdated and is replaced by a new one.")),
        ("cookie_name", String(default="session", description="The name of the cookie.")),
        ("cookie_path", String(default="/", description="The resource in the host where the cookie is available.")),
        ("cookie_domain", String(description="The domain with which the cookie is intended to be exchanged.")),
        ("cookie_same_site", String(default="Strict", one_of=("Strict", "Lax", "None", "Default"), description="Determines whether and how a cookie may be sent with cross-site requests.")),
        ("cookie_http_only", Boolean(default=True, description="Applies the `HttpOnly` tag so that the cookie is sent only to a server.")),
        ("cookie_secure", Boolean(default=True, description="Applies the Secure directive so that the cookie may be sent to the server only with an encrypted request over the HTTPS protocol.")),
        ("remember", Boolean(default=False, description="Enables or disables persistent sessions.")),
        ("remember_cookie_name", String(default="remember", description="Persistent session cookie name. Use with the `remember` configuration parameter.")),
        ("remember_rolling_timeout", Number(default=604800, description="The persistent session rolling timeout window, in seconds.")),
        ("remember_absolute_timeout", Number(default=2592000, description="The persistent session absolute timeout limit, in seconds.")),
        ("response_headers", _HEADERS),
        ("request_headers", _HEADERS),
        ("read_body_for_logout", Boolean(default=False, description="Read the request body to find the `logout_post_arg` (POST, PUT, PATCH and DELETE).")),
        ("logout_methods", Set(String(one_of=("GET", "POST", "DELETE")), default=["POST", "DELETE"], description="A set of HTTP methods that the plugin will respond to.")),
        ("logout_query_arg", String(default="session_logout", description="The query argument passed to logout requests.")),
        ("logout_post_arg", String(default="session_logout", description="The POST argument passed to logout requests. Do not change this property.")),
    ],
    nullable=False,
    description="How the session cookie is made, how long it lives and how it ends.",
)


def _shorthands(config: JSONObject) -> JSONObject:
    """schema.lua's deprecated shorthand_fields, rewritten into their current names."""
    out = dict(config)
    renames = {"cookie_lifetime": "rolling_timeout", "cookie_idletime": "idling_timeout",
               "cookie_discard": "stale_ttl", "cookie_httponly": "cookie_http_only", "cookie_persistent": "remember"}
    for old, new in renames.items():
        if old in out:
            value = out.pop(old)
            if old == "cookie_idletime" and value is None:
                value = 0
            out[new] = value
    if "cookie_samesite" in out:
        value = out.pop("cookie_samesite")
        out["cookie_same_site"] = "Lax" if value == "off" else value
    out.pop("cookie_renew", None)  # resty-session 4 computes it
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class SessionHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        c = config
        secret = str(c.get("secret") or "")
        self.audience = str(c.get("audience") or "default")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"konnect-desktop session",
                   info=self.audience.encode()).derive(secret.encode())
        self.aead = AESGCM(key)
        self.cookie_name = c.get("cookie_name") or "session"
        self.remember = bool(c.get("remember"))
        self.remember_name = c.get("remember_cookie_name") or "remember"
        self.idling = float(c.get("idling_timeout") or 0)
        self.rolling = float(c.get("rolling_timeout") or 0)
        self.absolute = float(c.get("absolute_timeout") or 0)
        self.logout_methods = set(c.get("logout_methods") or ())
        flags = [f"Path={c.get('cookie_path') or '/'}"]
        if c.get("cookie_same_site") and c["cookie_same_site"] != "Default":
            flags.append(f"SameSite={c['cookie_same_site']}")
        if c.get("cookie_secure", True):
            flags.append("Secure")
        if c.get("cookie_http_only", True):
            flags.append("HttpOnly")
        if c.get("cookie_domain"):
            flags.append(f"Domain={c['cookie_domain']}")
        self.flags = "; ".join(flags)

    # -- the cookie -------------------------------------------------------------------------
    def seal(self, data: JSONObject) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + self.aead.encrypt(nonce, json.dumps(data, separators=(",", ":")).encode(), None))

    def open(self, value: str | None) -> JSONObject | None:
        raw = _unb64(value) if value else None
        if not raw or len(raw) < 29:
            return None
        try:
            data = json.loads(self.aead.decrypt(raw[:12], raw[12:], None))
        except (InvalidTag, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("aud") == self.audience else None

    def _valid(self, s: JSONObject, now: float, remember: bool) -> bool:
        absolute = float(self.config.get("remember_absolute_timeout") or 0) if remember else self.absolute
        rolling = float(self.config.get("remember_rolling_timeout") or 0) if remember else self.rolling
        return not ((absolute and now - s.get("c", 0) > absolute)
                    or (rolling and now - s.get("r", 0) > rolling)
                    or (not remember and self.idling and now - s.get("i", 0) > self.idling))

    def _set_cookie(self, data: JSONObject, now: float) -> list[str]:
        out = [f"{self.cookie_name}={self.seal(data)}; {self.flags}"]
        if self.remember:
            max_age = int(self.config.get("remember_rolling_timeout") or 0)
            out.append(f"{self.remember_name}={self.seal({**data, 'rem': True})}; {self.flags}; "
                       f"Expires={formatdate(now + max_age, usegmt=True)}; Max-Age={max_age}")
        return out

    def _clear(self) -> list[str]:
        names = [self.cookie_name, *([self.remember_name] if self.remember else [])]
        return [f"{n}=; {self.flags}; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0" for n in names]

    # -- phases ------------------------------------------------------------------------------
    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.config.get("storage") == "kong":
            msg = "session storage 'kong' is not available in the local runtime (use 'cookie')"
            ctx.decisions.append(Decision(NAME, "error", msg, {"status": 500}))
            raise ctx.kong_error(500, msg)
        now = auth_common.now()
        cookies = ctx.original.headers.get("Cookie")
        session = self.open(request_cookie(cookies, self.cookie_name))
        remembered = False
        if session is None or not self._valid(session, now, False):
            session = None
            if self.remember:
                session = self.open(request_cookie(cookies, self.remember_name))
                remembered = session is not None and self._valid(session, now, True)
                session = session if remembered else None
        if session is None:
            ctx.decisions.append(Decision(NAME, "skip", "no valid session cookie"))
            return None
        if self._logout_by_query(ctx):
            self._logout(ctx)
        if self.config.get("read_body_for_logout") and ctx.method in self.logout_methods \
                and ctx.method in ("DELETE", "PATCH", "POST", "PUT"):
            return self._check_body_logout(ctx, session, now, remembered)
        self._authenticate(ctx, session, now, remembered)
        return None

    def _logout_by_query(self, ctx: RequestContext) -> bool:
        arg = self.config.get("logout_query_arg")
        return ctx.method in self.logout_methods and bool(arg) and arg in ctx.original.query

    async def _check_body_logout(self, ctx: RequestContext, session: JSONObject, now: float, remembered: bool) -> None:
        body = parse_body(await ctx.read_body(), ctx.headers.get("Content-Type")) or {}
        if body.get(self.config.get("logout_post_arg") or "session_logout"):
            self._logout(ctx)
        self._authenticate(ctx, session, now, remembered)

    def _logout(self, ctx: RequestContext) -> None:
        for value in self._clear():
            ctx.response_headers.add("Set-Cookie", value)
        ctx.decisions.append(Decision(NAME, "pass", "session ended (logout)", {"status": 200}))
        raise PluginExit(200, b"")

    def _authenticate(self, ctx: RequestContext, session: JSONObject, now: float, remembered: bool) -> None:
        data = session.get("d") or [None, None, None]
        consumer_id, credential_id, groups = (list(data) + [None, None, None])[:3]
        consumer = ctx.config.consumer(consumer_id) if isinstance(consumer_id, str) else None
        pc = ctx.plugin_ctx(self)
        if consumer is None:  # the consumer is gone: destroy the session
            pc["set_cookie"] = self._clear()
            ctx.decisions.append(Decision(NAME, "skip", "session of a consumer that no longer exists: ended"))
            return
        renew = remembered or (self.rolling and now - session.get("r", 0) > self.rolling / 2)
        # the idle marker lives in the cookie: refresh it well within idling_timeout
        refresh_after = min(REFRESH_AFTER, self.idling / 2) if self.idling else REFRESH_AFTER
        if renew or now - session.get("i", 0) >= refresh_after:
            fresh = {**session, "i": now, **({"r": now} if renew else {})}
            fresh.pop("rem", None)
            pc["set_cookie"] = self._set_cookie(fresh, now)
        pc["session"] = session
        credential = {"id": credential_id, "consumer_id": consumer.get("id")} if credential_id else None
        set_consumer(ctx, consumer, credential)
        ctx.headers.popall(AUTHENTICATED_GROUPS, None)
        if groups:
            ctx.headers[AUTHENTICATED_GROUPS] = ", ".join(map(str, groups))
            ctx.authenticated_groups = list(groups)
        ctx.shared["authenticated_session"] = session
        self._info_headers(ctx.headers, self.config.get("request_headers"), session, now)
        ctx.decisions.append(Decision(NAME, "pass", f"consumer {who(consumer)} via session cookie",
                                      {"consumer_id": consumer.get("id")}))

    def _info_headers(self, headers: MutableMultiMapping[str], wanted: JSONValue, session: JSONObject, now: float) -> None:
        if not wanted:
            return
        remaining = {
            "idling-timeout": self.idling - (now - session.get("i", now)) if self.idling else None,
            "rolling-timeout": self.rolling - (now - session.get("r", now)) if self.rolling else None,
            "absolute-timeout": self.absolute - (now - session.get("c", now)) if self.absolute else None,
        }
        left = [v for v in remaining.values() if v is not None]
        values = {"id": session.get("id"), "audience": self.audience, "subject": session.get("sub"),
                  "timeout": min(left) if left else None, **remaining}
        for name in wanted:
            value = values.get(name)
            if value is not None:
                headers["Session-" + "-".join(p.capitalize() for p in name.split("-"))] = (
                    str(int(value)) if isinstance(value, float) else str(value))

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        pc = ctx.plugin_ctx(self)
        credential, consumer = ctx.credential, ctx.consumer
        session = pc.get("session")
        cookies: list[str] | None = pc.get("set_cookie")
        now = auth_common.now()
        if credential is not None and consumer is not None:
            data = [consumer.get("id"), credential.get("id") or consumer.get("id"), ctx.authenticated_groups]
            if session is None or list(session.get("d") or [])[:2] != data[:2]:
                # a new session (another plugin authenticated this request): save it
                session = {"id": _b64(os.urandom(16)), "aud": self.audience, "d": data, "c": now, "r": now, "i": now,
                           "sub": consumer.get("username") or consumer.get("custom_id") or consumer.get("id")}
                cookies = self._set_cookie(session, now)
                ctx.decisions.append(Decision(NAME, "transform", f"session started for consumer {who(consumer)}"))
        if cookies:
            for value in cookies:
                resp.headers.add("Set-Cookie", value)
        if session is not None:
            self._info_headers(resp.headers, self.config.get("response_headers"), session, now)


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Keep consumers authenticated with an encrypted session cookie, issued after another auth plugin succeeds.",
    handler=SessionHandler,
    no_consumer=True,
    # typedefs.protocols: every protocol accepted, the http subsystem's ones by default
    any_protocol=True,
    shorthands=_shorthands,
)
