"""Request collections as files: a folder of YAML files, one request per file, git-friendly.

Layout (sub-folders are groups; files and folders run in name order, a leading ``NN-`` only orders)::

    my-api/
      collection.yaml          optional: name, description
      environments/local.yaml  variables: {base: "http://127.0.0.1:8000", key: "{{env:API_KEY}}"}
      01-health.yaml
      users/
        01-get-user.yaml

A request file::

    name: Get a user
    method: GET
    url: "{{base}}/users/42"
    headers: {apikey: "{{key}}"}
    body: {json: {...}}        # or {raw: "..."}, {form: {a: "1"}}
    burst: 10                  # optional: send it 10 times in a row
    expect:                    # see console/assertions.py
      status: 200
      gateway: {route: users_getuser, consumer: dev, plugins: {key-auth: pass}}

Secrets never live in these files: a value is a ``{{variable}}`` resolved from the environment
file, from the process environment (``{{env:NAME}}``) or, in the app, from the keyring.
Bad files are reported with the file and field they concern (``CollectionError``); nothing is
half-loaded.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue
from .environments import Environment, Variable
from .request import METHODS, FormField, RequestSpec

REQUEST_KEYS = {"name", "method", "url", "headers", "body", "burst", "expect", "description"}
ENV_DIR = "environments"
META_FILE = "collection.yaml"
_ORDER_PREFIX = re.compile(r"^\d+-")  # "01-orders" sorts first and is shown as "orders"
_ENV_REF = re.compile(r"\{\{\s*env:([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class CollectionError(AppError, ValueError):
    """A collection file that cannot be used; the message names the file and the field."""


@dataclass
class CollectionRequest:
    name: str
    spec: RequestSpec
    expect: JSONObject = field(default_factory=dict)
    burst: int = 0  # 0: sent once
    group: tuple[str, ...] = ()  # the folders it sits in
    path: Path | None = None

    @property
    def title(self) -> str:
        return " / ".join((*self.group, self.name))


@dataclass
class Collection:
    name: str
    requests: list[CollectionRequest] = field(default_factory=list)
    environments: dict[str, Environment] = field(default_factory=dict)
    root: Path | None = None


# -- reading --------------------------------------------------------------------------------------

def _read_yaml(path: Path) -> JSONValue:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CollectionError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CollectionError(f"{path}: invalid YAML{where}") from None


def _headers(value: JSONValue, where: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), _text(v)) for k, v in value.items()]
    if isinstance(value, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return [(str(k), _text(v)) for k, v in value]
    raise CollectionError(f"{where}: headers: expected a mapping (name: value) or a list of [name, value] pairs")


def _text(v: JSONValue) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _body(value: JSONValue, where: str) -> tuple[str, str, list[FormField]]:
    if value is None:
        return "none", "", []
    if isinstance(value, str):
        return "raw", value, []
    if not isinstance(value, dict) or len(value) != 1:
        raise CollectionError(f"{where}: body: expected one of {{json: ...}}, {{raw: \"...\"}}, {{form: {{...}}}}")
    kind, content = next(iter(value.items()))
    if kind == "json":
        return "json", content if isinstance(content, str) else json.dumps(content, indent=2), []
    if kind == "raw":
        return "raw", _text(content), []
    if kind in ("form", "multipart"):
        if not isinstance(content, dict):
            raise CollectionError(f"{where}: body.{kind}: expected a mapping of field: value")
        return kind, "", [FormField(str(k), _text(v)) for k, v in content.items()]
    raise CollectionError(f"{where}: body: unknown kind '{kind}' (json, raw, form or multipart)")


def request_from_dict(data: JSONValue, where: str, group: tuple[str, ...] = ()) -> CollectionRequest:
    if not isinstance(data, dict):
        raise CollectionError(f"{where}: expected a mapping with at least 'url'")
    unknown = sorted(set(data) - REQUEST_KEYS)
    if unknown:
        raise CollectionError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(REQUEST_KEYS))})")
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise CollectionError(f"{where}: url: required (e.g. \"{{{{base}}}}/path\")")
    method = str(data.get("method", "GET")).upper()
    if method not in METHODS:
        raise CollectionError(f"{where}: method: expected one of {', '.join(METHODS)}")
    kind, body, form = _body(data.get("body"), where)
    burst = data.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 0 <= burst <= 10_000:
        raise CollectionError(f"{where}: burst: expected a number of requests between 1 and 10000")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise CollectionError(f"{where}: expect: expected a mapping of checks")
    from .assertions import check_expect  # the checks know their own words

    problem = check_expect(expect)
    if problem:
        raise CollectionError(f"{where}: expect.{problem}")
    name = str(data.get("name") or Path(where).stem)
    spec = RequestSpec(method, url.strip(), _headers(data.get("headers"), where), kind, body, form).canonical()
    return CollectionRequest(name, spec, expect, burst, group)


def _environment(path: Path) -> Environment:
    data = _read_yaml(path) or {}
    variables = data.get("variables", data) if isinstance(data, dict) else None
    if not isinstance(variables, dict):
        raise CollectionError(f"{path}: expected 'variables:' with name: value pairs")
    return Environment(path.stem, [Variable(str(k), _text(v)) for k, v in variables.items()])


def load(root: str | Path) -> Collection:
    """Read a collection folder (or a single request file)."""
    root = Path(root)
    if root.is_file():
        req = request_from_dict(_read_yaml(root), str(root))
        req.path = root
        return Collection(root.stem, [req], {}, root.parent)
    if not root.is_dir():
        raise CollectionError(f"{root}: no such collection folder")
    meta = _read_yaml(root / META_FILE) if (root / META_FILE).is_file() else {}
    name = str((meta or {}).get("name") or root.name)
    envs = {}
    if (root / ENV_DIR).is_dir():
        for p in sorted((root / ENV_DIR).glob("*.y*ml")):
            envs[p.stem] = _environment(p)
    requests: list[CollectionRequest] = []

    def walk(folder: Path, group: tuple[str, ...]) -> None:
        for p in sorted(folder.iterdir(), key=lambda q: q.name):
            if p.is_dir():
                if (p.name != ENV_DIR or folder != root) and not p.name.startswith("."):
                    walk(p, (*group, _ORDER_PREFIX.sub("", p.name) or p.name))
            elif p.suffix in (".yaml", ".yml") and not (folder == root and p.name == META_FILE):
                req = request_from_dict(_read_yaml(p), str(p), group)
                req.path = p
                requests.append(req)

    walk(root, ())
    return Collection(name, requests, envs, root)


def with_process_env(env: Environment | None, environ: dict[str, str] | None = None) -> Environment | None:
    """``{{env:NAME}}`` in an environment's values taken from the process environment (CI secrets)."""
    if env is None:
        return None
    environ = dict(os.environ if environ is None else environ)

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in environ:
            raise CollectionError(f"environment '{env.name}': the process environment has no {m.group(1)}")
        return environ[m.group(1)]

    return Environment(env.name, [Variable(v.name, _ENV_REF.sub(sub, v.value), v.secret or bool(_ENV_REF.search(v.value)))
                                  for v in env.variables])


