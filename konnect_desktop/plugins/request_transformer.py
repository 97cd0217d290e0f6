"""request-transformer: rewrite the request before it goes upstream (Kong's bundled plugin).

Order, as Kong runs it: ``replace.uri`` → ``http_method`` → headers → body → querystring; inside
headers, body and querystring: remove → rename → replace → add → append. Values may be templates
(``$(headers.host)``, ``$(query_params.q)``, ``$(uri_captures.name)``, …) compiled once per
config by :mod:`.templates` and rendered per request; a render error answers 500.

The template environment is loaded lazily, as in Kong: ``headers`` and ``query_params`` are the
request as this plugin received it (earlier plugins' changes included, this plugin's own not),
``headers.host`` is the Host the client sent, ``uri_captures`` the route's regex captures and
``shared`` the request's shared table (``kong.ctx.shared``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from multidict import CIMultiDict

from ..jsontypes import JSONObject
from ..model.schema import Array, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices
from .http_util import (
    FORM,
    JSON,
    MULTIPART,
    UNEXPECTED,
    Args,
    Multipart,
    append_value,
    args_from_multidict,
    content_kind,
    decode_args,
    encode_form,
    is_header_name,
    is_header_value,
    json_dumps,
    multidict_from_args,
    split_entry,
)
from .templates import (
    LazyEnv,
    LuaTable,
    LuaValue,
    Template,
    TemplateError,
    TemplateSyntaxError,
    compile_template,
    header_key,
)

NAME = "request-transformer"
PRIORITY = 801
log = logging.getLogger(__name__)


# -- schema ---------------------------------------------------------------------------------------
def _check_for_value(entry: str) -> str | None:
    """body/querystring entries: ``name:value`` with a non-empty value that compiles."""
    name, value = split_entry(entry)
    if name is None or value == "":
        return f"key '{name or ''}' has no value"
    try:
        compile_template(value)
    except TemplateSyntaxError as exc:
        return f"value '{value}' is not in supported format, error:{exc}"
    return None


def _validate_header_pair(entry: str, value_check: Any = None) -> str | None:
    name, value = split_entry(entry)
    if name is None or not is_header_name(name):
        return f"'{name}' is not a valid header"
    if value_check is not None and not value_check(value):
        return f"'{value}' is not a valid header"
    return None


def _header_only(entry: str) -> str | None:
    return _validate_header_pair(entry)


def _header_and_value(entry: str) -> str | None:
    return _validate_header_pair(entry, is_header_value)


def _header_and_header(entry: str) -> str | None:
    return _validate_header_pair(entry, is_header_name)


_COLON = r"^[^:]+:.*$"


def _array(desc: str, **elem: Any) -> Any:
    return Array(String(**elem), default=[], required=True, description=desc)


def _section(verb: str, what: str, *, colon: bool, headers_rule: Any, uri: bool = False) -> Any:
    fmt = "`name:value`" if colon else "names"
    fields = [
        ("body", _array(f"Body parameters to {verb}, as {fmt}. Applies to JSON, url-encoded form and multipart bodies{what}.",
                        custom=_check_for_value if colon else None)),
        ("headers", _array(f"Headers to {verb}, as {fmt if verb != 'rename' else '`old:new`'}.",
                           match=_COLON if colon else None, custom=headers_rule)),
        ("querystring", _array(f"Query-string parameters to {verb}, as {fmt if verb != 'rename' else '`old:new`'}.",
                               custom=_check_for_value if colon else None)),
    ]
    if uri:
        fields.append(("uri", String(description="Replaces the upstream request path (the query string is kept). May use templates, e.g. `/v2/$(uri_captures.id)`.")))
    return Record(fields, nullable=False, description=f"Values to {verb}.")


CONFIG = Record(
    [
        ("http_method", String(match=r"^[A-Z]+$", description="Changes the HTTP method of the upstream request (uppercase, e.g. `POST`). Changing to GET, HEAD or TRACE moves a url-encoded form body into the query string.")),
        ("remove", _section("remove", "", colon=False, headers_rule=_header_only)),
        ("rename", _section("rename", " (`old:new`)", colon=True, headers_rule=_header_and_header)),
        ("replace", _section("replace", " (only existing keys are replaced)", colon=True, headers_rule=_header_and_value, uri=True)),
        ("add", _section("add", " (only keys not already present are added)", colon=True, headers_rule=_header_and_value)),
        ("append", _section("append", " (adds another value, keeping existing ones; not supported for multipart)", colon=True, headers_rule=_header_and_value)),
    ],
    nullable=False,
    description="How to rewrite requests before proxying them.",
)


# -- compiled config ------------------------------------------------------------------------------
class _Broken:
    """A value whose template failed to compile: rendering it is a 500, as in Kong."""

    def __init__(self, source: str, error: str) -> None:
        self.source = source
        self.error = error


Value = Template | _Broken | None
Entry = tuple[str, Value]
_SECTIONS = ("remove", "rename", "replace", "add", "append")
_BODY_TO_QUERY = ("GET", "HEAD", "TRACE")  # a method change to these moves a form body to the query


def _compile_value(value: str) -> Value:
    if value == "":
        return None
    try:
        return compile_template(value)
    except TemplateSyntaxError as exc:
        return _Broken(value, str(exc))


def _compile_entries(entries: list[str] | None, names_only: bool = False) -> list[Entry]:
    out: list[Entry] = []
    for raw in entries or ():
        name, value = split_entry(raw)
        if name is None:
            continue
        out.append((name, None if names_only else _compile_value(value)))
    return out


# the tables a template reads (Kong's request-transformer template environment), built on first use
_ENV_TABLES: dict[str, Callable[[RequestContext], LuaValue]] = {
    "headers": lambda ctx: _headers_table(ctx),  # (defined below)
    "query_params": lambda ctx: args_from_multidict(ctx.query),
    "uri_captures": lambda ctx: LuaTable(ctx.uri_captures),
    "shared": lambda ctx: ctx.shared,
}


def _render(value: Value, env: LazyEnv) -> str | None:
    if value is None:
        return None
    if isinstance(value, _Broken):
        raise TemplateError(f"failed to render the template {value.source}, error:invalid template: {value.error}")
    if value.is_plain:
        return value.source
    try:
        return value.render(env)
    except TemplateError as exc:  # Kong's words (access.lua), naming the configured value
        raise TemplateError(f"failed to render the template {value.source}, error:{exc}") from None


def _render_failed(ctx: RequestContext, exc: TemplateError) -> Exception:
    """A template that cannot be rendered: Kong's 500, one log line (never a traceback)."""
    log.error("[%s] %s", NAME, exc)
    ctx.decisions.append(Decision(NAME, "error", str(exc), {"error": str(exc)}))
    return ctx.kong_error(500, UNEXPECTED)


