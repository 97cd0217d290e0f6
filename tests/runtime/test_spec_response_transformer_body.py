"""Kong's response-transformer body spec (spec/03-plugins/15-response-transformer/02-body_transformer_spec.lua,
Kong 3.9, ``transform_json_body()``) through real sockets: each spec ``conf`` is a route, the
upstream answers the spec's JSON input as ``application/json``, and the client gets the
transformed body. Each case names its ``describe`` and ``it``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from test_proxy_support import Cfg, configured_runtime, port_of, raw_request, route_per_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFS: dict[str, dict[str, Any]] = {
    "add": {"add": {"json": ["p1:v1", "p3:value:3", 'p4:"v1"', "p5:-1", "p6:false", "p7:true"],
                    "json_types": ["string", "string", "string", "number", "boolean", "boolean"]}},
    "append": {"append": {"json": ["p1:v1", 'p3:"v1"', "p4:-1", "p5:false", "p6:true"],
                          "json_types": ["string", "string", "number", "boolean", "boolean"]}},
    "remove": {"remove": {"json": ["p1", "p2"]}},
    "rename": {"rename": {"json": ["p1:k1", "p2:k2", "p3:k3", "p4:k4", "p5:k5"]}},
    "replace": {"replace": {"json": ["p1:v2", 'p2:"v2"', "p3:-1", "p4:false", "p5:true"],
                            "json_types": ["string", "string", "number", "boolean", "boolean"]}},
    "remove, rename, replace, add, append": {"remove": {"json": ["p1"]}, "rename": {"json": ["p4:p2"]},
                                             "replace": {"json": ["p2:v2"]}, "add": {"json": ["p3:v1"]},
                                             "append": {"json": ["p3:v2"]}},
}
ADDED = {"p1": "v1", "p3": "value:3", "p4": '"v1"', "p5": -1, "p6": False, "p7": True}
APPENDED = {"p1": ["v1"], "p3": ['"v1"'], "p4": [-1], "p5": [False], "p6": [True]}

CASES = [  # (describe, it, input body, expected body, key whose [] must stay an array)
    ("add", "parameter", '{"p2":"v1"}', {**ADDED, "p2": "v1"}, None),
    ("add", "add value in double quotes", '{"p2":"v1"}', {**ADDED, "p2": "v1"}, None),
    ("add", "number", '{"p2":-1}', {**ADDED, "p2": -1}, None),
    ("add", "boolean", '{"p2":false}', {**ADDED, "p2": False}, None),
    ("add", "preserves empty arrays", '{"p2":"v1", "a":[]}', {**ADDED, "p2": "v1", "a": []}, "a"),
    ("append", "new key:value if key does not exists", '{"p2":"v1"}', {"p2": "v1", **APPENDED}, None),
    ("append", "value if key exists", '{"p1":"v2"}', {**APPENDED, "p1": ["v2", "v1"]}, None),
    ("append", "value in double quotes", '{"p3":"v2"}', {**APPENDED, "p3": ["v2", '"v1"']}, None),
    ("append", "number", '{"p4":"v2"}', {**APPENDED, "p4": ["v2", -1]}, None),
    ("append", "boolean", '{"p5":"v5", "p6":"v6"}', {**APPENDED, "p5": ["v5", False], "p6": ["v6", True]}, None),
    ("append", "preserves empty arrays", '{"p2":"v1", "a":[]}', {"p2": "v1", "a": [], **APPENDED}, "a"),
    ("remove", "parameter", '{"p1" : "v1", "p2" : "v1"}', {}, None),
    ("remove", "preserves empty arrays", '{"p1" : "v1", "p2" : "v1", "a": []}', {"a": []}, "a"),
    ("rename", "parameter", '{"p1" : "v1", "p2" : "v2"}', {"k1": "v1", "k2": "v2"}, None),
    ("rename", "preserves empty arrays", '{"p1" : "v1", "p2" : "v2", "p3": []}', {"k1": "v1", "k2": "v2", "k3": []}, "k3"),
    ("rename", "number", '{"p3" : -1}', {"k3": -1}, None),
    ("rename", "boolean", '{"p4" : false, "p5" : true}', {"k4": False, "k5": True}, None),
    ("replace", "parameter if it exists", '{"p1" : "v1", "p2" : "v1"}', {"p1": "v2", "p2": '"v2"'}, None),
    ("replace", "does not add value to parameter if parameter does not exists", '{"p1" : "v1"}', {"p1": "v2"}, None),
    ("replace", "double quoted value", '{"p2" : "v1"}', {"p2": '"v2"'}, None),
    ("replace", "preserves empty arrays", '{"p1" : "v1", "p2" : "v1", "a": []}', {"p1": "v2", "p2": '"v2"', "a": []}, "a"),
    ("replace", "number", '{"p3" : "v1"}', {"p3": -1}, None),
    ("replace", "boolean", '{"p4" : "v4", "p5" : "v5"}', {"p4": False, "p5": True}, None),
    ("remove, rename, replace, add, append", "combination", '{"p1" : "v1", "p4" : "v1"}',
     {"p2": "v2", "p3": ["v1", "v2"]}, None),
    ("remove, rename, replace, add, append", "preserves empty array", '{"p1" : "v1", "p4" : "v1", "a" : []}',
     {"p2": "v2", "p3": ["v1", "v2"], "a": []}, "a"),
]


async def upstream(request: web.Request) -> web.StreamResponse:
    # answers the JSON it is sent, as is
    return web.Response(body=await request.read(), content_type="application/json")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    build = route_per_config("response-transformer", CONFS.values())
    async with configured_runtime(tmp_path_factory.mktemp("rt-body"), "rt-body", build, upstream) as rt:
        yield port_of(rt.proxy_url)


@pytest.mark.parametrize(("describe", "title", "body", "expected", "array_key"), CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
async def test_transform_json_body(proxy: int, describe: str, title: str, body: str, expected: dict[str, Any],
                                   array_key: str | None) -> None:
    host = f"conf{list(CONFS).index(describe)}.test"
    r = await raw_request(proxy, "POST", "/", [("Content-Type", "application/json")], body.encode(), host=host)
    assert r.status == 200
    assert json.loads(r.body) == expected
    if array_key is not None:  # an empty array stays an array, not {}
        assert f'"{array_key}":[]' in r.body.decode().replace(" ", "")


async def problem_upstream(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b'{"title":"oops"}', content_type="application/problem+json")


async def test_problem_json_body_is_transformed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A +json media type is a JSON body to transform (through real sockets)."""
    def build(cfg: Cfg, svc: dict[str, Any]) -> None:
        cfg.plugin("response-transformer", {"add": {"json": ["status:500"], "json_types": ["number"]}},
                   route=cfg.route(svc, paths=["/"]))

    async with configured_runtime(tmp_path_factory.mktemp("rt-problem"), "rt-problem", build, problem_upstream) as rt:
        r = await raw_request(port_of(rt.proxy_url), "GET", "/")
        assert r.status == 200 and json.loads(r.body) == {"title": "oops", "status": 500}
