"""``model.certs.describe``: the one certificate describer (the GUI's certificates page only words
what it returns). Certificates are generated here with ``cryptography``; every moment is given."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from konnect_desktop.model import certs

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _pem(cn: str, san: list[x509.GeneralName] | None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(START).not_valid_after(END))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_names_are_the_dns_then_ip_alternative_names_else_the_common_name() -> None:
    pem = _pem("api.test", [x509.DNSName("api.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    info = certs.describe(pem, now=dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
    assert info.names == ("api.test", "127.0.0.1") and info.key_type == "EC"
    assert info.subject == "CN=api.test" and info.days_left == 50
    assert certs.describe(_pem("bare.test", None), now=START).names == ("bare.test",)


@pytest.mark.parametrize(("at", "state"), [
    (START - dt.timedelta(seconds=1), "not yet valid"),
    (START, "ok"),
    (END - dt.timedelta(days=certs.EXPIRY_WARNING_DAYS), "ok"),
    (END - dt.timedelta(days=certs.EXPIRY_WARNING_DAYS - 1), "soon"),
    (END - dt.timedelta(seconds=1), "soon"),
    (END, "expired"),
])
def test_state_at_any_moment(at: dt.datetime, state: str) -> None:
    info = certs.describe(_pem("s.test", [x509.DNSName("s.test")]), now=at)
    assert info.state_at(at) == state
    assert info.expired == (state == "expired") and info.expiring_soon == (state == "soon")


def test_what_does_not_parse_is_refused_in_kongs_words() -> None:
    with pytest.raises(ValueError, match="^invalid certificate: x509.new: "):
        certs.describe("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
