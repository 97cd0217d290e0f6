"""Collections from other tools: Postman v2.1 collections, Insomnia v4 exports, HAR files and
cURL commands, turned into a ``Collection`` (then saved as files with ``collection.save``).

Requests keep their folders, headers and bodies; variables keep the ``{{name}}`` syntax
(Insomnia's ``{{ _.name }}`` becomes ``{{name}}``). Environments come along with their values —
except secret-looking ones (tokens, passwords, keys), which are kept as empty variables so the
files stay shareable; each import lists what it dropped or could not carry in ``warnings``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..credentials import SECRET_HEADERS, secret_param
from ..jsontypes import JSONArray, JSONObject, JSONValue
from .collection import Collection, CollectionError, CollectionRequest
from .curl import CurlError, parse_curl
from .environments import Environment, Variable
from .request import METHODS, FormField, RequestSpec

_INSOMNIA_VAR = re.compile(r"\{\{\s*_\.([A-Za-z0-9_.-]+)\s*\}\}")
_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


@dataclass
class Imported:
    collection: Collection
    warnings: list[str] = field(default_factory=list)
    kind: str = ""


def _spec(method: str, url: str, headers: list[tuple[str, str]], mime: str | None, text: str | None,
          params: list[tuple[str, str]] | None, warnings: list[str], where: str) -> RequestSpec:
    method = (method or "GET").upper()
    if method not in METHODS:
        warnings.append(f"{where}: method {method} is not offered by the console; sent as GET")
        method = "GET"
    mime = (mime or "").split(";")[0].strip().lower()
    if params is not None and mime in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        kind = "multipart" if mime == "multipart/form-data" else "form"
        return RequestSpec(method, url, headers, kind, "", [FormField(k, v) for k, v in params]).canonical()
    if text:
        kind = "json" if "json" in mime else "raw"
        return RequestSpec(method, url, headers, kind, text).canonical()
    return RequestSpec(method, url, headers).canonical()


def _secret_name(name: str) -> bool:
    return name.lower() in SECRET_HEADERS or secret_param(name)


def _environment(name: str, values: JSONObject, warnings: list[str]) -> Environment:
    out = []
    for k, v in values.items():
        if _secret_name(str(k)):
            warnings.append(f"environment {name}: the value of '{k}' was not kept (it looks secret); set it "
                            "in the app (kept in the keyring) or as {{env:NAME}}")
            out.append(Variable(str(k), "", secret=True))
        elif isinstance(v, (str, int, float, bool)):
            out.append(Variable(str(k), str(v)))
    return Environment(re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "imported", out)


# -- Postman v2.1 ---------------------------------------------------------------------------------

def _postman_url(url: JSONValue) -> str:
    if isinstance(url, str):
        return url
    if isinstance(url, dict):
        if url.get("raw"):
            return str(url["raw"])
        host = ".".join(url.get("host") or [])
        path = "/".join(url.get("path") or [])
        return f"{url.get('protocol', 'http')}://{host}/{path}"
    return ""


def from_postman(doc: JSONObject) -> Imported:
    warnings: list[str] = []
    requests: list[CollectionRequest] = []

    def walk(items: JSONArray, group: tuple[str, ...]) -> None:
        for it in items or ():
            if not isinstance(it, dict):
                continue
            name = str(it.get("name") or "request")
            if "item" in it:
                walk(it["item"], (*group, name))
                continue
            req = it.get("request")
            if isinstance(req, str):
                req = {"method": "GET", "url": req}
            if not isinstance(req, dict):
                continue
            where = " / ".join((*group, name))
            headers = [(str(h.get("key")), str(h.get("value", ""))) for h in req.get("header") or ()
                       if isinstance(h, dict) and not h.get("disabled")]
            body = req.get("body") or {}
            mode = body.get("mode")
            params = None
            text = None
            mime = next((v for k, v in headers if k.lower() == "content-type"), None)
            if mode == "raw":
                text = body.get("raw") or ""
                lang = ((body.get("options") or {}).get("raw") or {}).get("language")
                mime = mime or ("application/json" if lang == "json" else None)
            elif mode in ("urlencoded", "formdata"):
                params = [(str(p.get("key")), str(p.get("value", ""))) for p in body.get(mode) or ()
                          if isinstance(p, dict) and not p.get("disabled") and p.get("type", "text") == "text"]
                if any(isinstance(p, dict) and p.get("type") == "file" for p in body.get(mode) or ()):
                    warnings.append(f"{where}: file fields were not imported")
                mime = mime or ("multipart/form-data" if mode == "formdata" else "application/x-www-form-urlencoded")
            elif mode:
                warnings.append(f"{where}: body mode '{mode}' was not imported")
            if req.get("auth") and (req["auth"] or {}).get("type") not in (None, "noauth"):
                warnings.append(f"{where}: its {req['auth'].get('type')} auth was not imported (add it in the Auth tab)")
            spec = _spec(str(req.get("method", "GET")), _postman_url(req.get("url")), headers, mime, text, params,
                         warnings, where)
            requests.append(CollectionRequest(name, spec, group=group))

    info = doc.get("info") or {}
    walk(doc.get("item") or [], ())
    envs = {}
    variables = {str(v.get("key")): v.get("value") for v in doc.get("variable") or () if isinstance(v, dict)}
    if variables:
        env = _environment("collection", variables, warnings)
        envs[env.name] = env
    return Imported(Collection(str(info.get("name") or "Postman collection"), requests, envs), warnings, "Postman v2.1")


# -- Insomnia v4 ----------------------------------------------------------------------------------

def _insomnia_text(s: JSONValue) -> str:
    return _INSOMNIA_VAR.sub(lambda m: "{{" + m.group(1) + "}}", str(s or ""))


def from_insomnia(doc: JSONObject) -> Imported:
    warnings: list[str] = []
    resources = [r for r in doc.get("resources") or () if isinstance(r, dict)]
    by_id = {r.get("_id"): r for r in resources}

    def group_of(r: JSONObject) -> tuple[str, ...]:
        names: list[str] = []
        parent = by_id.get(r.get("parentId"))
        for _ in range(50):  # bounded: a broken export cannot loop us
            if parent is None or parent.get("_type") != "request_group":
                break
            names.insert(0, str(parent.get("name") or "folder"))
            parent = by_id.get(parent.get("parentId"))
        return tuple(names)

    requests = []
    for r in sorted((r for r in resources if r.get("_type") == "request"), key=lambda r: (r.get("metaSortKey", 0), r.get("name", ""))):
        name = str(r.get("name") or "request")
        where = name
        headers = [(_insomnia_text(h.get("name")), _insomnia_text(h.get("value"))) for h in r.get("headers") or ()
                   if isinstance(h, dict) and not h.get("disabled") and h.get("name")]
        body = r.get("body") or {}
        params = None
        if body.get("params") is not None:
            params = [(_insomnia_text(p.get("name")), _insomnia_text(p.get("value"))) for p in body["params"]
                      if isinstance(p, dict) and not p.get("disabled") and p.get("type") != "file"]
        if (r.get("authentication") or {}).get("type") not in (None, "none"):
            warnings.append(f"{where}: its {r['authentication'].get('type')} authentication was not imported")
        spec = _spec(str(r.get("method", "GET")), _insomnia_text(r.get("url")), headers, body.get("mimeType"),
                     _insomnia_text(body.get("text")) if body.get("text") else None, params, warnings, where)
        requests.append(CollectionRequest(name, spec, group=group_of(r)))
    envs = {}
    for e in resources:
        if e.get("_type") == "environment" and isinstance(e.get("data"), dict) and e["data"]:
            env = _environment(str(e.get("name") or "insomnia"), e["data"], warnings)
            envs[env.name] = env
    ws = next((r for r in resources if r.get("_type") == "workspace"), {})
    return Imported(Collection(str(ws.get("name") or "Insomnia export"), requests, envs), warnings, "Insomnia v4")


# -- HAR ------------------------------------------------------------------------------------------

def from_har(doc: JSONObject) -> Imported:
    warnings: list[str] = []
    requests = []
    for i, entry in enumerate(((doc.get("log") or {}).get("entries") or ()), 1):
        req = (entry or {}).get("request") or {}
        url = str(req.get("url") or "")
        parts = urlsplit(url)
        name = f"{req.get('method', 'GET')} {parts.path or '/'}"
        headers = [(str(h.get("name")), str(h.get("value", ""))) for h in req.get("headers") or ()
                   if isinstance(h, dict) and not str(h.get("name", "")).startswith(":")
                   and str(h.get("name", "")).lower() not in _HOP_HEADERS]
        secret = [k for k, _ in headers if _secret_name(k)]
        if secret:
            warnings.append(f"request {i} ({name}): the value of {', '.join(secret)} was replaced by "
                            "{{secret}} variables (HAR files carry captured credentials)")
            headers = [(k, "{{" + re.sub(r"[^A-Za-z0-9_]", "_", k.lower()) + "}}" if _secret_name(k) else v)
                       for k, v in headers]
        post = req.get("postData") or {}
        params = [(str(p.get("name")), str(p.get("value", ""))) for p in post.get("params") or ()] if post.get("params") else None
        spec = _spec(str(req.get("method", "GET")), url, headers, post.get("mimeType"), post.get("text"), params,
                     warnings, name)
        requests.append(CollectionRequest(name, spec))
    return Imported(Collection("HAR import", requests), warnings, "HAR")


def from_curl(text: str) -> Imported:
    try:
        parsed = parse_curl(text)
    except CurlError as exc:
        raise CollectionError(f"not a curl command we can read: {exc.message}") from None
    spec = parsed.request.canonical()
    return Imported(Collection("cURL import", [CollectionRequest(f"{spec.method} {urlsplit(spec.url).path or '/'}", spec)]),
                    list(parsed.warnings), "cURL")


def import_file(path: str | Path) -> Imported:
    """Recognise and import a Postman, Insomnia, HAR or cURL file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CollectionError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if text.lstrip().startswith("curl"):
        return from_curl(text)
    try:
        doc = json.loads(text)
    except ValueError:
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
    if not isinstance(doc, dict):
        raise CollectionError(f"{path}: not a Postman collection, Insomnia export, HAR file or curl command")
    if "log" in doc and isinstance(doc["log"], dict) and "entries" in doc["log"]:
        return from_har(doc)
    if doc.get("_type") == "export" or "resources" in doc:
        return from_insomnia(doc)
    if "item" in doc and isinstance(doc.get("info"), dict):
        return from_postman(doc)
    raise CollectionError(f"{path}: not a Postman collection (v2.1), Insomnia export (v4), HAR file or curl command")
