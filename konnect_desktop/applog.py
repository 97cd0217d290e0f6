"""The app's own logs: a rotating file in the platform's log folder, private to the user.

* ``setup(level)`` sends every logger to ``konnect-desktop.log`` in ``appdirs.log_dir()``
  (rotated at ``MAX_BYTES``, ``BACKUPS`` old files kept), through the secret filter, so a token,
  an ``Authorization`` header or an ``?apikey=`` never reaches the disk in clear.
* Every file written there (logs, crash reports, the fault handler's file) is created 0600:
  logs name hosts, consumers and paths that are nobody else's business.
* ``enable_faulthandler()`` makes a hard crash (a segfault in Qt, a deadlock killed by a signal)
  leave the Python stacks of every thread in ``faulthandler.log``.
* ``tail(n)`` gives the last lines of the log (the crash report quotes them).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import logging.handlers
import os
from pathlib import Path
from typing import IO, Any

from . import appdirs

LOG_FILE = "konnect-desktop.log"
FAULT_FILE = "faulthandler.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5
LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_fault_file: IO[str] | None = None  # kept open: faulthandler writes to its descriptor on a crash


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open a text file for writing, created (or narrowed to) mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a file made before by an older version, or another umask
    except OSError:
        pass
    return os.fdopen(fd, mode, encoding="utf-8", errors="replace")


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files (the current one and each new one after a rotation)
    are readable by their owner only."""

    def _open(self) -> Any:
        return open_private(Path(self.baseFilename), self.mode)


def add_log_level_argument(parser: argparse.ArgumentParser, default: str = "info") -> None:
    parser.add_argument("--log-level", choices=LEVELS, default=default, type=str.lower,
                        help=f"how much to log (default {default})")


def log_path() -> Path:
    return appdirs.log_dir() / LOG_FILE


def setup(level: str = "info", *, path: Path | None = None) -> Path:
    """Log to the rotating file at ``level``; returns the file's path. Safe to call twice."""
    from .credentials import install_log_filter

    path = path or log_path()
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, PrivateRotatingFileHandler) and Path(h.baseFilename) == path:
            root.removeHandler(h)
            h.close()
    handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    install_log_filter(root)
    return path


def enable_faulthandler() -> Path:
    """Dump every thread's Python stack to ``faulthandler.log`` on a fatal signal."""
    global _fault_file
    path = appdirs.log_dir() / FAULT_FILE
    if _fault_file is None or _fault_file.closed:
        _fault_file = open_private(path)
    faulthandler.enable(_fault_file, all_threads=True)
    return path


def tail(n: int = 40, path: Path | None = None) -> list[str]:
    """The last ``n`` lines of the log file (already masked when they were written)."""
    path = path or log_path()
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-n:]
