"""Plugin-instance resolution: the 12-level precedence, consumer groups, priority order, close."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from plugin_helpers import plugin_entity, services

from konnect_desktop.plugins.chain import PRECEDENCE, PluginIndex

R, S, C = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
G_ALPHA, G_BETA = "44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555"
CFG = {"header_name": "x-id"}


def cid(n: int) -> dict[str, Any]:
    return plugin_entity("correlation-id", {**CFG, "header_name": f"x-{n}"})


def scoped(level: int, group: str = G_ALPHA) -> dict[str, Any]:
    r, s, c, g = PRECEDENCE[level - 1]
    scope = {k: v for k, v, on in (("route", R, r), ("service", S, s), ("consumer", C, c), ("consumer_group", group, g)) if on}
    # rate-limiting: a plugin Kong lets attach at every scope, consumer groups included
    return plugin_entity("rate-limiting", {"minute": level}, **scope)


def level_of(h: Any) -> int | None:
    return None if h is None else int(h.config["minute"])


class TestPrecedence:
    def test_each_level_beats_every_less_specific_one(self) -> None:
        for a, b in itertools.combinations(range(1, 13), 2):
            ix = PluginIndex.build([scoped(b), scoped(a)], services())
            assert level_of(ix.lookup("rate-limiting", R, S, C, [G_ALPHA])) == a, (a, b)

    def test_all_levels_present(self) -> None:
        ix = PluginIndex.build([scoped(n) for n in range(12, 0, -1)], services())
        look = lambda *a: level_of(ix.lookup("rate-limiting", *a))  # noqa: E731
        assert look(R, S, C, [G_ALPHA]) == 1
        assert look(R, S, None, [G_ALPHA]) == 2
        assert look(R, None, C, [G_ALPHA]) == 3
        assert look(None, S, C, [G_ALPHA]) == 4
        assert look(R, None, None, [G_ALPHA]) == 5
        assert look(None, S, None, [G_ALPHA]) == 6
        assert look(R, S, None, []) == 7
        assert look(None, None, C, [G_ALPHA]) == 8
        assert look(None, None, None, [G_ALPHA]) == 9
        assert look(R, None, None, []) == 10
        assert look(None, S, None, []) == 11
        assert look(None, None, None, []) == 12
        other = str(uuid.uuid4())
        assert look(other, other, other, [other]) == 12

    def test_nothing_applies(self) -> None:
        ix = PluginIndex.build([scoped(10)], services())
        assert ix.lookup("rate-limiting", None, S, C, []) is None
        assert ix.lookup("cors", R, S, C, []) is None

    def test_consumer_scoped_only_with_consumer(self) -> None:
        ix = PluginIndex.build([scoped(8), scoped(12)], services())
        assert level_of(ix.lookup("rate-limiting", R, S, None, [])) == 12
        assert level_of(ix.lookup("rate-limiting", R, S, C, [])) == 8


class TestConsumerGroups:
    def test_consumer_scoped_says_whether_a_consumer_can_change_the_chain(self) -> None:
        """Without an instance scoped to a consumer or a consumer group, the instance that
        applies never depends on the consumer: the proxy then keeps the chain it resolved
        before authentication (``Snapshot.consumer_scoped``)."""
        for level, (_r, _s, c, g) in enumerate(PRECEDENCE, start=1):
            ix = PluginIndex.build([scoped(12), scoped(level)], services())
            assert ix.consumer_scoped == (c or g), level
            if not ix.consumer_scoped:
                assert ix.chain(R, S, C, [G_ALPHA]) == ix.chain(R, S, None, [])

    def test_two_groups_name_order_wins(self) -> None:
        alpha = plugin_entity("rate-limiting", {"minute": 1}, consumer_group=G_ALPHA)
        beta = plugin_entity("rate-limiting", {"minute": 2}, consumer_group=G_BETA)
        ix = PluginIndex.build([beta, alpha], services())
        # the caller passes the consumer's groups sorted by name (ConfigView.consumer_groups)
        assert ix.lookup("rate-limiting", None, None, C, [G_ALPHA, G_BETA]).config["minute"] == 1
        assert ix.lookup("rate-limiting", None, None, C, [G_BETA]).config["minute"] == 2
        assert ix.lookup("rate-limiting", None, None, C, []) is None


class TestBuild:
    def test_names_by_priority(self) -> None:
        entities = [plugin_entity("request-transformer"), plugin_entity("key-auth"),
                    plugin_entity("acl", {"allow": ["a"]}), plugin_entity("rate-limiting", {"minute": 1}),
                    plugin_entity("cors"), plugin_entity("correlation-id"), plugin_entity("response-transformer"),
                    plugin_entity("ip-restriction", {"allow": ["127.0.0.1"]})]
        ix = PluginIndex.build(entities, services())
        assert ix.names_by_priority == ("correlation-id", "cors", "key-auth", "ip-restriction", "acl",
                                        "rate-limiting", "request-transformer", "response-transformer")

    def test_disabled_and_unknown_skipped(self) -> None:
        disabled = {**plugin_entity("cors"), "enabled": False}
        unknown = {"id": str(uuid.uuid4()), "name": "my-custom-plugin", "config": {}, "enabled": True,
                   "route": None, "service": None, "consumer": None, "consumer_group": None}
        ix = PluginIndex.build([disabled, unknown], services())
        assert ix.names_by_priority == ()
        assert [s.reason for s in ix.skipped] == ["plugin 'my-custom-plugin' is not bundled with this gateway"]

    def test_one_handler_per_instance_and_buffering(self) -> None:
        ix = PluginIndex.build([plugin_entity("response-transformer", {"add": {"json": ["a:1"]}}),
                                plugin_entity("cors", service=S)], services())
        assert len(ix.handlers) == 2 and ix.buffers_response
        assert [h.plugin["name"] for h in ix.chain(None, S)] == ["cors", "response-transformer"]

    async def test_close_releases_redis_connections(self, redis_server: Any) -> None:
        import redis.asyncio as aioredis
        from plugin_helpers import make_ctx, run_access

        monitor = aioredis.Redis(host=redis_server.host, port=redis_server.port)

        async def clients() -> int:
            return int((await monitor.info("clients"))["connected_clients"])

        base = await clients()
        rl = plugin_entity("rate-limiting", {"minute": 5, "policy": "redis",
                                             "redis": {"host": redis_server.host, "port": redis_server.port}})
        ix = PluginIndex.build([rl], services())
        assert await run_access(ix.lookup("rate-limiting"), make_ctx()) is None
        assert await clients() == base + 1
        await ix.close()
        for _ in range(50):
            if await clients() == base:
                break
            await asyncio.sleep(0.01)
        assert await clients() == base
        await monitor.aclose()
