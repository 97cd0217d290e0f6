"""Upstream path = service.path ⊕ request path (Kong's v0 rules, KONG-REFERENCE §2.4), checked
through real sockets: client → LocalRuntime → echo upstream, which reports the path it got."""

from __future__ import annotations

import pytest
import pytest_asyncio
from test_proxy_support import Cfg, echo_server, make_runtime, raw_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

# (service.path, route path or None for a host-only route, strip_path, request, upstream path)
ROWS: list[tuple[str, str | None, bool, str, str]] = []


def _row(svc: str, route: str | None, strip: str, request: str, expected: str) -> None:
    for s in ((True, False) if strip == "any" else (strip == "true",)):
        ROWS.append((svc, route, s, request, expected))


_row("/", "/", "any", "/route/req", "/route/req")
_row("/", "/route", "false", "/routereq", "/routereq")
_row("/", "/route", "true", "/route", "/")
_row("/", "/route", "true", "/route/", "/")
_row("/", "/route", "true", "/routereq", "/req")
_row("/", "/route/", "true", "/route/req", "/req")
_row("/srv", "/rou", "false", "/roureq", "/srv/roureq")
_row("/srv", "/rou", "true", "/roureq", "/srv/req")
_row("/srv/", "/rou", "true", "/rou", "/srv")
_row("/service", "/", "any", "/", "/service")
_row("/service", "/", "any", "/route", "/service/route")
_row("/service", "/route", "false", "/route", "/service/route")
_row("/service", "/route", "true", "/route", "/service")
_row("/service", "/route", "true", "/route/", "/service/")
_row("/service", "/route", "true", "/routereq", "/service/req")
_row("/service", "/route/", "true", "/route/", "/service/")
_row("/service", "/route/", "true", "/route/req", "/service/req")
_row("/service/", "/", "any", "/", "/service/")
_row("/service/", "/route", "false", "/routereq", "/service/routereq")
_row("/service/", "/route", "true", "/route", "/service")
_row("/service/", "/route", "true", "/route/", "/service/")
_row("/service/", "/route/", "true", "/route/req", "/service/req")
_row("/service", None, "any", "/route/", "/service/route/")
_row("/service", "/route", "true", "/route./req", "/service/req")
_row("/service", "/route", "true", "/route%2E%2E/req", "/service/req")
_row("/service", "/route", "false", "/route%2e/req", "/service/route./req")
# §2.5 #20: strip_path with several paths, a regex, an encoded slash
_row("/", "/my-route", "true", "/my-route/hello/world", "/hello/world")
_row("/", "/my-route", "true", "/my-route", "/")
_row("/", "~/users/\\d+/profile", "true", "/users/123/profile/hello/world", "/hello/world")
_row("/", "/endel%2Fst", "true", "/endel%2Fst", "/")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory):
    up = await echo_server()
    rt = await make_runtime(tmp_path_factory.mktemp("paths"))
    cfg = Cfg()
    for i, (svc_path, route_path, strip, _req, _exp) in enumerate(ROWS):
        svc = cfg.service(port=up.port, path=svc_path)
        fields = {"hosts": [f"row{i}.test"], "strip_path": strip}
        if route_path is not None:
            fields["paths"] = [route_path]
        cfg.route(svc, **fields)
    await rt.load_config(cfg.config())
    yield rt
    await rt.stop()
    await up.stop()


@pytest.mark.parametrize("i", range(len(ROWS)), ids=[f"{r[0]}|{r[1]}|{r[2]}|{r[3]}" for r in ROWS])
async def test_upstream_path(gateway, i: int) -> None:
    svc_path, route_path, strip, request, expected = ROWS[i]
    resp = await raw_request(int(gateway.proxy_url.rsplit(":", 1)[1]), "GET", request + "?q=1&x=%20y",
                             host=f"row{i}.test")
    assert resp.status == 200, resp
    got = resp.json()
    assert got["path"] == expected
    assert got["query"] == "q=1&x=%20y"  # passed through unchanged
