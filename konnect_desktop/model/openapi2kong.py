"""OpenAPI 3 → decK configuration, the way decK's ``file openapi2kong`` converts it.

One service per document (from ``servers``; several servers or upstream defaults give an
upstream with one target per server), one regex route per path + method (path parameters
become named captures, anchored at the end), names slugified from ``x-kong-name``,
``info.title``, the path and ``operationId``, ids as UUIDv5 from those names, and the
``x-kong-*`` extensions honoured at document, path and operation level:
``x-kong-name``, ``x-kong-tags``, ``x-kong-service-defaults``, ``x-kong-upstream-defaults``,
``x-kong-route-defaults`` and ``x-kong-plugin-<name>`` (each may be a ``$ref`` into
``#/components/x-kong/``). A path or operation with its own servers or defaults gets its own
service. Required header parameters with an ``enum`` become one route per value combination
(plus the fallback route).

The reference is decK's converter and its test files (Kong/go-apiops, ``openapi2kong/``); the
ported cases live in ``tests/model/test_openapi2kong.py``. Deliberate differences, all kept
small: non-ASCII names are transliterated by Unicode decomposition (decK uses a full
transliteration table), Insomnia-compatible naming is not offered, and the
``request-validator`` plugin is carried as written instead of being generated from the
operation's schemas.

Pure: takes the parsed document (a dict), returns the decK document (a dict).
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue

FORMAT_VERSION = "3.0"
PRIORITY_WITH_PARAMS = 100
PRIORITY_PLAIN = 200  # paths without parameters win, as OpenAPI says
METHODS = ("delete", "get", "head", "options", "patch", "post", "put", "trace")  # sorted
_ESCAPED = "().+?*[$"
_PARAM = re.compile(r"{([^}]+)}")


class OpenAPIError(AppError, ValueError):
    """The document cannot be converted; the message says where and why."""


@dataclass
class Options:
    tags: list[str] | None = None  # None: take ``x-kong-tags``
    doc_name: str = ""  # base name (and UUID input); default x-kong-name, then info.title
    uuid_namespace: uuid.UUID = uuid.NAMESPACE_DNS
    skip_id: bool = False
    treat_all_headers_as_required: bool = False
    skip_route_by_header: bool = False
    reuse_services: bool = False
    generate_security: bool = False  # openid-connect plugins from openIdConnect security schemes
    ignore_security_errors: bool = False


# -- names ----------------------------------------------------------------------------------------

def _slug(text: str, *, sep: str, invalid: str) -> str:
    """decK's slugifier: ASCII-fold, join words with ``sep``, every other character not in
    ``[a-zA-Z0-9]`` becomes ``invalid``, runs of ``sep`` collapse, both ends trimmed, lower case."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = sep.join(text.split())
    text = re.sub(f"[^{re.escape(sep)}a-zA-Z0-9]", invalid, text)
    text = re.sub(f"{re.escape(sep)}{{2,}}", sep, text)
    text = text.strip(sep + invalid)
    return text.lower()


def slugify(text: str) -> str:
    return _slug(text, sep="-", invalid="-")


def capture_name(name: str) -> str:
    """A path parameter's name as a regex capture name (alphanumerics and ``_``)."""
    return _slug(name, sep="_", invalid="_")


# -- the document ---------------------------------------------------------------------------------

