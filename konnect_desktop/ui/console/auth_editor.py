"""The Auth tab: None / API key (name, value, header or query) / Bearer token / Basic.

Secret fields (key, token, password) are masked, with a "Show" switch; every field takes
``{{variables}}``, so a token can live in a secret environment variable (the keyring). The
editor only edits an ``Auth`` (``console/auth.py``); sending, history and cURL handle the rest.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...console.auth import AUTH_KINDS, DEFAULT_KEY_NAME, Auth
from . import mono

KIND_LABELS = {"none": "No auth", "apikey": "API key", "bearer": "Bearer token", "basic": "Basic auth"}
LOCATION_LABELS = {"header": "Header", "query": "Query parameter"}


FIELD_WIDTH = 520  # a key or token is one line: a full-width field reads like a text area


def _form(page: QWidget) -> QFormLayout:
    form = QFormLayout(page)
    form.setContentsMargins(0, 4, 0, 0)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
    return form


def _secret_edit(name: str, placeholder: str) -> QLineEdit:
    e = QLineEdit()
    e.setFixedWidth(FIELD_WIDTH)
    e.setAccessibleName(name)
    e.setPlaceholderText(placeholder)
    e.setEchoMode(QLineEdit.EchoMode.Password)
    e.setFont(mono())
    return e


def _plain_edit(name: str, placeholder: str = "") -> QLineEdit:
    e = QLineEdit()
    e.setFixedWidth(FIELD_WIDTH)
    e.setAccessibleName(name)
    e.setPlaceholderText(placeholder)
    e.setFont(mono())
    return e


class AuthEditor(QWidget):
    """Edits the request's ``Auth``; ``sig_changed`` on every edit."""

    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        top = QHBoxLayout()
        top.addWidget(QLabel("Type:"))
        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName("Auth type")
        for k in AUTH_KINDS:
            self.kind_combo.addItem(KIND_LABELS[k], k)
        top.addWidget(self.kind_combo)
        top.addStretch(1)
        self.show_secrets = QCheckBox("Show secrets")
        self.show_secrets.setAccessibleName("Show the key, token or password")
        top.addWidget(self.show_secrets)
        lay.addLayout(top)

        self.stack = QStackedWidget()
        none = QLabel("No auth is added. Headers typed in the Headers tab are sent as they are.")
        none.setObjectName("Muted")
        none.setWordWrap(True)
        self.stack.addWidget(none)

        page = QWidget()
        form = _form(page)
        self.key_name = _plain_edit("API key name", DEFAULT_KEY_NAME)
        self.key_name.setText(DEFAULT_KEY_NAME)
        self.key_value = _secret_edit("API key value", "the key, or {{apikey}} from a secret variable")
        self.key_in = QComboBox()
        self.key_in.setAccessibleName("Send the API key in")
        for loc, label in LOCATION_LABELS.items():
            self.key_in.addItem(label, loc)
        form.addRow("Key name", self.key_name)
        form.addRow("Value", self.key_value)
        form.addRow("Add to", self.key_in)
        self.stack.addWidget(page)

        page = QWidget()
        form = _form(page)
        self.token = _secret_edit("Bearer token", "the token, or {{token}} from a secret variable")
        form.addRow("Token", self.token)
        self.stack.addWidget(page)

        page = QWidget()
        form = _form(page)
        self.user = _plain_edit("Basic auth user name", "user name")
        self.password = _secret_edit("Basic auth password", "password, or {{password}} from a secret variable")
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        self.stack.addWidget(page)
        lay.addWidget(self.stack)

        self.note = QLabel()
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        lay.addStretch(1)

        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.show_secrets.toggled.connect(self._show_toggled)
        for e in (self.key_name, self.key_value, self.token, self.user, self.password):
            e.textChanged.connect(self._changed)
        self.key_in.currentIndexChanged.connect(self._changed)
        self._kind_changed()

    # -- state ----------------------------------------------------------------------------------
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def value(self) -> Auth:
        """The Auth as typed (not canonicalised: a half-filled form stays as it is)."""
        return Auth(self.kind(), self.key_name.text(), self.token.text() if self.kind() == "bearer" else self.key_value.text(),
                    str(self.key_in.currentData()), self.user.text(), self.password.text())

    def set_value(self, auth: Auth) -> None:
        widgets = (self.kind_combo, self.key_name, self.key_value, self.key_in, self.token, self.user, self.password)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(auth.kind)))
            self.key_name.setText(auth.name or DEFAULT_KEY_NAME)
            self.key_value.setText(auth.value if auth.kind == "apikey" else "")
            self.key_in.setCurrentIndex(max(0, self.key_in.findData(auth.location)))
            self.token.setText(auth.value if auth.kind == "bearer" else "")
            self.user.setText(auth.user)
            self.password.setText(auth.password)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._kind_changed()

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # -- reactions ------------------------------------------------------------------------------
    def _kind_changed(self, _i: int = 0) -> None:
        self.stack.setCurrentIndex(max(0, AUTH_KINDS.index(self.kind())) if self.kind() in AUTH_KINDS else 0)
        self.show_secrets.setVisible(self.kind() != "none")
        self._changed()

    def _show_toggled(self, on: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
        for e in (self.key_value, self.token, self.password):
            e.setEchoMode(mode)

    def _changed(self, *_a: object) -> None:
        self.sig_changed.emit()
