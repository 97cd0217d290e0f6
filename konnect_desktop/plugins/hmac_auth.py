"""hmac-auth: authenticate the client by an HMAC signature of the request (Kong's bundled plugin).

The client sends ``Authorization`` (or ``Proxy-Authorization``, tried first) as
``hmac username="...", algorithm="hmac-sha256", headers="date request-line", signature="<b64>"``.
Kong's signing string is the listed headers, one per line, as ``name: value`` (``name:`` when
absent); ``request-line`` is ``GET /path?query HTTP/1.1`` and ``@request-target`` is
``get /path?query``. A ``Date`` or ``X-Date`` within ``clock_skew`` seconds is required;
``enforce_headers`` must all be signed; ``validate_request_body`` checks ``Digest: SHA-256=<b64>``
against the body. Failures answer 401 with Kong's words and ``WWW-Authenticate: hmac[ realm=...]``.
The secret and signature never reach a decision or a log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Awaitable
from email.utils import mktime_tz, parsedate_tz

from ..jsontypes import JSONObject
from ..model.schema import Array, Boolean, Number, Record, String
from . import auth_common
from .auth_common import AuthFailure, AuthHandler, Identity, consumer_of
from .base import PluginSpec, RequestContext, RuntimeServices

NAME = "hmac-auth"
PRIORITY = 1030
TABLE = "hmacauth_credentials"

ALGORITHMS = ("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
_DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
            "hmac-sha512": hashlib.sha512}

SIGNATURE_NOT_VALID = "HMAC signature cannot be verified"
SIGNATURE_NOT_SAME = "HMAC signature does not match"
NO_DATE = ("HMAC signature cannot be verified, a valid date or x-date header is required for "
           "HMAC Authentication")

CONFIG = Record(
    [
        ("hide_credentials", Boolean(required=True, default=False,
                                     description="An optional boolean value telling the plugin to show or hide the credential from the upstream service.")),
        ("clock_skew", Number(default=300, gt=0, description="Clock skew in seconds to prevent replay attacks.")),
        ("anonymous", String(description="An optional string (Consumer UUID or username) value to use as an “anonymous” consumer if authentication fails.")),
        ("validate_request_body", Boolean(required=True, default=False,
                                          description="A boolean value telling the plugin to enable body validation.")),
        ("enforce_headers", Array(String(), default=[],
                                  description="A list of headers that the client should at least use for HTTP signature creation.")),
        ("algorithms", Array(String(one_of=ALGORITHMS), default=list(ALGORITHMS),
                             description="A list of HMAC digest algorithms that the user wants to support. Allowed values are `hmac-sha1`, `hmac-sha256`, `hmac-sha384`, and `hmac-sha512`")),
        ("realm", String(description="When authentication fails the plugin sends `WWW-Authenticate` header with `realm` attribute value.")),
    ],
    nullable=False,
    description="How HMAC signatures are checked.",
)

# access.lua's pattern, greedy groups included (PCRE and Python backtrack alike)
_PARAMS = re.compile(r'\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"')


def parse_params(value: str | None) -> JSONObject:
    """username, algorithm, headers (list) and signature from an hmac Authorization value."""
    if not value:
        return {}
    m = _PARAMS.search(value)
    if m is None:
        return {}
    return {"username": m.group(1), "algorithm": m.group(2), "headers": m.group(3).split(" "),
            "signature": m.group(4)}


def signing_string(ctx: RequestContext, names: list[str], http_version: str = "1.1") -> str:
    """Kong's create_hash input. ``request-line`` uses HTTP/1.1: the request context does not carry
    the client's protocol version (Kong prints ``HTTP/1.0`` for 1.0 clients)."""
    uri = ctx.original.raw_path
    lines = []
    headers = ctx.original.headers
    for name in names:
        value = headers.get(name)
        if value is None:
            if name == "@request-target":
                lines.append(f"{name}: {ctx.original.method.lower()} {uri}")
            elif name == "request-line":
                lines.append(f"{ctx.original.method} {uri} HTTP/{http_version}")
            else:
                lines.append(f"{name}:")
        else:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def sign(secret: str, algorithm: str, text: str) -> str:
    """The base64 signature a client sends (what the tests and the request console compute)."""
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), _DIGESTS[algorithm]).digest()).decode()


