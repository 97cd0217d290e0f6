"""Crash reports: an uncaught exception becomes a dialog with a report the user can copy, and a
file in the log folder, instead of a window that vanishes or a traceback nobody sees.

The report holds the versions (app, Qt, PySide, Python), the platform, the traceback and the last
lines of the log, with secrets masked (``credentials.mask_secrets``: known tokens, ``Authorization``,
``Kong-Admin-Token``, ``?apikey=``). Only Qt's thread shows dialogs; an exception on another
thread is written and logged. Hard crashes (segfaults) are covered by ``applog.enable_faulthandler``.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QThread, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__, appdirs, applog
from ..credentials import mask_secrets

log = logging.getLogger(__name__)

LOG_LINES = 40


def build_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                 log_lines: list[str] | None = None) -> str:
    lines = [
        f"Konnect Desktop {__version__} crash report",
        f"Time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"Platform: {platform.platform()} ({QGuiApplication.platformName() or '-'})",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"Qt: {qVersion()} · PySide6 {pyside_version}",
        "",
        "Traceback:",
        "".join(traceback.format_exception(exc_type, exc, tb)).rstrip(),
        "",
        f"Last log lines ({applog.log_path()}):",
        *(log_lines if log_lines is not None else applog.tail(LOG_LINES)),
    ]
    return mask_secrets("\n".join(lines)) + "\n"


def write_report(report: str) -> Path:
    path = appdirs.log_dir() / time.strftime("crash-%Y%m%d-%H%M%S.txt")
    n = 1
    while path.exists():  # two crashes in one second
        path = path.with_name(f"{path.stem.split('.')[0]}-{n}.txt")
        n += 1
    with applog.open_private(path, "w") as f:
        f.write(report)
    return path


def open_log_folder() -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(appdirs.log_dir())))


class CrashDialog(QDialog):
    def __init__(self, report: str, path: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Konnect Desktop ran into a problem")
        self.setMinimumSize(640, 420)
        v = QVBoxLayout(self)
        where = f" It was also saved to {path}." if path else ""
        head = QLabel("Something went wrong inside the app. Your data is safe; the action that "
                      f"failed may not have finished. Please send this report (secrets are masked).{where}")
        head.setWordWrap(True)
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(head)
        self.text = QPlainTextEdit(report)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Crash report")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        v.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy report")
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        folder = QPushButton("Open log folder")
        folder.clicked.connect(open_log_folder)
        buttons.addButton(folder, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.text.toPlainText())
        self.copy_button.setText("Copied")


class CrashHandler:
    """Installed as ``sys.excepthook`` (and ``threading.excepthook``); ``uninstall()`` restores."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self.dialogs: list[CrashDialog] = []
        self.reports: list[Path] = []
        self._previous: Any = None
        self._previous_thread: Any = None
        self._handling = False

    def install(self) -> CrashHandler:
        self._previous, sys.excepthook = sys.excepthook, self.handle
        self._previous_thread, threading.excepthook = threading.excepthook, self._thread_hook
        return self

    def uninstall(self) -> None:
        if sys.excepthook == self.handle:
            sys.excepthook = self._previous
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) or self._handling:
            # Ctrl+C, or the handler failing on itself: the default hook, not a loop of dialogs
            sys.__excepthook__(exc_type, exc, tb)
            return
        self._handling = True
        try:
            report = build_report(exc_type, exc, tb)
            path: Path | None = None
            try:
                path = write_report(report)
                self.reports.append(path)
            except OSError:
                log.exception("crash report not written")
            log.error("uncaught %s: %s (report: %s)", exc_type.__name__, mask_secrets(str(exc)), path)
            app = QApplication.instance()
            if app is not None and QThread.currentThread() is app.thread() and len(self.dialogs) < 3:
                dialog = CrashDialog(report, path, self.parent)
                dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
                self.dialogs.append(dialog)
                dialog.open()  # not exec(): no nested event loop under qasync
            else:
                sys.stderr.write(report)
        except Exception:
            sys.__excepthook__(exc_type, exc, tb)
        finally:
            self._handling = False
