"""basic-auth: authenticate the client by a username and password (Kong's bundled plugin).

Read from ``Proxy-Authorization`` first, then ``Authorization`` (``Basic base64(user:password)``),
the username is looked up in ``basicauth_credentials`` and the password checked against the
stored hash exactly as Kong computes it (``model.entities.basicauth_hash``: hex SHA1 of password
+ consumer id), so credentials dumped from a real Kong verify here. Failures answer 401
``Unauthorized`` with ``WWW-Authenticate: Basic realm="<realm>"`` unless ``anonymous`` is set.
The password never reaches a decision or a log.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

from ..jsontypes import JSONObject
from ..model.entities import basicauth_hash
from ..model.schema import Boolean, Record, String
from .auth_common import AuthFailure, AuthHandler, Identity, consumer_of
from .base import PluginSpec, RequestContext, RuntimeServices

NAME = "basic-auth"
PRIORITY = 1100
TABLE = "basicauth_credentials"

CONFIG = Record(
    [
        ("anonymous", String(description="An optional string (Consumer UUID or username) value to use as an “anonymous” consumer if authentication fails. If empty (default null), the request will fail with an authentication failure `4xx`. Please note that this value must refer to the Consumer `id` or `username` attribute, and **not** its `custom_id`.")),
        ("hide_credentials", Boolean(required=True, default=False,
                                     description="An optional boolean value telling the plugin to show or hide the credential from the upstream service. If `true`, the plugin will strip the credential from the request (i.e. the `Authorization` header) before proxying it.")),
        ("realm", String(required=True, default="service",
                         description="When authentication fails the plugin sends `WWW-Authenticate` header with `realm` attribute value.")),
    ],
    nullable=False,
    description="How Basic credentials are checked.",
)

# access.lua: ngx.re.gmatch(header, "\\s*[Bb]asic\\s*(.+)") — unanchored, first match
_BASIC = re.compile(r"\s*[Bb]asic\s*(.+)")
# then "([^:]+):(.*)" on the decoded text: a non-empty username, the password may hold ':'
_PARTS = re.compile(r"([^:]+):(.*)", re.S)


def _decode_base64(text: str) -> str | None:
    """ngx.decode_base64: standard alphabet, nil on malformed input."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", "surrogateescape")


def parse_basic(value: str | None) -> tuple[str, str] | None:
    """(username, password) from a ``Basic`` header value, or None when it has none."""
    if not value:
        return None
    m = _BASIC.search(value)
    if m is None:
        return None
    decoded = _decode_base64(m.group(1))
    if decoded is None:
        return None
    parts = _PARTS.search(decoded)
    if parts is None:
        return None
    return parts.group(1), parts.group(2)


class BasicAuthHandler(AuthHandler):
    name = NAME
    identifier = "username"  # Kong sends the credential's username as X-Credential-Identifier

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.hide_credentials = bool(config.get("hide_credentials"))
        self.challenge = {"WWW-Authenticate": f'Basic realm="{config.get("realm") or "service"}"'}

    def _retrieve(self, ctx: RequestContext, header: str) -> tuple[str, str] | None:
        found = parse_basic(ctx.headers.get(header))
        if self.hide_credentials:
            ctx.headers.popall(header, None)
        return found

    def authenticate(self, ctx: RequestContext) -> Identity:
        unauthorized = AuthFailure(401, "Unauthorized", self.challenge)
        if "Authorization" not in ctx.headers and "Proxy-Authorization" not in ctx.headers:
            raise unauthorized
        credential = None
        given = self._retrieve(ctx, "Proxy-Authorization")
        if given is not None:
            credential = ctx.config.credential(TABLE, given[0])
        if credential is None:
            given = self._retrieve(ctx, "Authorization")
            if given is None:
                raise unauthorized
            credential = ctx.config.credential(TABLE, given[0])
        if credential is None or given is None or not _verify(credential, given[1]):
            raise unauthorized
        return consumer_of(ctx, credential), credential


def _verify(credential: JSONObject, password: str) -> bool:
    consumer = credential.get("consumer") or {}
    consumer_id = consumer.get("id") if isinstance(consumer, dict) else consumer
    stored = credential.get("password")
    if not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored.encode(), basicauth_hash(str(consumer_id), password).encode())


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Authenticate consumers with a username and password (HTTP Basic).",
    handler=BasicAuthHandler,
    no_consumer=True,
)
