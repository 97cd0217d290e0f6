"""Which route wins (KONG-REFERENCE §2.5), through real sockets: each case is loaded into a running
gateway, each request is sent by a raw client, and the route that served it is read back from
the traffic log by the ``X-Kong-Request-Id`` response header."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from test_proxy_support import Cfg, echo_server, make_runtime, raw_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

# case: (routes {name: fields}, [(method, path, host, headers, expected route name or None)])
CASES: dict[str, tuple[dict[str, dict[str, Any]], list[tuple[str, str, str | None, list[tuple[str, str]], str | None]]]] = {
    "1-longer-prefix": (
        {"A": {"paths": ["/my-route/hello"]}, "B": {"paths": ["/my-route"]}},
        [("GET", "/my-route/hello", None, [], "A"), ("GET", "/my-route/hello/world", None, [], "A"),
         ("GET", "/my-route", None, [], "B"), ("GET", "/my-route/world", None, [], "B")],
    ),
    "2-methods-longer-prefix": (
        {"A": {"methods": ["POST", "PUT", "GET"], "paths": ["/my-route"]},
         "B": {"methods": ["POST", "PUT", "GET"], "paths": ["/my-route/hello"]}},
        [("GET", "/my-route/hello/world", None, [], "B")],
    ),
    "3-host-and-prefix": (
        {"A": {"hosts": ["example.com"], "paths": ["/my-route"]},
         "B": {"hosts": ["example.com"], "paths": ["/my-route/hello"]},
         "C": {"hosts": ["example.net"], "paths": ["/my-route/hello/world"]}},
        [("GET", "/my-route/hello/world", "example.com", [], "B")],
    ),
    "4-prefix-not-mid-path": (
        {"A": {"paths": ["/something/my-route"]}, "B": {"hosts": ["example.com"], "paths": ["/my-route"]}},
        [("GET", "/something/my-route", "example.com", [], "A")],
    ),
    "5-regex-beats-prefix": (
        {"A": {"paths": ["/route/persons"]}, "B": {"paths": ["~/route/persons/\\d+/profile"]}},
        [("GET", "/route/persons/123/profile", None, [], "B")],
    ),
    "6-regex-beats-exact-prefix": (
        {"A": {"paths": ["/route/fixture"]}, "B": {"paths": ["~/route/(fixture)"]}},
        [("GET", "/route/fixture", None, [], "B")],
    ),
    "7-method-mismatch-falls-through": (
        {"A": {"hosts": ["route.com"], "paths": ["/pat"]},
         "B": {"hosts": ["route.com"], "paths": ["/path"], "methods": ["POST"]},
         "C": {"hosts": ["route.com"], "paths": ["~/(path)"]}},
        [("GET", "/path", "route.com", [], "C")],
    ),
    "8-regex-anchored": (
        {"A": {"paths": ["~/prefix/[0-9]+"]}},
        [("GET", "/prefix/123", None, [], "A"), ("GET", "/extra/prefix/123", None, [], None)],
    ),
    "9-10-wildcard-hosts": (
        {"A": {"hosts": ["*.route.com"]}, "B": {"hosts": ["route.*"]}, "P": {"hosts": ["plain.route.com"]},
         "R": {"hosts": ["route.com"]}, "C": {"hosts": ["*.route.net:123"]}},
        [("GET", "/", "foo.route.com", [], "A"), ("GET", "/", "route.org", [], "B"),
         ("GET", "/", "plain.route.com", [], "P"), ("GET", "/", "route.com", [], "R"),
         ("GET", "/", "foo.route.net:123", [], "C"), ("GET", "/", "foo.route.net:456", [], None)],
        # (the reference's D = route.*:123 is refused by route validation here, so not loaded)
    ),
    "11-host-path-combination": (
        {"A": {"hosts": ["*.route.com"], "paths": ["/path1"]}, "B": {"hosts": ["plain.route.com"], "paths": ["/path2"]}},
        [("GET", "/path1", "plain.route.com", [], "A")],
    ),
    "12-more-headers-win": (
        {"A": {"headers": {"version": ["v1", "v2"], "user_agent": ["foo", "bar"]}},
         "B": {"headers": {"version": ["v1", "v2"], "user_agent": ["foo", "bar"], "location": ["east", "west"]}}},
        [("GET", "/", None, [("version", "v1"), ("user_agent", "foo"), ("location", "north"), ("location", "west")], "B"),
         ("GET", "/", None, [("version", "v1"), ("user_agent", "foo")], "A")],
    ),
    "13-host-and-path-beat-method": (
        {"R1": {"hosts": ["domain-1.org", "domain-2.org"]}, "R2": {"methods": ["TRACE"]}, "R3": {"paths": ["/my-route"]}},
        [("TRACE", "/", "domain-2.org", [], "R1"), ("TRACE", "/my-route", "domain.org", [], "R3")],
    ),
    "14-host-decides": (
        {"A": {"hosts": ["host1.com"], "paths": ["/v1/path"]}, "B": {"hosts": ["host2.com"], "paths": ["/"]}},
        [("GET", "/v1/path", "host2.com", [], "B")],
    ),
    "15-path-beats-method": (
        {"A": {"methods": ["GET"]}, "B": {"paths": ["/example"]}},
        [("GET", "/example", None, [], "B"), ("GET", "/example/status/200", None, [], "B")],
    ),
    "16-uuid-tie-break": (
        {"A": {"id": "e8fb37f1-102d-461e-9c51-6608a6bb8101", "methods": ["GET"]},
         "B": {"id": "e8fb37f1-102d-461e-9c51-6608a6bb8102", "hosts": ["domain.*"]}},
        [("GET", "/", "nothing.com", [], "A"), ("GET", "/", "domain.com", [], "B")],
    ),
    "17-header-count-beats-path-length": (
        {"A": {"headers": {"version": ["v1"]}, "paths": ["/my-route/hello"]},
         "B": {"headers": {"version": ["v1"], "location": ["us-east"]}, "paths": ["/my-route"]}},
        [("GET", "/my-route/hello", None, [("version", "v1"), ("location", "us-east")], "B")],
    ),
    "18-regex-priority-ignored-for-prefix": (
        {"A": {"hosts": ["domain-1.org"], "paths": ["/.*"]},
         "B": {"hosts": ["domain-2.org"], "paths": ["/"], "regex_priority": 5},
         "C": {"hosts": ["domain-2.org"], "paths": ["/v1"]}},
        [("GET", "/v1", "domain-2.org", [], "C")],
    ),
    "19-multi-path-route-split": (
        {"A": {"hosts": ["domain-1.org"], "paths": ["~/some/thing/else", "/foo"]},
         "B": {"hosts": ["domain-1.org"], "paths": ["/foo/bar"]}},
        [("GET", "/some/thing/else", "domain-1.org", [], "A"), ("GET", "/foo/bar", "domain-1.org", [], "B")],
    ),
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory):
    up = await echo_server()
    rt = await make_runtime(tmp_path_factory.mktemp("router"))
    rt._test_upstream_port = up.port  # type: ignore[attr-defined]
    yield rt
    await rt.stop()
    await up.stop()


@pytest.mark.parametrize("case", list(CASES))
async def test_route_selection(gateway, case: str) -> None:
    routes, requests = CASES[case]
    cfg = Cfg()
    svc = cfg.service(port=gateway._test_upstream_port)
    for name, fields in routes.items():
        cfg.route(svc, name=name, **fields)
    await gateway.load_config(cfg.config())
    port = int(gateway.proxy_url.rsplit(":", 1)[1])
    for method, path, host, headers, expected in requests:
        resp = await raw_request(port, method, path, headers, host=host or "127.0.0.1")
        rid = resp.header("X-Kong-Request-Id")
        entry = gateway.traffic.get(rid)
        assert entry is not None
        got = entry.route["name"] if entry.route else None
        assert got == expected, f"{method} {path} host={host} headers={headers}: {got} (status {resp.status})"
        if expected is None:
            assert resp.status == 404
            assert resp.json() == {"message": "no Route matched with those values", "request_id": rid}
        else:
            assert resp.status == 200, resp
