"""The plan as a tree, the apply progress (one bar per dependency level) and the result list.

Plan tree: ``Create (n)`` / ``Update (n)`` / ``Delete (n)``, under each the entity kinds with
counts, under those the entities (decK's names); an update opens onto its changed fields only,
old → new, secrets masked. Every state is a word and a sign as well as a colour. Both lists are
item models whose words are made when a row is first shown, so plans with tens of thousands of
changes appear at once (10,000 changes: ~0.3 s on the UI thread).
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTreeView,
    QWidget,
)

from ...controlplanes.replication import FieldView, brief, display_entity, value_text
from ...controlplanes.sync import ApplyReport, Outcome
from ...model.diff import Change, Plan
from ..theme import qcolor

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


class _Node:
    """One row of the plan tree. Texts of entity and field rows are made when first shown."""

    __slots__ = ("parent", "children", "kind", "text", "detail", "change", "field", "tone", "row", "key")

    def __init__(self, parent: _Node | None, kind: str, text: str = "", detail: str | None = "",
                 change: Change | None = None, tone: str = "", key: str = "") -> None:
        self.parent = parent
        self.children: list[_Node] | None = [] if kind != "entity" else None  # entity: lazy
        self.kind = kind  # "message" | "action" | "kind" | "entity" | "field"
        self.text = text
        self.detail = detail  # None: not computed yet
        self.change = change
        self.field: Any = None
        self.tone = tone
        self.row = 0
        self.key = key

    def add(self, child: _Node) -> _Node:
        assert self.children is not None
        child.row = len(self.children)
        self.children.append(child)
        return child


class PlanModel(QAbstractItemModel):
    """The plan as an item model: rows are built from the plan in one cheap pass, their words
    (changed fields, old → new, summaries, tooltips) only when the view asks, so a plan with tens
    of thousands of changes shows at once."""

    HEADERS = ("Change", "Old → new")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.root = _Node(None, "root")
        self.plan: Plan | None = None
        self._fields: FieldView | None = None
        self._brushes = {t: QBrush(qcolor(t)) for t in ("ok", "warn", "bad", "muted")}

    # -- filling -------------------------------------------------------------------------------
    def show_message(self, text: str, tone: str = "") -> None:
        self.beginResetModel()
        self.plan, self._fields = None, None
        self.root = _Node(None, "root")
        self.root.add(_Node(self.root, "message", text, "", tone=tone))
        self.endResetModel()

    def set_plan(self, p: Plan, in_sync_text: str) -> None:
        if p.empty:
            self.show_message(in_sync_text, "ok")
            self.plan = p
            return
        self.beginResetModel()
        self.plan, self._fields = p, None
        root = self.root = _Node(None, "root")
        for action, heading, sign, tone in ACTIONS:
            changes = [c for c in p.changes if c.action == action]
            if not changes:
                continue
            top = root.add(_Node(root, "action", f"{sign} {heading} ({len(changes)})", _action_note(action),
                                 tone=tone, key=action))
            by_kind: dict[str, list[Change]] = {}
            for c in changes:
                by_kind.setdefault(c.kind, []).append(c)
            for kind, items in by_kind.items():
                k = top.add(_Node(top, "kind", f"{kind} ({len(items)})", "", key=f"{action}:{kind}"))
                for c in items:
                    k.add(_Node(k, "entity", f"{sign} {c.name}", None, change=c, tone=tone))
        self.endResetModel()

    def _field_view(self) -> FieldView:
        if self._fields is None:
            assert self.plan is not None
            self._fields = FieldView(self.plan)
        return self._fields

    def _load(self, node: _Node) -> list[_Node]:
        """An entity's rows: the changed fields of an update (none for creates and deletes)."""
        if node.children is None:
            node.children = []
            c = node.change
            if c is not None and c.action == "update":
                for f in self._field_view().fields(c):
                    row = node.add(_Node(node, "field", f.field, f"{value_text(f.old)}  →  {value_text(f.new)}"))
                    row.field = f
        return node.children

    def _detail(self, node: _Node) -> str:
        if node.detail is None:
            c = node.change
            assert c is not None
            if c.action == "delete":
                node.detail = "removed from the target"
            elif c.action == "create":
                node.detail = brief(c.table, c.new) or "new on the target"
            else:
                names = [ch.text for ch in self._load(node)]
                node.detail = f"{len(names)} field{'s' if len(names) != 1 else ''} changed: " + ", ".join(names)
        return node.detail

    # -- the model -----------------------------------------------------------------------------
    def node(self, index: QModelIndex) -> _Node:
        return index.internalPointer() if index.isValid() else self.root  # type: ignore[return-value]

    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        kids = self._load(self.node(parent))
        if 0 <= row < len(kids) and 0 <= column < 2:
            return self.createIndex(row, column, kids[row])
        return QModelIndex()

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        p = self.node(index).parent
        if p is None or p is self.root:
            return QModelIndex()
        return self.createIndex(p.row, 0, p)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._load(self.node(parent)))

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:  # noqa: N802, B008
        n = self.node(parent)
        if n.kind == "entity":
            return n.change is not None and n.change.action == "update"
        return bool(n.children)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 2

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        n = self.node(index)
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return n.text
            return self._detail(n) if n.kind == "entity" else n.detail
        if role == Qt.ItemDataRole.ForegroundRole and col == 0 and n.tone:
            return self._brushes.get(n.tone)
        if role == Qt.ItemDataRole.FontRole and col == 0:
            if n.kind == "action":
                f = QFont()
                f.setBold(True)
                return f
            if n.kind == "entity" and n.change is not None and n.change.action == "delete":
                f = QFont()
                f.setStrikeOut(True)  # deletes: struck out, a − sign and words, not colour alone
                return f
        if role == Qt.ItemDataRole.ToolTipRole:
            if n.kind == "entity" and n.change is not None and col == 0:
                c = n.change
                shown = display_entity(c.table, c.new if c.action == "create" else c.old)
                return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)[:4000]
            if n.kind == "field" and n.field is not None:
                return f"old: {value_text(n.field.old, 2000)}\nnew: {value_text(n.field.new, 2000)}"
            if col == 1 and n.kind == "entity":
                return self._detail(n)
        if role == CHANGE_ROLE:
            if n.kind == "entity":
                return n.change
            if n.kind == "field":
                return n.field
            return n.key or None
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self.node(index).kind == "message":
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class PlanTree(QTreeView):
    """What a plan will change on the target."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Plan")
        self.model_ = PlanModel(self)
        self.setModel(self.model_)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self.setColumnWidth(0, 380)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.show_message("No plan yet: choose a source and a target, then press Plan.")

    @property
    def plan(self) -> Plan | None:
        return self.model_.plan

    def show_message(self, text: str) -> None:
        self.model_.show_message(text)
        for r in range(self.model_.rowCount()):  # a sentence, not a change: the whole row is its own
            self.setFirstColumnSpanned(r, QModelIndex(), True)

    def set_plan(self, p: Plan, in_sync_text: str = "✓ In sync: the target already matches the source.") -> None:
        m = self.model_
        m.set_plan(p, in_sync_text)
        for r in range(m.rowCount()):
            self.setFirstColumnSpanned(r, QModelIndex(), False)
        # open the actions and kinds; open updates onto their fields when there are few
        for r in range(m.rowCount()):
            top = m.index(r, 0)
            self.setExpanded(top, True)
            for k in range(m.rowCount(top)):
                kind = m.index(k, 0, top)
                self.setExpanded(kind, True)
                if top.data(CHANGE_ROLE) == "update" and len(p.updates) <= _EXPAND_UPDATES_UP_TO:
                    for e in range(m.rowCount(kind)):
                        self.setExpanded(m.index(e, 0, kind), True)

    # -- reading (tests, copy) -----------------------------------------------------------------
    def top_texts(self) -> list[str]:
        m = self.model_
        return [m.index(r, 0).data() for r in range(m.rowCount())]

    def action_index(self, action: str) -> QModelIndex:
        m = self.model_
        for r in range(m.rowCount()):
            if m.index(r, 0).data(CHANGE_ROLE) == action:
                return m.index(r, 0)
        return QModelIndex()

    def entity_indexes(self) -> list[QModelIndex]:
        m = self.model_
        out = []
        for r in range(m.rowCount()):
            top = m.index(r, 0)
            for k in range(m.rowCount(top)):
                kind = m.index(k, 0, top)
                out.extend(m.index(e, 0, kind) for e in range(m.rowCount(kind)))
        return out

    def child_rows(self, index: QModelIndex) -> list[tuple[str, str]]:
        m = self.model_
        return [(m.index(r, 0, index).data(), m.index(r, 1, index).data()) for r in range(m.rowCount(index))]

    def text_dump(self) -> str:
        """Every row's text, indented (tests and copy)."""
        m = self.model_
        lines: list[str] = []

        def walk(parent: QModelIndex, depth: int) -> None:
            for r in range(m.rowCount(parent)):
                a, b = m.index(r, 0, parent), m.index(r, 1, parent)
                lines.append("  " * depth + " | ".join(t for t in (a.data(), b.data()) if t))
                walk(a, depth + 1)

        walk(QModelIndex(), 0)
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


