"""Request editors: name/value tables (query params, headers, form fields), the body editor
(none, JSON, form, multipart, raw) and the environment editor (secret values masked)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...console.environments import Environment, Variable
from ...console.request import BODY_KINDS, FormField
from . import mono

SECRET_MASK = "••••••••"


class KeyValueTable(QWidget):
    """Rows of name/value (and for multipart a "file" flag); an empty last row to type into."""

    sig_changed = Signal()

    def __init__(self, name_title: str = "Name", value_title: str = "Value", files: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.files = files
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        cols = [name_title, value_title] + (["File"] if files else [])
        self.table = QTableWidget(0, len(cols))
        self.table.setHorizontalHeaderLabels(cols)
        self.table.setAccessibleName(f"{name_title} and {value_title} table")
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 200)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        self.remove = QPushButton("Remove row")
        self.remove.setAccessibleName(f"Remove selected {name_title.lower()}")
        self.remove.clicked.connect(self._remove_selected)
        row.addWidget(self.remove)
        if files:
            self.add_file = QPushButton("Add file…")
            self.add_file.setAccessibleName("Add a file part")
            self.add_file.clicked.connect(self._pick_file)
            row.addWidget(self.add_file)
        row.addStretch(1)
        lay.addLayout(row)
        self._loading = False
        self.table.itemChanged.connect(self._item_changed)
        self._ensure_blank()

    # -- rows ------------------------------------------------------------------------------------
    def _add_row(self, name: str = "", value: str = "", is_file: bool = False) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(name))
        self.table.setItem(r, 1, QTableWidgetItem(value))
        if self.files:
            it = QTableWidgetItem()
            it.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            it.setCheckState(Qt.CheckState.Checked if is_file else Qt.CheckState.Unchecked)
            it.setToolTip("Checked: the value is a file path, sent as a file upload")
            self.table.setItem(r, 2, it)

    def _row_empty(self, r: int) -> bool:
        return all(not (self.table.item(r, c) and self.table.item(r, c).text()) for c in (0, 1))

    def _ensure_blank(self) -> None:
        n = self.table.rowCount()
        if n == 0 or not self._row_empty(n - 1):
            was = self._loading
            self._loading = True
            self._add_row()
            self._loading = was

    def _item_changed(self, _item: QTableWidgetItem) -> None:
        if self._loading:
            return
        self._ensure_blank()
        self.sig_changed.emit()

    def _remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            self.table.removeRow(r)
        self._ensure_blank()
        self.sig_changed.emit()

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "File to upload")
        if path:
            self.append("file", path, True)

    # -- data ------------------------------------------------------------------------------------
    def rows(self) -> list[tuple[str, str, bool]]:
        out = []
        for r in range(self.table.rowCount()):
            if self._row_empty(r):
                continue
            name = self.table.item(r, 0).text() if self.table.item(r, 0) else ""
            value = self.table.item(r, 1).text() if self.table.item(r, 1) else ""
            f = bool(self.files and self.table.item(r, 2)
                     and self.table.item(r, 2).checkState() == Qt.CheckState.Checked)
            out.append((name, value, f))
        return out

    def pairs(self) -> list[tuple[str, str]]:
        return [(n, v) for n, v, _ in self.rows()]

    def set_rows(self, rows: list[tuple[str, str]] | list[tuple[str, str, bool]]) -> None:
        self._loading = True
        self.table.setRowCount(0)
        for row in rows:
            self._add_row(row[0], row[1], bool(row[2]) if len(row) > 2 else False)
        self._add_row()
        self._loading = False
        self.sig_changed.emit()

    def append(self, name: str, value: str, is_file: bool = False) -> None:
        rows = self.rows()
        rows.append((name, value, is_file))
        self.set_rows(rows)


class BodyEditor(QWidget):
    """The body kind and its editor."""

    sig_changed = Signal()

    LABELS = {"none": "None", "json": "JSON", "form": "Form", "multipart": "Multipart", "raw": "Raw"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        kinds = QHBoxLayout()
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for i, k in enumerate(BODY_KINDS):
            b = QRadioButton(self.LABELS[k])
            b.setAccessibleName(f"Body kind {self.LABELS[k]}")
            self.group.addButton(b, i)
            self.buttons[k] = b
            kinds.addWidget(b)
        kinds.addStretch(1)
        self.format_button = QPushButton("Format JSON")
        self.format_button.setAccessibleName("Format the JSON body")
        self.format_button.clicked.connect(self.format_json)
        self.json_state = QLabel()
        self.json_state.setObjectName("Muted")
        kinds.addWidget(self.json_state)
        kinds.addWidget(self.format_button)
        lay.addLayout(kinds)
        self.stack = QStackedWidget()
        none = QLabel("This request has no body.")
        none.setObjectName("Muted")
        none.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.json = QPlainTextEdit()
        self.json.setFont(mono())
        self.json.setAccessibleName("JSON body")
        self.json.setPlaceholderText('{"name": "value"}   — Content-Type and Accept: application/json unless set in Headers')
        self.form = KeyValueTable("Field", "Value")
        self.multipart = KeyValueTable("Field", "Value or file path", files=True)
        self.raw = QPlainTextEdit()
        self.raw.setFont(mono())
        self.raw.setAccessibleName("Raw body")
        self.raw.setPlaceholderText("Sent as typed, with the Content-Type set in Headers (none if unset)")
        for w in (none, self.json, self.form, self.multipart, self.raw):
            self.stack.addWidget(w)
        lay.addWidget(self.stack, 1)
        self.group.idToggled.connect(self._kind_toggled)
        self.json.textChanged.connect(self._json_changed)
        self.raw.textChanged.connect(self.sig_changed)
        self.form.sig_changed.connect(self.sig_changed)
        self.multipart.sig_changed.connect(self.sig_changed)
        self.set_kind("none")

    def _kind_toggled(self, idx: int, checked: bool) -> None:
        if checked:
            self.stack.setCurrentIndex(idx)
            is_json = BODY_KINDS[idx] == "json"
            self.format_button.setVisible(is_json)
            self.json_state.setVisible(is_json)
            self.sig_changed.emit()

    def kind(self) -> str:
        return BODY_KINDS[max(0, self.group.checkedId())]

    def set_kind(self, kind: str) -> None:
        self.buttons.get(kind, self.buttons["none"]).setChecked(True)
        self._kind_toggled(BODY_KINDS.index(kind if kind in BODY_KINDS else "none"), True)

    def _json_changed(self) -> None:
        text = self.json.toPlainText()
        if not text.strip():
            self.json_state.setText("")
        elif "{{" in text:
            self.json_state.setText("JSON with variables")
        else:
            try:
                json.loads(text)
                self.json_state.setText("valid JSON")
            except ValueError as exc:
                self.json_state.setText(f"not valid JSON: {str(exc).split(':')[0]}")
        self.sig_changed.emit()

    def format_json(self) -> None:
        try:
            self.json.setPlainText(json.dumps(json.loads(self.json.toPlainText()), indent=2, ensure_ascii=False))
        except ValueError:
            pass

    def value(self) -> tuple[str, str, list[FormField]]:
        k = self.kind()
        if k == "json":
            return k, self.json.toPlainText(), []
        if k == "raw":
            return k, self.raw.toPlainText(), []
        if k == "form":
            return k, "", [FormField(n, v) for n, v in self.form.pairs()]
        if k == "multipart":
            return k, "", [FormField(n, v, f) for n, v, f in self.multipart.rows()]
        return "none", "", []

    def set_value(self, kind: str, body: str, form: list[FormField]) -> None:
        self.json.setPlainText(body if kind == "json" else "")
        self.raw.setPlainText(body if kind == "raw" else "")
        self.form.set_rows([(f.name, f.value) for f in form] if kind == "form" else [])
        self.multipart.set_rows([(f.name, f.value, f.file) for f in form] if kind == "multipart" else [])
        self.set_kind(kind)


class EnvironmentEditor(QWidget):
    """The chosen environment's variables; secret ones are shown masked and saved to the keyring."""

    sig_save = Signal(object)  # Environment (secret values only where retyped)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel()
        self.hint.setObjectName("Muted")
        self.hint.setWordWrap(True)
        lay.addWidget(self.hint)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Variable", "Value", "Secret"])
        self.table.setAccessibleName("Environment variables")
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 180)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.add = QPushButton("Add variable")
        self.add.clicked.connect(lambda: self._add_row(Variable("", "")))
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove)
        self.save = QPushButton("Save environment")
        self.save.setAccessibleName("Save the environment")
        self.save.clicked.connect(self._save)
        row.addWidget(self.add)
        row.addWidget(self.remove)
        row.addStretch(1)
        row.addWidget(self.save)
        lay.addLayout(row)
        self.env: Environment | None = None
        self.removed: list[tuple[str, str]] = []

    def set_environment(self, env: Environment, base_hint: str = "") -> None:
        self.env = env
        self.removed = []
        self.table.setRowCount(0)
        for v in env.variables:
            self._add_row(v)
        self.hint.setText(
            f"Environment “{env.name}”. Use variables as {{{{name}}}} in the URL, headers or body. "
            f"Secret values go to the OS keyring and are never written to history. {base_hint}")

    def _add_row(self, v: Variable) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(v.name))
        edit = QLineEdit()
        edit.setFrame(False)
        edit.setAccessibleName(f"Value of {v.name or 'new variable'}")
        if v.secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(f"{SECRET_MASK} (kept in the keyring; type to replace)")
        else:
            edit.setText(v.value)
            if v.name == "base" and not v.value:
                edit.setPlaceholderText("(blank: the local runtime's proxy URL)")
        self.table.setCellWidget(r, 1, edit)
        box = QCheckBox()
        box.setChecked(v.secret)
        box.setAccessibleName(f"{v.name or 'new variable'} is secret")
        box.toggled.connect(lambda on, e=edit: e.setEchoMode(QLineEdit.EchoMode.Password if on else QLineEdit.EchoMode.Normal))
        self.table.setCellWidget(r, 2, box)

    def _remove(self) -> None:
        for r in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            name = self.table.item(r, 0).text() if self.table.item(r, 0) else ""
            box = self.table.cellWidget(r, 2)
            if self.env is not None and name and isinstance(box, QCheckBox) and box.isChecked():
                self.removed.append((self.env.name, name))
            self.table.removeRow(r)

    def variables(self) -> list[Variable]:
        out = []
        for r in range(self.table.rowCount()):
            name = (self.table.item(r, 0).text() if self.table.item(r, 0) else "").strip()
            edit = self.table.cellWidget(r, 1)
            box = self.table.cellWidget(r, 2)
            if not name:
                continue
            value = edit.text() if isinstance(edit, QLineEdit) else ""
            out.append(Variable(name, value, isinstance(box, QCheckBox) and box.isChecked()))
        return out

    def _save(self) -> None:
        if self.env is not None:
            self.sig_save.emit(Environment(self.env.name, self.variables()))
