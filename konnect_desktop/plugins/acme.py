"""acme: obtain and renew certificates from an ACME CA such as Let's Encrypt (carried, not run).

Schema from Kong 3.9's ``kong/plugins/acme/schema.lua`` (global only: no route, service or
consumer). The local runtime does not talk to a CA: requests for the HTTP-01 challenge path
(``/.well-known/acme-challenge/``), which the plugin itself would answer, are refused; every
other request goes on with a ``skip`` mark, as no certificate is requested for it.

Kong's deprecated ``storage_config.redis`` keys (``auth``, ``ssl_server_name``, ``namespace``,
``scan_count``) move to their current place on write. Kong >= 3.6 echoes them back on reads; this
app does not, so a dump carries each value once.
"""

from __future__ import annotations

import re

from ..model import typedefs
from ..model.schema import (
    Boolean,
    Check,
    Conditional,
    Field,
    Number,
    OptionalRecord,
    Record,
    String,
)
from .base import Decision, PluginSpec, RequestContext, moved_fields
from .not_run import Refuses

NAME = "acme"
CHALLENGE = re.compile(r"^/\.well-known/acme-challenge/(.+)")
RESERVED = ("kong_acme:renew_config:", "kong_acme:renew_last_run", "kong_acme:cert_key:")
LETSENCRYPT = ("https://acme-v02.api.letsencrypt.org", "https://acme-staging-v02.api.letsencrypt.org")


def _namespace(value: str) -> str | None:
    for word in RESERVED:
        if value and value.startswith(word):
            return f"namespace can't be prefixed with reserved word: {word}"
    return None


_REDIS = typedefs.redis([
    ("extra_options", Record([
        ("namespace", String(required=True, default="", len_min=0, custom=_namespace,
                             description="A namespace to prepend to all keys stored in Redis.")),
        ("scan_count", Number(default=10, description="The number of keys to return in Redis SCAN calls.")),
    ], description="Custom ACME Redis options")),
])


def _kv_store(extra: list[tuple[str, Field]]) -> Field:
    return Record([
        ("https", Boolean(default=False, description="Boolean representation of https.")),
        ("host", typedefs.host()),
        ("port", typedefs.port()),
        ("kv_path", String(description="KV prefix path.")),
        ("timeout", Number(description="Timeout in milliseconds.")),
        ("token", String(referenceable=True, description="Consul ACL token.")),
        *extra,
    ])


