"""The schema language: one definition per entity and per plugin config.

A ``Schema`` is a list of named ``Field``s plus entity checks (cross-field rules). From it come:
validation with Kong's error words and shapes (``Schema.validate``), default filling, partial
updates (``Schema.merge``), Kong's ``/schemas`` JSON (``Schema.to_kong``) that forms are generated
from, and the field list the GUI renders. Nothing else in the app defines a field.

Validation follows Kong's ``kong/db/schema/init.lua``: types first, then validators in Kong's
order (one_of, gt, uuid, between, lengths, starts_with, not_match, match, custom), then entity
checks on fields that passed.
"""

from __future__ import annotations

import math
import re
import secrets
import time
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final, TypedDict, Unpack

from ..jsontypes import JSONArray, JSONObject, JSONValue
from .errors import KongError, schema_violation


class _Unset:
    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final[Any] = _Unset()  # typed Any: it stands in any field's default and ``eq``

TYPE_ERRORS = {
    "string": "expected a string",
    "integer": "expected an integer",
    "number": "expected a number",
    "boolean": "expected a boolean",
    "array": "expected an array",
    "set": "expected a set",
    "map": "expected a map",
    "record": "expected a record",
    "foreign": "expected a record",
}
REQUIRED = "required field missing"
UNKNOWN = "unknown field"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

Validator = Callable[[JSONValue], "str | JSONObject | None"]  # an error (a map's may name its keys)


def is_uuid(value: object) -> bool:
    """A UUID as Kong's ``typedefs.uuid`` accepts it (canonical, hyphenated, any case)."""
    return isinstance(value, str) and UUID_RE.match(value) is not None


def foreign_id(ref: JSONValue) -> str | None:
    """The id a foreign key names, written as Kong writes it (``{"id": ...}``) or as a bare id;
    None when it names none."""
    if isinstance(ref, dict):
        ref = ref.get("id")
    return ref if isinstance(ref, str) else None


@dataclass(eq=False)
class Field:
    """One field. Only ``type`` is mandatory; everything else mirrors Kong's field attributes."""

    type: str
    required: bool = False
    default: JSONValue = UNSET
    description: str | None = None
    one_of: Sequence[JSONValue] | None = None
    not_one_of: Sequence[JSONValue] | None = None  # error "must not be one of: ..."
    eq: JSONValue = UNSET  # Kong's ``eq``; ``eq=None`` is ``eq = null``: the field must stay unset
    between: tuple[float, float] | None = None
    gt: float | None = None
    len_eq: int | None = None
    len_min: int | None = None
    len_max: int | None = None
    starts_with: str | None = None
    match: re.Pattern[str] | str | None = None  # error "invalid value: <v>"
    not_match: re.Pattern[str] | str | None = None
    uuid: bool = False
    custom: Validator | None = None  # returns an error (a message; a map's may be a dict) or None
    elements: Field | None = None
    keys: Field | None = None
    values: Field | None = None
    fields: list[tuple[str, Field]] | None = None
    entity_checks: list[Check] = field(default_factory=list)
    reference: str | None = None  # foreign: the referenced table
    on_delete: str | None = None  # foreign: "cascade" | "restrict" | None (set null)
    unique: bool = False
    auto: bool = False  # generated on insert (ids, timestamps)
    timestamp: bool = False
    immutable: bool = False
    nullable: bool = True
    secret: bool = False  # masked in logs, exports and screenshots (Kong's ``encrypted``)
    referenceable: bool = False  # may hold a vault reference ``{vault://...}`` (secret fields always may)
    ui: JSONObject = field(default_factory=dict)  # hints for form rendering (multiline, ...)

    # -- helpers -----------------------------------------------------------------------------
    def field_map(self) -> dict[str, Field]:
        return dict(self.fields or ())

    def with_(self, **changes: Any) -> Field:  # Field's own keywords, checked by dataclasses.replace
        return replace(self, **changes)


