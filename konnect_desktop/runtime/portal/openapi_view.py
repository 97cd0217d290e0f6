"""An OpenAPI document as server-side HTML: operations, parameters, schemas, examples, Try it.

Plain HTML, every value escaped; local ``$ref``s (``#/components/...``) are followed to a fixed
depth so a recursive schema ends in its name instead of looping. Each operation gets a "Try it"
form that the portal sends through the local proxy (``POST /try``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape

from ...jsontypes import JSONArray, JSONValue

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DEPTH = 6


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _resolve(doc: Mapping[str, JSONValue], node: JSONValue, seen: tuple[str, ...] = ()) -> tuple[JSONValue, str | None]:
    """``node`` with a local ``$ref`` followed (and the ref's name), or ``node`` itself."""
    if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            return {}, ref
        target: JSONValue = doc
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
        return (target if isinstance(target, Mapping) else {}), ref
    return node, None


def _type_label(schema: Mapping[str, JSONValue]) -> str:
    t = schema.get("type")
    if t == "array":
        items = schema.get("items") or {}
        inner = items.get("$ref", "").rsplit("/", 1)[-1] if isinstance(items, Mapping) and "$ref" in items else (
            items.get("type") if isinstance(items, Mapping) else None)
        return f"array of {inner or 'any'}"
    label = str(t or ("object" if "properties" in schema else "any"))
    if schema.get("format"):
        label += f" ({schema['format']})"
    return label


def schema_html(doc: Mapping[str, JSONValue], schema: JSONValue, depth: int = 0, seen: tuple[str, ...] = ()) -> str:
    schema, ref = _resolve(doc, schema, seen)
    if ref:
        seen = (*seen, ref)
    if not isinstance(schema, Mapping):
        return "<span class='muted'>any</span>"
    name = f"<span class='ref'>{e(ref.rsplit('/', 1)[-1])}</span> " if ref else ""
    head = f"{name}<code>{e(_type_label(schema))}</code>"
    if schema.get("enum"):
        head += " one of " + ", ".join(f"<code>{e(json.dumps(v))}</code>" for v in schema["enum"])
    if schema.get("description"):
        head += f" <span class='muted'>{e(schema['description'])}</span>"
    if depth >= MAX_DEPTH:
        return head
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else None
    if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        return head + "<ul class='schema'><li>items: " + schema_html(doc, schema["items"], depth + 1, seen) + "</li></ul>"
    if props:
        required = set(schema.get("required") or [])
        rows = "".join(
            f"<li><code>{e(k)}</code>{' <span class=req>required</span>' if k in required else ''}: "
            f"{schema_html(doc, v, depth + 1, seen)}</li>" for k, v in props.items())
        return head + f"<ul class='schema'>{rows}</ul>"
    return head


def _example(doc: Mapping[str, JSONValue], media: Mapping[str, JSONValue]) -> JSONValue:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, Mapping) and examples:
        first, _ = _resolve(doc, next(iter(examples.values())))
        if isinstance(first, Mapping) and "value" in first:
            return first["value"]
    schema, _ = _resolve(doc, media.get("schema") or {})
    if isinstance(schema, Mapping) and "example" in schema:
        return schema["example"]
    return None


def _pretty(value: JSONValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


def _content_html(doc: Mapping[str, JSONValue], content: JSONValue) -> str:
    out = []
    for ctype, media in (content or {}).items() if isinstance(content, Mapping) else ():
        media = media if isinstance(media, Mapping) else {}
        part = f"<div class='media'><div class='muted'>{e(ctype)}</div>"
        if media.get("schema") is not None:
            part += "<div>Schema: " + schema_html(doc, media["schema"]) + "</div>"
        ex = _example(doc, media)
        if ex is not None:
            part += f"<div>Example:</div><pre>{e(_pretty(ex))}</pre>"
        out.append(part + "</div>")
    return "".join(out)


def base_path(doc: Mapping[str, JSONValue]) -> str:
    """The path prefix of the first server when it is relative (``/openai``) or a URL's path."""
    servers = doc.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], Mapping) else ""
    if "://" in url:
        url = "/" + url.split("://", 1)[1].partition("/")[2]
    return url.rstrip("/")


def operations(doc: Mapping[str, JSONValue]) -> list[tuple[str, str, Mapping[str, JSONValue], JSONArray]]:
    out = []
    for path, item in (doc.get("paths") or {}).items():
        item, _ = _resolve(doc, item)
        if not isinstance(item, Mapping):
            continue
        shared = list(item.get("parameters") or [])
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, Mapping):
                params = [_resolve(doc, p)[0] for p in shared + list(op.get("parameters") or [])]
                out.append((method, str(path), op, [p for p in params if isinstance(p, Mapping)]))
    return out


