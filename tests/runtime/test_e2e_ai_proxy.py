"""ai-proxy through real sockets: the gateway on 127.0.0.1 and a loopback OpenAI-compatible
server (fake_openai.py). Ported from Kong's spec/03-plugins/38-ai-proxy/02-openai_integration_spec.lua,
09-streaming_integration_spec.lua and 00-config_spec.lua (each test names its ``it``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway
from fake_openai import CHAT_ANSWER, GOOD_KEY, FakeOpenAI

from konnect_desktop import plugins

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD_CHAT = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                          {"role": "user", "content": "What is 1 + 1?"}], "stream": False}
GOOD_COMPLETION = {"prompt": "What are you?"}
JSON_HEADERS = [("Content-Type", "application/json"), ("Accept", "application/json")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm() -> AsyncIterator[FakeOpenAI]:
    s = await FakeOpenAI().start()
    yield s
    await s.stop()


def chat_conf(llm: FakeOpenAI, path: str = "/v1/chat/completions", **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "route_type": "llm/v1/chat",
        "auth": {"header_name": "Authorization", "header_value": f"Bearer {GOOD_KEY}"},
        "model": {"name": "gpt-3.5-turbo", "provider": "openai",
                  "options": {"max_tokens": 256, "temperature": 1.0, "upstream_url": llm.url(path)}},
    }
    for k, v in extra.items():
        conf[k] = v
    return conf


async def route_with(gw: Gateway, config: dict[str, Any]) -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/ai"])
    c.plugin("ai-proxy", config, route=r)
    await gw.load(c)


async def post(gw: Gateway, body: Any, headers: Any = None, target: str = "/ai") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await gw.request("POST", target, [*JSON_HEADERS, *(headers or [])], data)


async def test_good_request(gw: Gateway, llm: FakeOpenAI) -> None:
    """describe("openai llm/v1/chat") it("good request"): the answer in OpenAI format, the model
    header, and what the LLM received (model and options set, key injected, stream explicit)."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, GOOD_CHAT)
    assert r.status == 200, r
    doc = r.json()
    assert doc["id"] == "chatcmpl-8T6YwgvjQVVnGbJ2w8hpOA17SeNy2" and doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"] == {"content": "The sum of 1 + 1 is 2.", "role": "assistant"}
    assert r.header("X-Kong-LLM-Model") == "openai/gpt-3.5-turbo"
    got = llm.received[-1]
    assert got.headers["Authorization"] == f"Bearer {GOOD_KEY}"
    assert got.body["model"] == "gpt-3.5-turbo" and got.body["max_tokens"] == 256
    assert got.body["temperature"] == 1.0 and got.body["stream"] is False
    # the decision names the model and where it went; the key never shows
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert entry is not None
    (d,) = [d for d in entry.decisions if d.plugin == "ai-proxy"]
    assert d.outcome == "pass" and "openai/gpt-3.5-turbo" in d.summary and str(llm.port) in d.summary
    assert GOOD_KEY not in repr(entry.to_dict())


