"""rate-limiting through real sockets: the cases of KONG-REFERENCE §4.5 (Kong's
spec/03-plugins/23-rate-limiting/04-access_spec.lua), exact limits under concurrent load, two
runtimes sharing one limit in a real redis-server, fault tolerance, consumer-group instances.

Time is the test's: every runtime here reads rate-limiting's clock from its shared state
(``shared_state("rate-limiting")["clock"]``), so a test starts a fresh window by moving the clock,
never by waiting for the wall clock."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_plugin_support import Cfg, Gateway, Reply, request, start_gateway
from fake_clock import FakeClock as Clock
from redis_fixture import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.asyncio(loop_scope="module")
RL = "rate-limiting"


CLOCK = Clock()


def use_clock(gw: Gateway) -> None:
    gw.runtime.services.shared_state(RL)["clock"] = CLOCK


@pytest.fixture(autouse=True)
def _test_clock(gw: Gateway) -> None:
    use_clock(gw)


def fresh_window() -> None:
    """Move the clock just past the start of the next hour: fresh second, minute and hour windows
    (the counters of earlier tests are in older ones)."""
    CLOCK.now = (int(CLOCK.now) // 3600 + 1) * 3600 + 0.25


def remaining(replies: list[Reply], header: str = "X-RateLimit-Remaining-Minute") -> list[str | None]:
    return [r.header(header) for r in replies]


async def burst(gw: Gateway, n: int, target: str = "/rl", **kw: Any) -> list[Reply]:
    return [await gw.request("GET", target, **kw) for _ in range(n)]


async def route_with_rl(gw: Gateway, config: dict[str, Any], **route: Any) -> tuple[Cfg, dict[str, Any], dict[str, Any]]:
    c, svc = gw.cfg()
    route.setdefault("paths", ["/rl"])
    r = c.route(svc, **route)
    c.plugin(RL, config, route=r)
    return c, svc, r


def key_consumer(c: Cfg, name: str, key: str) -> dict[str, Any]:
    consumer = c.consumer(name)
    c.add("keyauth_credentials", key=key, consumer={"id": consumer["id"]})
    return consumer


@pytest.mark.parametrize("limit_by", ["ip", "consumer", "credential", "service", "header", "path"])
async def test_01_minute_6(gw: Gateway, limit_by: str) -> None:
    extra = {"header": {"header_name": "x-app"}, "path": {"path": "/rl"}}.get(limit_by, {})
    c, _svc, r = await route_with_rl(gw, {"minute": 6, "limit_by": limit_by, **extra})
    headers = [("x-app", "web")]
    if limit_by in ("consumer", "credential"):
        c.plugin("key-auth", {}, route=r)
        key = f"key-{limit_by}-{time.time()}"
        key_consumer(c, f"rl-{limit_by}", key)
        headers.append(("apikey", key))
    await gw.load(c)
    fresh_window()
    replies = await burst(gw, 7, headers=headers)
    assert [x.status for x in replies] == [200] * 6 + [429], replies[-1]
    assert remaining(replies) == ["5", "4", "3", "2", "1", "0", "0"]
    assert remaining(replies, "RateLimit-Remaining") == ["5", "4", "3", "2", "1", "0", "0"]
    for x in replies:
        assert x.header("X-RateLimit-Limit-Minute") == "6" and x.header("RateLimit-Limit") == "6"
        assert 0 <= int(x.header("RateLimit-Reset") or -1) <= 60
    assert replies[5].header("Retry-After") is None
    last = replies[6]
    assert last.json()["message"] == "API rate limit exceeded"
    assert last.header("Retry-After") == last.header("RateLimit-Reset")


async def test_02_minute_and_hour(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 6, "hour": 99999, "limit_by": "ip"})
    await gw.load(c)
    fresh_window()
    replies = await burst(gw, 7)
    assert [x.status for x in replies] == [200] * 6 + [429]
    assert remaining(replies, "RateLimit-Remaining") == ["5", "4", "3", "2", "1", "0", "0"]
    assert all(x.header("X-RateLimit-Limit-Hour") == "99999" for x in replies)
    assert all(int(x.header("X-RateLimit-Remaining-Hour") or -1) >= 0 for x in replies)


async def test_03_second(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"second": 1, "limit_by": "ip"})
    await gw.load(c)
    fresh_window()
    a = await gw.request("GET", "/rl")
    b = await gw.request("GET", "/rl")  # the same second
    assert a.status == 200
    assert (a.header("RateLimit-Limit"), a.header("RateLimit-Remaining")) == ("1", "0")
    assert (a.header("X-RateLimit-Limit-Second"), a.header("X-RateLimit-Remaining-Second")) == ("1", "0")
    assert b.status == 429 and b.json()["message"] == "API rate limit exceeded"
    CLOCK.now += 0.74  # still the same second
    assert (await gw.request("GET", "/rl")).status == 429
    CLOCK.now += 0.02  # the next second
    assert (await gw.request("GET", "/rl")).status == 200


async def test_04_custom_error(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 1, "limit_by": "ip", "error_code": 404,
                                        "error_message": "Fake Not Found"})
    await gw.load(c)
    fresh_window()
    replies = await burst(gw, 2)
    assert replies[0].status == 200
    assert replies[1].status == 404 and replies[1].json()["message"] == "Fake Not Found"


async def test_05_hide_client_headers(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 6, "limit_by": "ip", "hide_client_headers": True})
    await gw.load(c)
    fresh_window()
    replies = await burst(gw, 7)
    assert [x.status for x in replies] == [200] * 6 + [429]
    for x in replies:
        assert not [k for k, _v in x.header_list if "ratelimit" in k.lower() or k.lower() == "retry-after"]


async def test_06_separate_counters_per_client_ip(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 6, "limit_by": "ip"})
    await gw.load(c)
    fresh_window()
    assert [x.status for x in await burst(gw, 7, client_ip="127.0.0.2")] == [200] * 6 + [429]
    other = await burst(gw, 2, client_ip="127.0.0.3")
    assert [x.status for x in other] == [200, 200] and remaining(other) == ["5", "4"]


async def test_07_header(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 2, "limit_by": "header", "header_name": "test-header"})
    await gw.load(c)
    fresh_window()
    for value in ("one", "two"):
        assert [x.status for x in await burst(gw, 3, headers=[("test-header", value)])] == [200, 200, 429]
    assert [x.status for x in await burst(gw, 3, client_ip="127.0.0.4")] == [200, 200, 429]  # by IP


async def test_08_path(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 2, "limit_by": "path", "path": "/rl/test"})
    await gw.load(c)
    fresh_window()
    assert [x.status for x in await burst(gw, 3, target="/rl/test", client_ip="127.0.0.5")] == [200, 200, 429]
    # same path from another client: the path counter is shared
    assert (await gw.request("GET", "/rl/test", client_ip="127.0.0.6")).status == 429
    # another path from that client is counted by its IP instead
    assert (await gw.request("GET", "/rl/other", client_ip="127.0.0.6")).status == 200


async def test_09_service_counters_separate(gw: Gateway) -> None:
    c = Cfg()
    for n in (1, 2):
        svc = c.service(port=gw.echo.port)
        c.route(svc, paths=[f"/svc{n}"])
        c.plugin(RL, {"minute": 2, "limit_by": "service"}, service=svc)
    await gw.load(c)
    fresh_window()
    for n in (1, 2):
        assert [x.status for x in await burst(gw, 3, target=f"/svc{n}")] == [200, 200, 429]


async def test_10_global_instance_shared_across_services(gw: Gateway) -> None:
    c = Cfg()
    for n in (1, 2):
        svc = c.service(port=gw.echo.port)
        c.route(svc, paths=[f"/{n}-test"])
    c.add("plugins", name=RL, config={"minute": 6, "limit_by": "credential"})
    c.add("plugins", name="key-auth", config={})
    key = f"global-{time.time()}"
    key_consumer(c, "global-consumer", key)
    await gw.load(c)
    fresh_window()
    first = await burst(gw, 7, target="/1-test", headers=[("apikey", key)])
    assert [x.status for x in first] == [200] * 6 + [429]
    second = await burst(gw, 7, target="/2-test", headers=[("apikey", key)])
    assert all(x.status == 429 and x.header("X-RateLimit-Remaining-Minute") == "0" for x in second)


async def test_exact_under_concurrent_load(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 25, "limit_by": "header", "header_name": "x-load"})
    await gw.load(c)
    fresh_window()
    replies = await asyncio.gather(*(gw.request("GET", "/rl", headers=[("x-load", "burst")]) for _ in range(80)))
    assert sum(1 for x in replies if x.status == 200) == 25
    assert sum(1 for x in replies if x.status == 429) == 55


async def test_counters_survive_config_rebuild(gw: Gateway) -> None:
    c, _s, _r = await route_with_rl(gw, {"minute": 4, "limit_by": "header", "header_name": "x-k"})
    await gw.load(c)
    fresh_window()
    assert [x.status for x in await burst(gw, 2, headers=[("x-k", "rebuild")])] == [200, 200]
    before = gw.runtime.rebuilds
    c.consumer("unrelated-change")
    await gw.load(c)
    assert gw.runtime.rebuilds > before
    replies = await burst(gw, 3, headers=[("x-k", "rebuild")])
    assert [x.status for x in replies] == [200, 200, 429] and remaining(replies) == ["1", "0", "0"]


async def test_consumer_group_instances(gw: Gateway) -> None:
    c, svc = gw.cfg()
    c.route(svc, paths=["/cg"])
    c.add("plugins", name="key-auth", config={})
    gold = c.add("consumer_groups", name="gold")
    silver = c.add("consumer_groups", name="silver")
    c.add("plugins", name=RL, config={"minute": 3, "limit_by": "consumer"}, consumer_group={"id": gold["id"]})
    c.add("plugins", name=RL, config={"minute": 1, "limit_by": "consumer"}, consumer_group={"id": silver["id"]})
    c.add("plugins", name=RL, config={"minute": 2, "limit_by": "consumer"})  # everyone else
    stamp = time.time()
    for name, group in (("g1", gold), ("g2", gold), ("s1", silver), ("both", gold), ("none", None)):
        consumer = key_consumer(c, name, f"{name}-{stamp}")
        if group is not None:
            c.add("consumer_group_consumers", consumer={"id": consumer["id"]}, consumer_group={"id": group["id"]})
    both = next(x for x in c.tables["consumers"] if x["username"] == "both")
    c.add("consumer_group_consumers", consumer={"id": both["id"]}, consumer_group={"id": silver["id"]})
    await gw.load(c)
    fresh_window()

    async def statuses(name: str, n: int) -> list[int]:
        return [x.status for x in await burst(gw, n, target="/cg", headers=[("apikey", f"{name}-{stamp}")])]

    assert await statuses("g1", 4) == [200, 200, 200, 429]
    assert await statuses("g2", 4) == [200, 200, 200, 429]  # per member, not a shared pool
    assert await statuses("s1", 2) == [200, 429]
    assert await statuses("both", 4) == [200, 200, 200, 429]  # "gold" sorts before "silver"
    assert await statuses("none", 3) == [200, 200, 429]


# -- redis ----------------------------------------------------------------------------------------
async def test_two_runtimes_share_one_redis_limit(tmp_path: Path, redis_server: Any) -> None:  # noqa: F811
    a = await start_gateway(tmp_path, "a")
    b = await start_gateway(tmp_path, "b")
    use_clock(a)
    use_clock(b)
    try:
        route_id = "99999999-9999-4999-8999-999999999999"
        for g in (a, b):  # the same configuration (same ids) in both, as a decK sync would leave it
            c, svc = g.cfg()
            svc["id"] = "88888888-8888-4888-8888-888888888888"
            r = c.route(svc, paths=["/shared"], id=route_id)
            c.plugin(RL, {"minute": 10, "limit_by": "ip", "policy": "redis",
                          "redis": {"host": redis_server.host, "port": redis_server.port}}, route=r)
            await g.load(c)
        fresh_window()
        replies = await asyncio.gather(*(request(g.port, "GET", "/shared", client_ip="127.0.0.7")
                                         for g in [a, b] * 15))
        assert sum(1 for x in replies if x.status == 200) == 10
        assert sum(1 for x in replies if x.status == 429) == 20
        # the Retry-After/RateLimit headers come from the shared counter on both runtimes
        assert {x.header("X-RateLimit-Remaining-Minute") for x in replies if x.status == 429} == {"0"}
    finally:
        await a.stop()
        await b.stop()


async def test_redis_down_fault_tolerance(gw: Gateway) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = {"policy": "redis", "redis": {"host": "127.0.0.1", "port": port, "timeout": 500}}
    c, svc = gw.cfg()
    tolerant = c.route(svc, paths=["/tolerant"])
    strict = c.route(svc, paths=["/strict"])
    c.plugin(RL, {"minute": 1, **down}, route=tolerant)
    c.plugin(RL, {"minute": 1, "fault_tolerant": False, **down}, route=strict)
    await gw.load(c)
    replies = await burst(gw, 3, target="/tolerant")
    assert [x.status for x in replies] == [200, 200, 200]
    entry = gw.runtime.traffic.get(replies[0].header("X-Kong-Request-Id"))
    assert entry is not None
    d = next(d for d in entry.decisions if d.plugin == RL)
    assert d.outcome == "error" and d.data["fault_tolerant"] is True
    r = await gw.request("GET", "/strict")
    assert r.status == 500 and r.json()["message"] == "An unexpected error occurred"