def _op_id(method: str, path: str) -> str:
    return "op-" + "".join(c if c.isalnum() else "-" for c in f"{method}{path}").strip("-")


def document_html(doc: Mapping[str, JSONValue], *, version_id: str, csrf: str) -> str:
    """The operations of ``doc`` with their parameters, bodies, responses and Try it forms."""
    info = doc.get("info") or {}
    prefix = base_path(doc)
    parts = []
    if info.get("description"):
        parts.append(f"<p>{e(info['description'])}</p>")
    ops = operations(doc)
    if ops:
        parts.append("<nav class='toc'><ul>" + "".join(
            f"<li><a href='#{_op_id(m, p)}'><span class='method {m}'>{m.upper()}</span> {e(p)}</a></li>"
            for m, p, _op, _ps in ops) + "</ul></nav>")
    for method, path, op, params in ops:
        oid = _op_id(method, path)
        block = [f"<section class='op' id='{oid}'><h3><span class='method {method}'>{method.upper()}</span> "
                 f"<code>{e(prefix + path)}</code></h3>"]
        if op.get("summary"):
            block.append(f"<p><strong>{e(op['summary'])}</strong></p>")
        if op.get("description"):
            block.append(f"<p>{e(op['description'])}</p>")
        if params:
            rows = "".join(
                f"<tr><td><code>{e(p.get('name'))}</code></td><td>{e(p.get('in'))}</td>"
                f"<td>{'yes' if p.get('required') else 'no'}</td>"
                f"<td>{schema_html(doc, p.get('schema') or {})}</td><td>{e(p.get('description'))}</td>"
                f"<td>{'<code>' + e(json.dumps(p['example'])) + '</code>' if 'example' in p else ''}</td></tr>"
                for p in params)
            block.append("<h4>Parameters</h4><table class='params'><thead><tr><th>Name</th><th>In</th>"
                         "<th>Required</th><th>Type</th><th>Description</th><th>Example</th></tr></thead>"
                         f"<tbody>{rows}</tbody></table>")
        body, _ = _resolve(doc, op.get("requestBody"))
        body_example = ""
        if isinstance(body, Mapping) and body:
            block.append("<h4>Request body" + (" <span class=req>required</span>" if body.get("required") else "")
                         + "</h4>" + _content_html(doc, body.get("content")))
            for media in (body.get("content") or {}).values():
                ex = _example(doc, media) if isinstance(media, Mapping) else None
                if ex is not None:
                    body_example = _pretty(ex)
                    break
        responses = op.get("responses") or {}
        if responses:
            block.append("<h4>Responses</h4><dl class='responses'>")
            for status, resp in responses.items():
                resp, _ = _resolve(doc, resp)
                resp = resp if isinstance(resp, Mapping) else {}
                block.append(f"<dt><code>{e(status)}</code> {e(resp.get('description'))}</dt>"
                             f"<dd>{_content_html(doc, resp.get('content'))}</dd>")
            block.append("</dl>")
        block.append(try_form(version_id, csrf, method, prefix + path, body_example, oid))
        block.append("</section>")
        parts.append("".join(block))
    if not ops:
        parts.append("<p class='muted'>This document describes no operations.</p>")
    return "".join(parts)


def try_form(version_id: str, csrf: str, method: str, path: str, body: str, oid: str) -> str:
    has_body = method in ("post", "put", "patch")
    return (
        f"<details class='try'><summary>Try it</summary>"
        f"<form method='post' action='/try' class='try-form'>"
        f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
        f"<input type='hidden' name='version' value='{e(version_id)}'>"
        f"<input type='hidden' name='method' value='{e(method.upper())}'>"
        f"<label for='{oid}-path'>Path (through the local proxy)</label>"
        f"<input id='{oid}-path' name='path' value='{e(path)}' required>"
        f"<label for='{oid}-key'>API key (apikey header)</label>"
        f"<input id='{oid}-key' name='apikey' autocomplete='off'>"
        + (f"<label for='{oid}-body'>Body (JSON)</label><textarea id='{oid}-body' name='body' rows='6'>{e(body)}</textarea>"
           if has_body else "")
        + f"<button type='submit'>Send {e(method.upper())}</button></form></details>"
    )


__all__ = ["document_html", "operations", "base_path", "schema_html", "e"]
