"""Environments (secret values in a real Secret Service) and the request history (SQLite, WAL):
search, restart, replay, export — and no secret ever written in clear."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from konnect_desktop.console.environments import (
    Environment,
    EnvironmentStore,
    Variable,
    VariableError,
    builtin_values,
    resolve,
    variables_in,
)
from konnect_desktop.console.history import History
from konnect_desktop.console.redact import REDACTED, Redactor
from konnect_desktop.console.request import FormField, RequestSpec

SECRET_ENV_VALUE = "env-secret-7Hq2"


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_resolve_variables_builtins_and_unknown_names() -> None:
    env = Environment("dev", [Variable("base", ""), Variable("user", "alice"), Variable("greet", "hi {{user}}")])
    spec = RequestSpec("POST", "{{base}}/echo?u={{ user }}", [("X-Greet", "{{greet}}"), ("X-Id", "{{$uuid}}")],
                       "json", '{"who": "{{user}}"}')
    r = resolve(spec, env, builtin_values(base="http://127.0.0.1:8000"))
    assert r.spec.url == "http://127.0.0.1:8000/echo?u=alice"
    assert r.spec.header("X-Greet") == "hi alice" and len(r.spec.header("X-Id") or "") == 36
    assert r.spec.body == '{"who": "alice"}'
    assert r.used[:3] == ["base", "user", "greet"] and r.secret_values == []
    assert variables_in(spec) == ["base", "user", "greet", "$uuid"]
    with pytest.raises(VariableError) as ei:
        resolve(RequestSpec("GET", "{{base}}/x", [("Authorization", "Bearer {{tok}}")]), env)
    assert ei.value.message == ("Unknown variables {{base}} in the URL, {{tok}} in header Authorization. "
                                "Define it in the environment “dev” (or pick another environment).")


def test_environment_secrets_live_in_the_keyring_only(tmp_path: Path, secret_service: Any) -> None:
    store = EnvironmentStore(tmp_path / "envs.json")
    envs = [Environment("dev", [Variable("base", ""), Variable("token", SECRET_ENV_VALUE, secret=True)])]
    store.save(envs)
    assert SECRET_ENV_VALUE.encode() not in (tmp_path / "envs.json").read_bytes()
    loaded = store.load()
    assert loaded[0].get("token") == Variable("token", "", True)  # listed, value not in the file
    full = store.with_secrets(loaded[0])
    assert full.get("token").value == SECRET_ENV_VALUE
    assert secret_service.get_password("konnect-desktop", "console-env/dev/token") == SECRET_ENV_VALUE
    r = resolve(RequestSpec("GET", "http://h/", [("Authorization", "Bearer {{token}}")]), full)
    assert r.spec.header("Authorization") == f"Bearer {SECRET_ENV_VALUE}" and r.secret_values == [SECRET_ENV_VALUE]
    # a secret whose value the keyring lost is named, not sent blank
    store.save(loaded, removed_secrets=[("dev", "token")])
    with pytest.raises(VariableError, match="secret value not found in the keyring"):
        resolve(RequestSpec("GET", "http://h/{{token}}"), store.with_secrets(store.load()[0]))


def test_environment_names_are_checked(tmp_path: Path) -> None:
    store = EnvironmentStore(tmp_path / "envs.json")
    with pytest.raises(VariableError, match="defined twice"):
        store.save([Environment("dev", [Variable("a", "1"), Variable("a", "2")])])
    with pytest.raises(VariableError, match="variable name"):
        store.save([Environment("dev", [Variable("has space", "1")])])
    assert not (tmp_path / "envs.json").exists()
    assert [e.name for e in store.load()] == ["local"]


def test_history_survives_a_restart_and_is_searchable(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    h = History(db)
    for method, path, status in [("GET", "/echo", 200), ("POST", "/pay", 429), ("GET", "/limited", 429),
                                 ("DELETE", "/echo/1", 204)]:
        e = h.record(RequestSpec(method, "{{base}}" + path), resolved=RequestSpec(method, "http://127.0.0.1:8000" + path))
        with sqlite3.connect(db) as c:
            c.execute("UPDATE requests SET status=? WHERE id=?", (status, e.id))
    h.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    h = History(db)
    assert h.count() == 4
    assert [e.url for e in h.search("")][:1] == ["http://127.0.0.1:8000/echo/1"]  # newest first
    assert [e.method for e in h.search("post")] == ["POST"]
    assert {e.url.rsplit("/", 1)[-1] for e in h.search("429")} == {"pay", "limited"}
    assert [e.status for e in h.search("4xx GET")] == [429]
    assert len(h.search("echo")) == 2 and h.search("nothing-like-this") == []
    assert h.search("100%_") == []  # LIKE wildcards are literal
    replay = h.search("pay")[0].template
    assert replay == RequestSpec("POST", "{{base}}/pay")  # stored as typed: variables resolve again
    h.close()


async def test_no_secret_is_written_in_clear(tmp_path: Path, runtime: Any, sender: Any) -> None:
    """apikey header, Bearer token, a secret variable, a token in the query: absent from the DB
    files (WAL included) and from both exports — even though the echo upstream repeats them."""
    from konnect_desktop.console.environments import resolve

    env = Environment("dev", [Variable("base", ""), Variable("secret", SECRET_ENV_VALUE, secret=True)])
    template = RequestSpec("POST", "{{base}}/private?access_token=qtok-998877&x=1",
                           [("apikey", "demo-key"), ("Authorization", "Bearer xyz"), ("X-Env", "{{secret}}")],
                           "form", form=[FormField("password", "form-pw-55"), FormField("note", "ok")])
    r = resolve(template, env, builtin_values(base=runtime.proxy_url))
    ex = await sender.send(r.spec)
    assert ex.status == 200
    assert b"demo-key" in ex.body and SECRET_ENV_VALUE.encode() in ex.body  # the echo repeats them
    folder = tmp_path / "hist"
    h = History(folder / "h.db")
    e = h.record(template, resolved=r.spec, exchange=ex, environment="dev", secret_values=r.secret_values)
    assert e.template.header("apikey") == REDACTED and e.template.header("Authorization") == f"Bearer {REDACTED}"
    assert e.template.header("X-Env") == "{{secret}}"
    assert set(e.redacted) >= {"header apikey", "header Authorization", "query access_token", "form field password"}
    exports = h.export_json() + h.export_curl()
    data = _all_bytes(folder) + exports.encode()
    for secret in ("demo-key", "xyz", SECRET_ENV_VALUE, "qtok-998877", "form-pw-55"):
        assert secret.encode() not in data, secret
    # still useful: the stored entry has the response, the non-secret parts and the URL
    got = h.search("private 200")[0]
    assert got.response is not None and json.loads(got.response["body"])["form"]["note"] == "ok"
    assert "x=1" in got.url and "access_token=REDACTED" in got.url
    h.close()
    data = _all_bytes(folder)
    for secret in ("demo-key", "xyz", SECRET_ENV_VALUE, "qtok-998877", "form-pw-55"):
        assert secret.encode() not in data, secret


def test_redactor_names_and_spellings() -> None:
    red = Redactor(extra_names=["X-My-Key"], secret_values=["s/e c+r=t"])
    spec = RequestSpec("POST", "http://h/?key=abc123&page=2", [("X-My-Key", "k-123456"), ("Cookie", "sid=cook1e; a=b"),
                                                              ("Authorization", "Basic " + "YWxpY2U6cGFzc3dvcmQ=")],
                       "json", '{"user": "a", "client_secret": "cs-000", "nested": [{"token": "t-111"}]}')
    out = red.spec(spec)
    assert out.url == "http://h/?key=REDACTED&page=2"
    assert out.headers == [("X-My-Key", REDACTED), ("Cookie", REDACTED), ("Authorization", f"Basic {REDACTED}")]
    assert json.loads(out.body) == {"user": "a", "client_secret": REDACTED, "nested": [{"token": REDACTED}]}
    text = red.text('pw=password; "s/e c+r=t" s%2Fe%20c%2Br%3Dt s%2Fe+c%2Br%3Dt k-123456 cook1e cs-000')
    assert text is not None
    for leaked in ("password", "s/e c+r=t", "s%2Fe", "k-123456", "cook1e", "cs-000"):
        assert leaked not in text


async def test_raw_bodies_auth_looking_headers_and_stored_keys_are_redacted(tmp_path: Path, runtime: Any, sender: Any) -> None:
    """Before: a raw ``{"token": …}`` or ``client_secret=…`` body, an ``X-Custom-Auth`` header and
    a stored key sent under an innocent name were written in clear (the echo repeats them all)."""
    from konnect_desktop.console.redact import runtime_secrets

    names, stored = runtime_secrets(runtime.store)
    assert "demo-key" in stored and "apikey" in names  # the sample's key-auth credential and key name
    secrets = {"tok-raw-1", "cs-raw-2", "xca-3", "xpt-4", "xck-5", "xas-6", "demo-key", "pw-raw-7"}
    cases = [
        RequestSpec("POST", f"{runtime.proxy_url}/echo/a", [("Content-Type", "text/plain"), ("X-Custom-Auth", "xca-3")],
                    "raw", '{"user": "bob", "nested": {"token": "tok-raw-1"}}'),
        RequestSpec("POST", f"{runtime.proxy_url}/echo/b", [("X-Partner-Token", "xpt-4"), ("X-Client-Key", "xck-5"),
                                                            ("X-App-Secret", "xas-6")],
                    "raw", "grant_type=client_credentials&client_secret=cs-raw-2&password=pw-raw-7"),
        RequestSpec("GET", f"{runtime.proxy_url}/echo/c", [("X-Innocent", "demo-key")]),
    ]
    folder = tmp_path / "hist"
    h = History(folder / "h.db")
    try:
        for spec in cases:
            ex = await sender.send(spec)
            assert ex.status == 200
            e = h.record(spec, exchange=ex, secret_names=names, secret_values=stored)
            assert "user" not in e.redacted  # sanity: only places that held secrets are listed
        first = h.search("/echo/a")[0]
        assert json.loads(first.template.body)["user"] == "bob"  # the rest of the body is kept
        assert first.template.header("X-Custom-Auth") == REDACTED
        assert "grant_type=client_credentials" in h.search("/echo/b")[0].template.body
        data = _all_bytes(folder) + (h.export_json(secret_values=stored) + h.export_curl(secret_values=stored)).encode()
    finally:
        h.close()
    data += _all_bytes(folder)
    for s in secrets:
        assert s.encode() not in data, s


def test_a_token_in_a_response_body_is_redacted(tmp_path: Path) -> None:
    """An OAuth token endpoint's answer (``{"access_token": …}``) is as secret as the request."""
    red = Redactor()
    red.collect_body('{"access_token": "at-secret-99", "token_type": "bearer", "expires_in": 3600}')
    out = red.text('{"access_token": "at-secret-99", "expires_in": 3600}') or ""
    assert "at-secret-99" not in out and "3600" in out
    red.collect_body("refresh_token=rt-secret-77&scope=read")
    assert "rt-secret-77" not in (red.text("x rt-secret-77 y") or "")
    for name in ("X-Custom-Auth", "X-Partner-Token", "X-Client-Key", "X-App-Secret", "X-Request-Signature"):
        assert red.secret_header(name), name
    for name in ("X-Request-Id", "Content-Type", "Accept", "Host"):
        assert not red.secret_header(name), name
