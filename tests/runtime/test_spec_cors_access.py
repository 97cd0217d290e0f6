"""Kong's cors access spec (spec/03-plugins/13-cors/01-access_spec.lua, Kong 3.9) through real
sockets: one gateway, the spec's routes by Host, a raw HTTP/1.1 client, an upstream that answers
``/status/<n>`` and ``/response-headers?<name>=<value>`` like the spec's mock upstream.

Each test names its ``it`` title. Not ported: "works even when upstream timeouts" and "works
even when a runtime error occurs" (they need Kong's blackhole upstream and its error-generator
test plugin; the proxy's own 502/504 answers carry the plugin's headers, see
tests/runtime/test_proxy_plugin_lane.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from test_proxy_support import Cfg, RawResponse, configured_runtime, port_of, raw_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

CORS_DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
PREFLIGHT_ONLY = ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age")
OPTIONS_OF = {
    "cors2.test": {"origins": ["example.test"], "methods": ["GET"], "headers": ["origin", "type", "accepts"],
                   "exposed_headers": ["x-auth-token"], "max_age": 23, "credentials": True},
    "cors3.test": {"origins": ["example.test"], "methods": ["GET"], "headers": ["origin", "type", "accepts"],
                   "exposed_headers": ["x-auth-token"], "max_age": 23, "preflight_continue": True},
    "cors5.test": {"origins": ["*"], "credentials": True},
    "cors6.test": {"origins": ["example.test", "example.org"], "methods": ["GET"],
                   "headers": ["origin", "type", "accepts"], "exposed_headers": ["x-auth-token"], "max_age": 23,
                   "preflight_continue": True},
    "cors7.test": {"origins": ["*"], "credentials": False},
    "cors-empty-origins.test": {"origins": []},
    "cors9.test": {"origins": [r".*\.?example(?:-foo)?.test"]},
    "cors10.test": {"origins": ["http://my-site.test", "http://my-other-site.test"]},
    "cors11.test": {"origins": ["http://my-site.test", "https://my-other-site.test:9000"]},
    "cors12.test": {"credentials": True, "preflight_continue": False, "max_age": 1728000,
                    "headers": ["DNT", "X-CustomHeader", "Keep-Alive", "User-Agent", "X-Requested-With",
                                "If-Modified-Since", "Cache-Control", "Content-Type", "Authorization"],
                    "methods": None, "origins": ["a.xxx.test", "allowed-domain.test"]},
    "cors13.test": {"preflight_continue": False, "private_network": True, "origins": ["allowed-domain.test"]},
    "cors14.test": {"preflight_continue": False, "origins": ["foo.bar", "*"]},
    "cors-upstream.test": {"origins": ["example.test"], "methods": ["GET"], "headers": ["origin", "type", "accepts"],
                           "exposed_headers": ["x-auth-token"], "max_age": 10, "preflight_continue": True},
}

REGEX_TESTCASES: list[tuple[list[str], dict[str, bool | str]]] = [
    (['foo.test'], {
        'http://evil.test': 'foo.test',
        'http://foo.test': 'foo.test',
        'http://foo.test.evil.test': 'foo.test',
        'http://something.foo.test': 'foo.test',
        'http://evilfoo.test': 'foo.test',
        'http://foo.test:80': 'foo.test',
        'http://foo.test:8000': 'foo.test',
        'https://foo.test:8000': 'foo.test',
        'http://foo.test:90': 'foo.test',
        'http://foobtest': 'foo.test',
        'https://bar.test:1234': 'foo.test',
    }),
    (['https://bar.test:1234'], {
        'http://evil.test': 'https://bar.test:1234',
        'http://foo.test': 'https://bar.test:1234',
        'http://foo.test.evil.test': 'https://bar.test:1234',
        'http://something.foo.test': 'https://bar.test:1234',
        'http://evilfoo.test': 'https://bar.test:1234',
        'http://foo.test:80': 'https://bar.test:1234',
        'http://foo.test:8000': 'https://bar.test:1234',
        'https://foo.test:8000': 'https://bar.test:1234',
        'http://foo.test:90': 'https://bar.test:1234',
        'http://foobtest': 'https://bar.test:1234',
        'https://bar.test:1234': 'https://bar.test:1234',
    }),
    (['foo\\.test'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://evilfoo.test': False,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': True,
        'https://foo.test:8000': True,
        'http://foo.test:90': True,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['(.*[./])?foo\\.test'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': True,
        'http://evilfoo.test': False,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': True,
        'https://foo.test:8000': True,
        'http://foo.test:90': True,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['(.*[./])?foo\\.test:8000'], {
        'http://evil.test': False,
        'http://foo.test': False,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://evilfoo.test': False,
        'http://foo.test:80': False,
        'http://foo.test:8000': True,
        'https://foo.test:8000': True,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['https://(.*[.])?foo\\.test:8000'], {
        'http://evil.test': False,
        'http://foo.test': False,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://foo.test:80': False,
        'http://foo.test:8000': False,
        'https://foo.test:8000': True,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['^http://(.*[.])?foo\\.test(:(80|90))?$'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': True,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': False,
        'https://foo.test:8000': False,
        'http://foo.test:90': True,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['foo.test', 'bar.test'], {
        'http://evil.test': False,
        'http://foo.test': False,
        'http://foo.test.evil.test': False,
        'http://foo.test:80': False,
        'http://foo.test:8000': False,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['http://foo.test', 'https://bar.test:1234'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': False,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': True,
    }),
    (['bar.test', 'foo\\.test'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': True,
        'http://foo.test:90': True,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['bar.test', '(.*\\.)?foo\\.test'], {
        'http://evil.test': False,
        'http://foo.test': True,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': True,
        'http://foo.test:80': 'http://foo.test',
        'http://foo.test:8000': True,
        'http://foo.test:90': True,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['bar.test', '(.*[./])?foo\\.test:8000'], {
        'http://evil.test': False,
        'http://foo.test': False,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://foo.test:80': False,
        'http://foo.test:8000': True,
        'https://foo.test:8000': True,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
    (['bar.test', 'https://(.*\\.)?foo\\.test:8000'], {
        'http://evil.test': False,
        'http://foo.test': False,
        'http://foo.test.evil.test': False,
        'http://something.foo.test': False,
        'http://foo.test:80': False,
        'http://foo.test:8000': False,
        'https://foo.test:8000': True,
        'http://foo.test:90': False,
        'http://foobtest': False,
        'https://bar.test:1234': False,
    }),
]


async def upstream(request: web.Request) -> web.StreamResponse:
    """The spec's mock upstream: /status/<n>, /response-headers?k=v, otherwise an echo."""
    if request.path.startswith("/status/"):
        code = int(request.path.rsplit("/", 1)[1])
        return web.json_response({"code": code}, status=code)
    if request.path == "/response-headers":
        resp = web.json_response({**request.query, "headers": {k.lower(): v for k, v in request.headers.items()}})
        for k, v in request.query.items():
            resp.headers.add(k, v)
        return resp
    return web.json_response({"vars": {"request_method": request.method}, "path": request.path})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    def build(cfg: Cfg, svc: dict[str, Any]) -> None:
        def route_with(host: str, config: dict[str, Any] | None) -> dict[str, Any]:
            route = cfg.route(svc, hosts=[host])
            cfg.plugin("cors", config, route=route)
            return route

        route_with("cors1.test", None)
        for host, config in OPTIONS_OF.items():
            route_with(host, config)
        route4 = route_with("cors4.test", None)
        cfg.plugin("key-auth", {}, route=route4)
        for i, (origins, _) in enumerate(REGEX_TESTCASES, 1):
            route_with(f"cors-regex-{i}.test", {"origins": origins})

    async with configured_runtime(tmp_path_factory.mktemp("cors-spec"), "cors-spec", build, upstream) as rt:
        yield port_of(rt.proxy_url)


