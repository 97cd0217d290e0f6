"""Service Hub's "Import OpenAPI…": an OpenAPI 3 file → decK configuration → the current runtime
group.

The conversion is ``model.openapi2kong.convert`` (the same as ``konnect-desktop openapi2kong``,
with its select-tags and base-name options). The preview shows how many services, routes,
upstreams and plugins the file makes, the decK YAML, and the plan against the current runtime
group (``model.diff.plan``); Apply runs that plan through ``controlplanes.sync.apply`` as the
Replication page does, so entities are created in dependency order and a failure names the
entity and Kong's message. With select tags the import manages exactly the entities carrying
them (a route removed from the spec is deleted on the next import, as ``deck sync`` would);
without, it only creates and updates, and never deletes what the spec does not mention.
Reading, converting and planning run off the UI thread through the dialog's ``TaskRunner``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..controlplanes.sync import ApplyReport, apply, render_report
from ..errors import AppError
from ..model import declarative
from ..model.diff import Plan, plan
from ..model.openapi2kong import OpenAPIError, Options, convert
from .errors import ErrorInfo, ErrorPanel
from .pages.base import BusyIndicator
from .session import Session
from .tasks import TaskRunner

SPEC_FILTER = "OpenAPI (*.yaml *.yml *.json);;All files (*)"
COUNTED = ("services", "routes", "upstreams", "targets", "plugins")


class OpenAPIImportError(AppError, ValueError):
    """An OpenAPI file that cannot be imported; the message is a sentence for the dialog."""


@dataclass
class Converted:
    path: Path
    document: dict[str, Any]  # the decK document
    config: declarative.Config
    yaml_text: str
    tags: list[str]

    def counts(self) -> dict[str, int]:
        return {t: len(self.config.get(t, [])) for t in COUNTED}

    def counts_text(self) -> str:
        c = self.counts()
        words = [f"{c[t]} {t if c[t] != 1 else t[:-1]}" for t in COUNTED if c[t] or t in ("services", "routes", "plugins")]
        return " · ".join(words)


def parse_tags(text: str) -> list[str] | None:
    tags = [t.strip() for t in text.split(",") if t.strip()]
    return tags or None


def convert_file(path: str | Path, tags: list[str] | None = None, base_name: str = "") -> Converted:
    """Read, convert and validate an OpenAPI file (blocking: call it in a worker thread)."""
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise OpenAPIImportError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise OpenAPIImportError(f"{p.name}: invalid YAML{where}") from None
    try:
        deck = convert(doc, Options(tags=tags, doc_name=base_name.strip()))
    except OpenAPIError as exc:
        raise OpenAPIImportError(f"{p.name} cannot be converted: {exc}") from None
    # the entities are checked against Kong's schemas before anything is planned or sent
    config = declarative.load_document(deck)
    used = list(tags or [])
    if not used:  # the spec's own x-kong-tags are on every entity it makes
        service = next(iter(deck.get("services") or []), {})
        used = list(service.get("tags") or [])
    return Converted(p, deck, config, declarative.render(deck, "yaml"), used)


def import_plan(current: declarative.Config | dict[str, list[dict[str, Any]]], converted: Converted) -> Plan:
    """What applying ``converted`` changes: with tags, decK's sync of the tagged entities; without,
    creates and updates only."""
    the_plan = plan(current, converted.config, select_tags=converted.tags)
    if not converted.tags:
        the_plan.changes = [c for c in the_plan.changes if c.action != "delete"]
    return the_plan


def plan_words(the_plan: Plan, converted: Converted) -> str:
    s = the_plan.summary()
    head = f"{s['creating']} to create, {s['updating']} to update, {s['deleting']} to delete"
    if converted.tags:
        return head + f" (entities tagged {', '.join(converted.tags)} are managed by this spec)."
    return head + " (no select tags: what the spec does not mention is left alone)."


class OpenAPIImportDialog(QDialog):
    """Pick a file, set the options, preview (counts, YAML, plan), Apply to the current group."""

    sig_applied = Signal(object)  # ApplyReport

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = TaskRunner(self)
        self.converted: Converted | None = None
        self.plan: Plan | None = None
        self.report: ApplyReport | None = None
        self._plan_cp: Any = None  # the control plane the plan was made against
        self.setWindowTitle("Import OpenAPI")
        self.resize(900, 640)
        self._build()

    def _build(self) -> None:
        v = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setAccessibleName("OpenAPI file")
        self.path.setPlaceholderText("openapi.yaml (OpenAPI 3.0 or 3.1, YAML or JSON)")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        form.addRow("OpenAPI file", row)
        self.tags = QLineEdit()
        self.tags.setAccessibleName("Select tags")
        self.tags.setPlaceholderText("default: the spec's x-kong-tags (comma-separated)")
        self.tags.setToolTip("Every entity gets these tags; on a later import, tagged entities the spec no "
                             "longer has are deleted (as deck sync --select-tag does)")
        form.addRow("Select tags", self.tags)
        self.base_name = QLineEdit()
        self.base_name.setAccessibleName("Base name")
        self.base_name.setPlaceholderText("default: x-kong-name, then info.title")
        self.base_name.setToolTip("Names the service and seeds the entities' stable ids (--uuid-base)")
        form.addRow("Base name", self.base_name)
        v.addLayout(form)
        self.busy = BusyIndicator(self.runner)
        v.addWidget(self.busy)
        self.error_panel = ErrorPanel()
        v.addWidget(self.error_panel)
        self.counts = QLabel("Choose an OpenAPI file, then Preview.")
        self.counts.setWordWrap(True)
        v.addWidget(self.counts)
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        v.addWidget(self.plan_label)
        self.tabs = QTabWidget()
        self.yaml = QPlainTextEdit()
        self.yaml.setReadOnly(True)
        self.yaml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.yaml.setAccessibleName("decK YAML")
        self.changes = QListWidget()
        self.changes.setAccessibleName("Changes to apply")
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setAccessibleName("Apply result")
        self.tabs.addTab(self.yaml, "decK YAML")
        self.tabs.addTab(self.result, "Result")
        # the plan beside the YAML: both matter before Apply
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        changes_title = QLabel("Changes to the runtime group")
        changes_title.setObjectName("Muted")
        lv.addWidget(changes_title)
        lv.addWidget(self.changes, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        v.addWidget(split, 1)
        buttons = QDialogButtonBox()
        self.preview_button = buttons.addButton("Preview", QDialogButtonBox.ButtonRole.ActionRole)
        self.apply_button = buttons.addButton("Apply", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.preview_button.clicked.connect(lambda: self.preview())
        self.apply_button.clicked.connect(lambda: self.apply())
        self.close_button.clicked.connect(self.reject)
        v.addWidget(buttons)
        for w in (self.path, self.tags, self.base_name):
            w.textChanged.connect(self._options_changed)
        self.runner.sig_busy.connect(lambda *_: self._update_buttons())
        self.session.sig_current_changed.connect(self._connection_changed)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.runner.busy
        self.preview_button.setEnabled(not busy and bool(self.path.text().strip()))
        # a plan is for the runtime group it was made against: switching connection needs a new one
        ok = self.plan is not None and not self.plan.empty and self.session.cp is self._plan_cp
        self.apply_button.setEnabled(not busy and ok)
        self.apply_button.setToolTip("" if ok else "Preview first; nothing to apply when the plan is empty.")

    def _options_changed(self, *_: Any) -> None:
        self.plan = None  # a plan is for the options it was made with
        self._update_buttons()

    def _connection_changed(self, _conn: Any) -> None:
        if self.plan is not None:
            self.plan = None
            self.plan_label.setText("The connection changed: Preview again to plan against it.")
        self._update_buttons()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import OpenAPI", self.path.text(), SPEC_FILTER)
        if path:
            self.path.setText(path)
            self.preview()

    def _fail(self, title: str, info: ErrorInfo) -> None:
        self.error_panel.show_error(ErrorInfo(title, info.message, info.fields, info.status, info.code))

    # -- preview -----------------------------------------------------------------------------------
    def preview(self) -> asyncio.Task[Any]:
        self.error_panel.clear()
        self.plan = None
        return self.runner.run(self._preview(self.path.text().strip(), parse_tags(self.tags.text()),
                                             self.base_name.text()),
                               label="Converting and planning", key="work",
                               on_error=lambda info: self._fail("The OpenAPI file cannot be imported", info))

    async def _preview(self, path: str, tags: list[str] | None, base_name: str) -> Plan | None:
        converted = await asyncio.to_thread(convert_file, path, tags, base_name)
        self.converted = converted
        self.counts.setText(f"{converted.path.name} makes {converted.counts_text()}.")
        self.yaml.setPlainText(converted.yaml_text)
        cp = self.session.cp
        if cp is None:
            self.plan_label.setText("No runtime group is open: connect to one to apply this.")
            return None
        group = self.session.current.label if self.session.current is not None else "the current runtime group"
        current = await cp.export()
        the_plan = await asyncio.to_thread(import_plan, current, converted)
        caps = cp.capabilities
        self.plan, self._plan_cp = (the_plan, cp) if caps.writable else (None, None)
        read_only = "" if caps.writable else (
            f" {group} is read-only{' (a DB-less node)' if caps.dbless else ''}: nothing can be applied there.")
        self.plan_label.setText(f"Into {group}: {plan_words(the_plan, converted)}{read_only}")
        self.changes.clear()
        for c in the_plan.changes:
            self.changes.addItem(f"{c.action} {c.kind} {c.name}" + (f" ({', '.join(c.fields)})" if c.fields else ""))
        if the_plan.empty:
            self.changes.addItem("Nothing to change: the runtime group already has this configuration.")
        self._update_buttons()
        return the_plan

    # -- applying ----------------------------------------------------------------------------------
    def apply(self) -> asyncio.Task[Any] | None:
        if self.plan is None or self._plan_cp is None or self.session.cp is not self._plan_cp:
            return None
        self.error_panel.clear()
        return self.runner.run(self._apply(self.plan, self._plan_cp), label="Applying", key="work",
                               on_error=lambda info: self._fail("Applying the import failed", info))

    async def _apply(self, the_plan: Plan, cp: Any) -> ApplyReport:
        report = await apply(the_plan, cp)
        self.report = report
        self.plan = None
        for table in sorted({c.table for c in the_plan.changes}):
            self.session.sig_data_changed.emit(table)  # the Service Hub and the others reload
        s = report.summary()
        done = f"Applied: {s['creating']} created, {s['updating']} updated, {s['deleting']} deleted."
        if report.ok:
            self.result.setPlainText(done)
            self.plan_label.setText(done)
        else:
            text = render_report(report)
            self.result.setPlainText(f"{done}\n{text}")
            self.plan_label.setText(f"{done} {len(report.failed)} failed: see Result.")
            first = report.failed[0]
            self.error_panel.show_error(ErrorInfo(
                "Some entities were not applied",
                f"{first.change.action} {first.change.kind} {first.change.name}: {first.error}"))
        self.tabs.setCurrentWidget(self.result)
        self._update_buttons()
        self.sig_applied.emit(report)
        return report


def open_dialog(session: Session, parent: QWidget | None = None) -> OpenAPIImportDialog:
    """Show the dialog (window-modal: it applies to the group the window shows)."""
    dlg = OpenAPIImportDialog(session, parent)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.setWindowModality(Qt.WindowModality.WindowModal)
    dlg.show()
    return dlg
