"""Every entity kind, defined once with Kong's fields, defaults and rules.

Entities travel through the app as plain dicts in the Kong Admin API JSON shape: every field
present, unset ones ``None``, foreign keys as ``{"id": "<uuid>"}``, timestamps in Unix seconds.
``ENTITIES`` maps Kong's table names (``services``, ``routes``, ...) to an ``EntityDef`` that the
store, the Admin API, decK files, the replication engine and the GUI all read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue
from . import certs, paths, typedefs
from .errors import schema_violation
from .schema import Array as ArrayF
from .schema import (
    AtLeastOneOf,
    Boolean,
    Check,
    Conditional,
    Custom,
    Field,
    Foreign,
    Integer,
    Map,
    MutuallyRequired,
    Record,
    Schema,
    Set,
    String,
)

PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp")
HTTP_PROTOCOLS = ("http", "https")
MAX_TIMEOUT = 2**31 - 2

_NAME_RE = re.compile(r"^[A-Za-z0-9.\-_~\u0080-\U0010ffff]+$")
_TAG_BAD = re.compile(r"[,/]|[^\x20-\x7e\u0080-\U0010ffff]")
_METHOD_RE = re.compile(r"^[A-Z]+$")


def _name_check(v: str) -> str | None:
    if _NAME_RE.match(v):
        return None
    return (
        f"invalid value '{v}': the only accepted ascii characters are alphanumerics or "
        "., -, _, and ~"
    )


def _tag_check(v: str) -> str | None:
    if _TAG_BAD.search(v):
        return f"invalid tag '{v}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
    return None


# -- typedefs (kong/db/schema/typedefs.lua) ------------------------------------------------------
def id_field() -> Field:
    return String(uuid=True, auto=True, description="Unique identifier (UUID), generated when omitted.")


def created_at() -> Field:
    return Integer(timestamp=True, auto=True, description="Unix epoch when the entity was created.")


def updated_at() -> Field:
    return Integer(timestamp=True, auto=True, description="Unix epoch when the entity was last updated.")


def name_field(description: str, required: bool = False) -> Field:
    return String(unique=True, required=required, custom=_name_check, description=description)


def tags_field() -> Field:
    return Set(String(custom=_tag_check), description="Tags to group and filter entities.")


def timeout(description: str) -> Field:
    return Integer(between=(1, MAX_TIMEOUT), default=60000, description=description)


def foreign(table: str, description: str, *, required: bool = False, on_delete: str | None = None) -> Field:
    return Foreign(table, required=required, on_delete=on_delete, description=description)


@dataclass(eq=False)
class EntityDef:
    """What the rest of the app needs to know about one entity kind."""

    table: str  # Kong's table / Admin API collection name: "services"
    schema: Schema
    kind: str  # decK's word in diff output: "service", "key-auth", ...
    endpoint_key: str | None = None  # "name", "username", "key", "instance_name"
    unique: tuple[str, ...] = ()  # single-field unique constraints
    cache_key: tuple[str, ...] = ()  # composite uniqueness (plugins, acls)
    admin_path: str = ""  # "/services", "/key-auths"
    deck_key: str | None = None  # decK file key: "services", "keyauth_credentials"
    shorthand: Callable[[JSONObject], JSONObject] | None = None
    opaque: bool = False  # modelled shallowly: carried, validated loosely
    generate: dict[str, Callable[[], JSONValue]] = field(default_factory=dict)
    # Kong's daos ``transformations``: (input fields, on_write). When a write carries one of the
    # input fields, the validated entity goes through ``on_write(entity, declarative)`` before it
    # is stored (basic-auth hashes its password). ``declarative`` is True for whole-configuration
    # loads (decK files, ``POST /config``), False for single-entity writes (Admin API, sync).
    on_write: tuple[tuple[str, ...], Callable[[JSONObject, bool], JSONObject]] | None = None
    # Data the gateway writes while serving (oauth2 tokens and codes), not configuration: its
    # writes do not bump the configuration version, and exports, dumps and diffs leave it out.
    runtime_data: bool = False
    # Fields a partial update (PATCH) must give all or none of (a transformation needs them
    # together: oauth2's hash_secret and client_secret).
    write_together: tuple[str, ...] = ()

    @cached_property
    def foreign_keys(self) -> dict[str, Field]:
        return {n: f for n, f in self.schema.fields if f.type == "foreign"}

    def expand(self, data: JSONObject) -> JSONObject:
        """Apply input shorthands (``url`` on services) before validation."""
        return self.shorthand(data) if self.shorthand else data

    def validate(self, data: JSONObject, *, fill_defaults: bool = True) -> JSONObject:
        data = self.expand(dict(data))
        for fname, gen in self.generate.items():
            if data.get(fname) is None and fill_defaults:
                data[fname] = gen()
        return self.schema.validate(data, fill_defaults=fill_defaults)

    def check(self, data: JSONObject) -> tuple[JSONObject, JSONObject]:
        try:
            data = self.expand(dict(data))
        except Exception as exc:  # shorthand errors are schema violations with fields
            fields = exc.fields if isinstance(exc, AppError) else None
            fields = fields or {"@entity": [str(exc)]}
            return data, fields
        for fname, gen in self.generate.items():
            if data.get(fname) is None:
                data[fname] = gen()
        return self.schema.check(data)

    def transform(self, entity: JSONObject, given: JSONValue, *, declarative: bool = False) -> JSONObject:
        """Apply ``on_write`` when the written data (``given``: its keys) carried an input field."""
        if self.on_write is None:
            return entity
        inputs, fn = self.on_write
        if not any(f in given for f in inputs):
            return entity
        return fn(entity, declarative)

    def check_patch(self, patch: JSONValue) -> None:
        """Kong's rule for transformation inputs on update: all or none of ``write_together``."""
        if self.write_together and isinstance(patch, dict):
            given = [f for f in self.write_together if f in patch]
            if given and len(given) != len(self.write_together):
                names = ", ".join(f"'{f}'" for f in self.write_together)
                raise schema_violation({"@entity": [f"all or none of these fields must be set: {names}"]})

    def display_name(self, entity: JSONObject) -> str:
        key = self.endpoint_key
        if key and entity.get(key):
            return str(entity[key])
        return str(entity.get("id") or "")