class RequestTransformerHandler(Handler):
    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.http_method: str | None = config.get("http_method")
        self.ops: dict[str, dict[str, list[Entry]]] = {}
        for section in _SECTIONS:
            sec = config.get(section) or {}
            self.ops[section] = {
                part: _compile_entries(sec.get(part), names_only=section == "remove")
                for part in ("headers", "querystring", "body")
            }
        uri = (config.get("replace") or {}).get("uri")
        self.replace_uri: Value = _compile_value(uri) if uri else None
        self.has_headers = any(self.ops[s]["headers"] for s in _SECTIONS)
        # header rules that can be applied in place (see _headers_in_place): no rename/replace/
        # append, and every added value compiled (a broken one answers 500 with nothing changed)
        adds = [v for _n, v in self.ops["add"]["headers"]]
        self.headers_add_remove_only = (not any(self.ops[s]["headers"] for s in ("rename", "replace", "append"))
                                        and not any(isinstance(v, _Broken) for v in adds))
        self.add_header_templates = any(isinstance(v, Template) and not v.is_plain for v in adds)
        self.has_query = any(self.ops[s]["querystring"] for s in _SECTIONS)
        self.has_body = any(self.ops[s]["body"] for s in _SECTIONS)

    # -- the phase ------------------------------------------------------------------------------
    def _decide(self, ctx: RequestContext, done: list[str]) -> None:
        ctx.decisions.append(Decision.later(NAME, "transform" if done else "pass", _explain_changes, done))

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        """A plain call unless the body is read (body rules, or a method change that moves a
        url-encoded form into the query): then the coroutine that reads it."""
        if self.has_body or (self.http_method and self.http_method.upper() in _BODY_TO_QUERY
                             and content_kind(ctx.headers.get("Content-Type")) == FORM):
            return self._access_with_body(ctx)
        done: list[str] = []
        env = LazyEnv(_ENV_TABLES, ctx)
        try:
            if self.replace_uri is not None:
                res = _render(self.replace_uri, env)
                if res:
                    ctx.path = res
                    done.append(f"path → {res}")
            if self.http_method:
                method = self.http_method.upper()
                ctx.method = method
                done.append(f"method → {method}")
            if self.has_headers:
                self._transform_headers(ctx, env, done)
            if self.has_query:
                self._transform_query(ctx, env, done)
        except TemplateError as exc:
            raise _render_failed(ctx, exc) from None
        self._decide(ctx, done)
        return None

    async def _access_with_body(self, ctx: RequestContext) -> None:
        done: list[str] = []
        env = LazyEnv(_ENV_TABLES, ctx)
        try:
            if self.replace_uri is not None:
                res = _render(self.replace_uri, env)
                if res:
                    ctx.path = res
                    done.append(f"path → {res}")
            if self.http_method:
                await self._transform_method(ctx, done)
            if self.has_headers:
                self._transform_headers(ctx, env, done)
            if self.has_body:
                await self._transform_body(ctx, env, done)
            if self.has_query:
                self._transform_query(ctx, env, done)
        except TemplateError as exc:
            raise _render_failed(ctx, exc) from None
        self._decide(ctx, done)

    async def _transform_method(self, ctx: RequestContext, done: list[str]) -> None:
        assert self.http_method is not None
        method = self.http_method.upper()
        ctx.method = method
        done.append(f"method → {method}")
        if method in _BODY_TO_QUERY and content_kind(ctx.headers.get("Content-Type")) == FORM:
            params = decode_args(await ctx.read_body())
            if params:
                query = args_from_multidict(ctx.query)
                for name, value in params.items():
                    values = value if isinstance(value, list) else [value]
                    cur = query.get(name)
                    if cur is None:
                        query[name] = value
                    else:
                        query[name] = [*(cur if isinstance(cur, list) else [cur]), *values]
                _set_query(ctx, query)
                done.append("form fields → query")

    def _headers_in_place(self, ctx: RequestContext, env: LazyEnv, done: list[str]) -> bool:
        """``remove`` and ``add`` rules only, on headers with no name twice and Host (if any)
        first: then the rebuilt table of ``_transform_headers`` equals the current headers minus
        the removed ones plus the added ones at the end, which is cheaper done in place.
        False (nothing changed) when that does not hold."""
        headers = ctx.headers
        items = headers.items()  # (keys() of multidict 7 leaves out repeats)
        names = [k.lower() for k, _v in items]
        if len(set(names)) != len(names) or ("host" in names and next(iter(items))[0] != "Host"):
            return False
        if self.add_header_templates:
            env.get("headers")  # templates see the headers as this plugin received them
        ops = self.ops
        changed = 0
        for name, _ in ops["remove"]["headers"]:
            low = name.lower()
            if low != "host" and low in headers:
                del headers[name]
                changed += 1
        for name, value in ops["add"]["headers"]:
            if name.lower() == "host" or name in headers:
                continue
            rendered = _render(value, env)
            if rendered is None:
                continue
            headers.add(name, rendered)
            changed += 1
        if changed:
            done.append(f"headers: {changed} change{'s' if changed != 1 else ''}")
        return True

    def _transform_headers(self, ctx: RequestContext, env: LazyEnv, done: list[str]) -> None:
        if self.headers_add_remove_only and self._headers_in_place(ctx, env, done):
            return
        ops = {s: self.ops[s]["headers"] for s in _SECTIONS}
        # working table: lower-case name -> [name as sent, values]; Host is kept aside
        work: dict[str, list[Any]] = {}
        for name, value in ctx.headers.items():
            low = name.lower()
            if low == "host":
                continue
            if low in work:
                work[low][1].append(value)
            else:
                work[low] = [name, [value]]
        host_values = ctx.headers.getall("Host", [])
        new_host: str | None = None
        changed = 0

        for name, _ in ops["remove"]:
            if work.pop(name.lower(), None) is not None:
                changed += 1
        for old, tmpl in ops["rename"]:
            new = _render(tmpl, env)
            low = old.lower()
            if new is None or low not in work:
                continue
            values = work.pop(low)[1]
            work[new.lower()] = [new, values]
            changed += 1
        for name, tmpl in ops["replace"]:
            low = name.lower()
            if low != "host" and low not in work:
                continue
            rendered = _render(tmpl, env)
            if rendered is None:
                continue
            if low == "host":
                new_host = rendered
            else:
                work[low] = [work[low][0], [rendered]]
            changed += 1
        for name, tmpl in ops["add"]:
            low = name.lower()
            if low == "host" or low in work:
                continue
            rendered = _render(tmpl, env)
            if rendered is None:
                continue
            work[low] = [name, [rendered]]
            changed += 1
        for name, tmpl in ops["append"]:
            rendered = _render(tmpl, env)
            if rendered is None:
                continue
            low = name.lower()
            if low == "host":
                new_host = rendered
            elif low in work:
                work[low] = [name, [*work[low][1], rendered]]  # keeps the configured case
            else:
                work[low] = [name, [rendered]]
            changed += 1

        rebuilt: CIMultiDict[str] = CIMultiDict()
        if new_host is not None:
            rebuilt["Host"] = new_host
        else:
            for h in host_values:
                rebuilt.add("Host", h)
        for shown, values in work.values():
            for v in values:
                rebuilt.add(shown, v)
        ctx.headers.clear()
        ctx.headers.extend(rebuilt)
        if changed:
            done.append(f"headers: {changed} change{'s' if changed != 1 else ''}")

    def _transform_query(self, ctx: RequestContext, env: LazyEnv, done: list[str]) -> None:
        ops = {s: self.ops[s]["querystring"] for s in _SECTIONS}
        base = env.get("query_params") or {}
        query: Args = {k: (list(v) if isinstance(v, list) else v) for k, v in base.items()}
        _apply_args(query, ops, env)
        _set_query(ctx, query)
        done.append("query rewritten")

    async def _transform_body(self, ctx: RequestContext, env: LazyEnv, done: list[str]) -> None:
        content_type = ctx.headers.get("Content-Type")
        kind = content_kind(content_type)
        if kind is None:
            return
        body = await ctx.read_body()
        ops = {s: self.ops[s]["body"] for s in _SECTIONS}
        new: bytes | None
        if kind == JSON:
            new = self._json_body(body, ops, env)
        elif kind == FORM:
            new = self._form_body(body, ops, env)
        else:
            assert kind == MULTIPART
            new = self._multipart_body(body, content_type or "", ops, env)
        if new is not None:
            ctx.set_body(new)
            ctx.headers["Content-Length"] = str(len(new))
            done.append(f"{kind} body rewritten")

    @staticmethod
    def _json_body(body: bytes, ops: dict[str, list[Entry]], env: LazyEnv) -> bytes | None:
        params: Any = None
        if body:
            try:
                params = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return None  # malformed JSON goes upstream unchanged
            if not isinstance(params, dict):
                return None
        else:
            params = {}
        # a JSON false counts as absent for replace and add
        touched = _apply_args(params, ops, env, has_body=bool(body), false_is_absent=True)
        return json_dumps(params) if touched else None

    @staticmethod
    def _form_body(body: bytes, ops: dict[str, list[Entry]], env: LazyEnv) -> bytes | None:
        params = decode_args(body)
        touched = _apply_args(params, ops, env, has_body=bool(body))
        return encode_form(params).encode("utf-8") if touched else None

    @staticmethod
    def _multipart_body(body: bytes, content_type: str, ops: dict[str, list[Entry]], env: LazyEnv) -> bytes | None:
        parts = Multipart.parse(body, content_type)
        if parts is None:
            return None
        touched = False
        # Kong's multipart order: rename, remove, replace, add (append is not implemented)
        if body:
            for old, value in ops["rename"]:
                new = _render(value, env)
                content = parts.get(old)
                if new is not None and content is not None:
                    parts.set_simple(new, content)
                    parts.delete(old)
                    touched = True
            for name, _ in ops["remove"]:
                parts.delete(name)
                touched = True
            for name, value in ops["replace"]:
                if parts.get(name) is not None:
                    rendered = _render(value, env)
                    if rendered is not None:
                        parts.delete(name)
                        parts.set_simple(name, rendered)
                        touched = True
        for name, value in ops["add"]:
            if parts.get(name) is None:
                rendered = _render(value, env)
                if rendered is not None:
                    parts.set_simple(name, rendered)
                    touched = True
        return parts.to_bytes() if touched else None


