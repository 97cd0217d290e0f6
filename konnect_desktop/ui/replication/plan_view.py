"""The plan as a tree, the apply progress (one bar per dependency level) and the result list.

Plan tree: ``Create (n)`` / ``Update (n)`` / ``Delete (n)``, under each the entity kinds with
counts, under those the entities (decK's names); an update opens onto its changed fields only,
old → new, secrets masked. Every state is a word and a sign as well as a colour.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from ...controlplanes.sync import ApplyReport, Outcome
from ...model.diff import Change, Plan
from ..theme import qcolor
from .engine import FieldView, brief, display_entity, value_text

CHANGE_ROLE = Qt.ItemDataRole.UserRole
ACTIONS = (
    # action, heading, sign, colour role
    ("create", "Create", "+", "ok"),
    ("update", "Update", "~", "warn"),
    ("delete", "Delete", "−", "bad"),
)
OUTCOME_WORDS = {
    "applied": ("✓ applied", "ok"),
    "failed": ("✕ failed", "bad"),
    "skipped": ("– not applied", "muted"),
}
_EXPAND_UPDATES_UP_TO = 40  # open every update's fields when there are few of them


def summary_words(p: Plan) -> str:
    """``3 to create · 1 to update · 1 to delete``."""
    s = p.summary()
    return f"{s['creating']} to create · {s['updating']} to update · {s['deleting']} to delete"


class PlanTree(QTreeWidget):
    """What a plan will change on the target."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Plan")
        self.setColumnCount(2)
        self.setHeaderLabels(["Change", "Old → new"])
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self.setColumnWidth(0, 380)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.plan: Plan | None = None
        self.show_message("No plan yet: choose a source and a target, then press Plan.")

    def show_message(self, text: str) -> None:
        self.clear()
        self.plan = None
        it = QTreeWidgetItem([text, ""])
        it.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.addTopLevelItem(it)

    def action_item(self, action: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.data(0, CHANGE_ROLE) == action:
                return it
        return None

    def entity_items(self) -> list[QTreeWidgetItem]:
        out = []
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            for j in range(top.childCount()):
                kind = top.child(j)
                out.extend(kind.child(k) for k in range(kind.childCount()))
        return out

    def set_plan(self, p: Plan, in_sync_text: str = "✓ In sync: the target already matches the source.") -> None:
        self.setUpdatesEnabled(False)
        try:
            self.clear()
            self.plan = p
            if p.empty:
                it = QTreeWidgetItem([in_sync_text, ""])
                it.setForeground(0, QBrush(qcolor("ok")))
                it.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.addTopLevelItem(it)
                return
            fields = FieldView(p)
            bold = QFont(self.font())
            bold.setBold(True)
            for action, heading, sign, tone in ACTIONS:
                changes = [c for c in p.changes if c.action == action]
                if not changes:
                    continue
                brush = QBrush(qcolor(tone))
                top = QTreeWidgetItem([f"{sign} {heading} ({len(changes)})", _action_note(action)])
                top.setData(0, CHANGE_ROLE, action)
                top.setFont(0, bold)
                top.setForeground(0, brush)
                self.addTopLevelItem(top)
                by_kind: dict[str, list[Change]] = {}
                for c in changes:
                    by_kind.setdefault(c.kind, []).append(c)
                for kind, items in by_kind.items():
                    k_item = QTreeWidgetItem([f"{kind} ({len(items)})", ""])
                    k_item.setData(0, CHANGE_ROLE, f"{action}:{kind}")
                    top.addChild(k_item)
                    for c in items:
                        k_item.addChild(self._entity_item(c, sign, brush, fields))
                    k_item.setExpanded(True)
                top.setExpanded(True)
            if len(p.updates) <= _EXPAND_UPDATES_UP_TO:
                for it in self.entity_items():
                    if it.childCount():
                        it.setExpanded(True)
        finally:
            self.setUpdatesEnabled(True)

    def _entity_item(self, c: Change, sign: str, brush: QBrush, fields: FieldView) -> QTreeWidgetItem:
        it = QTreeWidgetItem([f"{sign} {c.name}", ""])
        it.setData(0, CHANGE_ROLE, c)
        it.setForeground(0, brush)
        shown = display_entity(c.table, c.new if c.action == "create" else c.old)
        it.setToolTip(0, json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)[:4000])
        if c.action == "delete":
            font = QFont(self.font())
            font.setStrikeOut(True)
            it.setFont(0, font)
            it.setText(1, "removed from the target")
        elif c.action == "create":
            it.setText(1, brief(c.table, c.new) or "new on the target")
        else:
            changed = fields.fields(c)
            it.setText(1, f"{len(changed)} field{'s' if len(changed) != 1 else ''} changed: "
                          + ", ".join(f.field for f in changed))
            for f in changed:
                old, new = value_text(f.old), value_text(f.new)
                row = QTreeWidgetItem([f.field, f"{old}  →  {new}"])
                row.setData(0, CHANGE_ROLE, f)
                row.setToolTip(1, f"old: {value_text(f.old, 2000)}\nnew: {value_text(f.new, 2000)}")
                it.addChild(row)
        return it

    def text_dump(self) -> str:
        """Every row's text, indented (tests and copy)."""
        lines: list[str] = []

        def walk(it: QTreeWidgetItem, depth: int) -> None:
            lines.append("  " * depth + " | ".join(t for t in (it.text(0), it.text(1)) if t))
            for i in range(it.childCount()):
                walk(it.child(i), depth + 1)

        for i in range(self.topLevelItemCount()):
            walk(self.topLevelItem(i), 0)
        return "\n".join(lines)


