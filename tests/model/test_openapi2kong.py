"""OpenAPI → decK, checked against decK's own conversion cases.

Every ``*.yaml`` under ``tests/fixtures/openapi2kong`` is a case from Kong/go-apiops
``openapi2kong/oas3_testfiles`` (``openapi2kong_test.go``, ``Test_Openapi2kong``): converted with
the options that test uses (tags ``OAS3_import`` + ``OAS3file_<name>``, security generation on,
the ``x-test-config`` switches), the result must equal ``<case>.expected.json``. The specs decK
refuses (``Test_Openapi2kong_InvalidPaths``) are refused here with decK's words.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from konnect_desktop.model import declarative
from konnect_desktop.model.openapi2kong import OpenAPIError, Options, capture_name, convert, slugify

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi2kong"


def _deck_options(name: str, doc: dict[str, Any]) -> Options:
    cfg = doc.get("x-test-config") or {}
    return Options(tags=["OAS3_import", f"OAS3file_{name}"], generate_security=True,
                   treat_all_headers_as_required=bool(cfg.get("treatAllHeadersAsRequired")),
                   reuse_services=bool(cfg.get("reuseServices")))


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.yaml")))
def test_deck_case(case: str) -> None:
    """go-apiops openapi2kong_test.go, Test_Openapi2kong: the JSON blobs should be equal."""
    doc = yaml.safe_load((CASES / case).read_text())
    expected = json.loads((CASES / case.replace(".yaml", ".expected.json")).read_text())
    assert json.loads(json.dumps(convert(doc, _deck_options(case, doc)))) == expected


INVALID = {
    "no-paths.yaml": "must have `.paths` in the root of the document",
    "multiple-security-requirements.yaml": "only a single security-requirement is supported",
    "multiple-security-schemes.yaml": "within a security-requirement only a single security-scheme is supported",
    "unsupported-security-type.yaml": "only security-schemes of type 'openIdConnect' are supported",
    "missing-security-scheme.yaml": "no security-schemes with name 'nonExistentScheme' found in components",
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_deck_invalid_case(case: str) -> None:
    """go-apiops openapi2kong_test.go, Test_Openapi2kong_InvalidPaths."""
    doc = yaml.safe_load((CASES / "invalid" / case).read_text())
    with pytest.raises(OpenAPIError, match=re.escape(INVALID[case])):
        convert(doc, _deck_options(case, doc))


def test_every_case_file_is_run() -> None:
    cases = list(CASES.glob("*.yaml"))
    assert len(cases) >= 40 and all((CASES / c.name.replace(".yaml", ".expected.json")).exists() for c in cases)


def test_slugify_like_deck() -> None:
    assert slugify("Simple API overview") == "simple-api-overview"
    assert slugify("/application/{id}/") == "application-id"
    assert slugify("/") == ""
    assert slugify("Café Straße") == "cafe-strae"  # decomposed accents kept, the rest dropped (deck transliterates ß as ss)
    assert capture_name(" white space ") == "white_space"
    assert capture_name("x*()_-+=x") == "x_x"


def test_bad_input_names_what_is_wrong() -> None:
    with pytest.raises(OpenAPIError, match="OpenAPI 3"):
        convert({"swagger": "2.0", "paths": {}})
    with pytest.raises(OpenAPIError, match="x-kong-tags"):
        convert({"openapi": "3.0.0", "x-kong-tags": "a", "paths": {}})
    with pytest.raises(OpenAPIError, match="#/components/x-kong/"):
        convert({"openapi": "3.0.0", "x-kong-plugin-cors": {"$ref": "#/elsewhere"}, "paths": {}})
    with pytest.raises(OpenAPIError, match="no letters or digits.*x-kong-name"):
        convert({"openapi": "3.0.0", "info": {"title": "!!!"}, "paths": {}})
    with pytest.raises(OpenAPIError, match="32 characters"):
        convert({"openapi": "3.0.0", "paths": {"/{" + "a" * 40 + "}": {"get": {}}}})


def test_uuid_base_and_no_id() -> None:
    doc = {"openapi": "3.0.0", "info": {"title": "t"}, "servers": [{"url": "http://h"}],
           "paths": {"/a": {"get": {"operationId": "getA"}}}}
    one = convert(doc, Options(doc_name="team-a"))
    assert one["services"][0]["name"] == "team-a"
    assert one["services"][0]["id"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, "team-a.service"))
    assert one["services"][0]["routes"][0]["id"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, "team-a_geta.route"))
    none = convert(doc, Options(skip_id=True))
    assert "id" not in none["services"][0] and "id" not in none["services"][0]["routes"][0]


# -- what a user runs -----------------------------------------------------------------------------

def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "konnect_desktop", "openapi2kong", *args],
                          input=stdin, capture_output=True, timeout=60)


def test_cli_writes_a_valid_deck_file(tmp_path: Path) -> None:
    out = tmp_path / "kong.yaml"
    r = _cli(str(CASES / "26-request-validator-plugin-path-parameter-schema.yaml"), "-o", str(out),
             "--select-tag", "team-a,oas")
    assert r.returncode == 0, r.stderr.decode()
    report = declarative.validate(out)
    assert report.ok, report.errors
    doc = yaml.safe_load(out.read_text())
    assert doc["_format_version"] == "3.0"
    assert doc["services"][0]["tags"] == ["team-a", "oas"]
    routes = doc["services"][0]["routes"]
    assert all(r["tags"] == ["team-a", "oas"] and r["paths"][0].startswith("~/") for r in routes)
    json_out = _cli("--format", "json", stdin=(CASES / "01-names-inferred.yaml").read_bytes())
    assert json_out.returncode == 0 and json.loads(json_out.stdout)["services"][0]["name"] == "simple-api-overview"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    r = _cli(str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and r.stderr.decode().count("\n") == 1 and "cannot read" in r.stderr.decode()
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\ninfo: {title: x}\n")
    r = _cli(str(bad))
    assert r.returncode == 1 and "must have `.paths`" in r.stderr.decode() and "Traceback" not in r.stderr.decode()


# -- any small spec converts to a configuration the gateway accepts ----------------------------------

_segment = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
_host = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_param = st.from_regex(r"[A-Za-z][A-Za-z0-9_ -]{0,10}", fullmatch=True)


@st.composite
def _specs(draw: Any) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.one_of(_segment, _param.map(lambda p: "{" + p + "}")), min_size=1, max_size=3))
        path = "/" + "/".join(parts) + draw(st.sampled_from(["", "/"]))
        methods = draw(st.lists(st.sampled_from(["get", "post", "put", "delete", "patch"]), min_size=1, max_size=3, unique=True))
        item: dict[str, Any] = {}
        for m in methods:
            op: dict[str, Any] = {"responses": {"200": {"description": "ok"}}}
            if draw(st.booleans()):
                op["operationId"] = draw(_segment) + m
            if draw(st.booleans()):
                op["x-kong-plugin-rate-limiting"] = {"config": {"minute": draw(st.integers(1, 100))}}
            item[m] = op
        if draw(st.booleans()):
            item["servers"] = [{"url": f"http://{draw(_host)}.internal:{draw(st.integers(1, 65535))}/v1"}]
        paths[path] = item
    servers = draw(st.lists(st.sampled_from(["http://a.example/x", "https://b.example:8443", "/relative"]),
                            min_size=0, max_size=2, unique=True))
    title = draw(st.text(min_size=1, max_size=20).filter(lambda t: slugify(t) != ""))
    return {"openapi": "3.0.3", "info": {"title": title},
            "servers": [{"url": u} for u in servers], "paths": paths,
            "x-kong-plugin-cors": {"config": {"origins": ["*"]}}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_specs())
def test_any_small_spec_gives_a_valid_deck_file(spec: dict[str, Any]) -> None:
    try:
        result = convert(spec)
    except OpenAPIError as exc:  # the one refusal a generated spec may meet: a parameter named twice
        assert "twice" in str(exc)
        return
    report = declarative.validate(declarative.render(result).encode())
    # two paths that slugify alike give the same route names; decK refuses those files too
    names = [r["name"] for s in result["services"] for r in s["routes"]]
    if len(names) == len(set(names)) and len({s["name"] for s in result["services"]}) == len(result["services"]):
        assert report.ok, report.errors
