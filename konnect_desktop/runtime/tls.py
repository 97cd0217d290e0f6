"""HTTPS on the proxy, as Kong's ``proxy_listen ... ssl``: the server-side TLS of one runtime.

* ``TlsTerminator.context`` is the listener's ``ssl.SSLContext`` (TLS 1.2+, ALPN ``http/1.1``);
  its SNI callback picks, per handshake, the certificate of the store's ``snis`` that matches the
  name the client asked for, with Kong's precedence (``kong/runloop/certificate.lua``): the exact
  name, then the prefix wildcard (``*.example.com`` for ``a.example.com``), then the suffix
  wildcard (``a.example.*``). No SNI, or no match: the certificate of the SNI named ``*`` if
  there is one, else the runtime's default certificate.
* A certificate entity becomes one context holding its pair and, when set, its alternative pair
  (RSA next to ECDSA: OpenSSL offers the one the client supports). Contexts are cached by the
  PEM they were made from, so a rebuild that leaves certificates alone makes none.
* The default certificate is self-signed (``localhost``, ``127.0.0.1``, ``::1``), generated once
  per runtime group and kept beside its store: ``<store>.default-cert.pem`` and
  ``<store>.default-key.pem``, the key readable by its owner only (0600).

``build_index(config)`` runs in a worker thread with each configuration rebuild (Python's ``ssl``
loads PEM only from files: each pair is written to a private temporary directory for the load
and removed at once); the event loop only swaps ``index`` in. Vault references in certificate
fields are resolved before this module sees them (``runtime.vault``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..jsontypes import JSONObject
from ..model.certs import is_reference
from ..model.schema import foreign_id

log = logging.getLogger(__name__)

ALPN = ["http/1.1"]
DEFAULT_CN = "localhost"
DEFAULT_DAYS = 3650


# -- the default certificate --------------------------------------------------------------------
def generate_self_signed(names: Iterable[str] = ("localhost",), ips: Iterable[str] = ("127.0.0.1", "::1"),
                         days: int = DEFAULT_DAYS) -> tuple[str, str]:
    """A self-signed ECDSA P-256 certificate for ``names``/``ips``: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(names)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else DEFAULT_CN),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Konnect Desktop local runtime")])
    now = dt.datetime.now(dt.UTC)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def default_pair_paths(store_path: Path) -> tuple[Path, Path]:
    return (store_path.with_name(store_path.name + ".default-cert.pem"),
            store_path.with_name(store_path.name + ".default-key.pem"))


def load_or_create_default(store_path: Path) -> tuple[str, str]:
    """The runtime group's default certificate: read from beside the store, or made once."""
    cert_path, key_path = default_pair_paths(store_path)
    if cert_path.exists() and key_path.exists():
        return cert_path.read_text(), key_path.read_text()
    cert, key = generate_self_signed()
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    # the key is created 0600 from the start: never readable by others, not even for a moment
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    cert_path.write_text(cert)
    return cert, key


# -- contexts -----------------------------------------------------------------------------------
def _base_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(ALPN)
    return ctx