# -- services ------------------------------------------------------------------------------------
def _service_url(data: JSONObject) -> JSONObject:
    """The write-only ``url`` shorthand: scheme, host, port and path in one string.

    Scheme defaults to http; the port to the URL's own, else 443 for https and 80 otherwise; a
    scheme-less URL on port 443 means https. Bad parts are reported on the field they land in.
    """
    url = data.pop("url", None)
    if url is None:
        return data
    if not isinstance(url, str):
        raise schema_violation({"url": "expected a string"})
    has_scheme = "://" in url
    try:
        parts = urlsplit(url if has_scheme else "http://" + url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        raise schema_violation({"url": f"invalid value: {url}"}) from None
    host, port_text = netloc, None
    if netloc.startswith("["):
        end = netloc.find("]")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else None
    elif ":" in netloc:
        host, _, port_text = netloc.rpartition(":")
    port: int | str | None = None
    if port_text:
        port = int(port_text) if port_text.isdigit() else port_text
    scheme = parts.scheme.lower() if has_scheme else ("https" if port == 443 else "http")
    if not host:
        raise schema_violation({"host": "required field missing"})
    data["protocol"] = scheme
    data["host"] = host
    data["port"] = port if port is not None else (443 if scheme == "https" else 80)
    data["path"] = parts.path or None
    return data


def _service_checks(entity: JSONObject) -> JSONObject | None:
    proto = entity.get("protocol")
    if proto is None:
        return None
    errs: JSONObject = {}
    if proto not in ("http", "https") and entity.get("path") is not None:
        errs["path"] = "value must be null"
    if proto not in ("https", "tls"):
        for f in ("client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"):
            if entity.get(f) is not None:
                errs[f] = "value must be null"
    if not errs:
        return None
    errs["@entity"] = ["failed conditional validation given value of field 'protocol'"] * len(errs)
    return errs


SERVICE_SCHEMA = Schema(
    "services",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", name_field("The service name.")),
        ("retries", Integer(between=(0, 32767), default=5,
                            description="The number of retries to execute upon failure to proxy.")),
        ("protocol", String(one_of=PROTOCOLS, required=True, default="http",
                            description="The protocol used to communicate with the upstream.")),
        ("host", String(required=True, custom=paths.validate_host,
                        description="The host of the upstream server. Note that the host value is case sensitive.")),
        ("port", Integer(between=(0, 65535), required=True, default=80,
                         description="The upstream server port.")),
        ("path", String(custom=paths.validate_service_path,
                        description="The path to be used in requests to the upstream server.")),
        ("connect_timeout", timeout("The timeout in milliseconds for establishing a connection to the upstream server.")),
        ("write_timeout", timeout("The timeout in milliseconds between two successive write operations for transmitting a request to the upstream server.")),
        ("read_timeout", timeout("The timeout in milliseconds between two successive read operations for transmitting a request to the upstream server.")),
        ("tags", tags_field()),
        ("client_certificate", foreign("certificates", "Certificate to be used as client certificate while TLS handshaking to the upstream server.")),
        ("tls_verify", Boolean(description="Whether to enable verification of upstream server TLS certificate.")),
        ("tls_verify_depth", Integer(between=(0, 64), description="Maximum depth of chain while verifying Upstream server's TLS certificate.")),
        ("ca_certificates", ArrayF(String(uuid=True), description="Array of CA Certificate object UUIDs that are used to build the trust store while verifying upstream server's TLS certificate.")),
        ("enabled", Boolean(default=True, description="Whether the Service is active.")),
    ],
    [Custom(("protocol",), _service_checks, name="conditional")],
)


# -- routes --------------------------------------------------------------------------------------
PROTOCOL_SUBSETS = (("http", "https"), ("tcp", "tls", "udp"), ("tls_passthrough",), ("grpc", "grpcs"))


def _quoted_list(items: JSONValue) -> str:
    return ", ".join(f"'{i}'" for i in items)


_STREAM_ERR = "'tcp', 'tls', 'tls_passthrough' or 'udp'"


