"""Certificates & SNIs: each certificate with what its PEM says (subject, issuer, names,
validity, days to expiry; expired or soon-expiring ones are flagged in words, not colour alone),
its form (the key stays masked), and the SNIs that select it, added and removed here."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..cert_info import CertView, parse_pem
from ..forms import FormLayout
from ..models import Column
from ..theme import set_status
from .entity_page import EntityListPage

_STATUS = {"ok": "ok", "soon": "warn", "expired": "error", "not yet valid": "warn", "unreadable": "error"}


def _info(cert: dict[str, Any]) -> CertView:
    return parse_pem(cert.get("cert"))


class CertificateDetails(QWidget):
    """The parsed certificate and its SNIs."""

    def __init__(self, page: CertificatesPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = page
        self.cert: dict[str, Any] | None = None
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 4, 0, 0)
        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, label in (("subject", "Subject"), ("issuer", "Issuer"), ("sans", "Names (SANs)"),
                           ("validity", "Valid"), ("expiry", "Expiry")):
            lab = QLabel()
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = lab
            form.addRow(label, lab)
        v.addLayout(form)
        title = QLabel("SNIs (server names that select this certificate)")
        title.setStyleSheet("font-weight: 600")
        v.addWidget(title)
        self.snis = QListWidget()
        self.snis.setAccessibleName("SNIs")
        self.snis.setMaximumHeight(110)
        v.addWidget(self.snis)
        row = QHBoxLayout()
        self.sni_name = QLineEdit()
        self.sni_name.setPlaceholderText("api.example.com or *.example.com")
        self.sni_name.setAccessibleName("SNI name")
        self.sni_name.returnPressed.connect(self.add_sni)
        self.add_button = QPushButton("+ Add SNI")
        self.add_button.clicked.connect(self.add_sni)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_sni)
        row.addWidget(self.sni_name, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        v.addLayout(row)
        v.addStretch(1)

    def set_certificate(self, cert: dict[str, Any] | None) -> None:
        self.cert = cert
        for w in (self.sni_name, self.add_button, self.remove_button):
            w.setEnabled(cert is not None)
        self.snis.clear()
        if cert is None:
            for lab in self.fields.values():
                lab.setText("")
            return
        info = _info(cert)
        if info.error:
            for lab in self.fields.values():
                lab.setText("")
            set_status(self.fields["expiry"], "error", f"✕ {info.error}")
        else:
            self.fields["subject"].setText(info.subject)
            self.fields["issuer"].setText(info.issuer)
            self.fields["sans"].setText(", ".join(info.sans) or "none")
            self.fields["validity"].setText(f"{info.not_before:%Y-%m-%d} → {info.not_after:%Y-%m-%d}")
            set_status(self.fields["expiry"], _STATUS[info.state()], info.expiry_text())
        self.page.runner.run(self.load_snis(cert), label="Loading SNIs", key="snis")

    async def load_snis(self, cert: dict[str, Any]) -> None:
        rows = await self.page.session.require_cp().list_all("snis", parent=("certificates", cert["id"]))
        if self.cert is not cert:
            return
        self.snis.clear()
        for s in rows:
            it = QListWidgetItem(s.get("name") or "")
            it.setData(Qt.ItemDataRole.UserRole, s["id"])
            self.snis.addItem(it)

    def add_sni(self) -> None:
        name = self.sni_name.text().strip()
        if self.cert is None or not name:
            return
        cert = self.cert

        async def create() -> None:
            await self.page.session.create("snis", {"name": name, "certificate": {"id": cert["id"]}})
            self.sni_name.clear()
            await self.load_snis(cert)

        self.page.runner.run(create(), label="Adding SNI", key="sni-write")

    def remove_sni(self) -> None:
        it = self.snis.currentItem()
        if self.cert is None or it is None:
            return
        cert, ident = self.cert, it.data(Qt.ItemDataRole.UserRole)

        async def delete() -> None:
            await self.page.session.delete("snis", ident)
            await self.load_snis(cert)

        self.page.runner.run(delete(), label="Removing SNI", key="sni-write")


class CertificatesPage(EntityListPage):
    title = "Certificates"
    table = "certificates"
    noun = "certificate"
    form_layout = FormLayout(order=["cert", "key", "cert_alt", "key_alt", "tags"])
    search_keys = ("id", "tags", "cert")

    def columns(self) -> list[Column]:
        def subject(c: dict[str, Any]) -> str:
            info = _info(c)
            return info.error or info.subject

        def days(c: dict[str, Any]) -> Any:
            d = _info(c).days_left()
            return (0, d if d is not None else -10**9, "")

        return [
            Column("subject", "subject", text=subject),
            Column("sans", "names", text=lambda c: ", ".join(_info(c).sans)),
            Column("expiry", "expiry", text=lambda c: _info(c).expiry_text(), sort_key=days),
            Column("tags", "tags"),
        ]

    def build_extras(self) -> QWidget:
        self.details = CertificateDetails(self)
        return self.details

    def entity_shown(self, entity: dict[str, Any] | None) -> None:
        self.details.set_certificate(entity)
