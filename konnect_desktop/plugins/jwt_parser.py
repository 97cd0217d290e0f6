"""JSON Web Tokens as Kong's jwt plugin reads them (kong/plugins/jwt/jwt_parser.lua, restated).

``decode`` splits a token into header, claims and signature with Kong's error words ("invalid
JSON", "invalid alg", ...); ``verify_signature`` checks it with one of Kong 3.9's algorithms
(HS256/384/512, RS256/384/512, ES256/384/512 with raw r||s signatures, PS256/384/512, EdDSA)
through the ``cryptography`` package; ``verify_registered_claims`` and
``check_maximum_expiration`` return Kong's claim errors. ``encode`` signs a token (tests, bench,
and anyone who needs a token for the local gateway).

Parsed keys are cached by their PEM text: a configuration holds few, and parsing one costs far
more than a verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ..jsontypes import JSONObject

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# ES signatures are r||s of fixed width (RFC 7518 §3.4); jwt_parser.lua asserts these lengths
_ES_SIZE = {"ES256": 64, "ES384": 96, "ES512": 132}
ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
              "PS256", "PS384", "PS512", "EdDSA")


class InvalidKey(Exception):
    """The credential's key cannot be used (Kong: "Consumer Public Key is Invalid", a 500)."""


_URLSAFE = str.maketrans("-_", "+/")
_JSON = json.JSONDecoder()


def b64url_decode(text: str) -> bytes | None:
    """ngx.base64.decode_base64url with the padding jwt_parser.lua adds; None when malformed."""
    if not isinstance(text, str) or "+" in text or "/" in text:
        return None
    text = text.translate(_URLSAFE) + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Token:
    header_64: str
    claims_64: str
    header: JSONObject
    claims: JSONObject
    signature: bytes

    @property
    def signing_input(self) -> bytes:
        return f"{self.header_64}.{self.claims_64}".encode()


def decode(token: str) -> tuple[Token | None, str | None]:
    """(token, None) or (None, Kong's error: "invalid JSON", "invalid alg", "invalid claims")."""
    parts = token.split(".", 2)  # tokenize(token, ".", 3): the signature keeps any further dots
    if len(parts) < 3:
        return None, "invalid JSON"
    header_64, claims_64, signature_64 = parts
    raw_header, raw_claims, signature = b64url_decode(header_64), b64url_decode(claims_64), b64url_decode(signature_64)
    if raw_header is None or raw_claims is None or signature is None:
        return None, "invalid JSON"
    try:
        header = _JSON.decode(raw_header.decode())
        claims = _JSON.decode(raw_claims.decode())
    except (ValueError, UnicodeDecodeError):
        return None, "invalid JSON"
    if not isinstance(header, dict):
        return None, "invalid JSON"
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        return None, "invalid alg"
    if not isinstance(claims, dict):
        return None, "invalid claims"
    return Token(header_64, claims_64, header, claims, signature), None


@lru_cache(maxsize=256)
def _public_key(pem: str) -> PublicKeyTypes:
    data = pem.encode()
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        pass
    try:
        return serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, TypeError) as exc:
        raise InvalidKey("Consumer Public Key is Invalid") from exc


@lru_cache(maxsize=64)
def _private_key(pem: str) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def verify_signature(token: Token, key: str | bytes) -> bool:
    """Whether ``token`` is signed with ``key`` (the HS secret, or a PEM public key)."""
    alg = token.header["alg"]
    data = token.signing_input
    if alg in _HMAC:
        secret = key.encode() if isinstance(key, str) else key
        return hmac.compare_digest(token.signature, hmac.new(secret, data, _HMAC[alg]).digest())
    pub = _public_key(key.decode() if isinstance(key, bytes) else key)
    sig = token.signature
    try:
        if alg.startswith("RS") and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PKCS1v15(), _HASHES[alg[2:]]())
        elif alg.startswith("PS") and isinstance(pub, rsa.RSAPublicKey):
            if len(sig) != 256:
                return False
            h = _HASHES[alg[2:]]()
            pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.AUTO), h)
        elif alg.startswith("ES") and isinstance(pub, ec.EllipticCurvePublicKey):
            size = _ES_SIZE[alg]
            if len(sig) != size:
                return False
            half = size // 2
            der = encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
            pub.verify(der, data, ec.ECDSA(_HASHES[alg[2:]]()))
        elif alg == "EdDSA" and isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            pub.verify(sig, data)
        else:
            return False  # a key of another type cannot have made this signature
    except InvalidSignature:
        return False
    return True


def verify_registered_claims(token: Token, claims_to_verify: list[str] | None, now: float) -> JSONObject | None:
    """Kong's registered-claims check: None, or ``{"exp": "token expired", ...}``."""
    errors: JSONObject = {}
    for name in claims_to_verify or ():
        value = token.claims.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors[name] = "must be a number"
        elif name == "nbf" and value > now:
            errors[name] = "token not valid yet"
        elif name == "exp" and value <= now:
            errors[name] = "token expired"
    return errors or None


def check_maximum_expiration(token: Token, maximum: float, now: float) -> JSONObject | None:
    if maximum <= 0:
        return None
    exp = token.claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp - now > maximum:
        return {"exp": "exceeds maximum allowed expiration"}
    return None


def encode(claims: JSONObject, key: str | bytes, alg: str = "HS256", header: JSONObject | None = None) -> str:
    """A signed token (jwt_parser.lua's ``encode``): HS with a secret, others with a PEM private key."""
    head = header if header is not None else {"typ": "JWT", "alg": alg}
    signing_input = f"{b64url_encode(json.dumps(head).encode())}.{b64url_encode(json.dumps(claims).encode())}"
    data = signing_input.encode()
    if alg in _HMAC:
        secret = key.encode() if isinstance(key, str) else key
        sig = hmac.new(secret, data, _HMAC[alg]).digest()
    else:
        priv = _private_key(key.decode() if isinstance(key, bytes) else key)
        if alg.startswith("RS") and isinstance(priv, rsa.RSAPrivateKey):
            sig = priv.sign(data, padding.PKCS1v15(), _HASHES[alg[2:]]())
        elif alg.startswith("PS") and isinstance(priv, rsa.RSAPrivateKey):
            h = _HASHES[alg[2:]]()
            sig = priv.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH), h)
        elif alg.startswith("ES") and isinstance(priv, ec.EllipticCurvePrivateKey):
            half = _ES_SIZE[alg] // 2
            r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(_HASHES[alg[2:]]())))
            sig = r.to_bytes(half, "big") + s.to_bytes(half, "big")
        elif alg == "EdDSA" and isinstance(priv, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            sig = priv.sign(data)
        elif alg.startswith(("RS", "PS", "ES")) or alg == "EdDSA":
            raise ValueError(f"the key is not a {alg} private key")
        else:
            raise ValueError(f"Algorithm not supported: {alg}")
    return f"{signing_input}.{b64url_encode(sig)}"


__all__ = ["ALGORITHMS", "InvalidKey", "Token", "b64url_decode", "b64url_encode", "check_maximum_expiration",
           "decode", "encode", "verify_registered_claims", "verify_signature"]