def _route_checks(entity: JSONObject) -> JSONObject | None:
    """Kong's route subschemas (kong/db/schema/entities/routes_subschemas.lua): the first
    protocol picks http, stream or grpc rules; protocol kinds may not be mixed."""
    protocols = entity.get("protocols") or []
    member_of: list[tuple[str, ...]] = []
    for p in protocols:
        for sub in PROTOCOL_SUBSETS:
            if p in sub and sub not in member_of:
                member_of.append(sub)
    if len(member_of) > 1:
        subsets = ", ".join(f"({_quoted_list(sub)})" for sub in member_of)
        return {"protocols": f"these sets are mutually exclusive: {subsets}"}
    if not protocols:
        return None
    errs: JSONObject = {}

    def forbid(fields: tuple[str, ...], when: str) -> None:
        for f in fields:
            if entity.get(f) is not None:
                errs[f] = f"cannot set '{f}' when 'protocols' is {when}"

    def need_one(fields: list[str], when: str) -> None:
        if not any(_nonempty(entity.get(f)) for f in fields):
            errs.setdefault("@entity", []).append(f"must set one of {_quoted_list(fields)} when 'protocols' is {when}")

    kind = member_of[0]
    if kind == ("http", "https"):
        forbid(("sources", "destinations"), "'http' or 'https'")
        if "https" in protocols:
            need_one(["methods", "hosts", "headers", "paths", "snis"], "'https'")
        else:
            need_one(["methods", "hosts", "headers", "paths"], "'http'")
    elif kind == ("grpc", "grpcs"):
        forbid(("methods", "sources", "destinations"), "'grpc' or 'grpcs'")
        if entity.get("strip_path") is True:
            errs["strip_path"] = "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
        if "grpcs" in protocols:
            need_one(["hosts", "headers", "paths", "snis"], "'grpcs'")
        else:
            need_one(["hosts", "headers", "paths"], "'grpc'")
    else:
        forbid(("methods", "hosts", "paths", "headers"), _STREAM_ERR)
        if kind == ("tls_passthrough",):
            if not _nonempty(entity.get("snis")):
                errs.setdefault("@entity", []).append("must set snis when 'protocols' is 'tls_passthrough'")
        else:
            need_one(["sources", "destinations", "snis"], "'tcp', 'tls' or 'udp'")
    if _nonempty(entity.get("snis")) and not any(p in ("https", "grpcs", "tls", "tls_passthrough") for p in protocols):
        errs["snis"] = "length must be 0"
        errs.setdefault("@entity", []).append(
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'")
    return errs or None


def _nonempty(v: JSONValue) -> bool:
    return not (v is None or v == "" or (isinstance(v, (list, dict)) and not v))


def _route_defaults(data: JSONObject) -> JSONObject:
    """grpc routes default ``strip_path`` to false (Kong's grpc subschema)."""
    protocols = data.get("protocols")
    if isinstance(protocols, list) and protocols and protocols[0] in ("grpc", "grpcs") and "strip_path" not in data:
        data["strip_path"] = False
    return data


def _headers_check(value: JSONObject) -> str | JSONObject | None:
    for k in value:
        if k.lower() == "host":
            return "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
    return None


_IP_PORT = Record([
    ("ip", String(description="IP address or CIDR range.")),
    ("port", Integer(between=(0, 65535), description="Port number.")),
])

ROUTE_SCHEMA = Schema(
    "routes",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", name_field("The name of the Route.")),
        ("protocols", Set(String(one_of=PROTOCOLS), required=True, len_min=1, default=["http", "https"],
                          description="An array of the protocols this Route should allow.")),
        ("methods", Set(String(match=_METHOD_RE), description="A list of HTTP methods that match this Route.")),
        ("hosts", ArrayF(String(custom=paths.validate_route_host),
                         description="A list of domain names that match this Route. Wildcards allowed as the leftmost or rightmost label.")),
        ("paths", ArrayF(String(custom=paths.validate_route_path),
                         description="A list of paths that match this Route: prefixes, or regexes starting with ~.")),
        ("headers", Map(String(), ArrayF(String()), custom=_headers_check,
                        description="One or more lists of values indexed by header name that will cause this Route to match.")),
        ("https_redirect_status_code", Integer(one_of=(426, 301, 302, 307, 308), default=426, required=True,
                                               description="The status code Kong responds with when all properties of a Route match except the protocol.")),
        ("regex_priority", Integer(default=0, description="A number used to choose which route resolves a given request when several routes match it using regexes simultaneously.")),
        ("strip_path", Boolean(default=True, required=True, description="When matching a Route via one of the paths, strip the matching prefix from the upstream request URL.")),
        ("path_handling", String(one_of=("v0", "v1"), default="v0", description="Controls how the Service path, Route path and requested path are combined when sending a request to the upstream.")),
        ("preserve_host", Boolean(default=False, required=True, description="When matching a Route via one of the hosts domain names, use the request Host header in the upstream request headers.")),
        ("request_buffering", Boolean(default=True, required=True, description="Whether to enable request body buffering or not.")),
        ("response_buffering", Boolean(default=True, required=True, description="Whether to enable response body buffering or not.")),
        ("snis", Set(String(), description="A list of SNIs that match this Route when using stream routing.")),
        ("sources", Set(_IP_PORT, description="A list of IP sources of incoming connections that match this Route when using stream routing.")),
        ("destinations", Set(_IP_PORT, description="A list of IP destinations of incoming connections that match this Route when using stream routing.")),
        ("tags", tags_field()),
        ("service", foreign("services", "The Service this Route is associated to.", on_delete="restrict")),
    ],
    [Custom(("protocols",), _route_checks, name="route_protocol_checks")],
)


# -- consumers, groups, credentials --------------------------------------------------------------
CONSUMER_SCHEMA = Schema(
    "consumers",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("username", String(unique=True, description="The unique username of the Consumer.")),
        ("custom_id", String(unique=True, description="Field for storing an existing unique ID for the Consumer.")),
        ("tags", tags_field()),
    ],
    [AtLeastOneOf(("custom_id", "username"))],
)

CONSUMER_GROUP_SCHEMA = Schema(
    "consumer_groups",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", String(required=True, unique=True, description="The name of the consumer group.")),
        ("tags", tags_field()),
    ],
)

CONSUMER_GROUP_CONSUMER_SCHEMA = Schema(
    "consumer_group_consumers",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("consumer_group", foreign("consumer_groups", "The group.", required=True, on_delete="cascade")),
        ("consumer", foreign("consumers", "The member.", required=True, on_delete="cascade")),
    ],
)


def _random_key() -> str:
    return secrets.token_urlsafe(24)


def credential_schema(table: str, extra: list[tuple[str, Field]], checks: list[Check] | None = None) -> Schema:
    return Schema(
        table,
        [
            ("id", id_field()),
            ("created_at", created_at()),
            ("consumer", foreign("consumers", "The Consumer this credential belongs to.", required=True, on_delete="cascade")),
            *extra,
            ("tags", tags_field()),
        ],
        checks or [],
    )


