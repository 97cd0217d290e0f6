"""``Handler.access_sync`` (the proxy's callback lane) must do exactly what ``access`` does.

For key-auth, acl, rate-limiting and request-transformer: the same request through the
synchronous and the asynchronous phase leaves the same headers, query, consumer, decisions and
exit; ``access_sync`` declines (False, nothing changed) exactly where the phase must await. And
request-transformer's in-place header path gives the same headers as its rebuild.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from plugin_helpers import make_ctx, make_handler

from konnect_desktop.plugins.base import Handler, PluginExit, RequestContext
from konnect_desktop.plugins.config_view import ConfigIndex, Services
from konnect_desktop.runtime.config_view import ACCESS_ASYNC, ACCESS_NONE, ACCESS_SYNC, access_kind

CONFIG = {
    "consumers": [{"id": "c1", "username": "alice", "custom_id": "A"},
                  {"id": "c2", "username": "bob"}],
    "keyauth_credentials": [{"id": "k1", "key": "alice-key", "consumer": {"id": "c1"}},
                            {"id": "k2", "key": "bob-key", "consumer": {"id": "c2"}}],
    "acls": [{"id": "a1", "group": "gold", "consumer": {"id": "c1"}}],
}


def state(ctx: RequestContext, exit_: PluginExit | None) -> Any:
    return (
        list(ctx.headers.items()), list(ctx.query.items()), ctx.query_dirty, ctx.method, ctx.path,
        (ctx.consumer or {}).get("id"), (ctx.credential or {}).get("id"),
        [(d.plugin, d.outcome, d.summary, d.data) for d in ctx.decisions],
        None if exit_ is None else (exit_.status, exit_.body if not isinstance(exit_.body, dict)
                                    else {k: v for k, v in exit_.body.items() if k != "request_id"},
                                    exit_.headers),
        {k: v for k, v in ctx.plugin_data.items()},
    )


def twin_ctxs(**kw: Any) -> tuple[RequestContext, RequestContext]:
    index = ConfigIndex.build(CONFIG)
    return make_ctx(config=index, **kw), make_ctx(config=index, **kw)


def run_sync(h: Handler, ctx: RequestContext) -> tuple[bool, PluginExit | None]:
    try:
        return h.access_sync(ctx), None
    except PluginExit as exc:
        return True, exc


def run_async(h: Handler, ctx: RequestContext) -> PluginExit | None:
    try:
        asyncio.run(h.access(ctx))
    except PluginExit as exc:
        return exc
    return None


def same(h_sync: Handler, h_async: Handler, authenticated: bool = False, **kw: Any) -> bool:
    """Run both phases on twin requests; assert they agree. Returns whether sync ran."""
    a, b = twin_ctxs(**kw)
    if authenticated:
        for c in (a, b):
            c.authenticate(c.config.consumer("c1"), c.config.credential("keyauth_credentials", "alice-key"))
    before = state(a, None)
    ran, exit_a = run_sync(h_sync, a)
    if not ran:
        assert state(a, None) == before, "access_sync declined but changed the request"
        return False
    exit_b = run_async(h_async, b)
    sa, sb = state(a, exit_a), state(b, exit_b)
    # plugin_data is keyed by handler identity: compare the values only
    assert sa[:-1] == sb[:-1]
    assert list(sa[-1].values()) == list(sb[-1].values())
    return True


KEY_HEADERS = st.lists(st.sampled_from([("apikey", "alice-key"), ("apikey", "bob-key"), ("apikey", "nope"),
                                        ("X-Other", "1"), ("X-Consumer-ID", "spoof"), ("k2", "bob-key")]),
                       max_size=4)
KEY_URLS = st.sampled_from(["/", "/?apikey=alice-key", "/?apikey=alice-key&apikey=bob-key", "/?k2=bob-key&a=1",
                            "/?a=1&apikey=nope"])
KEY_CONFIGS = st.fixed_dictionaries({}, optional={
    "key_names": st.sampled_from([["apikey"], ["k2", "apikey"]]),
    "hide_credentials": st.booleans(),
    "anonymous": st.sampled_from(["c2", "bob", "missing"]),
    "key_in_header": st.booleans(),
    "key_in_query": st.booleans(),
    "run_on_preflight": st.booleans(),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=KEY_CONFIGS, headers=KEY_HEADERS, url=KEY_URLS, method=st.sampled_from(["GET", "OPTIONS"]),
       authenticated=st.booleans())
def test_key_auth_sync_equals_async(config: dict[str, Any], headers: list[tuple[str, str]], url: str,
                                    method: str, authenticated: bool) -> None:
    h = make_handler("key-auth", config)
    assert access_kind(h) == ACCESS_SYNC
    assert same(h, make_handler("key-auth", config), authenticated, method=method, url=url, headers=headers)


def test_key_auth_declines_when_the_body_may_hold_the_key() -> None:
    h = make_handler("key-auth", {"key_in_body": True})
    assert not same(h, h, headers=[("apikey", "alice-key")], method="POST", body="apikey=alice-key")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(allow=st.booleans(), groups=st.lists(st.sampled_from(["gold", "silver"]), min_size=1, max_size=2),
       hide=st.booleans(), authenticated=st.booleans())
def test_acl_sync_equals_async(allow: bool, groups: list[str], hide: bool, authenticated: bool) -> None:
    config = {"allow" if allow else "deny": groups, "hide_groups_header": hide}
    assert same(make_handler("acl", config), make_handler("acl", config), authenticated)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=st.fixed_dictionaries({"minute": st.integers(1, 3)}, optional={"hour": st.integers(3, 5)}),
       limit_by=st.sampled_from(["consumer", "ip", "header", "path"]), n=st.integers(1, 5),
       hide=st.booleans())
def test_rate_limiting_sync_equals_async(limits: dict[str, int], limit_by: str, n: int, hide: bool) -> None:
    config: dict[str, Any] = {**limits, "limit_by": limit_by, "hide_client_headers": hide}
    if limit_by == "header":
        config["header_name"] = "X-Client"
    if limit_by == "path":
        config["path"] = "/p"
    # two handlers with their own counters, fed the same requests at the same instant
    h_sync = make_handler("rate-limiting", config, runtime=Services())
    h_async = make_handler("rate-limiting", config, runtime=Services())
    h_sync.clock = h_async.clock = lambda: 1_700_000_000.25  # type: ignore[attr-defined]
    for _ in range(n):
        assert same(h_sync, h_async, url="/p", headers=[("X-Client", "c")])


def test_rate_limiting_redis_policy_declines() -> None:
    h = make_handler("rate-limiting", {"minute": 5, "policy": "redis", "redis": {"host": "127.0.0.1", "port": 1}})
    ctx = make_ctx()
    assert h.access_sync(ctx) is False
    assert ctx.decisions == []


NAMES = st.sampled_from(["X-A", "x-a", "X-B", "Accept", "User-Agent", "X-Drop"])
HEADER_LISTS = st.lists(st.tuples(NAMES, st.sampled_from(["1", "2", "v w"])), max_size=5)
RT_HEADER_RULES = st.fixed_dictionaries({}, optional={
    "remove": st.fixed_dictionaries({"headers": st.lists(st.sampled_from(["X-Drop", "x-b", "Host", "X-New"]),
                                                         max_size=2)}),
    "add": st.fixed_dictionaries({"headers": st.lists(st.sampled_from(
        ["X-New:1", "x-a:added", "Host:evil", "X-H:$(headers.host)", "X-D:$(headers['x-drop'])",
         "X-Q:$(query_params.q)", "X-New:again", "X-Drop:back"]), max_size=3)}),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=RT_HEADER_RULES, headers=HEADER_LISTS, host=st.sampled_from(["first", "last", "lower", "none"]),
       url=st.sampled_from(["/", "/?q=1"]))
def test_request_transformer_in_place_headers_equal_the_rebuild(rules: dict[str, Any],
                                                               headers: list[tuple[str, str]], host: str,
                                                               url: str) -> None:
    pairs = list(headers)
    if host == "first":
        pairs.insert(0, ("Host", "h.test"))
    elif host == "lower":
        pairs.insert(0, ("host", "h.test"))
    elif host == "last":
        pairs.append(("Host", "h.test"))
    in_place = make_handler("request-transformer", rules)
    rebuild = make_handler("request-transformer", rules)
    rebuild.headers_add_remove_only = False  # type: ignore[attr-defined]
    a, b = twin_ctxs(url=url)
    for c in (a, b):
        c.headers = CIMultiDict(pairs)
    ran, exit_a = run_sync(in_place, a)
    assert ran
    exit_b = run_async(rebuild, b)
    assert state(a, exit_a)[:-1] == state(b, exit_b)[:-1]


def test_request_transformer_in_place_templates_see_the_headers_as_received() -> None:
    h = make_handler("request-transformer", {"remove": {"headers": ["X-Drop"]},
                                             "add": {"headers": ["X-Seen:$(headers['x-drop'])", "X-Drop:new"]}})
    ctx = make_ctx(config=ConfigIndex.build(CONFIG))
    ctx.headers = CIMultiDict([("Host", "h.test"), ("X-Drop", "old"), ("Accept", "*/*")])
    assert h.access_sync(ctx)
    assert list(ctx.headers.items()) == [("Host", "h.test"), ("Accept", "*/*"), ("X-Seen", "old"),
                                         ("X-Drop", "new")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=RT_HEADER_RULES, headers=HEADER_LISTS, url=st.sampled_from(["/x", "/x?q=1&r=2"]),
       more=st.fixed_dictionaries({}, optional={
           "http_method": st.sampled_from(["POST", "GET"]),
           "replace": st.just({"uri": "/new/$(query_params.q)"}),
           "append": st.just({"headers": ["X-A:more"], "querystring": ["q:2"]}),
           "rename": st.just({"headers": ["X-B:X-Renamed"], "querystring": ["r:s"]}),
       }))
def test_request_transformer_sync_equals_async(rules: dict[str, Any], headers: list[tuple[str, str]], url: str,
                                               more: dict[str, Any]) -> None:
    config = {**rules, **more}
    assert same(make_handler("request-transformer", config), make_handler("request-transformer", config),
                url=url, headers=headers)


def test_request_transformer_declines_when_a_body_is_involved() -> None:
    h = make_handler("request-transformer", {"add": {"body": ["a:1"]}})
    assert not same(h, h, method="POST", body="x=1", headers=[("Content-Type", "application/x-www-form-urlencoded")])
    h = make_handler("request-transformer", {"http_method": "GET"})
    assert not same(h, h, method="POST", body="x=1", headers=[("Content-Type", "application/x-www-form-urlencoded")])
    # the same method change without a form body has nothing to read
    assert same(h, make_handler("request-transformer", {"http_method": "GET"}), method="POST")


def test_access_kind() -> None:
    class NoAccess(Handler):
        pass

    class OnlyAsync(Handler):
        async def access(self, ctx: RequestContext) -> None:
            return None

    key_auth = type(make_handler("key-auth"))

    class OverridesAccessOnly(key_auth):  # type: ignore[misc, valid-type]
        async def access(self, ctx: RequestContext) -> None:
            return None

    cfg: dict[str, Any] = {}
    assert access_kind(NoAccess(cfg, {}, Services())) == ACCESS_NONE
    assert access_kind(OnlyAsync(cfg, {}, Services())) == ACCESS_ASYNC
    assert access_kind(make_handler("acl", {"allow": ["x"]})) == ACCESS_SYNC
    # the parent's fast path must not stand in for a subclass's own access
    h = make_handler("key-auth")
    assert access_kind(OverridesAccessOnly(h.config, h.plugin, h.runtime)) == ACCESS_ASYNC
