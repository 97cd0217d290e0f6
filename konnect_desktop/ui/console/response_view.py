"""The response: a status line (status · time · size · connection), then Body (pretty or raw),
Headers, Timing (each phase, what could not be measured says so) and cURL."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...console.sender import Exchange, fmt_size
from ..theme import set_status
from . import mono, status_tone


def _table(cols: list[str], name: str) -> QTableWidget:
    t = QTableWidget(0, len(cols))
    t.setHorizontalHeaderLabels(cols)
    t.setAccessibleName(name)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(22)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(len(cols) - 1, QHeaderView.ResizeMode.Stretch)
    return t


def fill(t: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            t.setItem(r, c, QTableWidgetItem(v))
    t.resizeColumnToContents(0)


class ResponseView(QWidget):
    sig_copy_curl = Signal(bool)  # with secrets?

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel("No request sent yet. Press Ctrl+Enter to send.")
        self.status.setProperty("status", "muted")
        self.status.setAccessibleName("Response status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        f = self.status.font()
        f.setBold(True)
        self.status.setFont(f)
        lay.addWidget(self.status)
        self.tabs = QTabWidget()
        # body
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 4, 0, 0)
        mode = QHBoxLayout()
        self.pretty = QRadioButton("Pretty")
        self.raw = QRadioButton("Raw")
        self.pretty.setChecked(True)
        grp = QButtonGroup(self)
        grp.addButton(self.pretty)
        grp.addButton(self.raw)
        self.pretty.toggled.connect(self._show_body)
        self.body_info = QLabel()
        self.body_info.setObjectName("Muted")
        mode.addWidget(self.pretty)
        mode.addWidget(self.raw)
        mode.addStretch(1)
        mode.addWidget(self.body_info)
        bl.addLayout(mode)
        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setFont(mono())
        self.body.setAccessibleName("Response body")
        bl.addWidget(self.body, 1)
        self.tabs.addTab(body, "Body")
        self.headers = _table(["Header", "Value"], "Response headers")
        self.tabs.addTab(self.headers, "Headers")
        timing = QWidget()
        tl = QVBoxLayout(timing)
        tl.setContentsMargins(0, 4, 0, 0)
        self.timing = _table(["Phase", "Time", "What it covers"], "Timing breakdown")
        tl.addWidget(self.timing, 1)
        self.timing_note = QLabel()
        self.timing_note.setObjectName("Muted")
        self.timing_note.setWordWrap(True)
        tl.addWidget(self.timing_note)
        self.tabs.addTab(timing, "Timing")
        curl = QWidget()
        cl = QVBoxLayout(curl)
        cl.setContentsMargins(0, 4, 0, 0)
        self.curl = QPlainTextEdit()
        self.curl.setReadOnly(True)
        self.curl.setFont(mono())
        self.curl.setAccessibleName("Request as cURL")
        cl.addWidget(self.curl, 1)
        row = QHBoxLayout()
        self.copy_curl = QPushButton("Copy as cURL")
        self.copy_curl.setToolTip("Secrets are replaced by REDACTED")
        self.copy_curl.clicked.connect(lambda: self.sig_copy_curl.emit(False))
        self.copy_curl_secret = QPushButton("Copy with secrets")
        self.copy_curl_secret.setToolTip("The command exactly as sent, secrets included: handle with care")
        self.copy_curl_secret.clicked.connect(lambda: self.sig_copy_curl.emit(True))
        row.addWidget(self.copy_curl)
        row.addWidget(self.copy_curl_secret)
        row.addStretch(1)
        cl.addLayout(row)
        self.tabs.addTab(curl, "cURL")
        lay.addWidget(self.tabs, 1)
        self.exchange: Exchange | None = None

    def set_curl(self, text: str) -> None:
        self.curl.setPlainText(text)

    def set_exchange(self, ex: Exchange) -> None:
        self.exchange = ex
        set_status(self.status, {"ok": "ok", "warn": "starting", "bad": "failed", "muted": "unknown"}[status_tone(ex.status)],
                   ex.status_line())
        self.status.setAccessibleName(f"Response status {ex.status} {ex.reason}")
        fill(self.headers, [(k, v) for k, v in ex.headers])
        self.tabs.setTabText(1, f"Headers ({len(ex.headers)})")
        fill(self.timing, ex.timing.rows())
        notes = [f"HTTP/{ex.http_version.removeprefix('HTTP/')}"]
        if ex.remote:
            notes.append(f"connected to {ex.remote}")
        notes.append("DNS is part of Connect: the transport resolves and connects in one step")
        self.timing_note.setText(" · ".join(notes))
        wire = f" ({fmt_size(ex.wire_bytes)} on the wire)" if ex.wire_bytes is not None and ex.wire_bytes != ex.size else ""
        self.body_info.setText(f"{fmt_size(ex.size)}{wire}{' · cut at 50 MiB' if ex.truncated else ''}"
                               f" · {ex.header('content-type') or 'no Content-Type'}")
        self._show_body()

    def set_error(self, message: str) -> None:
        self.exchange = None
        set_status(self.status, "failed", f"✕ {message}")
        self.body.setPlainText("")
        fill(self.headers, [])
        fill(self.timing, [])
        self.body_info.setText("")

    def set_pending(self, text: str) -> None:
        set_status(self.status, "starting", text)

    def _show_body(self) -> None:
        ex = self.exchange
        if ex is None:
            return
        self.body.setPlainText(ex.pretty() if self.pretty.isChecked() else ex.text())

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
