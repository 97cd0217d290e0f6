"""PEM certificates and keys, read and checked as Kong checks them (pure, no I/O).

Kong validates ``certificates`` and ``ca_certificates`` with OpenSSL
(``kong/db/schema/typedefs.lua`` ``validate_certificate``/``validate_key``,
``entities/certificates.lua``, ``entities/ca_certificates.lua``); here the same rules run on the
``cryptography`` package, with Kong's messages:

* ``invalid certificate: x509.new: ...`` / ``invalid key: pkey.new: ...`` for what does not parse;
* ``certificate does not match key`` / ``alternative certificate does not match key``;
* the alternative pair must be of another key type (RSA and ECDSA);
* a CA certificate: one certificate only, not expired, with the CA basic constraint.

A value that is a vault reference (``{vault://env/NAME}``) is not PEM yet: it is resolved when the
runtime builds its configuration, and checked then.

``describe`` gives what a person wants to see of a certificate (subject, issuer, names,
validity, days left), for the GUI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from .schema import is_reference as schema_is_reference

EXPIRY_WARNING_DAYS = 30


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and schema_is_reference(value)


def _detail(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"\s*See https?://\S+ for more details\.", "", text.splitlines()[0])
    return text.strip()


def load_chain(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM chain, leaf first. Raises ``ValueError`` with Kong's words."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid certificate: x509.new: {_detail(exc)}") from None
    if not certs:
        raise ValueError("invalid certificate: x509.new: no certificate found")
    return certs


def load_certificate(pem: str) -> x509.Certificate:
    return load_chain(pem)[0]


def load_key(pem: str) -> Any:
    try:
        return serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid key: pkey.new: {_detail(exc)}") from None
    except Exception as exc:  # unsupported algorithms come as UnsupportedAlgorithm
        raise ValueError(f"invalid key: pkey.new: {_detail(exc)}") from None


def _public_pem(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def key_type(cert: x509.Certificate) -> str:
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return "ED"
    return type(pub).__name__


# -- field validators (custom validators of the schema: an error message or None) --------------
def validate_certificate(value: str) -> str | None:
    if is_reference(value):
        return None
    try:
        load_chain(value)
    except ValueError as exc:
        return str(exc)
    return None


def validate_key(value: str) -> str | None:
    if is_reference(value):
        return None
    try:
        load_key(value)
    except ValueError as exc:
        return str(exc)
    return None


def _pair_matches(cert_pem: Any, key_pem: Any) -> bool | None:
    """None when either side is unset or a reference (nothing to compare yet)."""
    if not isinstance(cert_pem, str) or not isinstance(key_pem, str):
        return None
    if is_reference(cert_pem) or is_reference(key_pem):
        return None
    try:
        cert = load_certificate(cert_pem)
        key = load_key(key_pem)
    except ValueError:
        return None  # the field validators report it
    return _public_pem(cert.public_key()) == _public_pem(key.public_key())


# -- entity checks ---------------------------------------------------------------------------
def certificate_checks(entity: dict[str, Any]) -> str | None:
    """``certificates``: each pair matches, and the two pairs are of different key types."""
    if _pair_matches(entity.get("cert"), entity.get("key")) is False:
        return "certificate does not match key"
    if _pair_matches(entity.get("cert_alt"), entity.get("key_alt")) is False:
        return "alternative certificate does not match key"
    cert, alt = entity.get("cert"), entity.get("cert_alt")
    if isinstance(cert, str) and isinstance(alt, str) and not (is_reference(cert) or is_reference(alt)):
        try:
            same = key_type(load_certificate(cert)) == key_type(load_certificate(alt))
        except ValueError:
            return None
        if same:
            return ("certificate and alternative certificate need to have different type (e.g. RSA and "
                    "ECDSA), the provided certificates were both of the same type")
    return None


CERT_TAG = "-----BEGIN CERTIFICATE-----"


def ca_certificate_checks(entity: dict[str, Any], now: dt.datetime | None = None) -> str | None:
    """``ca_certificates``: one certificate, not expired, a CA."""
    pem = entity.get("cert")
    if not isinstance(pem, str) or is_reference(pem):
        return None
    if pem.count(CERT_TAG) > 1:
        return "please submit only one certificate at a time"
    try:
        cert = load_certificate(pem)
    except ValueError:
        return None
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < now:
        return 'certificate expired, "Not After" time is in the past'
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return 'certificate does not appear to be a CA because it is missing the "CA" basic constraint'
    return None


def cert_digest(pem: str) -> str | None:
    """SHA-256 of the DER certificate, hex (``ca_certificates.cert_digest``)."""
    try:
        cert = load_certificate(pem)
    except ValueError:
        return None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# -- for people --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertInfo:
    """What a person wants to know of a certificate. ``days_left`` and the properties are as of
    ``checked_at`` (when it was described); ``state_at`` tells for any other moment."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # subject alternative names, DNS then IP (the common name when none)
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    checked_at: dt.datetime
    days_left: int

    def days_left_at(self, now: dt.datetime) -> int:
        return (self.not_after - now).days

    def state_at(self, now: dt.datetime) -> str:
        """``expired``, ``not yet valid``, ``soon`` (fewer than ``EXPIRY_WARNING_DAYS`` days
        left) or ``ok``."""
        if now >= self.not_after:
            return "expired"
        if now < self.not_before:
            return "not yet valid"
        return "soon" if self.days_left_at(now) < EXPIRY_WARNING_DAYS else "ok"

    @property
    def expired(self) -> bool:
        return self.state_at(self.checked_at) == "expired"

    @property
    def expiring_soon(self) -> bool:
        return self.state_at(self.checked_at) == "soon"


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    names: tuple[str, ...] = ()
    if san is not None:
        names = (*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress)))
    return names or tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def describe(pem: str, now: dt.datetime | None = None) -> CertInfo:
    """What the GUI shows of a certificate (the first of a chain), as of ``now``. Raises
    ``ValueError`` (Kong's words) for what does not parse."""
    cert = load_certificate(pem)
    now = now or dt.datetime.now(dt.UTC)
    not_after = cert.not_valid_after_utc
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        key_type=key_type(cert),
        checked_at=now,
        days_left=(not_after - now).days,
    )


__all__ = [
    "CertInfo", "EXPIRY_WARNING_DAYS", "ca_certificate_checks", "cert_digest", "certificate_checks", "describe", "is_reference",
    "key_type", "load_certificate", "load_chain", "load_key", "validate_certificate", "validate_key",
]