class FieldOptions(TypedDict, total=False):
    """The keyword arguments the constructors below pass on to ``Field`` (its attributes other
    than the type and the nested fields, which the constructors take by name)."""

    required: bool
    default: JSONValue
    description: str | None
    one_of: Sequence[JSONValue] | None
    not_one_of: Sequence[JSONValue] | None
    eq: JSONValue
    between: tuple[float, float] | None
    gt: float | None
    len_eq: int | None
    len_min: int | None
    len_max: int | None
    starts_with: str | None
    match: re.Pattern[str] | str | None
    not_match: re.Pattern[str] | str | None
    uuid: bool
    custom: Validator | None
    on_delete: str | None
    unique: bool
    auto: bool
    timestamp: bool
    immutable: bool
    nullable: bool
    secret: bool
    referenceable: bool
    ui: JSONObject


# -- constructors -------------------------------------------------------------------------------
def String(**kw: Unpack[FieldOptions]) -> Field:
    return Field("string", **kw)


def Integer(**kw: Unpack[FieldOptions]) -> Field:
    return Field("integer", **kw)


def Number(**kw: Unpack[FieldOptions]) -> Field:
    return Field("number", **kw)


def Boolean(**kw: Unpack[FieldOptions]) -> Field:
    return Field("boolean", **kw)


def Array(elements: Field, **kw: Unpack[FieldOptions]) -> Field:
    return Field("array", elements=elements, **kw)


def Set(elements: Field, **kw: Unpack[FieldOptions]) -> Field:
    return Field("set", elements=elements, **kw)


def Map(keys: Field, values: Field, **kw: Unpack[FieldOptions]) -> Field:
    return Field("map", keys=keys, values=values, **kw)


def Record(fields: list[tuple[str, Field]], entity_checks: list[Check] | None = None, **kw: Unpack[FieldOptions]) -> Field:
    return Field("record", fields=fields, entity_checks=entity_checks or [], **kw)


def OptionalRecord(fields: list[tuple[str, Field]], entity_checks: list[Check] | None = None, **kw: Unpack[FieldOptions]) -> Field:
    """A record Kong declares ``required = false``: null unless given (other records are filled
    with their fields' defaults, as Kong's entities make records required by default)."""
    kw["ui"] = {"null_default": True, **kw.get("ui", {})}
    return Record(fields, entity_checks, **kw)


def Foreign(reference: str, **kw: Unpack[FieldOptions]) -> Field:
    return Field("foreign", reference=reference, **kw)


# -- entity checks ------------------------------------------------------------------------------
def _get(entity: JSONValue, path: str) -> JSONValue:
    cur = entity
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _nonempty(v: JSONValue) -> bool:
    return not (v is None or v == "" or (isinstance(v, (list, dict)) and not v))


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


class Check:
    """A cross-field rule. ``run`` returns field errors ({"@entity": [...], ...}) or None."""

    # Kong skips most checks while one of their fields is invalid; a few run regardless
    run_with_invalid_fields: ClassVar[bool] = False

    def run(self, entity: JSONObject) -> JSONObject | None:  # pragma: no cover
        raise NotImplementedError

    def to_kong(self) -> JSONObject:  # pragma: no cover
        raise NotImplementedError


@dataclass
class _CountCheck(Check):
    """A rule on how many of ``fields`` are non-empty; subclasses name Kong's check and words."""

    fields: Sequence[str]
    kong_name: ClassVar[str]
    message: ClassVar[str]  # Kong's words; {} takes the quoted field list

    def allowed(self, n: int) -> bool:  # pragma: no cover - each subclass says
        raise NotImplementedError

    def run(self, entity: JSONObject) -> JSONObject | None:
        n = sum(1 for f in self.fields if _nonempty(_get(entity, f)))
        if self.allowed(n):
            return None
        return {"@entity": [self.message.format(_quoted(self.fields))]}

    def to_kong(self) -> JSONObject:
        return {self.kong_name: list(self.fields)}


class AtLeastOneOf(_CountCheck):
    kong_name = "at_least_one_of"
    run_with_invalid_fields = True
    message = "at least one of these fields must be non-empty: {}"

    def allowed(self, n: int) -> bool:
        return n >= 1


