"""response-transformer: schema, header verbs (judged against the upstream's headers), JSON body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plugin_helpers import make_ctx, make_handler, make_response

from konnect_desktop import plugins
from konnect_desktop.model.errors import KongError

RT = "response-transformer"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def run(config: dict[str, Any], headers: Any, body: bytes | None = None) -> Any:
    h = make_handler(RT, config)
    ctx = make_ctx()
    resp = make_response(200, headers, body)
    h.header_filter(ctx, resp)
    if h.buffers_response:
        h.body_filter(ctx, resp)
    return resp


class TestSchema:
    def test_defaults(self) -> None:
        c = plugins.validate_plugin({"name": RT})["config"]
        assert c["remove"] == {"json": [], "headers": []}
        assert c["add"] == {"headers": [], "json": [], "json_types": []}

    def test_entries(self) -> None:
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": RT, "config": {"add": {"headers": ["nocolon"], "json_types": ["date"]}}})
        assert ei.value.fields == {"config": {"add": {"headers": ["invalid value: nocolon"],
                                                      "json_types": ["expected one of: boolean, number, string"]}}}
        with pytest.raises(KongError) as ei:
            plugins.validate_plugin({"name": RT, "config": {"rename": {"headers": ["a:b c"]}}})
        assert ei.value.fields == {"config": {"rename": {"headers": ["'b c' is not a valid header"]}}}


class TestHeaders:
    def test_verbs(self) -> None:
        resp = run({"remove": {"headers": ["x-remove"]}, "rename": {"headers": ["x-old:x-new"]},
                    "replace": {"headers": ["x-rep:new", "x-absent:nope"]},
                    "add": {"headers": ["x-add:1", "x-rep:ignored"]}, "append": {"headers": ["x-app:2"]}},
                   [("x-remove", "a"), ("x-old", "o"), ("x-rep", "old"), ("x-app", "1")])
        h = resp.headers
        assert "x-remove" not in h and "x-old" not in h and h["x-new"] == "o"
        assert h.getall("x-rep") == ["new"] and "x-absent" not in h
        assert h["x-add"] == "1" and h.getall("x-app") == ["1", "2"]

    def test_add_after_remove_judged_on_upstream_headers(self) -> None:
        resp = run({"remove": {"headers": ["x-a"]}, "add": {"headers": ["x-a:new"]}}, {"x-a": "old"})
        assert "x-a" not in resp.headers

    def test_content_length_dropped_only_for_json_transform(self) -> None:
        resp = run({"add": {"json": ["a:1"]}}, {**JSON, "Content-Length": "2"}, b"{}")
        assert "Content-Length" not in resp.headers
        resp = run({"add": {"headers": ["a:1"]}}, {**JSON, "Content-Length": "2"}, b"{}")
        assert resp.headers["Content-Length"] == "2"


class TestJson:
    def test_verbs_and_types(self) -> None:
        cfg = {"remove": {"json": ["secret"]}, "rename": {"json": ["old:new"]},
               "replace": {"json": ["r:2"], "json_types": ["number"]},
               "add": {"json": ["flag:true", "n:1.5", "s:x", "r:no"], "json_types": ["boolean", "number", "string"]},
               "append": {"json": ["list:b", "str:b", "fresh:c"]}}
        body = {"secret": 1, "old": "v", "r": "1", "list": ["a"], "str": "a"}
        resp = run(cfg, JSON, json.dumps(body).encode())
        assert resp.body_dirty
        assert json.loads(resp.body) == {"new": "v", "r": 2, "list": ["a", "b"], "str": ["a", "b"],
                                         "flag": True, "n": 1.5, "s": "x", "fresh": ["c"]}

    def test_not_json_untouched(self) -> None:
        resp = run({"add": {"json": ["a:1"]}}, {"Content-Type": "text/plain"}, b"{}")
        assert resp.body == b"{}" and not resp.body_dirty
        resp = run({"add": {"json": ["a:1"]}}, JSON, b"{not json")
        assert resp.body == b"{not json" and not resp.body_dirty

    def test_buffers_only_with_json_transform(self) -> None:
        assert not make_handler(RT, {"add": {"headers": ["a:1"]}}).buffers_response
        assert make_handler(RT, {"remove": {"json": ["a"]}}).buffers_response


@pytest.mark.parametrize(("title", "content_type", "json_body"), [
    # spec/03-plugins/15-response-transformer/01-header_transformer_spec.lua, is_json_body()
    ("is truthy when content-type application/json passed", "application/json", True),
    ("is truthy when content-type application/json passed", "application/json; charset=utf-8", True),
    ("is truthy when content-type application/json passed", "application/problem+json", True),
    ("is truthy when content-type application/json passed", "application/problem+json; charset=utf-8", True),
    ("is truthy when content-type is multiple values along with application/json passed",
     "application/x-www-form-urlencoded, application/json", True),
    ("is falsy when content-type not application/json", "application/x-www-form-urlencoded", False),
])
def test_is_json_body(title: str, content_type: str, json_body: bool) -> None:
    from konnect_desktop.plugins.response_transformer import is_json

    assert is_json(content_type) is json_body
