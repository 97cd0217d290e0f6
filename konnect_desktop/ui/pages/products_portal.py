"""The Products page's Dev Portal tabs: approvals, and the portal itself.

*Approvals*: every registration (pending first) with Approve / Reject for pending ones and Revoke
for approved ones. Approving runs the same code as the portal's auto-approval
(``PortalService.approve``): the developer's next portal page shows the key once. Revoking
deletes the registration's consumer: its key stops working with the next configuration rebuild,
which a waiting request triggers at once.

*Portal*: the address it is served on (start / stop on the running local runtime, open in the
browser) and its title, logo and colours.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from .products import ProductsPage

_ORDER = {"pending": 0, "approved": 1, "rejected": 2, "revoked": 3}



def row_table(columns: list[str], name: str) -> QTableWidget:
    """A read-only table whose rows are picked one at a time (the products page's lists)."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.setAccessibleName(name)
    return table

class ApprovalsTab(QWidget):
    def __init__(self, page: ProductsPage) -> None:
        super().__init__()
        self.page = page
        self.rows: list[dict[str, Any]] = []
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        intro = QLabel("Registrations from the Dev Portal. Versions with manual approval wait here; "
                       "approving creates the application's consumer, key, ACL group and consumer-group "
                       "membership. Revoking cuts the key off at once.")
        intro.setWordWrap(True)
        v.addWidget(intro)
        self.table = row_table(["Status", "Application", "Developer", "Product", "Version"], "Registrations")
        self.table.currentCellChanged.connect(lambda *_: self._selected())
        v.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.approve_button = QPushButton("Approve")
        self.approve_button.clicked.connect(lambda: self._act("approve"))
        self.reject_button = QPushButton("Reject")
        self.reject_button.clicked.connect(lambda: self._act("reject"))
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.clicked.connect(lambda: self._act("revoke"))
        for b in (self.approve_button, self.reject_button, self.revoke_button):
            row.addWidget(b)
        row.addStretch(1)
        v.addLayout(row)
        self.message = QLabel()
        self.message.setWordWrap(True)
        v.addWidget(self.message)
        self._selected()

    async def load(self) -> list[dict[str, Any]]:
        svc = self.page.service()
        rows = await asyncio.to_thread(svc.accounts.registrations)
        return sorted(rows, key=lambda r: (_ORDER.get(r["status"], 9), r["created_at"]))

    def show_data(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, text in enumerate((r["status"], r["app_name"], r["developer_email"], r["product"], r["version"])):
                self.table.setItem(i, j, QTableWidgetItem(str(text)))
        self.table.setCurrentCell(0 if rows else -1, 0)
        self._selected()

    def current(self) -> dict[str, Any] | None:
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def select(self, registration_id: str) -> None:
        for i, r in enumerate(self.rows):
            if r["id"] == registration_id:
                self.table.setCurrentCell(i, 0)

    def _selected(self) -> None:
        r = self.current()
        status = r["status"] if r else None
        self.approve_button.setEnabled(status in ("pending", "rejected"))
        self.reject_button.setEnabled(status == "pending")
        self.revoke_button.setEnabled(status == "approved")

    def _act(self, action: str) -> None:
        r = self.current()
        if r is None:
            return
        svc = self.page.service()

        async def work() -> Any:
            return await getattr(svc, action)(r["id"])

        def done(_result: Any) -> None:
            what = {"approve": "approved: the developer sees the key on their next portal page",
                    "reject": "rejected", "revoke": "revoked: its key no longer works"}[action]
            self.message.setText(f"✓ {r['app_name']} → {r['product']} {r['version']} {what}.")
            for table in ("consumers", "keyauth_credentials", "acls", "plugins"):
                self.page.session.sig_data_changed.emit(table)
            self.page.refresh()

        self.page.runner.run(work(), label=action.capitalize(), on_done=done,
                             on_error=lambda info: self.message.setText(f"⚠ {info.message}"))


class PortalTab(QWidget):
    def __init__(self, page: ProductsPage) -> None:
        super().__init__()
        self.page = page
        self.logo_data = ""
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        addr = QHBoxLayout()
        # the address is a window setting, remembered for the next "Serve portal"
        self.listen = QLineEdit(str(page.session.store.get_value("portal/listen", "127.0.0.1:0")))
        self.listen.setAccessibleName("Portal address")
        self.listen.setToolTip("HOST:PORT; 127.0.0.1 keeps it on this computer (port 0: any free port)")
        self.start_button = QPushButton("Serve portal")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        addr.addWidget(QLabel("Address"))
        addr.addWidget(self.listen, 1)
        addr.addWidget(self.start_button)
        addr.addWidget(self.stop_button)
        v.addLayout(addr)
        link = QHBoxLayout()
        self.url = QLabel("not served")
        self.url.setAccessibleName("Portal URL")
        self.open_button = QPushButton("Open in browser")
        self.open_button.clicked.connect(self.open_in_browser)
        link.addWidget(self.url, 1)
        link.addWidget(self.open_button)
        v.addLayout(link)
        form = QFormLayout()
        self.title = QLineEdit()
        self.title.setAccessibleName("Portal title")
        self.accent = QLineEdit()
        self.accent.setPlaceholderText("#1155cb")
        self.accent.setAccessibleName("Accent colour")
        self.background = QLineEdit()
        self.background.setPlaceholderText("#f7f8fa")
        self.background.setAccessibleName("Background colour")
        logo = QHBoxLayout()
        self.logo_label = QLabel("none")
        self.logo_button = QPushButton("Choose logo…")
        self.logo_button.clicked.connect(self.choose_logo)
        self.clear_logo_button = QPushButton("No logo")
        self.clear_logo_button.clicked.connect(lambda: self.set_logo(""))
        logo.addWidget(self.logo_label, 1)
        logo.addWidget(self.logo_button)
        logo.addWidget(self.clear_logo_button)
        form.addRow("Title", self.title)
        form.addRow("Accent colour", self.accent)
        form.addRow("Background", self.background)
        form.addRow("Logo (PNG or SVG)", logo)
        v.addLayout(form)
        self.save_button = QPushButton("Save appearance")
        self.save_button.clicked.connect(self.save)
        v.addWidget(self.save_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        v.addWidget(self.message)
        v.addStretch(1)

    def show_address(self) -> None:
        rt = self.page.runtime()
        running = rt is not None and rt.state == "running"
        served = running and rt.portal_url is not None
        self.url.setText(rt.portal_url if served else ("not served" if running else
                                                       "start the local runtime to serve the portal"))
        self.start_button.setEnabled(running and not served)
        self.stop_button.setEnabled(served)
        self.open_button.setEnabled(served)

    def start(self) -> None:
        rt = self.page.runtime()
        if rt is None:
            return
        self.page.session.store.set_value("portal/listen", self.listen.text().strip())
        self.page.runner.run(rt.start_portal(self.listen.text().strip()), label="Starting the portal",
                             on_done=lambda _url: (self.show_address(), self.page.refresh()),
                             on_error=lambda info: self.message.setText(f"⚠ {info.message}"))

    def stop(self) -> None:
        rt = self.page.runtime()
        if rt is not None:
            self.page.runner.run(rt.stop_portal(), label="Stopping the portal", on_done=lambda _r: self.show_address())

    def open_in_browser(self) -> None:
        rt = self.page.runtime()
        if rt is not None and rt.portal_url:
            QDesktopServices.openUrl(QUrl(rt.portal_url))

    def load_settings(self) -> None:
        svc = self.page.service()

        def show(s: dict[str, str]) -> None:
            self.title.setText(s["title"])
            self.accent.setText(s["accent"])
            self.background.setText(s["background"])
            self.set_logo(s["logo"])

        self.page.runner.run(asyncio.to_thread(svc.accounts.settings), label="Loading portal settings", on_done=show)

    def set_logo(self, data_url: str) -> None:
        self.logo_data = data_url
        self.logo_label.setText("set" if data_url else "none")

    def choose_logo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Portal logo", "", "Images (*.png *.svg)")
        if not path:
            return
        p = Path(path)

        async def read() -> bytes:
            return await asyncio.to_thread(p.read_bytes)

        mime = "image/svg+xml" if p.suffix.lower() == ".svg" else "image/png"
        self.page.runner.run(read(), label="Reading logo",
                             on_done=lambda raw: self.set_logo(f"data:{mime};base64,{base64.b64encode(raw).decode()}"))

    def save(self) -> None:
        svc = self.page.service()
        values = {"title": self.title.text(), "accent": self.accent.text().strip(),
                  "background": self.background.text().strip(), "logo": self.logo_data}
        self.page.runner.run(asyncio.to_thread(svc.accounts.update_settings, values), label="Saving appearance",
                             on_done=lambda _s: self.message.setText("✓ Saved: the portal's next page shows it."),
                             on_error=lambda info: self.message.setText(f"⚠ {info.message}"))


__all__ = ["ApprovalsTab", "PortalTab"]
