"""The Replication page: dump, diff, sync and replicate between runtime groups and decK files.

Pick a source and a target (a connection + runtime group, or a decK file), press Plan: both sides
are read in the background and the plan appears as a tree (create / update / delete per entity
kind, an update's changed fields old → new, secrets masked). Apply asks once, stating the counts
and the target, runs the plan level by level with a bar per level, lists every entity's outcome,
then plans again to show whether the target is now in sync. The plan exports as decK's JSON; the
source dumps to a YAML or JSON file. All I/O runs on the page's ``TaskRunner`` (Cancel stops it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...controlplanes.replication import (
    FILE,
    SOURCE,
    TARGET,
    Endpoint,
    PlanResult,
    apply_plan,
    check_sides,
    compute_plan,
    dump_source,
    export_plan,
    file_format,
)
from ...controlplanes.sync import ApplyReport, Outcome
from ...model.diff import Change
from ..errors import ErrorInfo
from ..replication.endpoints import EndpointPicker
from ..replication.plan_view import (
    ApplyProgress,
    PlanTree,
    ResultTree,
    as_outcomes,
    outcome_summary,
    summary_words,
)
from ..session import Session
from ..theme import set_status
from .base import Page

JSON_FILTER = "decK JSON plan (*.json);;All files (*)"
DUMP_FILTER = "decK YAML (*.yaml *.yml);;decK JSON (*.json)"


def parse_tags(text: str) -> list[str]:
    """``a, b  c`` → ``['a', 'b', 'c']`` (commas or spaces), duplicates dropped, order kept."""
    out: list[str] = []
    for t in text.replace(",", " ").split():
        if t not in out:
            out.append(t)
    return out


class ReplicationPage(Page):
    title = "Replication"
    switch_keeps = ("*",)  # its own source and target, never cancelled by a switch

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: PlanResult | None = None  # the plan shown
        self.report: ApplyReport | None = None  # the last apply's outcomes
        self.plan_stale = False
        self.confirm_box: QMessageBox | None = None
        self.file_dialog: QFileDialog | None = None
        self._seen: dict[int, Outcome] = {}

        # -- source ⇄ target -------------------------------------------------------------------
        sides = QHBoxLayout()
        self.source = EndpointPicker(session, SOURCE, self.runner)
        self.target = EndpointPicker(session, TARGET, self.runner)
        self.swap_button = QPushButton("⇄")
        self.swap_button.setAccessibleName("Swap source and target")
        self.swap_button.setToolTip("Swap source and target")
        self.swap_button.setFixedWidth(40)
        self.swap_button.clicked.connect(self.swap)
        sides.addWidget(self.source, 1)
        sides.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignVCenter)
        sides.addWidget(self.target, 1)
        self.body.addLayout(sides)

        # -- options and actions ---------------------------------------------------------------
        row = QHBoxLayout()
        row.addWidget(QLabel("Select tags"))
        self.tags = QLineEdit()
        self.tags.setAccessibleName("Select tags")
        self.tags.setPlaceholderText("tag, tag … (entities with all of them)")
        self.tags.setToolTip("Like decK's --select-tag: only entities carrying every tag are compared, "
                             "created or deleted; other entities on the target are left alone.")
        self.tags.setMaximumWidth(320)
        row.addWidget(self.tags, 1)
        self.plan_button = QPushButton("Plan")
        self.plan_button.setAccessibleName("Plan: compare source and target")
        self.plan_button.setToolTip("Read both sides and show what would change on the target (F5)")
        self.plan_button.setDefault(True)
        self.apply_button = QPushButton("Apply…")
        self.apply_button.setAccessibleName("Apply the plan to the target")
        self.export_button = QPushButton("Export plan…")
        self.export_button.setAccessibleName("Export the plan as decK JSON")
        self.export_button.setToolTip("Write the plan in decK's JSON shape (secrets masked)")
        self.dump_button = QPushButton("Dump source…")
        self.dump_button.setAccessibleName("Dump the source to a decK file")
        self.dump_button.setToolTip("Write the source's configuration to a YAML or JSON decK file")
        self.with_ids = QCheckBox("with ids")
        self.with_ids.setToolTip("Include entity ids in dumps (decK's --with-id)")
        row.addStretch(1)
        for w in (self.plan_button, self.apply_button, self.export_button, self.dump_button, self.with_ids):
            row.addWidget(w)
        self.body.addLayout(row)
        self.plan_button.clicked.connect(self.make_plan)
        self.apply_button.clicked.connect(self.confirm_apply)
        self.export_button.clicked.connect(lambda: self.export_plan())
        self.dump_button.clicked.connect(lambda: self.dump())

        # -- summary line ----------------------------------------------------------------------
        self.summary = QLabel()
        self.summary.setObjectName("PlanSummary")
        self.summary.setAccessibleName("Plan summary")
        self.summary.setWordWrap(True)
        f = self.summary.font()
        f.setPointSizeF(f.pointSizeF() * 1.1)
        f.setBold(True)
        self.summary.setFont(f)
        self.sync_state = QLabel()
        self.sync_state.setAccessibleName("Sync state")
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.sync_state)
        self.body.addLayout(head)

        # -- plan and result -------------------------------------------------------------------
        self.tabs = QTabWidget()
        self.tree = PlanTree()
        self.tabs.addTab(self.tree, "Plan")
        result_page = QWidget()
        rv = QVBoxLayout(result_page)
        rv.setContentsMargins(4, 6, 4, 4)
        self.result_summary = QLabel("Nothing applied yet.")
        self.result_summary.setAccessibleName("Apply summary")
        self.result_summary.setWordWrap(True)
        rv.addWidget(self.result_summary)
        split = QSplitter(Qt.Orientation.Vertical)
        self.progress = ApplyProgress()
        progress_holder = QWidget()
        ph = QVBoxLayout(progress_holder)
        ph.setContentsMargins(0, 0, 0, 0)
        ph.addWidget(self.progress)
        ph.addStretch(1)
        self.results = ResultTree()
        split.addWidget(progress_holder)
        split.addWidget(self.results)
        split.setStretchFactor(1, 1)
        rv.addWidget(split, 1)
        self.tabs.addTab(result_page, "Result")
        self.result_page = result_page
        self.body.addWidget(self.tabs, 1)

        # -- wiring ----------------------------------------------------------------------------
        self.source.sig_changed.connect(self._sides_changed)
        self.target.sig_changed.connect(self._sides_changed)
        self.tags.textChanged.connect(self._sides_changed)
        self.runner.sig_busy.connect(self._busy_changed)
        ctrl_enter = QShortcut(QKeySequence("Ctrl+Return"), self)
        ctrl_enter.activated.connect(self.make_plan)
        self._choose_defaults()
        self._show_summary()
        self._update_buttons()

    # -- defaults and state --------------------------------------------------------------------
    def _choose_defaults(self) -> None:
        conns = self.session.connections
        cur = self.session.current or (conns[0] if conns else None)
        if cur is not None:
            self.source.select_connection(cur.id)
            other = next((c for c in conns if c.id != cur.id), None)
            if other is not None:
                self.target.select_connection(other.id)

    def on_shown(self) -> None:
        # a plan is made on request only: reading two remotes is not free
        self._stale = False
        self._update_buttons()

    def refresh(self) -> None:
        """F5: plan again."""
        self.make_plan()

    def tag_list(self) -> list[str]:
        return parse_tags(self.tags.text())

    def _sides_changed(self, *_: Any) -> None:
        if self.result is not None:
            self.plan_stale = True
        self._show_summary()
        self._update_buttons()

    def _busy_changed(self, _busy: bool, _label: str) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.runner.busy
        problem = check_sides(self.source.endpoint(), self.target.endpoint())
        self.plan_button.setEnabled(not busy and problem is None)
        self.plan_button.setToolTip(problem or "Read both sides and show what would change on the target (F5)")
        can_apply, why = self._can_apply()
        self.apply_button.setEnabled(not busy and can_apply)
        self.apply_button.setToolTip(why)
        self.export_button.setEnabled(not busy and self.result is not None)
        self.dump_button.setEnabled(not busy and self.source.endpoint().usable)
        self.swap_button.setEnabled(not busy)
        for w in (self.source, self.target, self.tags):
            w.setEnabled(not busy)

    def _can_apply(self) -> tuple[bool, str]:
        r = self.result
        if r is None:
            return False, "Make a plan first."
        if self.plan_stale:
            return False, "Source, target or tags changed since this plan: plan again."
        if r.plan.empty:
            return False, "Nothing to apply: the target is in sync."
        if not r.target_writable:
            return False, f"The target cannot be changed: {r.why_read_only}."
        return True, f"Apply these {len(r.plan.changes)} changes to {r.target_label}"

    def _show_summary(self) -> None:
        r = self.result
        if r is None:
            self.summary.setText("No plan yet.")
            set_status(self.sync_state, "unknown", "")
            return
        where = f"{r.source_label}  →  {r.target_label}"
        if r.plan.empty:
            self.summary.setText(f"In sync · {where}")
            set_status(self.sync_state, "ok", "✓ in sync")
        else:
            self.summary.setText(f"{summary_words(r.plan)} · {where}")
            set_status(self.sync_state, "starting", f"◐ {len(r.plan.changes)} changes pending")
        if self.plan_stale:
            set_status(self.sync_state, "unknown", "◌ out of date: plan again")
        if not r.target_writable:
            set_status(self.sync_state, "failed", f"✕ target is read-only ({r.why_read_only})")
        self.sync_state.setAccessibleName(f"Sync state: {self.sync_state.text()}")

    def show_error(self, info: ErrorInfo) -> None:
        super().show_error(info)
        self._update_buttons()

    # -- actions -------------------------------------------------------------------------------
    def swap(self) -> None:
        src, dst = self.source.endpoint(), self.target.endpoint()
        self.source.set_endpoint(dst)
        self.target.set_endpoint(src)

    def make_plan(self, *, after_apply: bool = False) -> None:
        source, target = self.source.endpoint(), self.target.endpoint()
        problem = check_sides(source, target)
        if problem:
            self.show_error(ErrorInfo("Cannot plan", problem))
            return
        if self.runner.busy and not after_apply:
            return
        self.error_panel.clear()
        tags = self.tag_list()
        label = "Checking the target again" if after_apply else "Planning (reading source and target)"
        if not after_apply:
            self.tree.show_message("Reading source and target…")

        async def go() -> PlanResult:
            try:
                return await compute_plan(self.session, source, target, tags)
            except asyncio.CancelledError:
                if not after_apply:
                    self._plan_stopped("Planning was cancelled: press Plan to try again.")
                raise
            except BaseException:
                if not after_apply:
                    self._plan_stopped("No plan: see the error above.")
                raise

        self.runner.run(go(), label=label, key="plan", on_done=lambda r: self._planned(r, after_apply))

    def _plan_stopped(self, text: str) -> None:
        if self.result is not None:
            self.tree.set_plan(self.result.plan)  # the last plan stays, marked out of date
            self.plan_stale = True
        else:
            self.tree.show_message(text)
        self._show_summary()

    def _planned(self, r: PlanResult, after_apply: bool) -> None:
        self.result = r
        self.plan_stale = False
        if after_apply and r.plan.empty:
            self.tree.set_plan(r.plan, "✓ In sync: the target now matches the source.")
        else:
            self.tree.set_plan(r.plan)
        if after_apply and not r.plan.empty:
            self.result_summary.setText(
                self.result_summary.text() + f" — {len(r.plan.changes)} changes still differ (see Plan)")
        self._show_summary()
        self._update_buttons()

    def confirm_apply(self) -> None:
        ok, why = self._can_apply()
        if not ok or self.result is None:
            self.show_error(ErrorInfo("Cannot apply", why))
            return
        r = self.result
        s = r.plan.summary()
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning if s["deleting"] else QMessageBox.Icon.Question)
        box.setWindowTitle("Apply plan")
        group = r.target.group_name(self.session)
        where = r.target_label + (f" (runtime group “{group}”)" if group else "")
        if r.target.kind == FILE:
            box.setText(f"Write {r.source_label} into {r.target.path}?")
            box.setInformativeText(f"{summary_words(r.plan)} in the file. The file is replaced.")
        else:
            box.setText(f"Apply {s['total']} changes to {where}?")
            extra = " Deleted entities are gone for good." if s["deleting"] else ""
            box.setInformativeText(f"{s['creating']} to create, {s['updating']} to update, "
                                   f"{s['deleting']} to delete on the target.{extra}")
        self.confirm_apply_button = box.addButton("Apply", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(_result: int) -> None:
            clicked = box.clickedButton()
            self.confirm_box = None
            if clicked is self.confirm_apply_button:
                self.start_apply()

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    def start_apply(self) -> None:
        """Apply the plan shown (after the confirmation)."""
        r = self.result
        if r is None or r.plan.empty:
            return
        self.error_panel.clear()
        steps = r.plan.steps()
        self.progress.start(steps)
        self.results.clear()
        self._seen = {}
        self.report = None
        self.result_summary.setText(f"Applying {len(r.plan.changes)} changes to {r.target_label}…")
        set_status(self.result_summary, "starting", self.result_summary.text())
        self.tabs.setCurrentWidget(self.result_page)

        def progress(_done: int, _total: int, change: Change, status: str) -> None:
            self._seen[id(change)] = Outcome(change, status)
            self.progress.advance(change, status)

        async def apply_and_tell() -> ApplyReport:
            try:
                return await apply_plan(self.session, r, progress)
            finally:
                self._tell_pages(r)

        async def run() -> ApplyReport:
            try:
                return await apply_and_tell()
            except asyncio.CancelledError:
                self._applied(as_outcomes(steps, self._seen), cancelled=True, replan=False)
                raise
            except BaseException:  # the error panel says why; the list says how far it got
                self._applied(as_outcomes(steps, self._seen), replan=False)
                raise

        self.runner.run(run(), label=f"Applying to {r.target_label}", key="apply",
                        on_done=lambda rep: self._applied(rep.outcomes, report=rep))

    def _tell_pages(self, r: PlanResult) -> None:
        """Other pages list the current connection: when it was the target, say which tables
        changed under them (applied in full or in part)."""
        conn = self.session.find(r.target.conn_id or "") if r.target.kind != FILE else None
        if self.session.current is not None and conn is not None and self.session.current.id == conn.id:
            for table in sorted({c.table for c in r.plan.changes}):
                self.session.sig_data_changed.emit(table)

    def _applied(self, outcomes: list[Outcome], *, cancelled: bool = False, report: ApplyReport | None = None,
                 replan: bool = True) -> None:
        self.report = report or ApplyReport(list(outcomes))
        self.progress.finish(report, cancelled=cancelled)
        self.results.set_outcomes(outcomes, cancelled=cancelled)
        text, tone = outcome_summary(outcomes, cancelled)
        if cancelled:
            text += ". Requests in flight may still have reached the target: press Plan to see what it holds now."
        set_status(self.result_summary, {"ok": "ok", "bad": "failed", "warn": "starting"}[tone], text)
        self.result_summary.setAccessibleName(f"Apply summary: {text}")
        if replan:
            # what the target holds now decides what the plan shows; run after this task has ended
            QTimer.singleShot(0, lambda: self.make_plan(after_apply=True))
        else:
            self.plan_stale = True  # partly applied: the plan shown no longer matches the target
            self._show_summary()
            self._update_buttons()

    # -- files ---------------------------------------------------------------------------------
    def _ask_path(self, title: str, name_filter: str, suffix: str, then: Any) -> None:
        dlg = QFileDialog(self, title)
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dlg.setFileMode(QFileDialog.FileMode.AnyFile)
        dlg.setNameFilter(name_filter)
        dlg.setDefaultSuffix(suffix)
        dlg.fileSelected.connect(then)
        self.file_dialog = dlg
        dlg.open()

    def export_plan(self, path: str | None = None) -> None:
        """Write the plan shown as decK's JSON (asks where when ``path`` is None)."""
        r = self.result
        if r is None:
            self.show_error(ErrorInfo("Cannot export", "Make a plan first."))
            return
        if path is None:
            self._ask_path("Export plan as decK JSON", JSON_FILTER, "json", self.export_plan)
            return

        async def go() -> str:
            await export_plan(r, path)
            return path

        self.runner.run(go(), label="Exporting the plan", key="export",
                        on_done=lambda p: self._note(f"Plan exported to {p}"))

    def dump(self, path: str | None = None) -> None:
        """Write the source's configuration to a decK file (YAML, or JSON for ``.json``)."""
        source = self.source.endpoint()
        if not source.usable:
            self.show_error(ErrorInfo("Cannot dump", "Choose a source first."))
            return
        if path is None:
            self._ask_path("Dump the source to", DUMP_FILTER, "yaml", self.dump)
            return
        tags, with_id = self.tag_list(), self.with_ids.isChecked()
        self.runner.run(dump_source(self.session, source, tags, path, with_id=with_id),
                        label=f"Dumping {source.describe(self.session)}", key="dump",
                        on_done=lambda n: self._note(f"Wrote {n} entities to {path} ({file_format(path).upper()})"))

    def _note(self, text: str) -> None:
        set_status(self.sync_state, "ok", f"✓ {text}")
        self.sync_state.setToolTip(text)

    # -- for other pages -----------------------------------------------------------------------
    def replicate_from(self, conn_id: str, group: str | None = None) -> None:
        """Start a replication from a connection's runtime group (Runtime Manager's “Replicate to…”)."""
        self.source.set_endpoint(Endpoint("connection", conn_id=conn_id, group=group))
        if self.source.endpoint().same_as(self.target.endpoint()):
            other = next((c for c in self.session.connections if c.id != conn_id), None)
            if other is not None:
                self.target.select_connection(other.id)
