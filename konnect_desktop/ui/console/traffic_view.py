"""Live traffic: a bounded table model fed in batches, its filter, and a small chart of requests
per second and rejections per route.

The traffic log calls our listener on the event loop for every request the proxy answers; the
listener only appends to a bounded queue. A 100 ms timer moves what arrived into the model in one
insert (and drops the oldest rows beyond ``MAX_ROWS``), so a load test through the gateway never
floods the UI thread with per-request work.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ..theme import qcolor
from . import status_tone

MAX_ROWS = 5000
COLUMNS = ("Time", "Method", "Path", "Route", "Consumer", "Status", "Latency")
SORT_ROLE = Qt.ItemDataRole.UserRole + 10
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 11


def _name(ref: Any, key: str) -> str:
    if not isinstance(ref, dict):
        return ""
    return str(ref.get(key) or ref.get("id") or "")


def rejected(entry: Any) -> bool:
    """Answered by the gateway itself with an error (a plugin said no, no route, …)."""
    return entry.status >= 400 and entry.upstream_target is None


class TrafficModel(QAbstractTableModel):
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.rows: list[Any] = []  # TrafficEntry, oldest first
        self.dropped = 0

    def append(self, entries: list[Any]) -> None:
        if not entries:
            return
        if len(entries) > self.max_rows:
            self.dropped += len(entries) - self.max_rows
            entries = entries[-self.max_rows:]
        overflow = len(self.rows) + len(entries) - self.max_rows
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self.rows[:overflow]
            self.endRemoveRows()
            self.dropped += overflow
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self.rows.extend(entries)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    @staticmethod
    def cell(e: Any, c: int) -> str:
        if c == 0:
            return time.strftime("%H:%M:%S", time.localtime(e.time)) + f".{int(e.time * 1000) % 1000:03d}"
        if c == 1:
            return e.method
        if c == 2:
            return e.raw_path
        if c == 3:
            return _name(e.route, "name") or "(no route)"
        if c == 4:
            return _name(e.consumer, "username")
        if c == 5:
            return str(e.status) + (" (gateway)" if rejected(e) else "")
        if c == 6:
            return "" if e.total_latency is None else f"{e.total_latency:.2f} ms"
        return ""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell(e, c)
        if role == SORT_ROLE:
            if c == 0:
                return e.time
            if c == 5:
                return e.status
            if c == 6:
                return e.total_latency or 0.0
            return self.cell(e, c).lower()
        if role == ENTRY_ROLE:
            return e
        if role == Qt.ItemDataRole.ForegroundRole and c == 5:
            return qcolor(status_tone(e.status))
        if role == Qt.ItemDataRole.ToolTipRole and c == 5 and rejected(e):
            return "Answered by the gateway: " + "; ".join(d.summary for d in e.decisions if d.outcome in ("reject", "error")) \
                if e.decisions else "Answered by the gateway"
        return None


class TrafficFilter(QSortFilterProxyModel):
    """Status class (``2xx`` … ``5xx``, ``rejected``), route, consumer and free text."""

    def __init__(self) -> None:
        super().__init__()
        self.status_class = ""
        self.route = ""
        self.consumer = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filters(self, status_class: str = "", route: str = "", consumer: str = "", text: str = "") -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
        self.status_class, self.route, self.consumer, self.text = status_class, route, consumer, text.lower().strip()
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, TrafficModel)
        e = model.rows[row]
        sc = self.status_class
        if sc == "rejected":
            if not rejected(e):
                return False
        elif sc and str(e.status)[:1] != sc[:1]:
            return False
        if self.route and _name(e.route, "name") != self.route:
            return False
        if self.consumer and _name(e.consumer, "username") != self.consumer:
            return False
        if self.text:
            hay = " ".join(TrafficModel.cell(e, c) for c in range(len(COLUMNS))).lower()
            if self.text not in hay:
                return False
        return True


class TrafficChart(QWidget):
    """Requests per second over the last minute (with the rejected share), and rejections per route."""

    WINDOW = 60

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(140)
        self.setAccessibleName("Requests per second and rejections per route")
        self.model: TrafficModel | None = None
        self.now: float | None = None  # fixed clock for tests and screenshots

    def series(self) -> dict[str, Any]:
        now = self.now if self.now is not None else time.time()
        per_second = [0] * self.WINDOW
        rejected_per_second = [0] * self.WINDOW
        by_route: Counter[str] = Counter()
        for e in self.model.rows if self.model else []:
            age = int(now - e.time)
            if 0 <= age < self.WINDOW:
                per_second[self.WINDOW - 1 - age] += 1
                if rejected(e):
                    rejected_per_second[self.WINDOW - 1 - age] += 1
            if rejected(e):
                by_route[_name(e.route, "name") or "(no route)"] += 1
        return {"per_second": per_second, "rejected_per_second": rejected_per_second,
                "rejections_by_route": by_route.most_common(6)}

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.color(pal.ColorRole.WindowText)
        p.fillRect(self.rect(), pal.color(pal.ColorRole.Base))
        fm = p.fontMetrics()
        data = self.series()
        W, H = self.width(), self.height()
        split = int(W * 0.6)
        # -- requests per second ----------------------------------------------------------------
        left, top, bottom = 36, fm.height() + 8, fm.height() + 6
        area = QRectF(left, top, split - left - 16, H - top - bottom)
        p.setPen(fg)
        x_text = float(left)
        ok, bad = qcolor("ok"), qcolor("bad")
        legend = [("Requests per second (last 60 s) · ", fg), ("■", ok), (" passed  ", fg),
                  ("■", bad), (" rejected by the gateway", fg)]
        if sum(fm.horizontalAdvance(t) for t, _ in legend) > split - left - 8:
            # a narrow chart: the short legend, so it never runs into the next title
            legend = [("Requests/s · ", fg), ("■", ok), (" passed  ", fg), ("■", bad), (" rejected", fg)]
        for text, colour in legend:
            p.setPen(colour)
            p.drawText(QPointF(x_text, fm.ascent() + 2), text)
            x_text += fm.horizontalAdvance(text)
        per, rej = data["per_second"], data["rejected_per_second"]
        peak = max(per + [1])
        p.setPen(QPen(qcolor("muted"), 1))
        p.drawRect(area)
        p.drawText(QPointF(4, area.top() + fm.ascent()), str(peak))
        p.drawText(QPointF(4, area.bottom()), "0")
        p.drawText(QPointF(area.left(), area.bottom() + fm.height()), "−60 s")
        p.drawText(QPointF(area.right() - fm.horizontalAdvance("now"), area.bottom() + fm.height()), "now")
        bw = area.width() / len(per)
        for i, (n, r) in enumerate(zip(per, rej, strict=True)):
            if not n:
                continue
            hh = area.height() * n / peak
            hr = area.height() * r / peak
            x = area.left() + i * bw + 1
            p.fillRect(QRectF(x, area.bottom() - hh, max(1.0, bw - 2), hh - hr), ok)
            if r:
                p.fillRect(QRectF(x, area.bottom() - hr, max(1.0, bw - 2), hr), bad)
        # -- rejections per route ---------------------------------------------------------------
        x0 = split + 8
        p.setPen(fg)
        p.drawText(QPointF(x0, fm.ascent() + 2), "Rejections per route (in the table)")
        routes = data["rejections_by_route"]
        if not routes:
            p.setPen(qcolor("muted"))
            p.drawText(QPointF(x0, top + fm.ascent() + 4), "none")
        top_n = max([n for _, n in routes] + [1])
        label_w = min(160, max([fm.horizontalAdvance(r) for r, _ in routes] + [40]) + 8)
        row_h = fm.height() + 4
        for i, (route, n) in enumerate(routes):
            y = top + 2 + i * row_h
            if y + row_h > H:
                break
            p.setPen(fg)
            p.drawText(QPointF(x0, y + fm.ascent()), fm.elidedText(route, Qt.TextElideMode.ElideRight, label_w - 8))
            bar_w = (W - x0 - label_w - 50) * n / top_n
            col = QColor(bad)
            p.fillRect(QRectF(x0 + label_w, y + 2, max(2.0, bar_w), fm.height() - 2), col)
            p.drawText(QPointF(x0 + label_w + bar_w + 4, y + fm.ascent()), str(n))
        p.end()