class OnlyOneOf(_CountCheck):
    """Kong's ``only_one_of``: exactly one of the fields non-empty (Kong's own words say so).
    For "at most one" use ``MutuallyExclusive``."""

    kong_name = "only_one_of"
    message = "exactly one of these fields must be non-empty: {}"

    def allowed(self, n: int) -> bool:
        return n == 1


class ExactlyOneOf(OnlyOneOf):
    kong_name = "exactly_one_of"


class MutuallyRequired(_CountCheck):
    kong_name = "mutually_required"
    message = "all or none of these fields must be set: {}"

    def allowed(self, n: int) -> bool:
        return n in (0, len(self.fields))


class MutuallyExclusive(_CountCheck):
    kong_name = "mutually_exclusive"
    message = "only one or none of these fields must be set: {}"

    def allowed(self, n: int) -> bool:
        return n <= 1


@dataclass
class Conditional(Check):
    """If ``if_field`` satisfies ``if_match``, ``then_field`` must satisfy ``then_match``.

    Matches are dicts of validator attributes, e.g. ``{"one_of": ["redis"]}`` or
    ``{"required": True}``. Failing adds the then-field's error and Kong's @entity line.
    """

    if_field: str
    if_match: JSONObject
    then_field: str
    then_match: JSONObject
    then_err: str | None = None
    run_with_invalid_fields: ClassVar[bool] = True

    @property
    def fields(self) -> Sequence[str]:
        return (self.if_field, self.then_field)

    def run(self, entity: JSONObject) -> JSONObject | None:
        if_value = _get(entity, self.if_field)
        # Kong does not run the check without its if-field (that field's own error says why)
        if if_value is None or _match_attrs(self.if_match, if_value) is not None:
            return None
        err = _match_attrs(self.then_match, _get(entity, self.then_field))
        if err is None:
            return None
        # Kong: the then-field gets the validator's words; @entity gets ``then_err`` (its
        # ``%s`` is the if-field) or the generic conditional sentence
        entity_err = (self.then_err.replace("%s", self.if_field) if self.then_err
                      else f"failed conditional validation given value of field '{self.if_field}'")
        out: JSONObject = {"@entity": [entity_err]}
        _set_path(out, self.then_field, err)
        return out

    def to_kong(self) -> JSONObject:
        d: JSONObject = {"if_field": self.if_field, "if_match": self.if_match,
                             "then_field": self.then_field, "then_match": self.then_match}
        if self.then_err:
            d["then_err"] = self.then_err
        return {"conditional": d}


@dataclass
class ConditionalAtLeastOneOf(Check):
    """Kong's ``conditional_at_least_one_of``: when ``if_field`` satisfies ``if_match``, at least
    one of ``then_at_least_one_of`` must be non-empty. ``then_err`` may hold ``{}`` for the quoted
    field list (Kong's ``%s``)."""

    if_field: str
    if_match: JSONObject
    then_at_least_one_of: Sequence[str]
    then_err: str | None = None
    run_with_invalid_fields: ClassVar[bool] = True

    @property
    def fields(self) -> Sequence[str]:
        return (self.if_field, *self.then_at_least_one_of)

    def run(self, entity: JSONObject) -> JSONObject | None:
        value = _get(entity, self.if_field)
        if value is None or _match_attrs(self.if_match, value) is not None:
            return None
        if any(_nonempty(_get(entity, f)) for f in self.then_at_least_one_of):
            return None
        names = _quoted(self.then_at_least_one_of)
        msg = self.then_err.format(names) if self.then_err else AtLeastOneOf.message.format(names)
        return {"@entity": [msg]}

    def to_kong(self) -> JSONObject:
        d: JSONObject = {"if_field": self.if_field, "if_match": self.if_match,
                             "then_at_least_one_of": list(self.then_at_least_one_of)}
        if self.then_err:
            d["then_err"] = self.then_err.replace("{}", "%s")
        return {"conditional_at_least_one_of": d}


