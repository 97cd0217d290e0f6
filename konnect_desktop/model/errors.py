"""Kong-shaped errors.

Every door of the app (Admin API, decK files, GUI forms, CLI) reports problems in the shape Kong
Gateway uses, so users and third-party clients see the same words everywhere. The codes, names and
message formats follow Kong's ``kong/db/errors.lua``.
"""

from __future__ import annotations

from ..credentials import mask_text
from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue

# code -> (name, HTTP status)
CODES: dict[int, tuple[str, int]] = {
    1: ("invalid primary key", 400),
    2: ("schema violation", 400),
    3: ("primary key violation", 400),
    4: ("foreign key violation", 400),
    5: ("unique constraint violation", 409),
    6: ("not found", 404),
    7: ("invalid offset", 400),
    8: ("database error", 500),
    9: ("invalid size", 400),
    10: ("invalid unique %s", 400),
    11: ("invalid options", 400),
    12: ("operation unsupported", 405),
    13: ("foreign keys unresolved", 400),
    14: ("invalid declarative configuration", 400),
    19: ("referenced by others", 400),
}

SCHEMA_VIOLATION = 2
FOREIGN_KEY_VIOLATION = 4
UNIQUE_VIOLATION = 5
NOT_FOUND = 6
INVALID_OFFSET = 7
INVALID_SIZE = 9
DECLARATIVE_CONFIG = 14


def lua_pretty(value: JSONValue, compact: bool = True) -> str:
    """Render a value the way Kong's ``pl.pretty.write`` does in error messages.

    ``compact`` mirrors ``pl_pretty(t, "")`` (no spaces, one line) which Kong uses for keys in
    unique / foreign-key messages; the indented form is used for nested schema errors.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        items = [lua_pretty(v, compact) for v in value]
    elif isinstance(value, dict):
        items = []
        for k in sorted(value, key=str):
            key = k if isinstance(k, str) and k.isidentifier() else f"[{lua_pretty(k)}]"
            sep = "=" if compact else " = "
            items.append(f"{key}{sep}{lua_pretty(value[k], compact)}")
    else:
        return str(value)
    if compact:
        return "{" + ",".join(items) + "}"
    return "{\n  " + ",\n  ".join(items) + "\n}"


class KongError(AppError):
    """An error with Kong's code/name/message/fields shape and its HTTP status."""

    status: int

    def __init__(
        self,
        code: int,
        message: str,
        fields: JSONObject | None = None,
        *,
        name: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        cname, cstatus = CODES.get(code, ("error", 400))
        self.code = code
        self.name = name or cname
        self.fields = fields
        self.status = status or cstatus

    def to_dict(self) -> JSONObject:
        body: JSONObject = {"code": self.code, "name": self.name, "message": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        return body

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"KongError({self.code}, {self.message!r})"


class NotFound(AppError):
    """The entity, its parent or the control plane does not exist (404): the store's, the Admin
    API's and every control plane backend's one kind. Kong answers ``{"message":"Not found"}``.
    ``target`` names the control plane that said so (masked: it may be a URL with a token)."""

    status = 404

    def __init__(self, message: str = "Not found", *, target: str | None = None) -> None:
        super().__init__(message)
        self.target = mask_text(target) if target else target

    def to_dict(self) -> JSONObject:
        return {"message": self.message}


def flatten_messages(fields: JSONObject) -> list[str]:
    """The parts of a schema-violation message, in Kong's order.

    Entity-level errors (``@entity``) first, then fields in sorted order; a nested record or array
    contributes ``field.sub: msg`` (one level, as Kong does; deeper values are pretty-printed).
    """
    parts: list[str] = []
    entity = fields.get("@entity")
    if entity:
        parts.extend(entity if isinstance(entity, list) else [entity])
    for name in sorted(k for k in fields if k != "@entity"):
        err = fields[name]
        if isinstance(err, dict):
            for sub in sorted(err, key=_sort_key):
                parts.append(f"{name}.{sub}: {_render(err[sub])}")
        elif isinstance(err, list):
            for i, sub_err in enumerate(err):
                if sub_err is not None:
                    parts.append(f"{name}.{i + 1}: {_render(sub_err)}")
        else:
            parts.append(f"{name}: {err}")
    return parts


def _sort_key(k: JSONValue) -> tuple[int, JSONValue]:
    return (0, k) if isinstance(k, int) else (1, str(k))


def _render(value: JSONValue) -> str:
    if isinstance(value, (dict, list)):
        if isinstance(value, list):
            value = {i + 1: v for i, v in enumerate(value) if v is not None}
        return lua_pretty(value, compact=False)
    return str(value)


def schema_violation(fields: JSONObject) -> KongError:
    parts = flatten_messages(fields)
    if len(parts) == 1:
        message = f"schema violation ({parts[0]})"
    else:
        message = f"{len(parts)} schema violations ({'; '.join(parts)})"
    return KongError(SCHEMA_VIOLATION, message, fields)


def unique_violation(key: JSONObject) -> KongError:
    return KongError(UNIQUE_VIOLATION, f"UNIQUE violation detected on '{lua_pretty(key)}'", key)


def foreign_key_invalid(field: str, key: JSONObject, parent_table: str) -> KongError:
    return KongError(
        FOREIGN_KEY_VIOLATION,
        f"the foreign key '{lua_pretty(key)}' does not reference an existing '{parent_table}' entity.",
        {field: key},
    )


def foreign_keys_unresolved(errors: dict[str, dict[str, str]]) -> KongError:
    """Code 13: a foreign key given by a unique field (``{"name": "echo"}``) matched nothing.
    ``errors`` maps the foreign field to ``{unique field: message}`` (``errors.lua``)."""
    parts = [f"{f}.{sub}: {msg}" for f in sorted(errors) for sub, msg in sorted(errors[f].items())]
    if len(parts) == 1:
        message = f"foreign key unresolved ({parts[0]})"
    else:
        message = f"{len(parts)} foreign keys unresolved ({'; '.join(parts)})"
    return KongError(13, message, errors)


def foreign_key_restricted(parent_table: str, child_table: str) -> KongError:
    return KongError(
        FOREIGN_KEY_VIOLATION,
        f"an existing '{child_table}' entity references this '{parent_table}' entity",
        {"@referenced_by": child_table},
    )


def invalid_size(message: str) -> KongError:
    return KongError(INVALID_SIZE, message)


def invalid_offset(offset: str, why: str) -> KongError:
    return KongError(INVALID_OFFSET, f"'{offset}' is not a valid offset: {why}")
