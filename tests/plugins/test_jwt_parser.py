"""The JWT parser, ported from spec/03-plugins/16-jwt/01-jwt_parser_spec.lua, plus properties:
whatever claims and secret, an encoded token decodes to the same claims and verifies only with
its own key; malformed tokens are refused with Kong's words, never an exception."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.plugins.jwt_parser import (
    b64url_decode,
    b64url_encode,
    check_maximum_expiration,
    decode,
    encode,
    verify_registered_claims,
    verify_signature,
)

NOW = 1_700_000_000


def pair(kind: str) -> tuple[str, str]:
    makers: dict[str, Any] = {
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()), "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate, "ed448": ed448.Ed448PrivateKey.generate,
    }
    priv = makers[kind]()
    return (priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
            priv.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


RSA = pair("rsa")


@pytest.mark.parametrize(("alg", "kind"), [
    ("HS256", None), ("HS384", None), ("HS512", None), ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("ES256", "ES256"), ("ES384", "ES384"), ("ES512", "ES512"), ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
    ("EdDSA", "ed25519"), ("EdDSA", "ed448"),
])
def test_encode_and_verify(alg: str, kind: str | None) -> None:
    """describe "Encoding" ("should properly encode using HS256" ... "should encode using EdDSA with
    Ed448 key") and "verify signature" ("using HS256" ... "using PS512")."""
    private, public = (RSA if kind == "rsa" else pair(kind)) if kind else ("secret", "secret")
    token = encode({"sub": "1234567890", "name": "John Doe", "admin": True}, private, alg)
    jwt, err = decode(token)
    assert err is None and jwt is not None
    assert jwt.claims == {"sub": "1234567890", "name": "John Doe", "admin": True}
    assert verify_signature(jwt, public)
    other = "invalid" if not kind else (pair("rsa")[1] if kind == "rsa" else pair(kind)[1])
    assert not verify_signature(jwt, other)


def test_decoding() -> None:
    """describe "Decoding": "refuses invalid alg", "accepts a valid encoding request", "... with
    lowercase TYP", "... with missing TYP"."""
    assert decode(encode({"sub": "1234"}, "secret", header={"typ": "JWT", "alg": "foo"}))[1] == "invalid alg"
    for header in ({"typ": "JWT", "alg": "RS256"}, {"typ": "jwt", "alg": "RS256"}, {"alg": "RS256"}):
        assert decode(encode({"sub": "1234"}, "secret", header=header))[1] is None
    assert decode("a.b")[1] == "invalid JSON"
    assert decode("!!.??.**")[1] == "invalid JSON"
    assert decode(b64url_encode(b'{"alg":"HS256"}') + "." + b64url_encode(b"[1]") + ".")[1] == "invalid claims"


def test_registered_claims() -> None:
    """describe "verify registered claims": "requires claims passed as arguments", "checks the type
    of given registered claims", "checks the exp claim", "checks the nbf claim"."""
    jwt, _ = decode(encode({"sub": "foo"}, "secret"))
    assert jwt is not None
    assert verify_registered_claims(jwt, ["exp", "nbf"], NOW) == {"exp": "must be a number", "nbf": "must be a number"}
    assert verify_registered_claims(jwt, ["nbf"], NOW) == {"nbf": "must be a number"}
    jwt, _ = decode(encode({"exp": "bar", "nbf": "foo"}, "secret"))
    assert verify_registered_claims(jwt, ["exp", "nbf"], NOW) == {"exp": "must be a number", "nbf": "must be a number"}
    jwt, _ = decode(encode({"exp": NOW - 10}, "secret"))
    assert verify_registered_claims(jwt, ["exp"], NOW) == {"exp": "token expired"}
    jwt, _ = decode(encode({"nbf": NOW + 10}, "secret"))
    assert verify_registered_claims(jwt, ["nbf"], NOW) == {"nbf": "token not valid yet"}
    jwt, _ = decode(encode({"exp": True}, "secret"))
    assert verify_registered_claims(jwt, ["exp"], NOW) == {"exp": "must be a number"}  # a JSON boolean is not a number
    jwt, _ = decode(encode({"exp": NOW + 301}, "secret"))
    assert check_maximum_expiration(jwt, 300, NOW) == {"exp": "exceeds maximum allowed expiration"}
    assert check_maximum_expiration(jwt, 301, NOW) is None


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5), st.text(min_size=1, max_size=40),
       st.sampled_from(["HS256", "HS384", "HS512"]))
def test_round_trip(claims: dict[str, Any], secret: str, alg: str) -> None:
    jwt, err = decode(encode(claims, secret, alg))
    assert err is None and jwt is not None and jwt.claims == claims
    assert verify_signature(jwt, secret)
    assert not verify_signature(jwt, secret + "x")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_garbage_is_refused_not_raised(token: str) -> None:
    jwt, err = decode(token)
    assert (jwt is None) == (err is not None)
    assert err in (None, "invalid JSON", "invalid alg", "invalid claims")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_b64url(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data
