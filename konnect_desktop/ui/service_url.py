"""The service form's first field: URL, Kong's ``url`` shorthand (scheme, host, port and path
in one string), kept in step with the protocol/host/port/path fields below it.

Typing a URL fills those fields as Kong would expand it (``model.entities``' own shorthand, so
the form and the gateway agree); editing the fields rewrites the URL. A URL pasted into Host
gets a hint and a one-click move to the URL field instead of a bare "invalid value".
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..errors import AppError
from ..model.entities import ENTITIES
from .forms import FormEditor

URL_PARTS = ("protocol", "host", "port", "path")
DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443}


def compose_url(value: dict[str, Any]) -> str:
    """protocol://host[:port][path] from a service's fields ('' without a host)."""
    host = value.get("host")
    if not host:
        return ""
    proto = value.get("protocol") or "http"
    port = value.get("port")
    port_part = f":{port}" if port and port != DEFAULT_PORTS.get(proto) else ""
    return f"{proto}://{host}{port_part}{value.get('path') or ''}"


class ServiceUrlRow(QWidget):
    """URL field + its error, and the hint shown when Host holds a URL. ``bind`` it to the form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form: FormEditor | None = None
        self._applying = False
        v = QVBoxLayout(self)
        v.setContentsMargins(8, 8, 8, 0)
        row = QHBoxLayout()
        label = QLabel("URL")
        label.setMinimumWidth(60)
        self.edit = QLineEdit()
        self.edit.setAccessibleName("Service URL")
        self.edit.setPlaceholderText("http://billing.internal:8080/v1 — fills protocol, host, port and path")
        row.addWidget(label)
        row.addWidget(self.edit, 1)
        v.addLayout(row)
        self.error = QLabel()
        self.error.setObjectName("FieldError")
        self.error.setWordWrap(True)
        self.error.hide()
        v.addWidget(self.error)
        hint_row = QHBoxLayout()
        self.hint = QLabel("Host takes a name only (billing.internal); this looks like a whole URL.")
        self.hint.setWordWrap(True)
        self.use_button = QPushButton("Use it as the URL")
        self.use_button.clicked.connect(self.move_host_to_url)
        hint_row.addWidget(self.hint, 1)
        hint_row.addWidget(self.use_button)
        self.hint_box = QWidget()
        self.hint_box.setLayout(hint_row)
        self.hint_box.hide()
        v.addWidget(self.hint_box)
        self.edit.textEdited.connect(self.apply_url)

    def bind(self, form: FormEditor) -> None:
        self.form = form
        form.sig_changed.connect(self._form_changed)
        host = form.editors.get("host")
        if host is not None:
            host.sig_changed.connect(self._check_host)

    # -- URL -> fields ---------------------------------------------------------------------------
    def apply_url(self, text: str) -> None:
        if self.form is None:
            return
        text = text.strip()
        if not text:
            self._set_error("")
            return
        try:
            parts = ENTITIES["services"].expand({"url": text})
        except Exception as exc:  # a schema violation naming the part that is wrong
            fields = (exc.fields if isinstance(exc, AppError) else None) or {}
            self._set_error("; ".join(f"{k}: {v}" for k, v in fields.items()) or str(exc))
            return
        _, errors = ENTITIES["services"].check(dict(parts))  # a port out of range, a bad path …
        wrong = {k: v for k, v in errors.items() if k in URL_PARTS}
        if wrong:
            self._set_error("; ".join(f"{k}: {v}" for k, v in wrong.items()))
            return
        self._set_error("")
        self._applying = True
        try:
            for name in URL_PARTS:
                ed = self.form.editors.get(name)
                if ed is not None:
                    ed.set_value(parts.get(name))
        finally:
            self._applying = False

    def _set_error(self, text: str) -> None:
        self.error.setText(f"⚠ {text}" if text else "")
        self.error.setVisible(bool(text))

    # -- fields -> URL ---------------------------------------------------------------------------
    def _form_changed(self) -> None:
        if self._applying or self.form is None or self.edit.hasFocus():
            return
        self.show_value(self.form.value())

    def show_value(self, value: dict[str, Any]) -> None:
        """Show the URL of a loaded service (or none for a new one)."""
        self.edit.setText(compose_url(value) if "://" not in str(value.get("host") or "") else "")
        self._set_error("")
        self._check_host()

    def _check_host(self) -> None:
        host = self.form.editors.get("host") if self.form is not None else None
        text = str(host.value() or "") if host is not None else ""
        self.hint_box.setVisible("://" in text or "/" in text)

    def move_host_to_url(self) -> None:
        host = self.form.editors.get("host") if self.form is not None else None
        if host is None:
            return
        text = str(host.value() or "").strip()
        self.edit.setText(text)
        self.apply_url(text)
        self._check_host()