async def test_good_request_parses_model_of_null(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("good request, parses model of cjson.null")."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, {**GOOD_CHAT, "model": None})
    assert r.status == 200 and r.json()["id"] == CHAT_ANSWER["id"]


async def test_tries_to_override_configured_model(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("tries to override configured model")."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, {**GOOD_CHAT, "model": "try-to-override-the-model"})
    assert r.status == 400
    assert r.json() == {"error": {"message": "cannot use own model - must be: gpt-3.5-turbo"}}


async def test_bad_upstream_response(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("bad upstream response")."""
    await route_with(gw, chat_conf(llm, "/bad_upstream_response"))
    r = await post(gw, GOOD_CHAT)
    assert r.status == 500
    assert r.json()["error"]["message"] == ("transformation failed from type openai://llm/v1/chat: "
                                            "'choices' not in llm/v1/chat response")


async def test_bad_request(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("bad request"): no prompts."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, {"segassem": [{"role": "user", "content": "What is 1 + 1?"}]})
    assert r.status == 400 and r.json() == {"error": {"message": "request body doesn't contain valid prompts"}}
    r = await post(gw, b"{not json")
    assert r.status == 400
    assert r.json() == {"error": {"message": "content-type header does not match request body, or bad JSON formatting"}}


async def test_good_request_setting_model_from_client_body(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("good request setting model from client body"); and without any model, Kong's 400."""
    conf = chat_conf(llm)
    del conf["model"]["name"]
    await route_with(gw, conf)
    r = await post(gw, {**GOOD_CHAT, "model": "gpt-3.5-turbo-16k"})
    assert r.status == 200 and r.header("X-Kong-LLM-Model") == "openai/gpt-3.5-turbo-16k"
    assert llm.received[-1].body["model"] == "gpt-3.5-turbo-16k"
    r = await post(gw, GOOD_CHAT)
    assert r.status == 400
    assert r.json() == {"error": {"message": "model parameter not found in request, nor in gateway configuration"}}


async def test_internal_server_error_request(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("internal_server_error request"): the LLM's 500 is passed on."""
    await route_with(gw, chat_conf(llm, "/internal_server_error"))
    r = await post(gw, GOOD_CHAT)
    assert r.status == 500 and r.body


async def test_unauthorized_request(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("unauthorized request") (wrong key in the plugin) and
    it("unauthorized request with client header auth") (allow_override lets the client's wrong
    key through)."""
    conf = chat_conf(llm)
    conf["auth"] = {"header_name": "Authorization", "header_value": "Bearer wrong-key"}
    await route_with(gw, conf)
    r = await post(gw, GOOD_CHAT)
    assert r.status == 401 and r.json()["error"]["code"] == "invalid_api_key"
    conf = chat_conf(llm)
    conf["auth"]["allow_override"] = True
    await route_with(gw, conf)
    r = await post(gw, GOOD_CHAT, [("Authorization", "Bearer wrong")])
    assert r.status == 401 and r.json()["error"]["code"] == "invalid_api_key"


async def test_client_header_without_allow_override(gw: Gateway, llm: FakeOpenAI) -> None:
    """it("authorized request with wrong client header auth  with no allow_override"): the
    plugin's key replaces the client's."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, GOOD_CHAT, [("Authorization", "Bearer wrong")])
    assert r.status == 200
    assert llm.received[-1].headers["Authorization"] == f"Bearer {GOOD_KEY}"


async def test_completions_good_and_bad(gw: Gateway, llm: FakeOpenAI) -> None:
    """describe("openai llm/v1/completions") it("good request") and it("bad request")."""
    conf = chat_conf(llm, "/v1/completions", route_type="llm/v1/completions")
    conf["model"]["name"] = "gpt-3.5-turbo-instruct"
    await route_with(gw, conf)
    r = await post(gw, GOOD_COMPLETION)
    assert r.status == 200 and r.json()["object"] == "text_completion"
    r = await post(gw, GOOD_CHAT)
    assert r.status == 400
    assert r.json() == {"error": {"message": "[llm/v1/chat] message format is not compatible with [llm/v1/completions] route type"}}


@pytest.mark.parametrize(("location", "client"), [("query", None), ("body", None), ("query", "wrong")])
async def test_param_auth(gw: Gateway, llm: FakeOpenAI, location: str, client: str | None) -> None:
    """describe("openai different auth methods") it("works with query param auth"),
    it("works with post body auth") and it("works with query param auth with client wrong auth
    parm with no allow-override")."""
    conf = chat_conf(llm)
    conf["auth"] = {"param_name": "apikey", "param_value": GOOD_KEY, "param_location": location}
    await route_with(gw, conf)
    target = f"/ai?apikey={client}" if client else "/ai"
    r = await post(gw, GOOD_CHAT, target=target)
    assert r.status == 200, r
    got = llm.received[-1]
    assert (got.query.get("apikey") if location == "query" else got.body.get("apikey")) == GOOD_KEY


async def test_streaming(gw: Gateway, llm: FakeOpenAI) -> None:
    """09-streaming_integration_spec it("good stream request openai"): the server-sent events
    arrive in order (buffered: all at once when the LLM is done — a deliberate difference); with
    response_streaming "deny", Kong's 400."""
    await route_with(gw, chat_conf(llm))
    r = await post(gw, {**GOOD_CHAT, "stream": True})
    assert r.status == 200 and (r.header("Content-Type") or "").startswith("text/event-stream")
    events = [line[6:] for line in r.body.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1]) == "The sum is 2."
    await route_with(gw, chat_conf(llm, response_streaming="deny"))
    r = await post(gw, {**GOOD_CHAT, "stream": True})
    assert r.status == 400 and r.json() == {"error": {"message": "response streaming is not enabled for this LLM"}}


async def test_provider_not_speaking_openai_fails_closed(gw: Gateway, llm: FakeOpenAI) -> None:
    """A provider the local runtime cannot speak to is stored but answers 500 naming why."""
    conf = chat_conf(llm)
    conf["model"] = {"name": "claude", "provider": "anthropic", "options": {"anthropic_version": "2023-06-01"}}
    del conf["auth"]
    await route_with(gw, conf)
    n = len(llm.received)
    r = await post(gw, GOOD_CHAT)
    assert r.status == 500 and "provider 'anthropic'" in r.json()["message"]
    assert len(llm.received) == n


@pytest.mark.parametrize(("config", "errors"), [
    ({"route_type": "llm/v1/chat", "model": {"provider": "openai"}}, {}),
    ({"route_type": "llm/v1/chat", "model": {"provider": "llama2", "options": {"llama2_format": "openai"}}},
     {"@entity": ["must set 'model.options.upstream_url' for self-hosted providers/models"]}),
    ({"route_type": "llm/v1/chat", "model": {"provider": "mistral"}},
     {"@entity": ["must set 'model.options.mistral_format' for mistral provider"]}),
    ({"route_type": "llm/v1/chat", "model": {"provider": "openai"}, "auth": {"header_name": "Authorization"}},
     {"@entity": ["all or none of these fields must be set: 'auth.header_name', 'auth.header_value'"]}),
    ({"route_type": "llm/v1/chat", "model": {"provider": "openai", "options": {"temperature": 6}}},
     {"model": {"options": {"temperature": "value should be between 0 and 5"}}}),
    ({"route_type": "llm/v1/embeddings", "model": {"provider": "openai"}},
     {"route_type": "expected one of: llm/v1/chat, llm/v1/completions, preserve"}),
])
async def test_config(config: dict[str, Any], errors: dict[str, Any]) -> None:
    """00-config_spec.lua: Kong's checks on the llm schema."""
    _out, errs = plugins.check_plugin({"name": "ai-proxy", "config": config})
    assert errs == ({"config": errors} if errors else {})


async def test_logs_statistics(gw: Gateway, llm: FakeOpenAI, tmp_path: Any) -> None:
    """describe("openai general") it("logs statistics"): file-log's record has ai-proxy's
    ``ai.proxy`` section (model, tokens, cost)."""
    path = tmp_path / "ai.log"
    conf = chat_conf(llm, logging={"log_statistics": True, "log_payloads": False})
    conf["model"]["options"].update({"input_cost": 10.0, "output_cost": 10.0})
    c, svc = gw.cfg()
    r = c.route(svc, paths=["/ai"])
    c.plugin("ai-proxy", conf, route=r)
    c.plugin("file-log", {"path": str(path)}, route=r)
    await gw.load(c)
    assert (await post(gw, GOOD_CHAT)).status == 200
    for _ in range(200):
        if path.exists() and path.read_text():
            break
        await asyncio.sleep(0)
    entry = json.loads(path.read_text().splitlines()[0])
    assert entry["ai"]["proxy"]["usage"]["total_tokens"] == 37
