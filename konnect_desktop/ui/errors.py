"""Errors as readable sentences: the panel every page shows, and the mapping from exceptions.

Kong-shaped errors keep the server's message and their field errors (which forms place on the
fields they name); connection failures say what could not be reached and why. No traceback ever
reaches the window; the log has the details.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ..controlplanes.transport import describe_transport_error, exception_chain, host_port
from ..credentials import mask_text
from ..errors import AppError
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


def describe_error(exc: BaseException, *, action: str = "") -> ErrorInfo:
    """Turn any exception into an ``ErrorInfo``; never raises.

    An ``AppError`` (every error the app raises on purpose) brings its own sentence, status and
    Kong-shaped field errors; an httpx transport failure is worded by the one place that words
    them (``controlplanes.transport``); anything else is described from its type.
    """
    title = f"{action[:1].upper()}{action[1:]} failed" if action else "Something went wrong"
    if isinstance(exc, AppError):
        return ErrorInfo(title, exc.message or type(exc).__name__, dict(exc.fields or {}), exc.status, exc.code)
    if isinstance(exc, httpx.TransportError):
        return ErrorInfo(title, describe_transport_error(exc, _where(exc)))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ErrorInfo(title, "The operation timed out.")
    for e in exception_chain(exc):
        if isinstance(e, ConnectionRefusedError):
            return ErrorInfo(title, mask_text(f"Connection refused: {e}"))
    text = mask_text(str(exc).strip()) or type(exc).__name__
    if isinstance(exc, OSError):
        return ErrorInfo(title, f"Could not connect: {text}")
    if isinstance(exc, KeyError):
        return ErrorInfo(title, f"Missing value: {text}")
    return ErrorInfo(title, text)


def _where(exc: httpx.TransportError) -> str:
    """``host:port`` the failed request went to ("the server" when httpx did not attach it)."""
    try:
        return host_port(str(exc.request.url))
    except RuntimeError:  # raised by httpx when the error carries no request
        return "the server"


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