async def send(port: int, method: str, host: str, headers: list[tuple[str, str]] | None = None,
               target: str = "/") -> RawResponse:
    return await raw_request(port, method, target, headers, host=host)


def none_of(res: RawResponse, *names: str) -> None:
    for n in names:
        assert res.header(n) is None, (n, res.header(n))


REGEX = [(i, origin, accept, origins) for i, (origins, tests) in enumerate(REGEX_TESTCASES, 1)
         for origin, accept in sorted(tests.items())]


@pytest.mark.parametrize(("i", "origin", "accept", "origins"), REGEX,
                         ids=[f"given {o}, {json.dumps(os)} will {'accept' if a else 'reject'}" for _, o, a, os in REGEX])
async def test_regex_origins_preflight(proxy: int, i: int, origin: str, accept: bool | str, origins: list[str]) -> None:
    """it("given <origin>, <origins> will accept|reject")"""
    res = await send(proxy, "OPTIONS", f"cors-regex-{i}.test",
                     [("Origin", origin), ("Access-Control-Request-Method", "GET")])
    assert res.status == 200
    if accept:
        assert res.header("Access-Control-Allow-Methods") == CORS_DEFAULT_METHODS
        assert res.header("Access-Control-Allow-Origin") == (origin if accept is True else accept)
        none_of(res, "Access-Control-Allow-Headers", "Access-Control-Expose-Headers",
                "Access-Control-Allow-Credentials", "Access-Control-Max-Age")
    else:
        assert res.header("Access-Control-Allow-Origin") is None