def _resolve(doc: JSONObject, node: JSONValue, seen: tuple[str, ...] = ()) -> JSONValue:
    """Follow a local ``$ref`` (``#/...``) to what it points at."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            return node
        seen = (*seen, ref)
        target: JSONValue = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise OpenAPIError(f"reference '{ref}' not found")
            target = target[part]
        node = target
    return node


def _x_kong_object(ext_owner: JSONObject, key: str, components: JSONObject) -> JSONObject | None:
    """An ``x-kong-...`` extension as an object, dereferenced into ``#/components/x-kong/``."""
    if key not in ext_owner or ext_owner[key] is None:
        return None
    value = ext_owner[key]
    if not isinstance(value, dict):
        raise OpenAPIError(f"expected '{key}' to be a JSON/YAML object")
    ref = value.get("$ref")
    if ref is None:
        return copy.deepcopy(value)
    if not isinstance(ref, str):
        raise OpenAPIError("expected '$ref' pointer to be a string")
    if not ref.startswith("#/components/x-kong/"):
        raise OpenAPIError("all 'x-kong-...' references must be at '#/components/x-kong/...'")
    target: JSONValue = components
    path = "#/components/x-kong"
    for segment in ref.split("/")[3:]:
        path += "/" + segment
        if not isinstance(target, dict) or target.get(segment) is None:
            raise OpenAPIError(f"reference '{ref}' not found")
        target = target[segment]
        if not isinstance(target, dict):
            raise OpenAPIError(f"expected '{path}' to be a JSON object")
    found: JSONObject = copy.deepcopy(target)
    return found


def _kong_name(owner: JSONObject) -> str:
    name = owner.get("x-kong-name")
    if name is None:
        return ""
    if not isinstance(name, str):
        raise OpenAPIError("expected 'x-kong-name' to be a string")
    return name


