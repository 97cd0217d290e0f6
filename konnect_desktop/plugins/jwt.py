"""jwt: authenticate the client by a signed JSON Web Token (Kong's bundled plugin).

The token is looked for in the query (``uri_param_names``), then cookies (``cookie_names``), then
headers (``header_names``, ``Bearer <token>``); two different tokens answer "Multiple tokens
provided". The claim named ``key_claim_name`` (``iss``), in the claims then the header, names a
``jwt_secrets`` credential; the token's ``alg`` must be the credential's algorithm, and its
signature must verify with the credential's secret (HS*) or public key (RS*, PS*, ES*, EdDSA).
Then ``claims_to_verify`` (exp, nbf) and ``maximum_expiration`` are checked. Kong answers these
failures with ``kong.response.exit`` — ``{"message": ...}`` or the claim errors table, without a
request id — and ``WWW-Authenticate: Bearer[ realm=...][ error="invalid_token"]``.
Tokens and secrets never reach a decision or a log.
"""

from __future__ import annotations

import re

from ..jsontypes import JSONObject
from ..model.schema import Boolean, Check, Conditional, Number, Record, Set, String
from . import auth_common
from .auth_common import AuthFailure, AuthHandler, Identity
from .base import PluginSpec, RequestContext, RuntimeServices
from .http_util import request_cookie
from .jwt_parser import (
    InvalidKey,
    Token,
    b64url_decode,
    check_maximum_expiration,
    decode,
    verify_registered_claims,
    verify_signature,
)

NAME = "jwt"
_VERIFIED_MAX = 4096
PRIORITY = 1450
TABLE = "jwt_secrets"

CONFIG = Record(
    [
        ("uri_param_names", Set(String(), default=["jwt"],
                                description="A list of querystring parameters that Kong will inspect to retrieve JWTs.")),
        ("cookie_names", Set(String(), default=[],
                             description="A list of cookie names that Kong will inspect to retrieve JWTs.")),
        ("key_claim_name", String(default="iss",
                                  description="The name of the claim in which the key identifying the secret must be passed. The plugin will attempt to read this claim from the JWT payload and the header, in that order.")),
        ("secret_is_base64", Boolean(required=True, default=False,
                                     description="If true, the plugin assumes the credential’s secret to be base64 encoded. You will need to create a base64-encoded secret for your Consumer, and sign your JWT with the original secret.")),
        ("claims_to_verify", Set(String(one_of=("exp", "nbf")),
                                 description="A list of registered claims (according to RFC 7519) that Kong can verify as well. Accepted values: one of exp or nbf.")),
        ("anonymous", String(description="An optional string (consumer UUID or username) value to use as an “anonymous” consumer if authentication fails.")),
        ("run_on_preflight", Boolean(required=True, default=True,
                                     description="A boolean value that indicates whether the plugin should run (and try to authenticate) on OPTIONS preflight requests. If set to false, then OPTIONS requests will always be allowed.")),
        ("maximum_expiration", Number(default=0, between=(0, 31536000),
                                      description="A value between 0 and 31536000 (365 days) limiting the lifetime of the JWT to maximum_expiration seconds in the future.")),
        ("header_names", Set(String(), default=["authorization"],
                             description="A list of HTTP header names that Kong will inspect to retrieve JWTs.")),
        ("realm", String(description="When authentication fails the plugin sends `WWW-Authenticate` header with `realm` attribute value.")),
    ],
    nullable=False,
    description="Where tokens are found and which claims are checked.",
)

ENTITY_CHECKS: list[Check] = [
    Conditional("config.maximum_expiration", {"gt": 0}, "config.claims_to_verify", {"contains": "exp"}),
]


# handler.lua: ngx.re.gmatch(value, "\\s*[Bb]earer\\s+(.+)") — unanchored, first match
_BEARER = re.compile(r"\s*[Bb]earer\s+(.+)")


def _bearer(value: str) -> str | None:
    m = _BEARER.search(value)
    return m.group(1) if m else None