@dataclass
class Custom(Check):
    """A rule in code: ``fn(entity)`` returns None, a message for @entity, or field errors."""

    fields: Sequence[str]
    fn: Callable[[JSONObject], str | JSONObject | None]
    name: str = "custom_entity_check"

    def run(self, entity: JSONObject) -> JSONObject | None:
        res = self.fn(entity)
        if res is None:
            return None
        if isinstance(res, str):
            return {"@entity": [res]}
        return res

    def to_kong(self) -> JSONObject:
        return {self.name: {"field_sources": list(self.fields)}}


def _match_attrs(attrs: JSONObject, value: JSONValue) -> str | None:
    if attrs.get("required") and value is None:
        return REQUIRED
    if value is None:
        return None if "eq" not in attrs or attrs["eq"] is None else f"value must be {_lua_str(attrs['eq'])}"
    if "eq" in attrs and value != attrs["eq"]:
        return f"value must be {_lua_str(attrs['eq'])}"
    if "not_one_of" in attrs and value in attrs["not_one_of"]:
        return "must not be one of: " + ", ".join(map(_lua_str, attrs["not_one_of"]))
    if "one_of" in attrs and value not in attrs["one_of"]:
        return "expected one of: " + ", ".join(map(_lua_str, attrs["one_of"]))
    if "gt" in attrs and not (isinstance(value, (int, float)) and value > attrs["gt"]):
        return f"value must be greater than {attrs['gt']}"
    if "contains" in attrs and not (isinstance(value, (list, tuple)) and attrs["contains"] in value):
        return f"expected to contain: {attrs['contains']}"
    return None


def _set_path(out: JSONObject, path: str, err: JSONValue) -> None:
    parts = path.split(".")
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur.setdefault(parts[-1], err)


def _merge_errors(into: JSONObject, new: JSONObject) -> None:
    for k, v in new.items():
        if k == "@entity":
            have = into.get("@entity")
            # an input key literally named "@entity" is an unknown field (a string error)
            into["@entity"] = ([] if have is None else have if isinstance(have, list) else [have]) + list(v)
        elif isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge_errors(into[k], v)
        else:
            into.setdefault(k, v)


def _error_paths(errors: JSONObject, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in errors.items():
        p = f"{prefix}{k}"
        out.add(p)
        if isinstance(v, dict):
            out |= _error_paths(v, p + ".")
    return out


# -- validation ---------------------------------------------------------------------------------
def _type_ok(f: Field, value: JSONValue) -> tuple[bool, JSONValue]:
    t = f.type
    if t == "string":
        return isinstance(value, str), value
    if t == "boolean":
        return isinstance(value, bool), value
    if t == "integer":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)
        return False, value
    if t == "number":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)) and (not isinstance(value, float) or math.isfinite(value)):
            return True, value
        return False, value
    if t in ("array", "set"):
        return isinstance(value, list), value
    if t in ("map", "record", "foreign"):
        return isinstance(value, dict), value
    return True, value


def _regex_search(pattern: re.Pattern[str] | str, value: str) -> bool:
    if isinstance(pattern, str):
        pattern = re.compile(pattern)
    return pattern.search(value) is not None


