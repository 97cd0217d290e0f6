"""The Gateway panel: route → service, consumer, each plugin's decision, quota per period, and
"Upstream received" as a diff against what was sent (shared by the console and Traffic)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...console.insight import OUTCOME_MARK, Insight
from ..theme import colour
from . import mono

_TONE = {"pass": "ok", "transform": "badge_fg", "reject": "bad", "skip": "muted", "error": "warn"}


class InsightPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Gateway insight")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Gateway")
        f = title.font()
        f.setBold(True)
        title.setFont(f)
        lay.addWidget(title)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setAccessibleName("Route, consumer, plugin decisions and quota")
        lay.addWidget(self.info)
        self.tabs = QTabWidget()
        diff = QWidget()
        dl = QVBoxLayout(diff)
        dl.setContentsMargins(0, 2, 0, 0)
        self.show_gateway = QCheckBox("Show the gateway's forwarding headers")
        self.show_gateway.setToolTip("X-Forwarded-*, X-Real-IP, Via, Host … added by every proxied request")
        self.show_gateway.toggled.connect(self._fill_diff)
        dl.addWidget(self.show_gateway)
        self.diff = QListWidget()
        self.diff.setFont(mono())
        self.diff.setAccessibleName("Upstream received: changes against what was sent")
        dl.addWidget(self.diff, 1)
        self.tabs.addTab(diff, "Upstream received (diff)")
        self.upstream = QPlainTextEdit()
        self.upstream.setReadOnly(True)
        self.upstream.setFont(mono())
        self.upstream.setAccessibleName("Upstream request")
        self.tabs.addTab(self.upstream, "Upstream request")
        lay.addWidget(self.tabs, 1)
        self.insight: Insight | None = None
        self.set_message("Send a request through the local runtime to see what the gateway did.")

    def set_message(self, text: str) -> None:
        self.insight = None
        self.info.setText(f"<span style='color:{colour('muted')}'>{escape(text)}</span>")
        self.diff.clear()
        self.upstream.setPlainText("")

    def set_insight(self, ins: Insight) -> None:
        self.insight = ins
        muted = colour("muted")
        parts = [f"route <b>{escape(ins.route or '(none matched)')}</b> → service <b>{escape(ins.service or '—')}</b>"]
        parts.extend(f"<span style='color:{colour('warn')}'>⚠ {escape(w)}</span>" for w in ins.warnings)
        parts.append(f"consumer <b>{escape(ins.consumer)}</b>" if ins.consumer else
                     f"<span style='color:{muted}'>consumer: anonymous</span>")
        if ins.decisions:
            for d in ins.decisions:
                outcome = str(d.get("outcome"))
                tone = colour(_TONE.get(outcome, "muted"))
                parts.append(f"<span style='color:{tone}'>{OUTCOME_MARK.get(outcome, '?')} "
                             f"{escape(str(d.get('plugin')))} {escape(outcome)}</span>"
                             f" <span style='color:{muted}'>· {escape(str(d.get('summary') or ''))}</span>")
        else:
            parts.append(f"<span style='color:{muted}'>no plugins ran</span>")
        for q in ins.ratelimit.quotas:
            tone = colour("bad" if q.exhausted else "ok")
            parts.append(f"<span style='color:{tone}'>quota: {escape(q.describe())}</span>")
        if ins.ratelimit.retry_after is not None:
            parts.append(f"<span style='color:{colour('bad')}'>{escape(ins.ratelimit.lines()[-1])}</span>")
        lat = ins.latencies
        if lat.get("total") is not None:
            bits = [f"{k} {lat[k]:.2f} ms" for k in ("proxy", "upstream", "total") if lat.get(k) is not None]
            parts.append(f"<span style='color:{muted}'>gateway latency: {escape(', '.join(bits))}</span>")
        parts.append(f"<span style='color:{muted}'>request id {escape(ins.request_id)}</span>")
        self.info.setText("<br>".join(parts))
        self._fill_diff()
        if ins.proxied:
            lines = []
            if ins.upstream_address:
                lines.append(f"# to {ins.upstream_address}")
            lines += [f"{k}: {v}" for k, v in ins.upstream_headers]
            self.upstream.setPlainText("\n".join(lines))
        else:
            self.upstream.setPlainText("(not proxied: the gateway answered itself)")

    def diff_lines(self) -> list[str]:
        return [self.diff.item(i).text() for i in range(self.diff.count())]

    def _fill_diff(self) -> None:
        self.diff.clear()
        ins = self.insight
        if ins is None:
            return
        if not ins.proxied:
            it = QListWidgetItem("The upstream received nothing: the gateway answered itself"
                                 + (f" ({ins.error})" if ins.error else "."))
            self.diff.addItem(it)
            return
        show_gw = self.show_gateway.isChecked()
        if ins.method_change:
            self.diff.addItem(f"~ method: {ins.method_change[0]} → {ins.method_change[1]}")
        if ins.path_change:
            self.diff.addItem(f"~ path: {ins.path_change[0]} → {ins.path_change[1]}")
        hidden = 0
        for c in ins.header_changes:
            if c.by_gateway and not show_gw:
                hidden += 1
                continue
            it = QListWidgetItem(c.text() + ("   (gateway)" if c.by_gateway else ""))
            role = "ok" if c.op == "+" else "bad" if c.op == "-" else "warn"
            it.setForeground(Qt.GlobalColor.gray if c.by_gateway else _qcolor(role))
            it.setToolTip({"+": "added", "-": "removed", "~": "changed"}[c.op])
            self.diff.addItem(it)
        if not ins.plugin_changes() and not ins.method_change and not ins.path_change:
            self.diff.addItem("no plugin changed the request")
        if hidden:
            it = QListWidgetItem(f"… and {hidden} forwarding header change{'s' if hidden != 1 else ''} by the gateway")
            it.setForeground(Qt.GlobalColor.gray)
            self.diff.addItem(it)


def _qcolor(role: str):  # noqa: ANN202  (QColor)
    from ..theme import qcolor

    return qcolor(role)