async def test_options_gives_appropriate_defaults(proxy: int) -> None:
    """it("gives appropriate defaults") — HTTP method: OPTIONS"""
    for host, origin in (("cors1.test", "origin1.test"), ("cors-empty-origins.test", "empty-origin.test")):
        # the second is it("gives * wildcard when config.origins is empty")
        res = await send(proxy, "OPTIONS", host, [("Origin", origin), ("Access-Control-Request-Method", "GET")])
        assert res.status == 200 and res.header("Content-Length") == "0"
        assert res.header("Access-Control-Allow-Methods") == CORS_DEFAULT_METHODS
        assert res.header("Access-Control-Allow-Origin") == "*"
        none_of(res, "Access-Control-Allow-Headers", "Access-Control-Expose-Headers",
                "Access-Control-Allow-Credentials", "Access-Control-Max-Age", "Vary")


async def test_options_star_with_credentials(proxy: int) -> None:
    """it("gives appropriate defaults when origin is explicitly set to * and config.credentials=true")"""
    res = await send(proxy, "OPTIONS", "cors5.test", [("Origin", "origin5.test"), ("Access-Control-Request-Method", "GET")])
    assert res.status == 200 and res.header("Content-Length") == "0"
    assert res.header("Access-Control-Allow-Methods") == CORS_DEFAULT_METHODS
    assert res.header("Access-Control-Allow-Origin") == "origin5.test"
    assert res.header("Access-Control-Allow-Credentials") == "true"
    assert res.header("Vary") == "Origin"
    none_of(res, "Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Access-Control-Max-Age")


async def test_options_star_among_several_origins(proxy: int) -> None:
    """it("gives * wildcard when origin has multiple entries and have * included")"""
    res = await send(proxy, "OPTIONS", "cors14.test",
                     [("Origin", "http://www.example.net"), ("Access-Control-Request-Method", "GET")])
    assert res.status == 200 and res.header("Content-Length") == "0"
    assert res.header("Access-Control-Allow-Methods") == CORS_DEFAULT_METHODS
    assert res.header("Access-Control-Allow-Origin") == "*"
    none_of(res, "Access-Control-Allow-Headers", "Access-Control-Expose-Headers",
            "Access-Control-Allow-Credentials", "Access-Control-Max-Age")


async def test_options_accepts_config_options(proxy: int) -> None:
    """it("accepts config options") — HTTP method: OPTIONS"""
    res = await send(proxy, "OPTIONS", "cors2.test", [("Origin", "origin5.test"), ("Access-Control-Request-Method", "GET")])
    assert res.status == 200 and res.header("Content-Length") == "0"
    assert res.header("Access-Control-Allow-Methods") == "GET"
    assert res.header("Access-Control-Allow-Origin") == "example.test"
    assert res.header("Access-Control-Max-Age") == "23"
    assert res.header("Access-Control-Allow-Credentials") == "true"
    assert res.header("Access-Control-Allow-Headers") == "origin,type,accepts"
    assert res.header("Vary") == "Origin"
    none_of(res, "Access-Control-Expose-Headers")


