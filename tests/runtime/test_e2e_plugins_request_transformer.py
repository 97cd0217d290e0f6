"""request-transformer through real sockets (client → LocalRuntime → echo upstream): every case of
KONG-REFERENCE §3.4 (Kong's spec/03-plugins/36-request-transformer/02-access_spec.lua)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_plugin_support import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")
RT = "request-transformer"
FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")


async def setup(gw: Gateway, config: dict[str, Any], **route: Any) -> None:
    c, svc = gw.cfg()
    route.setdefault("paths", ["/request"])
    r = c.route(svc, **route)
    c.plugin(RT, config, route=r)
    await gw.load(c)


TEST1 = {"add": {"headers": ["h1:v1", "h2:value:2"], "querystring": ["q1:v1"], "body": ["p1:v1"]}}


async def test_01_add(gw: Gateway) -> None:
    await setup(gw, TEST1)
    e = (await gw.request("GET", "/request")).echo
    assert e["headers"]["h1"] == "v1" and e["headers"]["h2"] == "value:2"
    assert e["args"] == {"q1": "v1"}


async def test_02_add_keeps_existing_header(gw: Gateway) -> None:
    await setup(gw, TEST1)
    assert (await gw.request("GET", "/request", [("h1", "v3")])).up_header("h1") == "v3"


async def test_03_add_query_only_if_absent(gw: Gateway) -> None:
    await setup(gw, TEST1)
    assert (await gw.request("GET", "/request?q2=v2")).echo["args"] == {"q1": "v1", "q2": "v2"}
    assert (await gw.request("GET", "/request?q1=v2")).echo["args"] == {"q1": "v2"}


async def test_04_host_never_added(gw: Gateway) -> None:
    await setup(gw, {"add": {"headers": ["host:mark"]}}, hosts=["test2.test"], paths=None, preserve_host=True)
    assert (await gw.request("GET", "/request", host="test2.test")).up_header("host") == "test2.test"


TEST4 = {"remove": {"headers": ["x-to-remove"], "querystring": ["q1"], "body": ["toremoveform"]}}


async def test_05_remove(gw: Gateway) -> None:
    await setup(gw, TEST4)
    r = await gw.request("POST", "/request?q1=v1&q2=v2", [("x-to-remove", "true"), FORM],
                         "toremoveform=yes&nottoremove=yes")
    assert r.up_header("x-to-remove") is None
    assert r.echo["form"] == {"nottoremove": "yes"} and r.echo["data"] == "nottoremove=yes"
    assert r.echo["args"] == {"q2": "v2"}


async def test_06_malformed_json_forwarded_unchanged(gw: Gateway) -> None:
    await setup(gw, TEST4)
    body = '{"toremoveform": "yes", "nottoremove": '
    r = await gw.request("POST", "/request", [JSON], body)
    assert r.status == 200 and r.echo["data"] == body


async def test_07_empty_array_kept(gw: Gateway) -> None:
    await setup(gw, TEST4)
    r = await gw.request("POST", "/request", [JSON], '{"emptyarray":[]}')
    assert r.echo["data"] == '{"emptyarray":[]}'


async def test_08_rename(gw: Gateway) -> None:
    await setup(gw, {"rename": {"headers": ["x-to-rename:x-is-renamed"], "querystring": ["originalparam:renamedparam"],
                                "body": ["originalparam:renamedparam"]}})
    r = await gw.request("POST", "/request?originalparam=yes",
                         [("x-to-rename", "new-result"), ("x-is-renamed", "old-result"), FORM], "originalparam=yes")
    assert r.up_header("x-to-rename") is None and r.up_header("x-is-renamed") == "new-result"
    assert r.echo["args"] == {"renamedparam": "yes"} and r.echo["form"] == {"renamedparam": "yes"}


TEST5 = {"replace": {"headers": ["h1:v1"], "querystring": ["q1:v1"], "body": ["p1:v1"]}}


async def test_09_replace_headers(gw: Gateway) -> None:
    await setup(gw, TEST5)
    r = await gw.request("GET", "/request", [("h1", "V"), ("h2", "v2")])
    assert r.up_header("h1") == "v1" and r.up_header("h2") == "v2"
    r = await gw.request("GET", "/request", [("h2", "v2")])
    assert r.up_header("h1") is None


async def test_10_replace_form(gw: Gateway) -> None:
    await setup(gw, TEST5)
    assert (await gw.request("POST", "/request", [FORM], "p1=v&p2=v1")).echo["form"] == {"p1": "v1", "p2": "v1"}
    assert (await gw.request("POST", "/request", [FORM], "p2=v1")).echo["form"] == {"p2": "v1"}


async def test_11_append(gw: Gateway) -> None:
    await setup(gw, {"append": {"headers": ["h1:v1", "h1:v2", "h2:v1"], "querystring": ["q1:v1", "q1:v2", "q2:v1"]}})
    r = await gw.request("GET", "/request")
    assert r.up_header("h1") == ["v1", "v2"] and r.up_header("h2") == "v1"
    assert r.echo["args"] == {"q1": ["v1", "v2"], "q2": "v1"}


async def test_12_add_append_replace(gw: Gateway) -> None:
    await setup(gw, {"add": {"headers": ["x-added:a1", "x-added3:c2"]},
                     "append": {"headers": ["x-added:a2", "x-added:a3"]},
                     "replace": {"headers": ["x-to-replace:false"]}})
    r = await gw.request("GET", "/request", [("x-to-replace", "true"), ("x-added3", "c1")])
    assert r.up_header("x-added") == ["a1", "a2", "a3"]
    assert r.up_header("x-to-replace") == "false" and r.up_header("x-added3") == "c1"


async def test_13_method_post(gw: Gateway) -> None:
    await setup(gw, {"http_method": "POST"})
    e = (await gw.request("GET", "/request?hello=world&name=marco")).echo
    assert e["method"] == "POST" and e["query"] == "hello=world&name=marco"


async def test_14_method_get_moves_form(gw: Gateway) -> None:
    await setup(gw, {"http_method": "GET"})
    e = (await gw.request("POST", "/request?hello=world", [FORM], "name=marco")).echo
    assert e["method"] == "GET" and e["args"] == {"hello": "world", "name": "marco"}


async def test_15_uri_captures_into_query(gw: Gateway) -> None:
    await setup(gw, {"add": {"querystring": ["uri_param1:$(uri_captures.user1)",
                                            "uri_param2[some_index][1]:$(uri_captures.user2)"]}},
                paths=[r"~/requests/user1/(?P<user1>\w+)/user2/(?P<user2>\S+)"], strip_path=False)
    e = (await gw.request("GET", "/requests/user1/foo/user2/bar?q1=20")).echo
    assert f"{e['path']}?{e['query']}" == \
        "/requests/user1/foo/user2/bar?q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar"


async def test_16_replace_uri(gw: Gateway) -> None:
    await setup(gw, {"replace": {"uri": "/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)"}},
                paths=[r"~/requests/user1/(?P<user1>\w+)/user2/(?P<user2>\S+)"], strip_path=False)
    assert (await gw.request("GET", "/requests/user1/foo/user2/bar")).echo["path"] == "/requests/user2/bar/user1/foo"


async def test_17_named_capture_with_brackets(gw: Gateway) -> None:
    await setup(gw, {"replace": {"uri": '/api/v2/$(uri_captures["subpath"])'}},
                paths=[r"~/(gw/)?api/(?<subpath>htest)$"], strip_path=False)
    for path in ("/api/htest", "/gw/api/htest"):
        assert (await gw.request("GET", path)).echo["path"] == "/api/v2/htest"


async def test_18_templates_see_request_as_received(gw: Gateway) -> None:
    await setup(gw, {"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:$(headers.host)"],
                             "headers": ["x-test-header:$(query_params.q1)"]},
                     "remove": {"querystring": ["q1"]}},
                paths=[r"~/requests/user1/(?P<user1>\w+)/user2/(?P<user2>\S+)"], hosts=["test15.test"], strip_path=False)
    r = await gw.request("GET", "/requests/user1/foo/user2/bar?q1=20", host="test15.test")
    assert r.echo["args"] == {"uri_param1": "foo", "uri_param2": "test15.test"}
    assert r.up_header("x-test-header") == "20"


async def test_19_removed_header_visible_to_template(gw: Gateway) -> None:
    await setup(gw, {"remove": {"headers": ["x-remove-header"]},
                     "add": {"headers": ["x-test-header:$(headers['x-remove-header'])"]}})
    r = await gw.request("GET", "/request", [("x-remove-header", "its a test")])
    assert r.up_header("x-remove-header") is None and r.up_header("x-test-header") == "its a test"


async def test_20_replaced_header_old_value_in_template(gw: Gateway) -> None:
    await setup(gw, {"replace": {"headers": ["x-replace-header:the new value"]},
                     "add": {"headers": ["x-test-header:$(headers['x-replace-header'])"]}})
    r = await gw.request("GET", "/request", [("x-replace-header", "the old value")])
    assert r.up_header("x-test-header") == "the old value" and r.up_header("x-replace-header") == "the new value"


async def test_21_escaped_literal(gw: Gateway) -> None:
    await setup(gw, {"add": {"querystring": ["q1:$('$(uri_captures.user1)')"]}})
    assert (await gw.request("GET", "/request")).echo["args"] == {"q1": "$(uri_captures.user1)"}


async def test_22_render_error_is_500(gw: Gateway) -> None:
    await setup(gw, {"add": {"querystring": ["q1:$(ERROR())"]}})
    r = await gw.request("GET", "/request")
    assert r.status == 500 and r.json()["message"] == "An unexpected error occurred"
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None and any(d.plugin == RT and d.outcome == "error" for d in entry.decisions)


NINES = "9" * 5000
HEXES = "0x" + "f" * 5000


@pytest.mark.parametrize(("value", "expr", "want"), [
    (NINES, "headers['x-num'] + 1", "inf"),  # strtod overflows to HUGE_VAL
    (NINES, "-headers['x-num'] * 2", "-inf"),
    (HEXES, "headers['x-num'] * 2", "inf"),
    (HEXES, "headers['x-num'] + 0.5", "inf"),
    (HEXES, "headers['x-num'] % 3", "nan"),  # Lua 5.1: a - floor(a/b)*b = inf - inf
    ("0x" + "f" * 16, "headers['x-num'] * 1", "1.844674407371e+19"),  # a double, printed %.14g
    ("1e15", "headers['x-num'] + 0", "1e+15"),
    ("10", "headers['x-num'] ^ 400", "inf"),
])
async def test_template_arithmetic_follows_lua_numbers(gw: Gateway, value: str, expr: str, want: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Before: OverflowError / ValueError (Python's 4300-digit limit), a 500 and a traceback per
    request. Kong evaluates templates as LuaJIT numbers (doubles) and answers; tostring uses %.14g."""
    await setup(gw, {"add": {"headers": [f"x-out:$({expr})"], "body": [f"out:$({expr})"]}})
    r = await gw.request("GET", "/request", [("x-num", value)])
    assert r.status == 200, r
    assert r.up_header("x-out") == want
    r = await gw.request("POST", "/request", [("x-num", value), JSON], "{}")  # the body path too
    assert r.status == 200 and r.echo["json"] == {"out": want}, r
    assert not [rec for rec in caplog.records if rec.exc_info]


