"""acl: schema (allow XOR deny) and the rules of KONG-REFERENCE §5.2 at handler level."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_helpers import make_ctx, make_handler, run_access

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError
from konnect_desktop.plugins.config_view import ConfigIndex

ADMIN = {"id": "11111111-1111-4111-8111-111111111111", "username": "admin"}
USER = {"id": "22222222-2222-4222-8222-222222222222", "username": "user"}
LONER = {"id": "33333333-3333-4333-8333-333333333333", "username": "loner"}
GOLD = {"id": "44444444-4444-4444-8444-444444444444", "name": "gold"}
CRED = {"id": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}

VIEW = ConfigIndex.build({
    "consumers": [ADMIN, USER, LONER],
    "acls": [{"consumer": {"id": ADMIN["id"]}, "group": "admin"},
             {"consumer": {"id": ADMIN["id"]}, "group": "ops"},
             {"consumer": {"id": USER["id"]}, "group": "users"}],
    "consumer_groups": [GOLD],
    "consumer_group_consumers": [{"consumer": {"id": USER["id"]}, "consumer_group": {"id": GOLD["id"]}}],
})


async def check(config: dict[str, Any], consumer: dict[str, Any] | None, credential: dict[str, Any] | None = CRED,
                groups: list[str] | None = None) -> tuple[Any, Any]:
    ctx = make_ctx("GET", "/", config=VIEW)
    if consumer is not None or credential is not None:
        ctx.authenticate(consumer, credential)
    ctx.authenticated_groups = groups
    return ctx, await run_access(make_handler("acl", config), ctx)


class TestSchema:
    def _errors(self, config: dict[str, Any]) -> dict[str, Any]:
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": "acl", "config": config})
        return ei.value.fields or {}

    def test_allow_xor_deny(self) -> None:
        # Kong's only_one_of says "exactly one" (and also fails when none is set)
        assert self._errors({"allow": ["a"], "deny": ["b"]}) == {
            "@entity": ["exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"]}
        for cfg in ({}, {"allow": []}):
            assert "at least one of these fields must be non-empty: 'config.allow', 'config.deny'" \
                in self._errors(cfg)["@entity"]
        out = plugins.validate_plugin({"name": "acl", "config": {"deny": ["x"]}})
        assert out["config"]["hide_groups_header"] is False and out["config"]["allow"] is None

    def test_no_consumer_scope(self) -> None:
        with pytest.raises(KongError):
            plugins.validate_plugin({"name": "acl", "config": {"allow": ["a"]}, "consumer": {"id": ADMIN["id"]}})


class TestAllow:
    async def test_member_passes_with_groups_header(self) -> None:
        ctx, exit_ = await check({"allow": ["admin"]}, ADMIN)
        assert exit_ is None
        assert ctx.headers["X-Consumer-Groups"] == "admin, ops"
        assert ctx.decisions[-1].outcome == "pass"

    async def test_non_member_blocked(self) -> None:
        ctx, exit_ = await check({"allow": ["admin"]}, USER)
        assert exit_.status == 403 and exit_.body["message"] == "You cannot consume this service"
        assert ctx.decisions[-1].outcome == "reject"

    async def test_hide_groups_header(self) -> None:
        ctx, exit_ = await check({"allow": ["admin"], "hide_groups_header": True}, ADMIN)
        assert exit_ is None and "X-Consumer-Groups" not in ctx.headers

    async def test_no_groups_with_credential_403(self) -> None:
        _ctx, exit_ = await check({"allow": ["admin"]}, LONER)
        assert exit_.status == 403

    async def test_no_groups_anonymous_401(self) -> None:
        _ctx, exit_ = await check({"allow": ["admin"]}, LONER, credential=None)
        assert exit_.status == 401 and exit_.body["message"] == "Unauthorized"

    async def test_no_consumer(self) -> None:
        _ctx, exit_ = await check({"allow": ["admin"]}, None, credential=None)
        assert exit_.status == 401 and exit_.body["message"] == "Unauthorized"
        _ctx, exit_ = await check({"allow": ["admin"]}, None, credential=CRED)
        assert exit_.status == 403


class TestDeny:
    async def test_denied_member_blocked(self) -> None:
        _ctx, exit_ = await check({"deny": ["ops"]}, ADMIN)
        assert exit_.status == 403

    async def test_others_pass(self) -> None:
        ctx, exit_ = await check({"deny": ["ops"]}, USER)
        assert exit_ is None and ctx.headers["X-Consumer-Groups"] == "users"

    async def test_consumer_without_groups_passes(self) -> None:
        ctx, exit_ = await check({"deny": ["ops"]}, LONER)
        assert exit_ is None and "X-Consumer-Groups" not in ctx.headers


class TestAuthenticatedGroups:
    async def test_without_consumer(self) -> None:
        ctx, exit_ = await check({"allow": ["ldap-admins"]}, None, credential=None, groups=["ldap-admins"])
        assert exit_ is None and ctx.headers["X-Authenticated-Groups"] == "ldap-admins"
        assert "X-Consumer-Groups" not in ctx.headers

    async def test_anonymous_consumer_uses_them(self) -> None:
        ctx, exit_ = await check({"allow": ["ldap-admins"]}, LONER, credential=None, groups=["ldap-admins"])
        assert exit_ is None

    async def test_consumer_with_credential_ignores_them_unless_configured(self) -> None:
        _ctx, exit_ = await check({"allow": ["ldap-admins"]}, USER, groups=["ldap-admins"])
        assert exit_.status == 403
        _ctx, exit_ = await check({"allow": ["ldap-admins"], "always_use_authenticated_groups": True},
                                  USER, groups=["ldap-admins"])
        assert exit_ is None


class TestConsumerGroups:
    async def test_include_consumer_groups(self) -> None:
        _ctx, exit_ = await check({"allow": ["gold"]}, USER)
        assert exit_.status == 403
        ctx, exit_ = await check({"allow": ["gold"], "include_consumer_groups": True}, USER)
        assert exit_ is None and ctx.headers["X-Consumer-Groups"] == "users, gold"