async def test_preflight_continue_enabled(proxy: int) -> None:
    """it("preflight_continue enabled")"""
    res = await send(proxy, "OPTIONS", "cors3.test", target="/status/201")
    assert res.status == 201 and json.loads(res.body)["code"] == 201


async def test_replies_with_request_headers(proxy: int) -> None:
    """it("replies with request-headers if present in request")"""
    res = await send(proxy, "OPTIONS", "cors5.test", [("Origin", "origin5.test"),
                                                     ("Access-Control-Request-Headers", "origin,accepts"),
                                                     ("Access-Control-Request-Method", "GET")])
    assert res.status == 200 and res.header("Content-Length") == "0"
    assert res.header("Access-Control-Allow-Headers") == "origin,accepts"


async def test_properly_validates_flat_strings(proxy: int) -> None:
    """it("properly validates flat strings") — an OPTIONS without Access-Control-Request-Method is
    not a preflight: it is proxied and gets the response-phase headers."""
    res = await send(proxy, "OPTIONS", "cors10.test", [("Origin", "http://my-site.test")])
    assert res.status == 200 and res.header("Access-Control-Allow-Origin") == "http://my-site.test"
    for bad in ("http://bad-guys.test", "http://my-site.test.bad-guys.test"):
        res = await send(proxy, "OPTIONS", "cors10.test", [("Origin", bad)])
        assert res.status == 200 and res.header("Access-Control-Allow-Origin") is None


async def test_support_private_network(proxy: int) -> None:
    """it("support private-network")"""
    res = await send(proxy, "OPTIONS", "cors13.test", [("Origin", "allowed-domain.test"),
                                                      ("Access-Control-Request-Private-Network", "true"),
                                                      ("Access-Control-Request-Method", "PUT")])
    assert res.status == 200 and res.header("Access-Control-Allow-Private-Network") == "true"


async def test_others_gives_appropriate_defaults(proxy: int) -> None:
    """it("gives appropriate defaults"), it("proxies a non-preflight OPTIONS request") and
    it("works with 404 responses") — HTTP method: others"""
    for method, target, status in (("GET", "/", 200), ("OPTIONS", "/anything", 200), ("GET", "/status/404", 404)):
        res = await send(proxy, method, "cors1.test", target=target)
        assert res.status == status
        if method == "OPTIONS":
            assert json.loads(res.body)["vars"]["request_method"] == "OPTIONS"
        assert res.header("Access-Control-Allow-Origin") == "*"
        none_of(res, *PREFLIGHT_ONLY, "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials", "Vary")


async def test_others_accepts_config_options(proxy: int) -> None:
    """it("accepts config options") — HTTP method: others"""
    res = await send(proxy, "GET", "cors2.test")
    assert res.status == 200
    assert res.header("Access-Control-Allow-Origin") == "example.test"
    assert res.header("Access-Control-Expose-Headers") == "x-auth-token"
    assert res.header("Access-Control-Allow-Credentials") == "true"
    assert res.header("Vary") == "Origin"
    none_of(res, *PREFLIGHT_ONLY)


async def test_works_with_40x_returned_by_another_plugin(proxy: int) -> None:
    """it("works with 40x responses returned by another plugin")"""
    res = await send(proxy, "GET", "cors4.test")
    assert res.status == 401
    assert res.header("Access-Control-Allow-Origin") == "*"
    none_of(res, *PREFLIGHT_ONLY, "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials", "Vary")


async def test_sets_cors_origin_based_on_origin_host(proxy: int) -> None:
    """it("sets CORS orgin based on origin host")"""
    res = await send(proxy, "GET", "cors6.test", [("Origin", "example.test")])
    assert res.status == 200 and res.header("Access-Control-Allow-Origin") == "example.test"
    assert res.header("Vary") == "Origin"
    domains = {"example.test": True, "www.example.test": True, "example-foo.test": True,
               "www.example-foo.test": True, "www.example-fo0.test": False}
    for domain, ok in domains.items():
        res = await send(proxy, "GET", "cors9.test", [("Origin", domain)])
        assert res.status == 200
        assert res.header("Access-Control-Allow-Origin") == (domain if ok else None), domain
        assert res.header("Vary") == "Origin"


