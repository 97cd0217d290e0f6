"""jwt through real sockets: Kong's spec/03-plugins/16-jwt/03-access_spec.lua cases, ported.

Keys are generated here (Kong's fixtures.lua carries its own PEMs; any valid key of the same type
exercises the same code). The clock the plugin reads is fixed (``auth_common.clock``), so expiry
cases never depend on when the test runs.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from e2e_plugin_support import Gateway

from konnect_desktop.plugins import auth_common
from konnect_desktop.plugins.jwt_parser import encode

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCESS = "spec/03-plugins/16-jwt/03-access_spec.lua"
NOW = 1_700_000_000


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_common, "clock", lambda: float(NOW))


def pem_pair(kind: str) -> tuple[str, str]:
    if kind == "rsa":
        priv: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ed25519":
        priv = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ed448":
        priv = ed448.Ed448PrivateKey.generate()
    else:
        priv = ec.generate_private_key({"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[kind])
    private = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    public = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def payload(**claims: Any) -> dict[str, Any]:
    """The spec's PAYLOAD: nbf/iat now, exp in an hour."""
    return {"nbf": NOW, "iat": NOW, "exp": NOW + 3600, **claims}


class World:
    """03-access_spec.lua's first lazy_setup: thirteen routes /jwt1 ... /jwt13 with its configs."""

    CONFIGS: dict[int, dict[str, Any]] = {
        1: {}, 2: {"uri_param_names": ["token", "jwt"]}, 3: {"claims_to_verify": ["nbf", "exp"]},
        4: {"key_claim_name": "aud"}, 5: {"secret_is_base64": True}, 8: {"run_on_preflight": False},
        9: {"cookie_names": ["silly", "crumble"], "realm": "test-jwt"}, 10: {"key_claim_name": "kid"},
        11: {"claims_to_verify": ["nbf", "exp"], "maximum_expiration": 300},
        12: {"header_names": ["CustomAuthorization"]},
    }

    def __init__(self, gw: Gateway) -> None:
        c, svc = gw.cfg()
        self.c = c
        self.anon = c.consumer("no-body")
        configs = dict(self.CONFIGS)
        configs[6] = {"anonymous": self.anon["id"]}
        configs[7] = {"anonymous": "5fa9a0c8-4d1c-4b53-9f39-0c3f2a1b8e77"}
        configs[13] = {"anonymous": "no-body"}
        for i, cfg in sorted(configs.items()):
            c.plugin("jwt", cfg, route=c.route(svc, paths=[f"/jwt{i}"]))
        self.consumer = c.consumer("jwt_tests_consumer")
        self.secret = c.add("jwt_secrets", key="key-1", secret="secret-1", consumer={"id": self.consumer["id"]})
        c6 = c.consumer("jwt_tests_consumer_6")
        self.secret2 = c.add("jwt_secrets", key="key-2", secret="secret-2", consumer={"id": c6["id"]})
        b64 = c.consumer("jwt_tests_base64_consumer")
        # the spec PATCHes the secret to its base64 form; here the file carries that form
        self.b64 = c.add("jwt_secrets", key="key-b64", secret=base64.b64encode(b"original-secret").decode(),
                         consumer={"id": b64["id"]})
        self.asym: dict[str, tuple[dict[str, Any], str]] = {}  # alg -> (secret, private pem)

    def add_asym(self, alg: str, kind: str, n: int = 1) -> None:
        private, public = pem_pair(kind)
        consumer = self.c.consumer(f"jwt_tests_{alg.lower()}_{kind}_{n}")
        secret = self.c.add("jwt_secrets", key=f"{alg}-{kind}", algorithm=alg, rsa_public_key=public,
                            consumer={"id": consumer["id"]})
        self.asym[f"{alg}-{kind}"] = (secret, private)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", "Bearer " + token)]