class JwtHandler(AuthHandler):
    name = NAME
    identifier = "key"  # Kong sends the jwt secret's key as X-Credential-Identifier

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        c = config
        self.uri_param_names: list[str] = list(c.get("uri_param_names") or ())
        self.cookie_names: list[str] = list(c.get("cookie_names") or ())
        self.header_names: list[str] = list(c.get("header_names") or ())
        self.key_claim_name: str = c.get("key_claim_name") or "iss"
        self.secret_is_base64 = bool(c.get("secret_is_base64"))
        self.claims_to_verify: list[str] = list(c.get("claims_to_verify") or ())
        self.maximum_expiration: float = c.get("maximum_expiration") or 0
        realm = c.get("realm")
        base = f'Bearer realm="{realm}"' if realm else "Bearer"
        self.challenge = {"WWW-Authenticate": base}
        self.challenge_error = {"WWW-Authenticate": base + ' error="invalid_token"'}
        # token text -> (token, key, credential) of signatures already verified (this handler
        # lives as long as its configuration: a changed credential is a new handler)
        self._verified: dict[str, tuple[Token, str, JSONObject]] = {}

    def _tokens(self, ctx: RequestContext) -> list[str]:
        found: dict[str, None] = {}  # distinct tokens, in the order found
        for name in self.uri_param_names:
            for t in ctx.query.getall(name, ()):
                if t:
                    found[t] = None
        if self.cookie_names:
            cookies = ctx.headers.get("Cookie")
            for name in self.cookie_names:
                cookie = request_cookie(cookies, name)
                if cookie:
                    found[cookie] = None
        for name in self.header_names:
            value = ctx.headers.get(name)
            if value is not None:
                bearer = _bearer(value)
                if bearer:
                    found[bearer] = None
        return list(found)

    def _fail(self, message: str, *, with_error: bool = True, body: JSONObject | None = None) -> AuthFailure:
        headers = self.challenge_error if with_error else self.challenge
        return AuthFailure(401, message, headers, body if body is not None else {"message": message})

    def authenticate(self, ctx: RequestContext) -> Identity:
        tokens = self._tokens(ctx)
        if not tokens:
            raise self._fail("Unauthorized", with_error=False)
        if len(tokens) > 1:
            raise self._fail("Multiple tokens provided")
        token_text = tokens[0]
        token, secret = self._verify(ctx, token_text)
        now = auth_common.now()
        errors = verify_registered_claims(token, self.claims_to_verify, now)
        if errors is None and self.maximum_expiration > 0:
            errors = check_maximum_expiration(token, self.maximum_expiration, now)
        if errors is not None:
            raise self._fail("; ".join(f"{k}: {v}" for k, v in errors.items()), body=errors)
        consumer = auth_common.consumer_of(ctx, secret)
        if consumer is None:
            msg = f"Could not find consumer for '{self.key_claim_name}={secret.get('key')}'"
            raise AuthFailure(401, msg, body={"message": msg})
        ctx.shared["authenticated_jwt_token"] = token_text
        return consumer, secret


    def _verify(self, ctx: RequestContext, token_text: str) -> tuple[Token, JSONObject]:
        """The decoded token and its credential once the signature checks out. A token verified
        before against the same credential object (this configuration's) is not verified again:
        a signature check is the costly part (RS256 ≈ 30 µs); the claims are checked every time."""
        hit = self._verified.get(token_text)
        if hit is not None and ctx.config.credential(TABLE, hit[1]) is hit[2]:
            return hit[0], hit[2]  # verified before against this very credential
        token, err = decode(token_text)
        if token is None:
            raise self._fail(f"Bad token; {err}")
        claim = self.key_claim_name
        key = token.claims.get(claim)
        if key is None or key is False:
            key = token.header.get(claim)
        if key is None or key is False:
            raise self._fail(f"No mandatory '{claim}' in claims")
        if key == "":
            raise self._fail(f"Invalid '{claim}' in claims")
        secret = ctx.config.credential(TABLE, key) if isinstance(key, str) else None
        if secret is None or not isinstance(key, str):
            raise self._fail(f"No credentials found for given '{claim}'")
        algorithm = secret.get("algorithm") or "HS256"
        if token.header.get("alg") != algorithm:
            raise self._fail("Invalid algorithm")
        value: str | bytes | None
        if algorithm.startswith("HS"):
            value = secret.get("secret")
            if value is not None and self.secret_is_base64:
                value = b64url_decode(value)
        else:
            value = secret.get("rsa_public_key")
        if not value:
            raise self._fail("Invalid key/secret")
        try:
            ok = verify_signature(token, value)
        except InvalidKey:
            # Kong's verifier asserts on an unusable key: the request ends in a 500
            raise ctx.kong_error(500, "An unexpected error occurred") from None
        if not ok:
            raise self._fail("Invalid signature")
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token_text] = (token, key, secret)
        return token, secret


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Authenticate consumers with signed JSON Web Tokens (HS, RS, PS, ES and EdDSA algorithms).",
    handler=JwtHandler,
    entity_checks=ENTITY_CHECKS,
    no_consumer=True,
)
