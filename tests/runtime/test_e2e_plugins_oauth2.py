"""oauth2 through real sockets: Kong's spec/03-plugins/25-oauth2/03-access_spec.lua cases, ported.

Deliberate differences, each for a reason:
* the local proxy has no TLS listener, so every route runs with
  ``accept_http_if_already_terminated`` and requests carry ``X-Forwarded-Proto: https`` from
  127.0.0.1 (the local runtime trusts loopback peers' X-Forwarded-Proto; Kong's spec uses a TLS
  client and ``trusted_ips``). "fails when not under HTTPS" is kept on a route without it;
* the plugin's clock is fixed (``auth_common.clock``): "returns 401 Unauthorized when token has
  expired" moves the clock instead of waiting five seconds;
* gRPC cases are not ported (no gRPC client here).

Plugin configs start from Kong's blueprint (spec/fixtures/blueprints.lua ``oauth2_plugins``):
scopes email+profile, authorization code and implicit grants, mandatory scope, provision key
``provision123``, tokens living 5 s.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from e2e_plugin_support import Gateway
from fake_clock import FakeClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCESS = "spec/03-plugins/25-oauth2/03-access_spec.lua"
HTTPS = [("X-Forwarded-Proto", "https")]
BLUEPRINT = {"scopes": ["email", "profile"], "enable_authorization_code": True, "mandatory_scope": True,
             "provision_key": "provision123", "token_expiration": 5, "enable_implicit_grant": True,
             "accept_http_if_already_terminated": True}
SCOPES = {"scopes": ["email", "profile", "user.email"]}


class World:
    """The first lazy_setup of 03-access_spec.lua (the routes the ported cases use)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        c, _svc = gw.cfg()
        self.c = c
        self.bob = c.consumer("bob")
        self.anon = c.consumer("no-body")
        for client_id, secret, hashed, uris, name, kind in (
            ("clientid123", "secret123", True, ["http://google.test/kong"], "testapp", "confidential"),
            ("clientid789", "secret789", False, ["http://google.test/kong?foo=bar&code=123"], "testapp2", "confidential"),
            ("clientid333", "secret333", True, ["http://google.test/kong"], "testapp3", "confidential"),
            ("clientid456", "secret456", False, ["http://one.test/one/", "http://two.test/two"], "testapp3", "confidential"),
            ("clientid1011", "secret1011", True, ["http://google.test/kong"], "testapp31", "confidential"),
            ("clientid10112", "secret10112", False, None, "testapp311", "confidential"),
            ("clientid11211", "secret11211", False, ["http://google.test/kong"], "testapp50", "public"),
        ):
            c.add("oauth2_credentials", client_id=client_id, client_secret=secret, hash_secret=hashed,
                  redirect_uris=uris, name=name, client_type=kind, consumer={"id": self.bob["id"]})
        self.services: dict[str, dict[str, Any]] = {}
        for host, cfg in (
            ("oauth2.test", SCOPES), ("example-path.test", {}), ("oauth2_3.test", {"hide_credentials": True}),
            ("oauth2_4.test", {"enable_client_credentials": True, "enable_authorization_code": False}),
            ("oauth2_5.test", {"enable_password_grant": True, "enable_authorization_code": False, "realm": "test-oauth2"}),
            ("oauth2_7.test", {**SCOPES, "anonymous": self.anon["id"]}),
            ("oauth2_8.test", {**SCOPES, "global_credentials": True}),
            ("oauth2_9.test", {**SCOPES, "global_credentials": True}),
            ("oauth2_10.test", {**SCOPES, "global_credentials": True, "anonymous": "9d3f4c2e-1b2a-4c5d-8e6f-7a8b9c0d1e2f"}),
            ("oauth2_11.test", {**SCOPES, "global_credentials": True, "token_expiration": 7, "auth_header_name": "custom_header_name"}),
            ("oauth2_13.test", {**SCOPES, "global_credentials": True, "reuse_refresh_token": True}),
            ("oauth2__c.test", {**SCOPES, "anonymous": "no-body"}),
            ("oauth2_14.test", {**SCOPES, "global_credentials": True, "pkce": "none"}),
            ("oauth2_15.test", {**SCOPES, "global_credentials": True, "pkce": "strict"}),
            ("nohttps.test", {**SCOPES, "accept_http_if_already_terminated": False}),
            ("oauth2_18.test", {"scopes": ["scope18"], "global_credentials": True}),
            ("oauth2_19.test", {"scopes": ["scope19"], "global_credentials": True}),
            ("oauth2_21.test", {"scopes": ["scope20", "scope21"], "global_credentials": True}),
        ):
            svc = c.service(port=gw.echo.port)
            self.services[host] = svc
            route = c.route(svc, hosts=[host], protocols=["http", "https"])
            c.plugin("oauth2", {**BLUEPRINT, **cfg}, route=route)
        path_svc = c.service(port=gw.echo.port)
        c.plugin("oauth2", dict(BLUEPRINT), route=c.route(path_svc, paths=["/somepath"], protocols=["http", "https"]))

    async def post(self, path: str, body: dict[str, Any] | None = None, host: str = "oauth2.test",
                   headers: list[tuple[str, str]] | None = None, https: bool = True, method: str = "POST") -> Any:
        from urllib.parse import urlencode

        hdrs = list(headers or []) + (HTTPS if https else [])
        data = b""
        if body is not None:
            hdrs.append(("Content-Type", "application/x-www-form-urlencoded"))
            data = urlencode(body).encode()
        return await self.gw.request(method, path, hdrs, data, host=host)

    async def code(self, host: str = "oauth2.test", client_id: str = "clientid123", challenge: str | None = None,
                   scope: str = "email") -> str:
        body = {"provision_key": "provision123", "client_id": client_id, "scope": scope, "response_type": "code",
                "state": "hello", "authenticated_userid": "userid123"}
        if challenge:
            body["code_challenge"] = challenge
        r = await self.post("/oauth2/authorize", body, host)
        assert r.status == 200, r
        m = re.fullmatch(r"http://google\.test/kong\?code=(\w{32})&state=hello", r.json()["redirect_uri"])
        assert m, r.json()
        return m.group(1)

    async def token(self, host: str = "oauth2.test", client_id: str = "clientid123", secret: str | None = "secret123",
                    challenge: str | None = None, verifier: str | None = None, scope: str = "email") -> dict[str, Any]:
        body = {"code": await self.code(host, client_id, challenge, scope), "client_id": client_id,
                "grant_type": "authorization_code"}
        if secret:
            body["client_secret"] = secret
        if verifier:
            body["code_verifier"] = verifier
        r = await self.post("/oauth2/token", body, host)
        assert r.status == 200, r
        return r.json()


