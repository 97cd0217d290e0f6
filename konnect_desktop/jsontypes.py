"""Names for data that is JSON: decoded documents whose shape is checked at run time.

Kong's entities, plugin configurations, decK files, Admin API bodies, OpenAPI documents and the
error trees answered for them are JSON (or YAML read as JSON). The schema language
(``model/schema.py``) checks their shape when they arrive; the type checker cannot, so their
values are ``Any``, written through these names only. Every other ``Any`` in the package then
stands out, and ``tests/test_types.py`` keeps a budget of those per layer.

A recursive union (``None | bool | int | float | str | list[...] | dict[str, ...]``) would be
more exact, but every read of an entity field would then need an ``isinstance`` the schema has
already done; the names say what the data is without that cost.

- ``JSONValue``: one decoded JSON value (null, boolean, number, string, array or object).
- ``JSONObject``: a JSON object: an entity, a plugin configuration, a request body, an error tree.
- ``JSONArray``: a JSON array.
"""

from __future__ import annotations

from typing import Any, TypeAlias

JSONValue: TypeAlias = Any
JSONObject: TypeAlias = dict[str, JSONValue]
JSONArray: TypeAlias = list[JSONValue]

__all__ = ["JSONArray", "JSONObject", "JSONValue"]
