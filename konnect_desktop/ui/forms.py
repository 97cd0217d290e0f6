"""The form generator: one widget tree built from a schema, for every entity and every plugin.

``FormEditor(fields)`` renders a list of ``(name, Field)`` from ``model.schema`` (or rebuilt from a
remote gateway's ``/schemas/plugins/{name}`` JSON with ``field_from_kong``), so a plugin we do not
bundle still gets a proper form. Each field type has one editor:

==================  ======================================================================
string              line edit (multi-line if ``ui["multiline"]``, masked if ``secret``)
one_of              combo box (or radio buttons when the layout asks for them)
integer / number    spin box bounded by ``between`` / ``gt``
boolean             check box (tri-state when the field may be null and has no default)
array / set         editable list; a set of enum values is a row of check boxes
map                 two-column key/value table
record              group box holding a nested form (checkable when the record may be null)
array of records    a list of nested forms with add/remove
foreign             combo box of the referenced entities (or an id)
==================  ======================================================================

Null is not the same as a default: every optional field has an explicit *unset* state (an empty
line edit, an "unset" spin-box value, a partially checked box, an unset combo entry) and the form
returns ``None`` for it, which is what Kong stores. Each field's description is its tooltip; errors
from local validation or from the server are placed on the field they name (``set_errors``) and
whatever names no field comes back for the summary line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..model.schema import UNSET, Field, default_for

INT_MIN = -(2**31) + 2
INT_MAX = 2**31 - 1
UNSET_TEXT = "unset"


def humanize(name: str) -> str:
    """``connect_timeout`` → ``Connect timeout`` (labels; the YAML tab keeps the real names)."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def describe_field(name: str, f: Field) -> str:
    """The tooltip: the schema's description plus the rules a user would otherwise guess."""
    parts = [f.description or humanize(name)]
    rules = []
    if f.required:
        rules.append("required")
    if f.one_of is not None:
        rules.append("one of: " + ", ".join(map(str, f.one_of)))
    if f.between is not None:
        rules.append(f"between {_fmt(f.between[0])} and {_fmt(f.between[1])}")
    if f.gt is not None:
        rules.append(f"greater than {_fmt(f.gt)}")
    if f.default is not UNSET and f.default is not None and f.type not in ("record",):
        rules.append(f"default: {json.dumps(f.default)}")
    if f.secret:
        rules.append("secret: masked on screen")
    if rules:
        parts.append("(" + "; ".join(rules) + ")")
    return "\n".join(parts)


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _nullable(f: Field) -> bool:
    """May the user leave this field empty (null)?"""
    return not f.required