def load_pairs(ctx: ssl.SSLContext, pairs: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory(prefix="kd-tls-") as tmp:  # created 0700
        for i, (cert, key) in enumerate(pairs):
            cpath, kpath = Path(tmp) / f"{i}.crt", Path(tmp) / f"{i}.key"
            cpath.write_text(cert)
            fd = os.open(kpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key)
            ctx.load_cert_chain(cpath, kpath)


def _usable(c: object, k: object) -> tuple[str, str] | None:
    """The (cert, key) PEM pair when both are PEM text (not unresolved vault references)."""
    if isinstance(c, str) and isinstance(k, str) and not is_reference(c) and not is_reference(k):
        return c, k
    return None


def _pairs_of(cert: JSONObject) -> list[tuple[str, str]] | None:
    """The PEM pairs to serve; None when the main pair is an unresolved reference. An
    unresolved alternative pair is left out (Kong serves the main pair alone then)."""
    main = _usable(cert.get("cert"), cert.get("key"))
    if main is None:
        return None
    pairs = [main]
    alt = _usable(cert.get("cert_alt"), cert.get("key_alt"))
    if alt is not None and alt[0] and alt[1]:
        pairs.append(alt)
    return pairs


class SniIndex:
    """Server name → context, and the default context."""

    def __init__(self, exact: dict[str, ssl.SSLContext], default: ssl.SSLContext) -> None:
        self.exact = exact
        self.default = default

    def select(self, server_name: str | None) -> ssl.SSLContext:
        """Kong's order (``runloop/certificate.lua``): exact, then the prefix wildcard (``*.b.c``
        for ``a.b.c``: three labels at least), then the suffix wildcard (``a.b.*``), then the SNI
        named ``*``, then the runtime's default certificate."""
        exact = self.exact
        if server_name:
            name = server_name.lower().rstrip(".")
            ctx = exact.get(name)
            if ctx is not None:
                return ctx
            _first, dot, rest = name.partition(".")
            if dot and "." in rest:
                ctx = exact.get("*." + rest)
                if ctx is not None:
                    return ctx
            head, dot, _last = name.rpartition(".")
            if dot:
                ctx = exact.get(head + ".*")
                if ctx is not None:
                    return ctx
        return exact.get("*", self.default)


class TlsTerminator:
    """The HTTPS listener's TLS: one ``context`` whose SNI callback serves ``index``."""

    def __init__(self, default_cert: str, default_key: str) -> None:
        self._cache: dict[str, ssl.SSLContext] = {}
        self.default = self._context_for([(default_cert, default_key)])
        self.index = SniIndex({}, self.default)
        self.context = _base_context()
        load_pairs(self.context, [(default_cert, default_key)])
        self.context.sni_callback = self._on_sni
        self.errors: list[str] = []  # certificates that could not be loaded (last build)

    def _context_for(self, pairs: list[tuple[str, str]]) -> ssl.SSLContext:
        digest = hashlib.sha256(repr(pairs).encode()).hexdigest()
        ctx = self._cache.get(digest)
        if ctx is None:
            ctx = _base_context()
            load_pairs(ctx, pairs)
            self._cache[digest] = ctx
        return ctx

    def build_index(self, config: dict[str, list[JSONObject]]) -> SniIndex:
        """Contexts for the configuration's certificates, by SNI name (worker thread)."""
        by_id: dict[str, ssl.SSLContext] = {}
        used: set[str] = set()
        errors: list[str] = []
        for cert in config.get("certificates", ()):
            pairs = _pairs_of(cert)
            if pairs is None:
                errors.append(f"certificate {cert.get('id')}: a vault reference could not be resolved")
                continue
            try:
                ctx = self._context_for(pairs)
            except (ssl.SSLError, OSError, ValueError) as exc:
                errors.append(f"certificate {cert.get('id')}: {exc}")
                continue
            by_id[cert["id"]] = ctx
            used.add(hashlib.sha256(repr(pairs).encode()).hexdigest())
        exact: dict[str, ssl.SSLContext] = {}
        for sni in config.get("snis", ()):
            cert_id = foreign_id(sni.get("certificate"))
            sni_ctx = by_id.get(cert_id) if cert_id is not None else None
            if sni_ctx is not None and isinstance(sni.get("name"), str):
                exact[sni["name"].lower()] = sni_ctx
        # forget contexts of certificates no longer configured (the default stays)
        default_digest = next((d for d, c in self._cache.items() if c is self.default), None)
        self._cache = {d: c for d, c in self._cache.items() if d in used or d == default_digest}
        self.errors = errors
        return SniIndex(exact, self.default)

    def _on_sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        sslobj.context = self.index.select(server_name)
        # the name the client asked for, for routes' ``snis`` (read back with ``server_name_of``)
        with contextlib.suppress(AttributeError):
            # an attribute of our own on the SSLObject, which typeshed does not declare
            sslobj.requested_server_name = server_name  # type: ignore[attr-defined]


def server_name_of(ssl_object: object) -> str | None:
    """The SNI a TLS connection's client sent (None without SNI or TLS)."""
    return getattr(ssl_object, "requested_server_name", None)


__all__ = [
    "ALPN", "SniIndex", "TlsTerminator", "default_pair_paths", "server_name_of", "generate_self_signed", "load_or_create_default",
]