KEYAUTH_SCHEMA = credential_schema("keyauth_credentials", [
    ("key", String(unique=True, secret=True, description="The API key. Generated when omitted.")),
    ("ttl", Integer(between=(0, 100000000), description="Seconds until the key expires (write-only, on create).")),
])
ACL_SCHEMA = credential_schema("acls", [
    ("group", String(required=True, description="The arbitrary group name to associate with the consumer.")),
])
BASICAUTH_SCHEMA = credential_schema("basicauth_credentials", [
    ("username", String(required=True, unique=True, description="The username to use in the Basic Authentication.")),
    ("password", String(required=True, secret=True, description="The password to use in the Basic Authentication.")),
])
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                  "PS256", "PS384", "PS512", "EdDSA")
# kong/plugins/jwt/daos.lua: these need a parseable public key (ES* are not in Kong's list)
JWT_KEYED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


def pem_key_valid(text: str) -> bool:
    """What ``resty.openssl.pkey.new`` accepts: a PEM public or private key."""
    from cryptography.hazmat.primitives import serialization

    data = text.encode()
    for load in (serialization.load_pem_public_key,
                 lambda d: serialization.load_pem_private_key(d, password=None)):
        try:
            load(data)
            return True
        except Exception:  # noqa: BLE001 - any parse failure is "invalid key"
            continue
    return False


def _jwt_key_check(entity: JSONObject) -> JSONObject | None:
    """daos.lua's conditional: an RS/PS/EdDSA secret needs ``rsa_public_key``, a valid key."""
    if entity.get("algorithm") not in JWT_KEYED_ALGORITHMS:
        return None
    key = entity.get("rsa_public_key")
    if key is None:
        err = "required field missing"
    elif not pem_key_valid(key):
        err = "invalid key"
    else:
        return None
    return {"rsa_public_key": err, "@entity": ["failed conditional validation given value of field 'algorithm'"]}


JWT_SCHEMA = credential_schema("jwt_secrets", [
    ("key", String(unique=True, description="A unique string identifying the credential: the value of the token's `key_claim_name` claim (`iss` by default). Generated when omitted.")),
    ("secret", String(secret=True, description="The secret for HS algorithms (also what signs tokens). Generated when omitted.")),
    ("rsa_public_key", String(description="The PEM public key for RS, PS, ES and EdDSA algorithms.")),
    ("algorithm", String(default="HS256", one_of=JWT_ALGORITHMS, description="The algorithm used to verify the token's signature.")),
], [Custom(("algorithm", "rsa_public_key"), _jwt_key_check, name="conditional")])
# A password as Kong stores it: 40 lowercase hex digits (SHA1).
KONG_PASSWORD_HASH = re.compile(r"^[0-9a-f]{40}$")


def basicauth_hash(consumer_id: str, password: str | None) -> str:
    """kong/plugins/basic-auth/crypto.lua: hex SHA1 of the password followed by the consumer id
    (the salt); no password hashes the consumer id alone."""
    salted = consumer_id if password is None else password + consumer_id
    return hashlib.sha1(salted.encode()).hexdigest()


def _basicauth_on_write(entity: JSONObject, declarative: bool) -> JSONObject:
    """Kong hashes the password on every write that carries one. A whole-configuration load keeps
    a value already in Kong's stored form (a decK dump of a real Kong carries the hash), so
    credentials dumped from Kong verify here; Kong itself would hash it again unless the file says
    ``_transform: false``. The cost: a plain password of exactly 40 lowercase hex digits in a
    decK file is taken as a hash."""
    password = entity.get("password")
    if declarative and isinstance(password, str) and KONG_PASSWORD_HASH.match(password):
        return entity
    consumer = entity.get("consumer") or {}
    consumer_id = consumer.get("id") if isinstance(consumer, dict) else consumer
    entity["password"] = basicauth_hash(str(consumer_id), password)
    return entity


HMACAUTH_SCHEMA = credential_schema("hmacauth_credentials", [
    ("username", String(required=True, unique=True, description="The username to use in the HMAC Signature verification.")),
    ("secret", String(secret=True, description="The secret to use in the HMAC Signature verification.")),
])


# -- oauth2 (kong/plugins/oauth2/daos.lua) -------------------------------------------------------
def _oauth2_redirect_uri(uri: str) -> str | None:
    """daos.lua's validate_uri: a scheme and a host, no fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"cannot parse '{uri}'"
    if not parts.scheme or not parts.hostname:
        return f"cannot parse '{uri}'"
    if parts.fragment or uri.endswith("#"):
        return f"fragment not allowed in '{uri}'"
    return None


def random_string() -> str:
    """kong.tools.rand.random_string: 32 alphanumerics."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


# kong/plugins/oauth2/secret.lua with its only enabled algorithm: PBKDF2-SHA512, 10000 rounds,
# 16-byte salt, 32-byte hash, written as a PHC string.
_PBKDF2_ITERATIONS, _PBKDF2_HASH_LEN, _PBKDF2_SALT_LEN = 10000, 32, 16


