"""The burst chart (drawn with QPainter: QtCharts is not part of PySide6-Essentials) and the
burst panel around it: count, rate or concurrency, time limit, Start/Cancel, progress.

The chart shows each answer over time as a marker in its status lane (● 2xx, ✕ rejected,
▲ 5xx / no answer — shape and label, never colour alone), the quota left as a step line, a
marker where the limit tripped with its Retry-After, and where requests passed again.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...console.burst import (
    MAX_CONCURRENCY,
    MAX_REQUESTS,
    MAX_SECONDS,
    BurstPlan,
    BurstResult,
    BurstSample,
)
from ...console.ratelimit import fmt_duration
from ..theme import qcolor

LANES = ("2xx/3xx", "rejected", "other 4xx", "5xx/error")


def lane_of(s: BurstSample) -> int:
    if s.status is None or s.status >= 500:
        return 3
    if s.rejected:
        return 1
    if s.status >= 400:
        return 2
    return 0


def nice_step(span: float, target: int = 6) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


class BurstChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # room for every label at its own place: legend, three marker rows, the quota area (at
        # least three text lines, so its value labels cannot meet), four lanes and the time axis
        row = self.fontMetrics().height() + 1
        self.setMinimumHeight(row + 6 + 3 * row + 3 * row + 10 + 4 * row + 34)
        self.setAccessibleName("Burst chart: status and quota left over time")
        self.result: BurstResult | None = None
        # (text, rectangle) of every label drawn by the last paint; tests check none overlap
        self.text_boxes: list[tuple[str, QRectF]] = []

    def set_result(self, result: BurstResult | None) -> None:
        self.result = result
        self.update()

    # -- data (what is drawn; tests read it) -------------------------------------------------------
    def series(self) -> dict[str, Any]:
        res = self.result
        if res is None:
            return {"status": [], "remaining": [], "trip": None, "reset": None, "recovery": None, "x_max": 1.0}
        samples = sorted(res.samples, key=lambda s: s.done)
        trip, rec = res.trip, res.recovery
        reset = None
        if trip is not None and trip.retry_after is not None:
            reset = trip.done + trip.retry_after
        # scale to the burst itself (a fast burst lasts milliseconds); a reset soon after the
        # end is drawn inside, a far one as an arrow at the right edge
        x_max = max([0.05] + [s.done for s in samples])
        if reset is not None and reset <= x_max * 1.5:
            x_max = max(x_max, reset)
        return {
            "status": [(s.done, s.status, LANES[lane_of(s)], s.index) for s in samples],
            "remaining": [(s.done, s.remaining) for s in samples if s.remaining is not None],
            "limit": max((s.limit for s in samples if s.limit is not None), default=None),
            "trip": None if trip is None else {"t": trip.done, "index": trip.index, "retry_after": trip.retry_after},
            "reset": reset,
            "recovery": None if rec is None else {"t": rec.done, "index": rec.index},
            "x_max": x_max * 1.04,
        }

    # -- drawing -----------------------------------------------------------------------------------
    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.color(pal.ColorRole.WindowText)
        base = pal.color(pal.ColorRole.Base)
        grid = QColor(fg)
        grid.setAlpha(40)
        muted = qcolor("muted")
        p.fillRect(self.rect(), base)
        data = self.series()
        fm = p.fontMetrics()
        self.text_boxes = []
        row_h = fm.height() + 1
        band_top = row_h + 6  # the marker labels' rows, between the legend and the quota area
        left, right, top, bottom = 78, 18, band_top + 3 * row_h, 34
        w, h = self.width() - left - right, self.height() - top - bottom
        lane_h = max(row_h, min(20, h * 0.1))
        lanes_h = lane_h * len(LANES)
        if w < 40 or h - lanes_h - 10 < 3 * row_h:
            p.end()
            return

        def text(x0: float, baseline: float, s: str) -> None:
            box = QRectF(x0, baseline - fm.ascent(), fm.horizontalAdvance(s), fm.height())
            p.fillRect(box.adjusted(-2, 0, 2, 0), base)  # a marker line passing behind stays behind
            p.drawText(QPointF(x0, baseline), s)
            self.text_boxes.append((s, box))

        quota = QRectF(left, top, w, h - lanes_h - 10)
        strip = QRectF(left, quota.bottom() + 10, w, lanes_h)
        x_max = data["x_max"]

        def x(t: float) -> float:
            return left + w * min(t, x_max) / x_max

        # axes and grid
        p.setPen(QPen(grid, 1))
        step = nice_step(x_max)
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        t = 0.0
        while t <= x_max + 1e-9:
            p.drawLine(QPointF(x(t), quota.top()), QPointF(x(t), strip.bottom()))
            p.setPen(fg)
            label = f"{t:.{decimals}f} s"
            text(x(t) - fm.horizontalAdvance(label) / 2, strip.bottom() + fm.height() + 2, label)
            p.setPen(QPen(grid, 1))
            t += step
        p.setPen(QPen(fg, 1))
        p.drawRect(quota)
        p.drawRect(strip)
        limit = data.get("limit")
        y_max = float(limit) if limit else max([1.0] + [float(r) for _, r in data["remaining"]])

        def y(v: float) -> float:
            return quota.bottom() - quota.height() * (v / y_max if y_max else 0)

        p.setPen(muted)
        for v in sorted({0.0, float(round(y_max / 2)), y_max}):
            label = f"{v:g}"
            text(left - fm.horizontalAdvance(label) - 6, y(v) + fm.ascent() / 2 - 1, label)
        p.save()
        p.translate(14, quota.center().y())
        p.rotate(-90)
        cap = "quota left"
        p.drawText(QPointF(-fm.horizontalAdvance(cap) / 2, 0), cap)
        p.restore()
        for i, name in enumerate(LANES):
            yy = strip.top() + lane_h * (i + 0.5)
            text(left - fm.horizontalAdvance(name) - 6, yy + fm.ascent() / 2 - 1, name)

        # quota left: a step line
        pts = data["remaining"]
        if pts:
            path = QPainterPath()
            path.moveTo(x(0), y(float(pts[0][1])))
            prev = float(pts[0][1])
            for t_, r in pts:
                path.lineTo(x(t_), y(prev))
                path.lineTo(x(t_), y(float(r)))
                prev = float(r)
            path.lineTo(x(x_max), y(prev))
            p.setPen(QPen(qcolor("badge_fg"), 2))
            p.drawPath(path)

        # status markers, one shape per lane
        colours = [qcolor("ok"), qcolor("bad"), qcolor("warn"), qcolor("warn")]
        for t_, _status, lane, _idx in data["status"]:
            i = LANES.index(lane)
            cx, cy = x(t_), strip.top() + lane_h * (i + 0.5)
            r = max(2.5, lane_h * 0.22)
            p.setPen(QPen(colours[i], 1.6))
            if i == 0:
                p.setBrush(colours[i])
                p.drawEllipse(QPointF(cx, cy), r, r)
                p.setBrush(Qt.BrushStyle.NoBrush)
            elif i == 1:
                p.drawLine(QPointF(cx - r, cy - r), QPointF(cx + r, cy + r))
                p.drawLine(QPointF(cx - r, cy + r), QPointF(cx + r, cy - r))
            elif i == 2:
                p.drawRect(QRectF(cx - r, cy - r, 2 * r, 2 * r))
            else:
                tri = QPainterPath()
                tri.moveTo(cx, cy - r)
                tri.lineTo(cx + r, cy + r)
                tri.lineTo(cx - r, cy + r)
                tri.closeSubpath()
                p.drawPath(tri)

        # trip, reset and recovery markers
        def marker(t_: float, label: str, colour: QColor, row: int) -> None:
            # each marker's label has its own row above the chart: they never meet
            pen = QPen(colour, 1.5, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawLine(QPointF(x(t_), band_top + row * row_h + row_h - 2), QPointF(x(t_), strip.bottom()))
            tw = fm.horizontalAdvance(label)
            tx = x(t_) + 4 if x(t_) + 4 + tw <= left + w else max(6.0, x(t_) - 4 - tw)  # beside its line
            p.setPen(colour)
            text(tx, band_top + row * row_h + fm.ascent(), label)

        trip = data["trip"]
        if trip is not None:
            ra = f" · Retry-After {fmt_duration(trip['retry_after'])}" if trip["retry_after"] is not None else ""
            marker(trip["t"], f"limit tripped at #{trip['index'] + 1}{ra}", qcolor("bad"), 0)
            reset = data["reset"]
            if reset is not None:
                if reset <= x_max:
                    marker(reset, "window resets", qcolor("ok"), 1)
                else:
                    later = f"window resets in {fmt_duration(reset - trip['t'])} after the trip →"
                    p.setPen(muted)
                    text(left + w - fm.horizontalAdvance(later) - 4, band_top + row_h + fm.ascent(), later)
        rec = data["recovery"]
        if rec is not None:
            marker(rec["t"], f"passing again at #{rec['index'] + 1}", qcolor("ok"), 2)

        # title / legend
        p.setPen(fg)
        legend = "● 2xx/3xx   ✕ rejected (429)   ■ other 4xx   ▲ 5xx or no answer   ─ quota left"
        if fm.horizontalAdvance(legend) > self.width() - 12:
            legend = "● 2xx/3xx  ✕ 429  ■ 4xx  ▲ 5xx/none  ─ quota"  # a narrow chart: the short form
        text(max(6.0, min(left, self.width() - 6 - fm.horizontalAdvance(legend))), fm.ascent() + 2, legend)
        if not data["status"]:
            p.setPen(muted)
            msg = "Start a burst to chart status codes and the quota left."
            text(left + (w - fm.horizontalAdvance(msg)) / 2, quota.center().y() + fm.ascent() / 2, msg)
        p.end()


class BurstPanel(QWidget):
    """Controls, progress, chart and summary. The page runs the burst (``sig_start``)."""

    sig_start = Signal(object)  # BurstPlan
    sig_cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        self.count = QSpinBox()
        self.count.setRange(1, MAX_REQUESTS)
        self.count.setValue(10)
        self.count.setAccessibleName("Number of requests")
        self.mode = QComboBox()
        self.mode.addItem("one at a time", "serial")
        self.mode.addItem("at a rate", "rate")
        self.mode.addItem("concurrently", "concurrent")
        self.mode.setAccessibleName("Burst mode")
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.1, 10_000)
        self.rate.setValue(10)
        self.rate.setSuffix(" req/s")
        self.rate.setAccessibleName("Rate")
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, MAX_CONCURRENCY)
        self.concurrency.setValue(8)
        self.concurrency.setPrefix("× ")
        self.concurrency.setAccessibleName("Concurrency")
        self.limit = QSpinBox()
        self.limit.setRange(1, int(MAX_SECONDS))
        self.limit.setValue(60)
        self.limit.setSuffix(" s max")
        self.limit.setAccessibleName("Time limit")
        self.start = QPushButton("Start burst")
        self.start.setAccessibleName("Start or cancel the burst")
        self.start.clicked.connect(self._start_or_cancel)
        for label, wdg in (("Send", self.count), ("requests", self.mode), ("", self.rate), ("", self.concurrency),
                           ("", self.limit)):
            if label:
                lab = QLabel(label)
                row.addWidget(lab)
            row.addWidget(wdg)
        row.addStretch(1)
        row.addWidget(self.start)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(14)
        self.progress.setAccessibleName("Burst progress")
        self.progress.setFormat("%v / %m")
        lay.addWidget(self.progress)
        self.chart = BurstChart()
        lay.addWidget(self.chart, 1)
        self.summary = QLabel("The current request is sent N times; bounded to 10,000 requests and the time limit.")
        self.summary.setObjectName("Muted")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        self.running = False
        self.result: BurstResult | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(100)  # repaint in batches, not per answer
        self._timer.timeout.connect(self._tick)

    def _mode_changed(self) -> None:
        m = self.mode.currentData()
        self.rate.setVisible(m == "rate")
        self.concurrency.setVisible(m == "concurrent")

    def plan(self) -> BurstPlan:
        m = self.mode.currentData()
        return BurstPlan(count=self.count.value(), rate=self.rate.value() if m == "rate" else None,
                         concurrency=self.concurrency.value() if m == "concurrent" else 1,
                         time_limit=float(self.limit.value()))

    def _start_or_cancel(self) -> None:
        if self.running:
            self.sig_cancel.emit()
        else:
            self.sig_start.emit(self.plan())

    def started(self, result: BurstResult) -> None:
        self.running = True
        self.result = result
        self.start.setText("Cancel burst")
        self.progress.setRange(0, result.plan.count)
        self.progress.setValue(0)
        self.chart.set_result(result)
        self.summary.setText("Sending…")
        self._timer.start()

    def _tick(self) -> None:
        if self.result is not None:
            self.progress.setValue(len(self.result.samples))
            self.chart.update()

    def finished(self, result: BurstResult | None) -> None:
        self.running = False
        self._timer.stop()
        self.start.setText("Start burst")
        if result is not None:
            self.result = result
            self.progress.setValue(len(result.samples))
            self.chart.set_result(result)
            self.summary.setText(result.summary())
