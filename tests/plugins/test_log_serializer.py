"""Kong's basic log serializer (plugins/log_serializer.py) on real contexts: the record's shape,
credential redaction, the consumer/credential part, and the proxy's ``served`` facts. Reference:
kong/pdk/log.lua ``serialize`` and spec/02-integration/.../pdk log serialize cases."""

from __future__ import annotations

import json

from plugin_helpers import make_ctx, make_response

from konnect_desktop.plugins.base import Decision, Served
from konnect_desktop.plugins.log_serializer import REDACTED, encode, serialize


def test_record_shape_and_redaction() -> None:
    ctx = make_ctx("POST", "/a/b?x=1&x=2&y", {"Authorization": "Bearer t", "Proxy-Authorization": "p",
                                               "Content-Length": "3", "X-A": "1"}, client_ip="127.0.0.9",
                   route={"id": "r1", "name": "rt"}, service={"id": "s1", "name": "svc"})
    ctx.started_at = 1700000000.25
    rec = serialize(ctx, make_response(201, {"Content-Type": "application/json", "Set-Cookie": "a"}, b"{}"),
                    now=lambda: 1700000000.5)
    req = rec["request"]
    assert req["headers"]["authorization"] == REDACTED and req["headers"]["proxy-authorization"] == REDACTED
    assert req["querystring"] == {"x": ["1", "2"], "y": True}
    assert req["uri"] == "/a/b?x=1&x=2&y" and req["url"] == "http://example.test:8000/a/b?x=1&x=2&y"
    assert rec["response"]["status"] == 201 and rec["response"]["headers"]["set-cookie"] == "a"
    assert rec["latencies"] == {"kong": 0, "proxy": -1, "request": 250, "receive": 0}
    assert rec["started_at"] == 1700000000250 and rec["client_ip"] == "127.0.0.9"
    assert rec["route"]["name"] == "rt" and rec["service"]["name"] == "svc"
    assert rec["upstream_uri"] == "/a/b?x=1&x=2&y" and rec["upstream_status"] == "201"
    assert rec["source"] == "service"
    assert "Bearer t" not in encode(rec).decode()
    json.loads(encode(rec))


def test_headers_and_query_after_plugins() -> None:
    """Kong logs the request headers in force at log time: a credential key-auth hid
    (hide_credentials) is not in the record; the client's Host is."""
    ctx = make_ctx("GET", "/p", {"apikey": "secret-key", "X-B": "1"}, host="client.test")
    del ctx.headers["apikey"]
    ctx.headers["Host"] = "upstream.internal"
    rec = serialize(ctx, make_response(200))
    assert "apikey" not in rec["request"]["headers"] and rec["request"]["headers"]["host"] == "client.test"


def test_consumer_and_authenticated_entity() -> None:
    ctx = make_ctx()
    consumer = {"id": "c1", "username": "alice"}
    ctx.authenticate(consumer, {"id": "k1", "key": "s3cret", "consumer": {"id": "c1"}})
    rec = serialize(ctx, make_response(200))
    assert rec["consumer"] == consumer
    assert rec["authenticated_entity"] == {"id": "k1", "consumer_id": "c1"}
    assert "s3cret" not in encode(rec).decode()


def test_served_facts_are_used() -> None:
    ctx = make_ctx()
    resp = make_response(502)
    resp.served = Served(proxy_latency=3.4, upstream_latency=12.6, request_size=99, response_size=321,
                         upstream_status=502, source="service", tries=[{"ip": "127.0.0.1", "port": 9}])
    rec = serialize(ctx, resp)
    assert rec["latencies"]["kong"] == 3 and rec["latencies"]["proxy"] == 13
    assert rec["request"]["size"] == 99 and rec["response"]["size"] == 321
    assert rec["upstream_status"] == "502" and rec["tries"] == [{"ip": "127.0.0.1", "port": 9}]


def test_source_exit_when_a_plugin_rejected() -> None:
    ctx = make_ctx()
    ctx.decisions.append(Decision("key-auth", "reject", "no key"))
    rec = serialize(ctx, make_response(401))
    assert rec["source"] == "exit" and rec["upstream_status"] == ""



def test_ai_section_and_prometheus_ai_metrics() -> None:
    """38-ai-proxy/02-openai_integration_spec it("logs statistics") (the record's ``ai.proxy``
    section, Kong's cost from input/output cost per 1M tokens) and prometheus' ai_metrics. The
    end-to-end form is test_e2e_ai_proxy.py::test_logs_statistics."""
    import json as _json

    from konnect_desktop.plugins.ai_proxy import analytics
    from konnect_desktop.plugins.prometheus import Metrics, NodeFacts, render

    answer = _json.dumps({"model": "gpt-3.5-turbo-0613", "choices": [],
                          "usage": {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37}}).encode()
    section = analytics("6e7c40f6-ce96-48e4-a366-d109c169e444",
                        {"provider": "openai", "options": {"input_cost": 10, "output_cost": 10}},
                        "gpt-3.5-turbo", answer, 24, {"messages": [{"role": "user", "content": "What is 1 + 1?"}]})
    assert section["meta"] == {"plugin_id": "6e7c40f6-ce96-48e4-a366-d109c169e444", "provider_name": "openai",
                               "request_model": "gpt-3.5-turbo", "response_model": "gpt-3.5-turbo-0613",
                               "llm_latency": 24}
    assert section["usage"] == {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37,
                                "time_per_token": 2.0, "cost": 0.00037}
    assert '"content":"What is 1 + 1?"' in section["payload"]["request"]
    ctx = make_ctx(route={"id": "r", "name": "ai"}, service={"id": "s", "name": "llm"})
    ctx.shared["ai"] = {"proxy": section}
    rec = serialize(ctx, make_response(200))
    assert rec["ai"]["proxy"]["usage"]["total_tokens"] == 37
    m = Metrics()
    m.users = 1
    m.record(rec, {"ai_metrics": True})
    text = render(m, NodeFacts(node_id="n", version="3.9.1"))
    labels = 'ai_provider="openai",ai_model="gpt-3.5-turbo",cache_status="",vector_db="",embeddings_provider="",embeddings_model=""'
    assert f'kong_ai_llm_requests_total{{{labels},workspace="default"}} 1' in text
    assert f'kong_ai_llm_tokens_total{{{labels},token_type="completion_tokens",workspace="default"}} 12' in text
    assert f'kong_ai_llm_cost_total{{{labels},workspace="default"}} 0.00037' in text
