"""For each of Kong 3.9's bundled plugins: a config holding only what its schema requires (fields
that are required without a default, and what an entity check insists on), and the scopes Kong
accepts for it.

``MINIMAL[name]`` is what a user must type; everything else comes from Kong's defaults. A plugin
missing here validates with an empty config. ``KONG_SCOPES`` is Kong's plugin reference
("Supported scopes by plugin"; the 3.9 plugin JSON schemas of Kong/developer.konghq.com list which
of consumer, consumer_group, route and service each plugin has) and ``KONG_ANY_PROTOCOL`` the
plugins whose ``protocols`` is ``typedefs.protocols`` (stream protocols accepted) rather than
``typedefs.protocols_http`` (kong/plugins/<name>/schema.lua).
"""

from __future__ import annotations

from typing import Any

from konnect_desktop.model.schema import UNSET, Field, validate_value

MINIMAL: dict[str, dict[str, Any]] = {
    "acl": {"allow": ["gold"]},
    "rate-limiting": {"minute": 10},
    "ip-restriction": {"allow": ["127.0.0.1"]},
    "pre-function": {"access": ["kong.log.err('hi')"]},
    "post-function": {"log": ["kong.log.err('bye')"]},
    "azure-functions": {"appname": "app", "functionname": "fn"},
    "acme": {"account_email": "ops@example.test"},
    "opentelemetry": {"traces_endpoint": "http://127.0.0.1:4318/v1/traces"},
    "ldap-auth": {"ldap_host": "ldap.example.test", "base_dn": "dc=example,dc=test", "attribute": "cn"},
    "loggly": {"key": "a-loggly-token"},
    "ai-request-transformer": {"prompt": "Rewrite as JSON.",
                               "llm": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}}},
    "ai-response-transformer": {"prompt": "Rewrite as JSON.",
                                "llm": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}}},
    # the plugins that run locally, written alongside
    "oauth2": {"enable_client_credentials": True},
    "response-ratelimiting": {"limits": {"video": {"minute": 10}}},
    "proxy-cache": {"strategy": "memory"},
    "redirect": {"location": "https://example.test/new"},
    "standard-webhooks": {"secret_v1": "whsec_dGVzdA=="},
    "http-log": {"http_endpoint": "http://127.0.0.1:9/log"},
    "file-log": {"path": "/tmp/konnect-desktop-file-log-example.log"},
    "tcp-log": {"host": "127.0.0.1", "port": 9},
    "udp-log": {"host": "127.0.0.1", "port": 9},
    "ai-prompt-decorator": {"prompts": {"prepend": [{"role": "system", "content": "Be brief."}]}},
    "ai-prompt-template": {"templates": [{"name": "greet", "template": "Say hello to {{name}}."}]},
    "ai-prompt-guard": {"allow_patterns": [".*"]},
    "ai-proxy": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}},
}

C, G, R, S = "consumer", "consumer_group", "route", "service"
KONG_SCOPES: dict[str, set[str]] = {
    "jwt": {R, S}, "acl": {R, S}, "correlation-id": {C, R, S}, "cors": {R, S}, "oauth2": {R, S},
    "tcp-log": {C, R, S}, "udp-log": {C, R, S}, "file-log": {C, R, S}, "http-log": {C, R, S},
    "key-auth": {R, S}, "hmac-auth": {R, S}, "basic-auth": {R, S}, "ip-restriction": {C, G, R, S},
    "request-transformer": {C, G, R, S}, "response-transformer": {C, G, R, S},
    "request-size-limiting": {C, R, S}, "rate-limiting": {C, G, R, S}, "response-ratelimiting": {C, R, S},
    "syslog": {C, R, S}, "loggly": {C, R, S}, "datadog": {C, R, S}, "ldap-auth": {R, S}, "statsd": {C, R, S},
    "bot-detection": {R, S}, "aws-lambda": {C, R, S}, "request-termination": {C, G, R, S},
    "prometheus": {C, R, S}, "proxy-cache": {C, G, R, S}, "session": {R, S}, "acme": set(),
    "grpc-gateway": {C, R, S}, "grpc-web": {C, R, S}, "pre-function": {R, S}, "post-function": {R, S},
    "azure-functions": {C, R, S}, "zipkin": {C, R, S}, "opentelemetry": {C, R, S},
    "ai-proxy": {C, G, R, S}, "ai-prompt-decorator": {C, G, R, S}, "ai-prompt-template": {C, G, R, S},
    "ai-prompt-guard": {C, G, R, S}, "ai-request-transformer": {G, R, S},
    "ai-response-transformer": {C, G, R, S}, "standard-webhooks": {G, R, S}, "redirect": {C, G, R, S},
}

KONG_ANY_PROTOCOL = {
    "azure-functions", "datadog", "file-log", "grpc-gateway", "grpc-web", "http-log", "ip-restriction",
    "loggly", "post-function", "pre-function", "prometheus", "proxy-cache", "request-transformer",
    "session", "statsd", "syslog", "tcp-log", "udp-log", "zipkin",
}


def minimal(name: str) -> dict[str, Any]:
    return dict(MINIMAL.get(name, {}))


def assert_defaults(fields: list[tuple[str, Field]], given: dict[str, Any], got: dict[str, Any], path: str) -> None:
    """Every field the user did not give holds Kong's default (records: their fields' defaults;
    ``auto`` fields: a generated value)."""
    for fname, f in fields:
        where = f"{path}.{fname}"
        assert fname in got, f"{where} missing from the stored config"
        if fname in given and f.type != "record":
            continue
        value = got[fname]
        if f.type == "record" and f.fields is not None and isinstance(value, dict):
            base = f.default if isinstance(f.default, dict) else {}
            sub_given = given.get(fname) if isinstance(given.get(fname), dict) else base
            assert_defaults(f.fields, sub_given, value, where)
        elif f.default is not UNSET:
            # the default as a write stores it (a set deduplicated, records in arrays filled)
            want, err = validate_value(f, f.default) if f.default is not None else (None, None)
            assert err is None, (where, err)
            assert value == want, f"{where}: {value!r} != default {want!r}"
        elif f.auto:
            # Kong's auto = true (oauth2's provision_key): generated on insert, valid for the field
            want, err = validate_value(f, value)
            assert value is not None and err is None and want == value, f"{where}: {value!r} not generated ({err})"
        elif fname not in given:
            assert value is None or f.type == "record", f"{where}: {value!r} without a default"