def validate_value(f: Field, value: JSONValue) -> tuple[JSONValue, JSONValue]:
    """Validate one (present, non-null) value. Returns (processed value, error or None).

    Errors are strings for scalars, dicts for records/maps, lists (None where valid) for arrays.
    A referenceable field holding a vault reference is valid as it is (Kong checks the resolved
    value when it uses it).
    """
    if f.eq is None:  # Kong checks ``eq = null`` before the type: any value is refused
        return value, "value must be null"
    if (f.referenceable or f.secret) and isinstance(value, str) and is_reference(value):
        return value, None
    ok, value = _type_ok(f, value)
    if not ok:
        return value, TYPE_ERRORS.get(f.type, "invalid value")

    if f.type == "string" and (f.referenceable or f.secret) and _is_reference(value):
        return value, None  # a vault reference ({vault://...}): resolved at run time, not checked
    if f.eq is not UNSET and value != f.eq:
        return value, f"value must be {_lua_str(f.eq)}"
    if f.not_one_of is not None and value in f.not_one_of:
        return value, "must not be one of: " + ", ".join(map(_lua_str, f.not_one_of))
    if f.one_of is not None and value not in f.one_of:
        return value, "expected one of: " + ", ".join(map(_lua_str, f.one_of))
    if f.gt is not None and not value > f.gt:
        return value, f"value must be greater than {_num(f.gt)}"
    if f.uuid and not (isinstance(value, str) and UUID_RE.match(value)):
        return value, "expected a valid UUID"
    if f.between is not None and not (f.between[0] <= value <= f.between[1]):
        return value, f"value should be between {int(f.between[0])} and {int(f.between[1])}"
    if f.len_eq is not None and len(value) != f.len_eq:
        return value, f"length must be {f.len_eq}"
    len_min = f.len_min if f.len_min is not None or f.type != "string" else 1  # Kong: no empty strings
    if len_min is not None and len(value) < len_min:
        return value, f"length must be at least {len_min}"
    if f.len_max is not None and len(value) > f.len_max:
        return value, f"length must be at most {f.len_max}"
    if f.starts_with is not None and not value.startswith(f.starts_with):
        return value, f"should start with: {f.starts_with}"
    if f.not_match is not None and _regex_search(f.not_match, value):
        return value, f"invalid value: {value}"
    if f.match is not None and not _regex_search(f.match, value):
        return value, f"invalid value: {value}"

    # containers
    if f.type in ("array", "set") and f.elements is not None:
        # Kong validates every element as given (error positions are the input's), then a set
        # drops duplicates.
        out: JSONArray = []
        errs: JSONArray = []
        any_err = False
        for item in value:
            if item is None:
                out.append(item)
                errs.append(REQUIRED)
                any_err = True
                continue
            pv, err = validate_value(f.elements, item)
            out.append(pv)
            errs.append(err)
            any_err = any_err or err is not None
        if f.type == "set":
            seen: JSONArray = []
            for v in out:
                if v not in seen:
                    seen.append(v)
            out = seen
        value = out
        if any_err:
            return value, errs
    elif f.type == "map" and f.keys is not None and f.values is not None:
        # Kong reports a map's first bad key or value as the map field's one error.
        out_map: JSONObject = {}
        for k, v in value.items():
            _, kerr = validate_value(f.keys, k)
            if kerr is not None:
                return value, kerr
            if v is None:
                return value, REQUIRED
            pv, verr = validate_value(f.values, v)
            if verr is not None:
                return value, verr
            out_map[k] = pv
        value = out_map
    elif f.type == "record" and f.fields is not None:
        rec, rec_errs = _validate_record(f.fields, f.entity_checks, value, fill_defaults=True)
        value = rec
        if rec_errs:
            return value, rec_errs
    elif f.type == "foreign":
        fid = value.get("id")
        if fid is None:
            return value, {"id": "missing primary key"}
        if not (isinstance(fid, str) and UUID_RE.match(fid)):
            return value, {"id": "expected a valid UUID"}
        value = {"id": fid}

    if f.custom is not None:
        err = f.custom(value)
        if err is not None:
            return value, err
    return value, None


def is_reference(value: str) -> bool:
    """Kong's ``kong.vault.is_reference``: ``{vault://...}``."""
    return value.startswith("{vault://") and value.endswith("}") and len(value) > 10


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _is_reference(value: str) -> bool:
    """Kong's ``kong.vault.is_reference``: ``{vault://...}``."""
    return value.startswith("{vault://") and value.endswith("}")


