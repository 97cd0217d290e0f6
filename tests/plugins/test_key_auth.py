"""key-auth: schema and every row of KONG-REFERENCE §5.1 at handler level."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from plugin_helpers import make_ctx, make_handler, run_access

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError
from konnect_desktop.plugins.base import encode_args
from konnect_desktop.plugins.config_view import ConfigIndex

ALICE = {"id": "11111111-1111-4111-8111-111111111111", "username": "alice", "custom_id": "cust-1"}
BOB = {"id": "22222222-2222-4222-8222-222222222222", "username": "bob", "custom_id": None}
ANON = {"id": "33333333-3333-4333-8333-333333333333", "username": "anon", "custom_id": None}
CRED = {"id": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "key": "kong", "consumer": {"id": ALICE["id"]},
        "created_at": int(time.time()), "ttl": None}
EXPIRED = {"id": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "key": "old", "consumer": {"id": BOB["id"]},
           "created_at": int(time.time()) - 100, "ttl": 10}

VIEW = ConfigIndex.build({"consumers": [ALICE, BOB, ANON], "keyauth_credentials": [CRED, EXPIRED]})


async def auth(config: dict[str, Any] | None, *args: Any, **kw: Any) -> tuple[Any, Any]:
    ctx = make_ctx(*args, config=VIEW, **kw)
    return ctx, await run_access(make_handler("key-auth", config), ctx)


def assert_401(exit_: Any, message: str, challenge: str = "Key") -> None:
    assert exit_ is not None and exit_.status == 401
    assert exit_.body["message"] == message
    assert exit_.headers["WWW-Authenticate"] == challenge


class TestSchema:
    def test_defaults(self) -> None:
        c = plugins.validate_plugin({"name": "key-auth"})["config"]
        assert c == {"key_names": ["apikey"], "hide_credentials": False, "anonymous": None,
                     "key_in_header": True, "key_in_query": True, "key_in_body": False,
                     "run_on_preflight": True, "realm": None}

    def test_bad_key_name(self) -> None:
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": "key-auth", "config": {"key_names": ["api key"]}})
        assert ei.value.fields == {"config": {"key_names": [
            "bad header name 'api key', allowed characters are A-Z, a-z, 0-9, '_', and '-'"]}}

    def test_no_consumer_scope(self) -> None:
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": "key-auth", "consumer": {"id": ALICE["id"]}})
        assert ei.value.fields == {"consumer": "value must be null"}


class TestLookup:
    async def test_header_success_sets_consumer_headers(self) -> None:
        ctx, exit_ = await auth(None, "GET", "/", {"apikey": "kong", "X-Consumer-Username": "forged",
                                                   "X-Anonymous-Consumer": "true"})
        assert exit_ is None
        assert ctx.consumer == ALICE and ctx.credential == CRED
        assert ctx.headers["X-Consumer-ID"] == ALICE["id"]
        assert ctx.headers["X-Consumer-Custom-ID"] == "cust-1"
        assert ctx.headers.getall("X-Consumer-Username") == ["alice"]
        assert ctx.headers["X-Credential-Identifier"] == CRED["id"]
        assert "X-Anonymous-Consumer" not in ctx.headers
        assert ctx.headers["apikey"] == "kong"  # not hidden by default
        d = ctx.decisions[-1]
        assert d.outcome == "pass" and "alice" in d.summary and "kong" not in d.summary

    async def test_custom_id_header_cleared_when_unset(self) -> None:
        cred = {**CRED, "id": "cccccccc-cccc-4ccc-8ccc-cccccccccccc", "key": "bobkey", "consumer": {"id": BOB["id"]}}
        view = ConfigIndex.build({"consumers": [BOB], "keyauth_credentials": [cred]})
        ctx = make_ctx("GET", "/", {"apikey": "bobkey", "X-Consumer-Custom-ID": "forged"}, config=view)
        assert await run_access(make_handler("key-auth"), ctx) is None
        assert "X-Consumer-Custom-ID" not in ctx.headers

    async def test_query_success(self) -> None:
        ctx, exit_ = await auth(None, "GET", "/?apikey=kong")
        assert exit_ is None and ctx.consumer == ALICE

    async def test_header_name_case_insensitive(self) -> None:
        ctx, exit_ = await auth(None, "GET", "/", {"ApiKey": "kong"})
        assert exit_ is None

    @pytest.mark.parametrize("ct,body", [
        ("application/x-www-form-urlencoded", "apikey=kong&x=1"),
        ("application/json", json.dumps({"apikey": "kong"})),
        ("multipart/form-data; boundary=b1", '--b1\r\nContent-Disposition: form-data; name="apikey"\r\n\r\nkong\r\n--b1--\r\n'),
    ])
    async def test_body(self, ct: str, body: str) -> None:
        ctx, exit_ = await auth({"key_in_body": True}, "POST", "/", {"Content-Type": ct}, body)
        assert exit_ is None and ctx.consumer == ALICE
        ctx, exit_ = await auth(None, "POST", "/", {"Content-Type": ct}, body)
        assert_401(exit_, "No API key found in request")

    async def test_header_before_query_and_key_names_order(self) -> None:
        ctx, exit_ = await auth({"key_names": ["first", "apikey"]}, "GET", "/?apikey=nope", {"apikey": "kong"})
        assert exit_ is None
        ctx, exit_ = await auth({"key_names": ["first", "apikey"]}, "GET", "/?first=kong&apikey=nope")
        assert exit_ is None

    async def test_key_in_header_disabled(self) -> None:
        ctx, exit_ = await auth({"key_in_header": False}, "GET", "/", {"apikey": "kong"})
        assert_401(exit_, "No API key found in request")


class TestFailures:
    async def test_missing(self) -> None:
        ctx, exit_ = await auth(None, "GET", "/")
        assert_401(exit_, "No API key found in request")
        assert exit_.body["request_id"] == ctx.request_id
        assert ctx.decisions[-1].outcome == "reject"

    @pytest.mark.parametrize("url,headers", [("/", {"apikey": ""}), ("/?apikey", {}), ("/?apikey=", {})])
    async def test_empty_key(self, url: str, headers: dict[str, str]) -> None:
        _ctx, exit_ = await auth(None, "GET", url, headers)
        assert_401(exit_, "No API key found in request")

    async def test_duplicate_header(self) -> None:
        _ctx, exit_ = await auth(None, "GET", "/", [("apikey", "kong"), ("apikey", "kong")])
        assert_401(exit_, "Duplicate API key found")

    async def test_duplicate_query(self) -> None:
        _ctx, exit_ = await auth(None, "GET", "/?apikey=a&apikey=b")
        assert_401(exit_, "Duplicate API key found")

    @pytest.mark.parametrize("url", ["/?apikey[]=kong", "/?apikey[1]=kong"])
    async def test_bracketed_names_are_not_the_key(self, url: str) -> None:
        _ctx, exit_ = await auth(None, "GET", url)
        assert_401(exit_, "No API key found in request")

    async def test_unknown_key(self) -> None:
        _ctx, exit_ = await auth(None, "GET", "/", {"apikey": "nope"})
        assert_401(exit_, "Unauthorized")

    async def test_expired_key(self) -> None:
        _ctx, exit_ = await auth(None, "GET", "/", {"apikey": "old"})
        assert_401(exit_, "Unauthorized")

    async def test_realm(self) -> None:
        _ctx, exit_ = await auth({"realm": "test-realm"}, "GET", "/")
        assert_401(exit_, "No API key found in request", 'Key realm="test-realm"')

    async def test_preflight(self) -> None:
        _ctx, exit_ = await auth({"run_on_preflight": False}, "OPTIONS", "/")
        assert exit_ is None
        _ctx, exit_ = await auth(None, "OPTIONS", "/")
        assert_401(exit_, "No API key found in request")


class TestHideCredentials:
    async def test_header_and_query_removed(self) -> None:
        ctx, exit_ = await auth({"hide_credentials": True}, "GET", "/?apikey=kong&b=2&a=1")
        assert exit_ is None
        # the other arguments keep the client's order (Kong's clear_query_arg; spec "removes
        # apikey and preserves order of query parameters")
        assert ctx.query_dirty and encode_args(ctx.query) == "b=2&a=1"
        ctx, exit_ = await auth({"hide_credentials": True}, "GET", "/", {"apikey": "kong"})
        assert exit_ is None and "apikey" not in ctx.headers

    async def test_query_left_as_urlsearchparams_writes_it(self) -> None:
        """resty.ada's URLSearchParams serializer (WHATWG urlencoded): order kept, values decoded
        and re-encoded, space as '+', '~' and non-ASCII percent-encoded."""
        ctx, exit_ = await auth({"hide_credentials": True}, "GET", "/?q=a+b%7Ec&apikey=kong&x=%C3%A9&apikey=kong2")
        assert exit_ is not None  # two keys: Kong's duplicate answer, nothing removed
        ctx, exit_ = await auth({"hide_credentials": True}, "GET", "/?q=a+b%7Ec&api%6Bey=kong&x=%C3%A9&z=*._-")
        assert exit_ is None
        assert encode_args(ctx.query) == "q=a+b%7Ec&x=%C3%A9&z=*._-"

    async def test_body_removed(self) -> None:
        ctx, exit_ = await auth({"hide_credentials": True, "key_in_body": True}, "POST", "/",
                                {"Content-Type": "application/json"}, '{"apikey":"kong","keep":1}')
        assert exit_ is None
        assert json.loads(await ctx.read_body()) == {"keep": 1}
        assert ctx.headers["Content-Length"] == str(len(await ctx.read_body()))


class TestAnonymous:
    async def test_fallback_to_anonymous(self) -> None:
        for cfg_anon in (ANON["id"], "anon"):
            ctx, exit_ = await auth({"anonymous": cfg_anon}, "GET", "/")
            assert exit_ is None
            assert ctx.consumer == ANON and ctx.credential is None
            assert ctx.headers["X-Anonymous-Consumer"] == "true"
            assert ctx.headers["X-Consumer-Username"] == "anon"
            assert "X-Credential-Identifier" not in ctx.headers

    async def test_invalid_key_with_anonymous(self) -> None:
        ctx, exit_ = await auth({"anonymous": "anon"}, "GET", "/", {"apikey": "nope"})
        assert exit_ is None and ctx.consumer == ANON

    async def test_already_authenticated_does_nothing(self) -> None:
        ctx = make_ctx("GET", "/", config=VIEW)
        ctx.authenticate(BOB, {"id": "dddddddd-dddd-4ddd-8ddd-dddddddddddd"})
        assert await run_access(make_handler("key-auth", {"anonymous": "anon"}), ctx) is None
        assert ctx.consumer == BOB and "X-Consumer-ID" not in ctx.headers

    async def test_missing_anonymous_consumer(self) -> None:
        _ctx, exit_ = await auth({"anonymous": "ghost"}, "GET", "/")
        assert exit_ is not None and exit_.status == 500
        assert exit_.body["message"] == "anonymous consumer ghost is configured but doesn't exist"
