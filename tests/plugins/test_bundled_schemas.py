"""Every bundled plugin's schema, checked as data (no sockets): the scopes and protocols Kong
accepts, Kong's defaults filled from only the required fields, the schema JSON rebuilt by a
remote-schema reader validating alike, and the not-run plugins marked so.

Parametrized over ``plugins.BUNDLED``, so a plugin added to the registry is covered by adding
(at most) its required fields to ``tests/plugin_examples.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from plugin_examples import KONG_ANY_PROTOCOL, KONG_SCOPES, assert_defaults, minimal

from konnect_desktop import plugins
from konnect_desktop.model.schema import schema_from_kong
from konnect_desktop.plugins.base import HTTP_SUBSYSTEM_PROTOCOLS, SCOPE_FIELDS
from konnect_desktop.plugins.not_run import Refuses, Skips

NAMES = plugins.BUNDLED
IDS = {"route": "11111111-1111-4111-8111-111111111111", "service": "22222222-2222-4222-8222-222222222222",
       "consumer": "33333333-3333-4333-8333-333333333333", "consumer_group": "44444444-4444-4444-8444-444444444444"}
# Kong 3.9's bundled list (kong/constants.lua BUNDLED_PLUGINS)
KONG_BUNDLED = set(KONG_SCOPES)


def spec_of(name: str) -> plugins.PluginSpec:
    spec = plugins.get(name)
    assert spec is not None, f"{name} is listed in BUNDLED but its module is missing"
    return spec


@pytest.mark.parametrize("name", NAMES)
def test_scopes_are_kongs(name: str) -> None:
    """Kong's plugin reference, "Supported scopes by plugin" (3.9 schemas)."""
    spec = spec_of(name)
    assert set(spec.scopes) == KONG_SCOPES[name]
    assert spec.any_protocol == (name in KONG_ANY_PROTOCOL)


@pytest.mark.parametrize("name", NAMES)
def test_refused_scopes_get_kongs_words(name: str) -> None:
    spec = spec_of(name)
    for scope in SCOPE_FIELDS:
        data = {"name": name, "config": minimal(name), scope: {"id": IDS[scope]}}
        _, errors = plugins.check_plugin(data)
        if scope in spec.scopes:
            assert scope not in errors, errors
        else:
            assert errors.get(scope) == "value must be null", (scope, errors)


@pytest.mark.parametrize("name", NAMES)
def test_protocols(name: str) -> None:
    spec = spec_of(name)
    out, errors = plugins.check_plugin({"name": name, "config": minimal(name)})
    assert not errors and out["protocols"] == list(spec.protocols)
    _, errors = plugins.check_plugin({"name": name, "config": minimal(name), "protocols": ["tcp"]})
    if spec.any_protocol:
        assert "protocols" not in errors
    else:
        assert errors["protocols"] == ["expected one of: " + ", ".join(HTTP_SUBSYSTEM_PROTOCOLS)]


@pytest.mark.parametrize("name", NAMES)
def test_required_only_gets_kongs_defaults(name: str) -> None:
    spec = spec_of(name)
    given = minimal(name)
    out, errors = plugins.check_plugin({"name": name, "config": given})
    assert errors == {}, errors
    assert out["enabled"] is True and all(out[s] is None for s in SCOPE_FIELDS)
    assert spec.config.fields is not None
    assert_defaults(spec.config.fields, given, out["config"], "config")
    # what a write returns validates again to itself (no drift between two saves)
    again, errors = plugins.check_plugin(out)
    assert errors == {} and again == out


@pytest.mark.parametrize("name", NAMES)
def test_schema_json_rebuilds_the_same_validation(name: str) -> None:
    """The JSON of /schemas/plugins/{name}, read back as a remote gateway's schema is (the GUI's
    path for plugins it does not bundle), fills the same defaults."""
    entity = plugins.entity_schema(name)
    rebuilt = schema_from_kong(name, entity.to_kong())
    given = {"name": name, "config": minimal(name)}
    local, _ = entity.check(given)
    remote, _ = rebuilt.check(given)
    # an auto field (oauth2's provision_key) is generated on each side: both generate one, the
    # rebuilt field is auto too, and the rest of the config is equal
    config = spec_of(name).config.fields or []
    rebuilt_config = dict(rebuilt.field("config").fields or [])
    for fname, f in config:
        if f.auto and fname not in given["config"]:
            assert rebuilt_config[fname].auto, fname
            assert isinstance(local["config"].pop(fname), str) and isinstance(remote["config"].pop(fname), str), fname
    assert remote["config"] == local["config"]
    assert remote["protocols"] == local["protocols"]
    for scope in SCOPE_FIELDS:
        assert (rebuilt.field(scope).eq is None) == (scope not in spec_of(name).scopes)


def test_every_bundled_plugin_is_kongs_and_not_run_ones_are_marked() -> None:
    assert set(NAMES) <= KONG_BUNDLED
    for name in NAMES:
        spec = spec_of(name)
        if spec.runs_locally:
            assert spec.handler is not None and not issubclass(spec.handler, (Refuses, Skips)), name
        else:
            assert spec.handler is not None and issubclass(spec.handler, (Refuses, Skips)), name
            assert spec.not_run


