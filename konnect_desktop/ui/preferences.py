"""File › Preferences: theme, the local runtime's default ports, how much history is kept, and
extra names the request console treats as secret.

Kept in the settings file (``Settings.ui["preferences"]``) and applied at once: the theme to
the running app, ports to runtimes started afterwards, retention and redaction to the console.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..console.history import DEFAULT_MAX_ENTRIES
from . import theme
from .session import Session

KEY = "preferences"
DEFAULTS: dict[str, Any] = {"theme": "system", "proxy_port": 8000, "admin_port": 8001,
                            "history_max": DEFAULT_MAX_ENTRIES, "redact_names": []}


def load(session: Session) -> dict[str, Any]:
    """The saved preferences over the defaults (a wrong value falls back to its default)."""
    saved = session.store.get_value(KEY)
    out = dict(DEFAULTS)
    if isinstance(saved, dict):
        for k, default in DEFAULTS.items():
            v = saved.get(k)
            if isinstance(v, type(default)) and not isinstance(v, bool):
                out[k] = v
    if out["theme"] not in theme.THEMES:
        out["theme"] = "system"
    out["redact_names"] = [str(n) for n in out["redact_names"] if str(n).strip()]
    return out


def apply(session: Session, prefs: dict[str, Any]) -> None:
    """Apply preferences to the running app (theme) and the session (ports, console settings)."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        theme.apply(app, prefs["theme"])
    session.listen = (f"127.0.0.1:{prefs['proxy_port']}", f"127.0.0.1:{prefs['admin_port']}")
    session.preferences = dict(prefs)
    session.sig_preferences.emit(dict(prefs))


class PreferencesDialog(QDialog):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(480)
        prefs = load(session)
        v = QVBoxLayout(self)
        form = QFormLayout()
        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(prefs["theme"])))
        form.addRow("Theme", self.theme)
        self.proxy_port = self._port(prefs["proxy_port"], "Proxy port")
        self.admin_port = self._port(prefs["admin_port"], "Admin API port")
        form.addRow("Local runtime proxy port", self.proxy_port)
        form.addRow("Local runtime Admin API port", self.admin_port)
        ports_note = QLabel("Used by runtimes started from now on (on loopback; a busy port falls back "
                            "to a free one).")
        ports_note.setObjectName("Muted")
        ports_note.setWordWrap(True)
        form.addRow("", ports_note)
        self.history_max = QSpinBox()
        self.history_max.setAccessibleName("Requests kept in history")
        self.history_max.setRange(10, 1_000_000)
        self.history_max.setSingleStep(100)
        self.history_max.setValue(int(prefs["history_max"]))
        self.history_max.setSuffix(" requests")
        form.addRow("History keeps the last", self.history_max)
        self.redact = QLineEdit(", ".join(prefs["redact_names"]))
        self.redact.setAccessibleName("Extra secret names")
        self.redact.setPlaceholderText("e.g. x-tenant-secret, session_id")
        form.addRow("Also treat as secret", self.redact)
        redact_note = QLabel("Header and query names whose values history, exports and cURL copies "
                             "replace by REDACTED, beside the built-in ones (Authorization, apikey, "
                             "token, password …).")
        redact_note.setObjectName("Muted")
        redact_note.setWordWrap(True)
        form.addRow("", redact_note)
        v.addLayout(form)
        self.problem = QLabel()
        self.problem.setObjectName("FieldError")
        self.problem.hide()
        v.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

    def _port(self, value: int, name: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(1, 65535)
        spin.setValue(int(value))
        spin.setAccessibleName(name)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        return spin

    def value(self) -> dict[str, Any]:
        names = [n.strip() for n in self.redact.text().split(",") if n.strip()]
        return {"theme": self.theme.currentData(), "proxy_port": self.proxy_port.value(),
                "admin_port": self.admin_port.value(), "history_max": self.history_max.value(),
                "redact_names": names}

    def save(self) -> None:
        prefs = self.value()
        if prefs["proxy_port"] == prefs["admin_port"]:
            self.problem.setText("⚠ The proxy and the Admin API need different ports.")
            self.problem.show()
            return
        self.session.store.set_value(KEY, prefs)
        self.session.save_ui()
        apply(self.session, prefs)
        self.accept()
