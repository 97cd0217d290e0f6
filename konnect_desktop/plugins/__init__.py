"""Bundled plugins: one module each (schema + handler), and the registry that finds them.

Adding a plugin: write ``konnect_desktop/plugins/<name_with_underscores>.py`` exporting
``PLUGIN = PluginSpec(...)`` and add its name to ``BUNDLED``.
"""

from __future__ import annotations

import importlib
from functools import cache

from ..jsontypes import JSONObject
from ..model import plugin_catalog
from ..model.entities import PLUGIN_SCHEMA
from ..model.errors import schema_violation
from ..model.schema import Field, Map, Schema
from .base import HTTP_SUBSYSTEM_PROTOCOLS, SCOPE_FIELDS, PluginSpec

BUNDLED: tuple[str, ...] = (
    "key-auth",
    "basic-auth",
    "jwt",
    "hmac-auth",
    "oauth2",
    "session",
    "acl",
    "rate-limiting",
    "request-transformer",
    "response-transformer",
    "cors",
    "correlation-id",
    "ip-restriction",
    "request-termination",
    "request-size-limiting",
    "redirect",
    "bot-detection",
    "proxy-cache",
    "response-ratelimiting",
    "standard-webhooks",
    "http-log",
    "file-log",
    "prometheus",
    "tcp-log",
    "udp-log",
    "statsd",
    "syslog",
    "ai-proxy",
    "ai-prompt-guard",
    "ai-prompt-decorator",
    "ai-prompt-template",
    # carried but not run by the local runtime (PluginSpec.not_run; handlers in not_run.py)
    "pre-function",
    "post-function",
    "aws-lambda",
    "azure-functions",
    "acme",
    "grpc-gateway",
    "grpc-web",
    "zipkin",
    "opentelemetry",
    "ldap-auth",
    "datadog",
    "loggly",
    "ai-request-transformer",
    "ai-response-transformer",
)

_OPAQUE_CONFIG = Map(Field("string"), Field("any"), description="Configuration of a plugin this app does not bundle (carried as given).")


@cache
def get(name: str) -> PluginSpec | None:
    """The bundled plugin called ``name``, or None."""
    if name not in BUNDLED:
        return None
    try:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    except ModuleNotFoundError:  # listed but not written yet
        return None
    spec: PluginSpec = module.PLUGIN
    return spec


def all_specs() -> list[PluginSpec]:
    return [s for s in (get(n) for n in BUNDLED) if s is not None]


@cache
def entity_schema(name: str | None) -> Schema:
    """The full plugin-entity schema for one plugin: common fields + that plugin's config record.

    For an unknown name the config is an opaque map (decK files and remote gateways carry it).
    """
    spec = get(name) if name else None
    fields = []
    for fname, f in PLUGIN_SCHEMA.fields:
        if fname == "config":
            f = spec.config if spec else _OPAQUE_CONFIG.with_(default={})
        elif fname in SCOPE_FIELDS and spec and fname not in spec.scopes:
            # Kong's typedefs.no_consumer / no_route / no_service / no_consumer_group: eq = null
            f = f.with_(eq=None)
        elif fname == "protocols" and spec:
            elements = f.elements if spec.any_protocol or f.elements is None else f.elements.with_(one_of=HTTP_SUBSYSTEM_PROTOCOLS)
            f = f.with_(default=list(spec.protocols), elements=elements)
        fields.append((fname, f))
    checks = list(spec.entity_checks) if spec else []
    return Schema("plugins", fields, checks)


NOT_ENABLED = "plugin '{}' not enabled; add it to the 'plugins' configuration property"


def check_plugin(data: JSONObject, *, strict: bool = True, fill_defaults: bool = True) -> tuple[JSONObject, JSONObject]:
    """Validate a plugin entity. Returns (processed, errors).

    ``strict`` (the local runtime) refuses plugins we do not bundle with Kong's words; otherwise
    their config is carried opaquely.
    """
    name = data.get("name") if isinstance(data, dict) else None
    if strict and isinstance(name, str) and get(name) is None:
        out, errors = entity_schema(None).check(data, fill_defaults=fill_defaults)
        errors["name"] = NOT_ENABLED.format(name)
        return out, errors
    spec = get(name) if isinstance(name, str) else None
    if spec is not None and spec.shorthands is not None and isinstance(data.get("config"), dict):
        data = {**data, "config": spec.shorthands(data["config"])}
    schema = entity_schema(name if isinstance(name, str) else None)
    return schema.check(data, fill_defaults=fill_defaults)


def validate_plugin(data: JSONObject, *, strict: bool = True, fill_defaults: bool = True) -> JSONObject:
    out, errors = check_plugin(data, strict=strict, fill_defaults=fill_defaults)
    if errors:
        raise schema_violation(errors)
    return out


plugin_catalog.register(check_plugin, entity_schema)

__all__ = ["BUNDLED", "get", "all_specs", "entity_schema", "check_plugin", "validate_plugin", "NOT_ENABLED"]
