"""What a user wants to know about a PEM certificate: subject, issuer, names, validity, and how
many days are left, parsed with ``cryptography`` (no Qt here, so it is easy to test)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

EXPIRY_WARNING_DAYS = 30  # "expires soon" below this many days


@dataclass
class CertInfo:
    subject: str = ""
    issuer: str = ""
    sans: list[str] = field(default_factory=list)
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    error: str | None = None  # the PEM could not be read: why

    def days_left(self, now: dt.datetime | None = None) -> int | None:
        if self.not_after is None:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).days

    def state(self, now: dt.datetime | None = None) -> str:
        """``ok``, ``soon`` (fewer than EXPIRY_WARNING_DAYS days), ``expired``, ``not yet valid``
        or ``unreadable``."""
        if self.error is not None or self.not_after is None:
            return "unreadable"
        now = now or dt.datetime.now(dt.UTC)
        if now >= self.not_after:
            return "expired"
        if self.not_before is not None and now < self.not_before:
            return "not yet valid"
        return "soon" if (self.not_after - now).days < EXPIRY_WARNING_DAYS else "ok"

    def expiry_text(self, now: dt.datetime | None = None) -> str:
        st = self.state(now)
        if st == "unreadable":
            return "unreadable"
        days = self.days_left(now) or 0
        date = self.not_after.strftime("%Y-%m-%d") if self.not_after else "?"
        if st == "expired":
            return f"⚠ expired {date} ({-days} days ago)"
        if st == "soon":
            return f"⚠ expires {date} (in {days} days)"
        if st == "not yet valid":
            return f"⚠ not valid before {self.not_before:%Y-%m-%d}" if self.not_before else "⚠ not yet valid"
        return f"expires {date} (in {days} days)"


def parse_pem(pem: str | None) -> CertInfo:
    """The first certificate of a PEM chain, described."""
    if not pem or "BEGIN CERTIFICATE" not in pem:
        return CertInfo(error="no PEM certificate")
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        return CertInfo(error=f"not a readable certificate: {exc}")
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
        sans += [str(v) for v in ext.value.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return CertInfo(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(), sans=sans,
                    not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc)
