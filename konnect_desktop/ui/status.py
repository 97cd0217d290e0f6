"""Status-bar pieces: a label that elides instead of growing, and the session's notifications.

A status message can be any length (a keyring hint, a server's error): the label shows what fits
and never asks the window for more width; the whole text is in its tooltip and in the
notifications list, newest first, so nothing said is lost.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QMenu, QSizePolicy, QWidget

MAX_NOTIFICATIONS = 50


class ElidedLabel(QLabel):
    """One line of text, elided at the right to the width it gets; asks for no more than a little."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(80, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(20, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as drawn (elided to the current width)."""
        one_line = " ".join(self.text().split())
        return self.fontMetrics().elidedText(one_line, Qt.TextElideMode.ElideRight, max(0, self.contentsRect().width()))

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), self.shown_text())
        p.end()


class NotificationsMenu(QMenu):
    """The session's messages, newest first; choosing one copies it."""

    sig_count = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Notifications")
        self.messages: list[tuple[float, str]] = []
        self._empty = self.addAction("No messages yet")
        self._empty.setEnabled(False)

    def add(self, text: str) -> None:
        if self.messages and self.messages[0][1] == text:
            return  # the same message again (a retry): once is enough
        self.messages.insert(0, (time.time(), text))
        del self.messages[MAX_NOTIFICATIONS:]
        self._rebuild()
        self.sig_count.emit(len(self.messages))

    def _rebuild(self) -> None:
        self.clear()
        for at, text in self.messages:
            first = text.splitlines()[0] if text else ""
            short = first if len(first) <= 90 else first[:89] + "…"
            act = self.addAction(f"{time.strftime('%H:%M:%S', time.localtime(at))}  {short}")
            act.setToolTip(text)
            act.triggered.connect(lambda _c=False, t=text: QGuiApplication.clipboard().setText(t))
        self.addSeparator()
        clear = self.addAction("Clear")
        clear.triggered.connect(self.clear_all)

    def clear_all(self) -> None:
        self.messages.clear()
        self.clear()
        self._empty = self.addAction("No messages yet")
        self._empty.setEnabled(False)
        self.sig_count.emit(0)