def _b64_nopad(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode().rstrip("=")


def oauth2_secret_hash(secret: str, *, salt: bytes | None = None, iterations: int = _PBKDF2_ITERATIONS,
                       length: int = _PBKDF2_HASH_LEN, digest: str = "sha512") -> str:
    salt = salt if salt is not None else secrets.token_bytes(_PBKDF2_SALT_LEN)
    derived = hashlib.pbkdf2_hmac(digest, secret.encode(), salt, iterations, length)
    return f"$pbkdf2-{digest}$i={iterations},l={length}${_b64_nopad(salt)}${_b64_nopad(derived)}"


def oauth2_secret_verify(secret: str | None, phc: str | None) -> bool:
    """secret.lua's verify for ``$pbkdf2-<digest>$i=..,l=..$salt$hash`` strings."""
    import base64
    import binascii
    import hmac

    if not isinstance(secret, str) or not isinstance(phc, str):
        return False
    parts = phc.split("$")
    if len(parts) != 5 or not parts[1].startswith("pbkdf2-"):
        return False
    digest = parts[1][len("pbkdf2-"):]
    params = dict(p.split("=", 1) for p in parts[2].split(",") if "=" in p)
    try:
        salt = base64.b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
        expected = base64.b64decode(parts[4] + "=" * (-len(parts[4]) % 4))
        iterations = int(params.get("i", _PBKDF2_ITERATIONS))
        length = int(params.get("l", len(expected)))
        got = hashlib.pbkdf2_hmac(digest, secret.encode(), salt, iterations, length)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(got, expected)


def _oauth2_on_write(entity: JSONObject, declarative: bool) -> JSONObject:
    """daos.lua's transformation: with ``hash_secret`` the client secret is stored hashed. A value
    already hashed (a dump of Kong, a PATCH that does not change the secret) is kept."""
    secret = entity.get("client_secret")
    if entity.get("hash_secret") and isinstance(secret, str) and not secret.startswith("$pbkdf2-"):
        entity["client_secret"] = oauth2_secret_hash(secret)
    return entity


OAUTH2_CREDENTIALS_SCHEMA = credential_schema("oauth2_credentials", [
    ("name", String(required=True, description="The name to associate to the credential. In OAuth 2.0, this would be the application name.")),
    ("client_id", String(unique=True, description="You can optionally set your own unique client_id. If missing, the plugin will generate one.")),
    ("client_secret", String(secret=True, description="You can optionally set your own unique client_secret. If missing, the plugin will generate one.")),
    ("hash_secret", Boolean(required=True, default=False, description="A boolean flag that indicates whether the client_secret field will be stored in hashed form.")),
    ("redirect_uris", ArrayF(String(custom=_oauth2_redirect_uri), description="An array with one or more URLs in your app where users will be sent after authorization.")),
    ("client_type", String(required=True, default="confidential", one_of=("confidential", "public"), description="The type of the client application: `confidential` or `public` (PKCE required).")),
])

OAUTH2_AUTHORIZATION_CODES_SCHEMA = Schema(
    "oauth2_authorization_codes",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("service", foreign("services", "The service the code was issued for (none with global credentials).", on_delete="cascade")),
        ("credential", foreign("oauth2_credentials", "The client application.", required=True, on_delete="cascade")),
        ("code", String(unique=True, secret=True, description="The authorization code.")),
        ("authenticated_userid", String(description="The end user the code was issued for.")),
        ("scope", String(description="The scopes granted, space-separated.")),
        ("challenge", String(description="The PKCE code challenge.")),
        ("challenge_method", String(one_of=("S256",), description="The PKCE challenge method.")),
        ("plugin", foreign("plugins", "The oauth2 plugin instance that issued the code.", on_delete="cascade")),
    ],
)

OAUTH2_TOKENS_SCHEMA = Schema(
    "oauth2_tokens",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("service", foreign("services", "The service the token was issued for (none with global credentials).", on_delete="cascade")),
        ("credential", foreign("oauth2_credentials", "The client application.", required=True, on_delete="cascade")),
        ("token_type", String(required=True, default="bearer", one_of=("bearer",), description="The token type.")),
        ("expires_in", Integer(required=True, description="Seconds the access token lives after created_at (0: never expires).")),
        ("access_token", String(unique=True, secret=True, description="The access token. Generated when omitted.")),
        ("refresh_token", String(unique=True, secret=True, description="The refresh token.")),
        ("authenticated_userid", String(description="The end user the token was issued for.")),
        ("scope", String(description="The scopes granted, space-separated.")),
    ],
)


# -- plugins -------------------------------------------------------------------------------------
PLUGIN_SCHEMA = Schema(
    "plugins",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", String(required=True, description="The name of the Plugin that's going to be added.")),
        ("instance_name", name_field("A unique name for this plugin instance.")),
        ("route", foreign("routes", "If set, the plugin will only activate when receiving requests via the specified route.", on_delete="cascade")),
        ("service", foreign("services", "If set, the plugin will only activate when receiving requests via one of the routes belonging to the specified Service.", on_delete="cascade")),
        ("consumer", foreign("consumers", "If set, the plugin will activate only for requests where the specified has been authenticated.", on_delete="cascade")),
        ("consumer_group", foreign("consumer_groups", "If set, the plugin will activate only for requests where the consumer belongs to this group.", on_delete="cascade")),
        ("config", Field("record", fields=[], description="The configuration properties for the Plugin.")),
        ("protocols", Set(String(one_of=PROTOCOLS), required=True, default=["grpc", "grpcs", "http", "https"],
                          description="A list of the request protocols that will trigger this plugin.")),
        ("enabled", Boolean(default=True, description="Whether the plugin is applied.")),
        ("tags", tags_field()),
    ],
)


# -- upstreams, targets, certificates --------------------------------------------------------------
# kong/db/schema/entities/upstreams.lua: the health-check record, every level with its defaults
# (probing and circuit breaking are off while intervals and counters are 0).
def _statuses(default: list[int], description: str) -> Field:
    return ArrayF(Integer(between=(100, 999)), default=default, description=description)


def _seconds(default: float, description: str) -> Field:
    return Field("number", between=(0, 65535), default=default, description=description)


def _counter(description: str) -> Field:
    return Integer(between=(0, 2**31), default=0, description=description)


def _check_type() -> Field:
    return String(one_of=("tcp", "http", "https", "grpc", "grpcs"), default="http",
                  description="Whether to perform HTTP or HTTPS probes, or just test a TCP connection.")


ACTIVE_HEALTHY = [200, 302]
ACTIVE_UNHEALTHY = [429, 404, 500, 501, 502, 503, 504, 505]
PASSIVE_HEALTHY = [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]
PASSIVE_UNHEALTHY = [429, 500, 503]