def _kong_tags(doc: JSONObject, given: list[str] | None) -> list[str]:
    if given is not None:
        return list(given)
    tags = doc.get("x-kong-tags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise OpenAPIError("expected 'x-kong-tags' to be an array of strings")
    return list(tags)


# -- servers → service / upstream -----------------------------------------------------------------

@dataclass
class _Target:
    scheme: str
    host: str  # hostname, no port
    port: str
    path: str

    def netloc(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


def _server_targets(servers: list[JSONObject] | None) -> list[_Target]:
    """The server URLs with their variables' defaults filled in; at least one entry."""
    if not servers:
        return [_Target("", "", "", "/")]
    out = []
    for server in servers:
        url = str(server.get("url", ""))
        for name, var in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str((var or {}).get("default", "")))
        if not url.startswith("/") and "://" not in url:
            raise OpenAPIError(f"failed to parse uri '{url}'")
        parts = urlsplit(url)
        out.append(_Target(parts.scheme, parts.hostname or "", str(parts.port or ""), parts.path or "/"))
    return out


def _fill_defaults(targets: list[_Target], scheme_default: str) -> None:
    for t in targets:
        if not t.host:
            t.host = "localhost"
        if not t.scheme:
            t.scheme = {"80": "http", "443": "https"}.get(t.port, scheme_default)
        if not t.port:
            t.port = {"http": "80", "https": "443"}.get(t.scheme, "")


def _uuid(opts: Options, name: str) -> str:
    return str(uuid.uuid5(opts.uuid_namespace, name))


def _upstream(base: str, servers: list[JSONObject] | None, defaults: JSONObject | None,
              tags: list[str], opts: Options) -> JSONObject:
    upstream = copy.deepcopy(defaults) if defaults is not None else {}
    name = base + ".upstream"
    if not opts.skip_id:
        upstream["id"] = _uuid(opts, name)
    upstream["name"] = name
    upstream["tags"] = tags
    if upstream.get("targets") is not None:
        if not isinstance(upstream["targets"], list):
            raise OpenAPIError("expected 'targets' to be an array")
        for t in upstream["targets"]:
            if not isinstance(t, dict):
                raise OpenAPIError("expected entries in 'targets' to be objects")
            t["tags"] = tags
        return upstream
    targets = _server_targets(servers)
    _fill_defaults(targets, "https")
    upstream["targets"] = [{"target": t.netloc(), "tags": tags} for t in targets]
    return upstream


def _service(base: str, servers: list[JSONObject] | None, defaults: JSONObject | None,
             upstream_defaults: JSONObject | None, tags: list[str],
             opts: Options) -> tuple[JSONObject, JSONObject | None]:
    service = copy.deepcopy(defaults) if defaults is not None else {}
    if not opts.skip_id:
        service["id"] = _uuid(opts, base + ".service")
    service["name"] = base
    service["tags"] = tags
    service["plugins"] = []
    service["routes"] = []
    targets = _server_targets(servers)
    scheme = service.get("protocol") or "https"
    _fill_defaults(targets, scheme)
    if service.get("protocol") is None:
        scheme = service["protocol"] = targets[0].scheme
    if service.get("path") is None:
        service["path"] = targets[0].path
    if service.get("port") is None:
        if targets[0].port:
            service["port"] = int(targets[0].port)
        else:
            service["port"] = 80 if scheme == "http" else 443
    upstream = None
    if service.get("host") is None:
        if len(targets) == 1 and upstream_defaults is None:
            service["host"] = targets[0].host
        else:
            upstream = _upstream(base, servers, upstream_defaults, tags, opts)
            service["host"] = upstream["name"]
    return service, upstream


def _service_key(servers: list[JSONObject] | None, defaults: JSONObject | None,
                 upstream_defaults: JSONObject | None) -> str:
    targets = _server_targets(servers)
    _fill_defaults(targets, "https")
    urls = "|".join(f"{t.scheme}://{t.netloc()}{t.path}" for t in targets)
    return f"{urls}|||{json.dumps(defaults, sort_keys=True)}||{json.dumps(upstream_defaults, sort_keys=True)}"


# -- plugins --------------------------------------------------------------------------------------

Plugin = JSONObject


def _plugin_id(opts: Options, base: str, plugin: Plugin) -> str:
    return _uuid(opts, f"{base}.plugin.{plugin['name']}")


def _plugins(owner: JSONObject, inherited: list[Plugin] | None, base: str,
             components: JSONObject, tags: list[str], opts: Options) -> list[Plugin]:
    """The plugins of one level: ``inherited`` ones re-identified for ``base``, then the
    ``x-kong-plugin-<name>`` extensions of ``owner`` (a name given twice: the later wins),
    sorted by name."""
    plugins: dict[str, Plugin] = {}
    for p in inherited or ():
        q = copy.deepcopy(p)
        if not opts.skip_id:
            q["id"] = _plugin_id(opts, base, q)
        q["tags"] = tags
        plugins[q["name"]] = q
    for key in owner:
        if not key.startswith("x-kong-plugin-"):
            continue
        config = _x_kong_object(owner, key, components)
        if config is None:
            raise OpenAPIError(f"expected '{key}' to be a JSON/YAML object")
        config["name"] = key[len("x-kong-plugin-"):]
        if not opts.skip_id:
            config["id"] = _plugin_id(opts, base, config)
        config["tags"] = tags
        config.pop("service", None)  # the owner is implied; only a consumer may be named
        config.pop("route", None)
        plugins[config["name"]] = config
    return [plugins[n] for n in sorted(plugins)]


def _move_consumer_plugins(plugins: list[Plugin], global_plugins: list[Plugin],
                           key: str, owner_name: str) -> list[Plugin]:
    """Plugins that also name a consumer have two foreign keys: decK files keep them at the top
    level, pointing at their service or route by name."""
    kept = []
    for p in plugins:
        if p.get("consumer") is None:
            kept.append(p)
        else:
            p[key] = owner_name
            global_plugins.append(p)
    return kept


def _has_plugins(owner: JSONObject) -> bool:
    return any(k.startswith("x-kong-plugin-") for k in owner)


# -- routes ---------------------------------------------------------------------------------------

def _parameters(doc: JSONObject, owner: JSONObject) -> list[JSONObject]:
    return [p for p in (_resolve(doc, p) for p in owner.get("parameters") or ()) if isinstance(p, dict)]


def _param_schema(doc: JSONObject, op_params: list[JSONObject], path_params: list[JSONObject],
                  name: str) -> JSONObject | None:
    for p in (*op_params, *path_params):
        if p.get("name") == name:
            s = _resolve(doc, p.get("schema"))
            return s if isinstance(s, dict) else None
    return None


def _route_path(doc: JSONObject, path: str, op_params: list[JSONObject],
                path_params: list[JSONObject]) -> tuple[str, int]:
    converted = path
    for ch in _ESCAPED:
        converted = converted.replace(ch, "\\" + ch)
    priority = PRIORITY_PLAIN
    captures: set[str] = set()
    for var in _PARAM.findall(converted):
        priority = PRIORITY_WITH_PARAMS
        cap = capture_name(var)
        if len(cap) >= 32:
            raise OpenAPIError(f"path-parameter name exceeds 32 characters: '{var}' (sanitized to '{cap}')")
        if cap in captures:  # decK writes the route anyway; Kong then refuses its regex
            raise OpenAPIError(f"path '{path}' names the parameter '{cap}' twice (after sanitizing '{var}')")
        captures.add(cap)
        schema = _param_schema(doc, op_params, path_params, var)
        # one segment: '/', '?' and '#' end it; minLength 0 allows it empty
        repeat = "*" if schema is not None and schema.get("minLength") == 0 else "+"
        converted = converted.replace("{" + var + "}", f"(?<{cap}>[^#?/]{repeat})", 1)
    return "~" + converted + "$", priority


def _yaml_text(value: JSONValue) -> str:
    """An enum member as YAML wrote it (decK routes on the text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header_combinations(doc: JSONObject, op_params: list[JSONObject],
                         path_params: list[JSONObject], all_required: bool) -> list[dict[str, list[str]]]:
    """One header map per combination of the enum values of required header parameters."""
    chosen: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for p in (*op_params, *path_params):
        schema = _resolve(doc, p.get("schema"))
        enum = schema.get("enum") if isinstance(schema, dict) else None
        if p.get("in") == "header" and enum and (p.get("required") is True or all_required) and p.get("name") not in seen:
            seen.add(p["name"])
            chosen.append((p["name"], [_yaml_text(v) for v in enum]))
    if not chosen:
        return []
    combos: list[dict[str, list[str]]] = [{}]
    for name, values in chosen:
        combos = [{**c, name: [v]} for c in combos for v in values]
    return combos


# -- security → openid-connect --------------------------------------------------------------------

def _oidc(doc: JSONObject, requirements: JSONValue, inherited: Plugin | None, components: JSONObject,
          ignore_errors: bool) -> Plugin | None:
    """The openid-connect plugin an operation's (or the document's) ``security`` asks for: the
    scheme's ``x-kong-security-openid-connect`` object, its scopes merged with the requirement's
    (sorted), the scheme's ``openIdConnectUrl`` as issuer unless the object sets one. No
    requirement: the inherited plugin. Only one requirement with one openIdConnect scheme is
    understood (decK's rule)."""
    if not requirements or ignore_errors:
        return inherited
    if not isinstance(requirements, list) or len(requirements) > 1:
        raise OpenAPIError("only a single security-requirement is supported")
    requirement = requirements[0] or {}
    if not requirement:
        return inherited
    if len(requirement) > 1:
        raise OpenAPIError("within a security-requirement only a single security-scheme is supported")
    scheme_name, scopes = next(iter(requirement.items()))
    scheme = _resolve(doc, ((doc.get("components") or {}).get("securitySchemes") or {}).get(scheme_name))
    if not isinstance(scheme, dict):
        raise OpenAPIError(f"no security-schemes with name '{scheme_name}' found in components")
    if re.sub(r"[-_]", "", str(scheme.get("type", ""))).lower() != "openidconnect":
        raise OpenAPIError("only security-schemes of type 'openIdConnect' are supported")
    plugin = _x_kong_object(scheme, "x-kong-security-openid-connect", components) or {}
    config = plugin.get("config")
    if config is None:
        config = plugin["config"] = {}
    if not isinstance(config, dict):
        raise OpenAPIError("expected 'config' of 'x-kong-security-openid-connect' to be an object")
    required = list(config.get("scopes_required") or [])
    if not all(isinstance(x, str) for x in required):
        raise OpenAPIError("expected 'scopes_required' to be an array of strings")
    required += [x for x in scopes or () if x not in required]
    plugin["name"] = "openid-connect"
    config["scopes_required"] = sorted(required)
    if scheme.get("openIdConnectUrl") and config.get("issuer") is None:
        config["issuer"] = scheme["openIdConnectUrl"]  # the x-kong object describes Kong, so it wins
    return plugin


# -- the request-validator plugin ---------------------------------------------------------------

VALIDATOR = "request-validator"
_SCHEMAS = "#/components/schemas/"
_PARAM_STYLES = {"header": "simple", "cookie": "form", "query": "form", "path": "simple"}


def _take_validator(plugins: list[Plugin], current: Plugin | None) -> tuple[Plugin | None, list[Plugin]]:
    """A level's own ``x-kong-plugin-request-validator`` replaces the inherited one; it is
    generated per operation, so it leaves the level's plugin list."""
    for i, p in enumerate(plugins):
        if p["name"] == VALIDATOR:
            return p, plugins[:i] + plugins[i + 1:]
    return current, plugins


def _go_json(value: JSONValue) -> str:
    """JSON as decK writes it: compact, keys sorted, ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _collect_refs(doc: JSONObject, schema: JSONValue, seen: JSONObject) -> None:
    """Every schema ``$ref`` reachable through allOf/anyOf/oneOf, properties, not,
    additionalProperties and items (recursion-safe)."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return
        seen[ref] = target = _resolve(doc, schema)
        schema = target
        if not isinstance(schema, dict):
            return
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            _collect_refs(doc, sub, seen)
    for sub in (schema.get("properties") or {}).values():
        _collect_refs(doc, sub, seen)
    for key in ("not", "additionalProperties", "items"):
        _collect_refs(doc, schema.get(key), seen)


def _schema_text(doc: JSONObject, schema: JSONValue) -> tuple[str, JSONObject | None]:
    """A schema with everything it references under ``definitions``, as one JSON Schema text."""
    if not isinstance(schema, dict):
        return "", None
    seen: JSONObject = {}
    _collect_refs(doc, schema, seen)
    final: JSONObject = {"$ref": schema["$ref"]} if isinstance(schema.get("$ref"), str) else copy.deepcopy(schema)
    if seen:
        final["definitions"] = {k.replace(_SCHEMAS, "", 1): copy.deepcopy(v) for k, v in seen.items() if isinstance(v, dict)}
    text = _go_json(final).replace('"$ref":"' + _SCHEMAS, '"$ref":"#/definitions/')
    return text, final


def _top_level_type(schema: JSONObject) -> tuple[str, bool]:
    """(type beside a oneOf/anyOf, whether a oneOf/anyOf exists), searched as decK does."""
    one_of = isinstance(schema.get("oneOf"), list)
    any_of = isinstance(schema.get("anyOf"), list)
    typ = schema.get("type") if isinstance(schema.get("type"), str) else ""
    if (one_of or any_of) and typ:
        return typ, True
    for key, value in schema.items():
        if key == "items" and isinstance(value, dict) and "oneOf" in value:
            continue
        for sub in (value if isinstance(value, list) else [value]):
            if isinstance(sub, dict):
                t, found = _top_level_type(sub)
                if found:
                    return t, True
    return "", one_of or any_of


def _parameter_schema(doc: JSONObject, op_params: list[JSONObject],
                      path_params: list[JSONObject]) -> list[JSONObject]:
    # decK's combination rule, kept as is: with operation parameters, a path parameter is kept
    # once for every operation parameter differing from it in both name and location
    combined = [pp for pp in path_params for op in op_params
                if pp.get("name") != op.get("name") and pp.get("in") != op.get("in")]
    combined += op_params if op_params else path_params
    out = []
    for param in combined:
        where = param.get("in")
        if where == "cookie":  # the plugin cannot validate cookies
            continue
        style = param.get("style") or _PARAM_STYLES.get(str(where), "")
        conf: JSONObject = {
            "style": style,
            "explode": param["explode"] if isinstance(param.get("explode"), bool) else style == "form",
            "in": where,
            "name": capture_name(str(param.get("name"))) if where == "path" else param.get("name"),
            "required": param.get("required") is True,
        }
        text, schema = _schema_text(doc, param.get("schema"))
        if text:
            conf["schema"] = text
            typ, found = _top_level_type(schema or {})
            if found and not typ:
                raise OpenAPIError("parameter schemas for request-validator plugin must have a top-level type property")
        out.append(conf)
    return out


def _body_schema(doc: JSONObject, op: JSONObject) -> str:
    content = (_resolve(doc, op.get("requestBody")) or {}).get("content") or {}
    for media_type, media in content.items():
        main = media_type.split(";")[0].strip().lower()
        typ, _, sub = main.partition("/")
        if not sub:
            return ""
        if typ == "application" and (sub == "json" or sub.endswith("+json")):
            return _schema_text(doc, (media or {}).get("schema"))[0]
    return ""


def _validator_plugin(doc: JSONObject, given: Plugin | None, op: JSONObject,
                      op_params: list[JSONObject], path_params: list[JSONObject],
                      base: str, opts: Options) -> Plugin | None:
    """The request-validator for one operation: the configured one, completed with the
    operation's parameter and JSON body schemas (draft4) and its content types; None when there
    is nothing to validate."""
    if given is None:
        return None
    plugin = copy.deepcopy(given)
    if not opts.skip_id:
        plugin["id"] = _plugin_id(opts, base, plugin)
    config = plugin.get("config")
    if not isinstance(config, dict):
        config = plugin["config"] = {}
    if config.get("parameter_schema") is None:
        params = _parameter_schema(doc, op_params, path_params)
        if params:
            config["parameter_schema"] = params
            config["version"] = "draft4"
    if config.get("body_schema") is None:
        body = _body_schema(doc, op)
        if body:
            config["body_schema"] = body
            config["version"] = "draft4"
        elif config.get("parameter_schema") is None:
            if config.get("allowed_content_types") is None:
                return None  # nothing to validate
            config["body_schema"] = "{}"  # passes everything, but turns the content-type check on
            config["version"] = "draft4"
    if config.get("allowed_content_types") is None:
        content = (_resolve(doc, op.get("requestBody")) or {}).get("content") or {}
        if content:
            config["allowed_content_types"] = sorted(content)
    return plugin


def _insert(plugins: list[Plugin], plugin: Plugin | None) -> list[Plugin]:
    if plugin is None:
        return plugins
    return sorted([p for p in plugins if p["name"] != plugin["name"]] + [plugin], key=lambda p: p["name"])


# -- the conversion -------------------------------------------------------------------------------

@dataclass
class _Level:
    """What one level (document, path, operation) hands down to the next."""

    name: str
    servers: list[JSONObject] | None
    service_defaults: JSONObject | None
    upstream_defaults: JSONObject | None
    route_defaults: JSONObject | None
    service: JSONObject = field(default_factory=dict)
    plugins: list[Plugin] = field(default_factory=list)
    validator: Plugin | None = None  # the request-validator to generate for each operation


def _level(name: str, owner: JSONObject, parent: _Level,
           components: JSONObject) -> tuple[_Level, bool, bool]:
    """A path's or operation's settings, inherited where it sets none; and whether it needs an
    upstream and a service of its own (it has servers or service/upstream defaults of its own)."""
    def own(key: str) -> JSONObject | None:
        return _x_kong_object(owner, key, components)

    sd, ud, rd = own("x-kong-service-defaults"), own("x-kong-upstream-defaults"), own("x-kong-route-defaults")
    level = _Level(name, owner.get("servers") or parent.servers,
                   sd if sd is not None else parent.service_defaults,
                   ud if ud is not None else parent.upstream_defaults,
                   rd if rd is not None else parent.route_defaults)
    new_upstream = bool(owner.get("servers")) or ud is not None
    return level, new_upstream, new_upstream or sd is not None


def convert(doc: JSONValue, options: Options | None = None) -> JSONObject:
    """Convert a parsed OpenAPI 3 document to a decK document (``_format_version`` 3.0)."""
    opts = options or Options()
    if not isinstance(doc, dict):
        raise OpenAPIError("expected an OpenAPI document (a YAML/JSON object)")
    if not str(doc.get("openapi", "")).startswith("3"):
        raise OpenAPIError("only OpenAPI 3.x documents are supported ('openapi: 3.0.x' or '3.1.x')")
    tags = _kong_tags(doc, opts.tags)
    components = (doc.get("components") or {}).get("x-kong") or {}
    if not isinstance(components, dict):
        raise OpenAPIError("expected '/components/x-kong' to be a JSON/YAML object")

    base = opts.doc_name or _kong_name(doc) or str((doc.get("info") or {}).get("title") or "") or str(uuid.uuid4())
    title, base = base, slugify(base)
    if not base:  # decK would write a service with an empty name, which Kong refuses
        raise OpenAPIError(f"the document's name {title!r} has no letters or digits to name entities by; "
                           "set 'x-kong-name' or give a base name (--uuid-base)")

    services: list[JSONObject] = []
    upstreams: list[JSONObject] = []
    global_plugins: list[Plugin] = []
    path_cache: dict[str, JSONObject] = {}
    op_cache: dict[str, JSONObject] = {}

    d = _Level(base, doc.get("servers") or None, _x_kong_object(doc, "x-kong-service-defaults", components),
               _x_kong_object(doc, "x-kong-upstream-defaults", components),
               _x_kong_object(doc, "x-kong-route-defaults", components))
    d.service, up = _service(base, d.servers, d.service_defaults, d.upstream_defaults, tags, opts)
    services.append(d.service)
    if up is not None:
        upstreams.append(up)
    d.plugins = _plugins(doc, None, base, components, tags, opts)
    doc_oidc = None
    if opts.generate_security:
        doc_oidc = _oidc(doc, doc.get("security"), None, components, opts.ignore_security_errors)
        d.plugins = _insert(d.plugins, copy.deepcopy(doc_oidc))
    d.validator, d.plugins = _take_validator(d.plugins, None)
    d.plugins = _move_consumer_plugins(d.plugins, global_plugins, "service", base)
    d.service["plugins"] = d.plugins

    paths = doc.get("paths")
    if paths is None:
        raise OpenAPIError("must have `.paths` in the root of the document")
    if paths == []:  # an empty list is an empty set of paths
        paths = {}
    if not isinstance(paths, dict):
        raise OpenAPIError("expected `.paths` to be an object (path → path item)")

    for path_key in sorted(paths):
        item = _resolve(doc, paths[path_key])
        if not isinstance(item, dict):
            continue
        name = _kong_name(item)
        if name:
            name = slugify(name)
        else:
            name = slugify(path_key) + ("~" if path_key.endswith("/") else "")
        p, new_upstream, new_service = _level(f"{base}_{name}" if name else base, item, d, components)
        reused = False
        key = _service_key(p.servers, p.service_defaults, p.upstream_defaults)
        if opts.reuse_services and new_service and not _has_plugins(item) and key in path_cache:
            p.service, reused, new_service = path_cache[key], True, False
        if new_service:
            p.service, up = _service(p.name, p.servers, p.service_defaults, p.upstream_defaults, tags, opts)
            p.plugins = _plugins(item, d.plugins, p.name, components, tags, opts)
            p.validator, p.plugins = _take_validator(p.plugins, d.validator)
            p.plugins = _move_consumer_plugins(p.plugins, global_plugins, "service", p.name)
            p.service["plugins"] = p.plugins
            services.append(p.service)
            if up is not None:
                if new_upstream:
                    upstreams.append(up)
                else:  # the servers are the document's: use its upstream
                    p.service["host"] = d.service["host"]
            if opts.reuse_services and not _has_plugins(item):
                path_cache[key] = p.service
        elif reused:
            p.plugins, p.validator = [], d.validator
        else:
            p.service = d.service
            p.plugins = _plugins(item, None, p.name, components, tags, opts)
            p.validator, p.plugins = _take_validator(p.plugins, d.validator)

        path_params = _parameters(doc, item)
        for method in METHODS:
            op = _resolve(doc, item.get(method))
            if not isinstance(op, dict):
                continue
            verb = method.upper()
            xname = _kong_name(op)
            if xname:
                op_name = f"{p.name}_{slugify(xname)}"
            elif op.get("operationId"):
                op_name = f"{base}_{slugify(str(op['operationId']))}"
            else:
                op_name = f"{p.name}_{slugify(verb)}"
            o, op_upstream, op_new = _level(op_name, op, p, components)
            op_reused = False
            okey = _service_key(o.servers, o.service_defaults, o.upstream_defaults)
            if opts.reuse_services and op_new and okey in op_cache:
                o.service, op_reused, op_new = op_cache[okey], True, False
            if op_new:
                o.service, up = _service(op_name, o.servers, o.service_defaults, o.upstream_defaults, tags, opts)
                services.append(o.service)
                if up is not None:
                    if op_upstream:
                        upstreams.append(up)
                    else:
                        o.service["host"] = p.service["host"]
                if opts.reuse_services:
                    op_cache[okey] = o.service
            elif not op_reused:
                o.service = p.service

            if op_new or op_reused:  # a service of its own: every level's plugins go on the route
                plugins = _plugins(doc, None, op_name, components, tags, opts)
                plugins = _plugins(item, plugins, op_name, components, tags, opts)
                plugins = _plugins(op, plugins, op_name, components, tags, opts)
            elif new_service:  # the path's service already carries the document's and path's plugins
                plugins = _plugins(op, None, op_name, components, tags, opts)
            else:  # the document's service (or a reused one): the path's plugins go on the route
                plugins = _plugins(op, p.plugins, op_name, components, tags, opts)

            if opts.generate_security:
                op_oidc = _oidc(doc, op.get("security"), doc_oidc, components, opts.ignore_security_errors)
                if op_oidc != doc_oidc:
                    plugins = _insert(plugins, op_oidc)
            op_params = _parameters(doc, op)
            validator, plugins = _take_validator(plugins, p.validator)
            plugins = _insert(plugins, _validator_plugin(doc, validator, op, op_params, path_params, op_name, opts))

            route = copy.deepcopy(o.route_defaults) if o.route_defaults is not None else {}
            route.pop("service", None)
            route["plugins"] = _move_consumer_plugins(plugins, global_plugins, "route", op_name)
            route_path, priority = _route_path(doc, path_key, op_params, path_params)
            route["paths"] = [route_path]
            if not opts.skip_id:
                route["id"] = _uuid(opts, op_name + ".route")
            route["name"] = op_name
            route["methods"] = [verb]
            route["tags"] = tags
            if "regex_priority" not in route:
                route["regex_priority"] = priority
            else:
                given = route["regex_priority"]
                if not isinstance(given, int) or isinstance(given, bool):
                    raise OpenAPIError("failed to parse 'regex_priority' from route defaults: expected an integer")
                if priority == PRIORITY_WITH_PARAMS:  # the default is the plain paths' priority
                    route["regex_priority"] = given - 1
            route.setdefault("strip_path", False)  # never strip a whole-path regex by default

            routes = o.service["routes"]
            combos = [] if opts.skip_route_by_header else _header_combinations(
                doc, op_params, path_params, opts.treat_all_headers_as_required)
            for i, headers in enumerate(combos):
                r = copy.deepcopy(route)
                r["headers"] = headers
                r["name"] = f"{op_name}_{i}"
                if not opts.skip_id:
                    r["id"] = _uuid(opts, r["name"])
                    header_base = json.dumps(headers, sort_keys=True, separators=(",", ":"))
                    for plugin in r["plugins"]:
                        plugin["id"] = _plugin_id(opts, op_name + header_base, plugin)
                routes.append(r)
            routes.append(route)

    result: JSONObject = {"_format_version": FORMAT_VERSION}
    # without document-level servers the document's service is only kept when nothing else exists
    result["services"] = services[1:] if len(services) > 1 and not d.servers else services
    result["upstreams"] = upstreams
    if global_plugins:
        def sort_key(pl: Plugin) -> tuple[str, ...]:
            return tuple(str(pl.get(k) or "") for k in ("name", "service", "route", "consumer"))
        result["plugins"] = sorted(global_plugins, key=sort_key)
    return result