async def test_template_evaluation_failure_is_500_with_one_log_line(gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    """Any evaluation failure: Kong's 500 (handler.lua raises "[request-transformer] failed to
    render the template …"), logged once, never a traceback."""
    await setup(gw, {"add": {"headers": ["x-out:$(headers['x-num']:rep(headers['x-num']))"]}})
    caplog.clear()
    r = await gw.request("GET", "/request", [("x-num", NINES)])
    assert r.status == 500 and r.json()["message"] == "An unexpected error occurred"
    errors = [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0].getMessage().startswith("[request-transformer] failed to render the template $(headers")
    assert NINES not in errors[0].getMessage()
    assert not [rec for rec in caplog.records if rec.exc_info]


async def test_23_authorization_replaced(gw: Gateway) -> None:
    await setup(gw, {"http_method": "POST", "remove": {"headers": ["Authorization"]},
                     "add": {"headers": ["Authorization:Basic test"]}})
    for headers in ([("Authorization", "Basic dXNlcjpwYXNz")], []):
        r = await gw.request("GET", "/request", headers)
        assert r.echo["method"] == "POST" and r.up_header("authorization") == "Basic test"


async def test_json_body_add_and_content_length(gw: Gateway) -> None:
    await setup(gw, TEST1)
    r = await gw.request("POST", "/request", [JSON], '{"x":1}')
    assert json.loads(r.echo["data"]) == {"x": 1, "p1": "v1"}
    assert int(r.up_header("content-length")) == len(r.echo["data"].encode())


async def test_multipart_body(gw: Gateway) -> None:
    await setup(gw, {"remove": {"body": ["drop"]}, "add": {"body": ["added:yes"]}})
    body = ('--bb\r\nContent-Disposition: form-data; name="drop"\r\n\r\nx\r\n'
            '--bb\r\nContent-Disposition: form-data; name="keep"\r\n\r\nk\r\n--bb--\r\n')
    r = await gw.request("POST", "/request", [("Content-Type", "multipart/form-data; boundary=bb")], body)
    assert r.echo["form"] == {"keep": "k", "added": "yes"}