CONFIG = Record([
    # Kong matches the Lua pattern %w*%p*@+%w*%.?%w* anywhere in the value: i.e. it holds an "@"
    ("account_email", String(required=True, secret=True, match=r"@",
                             description="The account identifier. Can be reused in a different plugin instance.")),
    ("account_key", OptionalRecord([
        ("key_id", String(required=True, description="The Key ID.")),
        ("key_set", String(description="The ID of the key set to associate the Key ID with.")),
    ], description="The private key associated with the account.")),
    ("api_uri", typedefs.url(default="https://acme-v02.api.letsencrypt.org/directory")),
    ("tos_accepted", Boolean(default=False, description="If you are using Let's Encrypt, you must set this to `true` to agree the terms of service.")),
    ("eab_kid", String(secret=True, description="External account binding (EAB) key id. You usually don't need to set this unless it is explicitly required by the CA.")),
    ("eab_hmac_key", String(secret=True, description="External account binding (EAB) base64-encoded URL string of the HMAC key. You usually don't need to set this unless it is explicitly required by the CA.")),
    ("cert_type", String(default="rsa", one_of=("rsa", "ecc"), description="The certificate type to create. The possible values are `rsa` for RSA certificate or `ecc` for EC certificate.")),
    ("rsa_key_size", Number(default=4096, one_of=(2048, 3072, 4096), description="RSA private key size for the certificate. The possible values are 2048, 3072, or 4096.")),
    ("renew_threshold_days", Number(default=14, description="Days remaining to renew the certificate before it expires.")),
    ("domains", typedefs.hosts()),
    ("allow_any_domain", Boolean(default=False, description="If set to `true`, the plugin allows all domains and ignores any values in the `domains` list.")),
    ("fail_backoff_minutes", Number(default=5, description="Minutes to wait for each domain that fails to create a certificate. This applies to both a\nnew certificate and a renewal certificate.")),
    ("storage", String(default="shm", one_of=("kong", "shm", "redis", "consul", "vault"),
                       description="The backend storage type to use. In DB-less mode and Konnect, `kong` storage is unavailable. In hybrid mode and Konnect, `shm` storage is unavailable. `shm` storage does not persist during Kong restarts and does not work for Kong running on different machines, so consider using one of `kong`, `redis`, `consul`, or `vault` in production.")),
    ("storage_config", Record([
        # Kong also checks that the shared dict exists in its nginx configuration
        ("shm", Record([("shm_name", String(default="kong", description="Name of shared memory zone used for Kong API gateway storage"))])),
        ("kong", Record([])),
        ("redis", _REDIS),
        ("consul", _kv_store([])),
        ("vault", _kv_store([
            ("tls_verify", Boolean(default=True, description="Turn on TLS verification.")),
            ("tls_server_name", String(description="SNI used in request, default to host if omitted.")),
            ("auth_method", String(default="token", one_of=("token", "kubernetes"), description="Auth Method, default to token, can be 'token' or 'kubernetes'.")),
            ("auth_path", String(description="Vault's authentication path to use.")),
            ("auth_role", String(description="The role to try and assign.")),
            ("jwt_path", String(description="The path to the JWT.")),
        ])),
    ])),
    ("preferred_chain", String(description="A string value that specifies the preferred certificate chain to use when generating certificates.")),
    ("enable_ipv4_common_name", Boolean(default=True, description="A boolean value that controls whether to include the IPv4 address in the common name field of generated certificates.")),
], nullable=False)


# Kong's fourth check refuses "kong" storage in DB-less mode and "shm" on a hybrid control plane;
# the local runtime is neither (it has a database and no data planes), so it has nothing to refuse.
ENTITY_CHECKS: list[Check] = [
    Conditional("config.api_uri", {"one_of": LETSENCRYPT}, "config.tos_accepted", {"eq": True},
                then_err="terms of service must be accepted, see https://letsencrypt.org/repository/"),
    Conditional("config.storage", {"eq": "redis"}, "config.storage_config.redis.host", {"required": True}),
    Conditional("config.storage", {"eq": "redis"}, "config.storage_config.redis.port", {"required": True}),
]

_REDIS_PATH = "storage_config.redis"
SHORTHANDS = moved_fields(
    (f"{_REDIS_PATH}.auth", f"{_REDIS_PATH}.password"),
    (f"{_REDIS_PATH}.ssl_server_name", f"{_REDIS_PATH}.server_name"),
    (f"{_REDIS_PATH}.namespace", f"{_REDIS_PATH}.extra_options.namespace"),
    (f"{_REDIS_PATH}.scan_count", f"{_REDIS_PATH}.extra_options.scan_count"),
)


class AcmeNotRun(Refuses):
    """Refuses challenge requests (the plugin would answer them); marks the rest as skipped."""

    def access(self, ctx: RequestContext) -> None:
        if CHALLENGE.match(ctx.original.path):
            return super().access(ctx)
        ctx.decisions.append(Decision(NAME, "skip", f"not run locally: {self.reason}", {"not_run": True}))
        return None


PLUGIN = PluginSpec(
    name=NAME,
    priority=1705,
    config=CONFIG,
    description="Obtain and renew TLS certificates from Let's Encrypt or another ACME CA.",
    handler=AcmeNotRun,
    entity_checks=ENTITY_CHECKS,
    no_consumer=True,
    no_route=True,
    no_service=True,
    shorthands=SHORTHANDS,
    not_run="it obtains certificates from an ACME CA, which the local runtime does not contact",
)
