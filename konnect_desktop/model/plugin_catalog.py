"""Where the model finds plugin schemas, without importing the plugins layer above it.

A plugin entity's schema depends on which plugin it names (its config record, its scopes), and
those live in ``konnect_desktop.plugins``. That layer registers itself here when it is imported
(``konnect_desktop/__init__.py`` imports it, so any use of the package has it); the model asks
through ``check_plugin`` and ``plugin_entity_schema``. Layers point one way: model <- plugins.
"""

from __future__ import annotations

from collections.abc import Callable

from ..jsontypes import JSONObject
from .schema import Schema

CheckPlugin = Callable[..., tuple[JSONObject, JSONObject]]
EntitySchema = Callable[[str | None], Schema]

_check: CheckPlugin | None = None
_entity_schema: EntitySchema | None = None


def register(check: CheckPlugin, entity_schema: EntitySchema) -> None:
    """Called once by ``konnect_desktop.plugins``: how to validate a plugin entity, and the
    entity schema for a plugin name (the opaque one for names it does not bundle)."""
    global _check, _entity_schema
    _check, _entity_schema = check, entity_schema


def _missing() -> RuntimeError:
    # never validate plugins without their schemas (that would accept any config silently)
    return RuntimeError("plugin schemas are not registered: import konnect_desktop.plugins first")


def check_plugin(data: JSONObject, *, strict: bool = True, fill_defaults: bool = True) -> tuple[JSONObject, JSONObject]:
    if _check is None:
        raise _missing()
    return _check(data, strict=strict, fill_defaults=fill_defaults)


def plugin_entity_schema(name: str | None) -> Schema:
    if _entity_schema is None:
        raise _missing()
    return _entity_schema(name)


__all__ = ["register", "check_plugin", "plugin_entity_schema"]