@dataclass
class FormLayout:
    """Hand-tuned touches for one form, all optional; unknown field names are ignored.

    ``order``: fields first, in this order (the rest follow in schema order).
    ``groups``: (title, [fields]) rendered side by side in one row.
    ``titles``: label overrides.  ``horizontal``: records whose sub-fields sit side by side.
    ``radio``: enum fields shown as radio buttons.  ``visible_when``: field → (other field, values).
    ``sub``: layouts for nested records, by field name.  ``hide``: fields not shown (kept as given).
    """

    order: list[str] = field(default_factory=list)
    groups: list[tuple[str, list[str]]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    horizontal: set[str] = field(default_factory=set)
    radio: set[str] = field(default_factory=set)
    visible_when: dict[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)
    sub: dict[str, FormLayout] = field(default_factory=dict)
    hide: set[str] = field(default_factory=set)


class FormContext:
    """What a form needs from its surroundings: choices for foreign keys (name, id)."""

    def __init__(self, foreign_choices: Callable[[str], list[tuple[str, str]]] | None = None) -> None:
        self._foreign_choices = foreign_choices

    def foreign_choices(self, table: str) -> list[tuple[str, str]]:
        return self._foreign_choices(table) if self._foreign_choices else []


# -- field editors ------------------------------------------------------------------------------
class FieldEditor(QWidget):
    """One field's editor: ``value()``, ``set_value()``, and an error line under it."""

    sig_changed = Signal()

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.field = f
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(2)
        self.error_label = QLabel()
        self.error_label.setObjectName("FieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.setToolTip(describe_field(name, f))
        self.setAccessibleName(humanize(name))

    def _finish(self, main: QWidget) -> None:
        self._lay.addWidget(main)
        self._lay.addWidget(self.error_label)
        main.setAccessibleName(humanize(self.name))
        main.setAccessibleDescription(self.field.description or "")

    def value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_value(self, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_error(self, err: Any) -> None:
        text = _error_text(err)
        self.error_label.setText(f"⚠ {text}" if text else "")
        self.error_label.setVisible(bool(text))

    def clear_errors(self) -> None:
        self.set_error(None)

    def error_text(self) -> str:
        return self.error_label.text() if self.error_label.isVisible() or self.error_label.text() else ""

    def editor_at(self, path: list[str]) -> FieldEditor | None:
        return self if not path else None


def _error_text(err: Any) -> str:
    if err is None or err == "" or err == {} or err == []:
        return ""
    if isinstance(err, str):
        return err
    if isinstance(err, list):
        parts = [f"item {i + 1}: {_error_text(e)}" for i, e in enumerate(err) if e is not None]
        return "; ".join(parts)
    if isinstance(err, dict):
        return "; ".join(f"{k}: {_error_text(v)}" for k, v in err.items())
    return str(err)


class StringEditor(FieldEditor):
    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.multiline = bool(f.ui.get("multiline"))
        if self.multiline:
            self.edit: QLineEdit | QPlainTextEdit = QPlainTextEdit()
            self.edit.setTabChangesFocus(True)
            self.edit.setMinimumHeight(70)
            self.edit.setPlaceholderText(UNSET_TEXT)
            self.edit.textChanged.connect(self.sig_changed)
            self._finish(self.edit)
            return
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(UNSET_TEXT if f.default in (UNSET, None) else f"unset (default {f.default})")
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.sig_changed)
        if f.secret:
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(self.edit, 1)
            self.reveal = QToolButton()
            self.reveal.setText("Show")
            self.reveal.setCheckable(True)
            self.reveal.setAccessibleName(f"Show {humanize(name)}")
            self.reveal.toggled.connect(self._reveal)
            h.addWidget(self.reveal)
            self._finish(row)
            return
        self._finish(self.edit)

    def _reveal(self, on: bool) -> None:
        assert isinstance(self.edit, QLineEdit)
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        self.reveal.setText("Hide" if on else "Show")

    def value(self) -> Any:
        text = self.edit.toPlainText() if isinstance(self.edit, QPlainTextEdit) else self.edit.text()
        if text == "":
            # a required field that may be empty (len_min 0, e.g. acme's Redis namespace) is "",
            # never null; any other empty box means unset
            return "" if self.field.required and self.field.len_min == 0 else None
        return text

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if isinstance(self.edit, QPlainTextEdit):
            if self.edit.toPlainText() != text:
                self.edit.setPlainText(text)
        elif self.edit.text() != text:
            self.edit.setText(text)


class EnumEditor(FieldEditor):
    """A combo box of ``one_of``; optional fields get an explicit "unset" entry first."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.combo = QComboBox()
        if _nullable(f):
            self.combo.addItem(UNSET_TEXT, None)
        for v in f.one_of or ():
            self.combo.addItem(str(v), v)
        self.combo.currentIndexChanged.connect(self.sig_changed)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._finish(self.combo)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        idx = self.combo.findData(value) if value is not None else (0 if _nullable(self.field) else -1)
        if idx < 0 and value is not None:  # a value the schema does not list: show it, Kong will judge
            self.combo.addItem(str(value), value)
            idx = self.combo.count() - 1
        self.combo.setCurrentIndex(idx)


class RadioEditor(FieldEditor):
    """``one_of`` as a row of radio buttons (for short lists the layout asks to spell out)."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        self.group = QButtonGroup(self)
        self.buttons: list[tuple[QRadioButton, Any]] = []
        options: list[Any] = list(f.one_of or ())
        if _nullable(f):
            options = [None, *options]
        for v in options:
            b = QRadioButton(UNSET_TEXT if v is None else str(v))
            self.group.addButton(b)
            self.buttons.append((b, v))
            h.addWidget(b)
            b.toggled.connect(self._toggled)
        h.addStretch(1)
        self._finish(row)

    def _toggled(self, on: bool) -> None:
        if on:
            self.sig_changed.emit()

    def value(self) -> Any:
        for b, v in self.buttons:
            if b.isChecked():
                return v
        return None

    def set_value(self, value: Any) -> None:
        for b, v in self.buttons:
            if v == value:
                b.setChecked(True)
                return


class _NumberSpin(QDoubleSpinBox):
    """A double spin box that shows ``10`` rather than ``10.000000``."""

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text or "0"


class NumberEditor(FieldEditor):
    """Integers and numbers in a spin box bounded by the schema; the minimum-1 slot means unset."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.is_int = f.type == "integer"
        lo, hi = (float(INT_MIN), float(INT_MAX))
        if f.between is not None:
            lo, hi = float(f.between[0]), float(f.between[1])
        if f.gt is not None:
            lo = max(lo, f.gt + 1 if self.is_int else f.gt + 1e-6)
        if f.one_of is not None:
            lo, hi = float(min(f.one_of)), float(max(f.one_of))
        self.lo = lo
        # a required number without a default (oauth2_tokens.expires_in, tcp-log's port) starts
        # unset too: showing 0 would store a value the user never chose (0 = a token that never
        # expires); left unset, validation names the missing field
        self.nullable = _nullable(f) or f.default in (UNSET, None)
        if self.is_int:
            self.spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            lo_i = int(max(lo, INT_MIN))
            self.spin.setRange(lo_i - 1 if self.nullable else lo_i, int(min(hi, INT_MAX)))
        else:
            self.spin = _NumberSpin()
            self.spin.setDecimals(6)
            lo_f = max(lo, float(INT_MIN)) if math.isfinite(lo) else float(INT_MIN)
            # the unset slot sits one step under the lowest valid value
            self.spin.setRange(lo_f - 1 if self.nullable else lo_f, min(hi, 1e15))
        if self.nullable:
            self.spin.setSpecialValueText(UNSET_TEXT)
        self.spin.setAccelerated(True)
        self.spin.setMinimumWidth(72)
        self.spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # no accidental wheel edits
        self.spin.valueChanged.connect(self.sig_changed)
        self._finish(self.spin)
        self.set_value(None)

    def value(self) -> Any:
        v = self.spin.value()
        if self.nullable and v == self.spin.minimum():
            return None
        if self.is_int:
            return int(v)
        return int(v) if float(v).is_integer() else float(v)

    def set_value(self, value: Any) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            self.spin.setValue(self.spin.minimum() if self.nullable else max(self.lo, 0) if self.lo <= 0 <= self.spin.maximum() else self.lo)
            return
        self.spin.setValue(value)


class BoolEditor(FieldEditor):
    """A check box whose text says the state. When null is a distinct value (optional, no
    default) it is a three-way choice instead: unset / yes / no."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.tristate = _nullable(f) and f.default in (UNSET, None)
        if self.tristate:
            self.combo = QComboBox()
            for text, v in ((UNSET_TEXT, None), ("yes", True), ("no", False)):
                self.combo.addItem(text, v)
            self.combo.currentIndexChanged.connect(self.sig_changed)
            self._finish(self.combo)
            return
        self.box = QCheckBox("no")
        self.box.toggled.connect(self._toggled)
        self._finish(self.box)

    def _toggled(self, on: bool) -> None:
        self.box.setText("yes" if on else "no")
        self.sig_changed.emit()

    def value(self) -> Any:
        if self.tristate:
            return [None, True, False][max(self.combo.currentIndex(), 0)]
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        if self.tristate:
            self.combo.setCurrentIndex(0 if value is None else 1 if value else 2)
        else:
            self.box.setChecked(bool(value))


def _parse_scalar(f: Field | None, text: str) -> Any:
    """Text from a list cell → the element type (kept as text when it does not parse, so that
    validation reports Kong's type error on that item instead of the form guessing)."""
    if f is None:
        return text
    if f.type == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if f.type == "number":
        try:
            v = float(text)
            return int(v) if v.is_integer() else v
        except ValueError:
            return text
    if f.type == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if f.type in ("record", "map", "array", "set", "any"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return "" if v is None else str(v)


class _ButtonRow(QWidget):
    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(2)
        self.add = QToolButton()
        self.add.setText("+")
        self.add.setToolTip(f"Add {what}")
        self.add.setAccessibleName(f"Add {what}")
        self.remove = QToolButton()
        self.remove.setText("−")
        self.remove.setToolTip(f"Remove selected {what}")
        self.remove.setAccessibleName(f"Remove {what}")
        h.addWidget(self.add)
        h.addWidget(self.remove)
        h.addStretch(1)


class ListEditor(FieldEditor):
    """Arrays and sets of scalars: an editable list (double-click or F2 to edit an item)."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        self.list = QListWidget()
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        row = self.list.fontMetrics().height() + 10
        self.list.setMaximumHeight(max(int(f.ui.get("height", 66)), 3 * row + 4))
        self.list.setAlternatingRowColors(True)
        self.list.itemChanged.connect(self.sig_changed)
        v.addWidget(self.list)
        self.buttons = _ButtonRow("item")
        self.buttons.add.clicked.connect(self._add_clicked)
        self.buttons.remove.clicked.connect(self.remove_selected)
        v.addWidget(self.buttons)
        self._none = True
        self._finish(box)

    def _add_clicked(self) -> None:
        self.add_item("")

    def add_item(self, text: str = "") -> QListWidgetItem:
        item = QListWidgetItem(text if isinstance(text, str) else "")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        # rows tall enough for the inline editor's frame (a bare text row clips it)
        item.setSizeHint(QSize(0, self.list.fontMetrics().height() + 10))
        self.list.addItem(item)
        if not text:
            # "+" opens the new row's editor where it can be seen: scrolled to, and focused
            self.list.setCurrentItem(item)
            self.list.scrollToItem(item)
            self.list.setFocus()
            self.list.editItem(item)
        self._none = False
        self.sig_changed.emit()
        return item

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.sig_changed.emit()

    def items(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def value(self) -> Any:
        vals = [_parse_scalar(self.field.elements, t) for t in self.items() if t != ""]
        if not vals and self._none and not self.field.required:
            return None
        return vals

    def set_value(self, value: Any) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for v in value or []:
            item = QListWidgetItem(_scalar_text(v))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._none = value is None
        self.sig_changed.emit()


class CheckListEditor(FieldEditor):
    """A set (or array) of enum values: one check box per allowed value. An array is ordered
    (proxy-cache's ``request_method`` defaults to ``GET, HEAD`` while its choices list ``HEAD``
    first), so the value keeps the loaded order and appends values in the order they are checked."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[tuple[QCheckBox, Any]] = []
        self._order: list[Any] = []  # checked values, loaded ones first, then as checked
        for v in (f.elements.one_of if f.elements else None) or ():
            b = QCheckBox(str(v))
            b.toggled.connect(lambda on, v=v: self._toggled(v, on))
            b.toggled.connect(self.sig_changed)
            self.boxes.append((b, v))
            h.addWidget(b)
        h.addStretch(1)
        self._none = True
        self._finish(row)

    def _toggled(self, v: Any, on: bool) -> None:
        if on and v not in self._order:
            self._order.append(v)
        elif not on and v in self._order:
            self._order.remove(v)

    def value(self) -> Any:
        checked = [v for b, v in self.boxes if b.isChecked()]
        vals = [v for v in self._order if v in checked] + [v for v in checked if v not in self._order]
        if not vals and not self.field.required and self.field.default in (UNSET, None):
            return None
        return vals

    def set_value(self, value: Any) -> None:
        chosen = list(value or [])
        self._order = [v for v in chosen if any(v == bv for _, bv in self.boxes)]
        for b, v in self.boxes:
            b.blockSignals(True)
            b.setChecked(v in chosen)
            b.blockSignals(False)
        self.sig_changed.emit()


class MapEditor(FieldEditor):
    """A map: key/value rows. Array values are written comma-separated; others as YAML."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["key", "value"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(110)
        self.table.itemChanged.connect(self.sig_changed)
        v.addWidget(self.table)
        self.buttons = _ButtonRow("entry")
        self.buttons.add.clicked.connect(lambda: self.add_row("", ""))
        self.buttons.remove.clicked.connect(self.remove_selected)
        v.addWidget(self.buttons)
        self._none = True
        self._finish(box)

    def add_row(self, key: str, value: str) -> None:
        r = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(key))
        self.table.setItem(r, 1, QTableWidgetItem(value))
        self.table.blockSignals(False)
        self._none = False
        self.sig_changed.emit()

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            self.table.removeRow(r)
        self.sig_changed.emit()

    def _value_text(self, v: Any) -> str:
        vf = self.field.values
        if vf is not None and vf.type in ("array", "set") and isinstance(v, list):
            return ", ".join(_scalar_text(x) for x in v)
        return _scalar_text(v)

    def _parse_value(self, text: str) -> Any:
        vf = self.field.values
        if vf is not None and vf.type in ("array", "set"):
            return [_parse_scalar(vf.elements, t.strip()) for t in text.split(",") if t.strip()]
        return _parse_scalar(vf, text)

    def value(self) -> Any:
        out: dict[str, Any] = {}
        for r in range(self.table.rowCount()):
            k = self.table.item(r, 0)
            val = self.table.item(r, 1)
            if k is None or not k.text():
                continue
            out[k.text()] = self._parse_value(val.text() if val else "")
        if not out and self._none and not self.field.required and self.field.default in (UNSET, None):
            return None
        return out

    def set_value(self, value: Any) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)
        for k, v in (value or {}).items():
            self.add_row(str(k), self._value_text(v))
        self._none = value is None
        self.sig_changed.emit()


class ForeignEditor(FieldEditor):
    """A reference to another entity: pick it by name; the value is ``{"id": ...}`` or None."""

    def __init__(self, name: str, f: Field, context: FormContext, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.lineEdit().setPlaceholderText("none" if _nullable(f) else "choose…")
        if _nullable(f):
            self.combo.addItem("", None)
        for label, ident in context.foreign_choices(f.reference or ""):
            self.combo.addItem(label, ident)
        self.combo.currentIndexChanged.connect(self.sig_changed)
        self.combo.editTextChanged.connect(self.sig_changed)
        self._finish(self.combo)

    def value(self) -> Any:
        text = self.combo.currentText().strip()
        if not text:
            return None
        idx = self.combo.findText(text)
        ident = self.combo.itemData(idx) if idx >= 0 else text  # a typed id
        return {"id": ident} if ident else None

    def set_value(self, value: Any) -> None:
        ident = value.get("id") if isinstance(value, dict) else value
        if not ident:
            self.combo.setCurrentIndex(0 if _nullable(self.field) else -1)
            self.combo.setEditText("")
            return
        idx = self.combo.findData(ident)
        if idx < 0:
            self.combo.addItem(str(ident), ident)
            idx = self.combo.count() - 1
        self.combo.setCurrentIndex(idx)


class AnyEditor(FieldEditor):
    """A field of any type: YAML in a line edit."""

    def __init__(self, name: str, f: Field, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("YAML value, or empty for unset")
        self.edit.textChanged.connect(self.sig_changed)
        self._finish(self.edit)

    def value(self) -> Any:
        text = self.edit.text().strip()
        if not text:
            return None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else json.dumps(value) if not isinstance(value, str) else value)


class RecordEditor(FieldEditor):
    """A record: a group box with a nested form; checkable when the record itself may be null."""

    def __init__(self, name: str, f: Field, context: FormContext, layout: FormLayout | None,
                 title: str | None = None, horizontal: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.box = QGroupBox(title or humanize(name))
        self.box.setToolTip(describe_field(name, f))
        self.nullable_record = f.nullable and not f.required and bool(f.ui.get("null_default"))
        self.box.setCheckable(self.nullable_record)
        inner = QVBoxLayout(self.box)
        inner.setContentsMargins(8, 6, 8, 6)
        self.form = FormEditor(f.fields or [], context=context, layout=layout, horizontal=horizontal)
        self.form.sig_changed.connect(self.sig_changed)
        inner.addWidget(self.form)
        if self.nullable_record:
            self.box.toggled.connect(self.form.setVisible)
            self.box.toggled.connect(self.sig_changed)
        self._finish(self.box)

    def value(self) -> Any:
        if self.nullable_record and not self.box.isChecked():
            return None
        return self.form.value()

    def set_value(self, value: Any) -> None:
        if self.nullable_record:
            self.box.setChecked(value is not None)
            self.form.setVisible(value is not None)
        if isinstance(value, dict):
            self.form.set_value(value)
        elif value is None:
            self.form.set_value(default_for(self.field.with_(ui={})) or {})

    def set_error(self, err: Any) -> None:
        if isinstance(err, dict):
            rest = self.form.set_errors(err)
            super().set_error("; ".join(rest) if rest else None)
        else:
            self.form.clear_errors()
            super().set_error(err)

    def clear_errors(self) -> None:
        self.form.clear_errors()
        super().set_error(None)

    def editor_at(self, path: list[str]) -> FieldEditor | None:
        if not path:
            return self
        return self.form.editor_at(".".join(path))


class RecordListEditor(FieldEditor):
    """An array of records: each item a nested form with its own remove button."""

    def __init__(self, name: str, f: Field, context: FormContext, parent: QWidget | None = None) -> None:
        super().__init__(name, f, parent)
        self.context = context
        box = QWidget()
        self.v = QVBoxLayout(box)
        self.v.setContentsMargins(0, 0, 0, 0)
        self.items_box = QVBoxLayout()
        self.v.addLayout(self.items_box)
        add = QToolButton()
        add.setText(f"+ Add {humanize(name).lower()}")
        add.setAccessibleName(f"Add {humanize(name).lower()}")
        add.clicked.connect(self._add_clicked)
        self.v.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        self.forms: list[tuple[QFrame, FormEditor]] = []
        self._none = True
        self._finish(box)

    def _add_clicked(self) -> None:
        self.add_item(None)

    def add_item(self, value: dict[str, Any] | None) -> FormEditor:
        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        h = QHBoxLayout(frame)
        h.setContentsMargins(4, 4, 4, 4)
        elements = self.field.elements
        form = FormEditor(elements.fields if elements and elements.fields else [], context=self.context)
        form.set_value(value if value is not None else (default_for(elements) if elements else {}) or {})
        form.sig_changed.connect(self.sig_changed)
        h.addWidget(form, 1)
        rm = QToolButton()
        rm.setText("✕")
        rm.setAccessibleName("Remove item")
        rm.setToolTip("Remove this item")
        rm.clicked.connect(lambda: self._remove(frame))
        h.addWidget(rm, 0, Qt.AlignmentFlag.AlignTop)
        self.items_box.addWidget(frame)
        self.forms.append((frame, form))
        self._none = False
        self.sig_changed.emit()
        return form

    def _remove(self, frame: QFrame) -> None:
        self.forms = [(fr, fo) for fr, fo in self.forms if fr is not frame]
        frame.setParent(None)
        frame.deleteLater()
        self.sig_changed.emit()

    def value(self) -> Any:
        vals = [form.value() for _, form in self.forms]
        if not vals and self._none and not self.field.required:
            return None
        return vals

    def set_value(self, value: Any) -> None:
        for frame, _ in self.forms:
            frame.setParent(None)
            frame.deleteLater()
        self.forms = []
        for item in value or []:
            self.add_item(item if isinstance(item, dict) else {})
        self._none = value is None

    def set_error(self, err: Any) -> None:
        if isinstance(err, list):
            rest = []
            for i, e in enumerate(err):
                if e is None:
                    continue
                if i < len(self.forms) and isinstance(e, dict):
                    rest += [f"item {i + 1}: {r}" for r in self.forms[i][1].set_errors(e)]
                else:
                    rest.append(f"item {i + 1}: {_error_text(e)}")
            super().set_error("; ".join(rest) if rest else None)
        else:
            super().set_error(err)

    def clear_errors(self) -> None:
        for _, form in self.forms:
            form.clear_errors()
        super().set_error(None)


def make_editor(name: str, f: Field, context: FormContext, layout: FormLayout | None = None,
                parent_layout: FormLayout | None = None) -> FieldEditor:
    """The editor for one field, chosen by its type (and the layout's hints)."""
    pl = parent_layout or FormLayout()
    t = f.type
    if t == "record" and f.fields is not None:
        return RecordEditor(name, f, context, layout, title=pl.titles.get(name), horizontal=name in pl.horizontal)
    if t in ("array", "set") and f.elements is not None:
        if f.elements.type == "record" and f.elements.fields is not None:
            return RecordListEditor(name, f, context)
        if f.elements.one_of is not None and f.elements.type == "string":
            return CheckListEditor(name, f)
        return ListEditor(name, f)
    if t == "map":
        return MapEditor(name, f)
    if t == "foreign":
        return ForeignEditor(name, f, context)
    if t == "boolean":
        return BoolEditor(name, f)
    if t in ("integer", "number") and f.one_of is None:
        return NumberEditor(name, f)
    if f.one_of is not None:
        return RadioEditor(name, f) if name in pl.radio else EnumEditor(name, f)
    if t == "string":
        return StringEditor(name, f)
    return AnyEditor(name, f)


# -- the form -----------------------------------------------------------------------------------
class FormEditor(QWidget):
    """A form for a list of fields. ``value()`` returns every field (None where unset), plus any
    hidden or unknown keys given to ``set_value`` untouched, so an edit never drops data."""

    sig_changed = Signal()

    def __init__(
        self,
        fields: Iterable[tuple[str, Field]],
        *,
        context: FormContext | None = None,
        layout: FormLayout | None = None,
        hide: Iterable[str] = (),
        horizontal: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.fields = list(fields)
        self.context = context or FormContext()
        self.layout_spec = layout or FormLayout()
        self.hidden = set(hide) | set(self.layout_spec.hide)
        self.editors: dict[str, FieldEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self._rows: dict[str, QWidget] = {}
        self._extra: dict[str, Any] = {}
        self._loading = False
        spec = self.layout_spec
        fmap = dict(self.fields)

        for name, f in self.fields:
            if name in self.hidden:
                continue
            ed = make_editor(name, f, self.context, spec.sub.get(name), spec)
            ed.sig_changed.connect(self._changed)
            self.editors[name] = ed

        if horizontal:
            outer = QHBoxLayout(self)
            outer.setContentsMargins(0, 0, 0, 0)
            h_order = [n for n in spec.order if n in self.editors]
            h_order += [n for n in self.editors if n not in h_order]
            for name in h_order:
                ed = self.editors[name]
                col = QVBoxLayout()
                lab = QLabel(spec.titles.get(name, humanize(name)))
                lab.setToolTip(ed.toolTip())
                self.labels[name] = lab
                col.addWidget(lab)
                col.addWidget(ed)
                col.addStretch(1)
                outer.addLayout(col, 1)
            self._connect_visibility()
            return

        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        grouped = {n for _, names in spec.groups for n in names if n in self.editors}
        order = [n for n in spec.order if n in self.editors]
        order += [n for n in self.editors if n not in order]
        placed_groups: set[str] = set()
        for name in order:
            if name in grouped:
                title, names = next((t, ns) for t, ns in spec.groups if name in ns)
                if title in placed_groups:
                    continue
                placed_groups.add(title)
                row = QWidget()
                h = QHBoxLayout(row)
                h.setContentsMargins(0, 0, 0, 0)
                for n in names:
                    if n not in self.editors:
                        continue
                    col = QVBoxLayout()
                    col.setSpacing(1)
                    lab = QLabel(spec.titles.get(n, n))
                    lab.setToolTip(self.editors[n].toolTip())
                    lab.setBuddy(self.editors[n])
                    self.labels[n] = lab
                    col.addWidget(lab)
                    col.addWidget(self.editors[n])
                    h.addLayout(col)
                    self._rows[n] = row
                h.addStretch(1)
                glabel = QLabel(title)
                self.form.addRow(glabel, row)
                continue
            ed = self.editors[name]
            f = fmap[name]
            if isinstance(ed, RecordEditor):
                self.form.addRow(ed)
                self._rows[name] = ed
                continue
            text = spec.titles.get(name, humanize(name)) + (" *" if f.required and f.type != "boolean" else "")
            lab = QLabel(text)
            lab.setToolTip(ed.toolTip())
            lab.setBuddy(ed)
            self.labels[name] = lab
            self.form.addRow(lab, ed)
            self._rows[name] = ed
        self._connect_visibility()

    # -- conditional rows -------------------------------------------------------------------
    def _connect_visibility(self) -> None:
        if self.layout_spec.visible_when:
            self.sig_changed.connect(self._update_visibility)
            self._update_visibility()

    def _update_visibility(self) -> None:
        for name, (other, values) in self.layout_spec.visible_when.items():
            if name not in self.editors or other not in self.editors:
                continue
            show = self.editors[other].value() in values
            self.set_field_visible(name, show)

    def set_field_visible(self, name: str, visible: bool) -> None:
        row = self._rows.get(name)
        if row is None:
            return
        if hasattr(self, "form") and isinstance(self.form, QFormLayout):
            self.form.setRowVisible(row, visible)
        else:
            row.setVisible(visible)

    def is_field_visible(self, name: str) -> bool:
        row = self._rows.get(name)
        return row is not None and not row.isHidden()

    # -- values ---------------------------------------------------------------------------
    def _changed(self) -> None:
        if not self._loading:
            self.sig_changed.emit()

    def value(self) -> dict[str, Any]:
        out = dict(self._extra)
        for name, _f in self.fields:
            if name in self.editors:
                out[name] = self.editors[name].value()
        return out

    def set_value(self, data: dict[str, Any]) -> None:
        self._loading = True
        try:
            self._extra = {k: v for k, v in (data or {}).items() if k not in self.editors}
            for name, ed in self.editors.items():
                ed.set_value((data or {}).get(name))
        finally:
            self._loading = False
        if self.layout_spec.visible_when:
            self._update_visibility()
        self.sig_changed.emit()

    def set_hidden_value(self, name: str, value: Any) -> None:
        """Set a field the form does not show (a plugin's scope, a route's service)."""
        self._extra[name] = value
        self.sig_changed.emit()

    # -- errors ---------------------------------------------------------------------------
    def set_errors(self, errors: dict[str, Any] | None) -> list[str]:
        """Place field errors on their editors; return the lines that name no visible field."""
        self.clear_errors()
        rest: list[str] = []
        for key, err in (errors or {}).items():
            if key == "@entity":
                rest += [str(e) for e in (err if isinstance(err, list) else [err])]
            elif key in self.editors:
                self.editors[key].set_error(err)
            else:
                rest.append(f"{key}: {_error_text(err)}")
        return rest

    def clear_errors(self) -> None:
        for ed in self.editors.values():
            ed.clear_errors()

    def errors_shown(self) -> dict[str, str]:
        """Visible error texts by dotted field path (tests and the summary line use this)."""
        out: dict[str, str] = {}
        for name, ed in self.editors.items():
            if ed.error_label.text():
                out[name] = ed.error_label.text()
            if isinstance(ed, RecordEditor):
                for sub, text in ed.form.errors_shown().items():
                    out[f"{name}.{sub}"] = text
        return out

    def editor_at(self, path: str) -> FieldEditor | None:
        """``redis.host`` → that editor (for focusing the field an error names)."""
        head, _, tail = path.partition(".")
        ed = self.editors.get(head)
        if ed is None:
            return None
        return ed.editor_at(tail.split(".") if tail else [])