def _lua_str(v: JSONValue) -> str:
    """A value as Lua's ``tostring`` writes it in Kong's messages (``true``, ``nil`` -> ``null``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def default_for(f: Field) -> JSONValue:
    """The value a missing field takes on insert."""
    if f.default is not UNSET:
        d = f.default
        return [*d] if isinstance(d, list) else ({**d} if isinstance(d, dict) else d)
    if f.auto:
        if f.uuid:
            return str(uuid_mod.uuid4())
        if f.timestamp:
            return int(time.time())
        if f.type == "string":  # Kong: an auto string is kong.tools.rand.random_string()
            return "".join(secrets.choice(_ALNUM) for _ in range(32))
    if f.type == "record" and f.fields is not None and not (f.nullable and not f.required and f.ui.get("null_default")):
        return {name: default_for(sub) for name, sub in f.fields}
    return None


def _validate_record(
    fields: list[tuple[str, Field]],
    checks: list[Check],
    data: JSONObject,
    *,
    fill_defaults: bool,
) -> tuple[JSONObject, JSONObject]:
    errors: JSONObject = {}
    out: JSONObject = {}
    known = {name for name, _ in fields}
    for k in data:
        if k not in known:
            errors[k] = UNKNOWN
    for name, f in fields:
        if name in data:
            value = data[name]
        elif fill_defaults:
            value = default_for(f)
        else:
            continue
        if value is None and f.type == "record" and f.fields is not None and not f.nullable:
            value = default_for(f)
        if value is None:
            out[name] = None
            if f.required:
                errors[name] = REQUIRED
            continue
        pv, err = validate_value(f, value)
        out[name] = pv
        if err is not None:
            errors[name] = err
    if checks:
        bad = _error_paths(errors)
        for check in checks:
            # Kong runs at_least_one_of even when its fields are invalid; other checks wait.
            if not check.run_with_invalid_fields and any(p in bad for p in getattr(check, "fields", ())):
                continue
            res = check.run(out)
            if res:
                _merge_errors(errors, res)
    return out, errors


@dataclass(eq=False)
class Schema:
    """An entity's or a plugin config's schema."""

    name: str
    fields: list[tuple[str, Field]]
    entity_checks: list[Check] = field(default_factory=list)
    description: str | None = None

    def __post_init__(self) -> None:
        self._by_name = dict(self.fields)

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def get(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def field_at(self, path: str) -> Field | None:
        """``config.redis.host`` → that nested field."""
        parts = path.split(".")
        f = self._by_name.get(parts[0])
        for p in parts[1:]:
            if f is None or f.fields is None:
                return None
            f = f.field_map().get(p)
        return f

    @property
    def field_names(self) -> list[str]:
        return [n for n, _ in self.fields]

    # -- validation ------------------------------------------------------------------------
    def check(self, data: JSONValue, *, fill_defaults: bool = True) -> tuple[JSONObject, JSONObject]:
        """Validate and fill defaults. Returns (processed entity, field errors ({} when valid))."""
        if not isinstance(data, dict):
            return {}, {"@entity": ["expected an input table"]}
        return _validate_record(self.fields, self.entity_checks, data, fill_defaults=fill_defaults)

    def validate(self, data: JSONValue, *, fill_defaults: bool = True) -> JSONObject:
        """Validate and fill defaults, or raise a Kong schema violation (code 2)."""
        out, errors = self.check(data, fill_defaults=fill_defaults)
        if errors:
            raise schema_violation(errors)
        return out

    def merge(self, existing: JSONObject, patch: JSONObject) -> JSONObject:
        """A partial update as Kong's PATCH does it: records merge deeply, the rest replaces."""
        merged: JSONObject = _merge_record(self.fields, existing, patch)  # a record merged into a record
        return merged

    # -- Kong's /schemas JSON --------------------------------------------------------------
    def to_kong(self) -> JSONObject:
        out: JSONObject = {"fields": [{n: field_to_kong(f)} for n, f in self.fields]}
        if self.entity_checks:
            out["entity_checks"] = [c.to_kong() for c in self.entity_checks]
        return out


def _merge_record(fields: list[tuple[str, Field]] | None, existing: JSONValue, patch: JSONValue) -> JSONValue:
    if not isinstance(existing, dict) or not isinstance(patch, dict) or fields is None:
        return patch
    fmap = dict(fields)
    out = dict(existing)
    for k, v in patch.items():
        f = fmap.get(k)
        if f is not None and f.type == "record" and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_record(f.fields, out[k], v)
        else:
            out[k] = v
    return out