async def test_refusals(gw: Gateway) -> None:
    """describe "refusals": every `it` but the gRPC one (no gRPC client here)."""
    w = World(gw)
    await gw.load(w.c)
    s = w.secret

    r = await gw.request("GET", "/jwt1")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    assert r.json() == {"message": "Unauthorized"}

    r = await gw.request("GET", "/jwt1", bearer(encode(payload(), "foo")))
    assert r.status == 401 and r.json() == {"message": "No mandatory 'iss' in claims"}
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    r = await gw.request("GET", "/jwt1", bearer(encode(payload(iss=""), "foo")))
    assert r.json() == {"message": "Invalid 'iss' in claims"}
    r = await gw.request("GET", "/jwt1", bearer(encode(payload(iss="123456789"), s["secret"])))
    assert r.json() == {"message": "No credentials found for given 'iss'"}
    r = await gw.request("GET", "/jwt1", bearer(encode(payload(iss=s["key"]), "foo")))
    assert r.status == 401 and r.json() == {"message": "Invalid signature"}
    token = encode(payload(iss=s["key"]), s["secret"], "HS256", {"typ": "JWT", "alg": "RS256"})
    r = await gw.request("GET", "/jwt1", bearer(token))
    assert r.json() == {"message": "Invalid algorithm"}

    # "returns 200 on OPTIONS requests if run_on_preflight is false" / "... is true"
    assert (await gw.request("OPTIONS", "/jwt8")).status == 200
    r = await gw.request("OPTIONS", "/jwt1")
    assert r.status == 401 and r.json() == {"message": "Unauthorized"} and r.header("WWW-Authenticate") == "Bearer"

    # maximum_expiration: "returns 401 if the token exceeds ...", "accepts a JWT token within ..."
    r = await gw.request("GET", "/jwt11?jwt=" + encode({"iss": s["key"], "exp": NOW + 3600, "nbf": NOW - 30}, s["secret"]))
    assert r.status == 401 and r.json() == {"exp": "exceeds maximum allowed expiration"}
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    r = await gw.request("GET", "/jwt11?jwt=" + encode({"iss": s["key"], "exp": NOW + 270, "nbf": NOW - 30}, s["secret"]))
    assert r.status == 200

    # "reject if multiple different tokens found"
    r = await gw.request("GET", "/jwt1?jwt=" + encode(payload(iss=s["key"]), s["secret"]),
                         [("Authorization", "Bearer invalid.jwt.token")])
    assert r.status == 401 and r.json() == {"message": "Multiple tokens provided"}
    # the same token twice is one token
    same = encode(payload(iss=s["key"]), s["secret"])
    assert (await gw.request("GET", "/jwt1?jwt=" + same, bearer(same))).status == 200
    # a malformed token
    r = await gw.request("GET", "/jwt1", bearer("not-a-token"))
    assert r.status == 401 and r.json() == {"message": "Bad token; invalid JSON"}


async def test_hs256(gw: Gateway) -> None:
    """describe "HS256": "proxies the request with token and consumer headers if it was
    verified", "proxies the request if the key is found in headers", "... if secret key is stored
    in a field other than iss", "... if secret is base64", "returns 200 the JWT is found in the
    cookie crumble", "... cookie silly", "returns 401 if the JWT found in the cookie does not
    match a credential", "returns a 401 if the JWT in the cookie is corrupted", "reports a 200
    without cookies but with a JWT token in the Authorization header", "returns 401 if no JWT
    tokens are found in cookies or Authorization header", "returns 200 without cookies but with a
    JWT token in the CustomAuthorization header", "finds the JWT in the first header occurrence of
    a duplicated custom authorization header", "finds the JWT if given in URL parameters", "finds
    the JWT if given in a custom URL parameter"."""
    w = World(gw)
    await gw.load(w.c)
    s = w.secret
    token = encode(payload(iss=s["key"]), s["secret"])

    r = await gw.request("GET", "/jwt1", bearer(token) + [("X-Anonymous-Consumer", "true")])
    assert r.status == 200
    assert r.up_header("authorization") == "Bearer " + token
    assert r.up_header("x-consumer-username") == "jwt_tests_consumer"
    assert r.up_header("x-credential-identifier") == s["key"]
    assert r.up_header("x-anonymous-consumer") is None

    kid = encode(payload(), w.secret2["secret"], "HS256", {"typ": "JWT", "alg": "HS256", "kid": w.secret2["key"]})
    assert (await gw.request("GET", "/jwt10", bearer(kid))).status == 200
    aud = encode(payload(aud=s["key"]), s["secret"])
    r = await gw.request("GET", "/jwt4", bearer(aud))
    assert r.status == 200 and r.up_header("x-credential-identifier") == s["key"]
    r = await gw.request("GET", "/jwt5", bearer(encode(payload(iss=w.b64["key"]), "original-secret")))
    assert r.status == 200 and r.up_header("x-consumer-username") == "jwt_tests_base64_consumer"

    for cookie in ("crumble", "silly"):
        r = await gw.request("GET", "/jwt9", [("Cookie", f"{cookie}={token}; path=/;domain=.jwt9.test")])
        assert r.status == 200, cookie
    bad = encode(payload(iss="incorrect-issuer"), s["secret"])
    r = await gw.request("GET", "/jwt9", [("Cookie", f"silly={bad}; path=/;domain=.jwt9.test")])
    assert r.status == 401 and r.json() == {"message": "No credentials found for given 'iss'"}
    assert r.header("WWW-Authenticate") == 'Bearer realm="test-jwt" error="invalid_token"'
    r = await gw.request("GET", "/jwt9", [("Cookie", f"silly=no-way-this-works{token}; path=/;domain=.jwt9.test")])
    assert r.status == 401 and r.json() == {"message": "Bad token; invalid JSON"}
    assert (await gw.request("GET", "/jwt9", bearer(token))).status == 200
    r = await gw.request("GET", "/jwt9")
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Bearer realm="test-jwt"'

    assert (await gw.request("GET", "/jwt12", [("CustomAuthorization", "Bearer " + token)])).status == 200
    r = await gw.request("GET", "/jwt12", [("CustomAuthorization", "Bearer " + token),
                                           ("CustomAuthorization", "Bearer other-token")])
    assert r.status == 200
    assert (await gw.request("GET", "/jwt1?jwt=" + token)).status == 200
    assert (await gw.request("GET", "/jwt2?token=" + token)).status == 200


