"""Certificates: the runtime group's TLS certificates as a person reads them.

One row per certificate: the names it serves (its SNIs, else its subject alternative names),
subject, issuer, expiry and a status in words — "expired", "expires in N days" (under
``model.certs.EXPIRY_WARNING_DAYS``) or "valid" — so colour is never the only signal. The
selected certificate's details sit below the list: validity, key type, names, SNIs, the
alternative pair. A certificate held in a vault (``{vault://...}``) is shown as its reference:
the runtime resolves it, the app never reads the secret.

Read-only here; certificates are written through decK files, the Admin API or replication.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ...model import certs
from ..session import Session
from .base import Page

COLUMNS = ("Names", "Subject", "Issuer", "Expires", "Status")
ID_ROLE = Qt.ItemDataRole.UserRole  # each cell carries its certificate's id


def status_text(info: certs.CertInfo) -> str:
    if info.expired:
        return f"expired {-info.days_left} days ago" if info.days_left < -1 else "expired"
    if info.expiring_soon:
        return f"expires in {info.days_left} days"
    return f"valid · {info.days_left} days left"


def describe_row(cert: dict[str, Any], snis: list[str]) -> tuple[list[str], str]:
    """The row's cells and the details text of one certificate entity."""
    pem = cert.get("cert")
    if certs.is_reference(pem):
        names = ", ".join(snis) or "—"
        return [names, "(in a vault)", "", "", "resolved by the runtime"], f"Certificate: {pem}\nSNIs: {names}"
    try:
        info = certs.describe(pem or "")
    except ValueError as exc:
        return [", ".join(snis) or "—", "(unreadable)", "", "", "invalid"], str(exc)
    names = ", ".join(snis) if snis else ", ".join(info.names)
    row = [names, info.subject, info.issuer, info.not_after.strftime("%Y-%m-%d"), status_text(info)]
    details = [
        f"Subject: {info.subject}",
        f"Issuer: {info.issuer}",
        f"Names in the certificate: {', '.join(info.names) or '—'}",
        f"SNIs: {', '.join(snis) or '—'}",
        f"Valid from {info.not_before:%Y-%m-%d %H:%M} to {info.not_after:%Y-%m-%d %H:%M} UTC ({status_text(info)})",
        f"Key: {info.key_type}" + (" · alternative pair set" if cert.get("cert_alt") else ""),
    ]
    if info.expired:
        details.insert(0, "⚠ This certificate has expired: clients will refuse it.")
    elif info.expiring_soon:
        details.insert(0, f"⚠ This certificate expires in {info.days_left} days.")
    return row, "\n".join(details)


class CertificatesPage(Page):
    title = "Certificates"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search certificates…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search certificates")
        self.search.textChanged.connect(self._filter)
        self.header.addWidget(self.search)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Certificates")
        self.table.itemSelectionChanged.connect(self._selected)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Certificate details")
        self.body.addWidget(self.table, 3)
        self.body.addWidget(self.details, 1)
        self._details: dict[str, str] = {}
        session.sig_data_changed.connect(self._data_changed)

    def _data_changed(self, table: str) -> None:
        if table in ("certificates", "snis") and not self.isVisible():
            self.mark_stale()

    def refresh(self) -> None:
        self.runner.run(self.load(), label="Loading certificates", key="load")

    async def load(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        certificates = await cp.list_all("certificates")
        snis = await cp.list_all("snis")
        self.show_certificates(certificates, snis)

    def show_certificates(self, certificates: list[dict[str, Any]], snis: list[dict[str, Any]]) -> None:
        by_cert: dict[str, list[str]] = {}
        for s in snis:
            ref = s.get("certificate") or {}
            by_cert.setdefault(ref.get("id") if isinstance(ref, dict) else ref, []).append(s["name"])
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self._details.clear()
        for cert in certificates:
            row, details = describe_row(cert, sorted(by_cert.get(cert["id"], [])))
            r = self.table.rowCount()
            self.table.insertRow(r)
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, cert["id"])
                self.table.setItem(r, c, item)
            self._details[cert["id"]] = details
        self.table.setSortingEnabled(True)
        self.details.setText("" if not certificates else "Select a certificate to see its details.")
        self._filter(self.search.text())

    def _selected(self) -> None:
        items = self.table.selectedItems()
        if items:
            self.details.setText(self._details.get(items[0].data(ID_ROLE), ""))

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c).text().lower() for c in range(self.table.columnCount())]
            self.table.setRowHidden(r, bool(needle) and not any(needle in cell for cell in cells))

    def find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()


__all__ = ["CertificatesPage", "describe_row", "status_text"]
