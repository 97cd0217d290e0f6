"""A PEM certificate as the certificates page shows it: the facts come from ``model.certs``
(``describe``: subject, issuer, names, validity, expiry state); this module only words them (no
Qt here, so it is easy to test)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from ..model import certs


@dataclass(frozen=True)
class CertView:
    """``model.certs.CertInfo`` for display, or why the PEM could not be read."""

    info: certs.CertInfo | None = None
    error: str | None = None  # the PEM could not be read: why

    @property
    def subject(self) -> str:
        return self.info.subject if self.info else ""

    @property
    def issuer(self) -> str:
        return self.info.issuer if self.info else ""

    @property
    def sans(self) -> list[str]:
        return list(self.info.names) if self.info else []

    @property
    def not_before(self) -> dt.datetime | None:
        return self.info.not_before if self.info else None

    @property
    def not_after(self) -> dt.datetime | None:
        return self.info.not_after if self.info else None

    def days_left(self, now: dt.datetime | None = None) -> int | None:
        return self.info.days_left_at(now or dt.datetime.now(dt.UTC)) if self.info else None

    def state(self, now: dt.datetime | None = None) -> str:
        """The model's ``state_at`` (``ok``, ``soon``, ``expired``, ``not yet valid``), or
        ``unreadable``."""
        return self.info.state_at(now or dt.datetime.now(dt.UTC)) if self.info else "unreadable"

    def expiry_text(self, now: dt.datetime | None = None) -> str:
        if self.info is None:
            return "unreadable"
        now = now or dt.datetime.now(dt.UTC)
        st = self.info.state_at(now)
        days = self.info.days_left_at(now)
        date = f"{self.info.not_after:%Y-%m-%d}"
        if st == "expired":
            return f"⚠ expired {date} ({-days} days ago)"
        if st == "soon":
            return f"⚠ expires {date} (in {days} days)"
        if st == "not yet valid":
            return f"⚠ not valid before {self.info.not_before:%Y-%m-%d}"
        return f"expires {date} (in {days} days)"


@functools.lru_cache(maxsize=256)  # the certificates page asks once per cell and per sort key
def parse_pem(pem: str | None) -> CertView:
    """The first certificate of a PEM chain, described by ``model.certs.describe``. (Cached: a
    ``CertView`` is frozen and holds no "now"; states are worked out when asked.)"""
    if not pem or "BEGIN CERTIFICATE" not in pem:
        return CertView(error="no PEM certificate")
    try:
        return CertView(certs.describe(pem))
    except ValueError as exc:
        return CertView(error=str(exc))  # Kong's words: "invalid certificate: x509.new: ..."