@pytest.mark.parametrize(("alg", "kind"), [
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"), ("ES256", "ES256"), ("ES384", "ES384"),
    ("ES512", "ES512"), ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
    ("EdDSA", "ed25519"), ("EdDSA", "ed448"), ("HS384", "hs"), ("HS512", "hs"),
])
async def test_algorithms(gw: Gateway, alg: str, kind: str) -> None:
    """describe "RS256"/"RS384"/"RS512"/"ES384"/"ES512"/"PS256"/"PS384"/"PS512": "verifies JWT",
    "identifies Consumer"; "EdDSA": "verifies JWT with Ed25519 key", "... Ed448 key";
    "HS386"/"HS512": "proxies the request with token and consumer headers if it was verified".
    ES256 is not in the spec; Kong 3.9's parser supports it and so does this one."""
    w = World(gw)
    if kind == "hs":
        consumer = w.c.consumer(f"jwt_tests_hs_{alg}")
        secret = w.c.add("jwt_secrets", key=f"{alg}-hs", algorithm=alg, secret="a" * 48, consumer={"id": consumer["id"]})
        private = "a" * 48
    else:
        w.add_asym(alg, kind)
        secret, private = w.asym[f"{alg}-{kind}"]
    await gw.load(w.c)
    token = encode(payload(iss=secret["key"]), private, alg)
    r = await gw.request("GET", "/jwt1", bearer(token))
    assert r.status == 200, r
    assert r.up_header("x-consumer-id") == secret["consumer"]["id"]
    assert r.up_header("x-credential-identifier") == secret["key"]
    # a token signed by another key of the same kind is refused
    if kind != "hs":
        other, _ = pem_pair(kind)
        r = await gw.request("GET", "/jwt1", bearer(encode(payload(iss=secret["key"]), other, alg)))
        assert r.status == 401 and r.json() == {"message": "Invalid signature"}


async def test_claims(gw: Gateway) -> None:
    """describe "JWT private claims checks": "requires the checked fields to be in the claims",
    "checks if the fields are valid: `exp` claim", "... `nbf` claim"."""
    w = World(gw)
    await gw.load(w.c)
    s = w.secret
    r = await gw.request("GET", "/jwt3?jwt=" + encode({"iss": s["key"]}, s["secret"]))
    assert r.status == 401 and r.json() == {"nbf": "must be a number", "exp": "must be a number"}
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    r = await gw.request("GET", "/jwt3?jwt=" + encode({"iss": s["key"], "exp": NOW - 10, "nbf": NOW - 10}, s["secret"]))
    assert r.status == 401 and r.json() == {"exp": "token expired"}
    r = await gw.request("GET", "/jwt3?jwt=" + encode({"iss": s["key"], "exp": NOW + 10, "nbf": NOW + 5}, s["secret"]))
    assert r.status == 401 and r.json() == {"nbf": "token not valid yet"}
    # exactly at exp the token is expired (exp <= now); one second before it is not
    r = await gw.request("GET", "/jwt3?jwt=" + encode({"iss": s["key"], "exp": NOW, "nbf": NOW}, s["secret"]))
    assert r.json() == {"exp": "token expired"}
    r = await gw.request("GET", "/jwt3?jwt=" + encode({"iss": s["key"], "exp": NOW + 1, "nbf": NOW}, s["secret"]))
    assert r.status == 200