class OutcomeModel(QAbstractTableModel):
    """Each change's outcome, one row per change (cheap for tens of thousands)."""

    HEADERS = ("Outcome", "Change", "Message")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.outcomes: list[Outcome] = []
        self.cancelled = False
        self._brushes = {t: QBrush(qcolor(t)) for t in ("ok", "bad", "muted")}

    def set_outcomes(self, outcomes: list[Outcome], cancelled: bool) -> None:
        self.beginResetModel()
        self.outcomes, self.cancelled = list(outcomes), cancelled
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.outcomes)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 3

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def word(self, o: Outcome) -> tuple[str, str]:
        word, tone = OUTCOME_WORDS.get(o.status, (o.status, "muted"))
        if o.status == "skipped" and self.cancelled:
            word = "– not applied (cancelled)"
        return word, tone

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        o = self.outcomes[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if col == 0:
                return self.word(o)[0]
            if col == 1:
                return f"{o.change.action} {o.change.kind} {o.change.name}"
            return o.error or ""
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 0:
                return self._brushes[self.word(o)[1]]
            if col == 2 and o.error:
                return self._brushes["bad"]
        if role == CHANGE_ROLE:
            return o
        return None


class ResultTree(QTreeView):
    """Each change's outcome: applied, failed with the server's words, or not applied."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Apply result")
        self.model_ = OutcomeModel(self)
        self.setModel(self.model_)
        self.setColumnWidth(0, 170)
        self.setColumnWidth(1, 360)
        self.header().setStretchLastSection(True)
        self.setUniformRowHeights(True)
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)

    def clear(self) -> None:
        self.model_.set_outcomes([], False)

    def set_outcomes(self, outcomes: list[Outcome], *, cancelled: bool = False) -> None:
        self.model_.set_outcomes(outcomes, cancelled)

    def rows(self) -> list[tuple[str, str, str]]:
        m = self.model_
        return [tuple(m.index(r, c).data() for c in range(3)) for r in range(m.rowCount())]  # type: ignore[misc]


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
