"""request-transformer: schema (Kong's words) and every case of KONG-REFERENCE §3.4 at handler level."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin_helpers import make_ctx, make_handler, run_access

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError
from konnect_desktop.plugins.base import encode_args
from konnect_desktop.plugins.http_util import decode_args, split_entry

RT = "request-transformer"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSONCT = {"Content-Type": "application/json"}


def schema_errors(config: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(KongError) as ei:
        plugins.validate_plugin({"name": RT, "config": config})
    assert ei.value.code == 2
    return ei.value.fields or {}


async def transform(config: dict[str, Any], *args: Any, **kw: Any) -> Any:
    ctx = make_ctx(*args, **kw)
    exit_ = await run_access(make_handler(RT, config), ctx)
    assert exit_ is None, exit_.body if exit_ else None
    return ctx


def upstream_query(ctx: Any) -> str:
    return encode_args(ctx.query) if ctx.query_dirty else ctx.original.raw_path.partition("?")[2]


# -- schema ---------------------------------------------------------------------------------------
class TestSchema:
    def test_defaults_fill_every_array(self) -> None:
        out = plugins.validate_plugin({"name": RT})
        c = out["config"]
        assert c["http_method"] is None
        for verb in ("remove", "rename", "replace", "add", "append"):
            assert c[verb]["headers"] == [] and c[verb]["querystring"] == [] and c[verb]["body"] == []
        assert c["replace"]["uri"] is None
        assert out["protocols"] == ["grpc", "grpcs", "http", "https"]

    def test_http_method(self) -> None:
        plugins.validate_plugin({"name": RT, "config": {"http_method": "GET"}})
        assert schema_errors({"http_method": "HELLO!"}) == {"config": {"http_method": "invalid value: HELLO!"}}

    @pytest.mark.parametrize("verb", ["add", "append", "replace"])
    def test_header_values(self, verb: str) -> None:
        plugins.validate_plugin({"name": RT, "config": {verb: {"headers": ["X-Test:a value with spaces; and punctuation!"]}}})
        errs = schema_errors({verb: {"headers": ["X-Test:invalid\rvalue"]}})
        assert errs["config"][verb]["headers"] == ["'invalid\rvalue' is not a valid header"]

    def test_header_entry_needs_colon(self) -> None:
        errs = schema_errors({"add": {"headers": ["x-no-colon"]}})
        assert errs["config"]["add"]["headers"] == ["invalid value: x-no-colon"]

    def test_renamed_header_names(self) -> None:
        errs = schema_errors({"rename": {"headers": ["X-Test:not a header name"]}})
        assert errs["config"]["rename"]["headers"] == ["'not a header name' is not a valid header"]
        errs = schema_errors({"remove": {"headers": ["bad header"]}})
        assert errs["config"]["remove"]["headers"] == ["'bad header' is not a valid header"]

    def test_templates_validate(self) -> None:
        plugins.validate_plugin({"name": RT, "config": {"add": {"querystring": [
            "uri_param1:$(uri_captures.user1)", "uri_param2:$(uri_captures.user2)"]}}})
        plugins.validate_plugin({"name": RT, "config": {"add": {"querystring": [
            "uri_param1:$(uri_captures.user1)", "uri_param2:value"]}}})

    def test_missing_value(self) -> None:
        errs = schema_errors({"add": {"querystring": ["uri_param2:"]}})
        assert errs["config"]["add"]["querystring"] == ["key 'uri_param2' has no value"]
        errs = schema_errors({"replace": {"body": ["novalue"]}})
        assert errs["config"]["replace"]["body"] == ["key 'novalue' has no value"]

    def test_malformed_template(self) -> None:
        errs = schema_errors({"add": {"querystring": ["uri_param2:$(uri_captures user2)"]}})
        (msg,) = errs["config"]["add"]["querystring"]
        assert msg.startswith("value '$(uri_captures user2)' is not in supported format, error:")

    def test_error_message_shape(self) -> None:
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": RT, "config": {"http_method": "HELLO!"}})
        body = ei.value.to_dict()
        assert body["name"] == "schema violation"
        assert "config.http_method: invalid value: HELLO!" in body["message"]


# -- §3.4 cases -----------------------------------------------------------------------------------
TEST1 = {"add": {"headers": ["h1:v1", "h2:value:2"], "querystring": ["q1:v1"], "body": ["p1:v1"]}}


class TestAdd:
    async def test_1_adds_headers_query(self) -> None:
        ctx = await transform(TEST1, "GET", "/request")
        assert ctx.headers["h1"] == "v1"
        assert ctx.headers["h2"] == "value:2"
        assert ctx.query.getall("q1") == ["v1"]

    async def test_2_existing_header_not_overwritten(self) -> None:
        ctx = await transform(TEST1, "GET", "/request", {"h1": "v3"})
        assert ctx.headers.getall("h1") == ["v3"]

    async def test_3_query_add_only_if_absent(self) -> None:
        ctx = await transform(TEST1, "GET", "/request?q2=v2")
        assert ctx.query["q2"] == "v2" and ctx.query["q1"] == "v1"
        ctx = await transform(TEST1, "GET", "/request?q1=v2")
        assert ctx.query.getall("q1") == ["v2"]

    async def test_4_host_is_never_added(self) -> None:
        ctx = await transform({"add": {"headers": ["host:mark"]}}, "GET", "/request", {"Host": "test2.test"})
        assert ctx.headers.getall("Host") == ["test2.test"]

    async def test_add_json_body_to_empty_and_existing(self) -> None:
        ctx = await transform(TEST1, "POST", "/request", JSONCT, b"")
        assert json.loads(await ctx.read_body()) == {"p1": "v1"}
        assert ctx.headers["Content-Length"] == str(len(await ctx.read_body()))
        ctx = await transform(TEST1, "POST", "/request", JSONCT, b'{"p1":"keep","x":1}')
        assert json.loads(await ctx.read_body()) == {"p1": "keep", "x": 1}

    async def test_add_form_body(self) -> None:
        ctx = await transform(TEST1, "POST", "/request", FORM, "a=1")
        assert decode_args(await ctx.read_body()) == {"a": "1", "p1": "v1"}

    async def test_other_content_type_untouched(self) -> None:
        ctx = await transform(TEST1, "POST", "/request", {"Content-Type": "text/plain"}, "raw")
        assert not ctx.body_dirty and await ctx.read_body() == b"raw"


TEST4 = {"remove": {"headers": ["x-to-remove"], "querystring": ["q1"], "body": ["toremoveform"]}}


class TestRemove:
    async def test_5_header_query_form(self) -> None:
        ctx = await transform(TEST4, "POST", "/request?q1=v1&q2=v2",
                              {"x-to-remove": "true", **FORM}, "toremoveform=yes&nottoremove=yes")
        assert "x-to-remove" not in ctx.headers
        assert await ctx.read_body() == b"nottoremove=yes"
        assert "q1" not in ctx.query and ctx.query["q2"] == "v2"

    async def test_6_malformed_json_unchanged(self) -> None:
        body = b'{"toremoveform": "yes", "nottoremove": '
        ctx = await transform(TEST4, "POST", "/request", JSONCT, body)
        assert not ctx.body_dirty and await ctx.read_body() == body

    async def test_7_empty_array_kept(self) -> None:
        ctx = await transform(TEST4, "POST", "/request", JSONCT, b'{"emptyarray":[]}')
        assert await ctx.read_body() == b'{"emptyarray":[]}'

    async def test_json_remove(self) -> None:
        ctx = await transform(TEST4, "POST", "/request", JSONCT, b'{"toremoveform":"yes","nottoremove":"yes"}')
        assert json.loads(await ctx.read_body()) == {"nottoremove": "yes"}

    async def test_multipart_remove(self) -> None:
        boundary = "XyZ"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"toremoveform\"\r\n\r\nyes\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"nottoremove\"\r\n\r\nyes\r\n"
                f"--{boundary}--\r\n")
        ctx = await transform(TEST4, "POST", "/request",
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
        out = (await ctx.read_body()).decode()
        assert 'name="toremoveform"' not in out and 'name="nottoremove"' in out


TEST9 = {"rename": {"headers": ["x-to-rename:x-is-renamed"], "querystring": ["originalparam:renamedparam"],
                    "body": ["originalparam:renamedparam"]}}


class TestRename:
    async def test_8_header_overwrites_target(self) -> None:
        ctx = await transform(TEST9, "GET", "/request", [("x-to-rename", "new-result"), ("x-is-renamed", "old-result")])
        assert "x-to-rename" not in ctx.headers
        assert ctx.headers.getall("x-is-renamed") == ["new-result"]

    async def test_query_and_body(self) -> None:
        ctx = await transform(TEST9, "POST", "/request?originalparam=yes", FORM, "originalparam=yes&other=1")
        assert ctx.query.getall("renamedparam") == ["yes"] and "originalparam" not in ctx.query
        assert decode_args(await ctx.read_body()) == {"renamedparam": "yes", "other": "1"}

    async def test_case_only_rename(self) -> None:
        ctx = await transform({"rename": {"headers": ["x-foo:X-FOO"]}}, "GET", "/", {"x-foo": "1"})
        assert list(k for k in ctx.headers if k.lower() == "x-foo") == ["X-FOO"]
        assert ctx.headers["x-foo"] == "1"

    async def test_absent_source_is_noop(self) -> None:
        ctx = await transform(TEST9, "GET", "/request", {"x-other": "1"})
        assert "x-is-renamed" not in ctx.headers and ctx.headers["x-other"] == "1"


TEST5 = {"replace": {"headers": ["h1:v1"], "querystring": ["q1:v1"], "body": ["p1:v1"]}}


class TestReplace:
    async def test_9_headers(self) -> None:
        ctx = await transform(TEST5, "GET", "/request", {"h1": "V", "h2": "v2"})
        assert ctx.headers.getall("h1") == ["v1"] and ctx.headers["h2"] == "v2"
        ctx = await transform(TEST5, "GET", "/request", {"h2": "v2"})
        assert "h1" not in ctx.headers

    async def test_10_form(self) -> None:
        ctx = await transform(TEST5, "POST", "/request", FORM, "p1=v&p2=v1")
        assert decode_args(await ctx.read_body()) == {"p1": "v1", "p2": "v1"}
        ctx = await transform(TEST5, "POST", "/request", FORM, "p2=v1")
        assert decode_args(await ctx.read_body()) == {"p2": "v1"}

    async def test_query(self) -> None:
        ctx = await transform(TEST5, "GET", "/request?q1=old&q2=x")
        assert ctx.query.getall("q1") == ["v1"]
        ctx = await transform(TEST5, "GET", "/request?q2=x")
        assert "q1" not in ctx.query

    async def test_host_can_be_replaced(self) -> None:
        ctx = await transform({"replace": {"headers": ["host:upstream.test"]}}, "GET", "/", {"Host": "client.test"})
        assert ctx.headers.getall("Host") == ["upstream.test"]


class TestAppend:
    async def test_11_headers_and_query(self) -> None:
        cfg = {"append": {"headers": ["h1:v1", "h1:v2", "h2:v1"], "querystring": ["q1:v1", "q1:v2", "q2:v1"]}}
        ctx = await transform(cfg, "GET", "/request")
        assert ctx.headers.getall("h1") == ["v1", "v2"] and ctx.headers.getall("h2") == ["v1"]
        assert ctx.query.getall("q1") == ["v1", "v2"] and ctx.query.getall("q2") == ["v1"]
        assert encode_args(ctx.query) == "q1=v1&q1=v2&q2=v1"

    async def test_12_add_append_replace_together(self) -> None:
        cfg = {"add": {"headers": ["x-added:a1", "x-added3:c2"]},
               "append": {"headers": ["x-added:a2", "x-added:a3"]},
               "replace": {"headers": ["x-to-replace:false"]}}
        ctx = await transform(cfg, "GET", "/request", {"x-to-replace": "true", "x-added3": "c1"})
        assert ctx.headers.getall("x-added") == ["a1", "a2", "a3"]
        assert ctx.headers.getall("x-to-replace") == ["false"]
        assert ctx.headers.getall("x-added3") == ["c1"]

    async def test_json_append(self) -> None:
        ctx = await transform({"append": {"body": ["a:2", "b:1"]}}, "POST", "/", JSONCT, b'{"a":"1"}')
        assert json.loads(await ctx.read_body()) == {"a": ["1", "2"], "b": ["1"]}


class TestMethod:
    async def test_13_get_to_post_keeps_query(self) -> None:
        ctx = await transform({"http_method": "POST"}, "GET", "/request?hello=world&name=marco")
        assert ctx.method == "POST"
        assert upstream_query(ctx) == "hello=world&name=marco"

    async def test_14_post_form_to_get_moves_fields(self) -> None:
        ctx = await transform({"http_method": "GET"}, "POST", "/request?hello=world", FORM, "name=marco")
        assert ctx.method == "GET"
        assert encode_args(ctx.query) == "hello=world&name=marco"

    async def test_23_authorization_replaced(self) -> None:
        cfg = {"http_method": "POST", "remove": {"headers": ["Authorization"]},
               "add": {"headers": ["Authorization:Basic test"]}}
        for hdrs in ({"Authorization": "Basic dXNlcjpwYXNz"}, {}):
            ctx = await transform(cfg, "GET", "/request", hdrs)
            assert ctx.method == "POST"
            assert ctx.headers.getall("Authorization") == ["Basic test"]


class TestTemplates:
    async def test_15_uri_captures_into_query(self) -> None:
        cfg = {"add": {"querystring": ["uri_param1:$(uri_captures.user1)",
                                       "uri_param2[some_index][1]:$(uri_captures.user2)"]}}
        ctx = await transform(cfg, "GET", "/requests/user1/foo/user2/bar?q1=20",
                              uri_captures={0: "/requests/user1/foo/user2/bar", 1: "foo", 2: "bar",
                                            "user1": "foo", "user2": "bar"})
        assert f"{ctx.path}?{encode_args(ctx.query)}" == \
            "/requests/user1/foo/user2/bar?q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar"

    async def test_16_replace_uri(self) -> None:
        cfg = {"replace": {"uri": "/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)"}}
        ctx = await transform(cfg, "GET", "/requests/user1/foo/user2/bar",
                              uri_captures={"user1": "foo", "user2": "bar", 1: "foo", 2: "bar"})
        assert ctx.path == "/requests/user2/bar/user1/foo"

    @pytest.mark.parametrize("path", ["/api/htest", "/gw/api/htest"])
    async def test_17_named_capture_bracket(self, path: str) -> None:
        cfg = {"replace": {"uri": '/api/v2/$(uri_captures["subpath"])'}}
        ctx = await transform(cfg, "GET", path, uri_captures={"subpath": "htest", 2: "htest"})
        assert ctx.path == "/api/v2/htest"

    async def test_18_templates_see_original_values(self) -> None:
        cfg = {"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:$(headers.host)"],
                       "headers": ["x-test-header:$(query_params.q1)"]},
               "remove": {"querystring": ["q1"]}}
        ctx = await transform(cfg, "GET", "/requests/user1/foo/user2/bar?q1=20", {"Host": "test15.test"},
                              uri_captures={"user1": "foo"})
        assert "q1" not in ctx.query
        assert ctx.query["uri_param1"] == "foo" and ctx.query["uri_param2"] == "test15.test"
        assert ctx.headers["x-test-header"] == "20"

    async def test_19_removed_header_still_visible(self) -> None:
        cfg = {"remove": {"headers": ["x-remove-header"]},
               "add": {"headers": ["x-test-header:$(headers['x-remove-header'])"]}}
        ctx = await transform(cfg, "GET", "/", {"x-remove-header": "its a test"})
        assert "x-remove-header" not in ctx.headers
        assert ctx.headers["x-test-header"] == "its a test"

    async def test_20_replaced_header_old_value_visible(self) -> None:
        cfg = {"replace": {"headers": ["x-replace-header:the new value"]},
               "add": {"headers": ["x-test-header:$(headers['x-replace-header'])"]}}
        ctx = await transform(cfg, "GET", "/", {"x-replace-header": "the old value"})
        assert ctx.headers["x-test-header"] == "the old value"
        assert ctx.headers["x-replace-header"] == "the new value"

    async def test_21_escaped_literal(self) -> None:
        ctx = await transform({"add": {"querystring": ["q1:$('$(uri_captures.user1)')"]}}, "GET", "/")
        assert ctx.query["q1"] == "$(uri_captures.user1)"

    async def test_22_render_error_is_500(self) -> None:
        ctx = make_ctx("GET", "/")
        exit_ = await run_access(make_handler(RT, {"add": {"querystring": ["q1:$(ERROR())"]}}), ctx)
        assert exit_ is not None and exit_.status == 500
        assert exit_.body == {"message": "An unexpected error occurred", "request_id": ctx.request_id}
        assert ctx.decisions[-1].outcome == "error"

    async def test_default_value_and_positional_capture(self) -> None:
        cfg = {"add": {"headers": ["x-a:$(uri_captures.missing or 'default')", "x-b:$(uri_captures[1])",
                                   "x-c:$(headers.x_foo)", "x-d:$(query_params.nope)"]}}
        ctx = await transform(cfg, "GET", "/", {"X-Foo": "bar"}, uri_captures={1: "first"})
        assert ctx.headers["x-a"] == "default" and ctx.headers["x-b"] == "first"
        assert ctx.headers["x-c"] == "bar" and ctx.headers["x-d"] == ""

    async def test_invalid_template_in_header_is_500(self) -> None:
        # header values are not template-checked by the schema (as in Kong); rendering fails
        ctx = make_ctx("GET", "/")
        exit_ = await run_access(make_handler(RT, {"add": {"headers": ["x:$(a b)"]}}), ctx)
        assert exit_ is not None and exit_.status == 500

    async def test_templates_compiled_once(self) -> None:
        handler = make_handler(RT, {"add": {"headers": ["x:$(headers.host)"]}})
        compiled = handler.ops["add"]["headers"][0][1]  # type: ignore[attr-defined]
        for host in ("a.test", "b.test"):
            ctx = make_ctx("GET", "/", {"Host": host})
            assert await run_access(handler, ctx) is None
            assert ctx.headers["x"] == host
        assert handler.ops["add"]["headers"][0][1] is compiled  # type: ignore[attr-defined]


class TestDecision:
    async def test_records_changes(self) -> None:
        ctx = await transform(TEST1, "GET", "/request")
        d = ctx.decisions[-1]
        assert d.plugin == RT and d.outcome == "transform" and "headers" in d.summary


# -- properties -----------------------------------------------------------------------------------
header_names = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9-]{0,12}\Z").filter(lambda s: s.lower() != "host")
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=12).filter(
    lambda v: not v.startswith(":"))  # leading colons belong to the separator (Kong's pattern)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(name=st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1, max_size=10),
       value=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(lambda v: not v.startswith(":")))
def test_entry_split_at_first_colon(name: str, value: str) -> None:
    assert split_entry(f"{name}:{value}") == (name, value)


@settings(max_examples=40, deadline=None)
@given(name=header_names, value=header_values, present=st.one_of(st.none(), header_values))
async def test_remove_then_add_is_add(name: str, value: str, present: str | None) -> None:
    handler = make_handler(RT, {"remove": {"headers": [name]}, "add": {"headers": [f"{name}:{value}"]}})
    ctx = make_ctx("GET", "/", {name: present} if present is not None else {})
    assert await run_access(handler, ctx) is None
    assert ctx.headers.getall(name) == [value]


@settings(max_examples=40, deadline=None)
@given(req=st.dictionaries(header_names, header_values, max_size=6),
       removed=st.lists(header_names, max_size=4),
       added=st.lists(st.tuples(header_names, header_values), max_size=3))
async def test_removed_header_never_reaches_upstream(req: dict[str, str], removed: list[str],
                                                     added: list[tuple[str, str]]) -> None:
    add = [f"{n}:{v}" for n, v in added if n.lower() not in {r.lower() for r in removed}]
    handler = make_handler(RT, {"remove": {"headers": removed}, "add": {"headers": add}})
    ctx = make_ctx("GET", "/", req)
    assert await run_access(handler, ctx) is None
    for r in removed:
        assert r not in ctx.headers
    for n, v in req.items():
        if n.lower() not in {r.lower() for r in removed}:
            assert v in ctx.headers.getall(n)