async def test_anonymous(gw: Gateway) -> None:
    """describe "config.anonymous": "works with right credentials and anonymous", "works with
    wrong credentials and anonymous", "works with wrong credentials and username in anonymous",
    "errors when anonymous user doesn't exist"."""
    w = World(gw)
    await gw.load(w.c)
    s = w.secret
    r = await gw.request("GET", "/jwt6", bearer(encode(payload(iss=s["key"]), s["secret"])))
    assert r.status == 200 and r.up_header("x-consumer-username") == "jwt_tests_consumer"
    assert r.up_header("x-credential-identifier") == s["key"] and r.up_header("x-anonymous-consumer") is None
    for path in ("/jwt6", "/jwt13"):
        r = await gw.request("GET", path)
        assert r.status == 200 and r.up_header("x-anonymous-consumer") == "true"
        assert r.up_header("x-consumer-username") == "no-body" and r.up_header("x-credential-identifier") is None
    assert (await gw.request("GET", "/jwt7")).status == 500


async def test_logical_and_or_with_key_auth(gw: Gateway) -> None:
    """03-access_spec.lua, second describe: "multiple auth without anonymous, logical AND" and
    "multiple auth with anonymous, logical OR", each with all, first, second and no credential."""
    c, svc = gw.cfg()
    anonymous = c.consumer("Anonymous")
    user1, user2 = c.consumer("Mickey"), c.consumer("Aladdin")
    r_and, r_or = c.route(svc, paths=["/and"]), c.route(svc, paths=["/or"])
    c.plugin("jwt", {}, route=r_and)
    c.plugin("key-auth", {}, route=r_and)
    c.plugin("jwt", {"anonymous": anonymous["id"]}, route=r_or)
    c.plugin("key-auth", {"anonymous": anonymous["id"]}, route=r_or)
    c.add("keyauth_credentials", key="Mouse", consumer={"id": user1["id"]})
    secret = c.add("jwt_secrets", key="aladdin-key", secret="aladdin-secret", consumer={"id": user2["id"]})
    await gw.load(c)
    token = bearer(encode(payload(iss=secret["key"]), "aladdin-secret"))
    key = [("apikey", "Mouse")]

    r = await gw.request("GET", "/and", key + token)
    assert r.status == 200 and r.up_header("x-anonymous-consumer") is None
    assert (await gw.request("GET", "/and", key)).status == 401
    assert (await gw.request("GET", "/and", token)).status == 401
    assert (await gw.request("GET", "/and")).status == 401

    r = await gw.request("GET", "/or", key + token)
    assert r.status == 200 and r.up_header("x-consumer-id") != anonymous["id"]
    r = await gw.request("GET", "/or", key)
    assert r.status == 200 and r.up_header("x-consumer-id") == user1["id"]
    r = await gw.request("GET", "/or", token)
    assert r.status == 200 and r.up_header("x-consumer-id") == user2["id"]
    r = await gw.request("GET", "/or")
    assert r.status == 200 and r.up_header("x-consumer-id") == anonymous["id"]
    assert r.up_header("x-anonymous-consumer") == "true"


async def test_decision_never_shows_the_token(gw: Gateway) -> None:
    w = World(gw)
    await gw.load(w.c)
    token = encode(payload(iss=w.secret["key"]), w.secret["secret"])
    r = await gw.request("GET", "/jwt1", bearer(token))
    entry = gw.runtime.traffic.get(r.header("X-Kong-Request-Id"))
    assert entry is not None
    [d] = [d for d in entry.decisions if d.plugin == "jwt"]
    assert d.outcome == "pass" and token not in repr(d) and "secret-1" not in repr(d)
    r = await gw.request("GET", "/jwt1", bearer(encode(payload(iss=w.secret["key"]), "foo")))
    [d] = [d for d in gw.runtime.traffic.get(r.header("X-Kong-Request-Id")).decisions if d.plugin == "jwt"]
    assert d.outcome == "reject" and d.summary == "Invalid signature"


async def test_verified_signatures_are_remembered_safely(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token whose signature was verified is not verified again (a speed-up of ours), but its
    claims are checked on every request and a changed credential verifies it anew."""
    now = [float(NOW)]
    monkeypatch.setattr(auth_common, "clock", lambda: now[0])
    c, svc = gw.cfg()
    consumer = c.consumer("cached")
    secret = c.add("jwt_secrets", key="cache-key", secret="first-secret", consumer={"id": consumer["id"]})
    c.plugin("jwt", {"claims_to_verify": ["exp"]}, route=c.route(svc, paths=["/cached"]))
    await gw.load(c)
    token = encode({"iss": "cache-key", "exp": NOW + 10}, "first-secret")
    for _ in range(3):
        assert (await gw.request("GET", "/cached", bearer(token))).status == 200
    now[0] += 10
    r = await gw.request("GET", "/cached", bearer(token))
    assert r.status == 401 and r.json() == {"exp": "token expired"}
    now[0] -= 10
    secret["secret"] = "rotated-secret"
    await gw.load(c)
    r = await gw.request("GET", "/cached", bearer(token))
    assert r.status == 401 and r.json() == {"message": "Invalid signature"}