def _action_note(action: str) -> str:
    return {"create": "added to the target", "update": "changed on the target",
            "delete": "removed from the target for good"}[action]


def step_title(batch: list[Change]) -> str:
    kinds: list[str] = []
    for c in batch:
        word = f"{c.action} {c.kind}"
        if word not in kinds:
            kinds.append(word)
    return ", ".join(kinds)


class ApplyProgress(QWidget):
    """One labelled bar per dependency level (batch) of the plan, filled from ``apply``'s
    progress callbacks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Apply progress")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(3)
        self.bars: list[QProgressBar] = []
        self.labels: list[QLabel] = []
        self._step_of: dict[int, int] = {}
        self._failed: list[int] = []

    def start(self, steps: list[list[Change]]) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.bars, self.labels, self._step_of = [], [], {}
        self._failed = [0] * len(steps)
        for i, batch in enumerate(steps):
            lab = QLabel(f"Step {i + 1} of {len(steps)} · {step_title(batch)}")
            lab.setToolTip(lab.text())
            bar = QProgressBar()
            bar.setRange(0, len(batch))
            bar.setValue(0)
            bar.setFormat("%v / %m")
            bar.setMaximumHeight(16)
            bar.setAccessibleName(f"Step {i + 1} progress")
            self.grid.addWidget(lab, i, 0)
            self.grid.addWidget(bar, i, 1)
            self.labels.append(lab)
            self.bars.append(bar)
            for c in batch:
                self._step_of[id(c)] = i
        self.grid.setColumnStretch(0, 2)
        self.grid.setColumnStretch(1, 3)

    def advance(self, change: Change, status: str) -> None:
        i = self._step_of.get(id(change))
        if i is None:
            return
        bar = self.bars[i]
        bar.setValue(bar.value() + 1)
        if status == "failed":
            self._failed[i] += 1
            bar.setFormat(f"%v / %m · {self._failed[i]} failed")

    def finish(self, report: ApplyReport | None, cancelled: bool = False) -> None:
        for bar in self.bars:
            if bar.value() < bar.maximum():
                bar.setFormat(f"%v / %m · {'cancelled' if cancelled else 'not applied'}")


class ResultTree(QTreeWidget):
    """Each change's outcome: applied, failed with the server's words, or not applied."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Apply result")
        self.setColumnCount(3)
        self.setHeaderLabels(["Outcome", "Change", "Message"])
        self.setColumnWidth(0, 130)
        self.setColumnWidth(1, 360)
        self.header().setStretchLastSection(True)
        self.setUniformRowHeights(True)
        self.setRootIsDecorated(False)
        self.setWordWrap(False)

    def set_outcomes(self, outcomes: list[Outcome], *, cancelled: bool = False) -> None:
        self.clear()
        for o in outcomes:
            word, tone = OUTCOME_WORDS.get(o.status, (o.status, "muted"))
            if o.status == "skipped" and cancelled:
                word = "– not applied (cancelled)"
            it = QTreeWidgetItem([word, f"{o.change.action} {o.change.kind} {o.change.name}", o.error or ""])
            it.setData(0, CHANGE_ROLE, o)
            it.setForeground(0, QBrush(qcolor(tone)))
            if o.error:
                it.setToolTip(2, o.error)
                it.setForeground(2, QBrush(qcolor("bad")))
            self.addTopLevelItem(it)

    def rows(self) -> list[tuple[str, str, str]]:
        return [(self.topLevelItem(i).text(0), self.topLevelItem(i).text(1), self.topLevelItem(i).text(2))
                for i in range(self.topLevelItemCount())]


def outcome_summary(outcomes: list[Outcome], cancelled: bool = False) -> tuple[str, str]:
    """(text, tone) for the line above the result list."""
    n = len(outcomes)
    applied = sum(1 for o in outcomes if o.status == "applied")
    failed = sum(1 for o in outcomes if o.status == "failed")
    skipped = n - applied - failed
    parts = [f"Applied {applied} of {n}"]
    if failed:
        parts.append(f"{failed} failed")
    if skipped:
        parts.append(f"{skipped} not applied" + (" (cancelled)" if cancelled else ""))
    tone = "ok" if applied == n else ("bad" if failed else "warn")
    return " · ".join(parts), tone


def as_outcomes(steps: list[list[Change]], seen: dict[int, Any]) -> list[Outcome]:
    """Outcomes in plan order from what ``progress`` reported; the rest not applied."""
    out = []
    for batch in steps:
        for c in batch:
            o = seen.get(id(c))
            out.append(o if o is not None else Outcome(c, "skipped"))
    return out