async def test_sets_vary_without_overriding_existing(proxy: int) -> None:
    """it("sets Vary and don't override existing Vary header")"""
    res = await send(proxy, "GET", "cors-upstream.test", [("Origin", "example.test")],
                     target="/response-headers?vary=Accept-Encoding")
    assert res.status == 200 and res.headers_all("Vary") == ["Accept-Encoding", "Origin"]


async def test_does_not_automatically_parse_the_host(proxy: int) -> None:
    """it("does not automatically parse the host") and
    it("does not sets CORS origin if origin host is not in origin_domains list")"""
    for origin in ("http://example.test", "https://example.test", "http://www.example.net"):
        res = await send(proxy, "GET", "cors6.test", [("Origin", origin)])
        assert res.status == 200 and res.header("Access-Control-Allow-Origin") is None, origin


async def test_validates_scheme_and_port(proxy: int) -> None:
    """it("validates scheme and port")"""
    expected = {"http://my-site.test": "http://my-site.test", "http://my-site.test:80": "http://my-site.test",
                "http://my-site.test:8000": None, "https://my-site.test": None,
                "https://my-other-site.test:9000": "https://my-other-site.test:9000",
                "https://my-other-site.test:9001": None}
    for origin, allowed in expected.items():
        res = await send(proxy, "GET", "cors11.test", [("Origin", origin)])
        assert res.status == 200 and res.header("Access-Control-Allow-Origin") == allowed, origin


async def test_credentials_echo_the_requested_origin(proxy: int) -> None:
    """it("responds with the requested Origin when config.credentials=true") and
    it("responds with the requested Origin (including port) when config.credentials=true")"""
    for origin in ("http://www.example.net", "http://www.example.net:3000"):
        res = await send(proxy, "GET", "cors5.test", [("Origin", origin)])
        assert res.status == 200 and res.header("Access-Control-Allow-Origin") == origin
        assert res.header("Access-Control-Allow-Credentials") == "true"
        assert res.header("Vary") == "Origin"


async def test_star_without_credentials(proxy: int) -> None:
    """it("responds with * when origin is explicitly set to * and config.credentials=false") and
    it("responds with * when origin has multiple entries and have * included")"""
    res = await send(proxy, "GET", "cors7.test", [("Origin", "http://www.example.net")])
    assert res.status == 200 and res.header("Access-Control-Allow-Origin") == "*"
    none_of(res, "Access-Control-Allow-Credentials", "Vary")
    res = await send(proxy, "GET", "cors14.test", [("Origin", "http://www.example.net")])
    assert res.status == 200 and res.header("Access-Control-Allow-Origin") == "*"


async def test_removes_upstream_acao_when_no_match(proxy: int) -> None:
    """it("removes upstream ACAO header when no match is found") — the upstream's own
    Access-Control-Allow-Origin: * is replaced by the matched origin."""
    res = await send(proxy, "GET", "cors12.test", [("Origin", "allowed-domain.test")],
                     target="/response-headers?Response-Header=is-added&Access-Control-Allow-Origin=%2A")
    assert res.status == 200
    assert res.header("Response-Header") == "is-added"
    assert res.headers_all("Access-Control-Allow-Origin") == ["allowed-domain.test"]
    assert res.header("Access-Control-Allow-Credentials") == "true"
    assert res.header("Vary") == "Origin"
    assert json.loads(res.body)["headers"]["origin"] == "allowed-domain.test"
    res = await send(proxy, "GET", "cors12.test", [("Origin", "disallowed-domain.test")],
                     target="/response-headers?Response-Header=is-added&Access-Control-Allow-Origin=%2A")
    assert res.status == 200
    assert res.header("Response-Header") == "is-added"
    assert res.header("Access-Control-Allow-Origin") is None
    assert res.header("Access-Control-Allow-Credentials") == "true"
    assert json.loads(res.body)["headers"]["origin"] == "disallowed-domain.test"
