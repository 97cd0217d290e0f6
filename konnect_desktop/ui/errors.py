"""Errors as readable sentences: the panel every page shows, and the mapping from exceptions.

Kong-shaped errors keep the server's message and their field errors (which forms place on the
fields they name); connection failures say what could not be reached and why. No traceback ever
reaches the window; the log has the details.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ..model.errors import flatten_messages


@dataclass
class ErrorInfo:
    """What went wrong, for people: a title, Kong's (or the OS's) message, and field errors."""

    title: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    code: int | None = None  # Kong's error code (2 schema, 4 foreign key, 5 unique, ...)

    def field_messages(self) -> dict[str, Any]:
        """Field errors worded for the field they sit on. Kong's unique and foreign-key errors
        carry the offending values, not messages; turn those into sentences."""
        if self.code == 5:
            return {k: f"must be unique: “{v}” is already used" for k, v in self.fields.items() if not k.startswith("@")}
        if self.code == 4:
            return {k: "does not reference an existing entity" for k in self.fields if not k.startswith("@")}
        return {k: v for k, v in self.fields.items() if not k.startswith("@") or k == "@entity"}

    def lines(self) -> list[str]:
        """The field errors flattened the way Kong words them (``config.minute: ...``)."""
        if not self.fields:
            return []
        if self.code in (4, 5):
            return [f"{k}: {v}" for k, v in self.field_messages().items()]
        try:
            return flatten_messages(self.field_messages())
        except Exception:  # an odd shape from a remote server: show it raw rather than fail
            return [str(self.fields)]


def _exc_chain(exc: BaseException) -> list[BaseException]:
    out = [exc]
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        if exc in out:
            break
        out.append(exc)
    return out


def describe_error(exc: BaseException, *, action: str = "") -> ErrorInfo:
    """Turn any exception into an ``ErrorInfo``; never raises."""
    title = f"{action[:1].upper()}{action[1:]} failed" if action else "Something went wrong"
    status = getattr(exc, "status", None) if isinstance(getattr(exc, "status", None), int) else None
    fields = getattr(exc, "fields", None)
    message = getattr(exc, "message", None)
    code = getattr(exc, "code", None)
    if isinstance(message, str) and message:
        return ErrorInfo(title, message, fields if isinstance(fields, dict) else {}, status,
                         code if isinstance(code, int) else None)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ErrorInfo(title, "The operation timed out.", {}, status)
    for e in _exc_chain(exc):
        if isinstance(e, ConnectionRefusedError):
            return ErrorInfo(title, f"Connection refused: {e}", {}, status)
    name = type(exc).__name__
    text = str(exc).strip() or name
    if "Connect" in name or "Network" in name or isinstance(exc, OSError):
        return ErrorInfo(title, f"Could not connect: {text}", {}, status)
    if isinstance(exc, (KeyError,)):
        return ErrorInfo(title, f"Missing value: {text}", {}, status)
    return ErrorInfo(title, text, {}, status)


class ErrorPanel(QFrame):
    """An inline, dismissable panel with the error's title, message and field errors."""

    sig_dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Error")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        icon = QLabel("⚠")
        icon.setAccessibleName("Error")
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        lay.addWidget(icon)
        col = QVBoxLayout()
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.title)
        col.addWidget(self.message)
        col.addWidget(self.details)
        lay.addLayout(col, 1)
        copy = QToolButton()
        copy.setText("Copy")
        copy.setAccessibleName("Copy error")
        copy.clicked.connect(self._copy)
        close = QToolButton()
        close.setText("✕")
        close.setAccessibleName("Dismiss error")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        lay.addWidget(copy, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.info: ErrorInfo | None = None
        self.hide()

    def show_error(self, info: ErrorInfo) -> None:
        self.info = info
        self.title.setText(info.title)
        self.message.setText(info.message)
        lines = info.lines()
        # the message of a schema violation already lists the fields; repeat them one per line
        self.details.setText("\n".join(f"• {ln}" for ln in lines))
        self.details.setVisible(bool(lines))
        self.show()

    def clear(self) -> None:
        self.info = None
        self.hide()
        self.sig_dismissed.emit()

    def text(self) -> str:
        if self.info is None:
            return ""
        return "\n".join([self.info.title, self.info.message, *self.info.lines()])

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
