"""The built-in echo upstream: answers with what it received, like httpbin's ``/anything``.

A service whose host is ``echo.internal`` is answered in-process by ``echo_response`` (no socket:
the proxy hands it the request exactly as it would have sent it upstream), so a fresh install
has something to route to and the sample configuration works offline. ``create_echo_app`` serves
the same answer over a real socket (aiohttp) for tests and demos.

The JSON answer: ``method``, ``url``, ``path``, ``args`` (query; repeated keys become lists),
``headers`` (lower-case names; repeated headers become lists), ``data`` (body text), ``json``
(parsed when the body is JSON), ``form`` (urlencoded or multipart fields), ``files``, ``origin``.
The in-process echo echoes at most ``ProxyLimits.echo_max_body`` bytes of a body (the rest is
spooled and dropped by the proxy); then ``data_truncated`` is true and ``data_size`` the real size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ..jsontypes import JSONObject, JSONValue
from ..plugins.multipart import Multipart

if TYPE_CHECKING:  # aiohttp is imported when the app is made
    from aiohttp import web

ECHO_HOST = "echo.internal"


def _multi(pairs: Iterable[tuple[str, str]], lower: bool = False) -> JSONObject:
    out: JSONObject = {}
    for k, v in pairs:
        if lower:
            k = k.lower()
        if k in out:
            cur = out[k]
            if isinstance(cur, list):
                cur.append(v)
            else:
                out[k] = [cur, v]
        else:
            out[k] = v
    return out


def _multipart(body: bytes, ctype: str) -> tuple[JSONObject, JSONObject]:
    """Form fields and uploaded files, by the one multipart parser (``plugins.multipart``)."""
    form: list[tuple[str, str]] = []
    files: list[tuple[str, str]] = []
    parsed = Multipart.parse(body, ctype)
    for name, content, is_file in parsed.fields() if parsed else ():
        if name:
            (files if is_file else form).append((name, content.decode("utf-8", "replace")))
    return _multi(form), _multi(files)


def echo_body(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    origin: str,
    scheme: str = "http",
    body_size: int | None = None,
) -> JSONObject:
    """The echo document for one request (``target`` = path + query as received)."""
    hdrs = list(headers)
    path, _, query = target.partition("?")
    hmap = _multi(hdrs, lower=True)
    host = hmap.get("host", "")
    if isinstance(host, list):
        host = host[0]
    ctype = hmap.get("content-type", "")
    if isinstance(ctype, list):
        ctype = ctype[0]
    lctype = ctype.lower()
    data = body.decode("utf-8", "replace")
    parsed_json: JSONValue = None
    form: JSONObject = {}
    files: JSONObject = {}
    if body:
        if "json" in lctype:
            try:
                parsed_json = json.loads(data)
            except ValueError:
                parsed_json = None
        elif "application/x-www-form-urlencoded" in lctype:
            form = _multi(parse_qsl(data, keep_blank_values=True))
        elif "multipart/form-data" in lctype:
            try:
                form, files = _multipart(body, ctype)
            except Exception:  # malformed multipart: still echo the raw text
                form, files = {}, {}
    doc = {
        "method": method,
        "url": f"{scheme}://{host}{target}",
        "path": path,
        "query": query,
        "args": _multi(parse_qsl(query, keep_blank_values=True)),
        "headers": hmap,
        "data": data,
        "json": parsed_json,
        "form": form,
        "files": files,
        "origin": origin,
    }
    if body_size is not None and body_size > len(body):
        doc["data_truncated"] = True
        doc["data_size"] = body_size
    return doc


def echo_response(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    origin: str,
    body_size: int | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of the echo answer (``body`` may be the first part of a body of
    ``body_size`` bytes)."""
    doc = echo_body(method, target, headers, body, origin, body_size=body_size)
    payload = json.dumps(doc, indent=2).encode() + b"\n"
    return 200, [("Content-Type", "application/json"), ("Server", "konnect-desktop-echo")], payload


def create_echo_app() -> web.Application:
    """An aiohttp application answering every path with the echo document."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        origin = request.remote or ""
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        status, headers, payload = echo_response(request.method, request.raw_path, pairs, body, origin)
        resp = web.Response(status=status, body=payload)
        for k, v in headers:
            resp.headers[k] = v
        return resp

    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