def _date_ok(value: str | None, skew: float, now: float) -> bool:
    if not value:
        return False
    parsed = parsedate_tz(value)
    if parsed is None:
        return False
    try:
        when = mktime_tz(parsed)
    except (OverflowError, ValueError):
        return False
    return abs(now - when) <= skew


def body_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


class HmacAuthHandler(AuthHandler):
    name = NAME
    identifier = "username"  # Kong sends the credential's username as X-Credential-Identifier

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        c = config
        self.hide_credentials = bool(c.get("hide_credentials"))
        self.clock_skew: float = c.get("clock_skew") or 300
        self.validate_request_body = bool(c.get("validate_request_body"))
        self.enforce_headers: list[str] = list(c.get("enforce_headers") or ())
        self.algorithms: list[str] = list(c.get("algorithms") or ALGORITHMS)
        realm = c.get("realm")
        self.challenge = {"WWW-Authenticate": f'hmac realm="{realm}"' if realm else "hmac"}

    def _fail(self, message: str) -> AuthFailure:
        return AuthFailure(401, message, self.challenge)

    def authenticate(self, ctx: RequestContext) -> Identity | Awaitable[Identity]:
        identity = self._check(ctx)
        if self.validate_request_body:
            return self._with_body(ctx, identity)
        return identity

    async def _with_body(self, ctx: RequestContext, identity: Identity) -> Identity:
        body = await ctx.read_body()
        received = ctx.original.headers.get("Digest")
        ok = body == b"" if received is None else received == body_digest(body)
        if not ok:
            raise self._fail(SIGNATURE_NOT_SAME)
        return identity

    def _check(self, ctx: RequestContext) -> Identity:
        headers = ctx.original.headers
        authorization = headers.get("Authorization")
        proxy_authorization = headers.get("Proxy-Authorization")
        if authorization is None and proxy_authorization is None:
            raise self._fail("Unauthorized")
        now = auth_common.now()
        if not (_date_ok(headers.get("X-Date"), self.clock_skew, now)
                or _date_ok(headers.get("Date"), self.clock_skew, now)):
            raise self._fail(NO_DATE)
        params = parse_params(proxy_authorization)
        if not params.get("username"):
            params = parse_params(authorization)
            if self.hide_credentials:
                ctx.headers.popall("Authorization", None)
        elif self.hide_credentials:
            ctx.headers.popall("Proxy-Authorization", None)
        if not self._params_ok(params):
            raise self._fail(SIGNATURE_NOT_VALID)
        credential = ctx.config.credential(TABLE, params["username"])
        if credential is None:
            raise self._fail(SIGNATURE_NOT_VALID)
        secret = credential.get("secret")
        if not isinstance(secret, str):
            raise self._fail(SIGNATURE_NOT_SAME)
        expected = hmac.new(secret.encode(), signing_string(ctx, params["headers"]).encode(),
                            _DIGESTS[params["algorithm"]]).digest()
        try:
            given = base64.b64decode(params["signature"], validate=True)
        except (binascii.Error, ValueError):
            given = None
        if given is None or not hmac.compare_digest(expected, given):
            raise self._fail(SIGNATURE_NOT_SAME)
        return consumer_of(ctx, credential), credential

    def _params_ok(self, params: JSONObject) -> bool:
        """validate_params: username and signature present, enforced headers signed, algorithm allowed."""
        if not params.get("username") or not params.get("signature"):
            return False
        signed = set(params.get("headers") or ())
        if any(h not in signed for h in self.enforce_headers):
            return False
        return params.get("algorithm") in self.algorithms


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Authenticate consumers with HMAC signatures of the request.",
    handler=HmacAuthHandler,
    no_consumer=True,
)
