"""Kong's router unit spec, the ``select()`` use case (spec/01-unit/08-router_spec.lua, Kong 3.9,
``traditional_compatible`` flavor), through real sockets: the spec's 15 routes (route 8, the
serviceless one, is left out: a proxied request needs a service) are loaded into a running
gateway, each request is sent by a raw client, and the route that served it is read back from
the traffic log. Each case names its ``it`` title.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from test_proxy_support import Cfg, configured_runtime, port_of, raw_request

from konnect_desktop.runtime.runtime import LocalRuntime

pytestmark = pytest.mark.asyncio(loop_scope="module")

UA_REGEX = r"~*windows|linux|os\s+x\s*[\d\._]+|solaris|bsd"
ROUTES: dict[int, dict[str, Any]] = {
    1: {"hosts": ["domain-1.org", "domain-2.org"]},
    2: {"methods": ["TRACE"]},
    3: {"paths": ["/my-route"]},
    4: {"paths": ["/route-4"], "hosts": ["domain-1.org", "domain-2.org"]},
    5: {"hosts": ["domain-1.org", "domain-2.org"], "methods": ["POST", "PUT", "PATCH"]},
    6: {"methods": ["POST", "PUT", "PATCH"], "paths": ["/route-6"]},
    7: {"hosts": ["domain-with-uri-1.org", "domain-with-uri-2.org"], "methods": ["POST", "PUT", "PATCH"],
        "paths": ["/my-route-uri"]},
    9: {"headers": {"location": ["my-location-1", "my-location-2"]}},
    10: {"headers": {"location": ["my-location-1"], "version": ["v1", "v2"]}},
    11: {"headers": {"location": ["my-location-1", "my-location-2"]}, "paths": ["/headers-uri"]},
    12: {"hosts": ["domain-with-headers-1.org", "domain-with-headers-2.org"],
         "headers": {"location": ["my-location-1", "my-location-2"]}, "methods": ["POST", "PUT", "PATCH"],
         "paths": ["/headers-host-uri-method"]},
    13: {"hosts": ["domain-1.org:321", "domain-2.org"]},
    14: {"hosts": ["domain-3.org:321"]},
    15: {"headers": {"user_agent": [UA_REGEX]}},
}
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.116 "
      "Safari/537.36")

CASES: list[tuple[str, str, str, str | None, list[tuple[str, str]], int | None]] = [
    # (it title, method, path, Host, headers, expected route number or None for no match)
    ("[host]", "GET", "/", "domain-1.org", [], 1),
    ("[host] ignores default port", "GET", "/", "domain-1.org:80", [], 1),
    ("[host] matches specific port", "GET", "/", "domain-1.org:321", [], 13),
    ("[host] matches specific port on port-only route", "GET", "/", "domain-3.org:321", [], 14),
    ("[host] fails just because of port on port-only route", "GET", "/", "domain-3.org:123", [], None),
    ("[uri]", "GET", "/my-route", "domain.org", [], 3),
    ("[uri + empty host]", "GET", "/my-route-uri", "", [], 3),
    ("[method]", "TRACE", "/", "domain.org", [], 2),
    ("[host + uri]", "GET", "/route-4", "domain-1.org", [], 4),
    ("[host + method]", "POST", "/", "domain-1.org", [], 5),
    ("[uri + method]", "PUT", "/route-6", "domain.org", [], 6),
    ("[host + uri + method]", "PUT", "/my-route-uri", "domain-with-uri-2.org", [], 7),
    ("single [headers] value", "GET", "/", None, [("location", "my-location-1")], 9),
    ("single [headers] value", "GET", "/", None, [("location", "my-location-2")], 9),
    ("single [headers] value", "GET", "/", None, [("location", "my-location-3"), ("location", "my-location-2")], 9),
    ("single [headers] value", "GET", "/", None, [("location", "my-location-3")], None),
    ("single [headers] value", "GET", "/", None, [("location", "my-location-3"), ("location", "foo")], None),
    ("single [headers] value", "GET", "/", None, [("user_agent", UA)], 15),
    ("single [headers] value (as sent by clients)", "GET", "/", None, [("User-Agent", UA)], 15),
    ("multiple [headers] values", "GET", "/", None, [("location", "my-location-1"), ("version", "v1")], 10),
    ("multiple [headers] values", "GET", "/", None, [("location", "my-location-1"), ("version", "v2")], 10),
    ("multiple [headers] values", "GET", "/", None,
     [("location", "my-location-3"), ("location", "my-location-1"), ("version", "v2")], 10),
    ("multiple [headers] values", "GET", "/", None,
     [("location", "my-location-3"), ("location", "my-location-2"), ("version", "v2")], 9),
    ("[headers + uri]", "GET", "/headers-uri", None, [("location", "my-location-2")], 11),
    ("[host + headers + uri + method]", "PUT", "/headers-host-uri-method", "domain-with-headers-1.org",
     [("location", "my-location-2")], 12),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalRuntime]:
    def build(cfg: Cfg, svc: dict[str, Any]) -> None:
        for n, fields in ROUTES.items():
            cfg.route(svc, name=f"route-{n}", id=f"e8fb37f1-102d-461e-9c51-6608a6bb{8100 + n}", **fields)

    async with configured_runtime(tmp_path_factory.mktemp("router-select"), "router-select", build) as rt:
        yield rt


@pytest.mark.parametrize(("title", "method", "path", "host", "headers", "expected"), CASES,
                         ids=[f"{c[0]} {c[1]} {c[2]} {c[3]} {c[4]}" for c in CASES])
async def test_select(gateway: LocalRuntime, title: str, method: str, path: str, host: str | None,
                      headers: list[tuple[str, str]], expected: int | None) -> None:
    r = await raw_request(port_of(gateway.proxy_url), method, path, headers, host=host if host is not None else "127.0.0.1")
    entry = gateway.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert entry is not None
    got = entry.route["name"] if entry.route else None
    assert got == (f"route-{expected}" if expected is not None else None), (title, r.status)
    assert r.status == (200 if expected is not None else 404)
