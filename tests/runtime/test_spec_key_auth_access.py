"""Kong's key-auth access spec (spec/03-plugins/09-key-auth/02-access_spec.lua, Kong 3.9), its first
``describe`` block, through real sockets; each test names its ``it`` title (and ``describe`` where
the title repeats). The gRPC cases are not ported (no gRPC client here).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from e2e_plugin_support import Gateway, Reply, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORM, JSON, MULTIPART = "application/x-www-form-urlencoded", "application/json", "multipart/form-data"
BOUNDARY = "spec-boundary-7d1f"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spec_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Gateway, dict[str, Any]]]:
    gw = await start_gateway(tmp_path_factory.mktemp("keyauth-spec"), "keyauth-spec")
    c, svc = gw.cfg()
    anonymous = c.add("consumers", username="no-body")
    bob = c.add("consumers", username="bob")
    cred = c.add("keyauth_credentials", key="kong", consumer={"id": bob["id"]})
    configs: dict[int, dict[str, Any] | None] = {
        1: None,
        2: {"hide_credentials": True, "realm": "test-realm"},
        3: {"anonymous": anonymous["id"]},
        4: {"anonymous": str(uuid.uuid4())},  # unknown consumer
        5: {"key_in_body": True},
        6: {"key_in_body": True, "hide_credentials": True},
        7: {"run_on_preflight": False},
        8: {"key_names": ["api_key"]},
        9: {"key_names": ["api-key"]},
        10: {"anonymous": anonymous["username"]},
    }
    for n, config in configs.items():
        route = c.route(svc, hosts=[f"key-auth{n}.test"], strip_path=n == 7)
        c.plugin("key-auth", config, route=route)
    await gw.load(c)
    try:
        yield gw, cred
    finally:
        await gw.stop()


def encode(ctype: str, fields: dict[str, Any]) -> bytes:
    if ctype == JSON:
        return json.dumps(fields).encode()
    if ctype == FORM:
        return urlencode(fields).encode()
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def content_type(ctype: str) -> str:
    return f"{ctype}; boundary={BOUNDARY}" if ctype == MULTIPART else ctype


async def send(spec_gw: Any, n: int, target: str = "/request", headers: Any = None, method: str = "GET",
               body: bytes = b"") -> Reply:
    gw, _ = spec_gw
    return await gw.request(method, target, headers, body=body, host=f"key-auth{n}.test")


def unauthorized(r: Reply, message: str, challenge: str | None = "Key") -> None:
    assert r.status == 401, r
    assert message in r.json()["message"]
    if challenge is not None:
        assert r.header("WWW-Authenticate") == challenge


# -- Unauthorized ------------------------------------------------------------------------------------
async def test_200_on_options_if_run_on_preflight_is_false(spec_gw: Any) -> None:
    """it("returns 200 on OPTIONS requests if run_on_preflight is false")"""
    assert (await send(spec_gw, 7, "/status/200", method="OPTIONS")).status == 200


async def test_unauthorized_on_options_if_run_on_preflight_is_true(spec_gw: Any) -> None:
    """it("returns Unauthorized on OPTIONS requests if run_on_preflight is true")"""
    unauthorized(await send(spec_gw, 1, "/status/200", method="OPTIONS"), "No API key found in request")


@pytest.mark.parametrize(("title", "n", "target", "headers", "challenge"), [
    ("returns Unauthorized on missing credentials", 1, "/status/200", None, "Key"),
    ("returns WWW-Authenticate header on missing credentials", 1, "/status/200", None, "Key"),
    ("returns Unauthorized on empty key header with no realm", 1, "/status/200", {"apikey": ""}, "Key"),
    ("returns Unauthorized on empty key header with conifgured realm", 2, "/status/200", {"apikey": ""},
     'Key realm="test-realm"'),
    ("returns Unauthorized on empty key querystring", 1, "/status/200?apikey", None, "Key"),
])
async def test_no_key_found(spec_gw: Any, title: str, n: int, target: str, headers: Any, challenge: str) -> None:
    unauthorized(await send(spec_gw, n, target, headers), "No API key found in request", challenge)


# -- key in querystring / headers ------------------------------------------------------------------
async def test_querystring_authenticates_valid_credentials(spec_gw: Any) -> None:
    """it("authenticates valid credentials") — key in querystring"""
    assert (await send(spec_gw, 1, "/request?apikey=kong")).status == 200


async def test_querystring_invalid_key(spec_gw: Any) -> None:
    """it("returns 401 Unauthorized on invalid key") — key in querystring"""
    unauthorized(await send(spec_gw, 1, "/status/200?apikey=123"), "Unauthorized")


async def test_querystring_duplicated_key(spec_gw: Any) -> None:
    """it("handles duplicated key in querystring")"""
    unauthorized(await send(spec_gw, 1, "/status/200?apikey=kong&apikey=kong"), "Duplicate API key found")


async def test_headers_valid_and_invalid(spec_gw: Any) -> None:
    """it("authenticates valid credentials") and it("returns 401 Unauthorized on invalid key") — key in headers"""
    assert (await send(spec_gw, 1, headers={"apikey": "kong"})).status == 200
    unauthorized(await send(spec_gw, 1, "/status/200", {"apikey": "123"}), "Unauthorized", None)


@pytest.mark.parametrize("name", ["api_key", "api-key"])
async def test_underscores_or_hyphens_in_key_headers(spec_gw: Any, name: str) -> None:
    """it("authenticates valid credentials") and it("returns 401 Unauthorized on invalid key") —
    underscores or hyphens in key headers: key_names ["api_key"] finds both spellings."""
    assert (await send(spec_gw, 8, headers={name: "kong"})).status == 200
    unauthorized(await send(spec_gw, 8, "/status/200", {name: "123"}), "Unauthorized")


# -- key in request body ----------------------------------------------------------------------------
@pytest.mark.parametrize("ctype", [FORM, JSON, MULTIPART])
async def test_key_in_request_body(spec_gw: Any, ctype: str) -> None:
    """it("authenticates valid credentials"), it("authenticates valid credentials in query"),
    it("authenticates valid credentials in header") and it("returns 401 Unauthorized on invalid
    key") — key in request body, for each content type"""
    h = {"Content-Type": content_type(ctype)}
    assert (await send(spec_gw, 5, method="POST", headers=h, body=encode(ctype, {"apikey": "kong"}))).status == 200
    assert (await send(spec_gw, 5, "/request?apikey=kong", h, "POST", encode(ctype, {"non_apikey": "kong"}))).status == 200
    assert (await send(spec_gw, 5, "/request?apikey=kong", {**h, "apikey": "kong"}, "POST",
                       encode(ctype, {"non_apikey": "kong"}))).status == 200
    unauthorized(await send(spec_gw, 5, "/status/200", h, "POST", encode(ctype, {"apikey": "123"})), "Unauthorized")


@pytest.mark.parametrize(("title", "ctype", "body", "message"), [
    ("handles duplicated key", JSON, json.dumps({"apikey": ["kong", "kong"]}).encode(), "Duplicate API key found"),
    ("handles duplicated key", FORM, b"apikey=kong&apikey=kong", "Duplicate API key found"),
    ("does not identify apikey[] as api keys", FORM, b"apikey[]=kong&apikey[]=kong", "No API key found in request"),
    ("does not identify apikey[1] as api keys", FORM, b"apikey[1]=kong&apikey[1]=kong", "No API key found in request"),
])
async def test_body_duplicates_and_brackets(spec_gw: Any, title: str, ctype: str, body: bytes, message: str) -> None:
    unauthorized(await send(spec_gw, 5, "/status/200", {"Content-Type": ctype}, "POST", body), message)


# -- Consumer headers, hide_credentials ---------------------------------------------------------------
async def test_sends_consumer_headers_to_upstream(spec_gw: Any) -> None:
    """it("sends Consumer headers to upstream")"""
    _, cred = spec_gw
    r = await send(spec_gw, 1, "/request?apikey=kong")
    assert r.status == 200
    assert isinstance(r.up_header("x-consumer-id"), str)
    assert r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == cred["id"]
    assert r.up_header("x-anonymous-consumer") is None


@pytest.mark.parametrize(("where", "n", "hidden"), [("uri_args", 1, False), ("uri_args", 2, True),
                                                    ("headers", 1, False), ("headers", 2, True)])
async def test_hide_credentials_query_and_headers(spec_gw: Any, where: str, n: int, hidden: bool) -> None:
    """it("false sends key to upstream") / it("true doesn't send key to upstream") — uri_args, headers"""
    if where == "uri_args":
        r = await send(spec_gw, n, "/request?apikey=kong")
        got = r.echo["args"].get("apikey")
    else:
        r = await send(spec_gw, n, headers={"apikey": "kong"})
        got = r.up_header("apikey")
    assert r.status == 200 and (got is None) is hidden and (hidden or got == "kong")


@pytest.mark.parametrize("ctype", [FORM, JSON, MULTIPART])
async def test_hide_credentials_body(spec_gw: Any, ctype: str) -> None:
    """it("(<type>) false sends key to upstream"), it("(<type>) true doesn't send key to
    upstream") — post_data.params, and it("(<type>) true preserves body MIME type")"""
    h = {"Content-Type": content_type(ctype)}

    def params(r: Reply) -> dict[str, Any]:
        return r.echo["json"] if ctype == JSON else r.echo["form"]

    r = await send(spec_gw, 5, method="POST", headers=h, body=encode(ctype, {"apikey": "kong"}))
    assert r.status == 200 and params(r)["apikey"] == "kong"
    r = await send(spec_gw, 6, method="POST", headers=h, body=encode(ctype, {"apikey": "kong"}))
    assert r.status == 200 and "apikey" not in (params(r) or {})
    r = await send(spec_gw, 6, method="POST", headers=h, body=encode(ctype, {"apikey": "kong", "foo": "bar"}))
    assert r.status == 200 and params(r)["foo"] == "bar"
    assert r.up_header("content-type").split(";")[0] == ctype


async def test_fails_with_key_in_body_and_unsupported_content_type(spec_gw: Any) -> None:
    """it("fails with 'key_in_body' and unsupported content type")"""
    unauthorized(await send(spec_gw, 6, "/status/200", {"Content-Type": "text/plain"}, "POST", b"foobar"),
                 "No API key found in request")


@pytest.mark.parametrize(("title", "n", "target", "upstream"), [
    ("does not remove apikey and preserves order of query parameters", 1,
     "/request?c=value1&b=value2&apikey=kong&a=value3", "/request?c=value1&b=value2&apikey=kong&a=value3"),
    ("removes apikey and preserves order of query parameters", 2,
     "/request?c=value1&b=value2&apikey=kong&a=value3", "/request?c=value1&b=value2&a=value3"),
    ("removes apikey in encoded query and preserves order of query parameters", 2,
     "/request?c=valu%651&b=value2&api%6B%65%79=kong&a=valu%653", "/request?c=value1&b=value2&a=value3"),
])
async def test_query_order(spec_gw: Any, title: str, n: int, target: str, upstream: str) -> None:
    r = await send(spec_gw, n, target)
    assert r.status == 200
    assert r.echo["path"] + "?" + r.echo["query"] == upstream


# -- config.anonymous --------------------------------------------------------------------------------
async def test_right_credentials_and_anonymous(spec_gw: Any) -> None:
    """it("works with right credentials and anonymous")"""
    _, cred = spec_gw
    r = await send(spec_gw, 3, "/request?apikey=kong")
    assert r.status == 200
    assert r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == cred["id"]
    assert r.up_header("x-anonymous-consumer") is None


@pytest.mark.parametrize(("title", "n"), [("works with wrong credentials and anonymous", 3),
                                          ("works with wrong credentials and username as anonymous", 10)])
async def test_wrong_credentials_and_anonymous(spec_gw: Any, title: str, n: int) -> None:
    r = await send(spec_gw, n)
    assert r.status == 200
    assert r.up_header("x-anonymous-consumer") == "true"
    assert r.up_header("x-credential-identifier") is None
    assert r.up_header("x-consumer-username") == "no-body"


async def test_errors_when_anonymous_user_does_not_exist(spec_gw: Any) -> None:
    """it("errors when anonymous user doesn't exist")"""
    assert (await send(spec_gw, 4)).status == 500


async def test_a_later_set_query_sorts_again(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Not a spec case: key-auth's clear_query_arg keeps the client's order, and a later plugin
    that sets the query (request-transformer, Kong's set_query) sorts and encodes it its own way,
    as in Kong."""
    gw = await start_gateway(tmp_path_factory.mktemp("keyauth-rt"), "keyauth-rt")
    try:
        c, svc = gw.cfg()
        bob = c.add("consumers", username="bob")
        c.add("keyauth_credentials", key="kong", consumer={"id": bob["id"]})
        route = c.route(svc, paths=["/"])
        c.plugin("key-auth", {"hide_credentials": True}, route=route)
        c.plugin("request-transformer", {"add": {"querystring": ["z:1"]}}, route=route)
        await gw.load(c)
        r = await gw.request("GET", "/?c=3&b=x%20y~&apikey=kong&a=1")
        # set_query's encoding too (%20 and a bare ~), not URLSearchParams' (+ and %7E)
        assert r.status == 200 and r.echo["query"] == "a=1&b=x%20y~&c=3&z=1"
    finally:
        await gw.stop()
