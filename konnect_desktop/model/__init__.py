"""The entity model: the one definition of every entity kind that all doors share.

Use ``check_entity`` / ``validate_entity`` rather than a schema directly: plugins take their
config schema from the plugin registry (through ``plugin_catalog``; the model never imports it).
"""

from __future__ import annotations

from ..jsontypes import JSONObject
from . import plugin_catalog
from .entities import (
    CREDENTIAL_TABLES,
    DEPENDENCY_ORDER,
    ENTITIES,
    RUNTIME_TABLES,
    EntityDef,
    entity,
)
from .errors import KongError, NotFound, schema_violation


def check_entity(
    table: str, data: JSONObject, *, strict: bool = True, fill_defaults: bool = True
) -> tuple[JSONObject, JSONObject]:
    """Validate one entity of ``table`` (Kong's table name). Returns (processed, errors)."""
    if table == "plugins":
        return plugin_catalog.check_plugin(data, strict=strict, fill_defaults=fill_defaults)
    return ENTITIES[table].check(data) if fill_defaults else ENTITIES[table].schema.check(data, fill_defaults=False)


def validate_entity(table: str, data: JSONObject, *, strict: bool = True, fill_defaults: bool = True) -> JSONObject:
    """Validate and fill defaults, or raise ``KongError`` (code 2, Kong's message and fields)."""
    out, errors = check_entity(table, data, strict=strict, fill_defaults=fill_defaults)
    if errors:
        raise schema_violation(errors)
    return out


__all__ = [
    "ENTITIES", "EntityDef", "entity", "DEPENDENCY_ORDER", "CREDENTIAL_TABLES", "RUNTIME_TABLES", "KongError", "NotFound",
    "check_entity", "validate_entity", "schema_violation",
]
