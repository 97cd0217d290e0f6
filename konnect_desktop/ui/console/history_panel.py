"""The history list: search as you type (methods, status codes or classes, URL words), double-click
or Replay to load a request back into the editors, export (redacted) as JSON or cURL."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...console.history import HistoryEntry
from ..theme import qcolor
from . import status_tone

COLUMNS = ("Time", "Method", "URL", "Status", "Time taken")


class HistoryModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[HistoryEntry] = []

    def set_entries(self, entries: list[HistoryEntry]) -> None:
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.entries[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if c == 0:
                return time.strftime("%H:%M:%S", time.localtime(e.created_at))
            if c == 1:
                return e.method
            if c == 2:
                return e.url
            if c == 3:
                return str(e.status) if e.status is not None else "error"
            if c == 4:
                return "" if e.duration_ms is None else f"{e.duration_ms:.1f} ms"
        if role == Qt.ItemDataRole.ToolTipRole:
            if e.error:
                return e.error
            if e.redacted:
                return "Secrets not saved: " + ", ".join(e.redacted)
        if role == Qt.ItemDataRole.ForegroundRole and c == 3:
            return qcolor(status_tone(e.status))
        return None


class HistoryPanel(QWidget):
    sig_search = Signal(str)
    sig_replay = Signal(object, bool)  # HistoryEntry, send now?
    sig_export = Signal(str)  # "json" | "curl"
    sig_clear = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search history: GET, 429, 4xx, /echo …")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search history")
        row.addWidget(self.search, 1)
        self.count = QLabel()
        self.count.setObjectName("Muted")
        row.addWidget(self.count)
        self.replay = QPushButton("Replay")
        self.replay.setToolTip("Load the selected request and send it again")
        self.replay.clicked.connect(lambda: self._emit_replay(True))
        row.addWidget(self.replay)
        self.export = QPushButton("Export…")
        menu = QMenu(self.export)
        menu.addAction("As JSON (secrets redacted)…", lambda: self.sig_export.emit("json"))
        menu.addAction("As cURL script (secrets redacted)…", lambda: self.sig_export.emit("curl"))
        menu.addSeparator()
        menu.addAction("Clear history…", self.sig_clear.emit)
        self.export.setMenu(menu)
        row.addWidget(self.export)
        lay.addLayout(row)
        self.model = HistoryModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Request history")
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for c, wdt in ((0, 70), (1, 70), (3, 60), (4, 90)):
            self.table.setColumnWidth(c, wdt)
        self.table.doubleClicked.connect(lambda _i: self._emit_replay(False))
        lay.addWidget(self.table, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(lambda: self.sig_search.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())

    def set_entries(self, entries: list[HistoryEntry], total: int | None = None) -> None:
        self.model.set_entries(entries)
        self.count.setText(f"{len(entries)} shown" + (f" of {total}" if total is not None else ""))

    def selected(self) -> HistoryEntry | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.entries[rows[0].row()]

    def _emit_replay(self, send: bool) -> None:
        e = self.selected()
        if e is not None:
            self.sig_replay.emit(e, send)
