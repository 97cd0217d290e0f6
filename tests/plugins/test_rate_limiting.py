"""rate-limiting: schema (Kong's words), the cases of KONG-REFERENCE §4.5 at handler level, exact
counting under concurrency (local and a real redis-server), fault tolerance, windows."""

from __future__ import annotations

import asyncio
import calendar
import socket
from typing import Any

import pytest
from plugin_helpers import header_phase, make_ctx, make_handler, make_response, run_access, services

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError
from konnect_desktop.plugins.rate_limiting_policies import LocalPolicy, window_end, window_starts
from konnect_desktop.runtime.dataplane import Services

RL = "rate-limiting"
SVC1 = "11111111-1111-4111-8111-111111111111"
SVC2 = "22222222-2222-4222-8222-222222222222"
CONSUMER = {"id": "33333333-3333-4333-8333-333333333333", "username": "c"}
CRED = {"id": "44444444-4444-4444-8444-444444444444"}
T0 = calendar.timegm((2024, 5, 17, 10, 30, 0)) + 0.25  # 10:30:00.25 UTC


def errors(config: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(KongError) as ei:
        plugins.validate_plugin({"name": RL, "config": config})
    return ei.value.fields or {}


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def handler(config: dict[str, Any], runtime: Services | None = None, clock: Clock | None = None,
            **scope: Any) -> Any:
    h = make_handler(RL, config, runtime or services(), **scope)
    h.clock = clock or Clock()
    return h


async def hit(h: Any, **kw: Any) -> tuple[int, dict[str, str], Any]:
    """One request through access (+ header_filter when it passes): (status, client headers, ctx)."""
    ctx = make_ctx("GET", kw.pop("url", "/"), kw.pop("headers", None), **kw)
    exit_ = await run_access(h, ctx)
    if exit_ is not None:
        return exit_.status, dict(exit_.headers), (ctx, exit_)
    resp = header_phase(h, ctx, make_response(200))
    return 200, dict(resp.headers), (ctx, None)


# -- schema ---------------------------------------------------------------------------------------
class TestSchema:
    def test_valid(self) -> None:
        plugins.validate_plugin({"name": RL, "config": {"second": 10}})
        plugins.validate_plugin({"name": RL, "config": {"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 50, "year": 60}})
        plugins.validate_plugin({"name": RL, "config": {"second": 10, "limit_by": "header", "header_name": "X-App-Version"}})

    def test_defaults(self) -> None:
        c = plugins.validate_plugin({"name": RL, "config": {"minute": 1}})["config"]
        assert (c["limit_by"], c["policy"], c["fault_tolerant"], c["hide_client_headers"]) == ("consumer", "local", True, False)
        assert (c["error_code"], c["error_message"], c["sync_rate"]) == (429, "API rate limit exceeded", -1)
        assert c["redis"]["port"] == 6379 and c["redis"]["timeout"] == 2000 and c["redis"]["database"] == 0

    def test_period_order(self) -> None:
        assert errors({"second": 20, "hour": 10}) == {
            "config": "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"}
        assert errors({"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 60, "year": 50}) == {
            "config": "The limit for year(50.0) cannot be lower than the limit for month(60.0)"}
        assert errors({"minute": 6, "second": 10}) == {
            "config": "The limit for minute(6.0) cannot be lower than the limit for second(10.0)"}

    def test_at_least_one_period(self) -> None:
        assert errors({})["@entity"] == ["at least one of these fields must be non-empty: 'config.second', "
                                         "'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"]

    def test_header_name_required(self) -> None:
        errs = errors({"second": 10, "limit_by": "header"})
        assert errs["config"]["header_name"] == "required field missing"
        assert errs["@entity"] == ["failed conditional validation given value of field 'config.limit_by'"]
        assert errors({"second": 10, "limit_by": "path"})["config"]["path"] == "required field missing"

    def test_redis_required_fields(self) -> None:
        errs = errors({"minute": 1, "policy": "redis"})
        assert errs["config"]["redis"]["host"] == "required field missing"
        out = plugins.validate_plugin({"name": RL, "config": {"minute": 1, "policy": "redis", "redis": {"host": "127.0.0.1"}}})
        assert out["config"]["redis"]["host"] == "127.0.0.1"

    def test_sync_rate(self) -> None:
        assert errors({"minute": 1, "sync_rate": 1}) == {"config": "sync_rate can only be used with the redis policy"}
        assert errors({"minute": 1, "sync_rate": 0.01, "policy": "redis", "redis": {"host": "h"}}) == {
            "config": "sync_rate must be greater than 0.02, or -1 to disable"}

    def test_bounds(self) -> None:
        assert errors({"minute": 0})["config"]["minute"] == "value must be greater than 0"
        assert errors({"minute": 1, "limit_by": "nope"})["config"]["limit_by"] == \
            "expected one of: consumer, credential, ip, service, header, path"

    def test_deprecated_flat_redis_fields(self) -> None:
        out = plugins.validate_plugin({"name": RL, "config": {"minute": 1, "policy": "redis", "redis_host": "10.0.0.1",
                                                              "redis_port": 6380, "redis_database": 2}})
        r = out["config"]["redis"]
        assert (r["host"], r["port"], r["database"]) == ("10.0.0.1", 6380, 2)
        assert "redis_host" not in out["config"]


# -- §4.5 -----------------------------------------------------------------------------------------
async def seven(h: Any, **kw: Any) -> list[tuple[int, dict[str, str]]]:
    out = []
    for _ in range(7):
        status, headers, _ = await hit(h, **dict(kw))
        out.append((status, headers))
    return out


class TestCases:
    @pytest.mark.parametrize("limit_by,extra", [("ip", {}), ("consumer", {}), ("credential", {}), ("service", {}),
                                                ("header", {"header_name": "x-app"}), ("path", {"path": "/"})])
    async def test_1_minute_6(self, limit_by: str, extra: dict[str, Any]) -> None:
        h = handler({"minute": 6, "limit_by": limit_by, **extra})
        results = await seven(h, headers={"x-app": "v1"})
        assert [s for s, _ in results] == [200] * 6 + [429]
        assert [hd["X-RateLimit-Remaining-Minute"] for _, hd in results] == ["5", "4", "3", "2", "1", "0", "0"]
        assert [hd["RateLimit-Remaining"] for _, hd in results] == ["5", "4", "3", "2", "1", "0", "0"]
        for _, hd in results:
            assert hd["X-RateLimit-Limit-Minute"] == "6" and hd["RateLimit-Limit"] == "6"
            assert 0 <= int(hd["RateLimit-Reset"]) <= 60
        assert "Retry-After" not in results[5][1]
        assert results[6][1]["Retry-After"] == results[6][1]["RateLimit-Reset"] == "60"  # 0.25 s into the minute

    async def test_2_minute_and_hour(self) -> None:
        results = await seven(handler({"minute": 6, "hour": 99999, "limit_by": "ip"}))
        assert [s for s, _ in results] == [200] * 6 + [429]
        assert [hd["RateLimit-Remaining"] for _, hd in results] == ["5", "4", "3", "2", "1", "0", "0"]
        assert [hd["X-RateLimit-Remaining-Minute"] for _, hd in results] == ["5", "4", "3", "2", "1", "0", "0"]
        assert all(hd["X-RateLimit-Limit-Hour"] == "99999" for _, hd in results)
        # the rejected request is not counted and its hour figure is not decremented
        assert [hd["X-RateLimit-Remaining-Hour"] for _, hd in results] == \
            ["99998", "99997", "99996", "99995", "99994", "99993", "99993"]
        assert results[0][1]["RateLimit-Reset"] == "60"

    async def test_3_second_window(self) -> None:
        clock = Clock()
        h = handler({"second": 1, "limit_by": "ip"}, clock=clock)
        s, hd, _ = await hit(h)
        assert s == 200 and hd["RateLimit-Limit"] == "1" and hd["RateLimit-Remaining"] == "0"
        assert hd["X-RateLimit-Limit-Second"] == "1" and hd["X-RateLimit-Remaining-Second"] == "0"
        assert hd["RateLimit-Reset"] == "1"
        s, hd, (_ctx, exit_) = await hit(h)
        assert s == 429 and exit_.body["message"] == "API rate limit exceeded" and hd["Retry-After"] == "1"
        clock.t += 1
        s, _hd, _ = await hit(h)
        assert s == 200

    async def test_4_custom_error(self) -> None:
        h = handler({"minute": 1, "limit_by": "ip", "error_code": 404, "error_message": "Fake Not Found"})
        assert (await hit(h))[0] == 200
        s, _hd, (ctx, exit_) = await hit(h)
        assert s == 404 and exit_.body == {"message": "Fake Not Found", "request_id": ctx.request_id}

    async def test_5_hide_client_headers(self) -> None:
        results = await seven(handler({"minute": 6, "limit_by": "ip", "hide_client_headers": True}))
        assert [s for s, _ in results] == [200] * 6 + [429]
        for _, hd in results:
            assert not [k for k in hd if "ratelimit" in k.lower() or k.lower() == "retry-after"]

    async def test_6_separate_ips(self) -> None:
        h = handler({"minute": 6, "limit_by": "ip"})
        for _ in range(6):
            assert (await hit(h, client_ip="10.0.0.1"))[0] == 200
        assert (await hit(h, client_ip="10.0.0.1"))[0] == 429
        assert (await hit(h, client_ip="10.0.0.2"))[0] == 200

    async def test_7_header_values_and_fallback_to_ip(self) -> None:
        h = handler({"minute": 2, "limit_by": "header", "header_name": "test-header"})
        for value in ("a", "b"):
            assert [(await hit(h, headers={"test-header": value}))[0] for _ in range(3)] == [200, 200, 429]
        assert [(await hit(h))[0] for _ in range(3)] == [200, 200, 429]  # counted by IP
        _s, _hd, (ctx, _e) = await hit(h)
        assert ctx.decisions[-1].data["limit_by"] == "ip"

    async def test_8_path(self) -> None:
        h = handler({"minute": 2, "limit_by": "path", "path": "/test"})
        assert [(await hit(h, url="/test"))[0] for _ in range(3)] == [200, 200, 429]
        # another path is counted by the client IP instead, so it has its own counter
        assert [(await hit(h, url="/other", client_ip="10.9.9.9"))[0] for _ in range(3)] == [200, 200, 429]
        assert (await hit(h, url="/test/x", client_ip="10.9.9.8"))[0] == 200

    async def test_9_service_instances_separate(self) -> None:
        rt = services()
        h1 = handler({"minute": 2, "limit_by": "service"}, rt, service=SVC1)
        h2 = handler({"minute": 2, "limit_by": "service"}, rt, service=SVC2)
        assert [(await hit(h1, service={"id": SVC1}))[0] for _ in range(3)] == [200, 200, 429]
        assert [(await hit(h2, service={"id": SVC2}))[0] for _ in range(3)] == [200, 200, 429]

    async def test_10_global_instance_shared_across_services(self) -> None:
        h = handler({"minute": 6, "limit_by": "credential"})

        async def req(svc: str) -> tuple[int, dict[str, str]]:
            ctx = make_ctx("GET", "/", service={"id": svc})
            ctx.authenticate(CONSUMER, CRED)
            exit_ = await run_access(h, ctx)
            return (exit_.status, exit_.headers) if exit_ else (200, {})

        assert [(await req(SVC1))[0] for _ in range(7)] == [200] * 6 + [429]
        results = [await req(SVC2) for _ in range(7)]
        assert all(s == 429 and hd["X-RateLimit-Remaining-Minute"] == "0" for s, hd in results)


class TestIdentity:
    async def test_consumer_falls_back_to_credential_then_ip(self) -> None:
        h = handler({"minute": 5})
        ctx = make_ctx()
        ctx.authenticate(CONSUMER, CRED)
        assert h.identifier(ctx) == (CONSUMER["id"], "consumer")
        ctx.authenticate(None, CRED)
        assert h.identifier(ctx) == (CRED["id"], "consumer")
        ctx.authenticate(None, None)
        assert h.identifier(ctx) == ("127.0.0.1", "ip")

    async def test_decision_reports_remaining(self) -> None:
        h = handler({"minute": 6, "hour": 10, "limit_by": "ip"})
        _s, _hd, (ctx, _e) = await hit(h)
        d = ctx.decisions[-1]
        assert d.plugin == RL and d.outcome == "pass"
        assert d.data["periods"] == {"minute": {"limit": 6, "remaining": 5}, "hour": {"limit": 10, "remaining": 9}}
        assert "minute 5/6 left" in d.summary


class TestLocalPolicy:
    async def test_exact_under_concurrency(self) -> None:
        h = handler({"second": 10, "minute": 1000, "limit_by": "ip"})
        results = await asyncio.gather(*(hit(h) for _ in range(50)))
        assert sum(1 for s, _, _ in results if s == 200) == 10

    async def test_counters_survive_rebuild(self) -> None:
        rt = services()
        h1 = handler({"minute": 3, "limit_by": "ip"}, rt)
        assert [(await hit(h1))[0] for _ in range(2)] == [200, 200]
        entity_id = h1.plugin["id"]
        h2 = make_handler(RL, {"minute": 3, "limit_by": "ip"}, rt)
        h2.clock = Clock()
        assert h2.plugin["id"] != entity_id
        assert [(await hit(h2))[0] for _ in range(2)] == [200, 429]

    def test_windows_expire_and_are_swept(self) -> None:
        state: dict[str, Any] = {}
        pol = LocalPolicy(state)
        from konnect_desktop.plugins.rate_limiting_policies import Counter

        c = Counter("k", 1, T0 + 1)
        assert pol.check_and_count([c], T0) == ([0], True)
        assert pol.check_and_count([c], T0 + 0.5) == ([1], False)
        assert pol.check_and_count([c], T0 + 1.5) == ([0], True)  # old window expired
        assert pol.check_and_count([Counter("other", 5, T0 + 10)], T0 + 3) == ([0], True)
        assert "k" not in state["counters"]  # swept

    def test_calendar_windows(self) -> None:
        t = calendar.timegm((2024, 2, 29, 23, 59, 59)) + 0.5
        s = window_starts(t)
        assert s["second"] == calendar.timegm((2024, 2, 29, 23, 59, 59)) * 1000
        assert s["minute"] == calendar.timegm((2024, 2, 29, 23, 59, 0)) * 1000
        assert s["day"] == calendar.timegm((2024, 2, 29, 0, 0, 0)) * 1000
        assert s["month"] == calendar.timegm((2024, 2, 1, 0, 0, 0)) * 1000
        assert s["year"] == calendar.timegm((2024, 1, 1, 0, 0, 0)) * 1000
        assert window_end("month", s["month"]) == calendar.timegm((2024, 3, 1, 0, 0, 0))
        assert window_end("year", s["year"]) == calendar.timegm((2025, 1, 1, 0, 0, 0))


class TestConsumerGroupScope:
    async def test_each_group_instance_has_its_own_limit_per_member(self) -> None:
        rt = services()
        gold = handler({"minute": 3, "limit_by": "consumer"}, rt, consumer_group="55555555-5555-4555-8555-555555555555")
        silver = handler({"minute": 1, "limit_by": "consumer"}, rt, consumer_group="66666666-6666-4666-8666-666666666666")
        a = {"id": "77777777-7777-4777-8777-777777777777"}
        b = {"id": "88888888-8888-4888-8888-888888888888"}

        async def req(h: Any, consumer: dict[str, Any]) -> int:
            ctx = make_ctx()
            ctx.authenticate(consumer, CRED)
            exit_ = await run_access(h, ctx)
            return exit_.status if exit_ else 200

        assert [await req(gold, a) for _ in range(4)] == [200, 200, 200, 429]
        assert [await req(silver, b) for _ in range(2)] == [200, 429]


# -- redis ----------------------------------------------------------------------------------------
def redis_config(server: Any, **extra: Any) -> dict[str, Any]:
    return {"policy": "redis", "redis": {"host": server.host, "port": server.port, "timeout": 1000}, **extra}


class TestRedisPolicy:
    async def test_minute_6_sequence(self, redis_server: Any) -> None:
        h = handler({"minute": 6, "limit_by": "header", "header_name": "x-k", **redis_config(redis_server)})
        try:
            results = await seven(h, headers={"x-k": "seq-test"})
            assert [s for s, _ in results] == [200] * 6 + [429]
            assert [hd["X-RateLimit-Remaining-Minute"] for _, hd in results] == ["5", "4", "3", "2", "1", "0", "0"]
        finally:
            await h.close()

    async def test_two_runtimes_share_one_exact_limit(self, redis_server: Any) -> None:
        cfg = {"minute": 10, "limit_by": "header", "header_name": "x-k", **redis_config(redis_server)}
        h1 = handler(cfg, services())
        h2 = handler(cfg, services())
        try:
            results = await asyncio.gather(*(hit(h, headers={"x-k": "shared"}) for h in [h1, h2] * 20))
            assert sum(1 for s, _, _ in results if s == 200) == 10
            counters = h1.policy.client  # the window's counter holds exactly the allowed requests
            keys = [k async for k in counters.scan_iter("ratelimit:*:shared:*")]
            assert len(keys) == 1 and int(await counters.get(keys[0])) == 10
            ttl = await counters.ttl(keys[0])
            assert 0 < ttl <= 60
        finally:
            await h1.close()
            await h2.close()

    async def test_fault_tolerant(self) -> None:
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        down = {"policy": "redis", "redis": {"host": "127.0.0.1", "port": port, "timeout": 500}}
        h = handler({"minute": 1, **down})
        status, hd, (ctx, _e) = await hit(h)
        assert status == 200 and not [k for k in hd if "ratelimit" in k.lower()]
        d = ctx.decisions[-1]
        assert d.outcome == "error" and d.data["fault_tolerant"] is True
        await h.close()
        h = handler({"minute": 1, "fault_tolerant": False, **down})
        status, _hd, (ctx, exit_) = await hit(h)
        assert status == 500 and exit_.body["message"] == "An unexpected error occurred"
        await h.close()
