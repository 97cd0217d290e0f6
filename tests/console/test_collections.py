"""Request collections as files, their assertions, importers, and ``konnect-desktop test`` —
run as a user runs them: the CLI as a subprocess against the in-process local runtime, and
against a gateway given by URL (client-side checks only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from konnect_desktop.console import collection as col
from konnect_desktop.console.assertions import check_expect, json_at, parse_path
from konnect_desktop.console.importers import from_har, from_insomnia, from_postman, import_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "users-api"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "konnect_desktop", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


# -- files ---------------------------------------------------------------------------------------

def test_collection_round_trips_through_files(tmp_path: Path) -> None:
    c = col.load(EXAMPLE / "collection")
    assert [r.name for r in c.requests][:2] == ["Health is open and versioned", "A user needs a key"]
    assert c.environments["local"].get("gold_key").value == "demo-gold-key"
    col.save(c, tmp_path / "copy")
    again = col.load(tmp_path / "copy")
    assert [(r.name, r.spec, r.expect, r.burst) for r in again.requests] == \
           [(r.name, r.spec, r.expect, r.burst) for r in c.requests]


@pytest.mark.parametrize(("text", "words"), [
    ("method: GET\n", "url: required"),
    ("url: /x\nmethod: FETCH\n", "method: expected one of"),
    ("url: /x\nexpect: {statuss: 200}\n", "expect.statuss: unknown check"),
    ("url: /x\nexpect: {json: {'a.b': 1}}\n", "starts with '$'"),
    ("url: /x\nexpect: {headers: {x: {startswith: a}}}\n", "a matcher is one of"),
    ("url: /x\nexpect: {gateway: {upstream: {cookies: {}}}}\n", "gateway.upstream.cookies: unknown check"),
    ("url: /x\nburst: -1\n", "burst: expected"),
    ("url: [\n", "invalid YAML at line"),
])
def test_bad_request_files_name_the_file_and_field(tmp_path: Path, text: str, words: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(col.CollectionError, match="bad.yaml") as exc:
        col.load(p)
    assert words in str(exc.value)


def test_json_paths() -> None:
    doc = {"a": {"b": [{"c d": 1}, {"e": 2}]}}
    assert parse_path("$.a.b[1].e") == ["a", "b", 1, "e"]
    assert json_at(doc, "$.a.b[0]['c d']") == 1
    assert json_at(doc, "$.a.b[-1].e") == 2
    assert check_expect({"json": {"$.a[": 1}}) is not None


# -- importers -----------------------------------------------------------------------------------

POSTMAN = {
    "info": {"name": "Shop", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
    "variable": [{"key": "base", "value": "http://127.0.0.1:8000"}, {"key": "api_token", "value": "s3cr3t"}],
    "item": [
        {"name": "Orders", "item": [
            {"name": "Create order", "request": {
                "method": "POST", "url": {"raw": "{{base}}/orders?x=1"},
                "header": [{"key": "Content-Type", "value": "application/json"}, {"key": "X-Off", "value": "1", "disabled": True}],
                "body": {"mode": "raw", "raw": "{\"sku\": 1}", "options": {"raw": {"language": "json"}}}}},
        ]},
        {"name": "Login", "request": {"method": "POST", "url": "{{base}}/login",
                                      "body": {"mode": "urlencoded", "urlencoded": [{"key": "user", "value": "ann"}]}}},
    ],
}

INSOMNIA = {
    "_type": "export", "__export_format": 4,
    "resources": [
        {"_id": "wrk", "_type": "workspace", "name": "Shop"},
        {"_id": "fld", "_type": "request_group", "parentId": "wrk", "name": "Orders"},
        {"_id": "r1", "_type": "request", "parentId": "fld", "name": "List", "method": "GET",
         "url": "{{ _.base }}/orders", "headers": [{"name": "apikey", "value": "{{ _.key }}"}], "body": {}},
        {"_id": "env", "_type": "environment", "parentId": "wrk", "name": "Base Environment",
         "data": {"base": "http://127.0.0.1:8000", "key": "k-1"}},
    ],
}

HAR = {"log": {"entries": [{"request": {
    "method": "GET", "url": "http://127.0.0.1:8000/users/1?q=a",
    "headers": [{"name": ":authority", "value": "x"}, {"name": "Host", "value": "x"},
                {"name": "Authorization", "value": "Bearer captured"}, {"name": "Accept", "value": "*/*"}]}}]}}


def test_postman_import_keeps_folders_bodies_and_not_secrets(tmp_path: Path) -> None:
    imp = from_postman(POSTMAN)
    c = imp.collection
    assert [(r.group, r.name, r.spec.method, r.spec.body_kind) for r in c.requests] == [
        (("Orders",), "Create order", "POST", "json"), ((), "Login", "POST", "form")]
    assert c.requests[0].spec.url == "{{base}}/orders?x=1"
    assert [k for k, _ in c.requests[0].spec.headers] == ["Content-Type"]
    env = c.environments["collection"]
    assert env.get("base").value == "http://127.0.0.1:8000" and env.get("api_token").value == ""
    assert any("api_token" in w for w in imp.warnings)
    col.save(c, tmp_path / "pm")
    assert "s3cr3t" not in "".join(p.read_text() for p in (tmp_path / "pm").rglob("*.yaml"))
    assert [r.spec for r in col.load(tmp_path / "pm").requests] == [r.spec for r in c.requests]


def test_insomnia_import_converts_variables() -> None:
    c = from_insomnia(INSOMNIA).collection
    (r,) = c.requests
    assert r.group == ("Orders",) and r.spec.url == "{{base}}/orders" and r.spec.headers == [("apikey", "{{key}}")]
    assert c.environments["Base-Environment"].get("key").secret  # 'key' looks secret: value dropped


def test_har_import_drops_pseudo_headers_and_captured_credentials() -> None:
    imp = from_har(HAR)
    (r,) = imp.collection.requests
    assert r.name == "GET /users/1"
    assert r.spec.headers == [("Authorization", "{{authorization}}"), ("Accept", "*/*")]
    assert imp.warnings and "Bearer captured" not in json.dumps(imp.warnings)


def test_import_command_recognises_each_format(tmp_path: Path) -> None:
    files = {"pm.json": json.dumps(POSTMAN), "in.json": json.dumps(INSOMNIA), "x.har": json.dumps(HAR),
             "c.txt": "curl -X PUT http://127.0.0.1:8000/a -H 'x-a: 1' -d 'z=1'"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert import_file(tmp_path / name).collection.requests
    r = _cli("collection", "import", str(tmp_path / "pm.json"), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "Postman v2.1, 2 requests" in r.stdout and "api_token" in r.stderr
    assert len(col.load(tmp_path / "out").requests) == 2
    (tmp_path / "junk.json").write_text("[1, 2]")
    bad = _cli("collection", "import", str(tmp_path / "junk.json"), "-o", str(tmp_path / "o2"))
    assert bad.returncode == 1 and "not a Postman collection" in bad.stderr


# -- konnect-desktop test ------------------------------------------------------------------------

def test_example_passes_end_to_end(tmp_path: Path) -> None:
    """The README's CI recipe: OpenAPI → decK → collection with gateway assertions."""
    regenerated = _cli("openapi2kong", "openapi.yaml", cwd=EXAMPLE)
    assert regenerated.returncode == 0, regenerated.stderr
    assert yaml.safe_load(regenerated.stdout) == yaml.safe_load((EXAMPLE / "kong.yaml").read_text())
    junit = tmp_path / "report.xml"
    r = _cli("test", "collection", "--config", "kong.yaml", "--config", "consumers.yaml", "--junit", str(junit), cwd=EXAMPLE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("PASS") == 4 and "4 passed, 0 failed" in r.stdout
    suite = ET.parse(junit).getroot()
    assert suite.attrib["tests"] == "4" and suite.attrib["failures"] == "0"


def _broken_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "users-api"
    shutil.copytree(EXAMPLE, dst)
    p = dst / "collection" / "04-gold-limit.yaml"
    doc: dict[str, Any] = yaml.safe_load(p.read_text())
    doc["expect"]["burst"]["rejected_from"] = 4  # wrong on purpose: the limit is 5
    doc["expect"]["gateway"]["consumer"] = "free-app"
    p.write_text(yaml.safe_dump(doc))
    return dst


def test_failing_assertions_say_expected_and_got(tmp_path: Path) -> None:
    dst = _broken_copy(tmp_path)
    junit = tmp_path / "r.xml"
    r = _cli("test", "collection", "--config", "kong.yaml", "--config", "consumers.yaml", "--junit", str(junit), cwd=dst)
    assert r.returncode == 1
    assert "FAIL  Gold apps get 5 an hour" in r.stdout
    assert "✗ gateway.consumer: expected 'free-app', got 'gold-app'" in r.stdout
    assert "✗ burst.rejected_from: expected requests #4..#7 rejected, got first rejected #6" in r.stdout
    assert "3 passed, 1 failed" in r.stdout
    suite = ET.parse(junit).getroot()
    failed = [c for c in suite if c.find("failure") is not None]
    assert suite.attrib["failures"] == "1" and [c.attrib["name"] for c in failed] == ["Gold apps get 5 an hour"]
    assert "gateway.consumer" in failed[0].find("failure").attrib["message"]


async def test_remote_target_checks_the_client_side_only(tmp_path: Path) -> None:
    """Against a gateway given by URL the gateway-side assertions are skipped and said to be."""
    import asyncio

    from konnect_desktop.model import declarative
    from konnect_desktop.runtime.runtime import LocalRuntime

    rt = LocalRuntime("remote", db_path=tmp_path / "r.db", admin_listen=None)
    await rt.start()
    try:
        doc = declarative.merge_documents([declarative.read_source(EXAMPLE / n) for n in ("kong.yaml", "consumers.yaml")])
        await rt.load_config(declarative.load_document(doc))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "konnect_desktop", "test", "collection", "--target", rt.proxy_url,
            "--only", "needs a key", cwd=EXAMPLE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await rt.stop()
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "PASS  A user needs a key → 401  (2 checks, 2 skipped)" in text
    assert "2 gateway checks skipped (a remote gateway: only the client's side is checked)" in text


def test_unusable_collection_or_config_exit_2(tmp_path: Path) -> None:
    r = _cli("test", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such collection folder" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("_format_version: '3.0'\nservices: [{name: x}]\n")
    r = _cli("test", str(EXAMPLE / "collection"), "--config", str(bad))
    assert r.returncode == 2 and "host" in r.stderr and "Traceback" not in r.stderr
