"""What every page has: a title row, a busy indicator with Cancel, an error panel, and hooks for
the window's standard actions (Find, New, Refresh)."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..errors import ErrorInfo, ErrorPanel
from ..session import Session
from ..tasks import TaskRunner


class BusyIndicator(QWidget):
    """An indeterminate bar, what is running, and Cancel. Hidden when idle."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumWidth(120)
        self.bar.setMaximumHeight(12)
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName("Working")
        self.label = QLabel()
        self.label.setObjectName("Muted")
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName("Cancel running operation")
        # not connect(runner.cancel): clicked(bool) would pass False as the task key and cancel nothing
        self.cancel.clicked.connect(lambda _checked=False: runner.cancel())
        h.addWidget(self.bar)
        h.addWidget(self.label)
        h.addWidget(self.cancel)
        h.addStretch(1)
        runner.sig_busy.connect(self.set_busy)
        self.hide()

    def set_busy(self, busy: bool, label: str) -> None:
        self.label.setText(f"{label}…" if busy else "")
        self.setVisible(busy)


class Page(QWidget):
    """A page of the main window."""

    title: ClassVar[str] = ""
    subtitle: ClassVar[str] = ""
    # task keys that do not read the current group (a console's history, a replication's own
    # endpoints): a switch leaves them running; "*" keeps every task of the page
    switch_keeps: ClassVar[tuple[str, ...]] = ()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = TaskRunner(self)
        self._stale = True
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 8)
        outer.setSpacing(6)
        self.header = QHBoxLayout()
        self.title_label = QLabel(self.title)
        self.title_label.setObjectName("PageTitle")
        self.header.addWidget(self.title_label)
        self.header.addStretch(1)
        outer.addLayout(self.header)
        self.busy = BusyIndicator(self.runner)
        outer.addWidget(self.busy)
        self.error_panel = ErrorPanel()
        outer.addWidget(self.error_panel)
        self.runner.sig_error.connect(self.show_error)
        self.body = QVBoxLayout()
        self.body.setSpacing(6)
        outer.addLayout(self.body, 1)
        session.sig_current_changed.connect(self._connection_changed)

    # -- hooks ---------------------------------------------------------------------------------
    def show_error(self, info: ErrorInfo) -> None:
        self.error_panel.show_error(info)

    def _connection_changed(self, _conn: Any) -> None:
        # first forget what the old connection showed (also on hidden pages: no view ever keeps
        # another group's data), then reload when seen
        if "*" not in self.switch_keeps:
            for key in self.runner.keys():
                if key not in self.switch_keeps:
                    self.runner.cancel(key)
        self.error_panel.clear()
        self.clear_view()
        self._stale = True
        if self.isVisible():
            self.on_shown()

    def clear_view(self) -> None:
        """Drop every entity the page shows (the connection or runtime group changed)."""

    def on_shown(self) -> None:
        """Called when the page becomes visible: reload if the connection or data changed."""
        if self._stale and self.session.cp is not None:
            self._stale = False
            self.refresh()

    def mark_stale(self, *_: Any) -> None:
        self._stale = True

    def refresh(self) -> None:
        """F5."""

    def find(self) -> None:
        """Ctrl+F: focus the page's search box."""

    def new(self) -> None:
        """Ctrl+N: start a new entity of the page's kind."""


class PlaceholderPage(Page):
    """A page another part of the app fills in later."""

    blurb: ClassVar[str] = ""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        lab = QLabel(self.blurb or "This page is being built.")
        lab.setWordWrap(True)
        lab.setObjectName("Muted")
        lab.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.body.addWidget(lab, 1)
