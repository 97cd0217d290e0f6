"""ai-prompt-guard, ai-prompt-decorator and ai-prompt-template through real sockets, against the
echo upstream (as Kong's specs use mock_upstream) and, for the chain, the loopback
OpenAI-compatible server. Ported from Kong's spec/03-plugins/42-ai-prompt-guard,
41-ai-prompt-decorator and 43-ai-prompt-template (each test names its ``it``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from fake_openai import GOOD_KEY, FakeOpenAI

from konnect_desktop import plugins
from konnect_desktop.plugins.ai_prompt_template import render

pytestmark = pytest.mark.asyncio(loop_scope="module")
JSON = [("Content-Type", "application/json")]

CHEESE = {"allow_patterns": [".*cheddar.*", ".*brie.*"], "deny_patterns": [".*leicester.*", ".*edam.*"]}


def conversation(*user: str) -> dict[str, Any]:
    msgs: list[dict[str, str]] = [{"role": "system", "content": "You run a cheese shop."}]
    for i, text in enumerate(user):
        if i:
            msgs.append({"role": "assistant", "content": "No, brie is the best cheese."})
        msgs.append({"role": "user", "content": text})
    return {"messages": msgs}


async def route_with(gw: Gateway, name: str, config: dict[str, Any], extra: Any = None) -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/ai"])
    c.plugin(name, config, route=r)
    if extra:
        extra(c, r)
    await gw.load(c)


async def post(gw: Gateway, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await gw.request("POST", "/ai", JSON, data)


# -- ai-prompt-guard ----------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "body", "status"), [
    # it("allows message with 'allow' and 'deny' set, with history")
    ({**CHEESE, "allow_all_conversation_history": True}, conversation("I think that cheddar is the best cheese.", "Why brie?"), 200),
    # it("allows message with 'allow' and 'deny' set, without history")
    ({**CHEESE, "allow_all_conversation_history": False}, conversation("I think that cheddar is the best cheese.", "Why brie?"), 200),
    # it("blocks message with 'allow' and 'deny' set, with history")
    ({**CHEESE, "allow_all_conversation_history": False}, conversation("I think that leicester is the best cheese.", "Why brie?"), 400),
    # it("allows message with 'allow' only set, without history")
    ({"allow_patterns": CHEESE["allow_patterns"], "allow_all_conversation_history": True}, conversation("Wensleydale?", "Why brie?"), 200),
    # it("allows message with 'deny' only set, permit history")
    ({"deny_patterns": CHEESE["deny_patterns"], "allow_all_conversation_history": True}, conversation("edam please", "Why brie?"), 200),
    # it("blocks message with 'deny' only set, permit history")
    ({"deny_patterns": CHEESE["deny_patterns"], "allow_all_conversation_history": True}, conversation("Why brie?", "edam please"), 400),
    # it("blocks message with 'deny' only set, scan history")
    ({"deny_patterns": CHEESE["deny_patterns"], "allow_all_conversation_history": False}, conversation("edam please", "Why brie?"), 400),
    # 01-unit_spec: completions prompts are checked too
    ({"deny_patterns": CHEESE["deny_patterns"]}, {"prompt": "tell me about edam"}, 400),
])
async def test_prompt_guard(gw: Gateway, config: dict[str, Any], body: dict[str, Any], status: int) -> None:
    await route_with(gw, "ai-prompt-guard", config)
    r = await post(gw, body)
    assert r.status == status, r
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert entry is not None
    (d,) = [d for d in entry.decisions if d.plugin == "ai-prompt-guard"]
    if status == 400:
        assert r.json() == {"error": {"message": "bad request"}}  # the client is not told why
        assert d.outcome == "reject" and ("blocked" in d.summary or "allowed pattern" in d.summary)
    else:
        assert d.summary == "prompt guard: allowed"
        assert r.echo["json"] == body  # passed to the upstream unchanged


@pytest.mark.parametrize("where", ["allow", "deny"])
async def test_prompt_guard_bad_regex(gw: Gateway, where: str) -> None:
    """it("returns a 500 on a bad regex in allow list") / it("... in deny list")."""
    await route_with(gw, "ai-prompt-guard", {f"{where}_patterns": ["[]"]})
    assert (await post(gw, conversation("hello"))).status == 500


async def test_prompt_guard_match_all_roles(gw: Gateway) -> None:
    """01-unit_spec: with match_all_roles the system and assistant messages are checked too."""
    await route_with(gw, "ai-prompt-guard", {"deny_patterns": [".*cheese shop.*"], "match_all_roles": True})
    assert (await post(gw, conversation("hello"))).status == 400
    await route_with(gw, "ai-prompt-guard", {"deny_patterns": [".*cheese shop.*"]})
    assert (await post(gw, conversation("hello"))).status == 200


@pytest.mark.parametrize(("config", "errors"), [
    # it("won't allow both allow_patterns and deny_patterns to be unset")
    ({}, {"@entity": ["at least one of these fields must be non-empty: 'config.allow_patterns', 'config.deny_patterns'"]}),
    # it("won't allow both allow_patterns and deny_patterns to be empty arrays")
    ({"allow_patterns": [], "deny_patterns": []},
     {"@entity": ["at least one of these fields must be non-empty: 'config.allow_patterns', 'config.deny_patterns'"]}),
    # it("won't allow patterns that are too long")
    ({"allow_patterns": ["x" * 501]}, {"config": {"allow_patterns": ["length must be at most 500"]}}),
    # it("won't allow too many array items")
    ({"allow_patterns": ["a"] * 11}, {"config": {"allow_patterns": "length must be at most 10"}}),
    # it("allow_all_conversation_history needs to be false if match_all_roles is set to true")
    ({"allow_patterns": ["a"], "match_all_roles": True, "allow_all_conversation_history": True},
     {"@entity": ["failed conditional validation given value of field 'config.match_all_roles'"],
      "config": {"allow_all_conversation_history": "value must be false"}}),
])
async def test_prompt_guard_config(config: dict[str, Any], errors: dict[str, Any]) -> None:
    """42-ai-prompt-guard/00-config_spec.lua."""
    assert plugins.check_plugin({"name": "ai-prompt-guard", "config": config})[1] == errors


# -- ai-prompt-decorator ------------------------------------------------------------------------
@pytest.mark.parametrize(("prompts", "expect"), [
    # it("modifies the LLM chat request - prepend")
    ({"prepend": [{"role": "system", "content": "Prepend text 1 here."},
                  {"role": "system", "content": "Prepend text 2 here."}]}, ["p1", "p2", "orig"]),
    # it("modifies the LLM chat request - append")
    ({"append": [{"role": "assistant", "content": "Append text 1 here."},
                 {"role": "user", "content": "Append text 2 here."}]}, ["orig", "a1", "a2"]),
    # it("modifies the LLM chat request - both")
    ({"prepend": [{"role": "system", "content": "Prepend text 1 here."}],
      "append": [{"role": "user", "content": "Append text 1 here."}]}, ["p1", "orig", "a1"]),
])
async def test_prompt_decorator(gw: Gateway, prompts: dict[str, Any], expect: list[str]) -> None:
    await route_with(gw, "ai-prompt-decorator", {"prompts": prompts})
    original = {"role": "user", "content": "What is 1 + 1?"}
    r = await post(gw, {"messages": [original]})
    assert r.status == 200
    sent = r.echo["json"]["messages"]
    wanted = {"orig": original}
    for i, m in enumerate(prompts.get("prepend", []), 1):
        wanted[f"p{i}"] = m
    for i, m in enumerate(prompts.get("append", []), 1):
        wanted[f"a{i}"] = m
    assert sent == [wanted[k] for k in expect]


async def test_prompt_decorator_refuses_non_chat(gw: Gateway) -> None:
    await route_with(gw, "ai-prompt-decorator", {"prompts": {"prepend": [{"content": "be brief"}]}})
    r = await post(gw, {"prompt": "hi"})
    assert r.status == 400 and r.json() == {"error": {"message": "this LLM route only supports llm/chat type requests"}}
    r = await post(gw, b"not json")
    assert r.status == 400 and r.json() == {"error": {"message": "this LLM route only supports application/json requests"}}


@pytest.mark.parametrize(("config", "ok"), [
    ({}, False),  # it("won't allow empty config object")
    ({"prompts": {}}, False),  # it("won't allow both head and tail to be unset")
    ({"prompts": {"prepend": [], "append": []}}, False),  # it("won't allow both ... to be empty arrays")
    ({"prompts": {"prepend": [{"role": "system", "content": "x"}]}}, True),  # it("allows prepend only")
    ({"prompts": {"append": [{"role": "system", "content": "x"}]}}, True),  # it("allows append only")
])
async def test_prompt_decorator_config(config: dict[str, Any], ok: bool) -> None:
    """41-ai-prompt-decorator/00-config_spec.lua."""
    errs = plugins.check_plugin({"name": "ai-prompt-decorator", "config": config})[1]
    assert (errs == {}) == ok, errs


# -- ai-prompt-template -------------------------------------------------------------------------
TEMPLATES = [
    {"name": "developer-chat", "template": json.dumps({"messages": [
        {"role": "system", "content": "You are a {{program}} expert, in {{language}} programming language."},
        {"role": "user", "content": "Write me a {{program}} program."}]})},
    {"name": "developer-completions",
     "template": json.dumps({"prompt": "You are a {{language}} programming expert. Make me a {{program}} program."})},
]
PROPS = {"language": "python", "program": "flask web server"}


async def test_templates_a_chat_message(gw: Gateway) -> None:
    """it("templates a chat message")."""
    await route_with(gw, "ai-prompt-template", {"templates": TEMPLATES})
    r = await post(gw, {"messages": "{template://developer-chat}", "properties": PROPS})
    assert r.status == 200
    assert json.loads(r.echo["data"]) == {"messages": [
        {"role": "system", "content": "You are a flask web server expert, in python programming language."},
        {"role": "user", "content": "Write me a flask web server program."}]}


async def test_templates_a_completions_message(gw: Gateway) -> None:
    """it("templates a completions message")."""
    await route_with(gw, "ai-prompt-template", {"templates": TEMPLATES})
    r = await post(gw, {"prompt": "{template://developer-completions}", "properties": PROPS})
    assert r.status == 200
    assert json.loads(r.echo["data"]) == {"prompt": "You are a python programming expert. Make me a flask web server program."}


@pytest.mark.parametrize(("allow", "body", "status", "message"), [
    # it("blocks when 'allow_untemplated_requests' is OFF")
    (False, {"messages": [{"role": "user", "content": "hi"}]}, 400, "this LLM route only supports templated requests"),
    # it("doesn't block when 'allow_untemplated_requests' is ON")
    (True, {"messages": [{"role": "user", "content": "hi"}]}, 200, None),
    # it("errors with a not found template")
    (False, {"messages": "{template://developer-doesnt-exist}"}, 400, "could not find template name [developer-doesnt-exist]"),
    # it("still errors with a not found template when 'allow_untemplated_requests' is ON")
    (True, {"messages": "{template://not_found}"}, 400, "could not find template name [not_found]"),
    # it("errors with missing template parameter")
    (True, {"messages": "{template://developer-chat}", "properties": {"language": "python"}}, 400,
     "missing template parameters: [program]"),
    # it("errors with multiple missing template parameters")
    (True, {"messages": "{template://developer-chat}", "properties": {"nothing": "no"}}, 400,
     "missing template parameters: [program], [language]"),
    # it("fails with non llm/v1/chat or llm/v1/completions request")
    (True, {"programmer": "python"}, 400, "only 'llm/v1/chat' and 'llm/v1/completions' formats are supported for templating"),
    # it("fails with multiple types of prompt")
    (True, {"messages": "{template://developer-chat}", "prompt": "{template://developer-prompt}"}, 400,
     "cannot run 'messages' and 'prompt' templates at the same time"),
])
async def test_template_answers(gw: Gateway, allow: bool, body: dict[str, Any], status: int, message: str | None) -> None:
    await route_with(gw, "ai-prompt-template", {"templates": TEMPLATES, "allow_untemplated_requests": allow})
    r = await post(gw, body)
    assert r.status == status, r
    if message:
        assert r.json() == {"error": {"message": message}}


async def test_fails_with_non_json_request(gw: Gateway) -> None:
    """it("fails with non-json request")."""
    await route_with(gw, "ai-prompt-template", {"templates": TEMPLATES})
    r = await post(gw, b"this isn't json")
    assert r.status == 400 and r.json() == {"error": {"message": "this LLM route only supports application/json requests"}}


async def test_prohibits_json_injection() -> None:
    """01-unit_spec it("prohibits json injection"): property values are JSON-escaped."""
    text, err = render('{"prompt": "Say {{word}}"}', {"word": 'x", "model": "evil'})
    assert err is None and json.loads(text or "") == {"prompt": 'Say x", "model": "evil'}
    assert render('{"prompt": "{{a}}"}', {"a": 1}) == (None, "property values must be a string, got number")


async def test_template_decorator_guard_and_proxy_chain(gw: Gateway) -> None:
    """The four plugins on one route, in Kong's order (template 773 → decorator 772 → guard 771
    → proxy 770): the LLM receives the rendered, decorated, guarded request."""
    llm = await FakeOpenAI().start()
    try:
        def more(c: Any, r: dict[str, Any]) -> None:
            c.plugin("ai-prompt-decorator", {"prompts": {"prepend": [{"content": "Be brief."}]}}, route=r)
            c.plugin("ai-prompt-guard", {"deny_patterns": [".*ruby.*"]}, route=r)
            c.plugin("ai-proxy", {"route_type": "llm/v1/chat",
                                  "auth": {"header_name": "Authorization", "header_value": f"Bearer {GOOD_KEY}"},
                                  "model": {"provider": "openai", "name": "gpt-4",
                                            "options": {"upstream_url": llm.url()}}}, route=r)

        await route_with(gw, "ai-prompt-template", {"templates": TEMPLATES}, extra=more)
        r = await post(gw, {"messages": "{template://developer-chat}", "properties": PROPS})
        assert r.status == 200, r
        sent = llm.received[-1].body["messages"]
        assert sent[0] == {"role": "system", "content": "Be brief."}
        assert sent[2]["content"] == "Write me a flask web server program."
        entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
        assert entry is not None
        assert [d.plugin for d in entry.decisions] == ["ai-prompt-template", "ai-prompt-decorator",
                                                       "ai-prompt-guard", "ai-proxy"]
        r = await post(gw, {"messages": "{template://developer-chat}", "properties": {**PROPS, "program": "ruby script"}})
        assert r.status == 400 and r.json() == {"error": {"message": "bad request"}}
    finally:
        await llm.stop()
