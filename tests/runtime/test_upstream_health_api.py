"""Upstreams as Kong has them: the full ``healthchecks`` default record, and the health
endpoints (``/upstreams/{u}/health``, ``/targets/all``, ``/targets/{t}/healthy|unhealthy``), over
real HTTP and a real SQLite store; then the runtime's balancer going around a target marked
unhealthy, through real sockets.

Kong spec cases ported (spec/02-integration/04-admin_api/08-targets_routes_spec.lua, Kong
3.x's ``kong/api/routes/upstreams.lua`` for the verbs: PUT, and POST as older clients send):
"returns HEALTHCHECKS_OFF for targets that resolve", "returns HEALTHY if failure not detected",
"checks every combination of valid and invalid upstream and target", "flips the target status
from UNHEALTHY to HEALTHY" / "from HEALTHY to UNHEALTHY", "/targets/all" "retrieves the first
page" / "paginates a set" / "data property is an empty array".
"""

from __future__ import annotations

import uuid

import pytest
from admin_support import admin_client, ok_json
from test_proxy_support import Cfg, echo_server, make_runtime, raw_request

from konnect_desktop.model import declarative
from konnect_desktop.model.diff import plan
from konnect_desktop.runtime.store import Store

# The record Kong 3.9 answers for an upstream created with just a name (the OSS Admin API
# spec's Upstream example, plus the unset fields it leaves out).
KONG_DEFAULT_HEALTHCHECKS = {
    "active": {
        "concurrency": 10, "headers": None, "http_path": "/", "https_sni": None,
        "https_verify_certificate": True, "timeout": 1, "type": "http",
        "healthy": {"http_statuses": [200, 302], "interval": 0, "successes": 0},
        "unhealthy": {"http_failures": 0, "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
                      "interval": 0, "tcp_failures": 0, "timeouts": 0},
    },
    "passive": {
        "type": "http",
        "healthy": {"http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                      300, 301, 302, 303, 304, 305, 306, 307, 308], "successes": 0},
        "unhealthy": {"http_failures": 0, "http_statuses": [429, 500, 503], "tcp_failures": 0, "timeouts": 0},
    },
    "threshold": 0,
}
PASSIVE_ON = {"passive": {"healthy": {"successes": 1},
                          "unhealthy": {"tcp_failures": 1, "http_failures": 1, "timeouts": 1}}}


@pytest.fixture
async def api(tmp_path):
    async with admin_client(tmp_path / "kong.db") as client:
        yield client


async def test_upstream_gets_kongs_default_healthchecks(api) -> None:
    up = await ok_json(await api.post("/upstreams", json={"name": "u"}), 201)
    assert up["healthchecks"] == KONG_DEFAULT_HEALTHCHECKS
    # a partial record fills the rest; form notation reaches nested arrays
    up = await ok_json(await api.patch("/upstreams/u", json={"healthchecks": {"active": {"healthy": {"interval": 5}}}}))
    assert up["healthchecks"]["active"]["healthy"] == {"interval": 5, "http_statuses": [200, 302], "successes": 0}
    assert up["healthchecks"]["passive"] == KONG_DEFAULT_HEALTHCHECKS["passive"]
    up = await ok_json(await api.post("/upstreams", data=[
        ("name", "f"), ("healthchecks.active.healthy.http_statuses[]", "200"),
        ("healthchecks.active.healthy.http_statuses[]", "201"), ("healthchecks.threshold", "50")]), 201)
    assert up["healthchecks"]["active"]["healthy"]["http_statuses"] == [200, 201]
    assert up["healthchecks"]["threshold"] == 50
    bad = await ok_json(await api.post("/upstreams", json={"name": "b", "healthchecks": {"active": {"timeout": -1}}}), 400)
    assert bad["fields"] == {"healthchecks": {"active": {"timeout": "value should be between 0 and 65535"}}}


def test_deck_file_without_healthchecks_shows_no_drift(tmp_path) -> None:
    """A file that omits health checks loads with Kong's defaults, so a diff against what the
    runtime stored is empty and nothing would be sent as null."""
    text = "_format_version: '3.0'\nupstreams:\n- name: pool.internal\n  targets:\n  - target: 127.0.0.1:9\n"
    desired = declarative.load(text.encode())
    assert desired["upstreams"][0]["healthchecks"] == KONG_DEFAULT_HEALTHCHECKS
    store = Store(tmp_path / "k.db")
    try:
        store.replace_all(desired)
        assert plan(store.export(), declarative.load(text.encode())).changes == []
    finally:
        store.close()


async def _targets(api, upstream: str, *names: str) -> list[dict]:
    return [await ok_json(await api.post(f"/upstreams/{upstream}/targets", json={"target": n, "weight": 10}), 201)
            for n in names]


async def test_health_is_off_until_checks_are_configured(api) -> None:
    """returns HEALTHCHECKS_OFF for targets that resolve; returns HEALTHY if failure not detected."""
    root = await ok_json(await api.get("/"))
    await ok_json(await api.post("/upstreams", json={"name": "u"}), 201)
    await _targets(api, "u", "127.0.0.1:81", "127.0.0.1:82")
    for suffix in ("", "/"):
        body = await ok_json(await api.get(f"/upstreams/u/health{suffix}"))
        assert body["node_id"] == root["node_id"] and body["next"] is None
        assert [t["target"] for t in body["data"]] == ["127.0.0.1:82", "127.0.0.1:81"]  # newest first
        for t in body["data"]:
            assert t["health"] == "HEALTHCHECKS_OFF"
            assert t["data"]["addresses"] == [{"ip": "127.0.0.1", "port": int(t["target"][-2:]),
                                               "health": "HEALTHCHECKS_OFF", "weight": 10}]
    await ok_json(await api.patch("/upstreams/u", json={"healthchecks": PASSIVE_ON}))
    body = await ok_json(await api.get("/upstreams/u/health"))
    assert {t["health"] for t in body["data"]} == {"HEALTHY"}
    bal = await ok_json(await api.get("/upstreams/u/health?balancer_health=1"))
    assert bal["data"]["health"] == "HEALTHY"
    assert bal["data"]["details"]["weight"] == {"total": 20, "available": 20, "unavailable": 0}
    assert (await ok_json(await api.get("/upstreams/nope/health"), 404)) == {"message": "Not found"}


async def test_every_combination_of_upstream_and_target(api) -> None:
    """checks every combination of valid and invalid upstream and target."""
    other = await ok_json(await api.post("/upstreams", json={"name": "other"}), 201)
    wrong = (await _targets(api, "other", "127.0.0.1:8192"))[0]
    up = await ok_json(await api.post("/upstreams", json={"name": "u", "healthchecks": PASSIVE_ON}), 201)
    target = (await _targets(api, "u", "127.0.0.1:8192"))[0]
    assert other["id"] != up["id"]
    for i, u in enumerate([str(uuid.uuid4()), "invalid", up["name"], up["id"]]):
        for j, t in enumerate([str(uuid.uuid4()), "invalid:1234", wrong["id"], target["target"], target["id"]]):
            for word in ("healthy", "unhealthy"):
                expected = 204 if (i >= 2 and j >= 3) else 404
                r = await api.put(f"/upstreams/{u}/targets/{t}/{word}")
                assert r.status == expected, (u, t, word, r.status)


@pytest.mark.parametrize("verb", ["PUT", "POST"])
async def test_flips_target_status(api, verb) -> None:
    """flips the target status from UNHEALTHY to HEALTHY, and back."""
    up = await ok_json(await api.post("/upstreams", json={"name": "u", "healthchecks": PASSIVE_ON}), 201)
    target = (await _targets(api, "u", "localhost:8192"))[0]
    path = f"/upstreams/{up['id']}/targets/{target['target']}"
    for word, want in (("unhealthy", "UNHEALTHY"), ("healthy", "HEALTHY"), ("unhealthy", "UNHEALTHY")):
        await ok_json(await api.request(verb, f"{path}/{word}"), 204)
        body = await ok_json(await api.get(f"/upstreams/{up['id']}/health"))
        assert body["data"][0]["target"] == target["target"] and body["data"][0]["health"] == want
    bal = await ok_json(await api.get("/upstreams/u/health?balancer_health=1"))
    # Kong's rule: unavailable weight within (100 - threshold)%: with threshold 0 the balancer
    # itself still counts as healthy; with 50 it does not
    assert bal["data"]["health"] == "HEALTHY"
    assert bal["data"]["details"]["weight"] == {"total": 10, "available": 0, "unavailable": 10}
    await ok_json(await api.patch("/upstreams/u", json={"healthchecks": {"threshold": 50}}))
    bal = await ok_json(await api.get("/upstreams/u/health?balancer_health=1"))
    assert bal["data"]["health"] == "UNHEALTHY" and bal["data"]["details"]["healthy"] is False
    # one address of the target
    await ok_json(await api.request(verb, f"{path}/localhost:8192/healthy"), 204)
    body = await ok_json(await api.get("/upstreams/u/health"))
    assert body["data"][0]["health"] == "HEALTHY"


async def test_targets_all_pages(api) -> None:
    """/targets/all: retrieves the first page, paginates a set, data property is an empty array."""
    await ok_json(await api.post("/upstreams", json={"name": "u"}), 201)
    await ok_json(await api.post("/upstreams", json={"name": "empty"}), 201)
    for i in range(1, 11):
        await ok_json(await api.post("/upstreams/u/targets", json={"target": f"api-{i}:80"}), 201)
    assert len((await ok_json(await api.get("/upstreams/u/targets/all")))["data"]) == 10
    seen, offset = [], None
    for page in range(4):
        q = "?size=3" + (f"&offset={offset}" if offset else "")
        body = await ok_json(await api.get(f"/upstreams/u/targets/all{q}"))
        assert len(body["data"]) == (3 if page < 3 else 1)
        seen += [t["target"] for t in body["data"]]
        offset = body.get("offset")
        if page < 3:
            assert body["next"].startswith("/upstreams/u/targets/all?offset=")
    assert sorted(seen) == sorted(f"api-{i}:80" for i in range(1, 11))
    r = await api.get("/upstreams/empty/targets/all")
    assert await r.text() == '{"data":[],"next":null}'


async def test_balancer_goes_around_an_unhealthy_target(tmp_path) -> None:
    """Through the proxy: a target marked unhealthy over the Admin API gets no traffic; marked
    healthy again, it gets its share back; all of them unhealthy → 503 (Kong's words)."""
    a, b = await echo_server(), await echo_server()
    rt = await make_runtime(tmp_path, "health")
    try:
        cfg = Cfg()
        up = cfg.upstream("pool.internal", healthchecks=PASSIVE_ON)
        cfg.target(up, f"127.0.0.1:{a.port}")
        cfg.target(up, f"127.0.0.1:{b.port}")
        cfg.route(cfg.service(host="pool.internal", port=80), paths=["/"])
        await rt.load_config(cfg.config())
        admin = rt.admin_url
        assert rt.proxy is not None and admin is not None

        async def hits(n: int) -> dict[int, int]:
            out: dict[int, int] = {}
            for _ in range(n):
                resp = await raw_request(rt.proxy.port, "GET", "/")
                assert resp.status == 200, resp
                port = int(resp.json()["headers"]["host"].rsplit(":", 1)[1])
                out[port] = out.get(port, 0) + 1
            return out

        assert await hits(10) == {a.port: 5, b.port: 5}
        import aiohttp

        async with aiohttp.ClientSession() as s:
            async with s.put(f"{admin}/upstreams/pool.internal/targets/127.0.0.1:{a.port}/unhealthy") as r:
                assert r.status == 204
            assert await hits(6) == {b.port: 6}
            async with s.put(f"{admin}/upstreams/pool.internal/targets/127.0.0.1:{b.port}/unhealthy") as r:
                assert r.status == 204
            resp = await raw_request(rt.proxy.port, "GET", "/")
            assert resp.status == 503
            assert resp.json()["message"] == "failure to get a peer from the ring-balancer"
            async with s.put(f"{admin}/upstreams/pool.internal/targets/127.0.0.1:{a.port}/healthy") as r:
                assert r.status == 204
            async with s.put(f"{admin}/upstreams/pool.internal/targets/127.0.0.1:{b.port}/healthy") as r:
                assert r.status == 204
        assert await hits(10) == {a.port: 5, b.port: 5}
    finally:
        await rt.stop()
        await a.stop()
        await b.stop()


@pytest.mark.parametrize(("body", "fields"), [
    ({"hash_on": "consumer", "hash_fallback": "consumer"},
     {"@entity": ["failed conditional validation given value of field 'hash_on'"],
      "hash_fallback": "expected one of: none, ip, header, cookie, path, query_arg, uri_capture"}),
    ({"hash_on": "header", "hash_fallback": "header", "hash_on_header": "headername",
      "hash_fallback_header": "headername"},
     {"@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]}),
    ({"hash_on": "cookie", "hash_on_cookie": "cookiename", "hash_fallback": "header", "hash_fallback_header": "Cool-Header"},
     {"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_fallback": "expected one of: none"}),
    ({"hash_on": "header", "hash_fallback": "header", "hash_fallback_header": "HeaderName"},
     {"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_on_header": "required field missing"}),
    ({"hash_on": "consumer", "hash_fallback": "header"},
     {"@entity": ["failed conditional validation given value of field 'hash_fallback'"],
      "hash_fallback_header": "required field missing"}),
    ({"hash_on": "query_arg"},
     {"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_on_query_arg": "required field missing"}),
    ({"hash_on": "header", "hash_fallback": "consumer", "hash_on_header": "not a <> valid <> header name"},
     {"hash_on_header": "bad header name 'not a <> valid <> header name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}),
    ({"hash_on": "consumer", "hash_fallback": "header", "hash_fallback_header": "not a <> valid <> header name"},
     {"hash_fallback_header": "bad header name 'not a <> valid <> header name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}),
])
async def test_upstream_hash_checks(api, body, fields) -> None:
    """07-upstreams_routes_spec.lua "POST ... handles invalid input": Kong's entity checks on the
    hashing fields, word for word."""
    got = await ok_json(await api.post("/upstreams", json={"name": "my.upstream", **body}), 400)
    assert got["fields"] == fields


async def test_hash_on_implies_consistent_hashing(api) -> None:
    """Kong's shorthand: setting hash_on (without an algorithm) selects consistent-hashing."""
    up = await ok_json(await api.post("/upstreams", json={"name": "h", "hash_on": "ip"}), 201)
    assert up["algorithm"] == "consistent-hashing"
    up = await ok_json(await api.post("/upstreams", json={"name": "lc", "algorithm": "least-connections"}), 201)
    assert (up["algorithm"], up["hash_on"]) == ("least-connections", "none")