def pkce() -> tuple[str, str]:
    verifier = "A" * 30 + "BCDEFGHIJKLMNOPQRSTU"  # 50 characters, like get_pkce_tokens
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return challenge, verifier


def err(r: Any, error: str, description: str, status: int = 400) -> None:
    assert r.status == status, r
    assert r.json() == {"error": error, "error_description": description}
    if status != 405:  # the wrong-method answer carries only its WWW-Authenticate (as in Kong)
        assert r.header("Cache-Control") == "no-store" and r.header("Pragma") == "no-cache"


async def test_code_grant_authorize(gw: Gateway, clock: FakeClock) -> None:
    """describe "Code Grant": "returns an error when no provision_key is being sent", "... when no
    parameter is being sent", "... when only provision_key and authenticated_userid are sent",
    "... when only the client_id is being sent", "... when an invalid scope is being sent", "...
    when no response_type is being sent", "returns an error with a state when no response_type is
    being sent", "returns error when the redirect_uri does not match", "works even if redirect_uri
    contains a query string", "works with multiple redirect_uris in the application", "fails when
    not under HTTPS", "works when not under HTTPS but accept_http_if_already_terminated is true",
    "fails when not under HTTPS and accept_http_if_already_terminated is false", "returns success",
    "fails with a path when using the DNS", "returns success with a path", "returns success when
    requesting the url with final slash", "returns success with a state", "fails when code
    challenge method is not supported", "fails when code challenge method is provided without code
    challenge", "fails when code challenge is not included for public client", "fails when code
    challenge is not included for confidential client when conf.pkce is strict", "returns success
    when code challenge is not included for public client when conf.pkce is none"."""
    w = World(gw)
    await gw.load(w.c)
    base = {"provision_key": "provision123", "authenticated_userid": "id123"}
    err(await w.post("/oauth2/authorize", {}), "invalid_provision_key", "Invalid provision_key")
    err(await w.post("/oauth2/authorize", {"provision_key": "provision123"}), "invalid_authenticated_userid",
        "Missing authenticated_userid parameter")
    err(await w.post("/oauth2/authorize", base), "invalid_client", "Invalid client authentication")
    one = {**base, "client_id": "clientid123"}
    r = await w.post("/oauth2/authorize", one)
    assert r.status == 400 and r.json() == {
        "redirect_uri": "http://google.test/kong?error=invalid_scope&error_description=You%20must%20specify%20a%20scope"}
    r = await w.post("/oauth2/authorize", {**one, "scope": "wot"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_scope&error_description=%22wot%22%20is%20an%20invalid%20scope"}
    r = await w.post("/oauth2/authorize", {**one, "scope": "email"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=unsupported_response_type&error_description=Invalid%20response_type"}
    r = await w.post("/oauth2/authorize", {**one, "scope": "email", "state": "somestate"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=unsupported_response_type&error_description=Invalid%20response_type&state=somestate"}
    code = {**one, "scope": "email", "response_type": "code"}
    r = await w.post("/oauth2/authorize", {**code, "redirect_uri": "http://hello.test/"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=Invalid%20redirect_uri%20that%20does%20not%20match%20with%20any%20redirect_uri%20created%20with%20the%20application"}

    r = await w.post("/oauth2/authorize", {**code, "client_id": "clientid789"})
    assert r.status == 200 and re.fullmatch(r"http://google\.test/kong\?code=\w{32}&foo=bar", r.json()["redirect_uri"])
    r = await w.post("/oauth2/authorize", {**code, "client_id": "clientid456"})
    assert r.status == 200 and re.fullmatch(r"http://one\.test/one/\?code=\w{32}", r.json()["redirect_uri"])
    err(await w.post("/oauth2/authorize", code, https=False), "access_denied", "You must use HTTPS")
    err(await w.post("/oauth2/authorize", code, host="nohttps.test"), "access_denied", "You must use HTTPS")
    r = await w.post("/oauth2/authorize", code)
    assert r.status == 200 and re.fullmatch(r"http://google\.test/kong\?code=\w{32}", r.json()["redirect_uri"])
    assert r.header("Cache-Control") == "no-store" and r.header("Pragma") == "no-cache"
    err(await w.post("/oauth2/authorize", {**code, "provision_key": "provision123a"}, host="example-path.test"),
        "invalid_provision_key", "Invalid provision_key")
    r = await w.post("/somepath/oauth2/authorize", code, host="anything.test")
    assert r.status == 200 and re.fullmatch(r"http://google\.test/kong\?code=\w{32}", r.json()["redirect_uri"])
    assert (await w.post("/oauth2/authorize/", code)).status == 200
    r = await w.post("/oauth2/authorize", {**code, "state": "hello"})
    assert re.fullmatch(r"http://google\.test/kong\?code=\w{32}&state=hello", r.json()["redirect_uri"])

    challenge, _ = pkce()
    r = await w.post("/oauth2/authorize", {**code, "code_challenge": challenge, "code_challenge_method": "foo"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge_method%20is%20not%20supported%2C%20must%20be%20S256"}
    r = await w.post("/oauth2/authorize", {**code, "code_challenge_method": "S256"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20when%20code_method%20is%20present"}
    r = await w.post("/oauth2/authorize", {**code, "client_id": "clientid11211"})
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20for%20public%20clients"}
    r = await w.post("/oauth2/authorize", code, host="oauth2_15.test")
    assert r.json() == {"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20for%20confidential%20clients"}
    r = await w.post("/oauth2/authorize", {**code, "client_id": "clientid11211"}, host="oauth2_14.test")
    assert r.status == 200 and re.fullmatch(r"http://google\.test/kong\?code=\w{32}", r.json()["redirect_uri"])
    # "returns success and saves code challenge": the stored code carries it
    r = await w.post("/oauth2/authorize", {**code, "code_challenge": challenge})
    assert r.status == 200
    stored = [c for c in gw.runtime.store.all("oauth2_authorization_codes") if c.get("challenge")]
    assert stored and stored[-1]["challenge"] == challenge and stored[-1]["challenge_method"] == "S256"
    assert stored[-1]["authenticated_userid"] == "id123" and stored[-1]["scope"] == "email"


async def test_implicit_grant(gw: Gateway, clock: FakeClock) -> None:
    """describe "Implicit Grant": "returns success", "returns success and the state", "returns
    success and store authenticated user properties", "returns set the right upstream headers"."""
    w = World(gw)
    await gw.load(w.c)
    body = {"provision_key": "provision123", "authenticated_userid": "id123", "client_id": "clientid123",
            "scope": "email", "response_type": "token"}
    r = await w.post("/oauth2/authorize", body)
    assert r.status == 200
    m = re.fullmatch(r"http://google\.test/kong#access_token=(\w{32})&expires_in=5&token_type=bearer", r.json()["redirect_uri"])
    assert m, r.json()
    r = await w.post("/oauth2/authorize", {**body, "state": "wot"})
    assert re.fullmatch(r"http://google\.test/kong#access_token=\w{32}&expires_in=5&state=wot&token_type=bearer", r.json()["redirect_uri"])
    token = gw.runtime.store.find_by("oauth2_tokens", "access_token", m.group(1))
    assert token is not None and token["expires_in"] == 5 and token["refresh_token"] is None
    assert token["authenticated_userid"] == "id123" and token["scope"] == "email"
    assert token["credential"]["id"] == gw.runtime.store.get("oauth2_credentials", "clientid123")["id"]
    r = await gw.request("GET", "/request?access_token=" + m.group(1), host="oauth2.test")
    assert r.status == 200
    assert r.up_header("x-consumer-id") == w.bob["id"] and r.up_header("x-consumer-username") == "bob"
    assert r.up_header("x-credential-identifier") == "clientid123"
    assert r.up_header("x-authenticated-scope") == "email" and r.up_header("x-authenticated-userid") == "id123"
    assert r.up_header("x-anonymous-consumer") is None


async def test_client_credentials(gw: Gateway, clock: FakeClock) -> None:
    """describe "Client Credentials": "returns an error when client_secret is not sent", "... when
    empty client_id and empty client_secret is sent", "... when missing client_id and missing
    client_secret is sent", "... regardless of method - without realm", "... - with realm",
    "returns an error when grant_type is not sent", "fails when not under HTTPS", "fails when
    setting authenticated_userid and no provision_key", "... and invalid provision_key", "returns
    success", "returns success with an application that has multiple redirect_uri", "... has not
    redirect_uri", "returns success with authenticated_userid and valid provision_key", "returns
    success with authorization header", "returns success with authorization header and client_id
    body param", "returns an error with a wrong authorization header", "sets the right upstream
    headers"."""
    w = World(gw)
    await gw.load(w.c)
    h = "oauth2_4.test"
    err(await w.post("/oauth2/token", {"client_id": "clientid123", "scope": "email", "response_type": "token"}, h),
        "invalid_client", "Invalid client authentication")
    err(await w.post("/oauth2/token", {"client_id": "", "client_secret": "", "scope": "email", "grant_type": "client_credentials"}, h),
        "invalid_client", "Invalid client authentication")
    err(await w.post("/oauth2/token", {"scope": "email", "grant_type": "client_credentials"}, h),
        "invalid_client", "Invalid client authentication")
    r = await w.post("/oauth2/token?client_id&grant_type=client_credentials&client_secret", None, h, method="GET")
    err(r, "invalid_method", "The HTTP method GET is invalid for the token endpoint", 405)
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_method" error_description="The HTTP method GET is invalid for the token endpoint"'
    r = await w.post("/oauth2/token?client_id&grant_type=client_credentials&client_secret", None, "oauth2_5.test", method="GET")
    assert r.header("WWW-Authenticate") == 'Bearer realm="test-oauth2" error="invalid_method" error_description="The HTTP method GET is invalid for the token endpoint"'
    good = {"client_id": "clientid123", "client_secret": "secret123", "scope": "email"}
    err(await w.post("/oauth2/token", {**good, "response_type": "token"}, h), "unsupported_grant_type", "Invalid grant_type")
    cc = {**good, "grant_type": "client_credentials"}
    err(await w.post("/oauth2/token", cc, h, https=False), "access_denied", "You must use HTTPS")
    err(await w.post("/oauth2/token", {**cc, "authenticated_userid": "user123"}, h), "invalid_provision_key", "Invalid provision_key")
    err(await w.post("/oauth2/token", {**cc, "authenticated_userid": "user123", "provision_key": "hello"}, h),
        "invalid_provision_key", "Invalid provision_key")
    r = await w.post("/oauth2/token", cc, h)
    assert r.status == 200 and set(r.json()) == {"access_token", "token_type", "expires_in"}
    assert r.json()["token_type"] == "bearer" and r.json()["expires_in"] == 5 and re.fullmatch(r"\w{32}", r.json()["access_token"])
    for client, secret in (("clientid456", "secret456"), ("clientid10112", "secret10112")):
        r = await w.post("/oauth2/token", {**cc, "client_id": client, "client_secret": secret}, h)
        assert r.status == 200, (client, r)
    r = await w.post("/oauth2/token", {**cc, "client_id": "clientid456", "client_secret": "secret456",
                                       "redirect_uri": "http://two.test/two"}, h)
    assert r.status == 200
    r = await w.post("/oauth2/token", {**cc, "authenticated_userid": "hello", "provision_key": "provision123"}, h)
    assert r.status == 200
    basic = [("Authorization", "Basic " + base64.b64encode(b"clientid123:secret123").decode())]
    r = await w.post("/oauth2/token", {"scope": "email", "grant_type": "client_credentials"}, h, basic)
    assert r.status == 200
    r = await w.post("/oauth2/token", {"client_id": "clientid123", "scope": "email", "grant_type": "client_credentials"}, h, basic)
    assert r.status == 200
    wrong = [("Authorization", "Basic " + base64.b64encode(b"clientid123:secret124").decode())]
    r = await w.post("/oauth2/token", {"scope": "email", "grant_type": "client_credentials"}, h, wrong)
    err(r, "invalid_client", "Invalid client authentication", 401)
    assert r.header("WWW-Authenticate") == 'Basic realm="OAuth2.0"'

    r = await w.post("/oauth2/token", {**cc, "authenticated_userid": "hello", "provision_key": "provision123"}, h)
    token = r.json()["access_token"]
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + token), ("X-Authenticated-Scope", "forged")], host=h)
    assert r.status == 200
    assert r.up_header("x-consumer-username") == "bob" and r.up_header("x-credential-identifier") == "clientid123"
    assert r.up_header("x-authenticated-scope") == "email" and r.up_header("x-authenticated-userid") == "hello"


async def test_password_grant(gw: Gateway, clock: FakeClock) -> None:
    """describe "Password Grant": "blocks unauthorized requests - with no realm set", "... with
    realm set", "returns an error when client_secret is not sent", "returns an error when
    grant_type is not sent", "fails when no provision key is being sent", "fails when no
    authenticated user id is being sent", "returns success", "returns success with authorization
    header", "returns an error with a wrong authorization header", "sets the right upstream
    headers"."""
    w = World(gw)
    await gw.load(w.c)
    h = "oauth2_5.test"
    r = await gw.request("GET", "/request", host="oauth2_4.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    r = await gw.request("GET", "/request", host=h)
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Bearer realm="test-oauth2"'
    assert r.json() == {"error": "invalid_request", "error_description": "The access token is missing"}
    err(await w.post("/oauth2/token", {"client_id": "clientid123", "scope": "email", "grant_type": "password"}, h),
        "invalid_client", "Invalid client authentication")
    base = {"client_id": "clientid123", "client_secret": "secret123", "scope": "email"}
    err(await w.post("/oauth2/token", base, h), "unsupported_grant_type", "Invalid grant_type")
    pw = {**base, "grant_type": "password"}
    err(await w.post("/oauth2/token", pw, h), "invalid_provision_key", "Invalid provision_key")
    pw = {**pw, "provision_key": "provision123"}
    err(await w.post("/oauth2/token", pw, h), "invalid_authenticated_userid", "Missing authenticated_userid parameter")
    r = await w.post("/oauth2/token", {**pw, "authenticated_userid": "id123"}, h)
    assert r.status == 200 and set(r.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    basic = [("Authorization", "Basic " + base64.b64encode(b"clientid123:secret123").decode())]
    body = {"provision_key": "provision123", "authenticated_userid": "id123", "scope": "email", "grant_type": "password"}
    r = await w.post("/oauth2/token", body, h, basic)
    assert r.status == 200
    wrong = [("Authorization", "Basic " + base64.b64encode(b"clientid123:secret124").decode())]
    r = await w.post("/oauth2/token", body, h, wrong)
    err(r, "invalid_client", "Invalid client authentication", 401)
    token = (await w.post("/oauth2/token", {**pw, "authenticated_userid": "id123"}, h)).json()["access_token"]
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + token)], host=h)
    assert r.status == 200 and r.up_header("x-authenticated-userid") == "id123"
    assert r.up_header("x-authenticated-scope") == "email" and r.up_header("x-credential-identifier") == "clientid123"


async def test_access_token_exchange(gw: Gateway, clock: FakeClock) -> None:
    """describe "OAuth2 Access Token": "returns an error when nothing is being sent", "... when
    only the code is being sent", "... only the code and client_secret", "... when grant_type is
    not being sent", "returns an error with a wrong code", "returns success without state",
    "returns success with state", "fails when the client used for the code is not the same client
    used for the token", "fails when an authorization code is used more than once", "fails when an
    authorization code is used for another API", "succeeds when using code challenge", "fails when
    a secret provided for public app", "fails when no code_verifier provided for public app",
    "success when no code_verifier provided for public app without pkce when conf.pkce is none",
    "fails when code verifier is greater than 128 characters", "... less than 43 characters", "fails
    when code verifier does not match challenge", "fails when no code verifier provided for
    confidential app when conf.pkce is strict", "fails when no code verifier provided for
    confidential app with pkce when conf.pkce is lax"; a code is good for 300 s (its Kong ttl)."""
    w = World(gw)
    await gw.load(w.c)
    err(await w.post("/oauth2/token", {}), "invalid_client", "Invalid client authentication")
    code = await w.code()
    err(await w.post("/oauth2/token", {"code": code}), "invalid_client", "Invalid client authentication")
    err(await w.post("/oauth2/token", {"code": code, "client_secret": "secret123"}), "invalid_client", "Invalid client authentication")
    err(await w.post("/oauth2/token", {"code": code, "client_id": "clientid123", "client_secret": "secret123"}),
        "unsupported_grant_type", "Invalid grant_type")
    ac = {"client_id": "clientid123", "client_secret": "secret123", "grant_type": "authorization_code"}
    err(await w.post("/oauth2/token", {**ac, "code": code + "hello"}), "invalid_request", "Invalid code")
    r = await w.post("/oauth2/token", {**ac, "code": code})
    assert r.status == 200 and set(r.json()) == {"refresh_token", "token_type", "access_token", "expires_in"}
    assert r.json()["expires_in"] == 5
    err(await w.post("/oauth2/token", {**ac, "code": code}), "invalid_request", "Invalid code")  # used once
    r = await w.post("/oauth2/token", {**ac, "code": await w.code(), "state": "wot"})
    assert r.status == 200 and r.json()["state"] == "wot"
    err(await w.post("/oauth2/token", {**ac, "code": await w.code(), "client_id": "clientid456", "client_secret": "secret456"}),
        "invalid_request", "Invalid code")
    err(await w.post("/oauth2/token", {**ac, "code": await w.code()}, host="oauth2_3.test"), "invalid_request", "Invalid code")
    late = await w.code()
    clock.now += 301
    err(await w.post("/oauth2/token", {**ac, "code": late}), "invalid_request", "Invalid code")

    challenge, verifier = pkce()
    r = await w.post("/oauth2/token", {**ac, "code": await w.code(challenge=challenge), "code_verifier": verifier})
    assert r.status == 200
    public = {"client_id": "clientid11211", "grant_type": "authorization_code"}
    r = await w.post("/oauth2/token", {**public, "code": await w.code(client_id="clientid11211", challenge=challenge),
                                       "code_verifier": verifier})
    assert r.status == 200
    err(await w.post("/oauth2/token", {**public, "client_secret": "secret11211",
                                       "code": await w.code(client_id="clientid11211", challenge=challenge), "code_verifier": verifier}),
        "invalid_request", "client_secret is disallowed for public clients")
    err(await w.post("/oauth2/token", {**public, "code": await w.code(client_id="clientid11211", challenge=challenge)}),
        "invalid_request", "code_verifier is required for PKCE authorization requests")
    r = await w.post("/oauth2/token", {**public, "code": await w.code("oauth2_14.test", "clientid11211")}, host="oauth2_14.test")
    assert r.status == 200
    for bad, message in (("a" * 129, "code_verifier must be between 43 and 128 characters"),
                         ("abcdelfhigklmnopqrstuvwxyz0123456789abcdefg"[:42], "code_verifier must be between 43 and 128 characters")):
        err(await w.post("/oauth2/token", {**public, "code": await w.code(client_id="clientid11211", challenge=challenge),
                                           "code_verifier": bad}), "invalid_request", message)
    err(await w.post("/oauth2/token", {**public, "code": await w.code(client_id="clientid11211", challenge=challenge),
                                       "code_verifier": "x" * 50}), "invalid_grant", "Invalid code")
    strict = {**ac, "client_id": "clientid1011", "client_secret": "secret1011"}
    err(await w.post("/oauth2/token", {**strict, "code": await w.code("oauth2_15.test", "clientid1011", challenge)}, host="oauth2_15.test"),
        "invalid_request", "code_verifier is required for PKCE authorization requests")
    err(await w.post("/oauth2/token", {**ac, "code": await w.code(challenge=challenge)}),
        "invalid_request", "code_verifier is required for PKCE authorization requests")


async def test_making_requests(gw: Gateway, clock: FakeClock) -> None:
    """describe "Making a request": "fails when no access_token is being sent in an
    application/json body", "works when a correct access_token is being sent in the querystring",
    "... in the custom header", "... in duplicate custom headers", "fails when missing access_token
    is being sent in the custom header", "fails when a correct access_token is being sent in the
    wrong header", "does not work when requesting a different API", "works when a correct
    access_token is being sent in a form body", "... in an authorization header (bearer)", "...
    (token)", "works with right credentials and anonymous", "works with wrong credentials and
    anonymous", "works with wrong credentials and username in anonymous", "errors when anonymous
    user doesn't exist"; describe "Authentication challenge" (all four, "returns 401 Unauthorized
    when token has expired" by moving the clock); describe "Global Credentials"; hide_credentials."""
    w = World(gw)
    await gw.load(w.c)
    r = await gw.request("POST", "/request", [("Content-Type", "application/json")], host="oauth2.test")
    assert r.status == 401 and r.json() == {"error": "invalid_request", "error_description": "The access token is missing"}
    assert r.header("WWW-Authenticate") == "Bearer"
    token = (await w.token())["access_token"]
    assert (await gw.request("GET", "/request?access_token=" + token, host="oauth2.test")).status == 200
    t11 = (await w.token("oauth2_11.test", "clientid1011", "secret1011"))["access_token"]
    assert (await gw.request("GET", "/request", [("custom_header_name", "bearer " + t11)], host="oauth2_11.test")).status == 200
    r = await gw.request("GET", "/request", [("custom_header_name", "bearer " + t11), ("custom_header_name", "bearer " + t11)],
                         host="oauth2_11.test")
    assert r.status == 200
    r = await gw.request("GET", "/request", [("custom_header_name", "")], host="oauth2_11.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + t11)], host="oauth2_11.test")
    assert r.status == 401
    r = await gw.request("GET", "/request?access_token=" + token, host="oauth2_3.test")
    assert r.status == 401 and r.json()["error"] == "invalid_token"
    r = await gw.request("POST", "/request", [("Content-Type", "application/x-www-form-urlencoded")], f"access_token={token}",
                         host="oauth2.test")
    assert r.status == 200
    for scheme in ("bearer", "token"):
        assert (await gw.request("POST", "/request", [("Authorization", f"{scheme} {token}")], host="oauth2.test")).status == 200

    # anonymous
    r = await gw.request("GET", "/request?access_token=" + (await w.token("oauth2_7.test"))["access_token"], host="oauth2_7.test")
    assert r.status == 200 and r.up_header("x-consumer-username") == "bob" and r.up_header("x-anonymous-consumer") is None
    for host in ("oauth2_7.test", "oauth2__c.test"):
        r = await gw.request("GET", "/request", host=host)
        assert r.status == 200 and r.up_header("x-consumer-username") == "no-body"
        assert r.up_header("x-anonymous-consumer") == "true" and r.up_header("x-authenticated-scope") is None
    assert (await gw.request("GET", "/request", host="oauth2_10.test")).status == 500

    # authentication challenge
    invalid = 'Bearer error="invalid_token" error_description="The access token is invalid or has expired"'
    r = await gw.request("GET", "/request?access_token=invalid", host="oauth2.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == invalid
    assert r.json() == {"error": "invalid_token", "error_description": "The access token is invalid or has expired"}
    r = await gw.request("POST", "/request", [("Authorization", "bearer invalid")], host="oauth2.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == invalid
    fresh = (await w.token())["access_token"]
    clock.now += 5
    assert (await gw.request("GET", "/request", [("Authorization", "bearer " + fresh)], host="oauth2.test")).status == 200
    clock.now += 1
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + fresh)], host="oauth2.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == invalid

    # global credentials: 8 and 9 share, oauth2.test does not
    g = (await w.token("oauth2_8.test"))["access_token"]
    assert (await gw.request("GET", "/request?access_token=" + g, host="oauth2_9.test")).status == 200
    r = await gw.request("GET", "/request?access_token=" + g, host="oauth2.test")
    assert r.status == 401 and r.json()["error_description"] == (
        "The access token is global, but the current plugin is configured without 'global_credentials'")
    local = (await w.token())["access_token"]
    assert (await gw.request("GET", "/request?access_token=" + local, host="oauth2_9.test")).status == 401

    # hide_credentials (route 3): the token leaves neither header nor query upstream
    t3 = (await w.token("oauth2_3.test"))["access_token"]
    r = await gw.request("GET", f"/request?access_token={t3}&x=1", host="oauth2_3.test")
    assert r.status == 200 and r.echo["args"] == {"x": "1"}
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + t3)], host="oauth2_3.test")
    assert r.status == 200 and r.up_header("authorization") is None
    shown = (await w.token())["access_token"]
    r = await gw.request("GET", "/request", [("Authorization", "bearer " + shown)], host="oauth2.test")
    assert r.up_header("authorization") == "bearer " + shown


async def test_refresh_token(gw: Gateway, clock: FakeClock) -> None:
    """describe "Refresh Token": "does not refresh an invalid access token", "refreshes an valid
    access token", "refreshes public app without a secret", "fails to refresh when a secret
    provided for public app", "fails to refresh when no secret provided for confidential app",
    "refreshes an valid access token and checks that it belongs to the application", "expires
    after refresh_token_ttl" (by the clock), "refreshing token fails when scope is mismatching";
    reuse_refresh_token keeps the refresh token."""
    w = World(gw)
    await gw.load(w.c)
    rt = {"client_id": "clientid123", "client_secret": "secret123", "grant_type": "refresh_token"}
    err(await w.post("/oauth2/token", {**rt, "refresh_token": "hello"}), "invalid_request", "Invalid refresh_token")
    token = await w.token()
    r = await w.post("/oauth2/token", {**rt, "refresh_token": token["refresh_token"]})
    assert r.status == 200 and r.json()["expires_in"] == 5 and r.json()["refresh_token"] != token["refresh_token"]
    assert (await gw.request("GET", "/request?access_token=" + token["access_token"], host="oauth2.test")).status == 401
    assert (await gw.request("GET", "/request?access_token=" + r.json()["access_token"], host="oauth2.test")).status == 200
    err(await w.post("/oauth2/token", {**rt, "refresh_token": token["refresh_token"]}), "invalid_request", "Invalid refresh_token")

    challenge, verifier = pkce()
    public = await w.token(client_id="clientid11211", secret=None, challenge=challenge, verifier=verifier)
    r = await w.post("/oauth2/token", {"refresh_token": public["refresh_token"], "client_id": "clientid11211", "grant_type": "refresh_token"})
    assert r.status == 200
    public = await w.token(client_id="clientid11211", secret=None, challenge=challenge, verifier=verifier)
    err(await w.post("/oauth2/token", {"refresh_token": public["refresh_token"], "client_id": "clientid11211",
                                       "client_secret": "secret11211", "grant_type": "refresh_token"}),
        "invalid_request", "client_secret is disallowed for public clients")
    token = await w.token()
    err(await w.post("/oauth2/token", {"refresh_token": token["refresh_token"], "client_id": "clientid123", "grant_type": "refresh_token"}),
        "invalid_client", "Invalid client authentication")
    err(await w.post("/oauth2/token", {**rt, "client_id": "clientid789", "client_secret": "secret789",
                                       "refresh_token": token["refresh_token"]}), "invalid_client", "Invalid client authentication")
    clock.now += 1209600 + 1  # refresh_token_ttl: the row is gone
    err(await w.post("/oauth2/token", {**rt, "refresh_token": token["refresh_token"]}), "invalid_request", "Invalid refresh_token")

    # reuse_refresh_token (route 13)
    kept = await w.token("oauth2_13.test")
    r = await w.post("/oauth2/token", {**rt, "refresh_token": kept["refresh_token"]}, "oauth2_13.test")
    assert r.status == 200 and r.json()["refresh_token"] == kept["refresh_token"]
    assert r.json()["access_token"] != kept["access_token"]
    r = await w.post("/oauth2/token", {**rt, "refresh_token": kept["refresh_token"]}, "oauth2_13.test")
    assert r.status == 200

    # "refreshing token fails when scope is mismatching" (global credentials, 18 → 19) and
    # "refreshing token succeeds when scope is a subset" (21 offers scope20 and scope21)
    t18 = await w.token("oauth2_18.test", scope="scope18")
    err(await w.post("/oauth2/token", {**rt, "refresh_token": t18["refresh_token"]}, "oauth2_19.test"),
        "invalid_scope", "Scope mismatch")
    t18 = await w.token("oauth2_18.test", scope="scope18")
    assert (await w.post("/oauth2/token", {**rt, "refresh_token": t18["refresh_token"]}, "oauth2_18.test")).status == 200
    t21 = await w.token("oauth2_21.test", scope="scope20")
    assert (await w.post("/oauth2/token", {**rt, "refresh_token": t21["refresh_token"]}, "oauth2_21.test")).status == 200


async def test_tokens_are_runtime_data(gw: Gateway, clock: FakeClock) -> None:
    """Issuing tokens writes the store without changing the configuration version (no rebuild),
    and the tokens stay out of exports; the decisions never show a token."""
    w = World(gw)
    await gw.load(w.c)
    store = gw.runtime.store
    version, rebuilds = store.version, gw.runtime.rebuilds
    token = await w.token()
    assert store.version == version and gw.runtime.rebuilds == rebuilds
    assert store.count("oauth2_tokens") == 1 and "oauth2_tokens" not in store.export()
    r = await gw.request("GET", "/request?access_token=" + token["access_token"], host="oauth2.test")
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None
    [d] = [d for d in entry.decisions if d.plugin == "oauth2"]
    assert d.outcome == "pass" and token["access_token"] not in repr(d)


async def test_json_bodies_scope_types_padding_and_plugin_instances(gw: Gateway, clock: FakeClock) -> None:
    """"returns HTTP 400 when scope is not a string" (JSON bodies), "success when code challenge
    contains padding", "succeeds when code challenge contains + or / characters", "fails when
    exchanging a code created by a different plugin instance when both plugin instances set
    global_credentials to true" (here oauth2_8 → oauth2_9)."""
    import json

    w = World(gw)
    await gw.load(w.c)

    async def post_json(path: str, body: dict[str, Any], host: str) -> Any:
        return await gw.request("POST", path, HTTPS + [("Content-Type", "application/json")], json.dumps(body), host=host)

    for value in (["email"], 123, False):
        r = await post_json("/oauth2/token", {"provision_key": "provision123", "authenticated_userid": "id123",
                                              "client_id": "clientid123", "client_secret": "secret123", "scope": value,
                                              "grant_type": "password"}, "oauth2_5.test")
        err(r, "invalid_scope", "scope must be a string")

    for verifier, challenge in (("abcdelfhigklmnopqrstuvwxyz0123456789abcdefg", "2aC4cMSkAsMRtZbhHhiZkDW3sddRf_iTRGil1r9gi8w="),
                                ("abcdelfhigklmnopqrstuvwxyz0123456789abcdefghijklmnop9", "0LoS6Gtrw16r07+ZXsCf8MeAi21QHmKc3LJdUCA5w/o=")):
        r = await post_json("/oauth2/authorize", {"provision_key": "provision123", "client_id": "clientid11211", "scope": "email",
                                                  "response_type": "code", "state": "hello", "authenticated_userid": "userid123",
                                                  "code_challenge": challenge}, "oauth2.test")
        code = re.fullmatch(r"http://google\.test/kong\?code=(\w{32})&state=hello", r.json()["redirect_uri"])
        assert code, r
        r = await post_json("/oauth2/token", {"code": code.group(1), "client_id": "clientid11211", "grant_type": "authorization_code",
                                              "code_verifier": verifier}, "oauth2.test")
        assert r.status == 200 and r.json()["token_type"] == "bearer" and r.json()["expires_in"] == 5, r

    code = await w.code("oauth2_8.test")
    err(await w.post("/oauth2/token", {"code": code, "client_id": "clientid123", "client_secret": "secret123",
                                       "grant_type": "authorization_code"}, "oauth2_9.test"), "invalid_request", "Invalid code")