def field_to_kong(f: Field) -> JSONObject:
    """One field in the JSON shape of Kong's ``GET /schemas/...`` answers."""
    d: JSONObject = {"type": f.type}
    if f.required:
        d["required"] = True
    if f.default is not UNSET:
        d["default"] = f.default
    if f.description:
        d["description"] = f.description
    if f.eq is not UNSET:
        d["eq"] = f.eq
    for attr in ("one_of", "not_one_of", "gt", "len_eq", "len_min", "len_max", "starts_with", "reference", "on_delete"):
        v = getattr(f, attr)
        if v is not None:
            d[attr] = list(v) if isinstance(v, (list, tuple)) else v
    if f.between is not None:
        d["between"] = list(f.between)
    if f.match is not None:
        d["match"] = getattr(f.match, "pattern", f.match)
    if f.uuid:
        d["uuid"] = True
    for flag in ("unique", "auto", "timestamp", "immutable"):
        if getattr(f, flag):
            d[flag] = True
    if f.secret:
        d["encrypted"] = True
    if f.secret or f.referenceable:
        d["referenceable"] = True
    if f.type == "record" and not f.nullable:
        d["nullable"] = False
    if f.elements is not None:
        d["elements"] = field_to_kong(f.elements)
    if f.keys is not None:
        d["keys"] = field_to_kong(f.keys)
    if f.values is not None:
        d["values"] = field_to_kong(f.values)
    if f.fields is not None:
        d["fields"] = [{n: field_to_kong(sub)} for n, sub in f.fields]
        if f.entity_checks:
            d["entity_checks"] = [c.to_kong() for c in f.entity_checks]
    if f.ui:
        d["x-ui"] = dict(f.ui)
    return d


def field_from_kong(d: JSONObject) -> Field:
    """Rebuild a Field from Kong's schema JSON (a remote gateway's ``/schemas/plugins/{name}``),
    so plugins we do not bundle still get a form. Custom validators cannot travel; Kong re-checks."""
    kw: dict[str, Any] = {"type": d.get("type", "string")}  # Field's keywords (nested Fields, tuples)
    for attr in ("required", "description", "one_of", "not_one_of", "eq", "referenceable", "gt", "len_eq", "len_min", "len_max",
                 "starts_with", "reference", "uuid", "unique", "auto", "timestamp", "immutable"):
        if attr in d:
            kw[attr] = d[attr]
    if "default" in d:
        kw["default"] = d["default"]
    if "between" in d:
        kw["between"] = tuple(d["between"])
    if d.get("encrypted"):
        kw["secret"] = True
    if "elements" in d:
        kw["elements"] = field_from_kong(d["elements"])
    if "keys" in d:
        kw["keys"] = field_from_kong(d["keys"])
    if "values" in d:
        kw["values"] = field_from_kong(d["values"])
    if "fields" in d:
        kw["fields"] = [(n, field_from_kong(v)) for item in d["fields"] for n, v in item.items()]
    if "x-ui" in d:
        kw["ui"] = dict(d["x-ui"])
    if kw["type"] == "record" and d.get("nullable") is False:
        kw["nullable"] = False
    return Field(**kw)


def schema_from_kong(name: str, d: JSONObject) -> Schema:
    fields = [(n, field_from_kong(v)) for item in d.get("fields", []) for n, v in item.items()]
    return Schema(name, fields)


__all__ = [
    "UNSET", "Field", "Schema", "Check", "String", "Integer", "Number", "Boolean", "Array", "Set",
    "Map", "Record", "OptionalRecord", "Foreign", "AtLeastOneOf", "OnlyOneOf", "ExactlyOneOf", "MutuallyRequired",
    "MutuallyExclusive", "Conditional", "ConditionalAtLeastOneOf", "Custom", "KongError", "validate_value", "default_for",
    "field_to_kong", "field_from_kong", "schema_from_kong",
]
