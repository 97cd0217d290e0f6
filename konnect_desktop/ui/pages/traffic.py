"""The Traffic page: requests through the local runtime as they happen — time, method, path, route,
consumer, status, latency — with filters, a small chart, and the same Gateway panel as the console
for the selected request.

It follows the local runtime of the current connection (or the first one running) and re-attaches
when runtimes start or stop. Entries arrive from the traffic log's listener and are moved into the
bounded model in batches (see ``ui/console/traffic_view.py``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QWidget,
)

from ...console.insight import build_insight
from ..console.insight_panel import InsightPanel
from ..console.traffic_view import (
    ENTRY_ROLE,
    MAX_ROWS,
    TrafficChart,
    TrafficFilter,
    TrafficModel,
    _name,
)
from ..session import Session
from .base import Page

STATUS_CLASSES = [("All statuses", ""), ("2xx", "2xx"), ("3xx", "3xx"), ("4xx", "4xx"), ("5xx", "5xx"),
                  ("Rejected by the gateway", "rejected")]
FLUSH_MS = 100


class TrafficPage(Page):
    title = "Traffic"
    switch_keeps = ("*",)  # it follows the running local runtime, not the current group

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.runtime: Any = None
        self._detach: Any = None
        # the listener's remover, reachable without this (possibly half-destroyed) object
        self._hook: dict[str, Any] = {"remove": None}
        self._pending: deque[Any] = deque(maxlen=MAX_ROWS)
        self.paused = False
        self._build()
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)
        self._flush_timer.start()
        self._chart_timer = QTimer(self)
        self._chart_timer.setInterval(1000)  # the per-second chart slides even when idle
        self._chart_timer.timeout.connect(self.chart.update)
        self._chart_timer.start()
        session.sig_runtime_state.connect(self._runtime_state)
        hook = self._hook
        self.destroyed.connect(lambda *_: hook["remove"]() if hook["remove"] else None)
        self.attach()

    def _build(self) -> None:
        top = QHBoxLayout()
        self.source = QLabel()
        self.source.setAccessibleName("Traffic source")
        top.addWidget(self.source, 1)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip("Stop adding new requests to the table (they are kept and added on resume)")
        self.pause.toggled.connect(self._pause_toggled)
        self.clear = QPushButton("Clear")
        self.clear.clicked.connect(self.clear_table)
        top.addWidget(self.pause)
        top.addWidget(self.clear)
        self.body.addLayout(top)

        filters = QHBoxLayout()
        self.status = QComboBox()
        self.status.setAccessibleName("Status filter")
        for label, value in STATUS_CLASSES:
            self.status.addItem(label, value)
        self.route = QComboBox()
        self.route.setAccessibleName("Route filter")
        self.route.addItem("All routes", "")
        self.consumer = QComboBox()
        self.consumer.setAccessibleName("Consumer filter")
        self.consumer.addItem("All consumers", "")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: path, method, status, route…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Filter traffic")
        self.count = QLabel()
        self.count.setObjectName("Muted")
        for w in (self.status, self.route, self.consumer):
            filters.addWidget(w)
            w.currentIndexChanged.connect(self.apply_filters)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.count)
        self.search.textChanged.connect(self.apply_filters)
        self.body.addLayout(filters)

        self.model = TrafficModel()
        self.proxy = TrafficFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Recent requests")
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for c, w in ((0, 100), (1, 70), (3, 150), (4, 110), (5, 110), (6, 90)):
            self.table.setColumnWidth(c, w)
        self.table.selectionModel().selectionChanged.connect(self._selected)

        self.chart = TrafficChart()
        self.chart.model = self.model
        self.insight = InsightPanel()
        self.insight.set_message("Select a request to see what the gateway did with it.")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.chart)
        lower.addWidget(self.insight)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.body.addWidget(split, 1)

    # -- runtime ----------------------------------------------------------------------------------
    def pick_runtime(self) -> Any:
        running = [rt for rt in self.session.runtimes.values() if str(getattr(rt, "state", "")) == "running"]
        cur = self.session.current
        if cur is not None and cur.kind == "local":
            rt = self.session.runtimes.get(cur.name)
            if rt in running:
                return rt
        return running[0] if running else None

    def attach(self) -> None:
        rt = self.pick_runtime()
        if rt is self.runtime and (rt is not None or self.source.text()):
            return
        self.detach()
        self.runtime = rt
        if rt is None:
            self.source.setText("No local runtime is running: start it from the status bar to watch its traffic.")
            return
        self.source.setText(f"Live traffic of local runtime “{rt.name}” · proxy {rt.proxy_url}")
        self.model.clear()
        self._pending.clear()
        self._pending.extend(rt.traffic.recent(MAX_ROWS))
        self._detach = rt.traffic.add_listener(self._pending.append)  # cheap: runs on the proxy's path
        self._hook["remove"] = self._detach
        self.flush()

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
            self._hook["remove"] = None
        self.runtime = None

    def _runtime_state(self, _name: str, _state: str) -> None:
        self.attach()
        if self.runtime is None:
            self.source.setText("No local runtime is running: start it from the status bar to watch its traffic.")

    def on_shown(self) -> None:
        self.attach()

    def refresh(self) -> None:
        self.attach()
        self.flush()

    def find(self) -> None:
        self.search.setFocus()

    # -- feeding ----------------------------------------------------------------------------------
    def flush(self) -> None:
        if self.paused or not self._pending:
            return
        batch = list(self._pending)
        self._pending.clear()
        self.model.append(batch)
        self._update_choices(batch)
        self._update_count()
        self.chart.update()

    def _update_choices(self, batch: list[Any]) -> None:
        for combo, key, attr in ((self.route, "name", "route"), (self.consumer, "username", "consumer")):
            known = {combo.itemData(i) for i in range(combo.count())}
            for e in batch:
                name = _name(getattr(e, attr), key)
                if name and name not in known:
                    combo.addItem(name, name)
                    known.add(name)

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        text = f"{total} request{'s' if total != 1 else ''}" if shown == total else f"{shown} of {total} shown"
        if self.model.dropped:
            text += f" · oldest {self.model.dropped} dropped (keeps {self.model.max_rows})"
        self.count.setText(text)

    def _pause_toggled(self, on: bool) -> None:
        self.paused = on
        self.pause.setText("Resume" if on else "Pause")
        if not on:
            self.flush()

    def clear_table(self) -> None:
        self.model.clear()
        self._pending.clear()
        self.insight.set_message("Select a request to see what the gateway did with it.")
        self._update_count()
        self.chart.update()

    def apply_filters(self, *_: Any) -> None:
        self.proxy.set_filters(self.status.currentData() or "", self.route.currentData() or "",
                               self.consumer.currentData() or "", self.search.text())
        self._update_count()

    def _selected(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        entry = rows[0].data(ENTRY_ROLE)
        if entry is not None:
            self.insight.set_insight(build_insight(entry.to_dict()))

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
