"""Kong's response-transformer header spec (spec/03-plugins/15-response-transformer/01-header_transformer_spec.lua,
Kong 3.9, ``execute_headers()``) through real sockets: each spec ``conf`` is a route; the upstream
answers with the response headers the spec starts from (given in the query, repeated for a
header with two values), and the client's answer is checked. Each case names its ``describe`` and
``it``. The "sets content-length nil" cases are about Kong buffering in nginx (the proxy here
recomputes the length of a body it rewrote) and "header if the header exists and is empty" about
an nginx mock detail (" " for ""); they are not ported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from test_proxy_support import configured_runtime, port_of, raw_request, route_per_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFS: dict[str, dict[str, Any]] = {
    "remove": {"remove": {"headers": ["h1", "h2", "h3"]}, "add": {"json": ["p1:v1"]}},
    "rename": {"rename": {"headers": ["h1:h2", "h3:h4"]}},
    "replace": {"replace": {"headers": ["h1:v1", "h2:value:2"]}, "add": {"json": ["p1:v1"]}},
    "add": {"add": {"json": ["p1:v1"], "headers": ["h2:v2"]}},
    "append": {"add": {"json": ["p1:v1"]}, "append": {"headers": ["h1:v2"]}},
    "performing remove, replace, add, append together": {"remove": {"headers": ["h1:v1"]}, "replace": {"headers": ["h2:v3"]},
                                                         "add": {"json": ["p1:v1"], "headers": ["h3:v3"]},
                                                         "append": {"headers": ["h3:v4"]}},
}
H = ("h1", "h2", "h3", "h4")
CASES: list[tuple[str, str, list[tuple[str, str]], dict[str, list[str]]]] = [
    ("remove", "all the headers", [("h1", "value1"), ("h2", "value2a"), ("h2", "value2b")], {}),
    ("rename", "header if the header exists", [("h1", "v1"), ("h3", "v3")], {"h2": ["v1"], "h4": ["v3"]}),
    ("rename", "does not add as new header if header is not present", [], {}),
    ("rename", "header rename when same header being set twice", [("h1", "v1"), ("h1", "v2")], {"h2": ["v1", "v2"]}),
    ("replace", "header if the header only exists", [("h1", "value1"), ("h2", "value2a"), ("h2", "value2b")],
     {"h1": ["v1"], "h2": ["value:2"]}),
    ("replace", "does not add a new header if the header does not already exist", [("h2", "value2a"), ("h2", "value2b")],
     {"h2": ["value:2"]}),
    ("add", "header if the header does not exists", [("h1", "v1")], {"h1": ["v1"], "h2": ["v2"]}),
    ("add", "does not add a new header if the header already exist", [("h1", "v1"), ("h2", "v3")],
     {"h1": ["v1"], "h2": ["v3"]}),
    ("append", "header if the header does not exists", [], {"h1": ["v2"]}),
    ("append", "header if the header already exist", [("h1", "v1")], {"h1": ["v1", "v2"]}),
    ("performing remove, replace, add, append together", "transforms all headers", [("h1", "v1"), ("h2", "v2")],
     {"h2": ["v3"], "h3": ["v3", "v4"]}),
]


async def upstream(request: web.Request) -> web.StreamResponse:
    resp = web.Response(text="{}", content_type="text/plain")
    for k, v in request.query.items():
        resp.headers.add(k, v)
    return resp


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    build = route_per_config("response-transformer", CONFS.values())
    async with configured_runtime(tmp_path_factory.mktemp("rt-headers"), "rt-headers", build, upstream) as rt:
        yield port_of(rt.proxy_url)


@pytest.mark.parametrize(("describe", "title", "given", "expected"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
async def test_execute_headers(proxy: int, describe: str, title: str, given: list[tuple[str, str]],
                               expected: dict[str, list[str]]) -> None:
    host = f"conf{list(CONFS).index(describe)}.test"
    r = await raw_request(proxy, "GET", "/?" + urlencode(given), host=host)
    assert r.status == 200
    assert {h: r.headers_all(h) for h in H if r.headers_all(h)} == expected
