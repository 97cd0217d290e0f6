"""Certificates made in the test: a CA, leaf certificates for names (RSA or ECDSA), expired ones,
client certificates; PEM text, and files for ``ssl`` contexts. Nothing here touches the network."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def _key(kind: str):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@dataclass
class Pair:
    cert: str
    key: str
    cert_obj: x509.Certificate

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        c, k = directory / f"{stem}.crt", directory / f"{stem}.key"
        c.write_text(self.cert)
        k.write_text(self.key)
        return c, k


class CA:
    def __init__(self, name: str = "Test CA", kind: str = "ec", expired: bool = False,
                 parent: CA | None = None) -> None:
        """A root CA, or with ``parent`` an intermediate CA signed by it."""
        self.key = _key(kind)
        self.parent = parent
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start, end = (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1)) if expired else \
            (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=365))
        self.cert = (
            x509.CertificateBuilder().subject_name(subject)
            .issuer_name(parent.cert.subject if parent else subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(parent.key if parent else self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, *names: str, kind: str = "ec", days: int = 365, client: bool = False,
              cn: str | None = None, ips: tuple[str, ...] = ()) -> Pair:
        key = _key(kind)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or (names[0] if names else "client"))])
        end = NOW + dt.timedelta(days=days)  # days < 0: already expired
        start = min(NOW - dt.timedelta(days=1), end - dt.timedelta(days=30))
        b = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if names or ips:
            import ipaddress

            alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        if self.parent is not None:  # the chain a server sends: leaf, then this intermediate
            pem += self.pem
        return Pair(pem, _pem_key(key), cert)

    def client_context(self) -> ssl.SSLContext:
        """A client that trusts only this CA (hostname checked)."""
        ctx = ssl.create_default_context(cadata=self.pem)
        return ctx


def self_signed(*names: str, kind: str = "ec") -> Pair:
    ca = CA(names[0] if names else "self", kind=kind)
    return Pair(ca.cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(ca.key), ca.cert)


def server_context(pair: Pair, directory: Path, *, client_ca: CA | None = None) -> ssl.SSLContext:
    """A server's TLS: its pair, and with ``client_ca`` a client certificate from that CA required."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert, key = pair.write(directory, "server")
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.pem)
    return ctx