def _apply_args(params: dict[str, Any], ops: dict[str, list[Entry]], env: LazyEnv, *,
                has_body: bool = True, false_is_absent: bool = False) -> bool:
    """Kong's remove → rename → replace → add → append on a name → value table (the query, a
    form body or a JSON body). remove, rename and replace act only on a non-empty body. Returns
    whether anything was (or may have been) changed."""

    def present(name: str) -> bool:
        return name in params and not (false_is_absent and params[name] is False)

    touched = False
    if has_body and ops["remove"]:
        for name, _ in ops["remove"]:
            params.pop(name, None)
        touched = True
    if has_body and ops["rename"]:
        for old, value in ops["rename"]:
            new = _render(value, env)
            if new is None:
                continue
            if old in params:
                params[new] = params.pop(old)
            else:
                params.pop(new, None)  # Kong assigns nil to the new name
        touched = True
    if has_body:
        for name, value in ops["replace"]:
            if present(name):
                rendered = _render(value, env)
                if rendered is not None:
                    params[name] = rendered
                    touched = True
    for name, value in ops["add"]:
        if not present(name):
            rendered = _render(value, env)
            if rendered is not None:
                params[name] = rendered
                touched = True
    for name, value in ops["append"]:
        rendered = _render(value, env)
        if rendered is not None:
            params[name] = append_value(params.get(name), rendered)
            touched = True
    return touched


def _headers_table(ctx: RequestContext) -> LuaTable:
    table: dict[str, Any] = {}
    for name, value in ctx.headers.items():
        low = name.lower()
        if low == "host":
            continue
        cur = table.get(low)
        table[low] = value if cur is None else ([*cur, value] if isinstance(cur, list) else [cur, value])
    host = ctx.original.headers.get("Host") or ctx.original.host
    if host:
        table["host"] = host
    return LuaTable(table, header_key)


def _set_query(ctx: RequestContext, query: Args) -> None:
    # Kong's set_query: a plain MultiDict, serialized sorted (even after a clear_query_arg left
    # an order-keeping SearchParams there)
    ctx.query = multidict_from_args(query)
    ctx.query_dirty = True


def _explain_changes(done: list[str]) -> tuple[str, JSONObject]:
    return ("; ".join(done) if done else "nothing to change"), {"changes": done}


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Transform the request before it reaches the upstream: headers, query string, body, method and path, with templates.",
    handler=RequestTransformerHandler,
    consumer_groups=True,
    any_protocol=True,
)
