"""Every bundled plugin's header_filter, body_filter and log phases cope with a request whose
access phase they never ran.

Kong collects every plugin of a request (kong/init.lua ``execute_collecting_plugins_iterator``):
when an earlier plugin answers (key-auth's 401, a cache hit), the plugins after it run no
access phase but still run their response and log phases for that answer. A phase that
assumed its own access had run would fail there (logged, and the answer missing its work)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import make_ctx, make_response, services

from konnect_desktop import plugins
from konnect_desktop.plugins.base import Handler, Served

# the smallest valid config of each plugin that needs one; loggers that send over the network
# get an address nothing listens on and are not asked to log (their log phase only queues)
MINIMAL: dict[str, dict[str, Any]] = {
    "oauth2": {"enable_client_credentials": True},
    "acl": {"allow": ["a"]},
    "rate-limiting": {"minute": 1},
    "ip-restriction": {"allow": ["127.0.0.1"]},
    "redirect": {"location": "https://example.test"},
    "proxy-cache": {"strategy": "memory"},
    "response-ratelimiting": {"limits": {"video": {"minute": 1}}},
    "standard-webhooks": {"secret_v1": "c2VjcmV0c2VjcmV0c2VjcmV0"},
    "http-log": {"http_endpoint": "http://127.0.0.1:9/"},
    "tcp-log": {"host": "127.0.0.1", "port": 9},
    "udp-log": {"host": "127.0.0.1", "port": 9},
    "ai-proxy": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}},
    "ai-prompt-guard": {"allow_patterns": ["a"]},
    "ai-prompt-decorator": {"prompts": {"prepend": [{"role": "system", "content": "x"}]}},
    "ai-prompt-template": {"templates": [{"name": "t", "template": "x"}]},
    "pre-function": {"access": ["return"]},
    "post-function": {"access": ["return"]},
    "azure-functions": {"appname": "a", "functionname": "f"},
    "acme": {"account_email": "a@example.test"},
    "opentelemetry": {"traces_endpoint": "http://127.0.0.1:9/"},
    "ldap-auth": {"ldap_host": "127.0.0.1", "base_dn": "dc=x", "attribute": "uid"},
    "loggly": {"key": "k"},
    "ai-request-transformer": {"prompt": "x", "llm": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}}},
    "ai-response-transformer": {"prompt": "x", "llm": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}}},
}
SENDS = {"http-log", "tcp-log", "udp-log", "syslog", "statsd", "opentelemetry", "loggly", "datadog", "zipkin"}


def handler(name: str, tmp: Path) -> Handler:
    spec = plugins.get(name)
    assert spec is not None and spec.handler is not None
    config = {"path": str(tmp / "f.log")} if name == "file-log" else MINIMAL.get(name, {})
    entity = plugins.validate_plugin({"name": name, "config": config})
    return spec.handler(entity["config"], entity, services())


@pytest.mark.parametrize("name", [n for n in plugins.BUNDLED if (s := plugins.get(n)) and s.runs_locally])
async def test_response_and_log_phases_without_access(name: str, tmp_path: Path) -> None:
    h = handler(name, tmp_path)
    ctx = make_ctx()
    resp = make_response(401, {"Content-Type": "application/json"}, b'{"message":"no"}' if h.buffers_response else None)
    h.header_filter(ctx, resp)
    resp.body = b'{"message":"no"}'
    h.body_filter(ctx, resp)
    if name not in SENDS:
        resp.served = Served(1.0, None, 60, 120, None, "exit", None)
        h.log(ctx, resp)
    await h.close()
