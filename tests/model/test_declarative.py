"""decK files ↔ Config: nesting, references, ids, select tags, migration, located errors, and the
round trips users rely on (load → dump → load is the identity; dump → load → dump is byte-stable)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pem_fixture import CERT, KEY, RSA_CERT, RSA_KEY

from konnect_desktop.model import ENTITIES
from konnect_desktop.model import declarative as d

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deck"
GOOD = sorted(p for p in FIXTURES.glob("*.yaml") if p.name != "broken.yaml")


def by(config: d.Config, table: str, **match: Any) -> dict[str, Any]:
    hits = [e for e in config[table] if all(e.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (table, match, hits)
    return hits[0]


# -- the reference example (KONG-REFERENCE §6.1) ---------------------------------------------------
@pytest.fixture(scope="module")
def example() -> d.Config:
    return d.load(FIXTURES / "reference-example.yaml")


def test_example_entities_in_admin_api_shape(example: d.Config) -> None:
    assert example.counts() == {"services": 1, "routes": 1, "consumers": 1, "consumer_groups": 1,
                                "consumer_group_consumers": 1, "keyauth_credentials": 1, "acls": 1, "plugins": 4}
    svc = by(example, "services", name="echo")
    assert set(svc) == set(ENTITIES["services"].schema.field_names)
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"]) == ("http", "httpbin.local", 80, "/anything")
    assert svc["created_at"] is None and svc["updated_at"] is None  # the file has none; the store stamps
    route = by(example, "routes", name="echo-r")
    assert route["service"] == {"id": svc["id"]}
    alice = by(example, "consumers", username="alice")
    assert by(example, "keyauth_credentials", key="alice-key")["consumer"] == {"id": alice["id"]}
    assert by(example, "acls", group="gold")["consumer"] == {"id": alice["id"]}
    group = by(example, "consumer_groups", name="gold-tier")
    member = example["consumer_group_consumers"][0]
    assert member["consumer_group"] == {"id": group["id"]} and member["consumer"] == {"id": alice["id"]}


def test_example_plugin_scopes(example: d.Config) -> None:
    svc = by(example, "services", name="echo")
    route = by(example, "routes", name="echo-r")
    group = by(example, "consumer_groups", name="gold-tier")
    scopes = {p["name"]: {k: p[k] for k in ("service", "route", "consumer", "consumer_group")} for p in example["plugins"]}
    assert scopes["key-auth"] == {"service": None, "route": None, "consumer": None, "consumer_group": None}
    assert scopes["acl"]["service"] == {"id": svc["id"]}
    assert scopes["request-transformer"]["route"] == {"id": route["id"]}
    assert scopes["request-transformer"]["service"] is None  # only the direct parent
    assert scopes["rate-limiting"]["consumer_group"] == {"id": group["id"]}


def test_select_tags_added_to_every_entity(example: d.Config) -> None:
    assert example.select_tags == ["team-a"]
    for table, rows in example.items():
        if "tags" in ENTITIES[table].schema.field_names:
            for e in rows:
                assert "team-a" in (e["tags"] or []), (table, e)


def test_ids_are_deterministic_uuids(example: d.Config) -> None:
    again = d.load((FIXTURES / "reference-example.yaml").read_text())
    assert again == example
    for rows in example.values():
        for e in rows:
            assert uuid.UUID(e["id"]).version == 5


def test_given_ids_are_kept() -> None:
    c = d.load(FIXTURES / "consumer-groups-scoped-plugins.yaml")
    assert by(c, "services", name="catalog")["id"] == "0b7e2d1a-5c3f-4e8d-9a6b-1f2e3d4c5b6a"
    assert by(c, "routes", name="catalog-items")["service"] == {"id": "0b7e2d1a-5c3f-4e8d-9a6b-1f2e3d4c5b6a"}
    assert by(c, "consumer_groups", name="bronze")["id"] == "2d9a4f3c-7e5b-4a1f-9c8d-3b4c5d6e7f80"


def test_ids_do_not_depend_on_file_order() -> None:
    doc = yaml.safe_load((FIXTURES / "workspace-multi-entities.yaml").read_text())
    shuffled = dict(reversed(list(doc.items())))
    shuffled["routes"] = list(reversed(doc["routes"]))
    assert d.from_deck_dict(shuffled).config == d.from_deck_dict(doc).config


def test_membership_declared_both_ways_gives_rows_once() -> None:
    c = d.load(FIXTURES / "consumer-groups-scoped-plugins.yaml")
    names = {g["id"]: g["name"] for g in c["consumer_groups"]}
    users = {u["id"]: u["username"] for u in c["consumers"]}
    pairs = sorted((names[m["consumer_group"]["id"]], users[m["consumer"]["id"]]) for m in c["consumer_group_consumers"])
    assert pairs == [("bronze", "sitter"), ("bronze", "walker"), ("platinum", "runner")]


def test_unknown_plugins_are_carried_opaquely() -> None:
    c = d.load(FIXTURES / "consumer-groups-scoped-plugins.yaml")
    rla = [p for p in c["plugins"] if p["name"] == "rate-limiting-advanced"]
    assert len(rla) == 3
    assert {p["config"]["namespace"] for p in rla} == {"bronze", "platinum", "everyone"}
    with pytest.raises(d.DeclarativeError) as exc:
        d.load(FIXTURES / "consumer-groups-scoped-plugins.yaml", strict_plugins=True)
    assert any(p.message == "plugin 'rate-limiting-advanced' not enabled; add it to the 'plugins' configuration property"
               and p.path.endswith(".name") for p in exc.value.problems)


def test_top_level_routes_and_plugins_reference_by_name_or_id() -> None:
    c = d.load(FIXTURES / "workspace-multi-entities.yaml")
    ledger = by(c, "services", name="ledger")
    read = by(c, "routes", name="ledger-read")
    assert read["service"] == {"id": ledger["id"]}
    assert by(c, "plugins", name="rate-limiting")["route"] == {"id": read["id"]}
    cert = by(c, "certificates", id="4c6f1c3e-2a4b-4f6d-8e1a-9b2c3d4e5f60")
    assert {s["name"] for s in c["snis"]} == {"ledger.example.test", "*.ledger.example.test"}
    assert all(s["certificate"] == {"id": cert["id"]} for s in c["snis"])
    up = by(c, "upstreams", name="ledger.internal")
    assert sorted((t["target"], t["weight"]) for t in c["targets"]) == [("192.0.2.21:8080", 100), ("192.0.2.22:8080", 50)]
    assert all(t["upstream"] == {"id": up["id"]} for t in c["targets"])
    assert (c.workspace, c.konnect) == ("payments", {"control_plane_name": "staging-cp"})
    doc = {"_format_version": "3.0", "services": [{"name": "s", "host": "s.test", "id": ledger["id"]}],
           "routes": [{"name": "r", "paths": ["/"], "service": {"id": ledger["id"]}}, {"name": "r2", "paths": ["/2"], "service": "s"}],
           "plugins": [{"name": "p", "service": ledger["id"]}]}
    c2 = d.from_deck_dict(doc).config
    assert all(r["service"] == {"id": ledger["id"]} for r in c2["routes"])
    assert c2["plugins"][0]["service"] == {"id": ledger["id"]}


def test_format_1_1_paths_migrated_like_kong() -> None:
    c = d.load(FIXTURES / "legacy-format-1.1.yaml")
    assert by(c, "routes", name="legacy-top")["paths"] == ["~/regex.+", "/prefix", "/a/c"]
    assert by(c, "routes", name="legacy-nested")["paths"] == ["~/users/\\d+/profile", "/plain"]
    assert by(c, "routes", name="legacy-top")["protocols"] == ["https"]
    assert c.format_version == "3.0"
    # in a 3.0 file the same path is a prefix and must be valid as written
    doc = yaml.safe_load((FIXTURES / "legacy-format-1.1.yaml").read_text())
    doc["_format_version"] = "3.0"
    report = d.from_deck_dict(doc)
    assert [str(p) for p in report.errors] == ["routes[0].paths[2]: non-normalized path, consider use '/a/c' instead"]


def test_verbatim_kinds_kept_and_written_back() -> None:
    c = d.load(FIXTURES / "kept-verbatim.yaml")
    src = yaml.safe_load((FIXTURES / "kept-verbatim.yaml").read_text())
    for kind in ("partials", "keys", "key_sets", "filter_chains", "custom_entities", "rbac_roles", "licenses"):
        assert c.extra[kind] == src[kind]
    out = yaml.safe_load(d.dump(c))
    for kind in c.extra:
        assert out[kind] == src[kind]
    assert out["_transform"] is False
    # oauth2 credentials are an entity of their own now (the oauth2 plugin runs locally): what the
    # file gave is kept, with Kong's defaults (and a generated client_secret, as Kong makes one) added
    (given,) = src["consumers"][0]["oauth2_credentials"]
    (written,) = out["consumers"][0]["oauth2_credentials"]
    assert {k: written[k] for k in given} == given and written["client_secret"]
    assert d.validate(FIXTURES / "kept-verbatim.yaml").warnings == []


def test_defaults_in_info_apply_to_entities() -> None:
    doc = {"_format_version": "3.0", "_info": {"defaults": {"service": {"read_timeout": 5000}, "route": {"strip_path": False}}},
           "services": [{"name": "s", "host": "s.test", "routes": [{"name": "r", "paths": ["/"]}]},
                        {"name": "t", "host": "t.test", "read_timeout": 7}]}
    c = d.from_deck_dict(doc).config
    assert by(c, "services", name="s")["read_timeout"] == 5000
    assert by(c, "services", name="t")["read_timeout"] == 7
    assert by(c, "routes", name="r")["strip_path"] is False
    assert c.info["defaults"]["service"] == {"read_timeout": 5000}


# -- located errors --------------------------------------------------------------------------------
def test_broken_file_reports_every_problem_where_it_is() -> None:
    report = d.validate(FIXTURES / "broken.yaml")
    lines = [str(p) for p in report.errors]
    expected = [
        "services[1].host: must not have a port",
        "services[1].name: invalid value 'bad name': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
        "services[1].port: value should be between 0 and 65535",
        "services[1].routes[1].hosts[0]: invalid wildcard: must have at most one wildcard",
        "services[1].routes[1].methods[0]: invalid value: get",
        "services[1].routes[1].paths[1]: should start with: / (fixed path) or ~/ (regex path)",
        "services[1].routes[1].paths[2]: must not have empty segments",
        "services[1].routes[1].paths[4]: non-normalized path, consider use '/y' instead",
        "services[2].name: uniqueness violation: 'services' entity with name set to 'good' already declared at services[0]",
        "services[2].protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp",
        "routes[0].service: no service named 'nowhere'",
        "routes[1]: must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'",
        "routes[2].protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')",
        "consumers[0]: at least one of these fields must be non-empty: 'custom_id', 'username'",
        "consumers[0].custom_id: length must be at least 1",
        "consumers[1].groups[0]: no consumer group named 'no-such-group'",
        "consumers[1].keyauth_credentials[1].key: uniqueness violation: 'keyauth_credentials' entity with key set to '******' already declared at consumers[1].keyauth_credentials[0]",
        "plugins[0].service: no service named 'ghost'",
        "plugins[1].protocols[1]: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp",
        "certificates[0].key: required field missing",
        "certificates[0].snis[0].name: must not be an IP",
    ]
    for line in expected:
        assert line in lines
    assert not any("carol-key" in line for line in lines)  # a duplicate key is named, never shown
    assert any(line.startswith("services[1].routes[1].paths[3]: invalid regex: '/(unclosed'") for line in lines)
    assert any(line.startswith("plugins[1].config: expected a") for line in lines)
    # a PEM that does not parse, in Kong's words (x509.new's reason follows)
    assert any(line.startswith("certificates[0].cert: invalid certificate: x509.new: ") for line in lines)
    # plugins[0] is acl: its own config checks join in once the acl plugin module is bundled
    assert len([line for line in lines if not line.startswith("plugins[0]: ")]) == len(expected) + 3
    # in the order of the file
    assert lines.index("services[1].host: must not have a port") < lines.index("routes[0].service: no service named 'nowhere'")
    assert [str(w) for w in report.warnings] == ["mystery_section: unknown top-level key (kept as is, not validated)"]
    assert report.config is not None and report.config.extra == {"mystery_section": [{"anything": "goes"}]}


def test_load_raises_declarative_error_with_kong_code() -> None:
    with pytest.raises(d.DeclarativeError) as exc:
        d.load(FIXTURES / "broken.yaml")
    err = exc.value
    assert err.code == 14 and err.name == "invalid declarative configuration" and err.status == 400
    assert err.message.startswith("declarative config is invalid: services[1].host: must not have a port; ")
    assert err.fields["routes[0].service"] == "no service named 'nowhere'"


@pytest.mark.parametrize(("text", "msg"), [
    ("a: [1\n", "<input>: invalid YAML at line 2, column 1: did not find expected ',' or ']'"),
    ("- 1\n- 2\n", "<input>: expected a mapping at the top level, got a list"),
    ("", "<input>: empty document (expected a mapping with '_format_version')"),
    ("services: []\n", "<input>: missing '_format_version' (one of: 1.1, 2.1, 3.0)"),
    ('_format_version: "2.0"\n', "<input>: unsupported _format_version '2.0' (expected one of: 1.1, 2.1, 3.0)"),
    ("_format_version: 3.0\n", "<input>: unsupported _format_version 3.0 (expected one of: 1.1, 2.1, 3.0)"),
    ('{"_format_version": "3.0", "services": [1', "<input>: invalid YAML at line 2, column 1: did not find expected ',' or ']'"),
])
def test_unreadable_documents(text: str, msg: str) -> None:
    with pytest.raises(d.FileFormatError) as exc:
        d.load(text + "\n" if "\n" not in text else text)
    assert str(exc.value) == msg
    report = d.validate(text + "\n" if "\n" not in text else text)
    assert report.config is None and [str(p) for p in report.errors] == [msg]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(d.FileFormatError, match="no such file"):
        d.load(tmp_path / "nope.yaml")


def test_json_input(tmp_path: Path) -> None:
    doc = {"_format_version": "3.0", "services": [{"name": "j", "url": "https://j.test/x"}]}
    f = tmp_path / "kong.json"
    f.write_text(json.dumps(doc))
    c = d.load(f)
    assert by(c, "services", name="j")["port"] == 443
    assert d.load(json.dumps(doc).encode()) == c


@pytest.mark.parametrize(("doc", "line"), [
    ({"services": {"name": "x"}}, "services: expected an array"),
    ({"services": ["x"]}, "services[0]: expected a record"),
    ({"services": [{"name": "s", "host": "s.test", "routes": "r"}]}, "services[0].routes: expected an array"),
    ({"services": [{"name": "s", "host": "s.test", "routes": [{"paths": ["/"], "service": {"name": "s"}}]}]},
     "services[0].routes[0].service: cannot be set on an entity nested under its service"),
    ({"services": [{"name": "s", "host": "s.test", "wat": 1}]}, "services[0].wat: unknown field"),
    ({"services": [{"name": "s", "host": "s.test", "id": "not-a-uuid"}]}, "services[0].id: expected a valid UUID"),
    ({"plugins": [{"name": "p", "consumer": "nobody"}]}, "plugins[0].consumer: no consumer named 'nobody'"),
    ({"plugins": [{"name": "p"}, {"name": "p"}]},
     "plugins[1]: uniqueness violation: 'plugins' entity with the same name already declared at plugins[0]"),
    ({"consumer_groups": [{"name": "g", "consumers": [{"username": "x"}]}]}, "consumer_groups[0].consumers[0]: no consumer named 'x'"),
    ({"upstreams": [{"name": "u", "targets": [{"target": "a.test:80"}, {"target": "a.test:80"}]}]},
     "upstreams[0].targets[1]: uniqueness violation: 'targets' entity with the same upstream, target already declared at upstreams[0].targets[0]"),
    ({"_transform": "yes"}, "_transform: expected a boolean"),
])
def test_located_errors(doc: dict, line: str) -> None:
    report = d.from_deck_dict({"_format_version": "3.0", **doc})
    assert line in [str(p) for p in report.errors]


def test_comments_on_entities_are_ignored() -> None:
    c = d.load(FIXTURES / "legacy-format-1.1.yaml")
    assert "_comment" not in by(c, "services", name="legacy")


# -- dump ----------------------------------------------------------------------------------------
def test_dump_shape_like_deck(example: d.Config) -> None:
    out = yaml.safe_load(d.dump(example))
    assert out["_format_version"] == "3.0"
    assert out["_info"] == {"select_tags": ["team-a"]}
    svc = out["services"][0]
    assert "id" not in svc and "created_at" not in svc and "url" not in svc
    assert svc["routes"][0]["name"] == "echo-r" and "service" not in svc["routes"][0]
    assert svc["routes"][0]["plugins"][0]["name"] == "request-transformer"
    assert [p["name"] for p in svc["plugins"]] == ["acl"]
    assert [p["name"] for p in out["plugins"]] == ["key-auth"]
    cons = out["consumers"][0]
    assert cons["keyauth_credentials"] == [{"key": "alice-key", "tags": ["team-a"]}]
    assert out["consumer_groups"][0]["consumers"] == [{"username": "alice"}]
    assert out["consumer_groups"][0]["plugins"][0]["name"] == "rate-limiting"
    assert "routes" not in out and "consumer_group_consumers" not in out
    # null fields are left out, defaults kept
    assert "tls_verify" not in svc and svc["retries"] == 5


def test_dump_with_ids_and_json(example: d.Config) -> None:
    out = json.loads(d.dump(example, with_id=True, fmt="json"))
    assert out["services"][0]["id"] == by(example, "services", name="echo")["id"]
    assert out["services"][0]["routes"][0]["id"] == by(example, "routes", name="echo-r")["id"]
    with pytest.raises(ValueError):
        d.dump(example, fmt="toml")


def test_multi_scoped_plugin_goes_top_level_with_name_references() -> None:
    doc = {"_format_version": "3.0",
           "services": [{"name": "s", "host": "s.test", "routes": [{"name": "r", "paths": ["/"]}]}],
           "consumers": [{"username": "u"}],
           "plugins": [{"name": "p1", "route": "r", "consumer": "u"}, {"name": "p2", "service": "s", "route": "r"}]}
    c = d.from_deck_dict(doc).config
    out = yaml.safe_load(d.dump(c))
    assert [(p["name"], p.get("route"), p.get("consumer"), p.get("service")) for p in out["plugins"]] == [
        ("p1", "r", "u", None), ("p2", "r", None, "s")]
    assert d.from_deck_dict(out).config == c


def test_serviceless_routes_at_top_level_and_certificate_ids_always_written() -> None:
    c = d.load(FIXTURES / "workspace-multi-entities.yaml")
    doc = {"_format_version": "3.0", "routes": [{"name": "lonely", "paths": ["/l"]}]}
    out = yaml.safe_load(d.dump(d.from_deck_dict(doc).config))
    assert out["routes"][0]["name"] == "lonely"
    out = yaml.safe_load(d.dump(c))
    assert out["certificates"][0]["id"] == "4c6f1c3e-2a4b-4f6d-8e1a-9b2c3d4e5f60"
    assert [s["name"] for s in out["certificates"][0]["snis"]] == ["*.ledger.example.test", "ledger.example.test"]


def test_dump_select_tags_filters_and_writes_info() -> None:
    doc = {"_format_version": "3.0", "services": [{"name": "a", "host": "a.test", "tags": ["x", "y"]},
                                                  {"name": "b", "host": "b.test", "tags": ["x"]}]}
    c = d.from_deck_dict(doc).config
    out = yaml.safe_load(d.dump(c, select_tags=["x", "y"]))
    assert out["_info"]["select_tags"] == ["x", "y"]
    assert [s["name"] for s in out["services"]] == ["a"]


def test_dump_keeps_certificates_readable() -> None:
    text = d.dump(d.load(FIXTURES / "dump-with-select-tags.yaml"))
    assert "- cert: |\n    -----BEGIN CERTIFICATE-----\n" in text


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_fixture_round_trips(path: Path, fmt: str) -> None:
    c = d.load(path)
    with_ids = d.dump(c, with_id=True, fmt=fmt)
    assert d.load(with_ids) == c
    assert d.dump(d.load(with_ids), with_id=True, fmt=fmt) == with_ids
    no_ids = d.dump(c, fmt=fmt)
    assert d.dump(d.load(no_ids), fmt=fmt) == no_ids


def test_files_without_ids_round_trip_without_ids() -> None:
    c = d.load(FIXTURES / "reference-example.yaml")
    assert d.load(d.dump(c)) == c


# -- hypothesis: generated configurations -----------------------------------------------------------
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
TAGS = st.none() | st.lists(st.text(alphabet="abcxyz-", min_size=1, max_size=4), max_size=2, unique=True)
PLUGIN_NAMES = st.sampled_from(["custom-a", "custom-b", "custom-c"])


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    svc_names = draw(st.lists(NAME, max_size=3, unique=True))
    route_names = draw(st.lists(NAME, max_size=5, unique=True))
    users = draw(st.lists(NAME, max_size=3, unique=True))
    groups = draw(st.lists(NAME, max_size=2, unique=True))
    keys = iter(draw(st.lists(NAME, min_size=12, max_size=12, unique=True)))
    plugin_pool = iter(["custom-a", "custom-b", "custom-c", "custom-d", "custom-e", "custom-f", "custom-g",
                        "custom-h", "custom-i", "custom-j", "custom-k", "custom-l", "custom-m", "custom-n"])

    def plugin(**scope: Any) -> dict[str, Any]:
        p: dict[str, Any] = {"name": next(plugin_pool), "config": draw(st.dictionaries(NAME, st.integers(0, 9) | NAME, max_size=2))}
        if draw(st.booleans()):
            p["enabled"] = draw(st.booleans())
        return {**p, **scope}

    services, routes_left = [], list(route_names)
    for name in svc_names:
        s: dict[str, Any] = {"name": name, "host": f"{name}x.test", "tags": draw(TAGS)}
        if draw(st.booleans()):
            s["port"] = draw(st.integers(1, 65535))
        nested = []
        for _ in range(draw(st.integers(0, 2))):
            if routes_left:
                r = {"name": routes_left.pop(), "paths": [f"/{draw(NAME)}"]}
                if draw(st.booleans()):
                    r["plugins"] = [plugin()]
                nested.append(r)
        if nested:
            s["routes"] = nested
        if draw(st.booleans()):
            s["plugins"] = [plugin()]
        services.append(s)
    top_routes = [{"name": n, "hosts": [f"{n}x.example"], "tags": draw(TAGS)} for n in routes_left]
    consumers = []
    for u in users:
        c: dict[str, Any] = {"username": u, "keyauth_credentials": [{"key": next(keys)}], "acls": [{"group": draw(NAME)}]}
        if draw(st.booleans()):
            c["basicauth_credentials"] = [{"username": next(keys), "password": "pw"}]
        if groups and draw(st.booleans()):
            c["groups"] = [{"name": draw(st.sampled_from(groups))}]
        if draw(st.booleans()):
            c["plugins"] = [plugin()]
        consumers.append(c)
    cgroups = []
    for g in groups:
        cg: dict[str, Any] = {"name": g}
        if users and draw(st.booleans()):
            cg["consumers"] = [{"username": draw(st.sampled_from(users))}]
        if draw(st.booleans()):
            cg["plugins"] = [plugin()]
        cgroups.append(cg)
    top_plugins = [plugin()] if draw(st.booleans()) else []
    if svc_names and users and draw(st.booleans()):
        top_plugins.append(plugin(service=svc_names[0], consumer=users[0]))
    upstreams = [{"name": f"{n}x.up", "targets": [{"target": f"10.0.0.{i}:80", "weight": draw(st.integers(0, 100))}
                                                 for i in range(draw(st.integers(0, 2)))]}
                 for n in draw(st.lists(NAME, max_size=2, unique=True))]
    certs = [{"cert": CERT if i == 0 else RSA_CERT, "key": KEY if i == 0 else RSA_KEY,
              "snis": [{"name": f"{n}x.sni.test"} for n in draw(st.lists(NAME, max_size=2, unique=True))]}
             for i in range(draw(st.integers(0, 1)))]
    doc: dict[str, Any] = {"_format_version": "3.0"}
    if draw(st.booleans()):
        doc["_info"] = {"select_tags": ["gen"]}
    for k, v in (("services", services), ("routes", top_routes), ("consumers", consumers), ("consumer_groups", cgroups),
                 ("plugins", top_plugins), ("upstreams", upstreams), ("certificates", certs)):
        if v:
            doc[k] = v
    # SNI names must be unique across certificates
    return doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(configs())
def test_generated_configs_round_trip(doc: dict[str, Any]) -> None:
    report = d.from_deck_dict(doc)
    assert report.errors == [], [str(p) for p in report.errors]
    c = report.config
    assert c is not None
    for with_id in (False, True):
        for fmt in ("yaml", "json"):
            text = d.dump(c, with_id=with_id, fmt=fmt)
            again = d.load(text)
            assert again == c  # generated files give no ids: derived ids come back identical
            assert d.dump(again, with_id=with_id, fmt=fmt) == text
    assert d.from_deck_dict(doc).config == c  # loading twice gives the same ids
