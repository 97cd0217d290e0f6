"""Test-only certificates Kong would accept (tests/fixtures/tls): for entity and decK tests
that store certificates without a TLS handshake."""

from __future__ import annotations

from pathlib import Path

_DIR = Path(__file__).parent / "fixtures" / "tls"

CA_CERT = (_DIR / "ca.crt").read_text()
CERT = (_DIR / "ec.crt").read_text()
KEY = (_DIR / "ec.key").read_text()
RSA_CERT = (_DIR / "rsa.crt").read_text()
RSA_KEY = (_DIR / "rsa.key").read_text()


def new_ca_cert(name: str = "Generated CA") -> str:
    """A fresh self-signed CA certificate (distinct digest each call), valid for a year."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