HEALTHCHECKS = Record([
    ("active", Record([
        ("type", _check_type()),
        ("timeout", _seconds(1, "Socket timeout for active health checks (in seconds).")),
        ("concurrency", Integer(between=(1, 2**31), default=10, description="Number of targets to check concurrently.")),
        ("http_path", String(starts_with="/", default="/", description="Path to use in GET HTTP request to run as a probe.")),
        ("https_sni", typedefs.sni(description="The hostname to use as an SNI when performing active health checks using HTTPS.")),
        ("https_verify_certificate", Boolean(default=True, description="Whether to check the validity of the SSL certificate of the remote host.")),
        ("headers", Map(String(), ArrayF(String()), description="One or more lists of values indexed by header name to use in GET HTTP request to run as a probe.")),
        ("healthy", Record([
            ("interval", _seconds(0, "Interval between active health checks for healthy targets (in seconds); 0 disables them.")),
            ("http_statuses", _statuses(ACTIVE_HEALTHY, "HTTP statuses that count as healthy in active probes.")),
            ("successes", _counter("Successes in active probes to consider a target healthy.")),
        ], nullable=False)),
        ("unhealthy", Record([
            ("interval", _seconds(0, "Interval between active health checks for unhealthy targets (in seconds); 0 disables them.")),
            ("http_statuses", _statuses(ACTIVE_UNHEALTHY, "HTTP statuses that count as failures in active probes.")),
            ("tcp_failures", _counter("TCP failures in active probes to consider a target unhealthy.")),
            ("timeouts", _counter("Timeouts in active probes to consider a target unhealthy.")),
            ("http_failures", _counter("HTTP failures in active probes to consider a target unhealthy.")),
        ], nullable=False)),
    ], nullable=False)),
    ("passive", Record([
        ("type", _check_type()),
        ("healthy", Record([
            ("http_statuses", _statuses(PASSIVE_HEALTHY, "HTTP statuses of proxied traffic that count as healthy.")),
            ("successes", _counter("Successes in proxied traffic to consider a target healthy.")),
        ], nullable=False)),
        ("unhealthy", Record([
            ("http_statuses", _statuses(PASSIVE_UNHEALTHY, "HTTP statuses of proxied traffic that count as failures.")),
            ("tcp_failures", _counter("TCP failures in proxied traffic to consider a target unhealthy.")),
            ("timeouts", _counter("Timeouts in proxied traffic to consider a target unhealthy.")),
            ("http_failures", _counter("HTTP failures in proxied traffic to consider a target unhealthy.")),
        ], nullable=False)),
    ], nullable=False)),
    ("threshold", Field("number", between=(0, 100), default=0, description="The minimum percentage of the upstream's targets' weight that must be available for the whole upstream to be considered healthy.")),
], nullable=False, description="The health-check configuration: active probes and passive (circuit-breaker) checks.")

def _distinct(a: str, b: str) -> Check:
    def check(entity: JSONObject) -> str | None:
        va, vb = entity.get(a), entity.get(b)
        if va is not None and vb is not None and va == vb:
            return f"values of these fields must be distinct: '{a}', '{b}'"
        return None

    return Custom((a, b), check, name="distinct")


def _when(if_field: str, value: str, then_field: str, then_match: JSONObject) -> Check:
    return Conditional(if_field, {"one_of": [value]}, then_field, then_match)


_HASH_SOURCES = ("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")

# kong/db/schema/entities/upstreams.lua entity_checks, in Kong's order
UPSTREAM_CHECKS: list[Check] = [
    _when("hash_on", "header", "hash_on_header", {"required": True}),
    _when("hash_fallback", "header", "hash_fallback_header", {"required": True}),
    _when("hash_on", "cookie", "hash_on_cookie", {"required": True}),
    _when("hash_fallback", "cookie", "hash_on_cookie", {"required": True}),
    _when("hash_on", "none", "hash_fallback", {"one_of": ["none"]}),
    _when("hash_on", "cookie", "hash_fallback", {"one_of": ["none"]}),
    _when("hash_on", "consumer", "hash_fallback", {"one_of": [s for s in _HASH_SOURCES if s != "consumer"]}),
    _when("hash_on", "ip", "hash_fallback", {"one_of": [s for s in _HASH_SOURCES if s != "ip"]}),
    _when("hash_on", "path", "hash_fallback", {"one_of": [s for s in _HASH_SOURCES if s != "path"]}),
    _distinct("hash_on_header", "hash_fallback_header"),
    _when("hash_on", "query_arg", "hash_on_query_arg", {"required": True}),
    _when("hash_fallback", "query_arg", "hash_fallback_query_arg", {"required": True}),
    _distinct("hash_on_query_arg", "hash_fallback_query_arg"),
    _when("hash_on", "uri_capture", "hash_on_uri_capture", {"required": True}),
    _when("hash_fallback", "uri_capture", "hash_fallback_uri_capture", {"required": True}),
    _distinct("hash_on_uri_capture", "hash_fallback_uri_capture"),
]


def _upstream_shorthand(data: JSONObject) -> JSONObject:
    """Kong's shorthand: hashing on something means the consistent-hashing algorithm (when the
    input does not name an algorithm itself)."""
    hash_on = data.get("hash_on")
    if isinstance(hash_on, str) and hash_on != "none" and data.get("algorithm") is None:
        data["algorithm"] = "consistent-hashing"
    return data


