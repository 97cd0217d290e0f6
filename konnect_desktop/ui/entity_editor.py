"""An entity page: a schema-driven form and its YAML, kept in sync both ways, with Save/Delete.

Used for services, routes, consumers, consumer groups, credentials and (through
``plugin_editor``) plugins. Saving validates with the model first (errors land on the fields they
name without a round trip), then awaits the control plane; the server's Kong-shaped errors are
placed the same way, and whatever names no field goes to the summary line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..model import check_entity
from ..model.entities import ENTITIES
from ..model.schema import Field
from .errors import ErrorInfo
from .forms import FormContext, FormEditor, FormLayout
from .tasks import TaskRunner
from .yamlview import MASK

AUTO_FIELDS = ("id", "created_at", "updated_at")
SaveFn = Callable[[dict[str, Any], dict[str, Any] | None], Awaitable[dict[str, Any]]]
DeleteFn = Callable[[dict[str, Any]], Awaitable[None]]
ValidateFn = Callable[[dict[str, Any]], dict[str, Any]]


def secret_paths(fields: list[tuple[str, Field]], prefix: str = "") -> list[str]:
    out = []
    for name, f in fields:
        if f.secret:
            out.append(prefix + name)
        elif f.type == "record" and f.fields:
            out += secret_paths(f.fields, f"{prefix}{name}.")
    return out


def _get_path(d: Any, path: str) -> Any:
    for p in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            return
        d = nxt
    if parts[-1] in d:
        d[parts[-1]] = value


class EntityEditor(QWidget):
    """Form + YAML for one entity of ``table``. Call ``load(entity)`` (None for a new one)."""

    sig_saved = Signal(dict)
    sig_deleted = Signal(dict)
    sig_dirty = Signal(bool)

    def __init__(
        self,
        table: str,
        *,
        fields: list[tuple[str, Field]] | None = None,
        layout: FormLayout | None = None,
        hide: tuple[str, ...] = (),
        context: FormContext | None = None,
        save: SaveFn | None = None,
        delete: DeleteFn | None = None,
        validate: ValidateFn | None = None,
        header: QWidget | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.table = table
        self.fields = fields if fields is not None else ENTITIES[table].schema.fields
        self._save_fn = save
        self._delete_fn = delete
        self._validate_fn = validate
        self.entity: dict[str, Any] | None = None
        self.runner = TaskRunner(self)
        self._syncing = False
        self._dirty = False
        self._error_values: dict[str, Any] = {}  # field with an error shown → its value then
        self.secrets = secret_paths(self.fields)

        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        if header is not None:
            v.addWidget(header)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.form = FormEditor(self.fields, context=context, layout=layout, hide=(*AUTO_FIELDS, *hide))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        holder = QWidget()
        hv = QVBoxLayout(holder)
        hv.setContentsMargins(8, 8, 8, 8)
        # forms read best at a line length, not stretched across a wide window
        self.form.setMaximumWidth(900)
        row = QHBoxLayout()
        row.addWidget(self.form, 10)
        row.addStretch(1)
        hv.addLayout(row)
        hv.addStretch(1)
        scroll.setWidget(holder)
        self.tabs.addTab(scroll, "Form")
        self.yaml = QPlainTextEdit()
        self.yaml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.yaml.setAccessibleName("YAML editor")
        self.tabs.addTab(self.yaml, "YAML")
        v.addWidget(self.tabs, 1)

        self.summary = QLabel()
        self.summary.setObjectName("Summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary)

        buttons = QHBoxLayout()
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setAccessibleName(f"Delete {table}")
        self.delete_button.clicked.connect(self.confirm_delete)
        self.delete_button.setVisible(delete is not None)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        self.busy_label = QLabel()
        self.busy_label.setObjectName("Muted")
        buttons.addWidget(self.busy_label)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running operation, or discard unsaved edits")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.cancel_button)
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.setToolTip(f"Save ({QKeySequence(QKeySequence.StandardKey.Save).toString(QKeySequence.SequenceFormat.NativeText)})")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        v.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

        self.form.sig_changed.connect(self._form_changed)
        self._yaml_timer = QTimer(self)
        self._yaml_timer.setSingleShot(True)
        self._yaml_timer.setInterval(300)
        self._yaml_timer.timeout.connect(self._yaml_to_form)
        self.yaml.textChanged.connect(self._yaml_edited)
        self.runner.sig_busy.connect(self._busy)

    # -- loading -----------------------------------------------------------------------------
    def new_entity(self) -> dict[str, Any]:
        """Defaults for a new entity, as the model fills them."""
        data, _ = check_entity(self.table, {}) if self.table != "plugins" else ({}, {})
        return {k: v for k, v in data.items() if k not in AUTO_FIELDS}

    def load(self, entity: dict[str, Any] | None) -> None:
        self.entity = entity
        self.form.set_value(dict(entity) if entity is not None else self.new_entity())
        self.form.clear_errors()
        self._error_values = {}
        self.set_summary("")
        self.delete_button.setEnabled(entity is not None)
        self._sync_yaml()
        self._set_dirty(False)

    @property
    def is_new(self) -> bool:
        return self.entity is None

    def value(self) -> dict[str, Any]:
        return self.form.value()

    # -- YAML <-> form -----------------------------------------------------------------------
    def _form_changed(self) -> None:
        self._set_dirty(True)
        if not self._syncing:
            self._sync_yaml()
        if self._error_values:
            self._clear_fixed_errors()

    def _clear_fixed_errors(self) -> None:
        """A field's error goes as soon as its value changed and the local check finds nothing
        wrong with it any more (not only at the next Save)."""
        value = self.value()
        still = self.local_errors(value)
        for name, was in list(self._error_values.items()):
            ed = self.form.editors.get(name)
            if ed is None or value.get(name) == was or name in still:
                continue
            ed.clear_errors()
            del self._error_values[name]
        if not self._error_values and not self.form.errors_shown():
            self.set_summary("")

    def yaml_document(self) -> dict[str, Any]:
        data = {k: v for k, v in self.value().items() if k not in AUTO_FIELDS}
        for p in self.secrets:
            if _get_path(data, p) is not None:
                _set_path(data, p, MASK)
        return data

    def _sync_yaml(self) -> None:
        if self.yaml.hasFocus():
            return  # never rewrite what the user is typing
        self._syncing = True
        try:
            self.yaml.setPlainText(yaml.safe_dump(self.yaml_document(), sort_keys=False, allow_unicode=True))
        finally:
            self._syncing = False

    def _yaml_edited(self) -> None:
        if not self._syncing:
            self._yaml_timer.start()

    def _yaml_to_form(self) -> bool:
        try:
            doc = yaml.safe_load(self.yaml.toPlainText()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            self.set_summary(f"⚠ YAML: {getattr(exc, 'problem', None) or exc}{where}", error=True)
            return False
        if not isinstance(doc, dict):
            self.set_summary("⚠ YAML: expected a mapping of field names to values", error=True)
            return False
        current = self.form.value()
        for p in self.secrets:  # a masked secret means "unchanged"
            if _get_path(doc, p) == MASK:
                _set_path(doc, p, _get_path(current, p))
        merged = {**{k: v for k, v in current.items() if k in AUTO_FIELDS}, **doc}
        self._syncing = True
        try:
            self.form.set_value(merged)
        finally:
            self._syncing = False
        self.set_summary("")
        return True

    # -- state ---------------------------------------------------------------------------------
    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.sig_dirty.emit(dirty)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def _busy(self, busy: bool, label: str) -> None:
        self.busy_label.setText(f"{label}…" if busy else "")
        self.save_button.setEnabled(not busy)
        self.delete_button.setEnabled(not busy and self.entity is not None)

    def set_summary(self, text: str, *, error: bool = False) -> None:
        self.summary.setText(text)
        self.summary.setProperty("state", "error" if error else "ok")
        self.summary.style().unpolish(self.summary)
        self.summary.style().polish(self.summary)
        self.summary.setVisible(bool(text))

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.set_summary("Cancelled.")
            return
        self.load(self.entity)

    # -- validation and saving -----------------------------------------------------------------
    def local_errors(self, data: dict[str, Any]) -> dict[str, Any]:
        if self._validate_fn is not None:
            return self._validate_fn(data)
        _, errors = check_entity(self.table, data)
        return errors

    def show_errors(self, fields: dict[str, Any], message: str | None = None) -> None:
        rest = self.form.set_errors(fields)
        value = self.value()
        self._error_values = {name.split(".")[0]: value.get(name.split(".")[0]) for name in self.form.errors_shown()}
        placed = len(self.form.errors_shown())
        parts = []
        if message:
            parts.append(message)
        elif placed:
            parts.append(f"{placed} field{'s' if placed != 1 else ''} need{'s' if placed == 1 else ''} attention.")
        parts += rest
        self.set_summary("⚠ " + " ".join(parts) if parts else "", error=True)
        first = next(iter(self.form.errors_shown()), None)
        if first:
            ed = self.form.editor_at(first)
            if ed is not None:
                ed.setFocus()

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in self.value().items() if k not in AUTO_FIELDS}

    def save(self) -> None:
        if self.yaml.hasFocus() or self._yaml_timer.isActive():
            self._yaml_timer.stop()
            if not self._yaml_to_form():
                return
        data = self.value()
        errors = self.local_errors(data)
        if errors:
            self.show_errors(errors)
            return
        self.form.clear_errors()
        self._error_values = {}
        if self._save_fn is None:
            return
        self.set_summary("")
        self.runner.run(self._save_fn(self.payload(), self.entity), label="Saving", key="save",
                        on_done=self._saved, on_error=self._failed)

    def _saved(self, entity: dict[str, Any]) -> None:
        self.load(entity)
        self.set_summary("Saved.")
        self.sig_saved.emit(entity)

    def _failed(self, info: ErrorInfo) -> None:
        self.show_errors(info.field_messages(), info.message)

    def confirm_delete(self) -> None:
        if self.entity is None or self._delete_fn is None:
            return
        name = ENTITIES[self.table].display_name(self.entity) if self.table in ENTITIES else self.entity.get("id")
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete", f"Delete {ENTITIES[self.table].kind if self.table in ENTITIES else self.table} “{name}”?",
                          QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Yes, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        def answered(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes.value:
                self.delete()

        box.finished.connect(answered)
        box.open()

    def delete(self) -> None:
        if self.entity is None or self._delete_fn is None:
            return
        entity = self.entity
        self.runner.run(self._delete_fn(entity), label="Deleting", key="delete",
                        on_done=lambda _: self.sig_deleted.emit(entity), on_error=self._failed)