# -- writing --------------------------------------------------------------------------------------

def request_to_dict(req: CollectionRequest) -> JSONObject:
    spec = req.spec.canonical()
    out: JSONObject = {"name": req.name, "method": spec.method, "url": spec.url}
    if spec.headers:
        names = [k.lower() for k, _ in spec.headers]
        out["headers"] = dict(spec.headers) if len(set(names)) == len(names) else [list(p) for p in spec.headers]
    if spec.body_kind == "json":
        try:  # as YAML when that reads back to the same text, else the text itself
            doc = json.loads(spec.body)
            out["body"] = {"json": doc if json.dumps(doc, indent=2) == spec.body else spec.body}
        except ValueError:
            out["body"] = {"json": spec.body}
    elif spec.body_kind == "raw":
        out["body"] = {"raw": spec.body}
    elif spec.body_kind in ("form", "multipart"):
        out["body"] = {spec.body_kind: {f.name: f.value for f in spec.form}}
    if req.burst:
        out["burst"] = req.burst
    if req.expect:
        out["expect"] = req.expect
    return out


def file_name(index: int, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "request"
    return f"{index:02d}-{slug}.yaml"


def save(collection: Collection, root: str | Path) -> list[Path]:
    """Write a collection folder; returns the files written. Existing files are not deleted."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    meta = root / META_FILE
    meta.write_text(yaml.safe_dump({"name": collection.name}, sort_keys=False), encoding="utf-8")
    written.append(meta)
    # files and folders are numbered in order of first appearance, so the run order survives
    counters: dict[tuple[str, ...], int] = {}
    folders: dict[tuple[str, ...], Path] = {(): root}

    def folder_of(group: tuple[str, ...]) -> Path:
        if group not in folders:
            parent = folder_of(group[:-1])
            counters[group[:-1]] = counters.get(group[:-1], 0) + 1
            name = re.sub(r"[/\\]", "-", group[-1])
            folders[group] = parent / f"{counters[group[:-1]]:02d}-{name}"
            folders[group].mkdir(parents=True, exist_ok=True)
        return folders[group]

    for req in collection.requests:
        folder = folder_of(req.group)
        counters[req.group] = counters.get(req.group, 0) + 1
        p = folder / file_name(counters[req.group], req.name)
        p.write_text(yaml.safe_dump(request_to_dict(req), sort_keys=False, allow_unicode=True), encoding="utf-8")
        req.path = p
        written.append(p)
    if collection.environments:
        (root / ENV_DIR).mkdir(exist_ok=True)
        for env in collection.environments.values():
            p = root / ENV_DIR / f"{env.name}.yaml"
            values = {v.name: ("" if v.secret else v.value) for v in env.variables}
            p.write_text(yaml.safe_dump({"variables": values}, sort_keys=False), encoding="utf-8")
            written.append(p)
    return written


def write_request(req: CollectionRequest) -> Path:
    """Write one request back to its file (``req.path``). The text is read back through the loader
    first, so a file that would not open again is never written."""
    if req.path is None:
        raise CollectionError(f"{req.title}: has no file to write to")
    data = request_to_dict(req)
    request_from_dict(data, str(req.path), req.group)
    req.path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return req.path


def new_request_file(folder: str | Path, name: str = "New request") -> Path:
    """A new request file (GET ``{{base}}/``, expecting 200) numbered after the folder's highest
    ``NN-`` prefix, so it runs last in its folder; an existing file is never overwritten."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir()}
    numbers = [int(m.group(0)[:-1]) for n in names if (m := _ORDER_PREFIX.match(n))]
    n = max(numbers, default=0) + 1
    while file_name(n, name) in names:
        n += 1
    p = folder / file_name(n, name)
    text = yaml.safe_dump({"name": name, "method": "GET", "url": "{{base}}/", "expect": {"status": 200}}, sort_keys=False)
    with p.open("x", encoding="utf-8") as f:  # "x": fails rather than overwrite
        f.write(text)
    return p