UPSTREAM_SCHEMA = Schema(
    "upstreams",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", String(required=True, unique=True, custom=paths.validate_host, description="A hostname, which must be equal to the host of a Service.")),
        ("algorithm", String(one_of=("consistent-hashing", "least-connections", "round-robin", "latency", "sticky-sessions"), default="round-robin", description="Which load balancing algorithm to use.")),
        ("hash_on", String(one_of=("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"), default="none", description="What to use as hashing input.")),
        ("hash_fallback", String(one_of=("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"), default="none", description="What to use as hashing input if the primary hash_on does not return a hash.")),
        ("hash_on_header", typedefs.header_name(description="The header name to take the value from as hash input.")),
        ("hash_fallback_header", typedefs.header_name(description="The header name to take the value from as hash input.")),
        ("hash_on_cookie", String(description="The cookie name to take the value from as hash input.")),
        ("hash_on_cookie_path", String(default="/", description="The cookie path to set in the response headers.")),
        ("hash_on_query_arg", String(description="The name of the query string argument to take the value from as hash input.")),
        ("hash_fallback_query_arg", String(description="The name of the query string argument to take the value from as hash input.")),
        ("hash_on_uri_capture", String(description="The name of the route URI capture to take the value from as hash input.")),
        ("hash_fallback_uri_capture", String(description="The name of the route URI capture to take the value from as hash input.")),
        ("slots", Integer(between=(10, 65536), default=10000, description="The number of slots in the load balancer algorithm.")),
        ("healthchecks", HEALTHCHECKS),
        ("tags", tags_field()),
        ("host_header", String(custom=paths.validate_host, description="The hostname to be used as Host header when proxying requests through Kong.")),
        ("client_certificate", foreign("certificates", "If set, the certificate to be used as client certificate while TLS handshaking to the upstream server.")),
        ("use_srv_name", Boolean(default=False, description="If set, the balancer will use SRV hostname.")),
        ("sticky_sessions_cookie", String(description="The cookie name to keep sticky sessions.")),
        ("sticky_sessions_cookie_path", String(default="/", description="A string representing a URL path, such as /path/to/resource.")),
    ],
    UPSTREAM_CHECKS,
)


def _target_check(v: str) -> str | None:
    host, _port, err = paths.split_host_port(v)
    if err:
        return err
    return None if (paths.validate_host(host.strip("[]")) is None or paths._is_ipv6(host)) else f"Invalid target ('{v}'); not a valid hostname or ip address"


TARGET_SCHEMA = Schema(
    "targets",
    [
        ("id", id_field()),
        ("created_at", Field("number", timestamp=True, auto=True, description="Unix epoch when the target was created.")),
        ("updated_at", Field("number", timestamp=True, auto=True, description="Unix epoch when the target was last updated.")),
        ("upstream", foreign("upstreams", "The unique identifier or the name of the upstream.", required=True, on_delete="cascade")),
        ("target", String(required=True, custom=_target_check, description="The target address (ip or hostname) and port.")),
        ("weight", Integer(default=100, between=(0, 65535), description="The weight this target gets within the upstream loadbalancer (0-65535).")),
        ("tags", tags_field()),
    ],
)

CERTIFICATE_SCHEMA = Schema(
    "certificates",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("cert", String(required=True, custom=certs.validate_certificate, referenceable=True,
                        description="PEM-encoded public certificate chain of the SSL key pair.")),
        ("key", String(required=True, secret=True, custom=certs.validate_key, referenceable=True,
                       description="PEM-encoded private key of the SSL key pair.")),
        ("cert_alt", String(custom=certs.validate_certificate, referenceable=True,
                            description="PEM-encoded public certificate chain of the alternate SSL key pair.")),
        ("key_alt", String(secret=True, custom=certs.validate_key, referenceable=True,
                           description="PEM-encoded private key of the alternate SSL key pair.")),
        ("tags", tags_field()),
    ],
    [
        MutuallyRequired(("cert_alt", "key_alt")),
        Custom(("cert", "key", "cert_alt", "key_alt"), certs.certificate_checks),
    ],
)

SNI_SCHEMA = Schema(
    "snis",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("name", String(required=True, unique=True, custom=paths.validate_wildcard_host, description="The SNI name to associate with the given certificate.")),
        ("certificate", foreign("certificates", "The id (a UUID) of the certificate with which to associate the SNI hostname.", required=True, on_delete="cascade")),
        ("tags", tags_field()),
    ],
)

CA_CERTIFICATE_SCHEMA = Schema(
    "ca_certificates",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("cert", String(required=True, custom=certs.validate_certificate,
                        description="PEM-encoded public certificate of the CA.")),
        ("cert_digest", String(unique=True, description="SHA256 hex digest of the public certificate.")),
        ("tags", tags_field()),
    ],
    [Custom(("cert",), certs.ca_certificate_checks)],
)


def _ca_digest(data: JSONObject) -> JSONObject:
    """Kong's on-write transformation: ``cert_digest`` is always the certificate's SHA-256."""
    cert = data.get("cert")
    if isinstance(cert, str) and not certs.is_reference(cert):
        digest = certs.cert_digest(cert)
        if digest is not None:
            data["cert_digest"] = digest
    return data


# Vault backends this runtime resolves (Kong OSS bundles "env"); each with its config fields.
VAULT_BACKENDS: dict[str, Schema] = {
    "env": Schema("env", [
        ("prefix", String(match=re.compile(r"^[A-Za-z_-][A-Za-z0-9_-]*$"),
                          description="The prefix for the environment variable that the value will be stored in.")),
    ]),
}


def _vault_checks(entity: JSONObject) -> JSONObject | None:
    """Kong's vault subschemas: a known backend (``vault 'x' is not installed``), a prefix that
    is not a backend's own name, and the backend's config."""
    name = entity.get("name")
    backend = VAULT_BACKENDS.get(name) if isinstance(name, str) else None
    if backend is None:
        return {"name": f"vault '{name}' is not installed"}
    errors: JSONObject = {}
    if entity.get("prefix") in VAULT_BACKENDS:
        errors["prefix"] = "must not be one of: " + ", ".join(VAULT_BACKENDS)
    _out, cfg_errors = backend.check(entity.get("config") or {})
    if cfg_errors:
        errors["config"] = cfg_errors
    return errors or None


def _vault_defaults(data: JSONObject) -> JSONObject:
    """The backend's config record with its unset fields present (``{"prefix": null}``)."""
    name = data.get("name")
    backend = VAULT_BACKENDS.get(name) if isinstance(name, str) else None
    config = data.get("config")
    if backend is not None and (config is None or isinstance(config, dict)):
        data["config"] = {**dict.fromkeys(backend.field_names), **(config or {})}
    return data