@pytest.mark.parametrize(("name", "config", "errors"), [
    # Kong's words for the checks these schemas carry (kong/plugins/<name>/schema.lua)
    ("ldap-auth", {"ldap_host": "h", "base_dn": "b", "attribute": "cn", "ldaps": True, "start_tls": True},
     {"config": {"@entity": ["'ldaps' and 'start_tls' cannot be enabled simultaneously"],
                 "start_tls": "value must be false"}}),
    ("acme", {"account_email": "ops@example.test", "api_uri": "https://acme-v02.api.letsencrypt.org"},
     {"@entity": ["terms of service must be accepted, see https://letsencrypt.org/repository/"],
      "config": {"tos_accepted": "value must be true"}}),
    ("acme", {"account_email": "no-at-sign"}, {"config": {"account_email": "invalid value: no-at-sign"}}),
    ("acme", {"account_email": "a@b.test", "storage": "redis"},
     {"@entity": ["failed conditional validation given value of field 'config.storage'"],
      "config": {"storage_config": {"redis": {"host": "required field missing"}}}}),
    ("aws-lambda", {"aws_key": "k"}, {"@entity": ["all or none of these fields must be set: 'config.aws_key', 'config.aws_secret'"]}),
    ("aws-lambda", {"proxy_url": "https://proxy.test:3128"}, {"@entity": ["proxy_url scheme must be http"]}),
    ("aws-lambda", {"unhandled_status": 42}, {"config": {"unhandled_status": "value should be between 100 and 999"}}),
    ("zipkin", {"static_tags": [{"name": "lc", "value": "x"}]},
     {"config": {"static_tags": [{"name": "must not be one of: error, http.method, http.path, http.status_code, "
                                          "kong.balancer.state, kong.balancer.try, kong.consumer, kong.credential, "
                                          "kong.node.id, kong.route, kong.service, lc, peer.hostname"}]}}),
    ("zipkin", {"static_tags": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]},
     {"config": {"static_tags": "repeated tags are not allowed: a"}}),
    ("zipkin", {"sample_ratio": 2}, {"config": {"sample_ratio": "value should be between 0 and 1"}}),
    ("opentelemetry", {}, {"config": {"@entity": ["at least one of these fields must be non-empty: 'traces_endpoint', 'logs_endpoint'"]}}),
    ("opentelemetry", {"traces_endpoint": "no-scheme"}, {"config": {"traces_endpoint": "missing host in url"}}),
    ("datadog", {"metrics": [{"name": "request_count", "stat_type": "counter"}]},
     {"config": {"metrics": [{"@entity": ["failed conditional validation given value of field 'stat_type'"],
                              "sample_rate": "required field missing"}]}}),
    ("datadog", {"metrics": [{"name": "latency", "stat_type": "timer", "tags": ["env:"]}]},
     {"config": {"metrics": [{"tags": ["invalid value: env:"]}]}}),
    ("pre-function", {}, {"@entity": ["at least one of these fields must be non-empty: 'config.certificate', "
                                      "'config.rewrite', 'config.access', 'config.header_filter', "
                                      "'config.body_filter', 'config.log'"]}),
    ("ai-request-transformer", {"prompt": "p", "llm": {"route_type": "llm/v1/completions", "model": {"provider": "openai"}}},
     {"@entity": ["'config.llm.route_type' must be 'llm/v1/chat' for AI transformer plugins"],
      "config": {"llm": {"route_type": "value must be llm/v1/chat"}}}),
    ("ai-response-transformer", {"prompt": "p", "llm": {"route_type": "llm/v1/chat", "model": {"provider": "llama2"}}},
     {"config": {"llm": {"@entity": ["must set 'model.options.llama2_format' for llama2 provider",
                                     "must set 'model.options.upstream_url' for self-hosted providers/models"]}}}),
    ("ai-response-transformer", {"prompt": "p", "http_proxy_host": "proxy.test",
                                 "llm": {"route_type": "llm/v1/chat", "model": {"provider": "openai"}}},
     {"@entity": ["all or none of these fields must be set: 'config.http_proxy_host', 'config.http_proxy_port'"]}),
])
def test_kong_error_words(name: str, config: dict[str, Any], errors: dict[str, Any]) -> None:
    _, got = plugins.check_plugin({"name": name, "config": config})
    assert got == errors


@pytest.mark.parametrize(("name", "config", "moved"), [
    ("opentelemetry", {"endpoint": "http://127.0.0.1:4318/v1/traces"},
     {"traces_endpoint": "http://127.0.0.1:4318/v1/traces"}),
    ("acme", {"account_email": "a@b.test", "storage_config": {"redis": {"auth": "pw", "ssl_server_name": "r.test",
                                                                        "namespace": "ns", "scan_count": 5}}},
     {"storage_config.redis.password": "pw", "storage_config.redis.server_name": "r.test",
      "storage_config.redis.extra_options.namespace": "ns", "storage_config.redis.extra_options.scan_count": 5}),
])
def test_deprecated_shorthand_fields_move(name: str, config: dict[str, Any], moved: dict[str, Any]) -> None:
    out = plugins.validate_plugin({"name": name, "config": config})
    for path, value in moved.items():
        cur: Any = out["config"]
        for part in path.split("."):
            cur = cur[part]
        assert cur == value, path
    assert "endpoint" not in out["config"]


def test_shorthand_replaces_the_stored_value() -> None:
    """A PATCH of a deprecated field is validated merged with the stored entity here, so the
    shorthand replaces the new-style value (Kong rewrites the patch before merging: same result).
    Deliberate difference: both given in one request with different values, Kong >= 3.8 refuses
    the pair when the shorthand names its replacement; here the shorthand wins."""
    out = plugins.validate_plugin({"name": "opentelemetry", "config": {
        "endpoint": "http://new.test/v1/traces", "traces_endpoint": "http://old.test/v1/traces"}})
    assert out["config"]["traces_endpoint"] == "http://new.test/v1/traces"
