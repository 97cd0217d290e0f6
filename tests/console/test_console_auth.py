"""The Auth tab's model against a real local runtime: applied on the wire (header or query),
resolved from (secret) variables, redacted in history and both exports."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from konnect_desktop.console.auth import Auth
from konnect_desktop.console.environments import (
    Environment,
    Variable,
    VariableError,
    builtin_values,
    resolve,
    variables_in,
)
from konnect_desktop.console.history import History
from konnect_desktop.console.insight import build_insight, lookup
from konnect_desktop.console.redact import REDACTED
from konnect_desktop.console.request import RequestSpec

KEY = "demo-key"  # the sample configuration's key-auth credential of consumer demo


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


async def test_api_key_in_header_and_in_query_authenticates_consumer_demo(runtime: Any, sender: Any) -> None:
    url = runtime.proxy_url + "/private"
    for auth in (Auth("apikey", value=KEY), Auth("apikey", "apikey", KEY, "query")):
        ex = await sender.send(RequestSpec("GET", url, auth=auth))
        assert ex.status == 200, auth
        ins = build_insight(await lookup(runtime.traffic, ex.request_id), ex.headers)
        assert ins.consumer == "demo"
    ex = await sender.send(RequestSpec("GET", url))
    assert ex.status == 401
    ex = await sender.send(RequestSpec("GET", url, auth=Auth("apikey", value="wrong-key")))
    assert ex.status == 401
    # the Auth tab wins over a typed header of the same name (only one apikey goes out)
    ex = await sender.send(RequestSpec("GET", url, [("apikey", "wrong-key")], auth=Auth("apikey", value=KEY)))
    assert ex.status == 200 and [v for k, v in ex.sent_headers if k.lower() == "apikey"] == [KEY]


async def test_bearer_and_basic_reach_the_upstream(runtime: Any, sender: Any) -> None:
    url = runtime.proxy_url + "/echo?x=1"
    ex = await sender.send(RequestSpec("GET", url, auth=Auth("bearer", value="tok-123")))
    assert json.loads(ex.body)["headers"]["authorization"] == "Bearer tok-123"
    ex = await sender.send(RequestSpec("GET", url, auth=Auth("basic", user="alice", password="pä:ss")))
    sent = json.loads(ex.body)["headers"]["authorization"]
    assert sent == "Basic " + base64.b64encode("alice:pä:ss".encode()).decode()
    ex = await sender.send(RequestSpec("GET", url, auth=Auth("apikey", "key", "a b&c", "query")))
    doc = json.loads(ex.body)
    assert doc["query"] == "x=1&key=a%20b%26c" and doc["args"] == {"x": "1", "key": "a b&c"}


def test_applied_replaces_typed_names_and_keeps_the_query_as_typed() -> None:
    spec = RequestSpec("GET", "http://h/p?b=%20&apikey=old#frag", [("Authorization", "x"), ("X", "1")],
                       auth=Auth("bearer", value="t"))
    wire = spec.applied()
    assert wire.headers == [("X", "1"), ("Authorization", "Bearer t")] and wire.auth == Auth()
    wire = RequestSpec("GET", "http://h/p?b=%20#frag", auth=Auth("apikey", "k", "v", "query")).applied()
    assert wire.url == "http://h/p?b=%20&k=v#frag"
    wire = RequestSpec("GET", "http://h/p?apikey=old&z=1", auth=Auth("apikey", "apikey", "new", "query")).applied()
    assert wire.query() == [("z", "1"), ("apikey", "new")]
    # nothing to send is no auth
    assert Auth("bearer", value="  ").canonical() == Auth() and not Auth("apikey").active
    assert RequestSpec("GET", "http://h", auth=Auth("bearer")).applied().headers == []


def test_auth_values_resolve_variables_and_unknown_ones_are_named() -> None:
    env = Environment("dev", [Variable("tok", "s3cr3t-tok", secret=True), Variable("who", "alice")])
    spec = RequestSpec("GET", "http://h/", auth=Auth("bearer", value="{{tok}}"))
    r = resolve(spec, env)
    assert r.spec.auth == Auth("bearer", value="s3cr3t-tok") and r.secret_values == ["s3cr3t-tok"]
    assert r.spec.applied().header("Authorization") == "Bearer s3cr3t-tok"
    r = resolve(RequestSpec("GET", "http://h/", auth=Auth("basic", user="{{who}}", password="{{tok}}")), env)
    assert r.spec.auth == Auth("basic", user="alice", password="s3cr3t-tok")
    assert variables_in(RequestSpec("GET", "http://h/", auth=Auth("apikey", value="{{k}}"))) == ["k"]
    with pytest.raises(VariableError, match=r"\{\{nope\}\} in the Auth value"):
        resolve(RequestSpec("GET", "http://h/", auth=Auth("apikey", value="{{nope}}")), env)
    # a field the chosen kind does not use is not resolved (nor reported)
    resolve(RequestSpec("GET", "http://h/", auth=Auth("bearer", value="x", user="{{nope}}")), env)
    # the preview keeps a secret variable as typed
    prev = resolve(spec, env, strict=False)
    assert prev.spec.auth.value == "{{tok}}"


async def test_history_and_exports_never_hold_the_auth_secrets(tmp_path: Path, runtime: Any, sender: Any) -> None:
    env = Environment("dev", [Variable("base", ""), Variable("pw", "basic-pw-771", secret=True)])
    folder = tmp_path / "hist"
    h = History(folder / "h.db")
    templates = [
        RequestSpec("GET", "{{base}}/private", auth=Auth("apikey", value=KEY)),
        RequestSpec("GET", "{{base}}/private", auth=Auth("apikey", "apikey", KEY, "query")),
        RequestSpec("GET", "{{base}}/echo", auth=Auth("bearer", value="bearer-tok-3141")),
        RequestSpec("GET", "{{base}}/echo", auth=Auth("basic", user="alice", password="{{pw}}")),
    ]
    for t in templates:
        r = resolve(t, env, builtin_values(base=runtime.proxy_url))
        ex = await sender.send(r.spec)
        assert ex.status == 200
        h.record(t, resolved=r.spec, exchange=ex, environment="dev", secret_values=r.secret_values)
    entries = h.search("")[::-1]
    assert entries[0].template.auth == Auth("apikey", "apikey", REDACTED) and "auth API key" in entries[0].redacted
    assert entries[1].url.endswith("/private")  # resolved URL: the query key is not in it
    assert entries[2].template.auth == Auth("bearer", value=REDACTED)
    assert entries[3].template.auth == Auth("basic", user="alice", password=REDACTED)
    exports = h.export_json() + h.export_curl()
    assert "apikey: REDACTED" in exports and "-u " in exports  # the auth kind survives export
    assert [r["request"]["auth"]["kind"] for r in json.loads(h.export_json())["requests"]] == [
        "apikey", "apikey", "bearer", "basic"]
    h.close()
    data = _all_bytes(folder) + exports.encode()
    for secret in (KEY, "bearer-tok-3141", "basic-pw-771", base64.b64encode(b"alice:basic-pw-771").decode()):
        assert secret.encode() not in data, secret


def test_a_custom_key_name_is_secret_wherever_it_appears() -> None:
    from konnect_desktop.console.redact import Redactor

    red = Redactor()
    spec = RequestSpec("GET", "http://h/?k=1", auth=Auth("apikey", "X-Team-Key", "k1"))
    assert red.spec(spec).auth.value == REDACTED
    # the sent headers (as history stores them) and a query under that name are blanked too,
    # even for a value too short to scrub from free text
    assert red.headers([("X-Team-Key", "k1"), ("X-Other", "k1")]) == [("X-Team-Key", REDACTED), ("X-Other", "k1")]
    assert red.url("http://h/?X-Team-Key=k1&a=1") == "http://h/?X-Team-Key=REDACTED&a=1"