VAULT_SCHEMA = Schema(
    "vaults",
    [
        ("id", id_field()),
        ("created_at", created_at()),
        ("updated_at", updated_at()),
        ("prefix", String(required=True, unique=True, match=re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]+$"), description="The unique prefix (or identifier) for this Vault configuration.")),
        ("name", String(required=True, description="The name of the Vault that's going to be added.")),
        ("description", String(description="The description of the Vault entity.")),
        # the backend's record (VAULT_BACKENDS), checked by _vault_checks
        ("config", Field("record", fields=None, default={}, description="The configuration properties for the Vault.")),
        ("tags", tags_field()),
    ],
    [Custom(("name", "prefix", "config"), _vault_checks)],
)


def _defs() -> dict[str, EntityDef]:
    d = [
        EntityDef("services", SERVICE_SCHEMA, "service", "name", ("name",), admin_path="/services",
                  deck_key="services", shorthand=_service_url),
        EntityDef("routes", ROUTE_SCHEMA, "route", "name", ("name",), admin_path="/routes", deck_key="routes",
                  shorthand=_route_defaults),
        EntityDef("consumers", CONSUMER_SCHEMA, "consumer", "username", ("username", "custom_id"),
                  admin_path="/consumers", deck_key="consumers"),
        EntityDef("consumer_groups", CONSUMER_GROUP_SCHEMA, "consumer-group", "name", ("name",),
                  admin_path="/consumer_groups", deck_key="consumer_groups"),
        EntityDef("consumer_group_consumers", CONSUMER_GROUP_CONSUMER_SCHEMA, "consumer-group-consumer",
                  cache_key=("consumer_group", "consumer")),
        EntityDef("plugins", PLUGIN_SCHEMA, "plugin", "instance_name", ("instance_name",),
                  cache_key=("name", "route", "service", "consumer", "consumer_group"),
                  admin_path="/plugins", deck_key="plugins"),
        EntityDef("keyauth_credentials", KEYAUTH_SCHEMA, "key-auth", "key", ("key",), admin_path="/key-auths",
                  deck_key="keyauth_credentials", generate={"key": _random_key}),
        EntityDef("acls", ACL_SCHEMA, "acl-group", None, (), cache_key=("consumer", "group"), admin_path="/acls",
                  deck_key="acls"),
        EntityDef("basicauth_credentials", BASICAUTH_SCHEMA, "basic-auth", "username", ("username",),
                  admin_path="/basic-auths", deck_key="basicauth_credentials",
                  on_write=(("password",), _basicauth_on_write)),
        EntityDef("jwt_secrets", JWT_SCHEMA, "jwt-auth", "key", ("key",), admin_path="/jwts",
                  deck_key="jwt_secrets", generate={"key": lambda: secrets.token_hex(16), "secret": lambda: secrets.token_hex(16)}),
        EntityDef("hmacauth_credentials", HMACAUTH_SCHEMA, "hmac-auth", "username", ("username",),
                  admin_path="/hmac-auths", deck_key="hmacauth_credentials", generate={"secret": lambda: secrets.token_urlsafe(24)}),
        EntityDef("oauth2_credentials", OAUTH2_CREDENTIALS_SCHEMA, "oauth2-credential", "client_id", ("client_id",),
                  admin_path="/oauth2", deck_key="oauth2_credentials",
                  generate={"client_id": random_string, "client_secret": random_string},
                  on_write=(("hash_secret", "client_secret"), _oauth2_on_write),
                  write_together=("hash_secret", "client_secret")),
        EntityDef("oauth2_authorization_codes", OAUTH2_AUTHORIZATION_CODES_SCHEMA, "oauth2-authorization-code",
                  None, ("code",), generate={"code": random_string}, runtime_data=True),
        EntityDef("oauth2_tokens", OAUTH2_TOKENS_SCHEMA, "oauth2-token", "access_token", ("access_token", "refresh_token"),
                  admin_path="/oauth2_tokens", generate={"access_token": random_string}, runtime_data=True),
        EntityDef("upstreams", UPSTREAM_SCHEMA, "upstream", "name", ("name",), admin_path="/upstreams",
                  deck_key="upstreams", shorthand=_upstream_shorthand),
        EntityDef("targets", TARGET_SCHEMA, "target", "target", (), cache_key=("upstream", "target"),
                  admin_path="/targets", deck_key="targets"),
        EntityDef("certificates", CERTIFICATE_SCHEMA, "certificate", None, (), admin_path="/certificates",
                  deck_key="certificates"),
        EntityDef("snis", SNI_SCHEMA, "sni", "name", ("name",), admin_path="/snis", deck_key="snis"),
        EntityDef("ca_certificates", CA_CERTIFICATE_SCHEMA, "ca-certificate", None, ("cert_digest",),
                  admin_path="/ca_certificates", deck_key="ca_certificates", shorthand=_ca_digest),
        EntityDef("vaults", VAULT_SCHEMA, "vault", "prefix", ("prefix",), admin_path="/vaults", deck_key="vaults",
                  shorthand=_vault_defaults),
    ]
    return {e.table: e for e in d}


ENTITIES: dict[str, EntityDef] = _defs()

# Parents before children: the order creates and imports follow (deletes go in reverse).
DEPENDENCY_ORDER: tuple[str, ...] = (
    "certificates", "ca_certificates", "snis", "vaults",
    "services", "routes", "upstreams", "targets",
    "consumers", "consumer_groups", "consumer_group_consumers",
    "keyauth_credentials", "acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials",
    "oauth2_credentials", "plugins",
)
CREDENTIAL_TABLES = ("keyauth_credentials", "acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials",
                     "oauth2_credentials")
# What the gateway writes while serving (``EntityDef.runtime_data``), after the configuration
# it hangs from: stored and served by the Admin API, never part of a configuration or a dump.
RUNTIME_TABLES: tuple[str, ...] = ("oauth2_authorization_codes", "oauth2_tokens")


def entity(table: str) -> EntityDef:
    return ENTITIES[table]
