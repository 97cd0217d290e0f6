"""Where the app keeps things on disk (platformdirs), with one override for tests and portable use.

Set ``KONNECT_DESKTOP_HOME`` to put config, data and logs under one folder (tests do, so they
never touch the user's real files).

What the app writes holds secrets (the store and its WAL carry key-auth keys, the history and the
logs carry what was sent), so on POSIX its folders are 0700 and its files 0600, whatever the
umask: ``private_dir`` and ``private_file`` (SQLite gives the ``-wal``/``-shm`` files the mode of
the database file, so creating that one private is enough).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "konnect-desktop"


def _home() -> Path | None:
    v = os.environ.get("KONNECT_DESKTOP_HOME")
    return Path(v) if v else None


_POSIX = os.name == "posix"
DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")  # files SQLite keeps beside a database


def private_dir(p: Path, *, tighten: bool = False) -> Path:
    """Create ``p`` and any missing parents with mode 0700. ``tighten``: also take group/other
    access away from ``p`` when it exists (only for the app's own folders, never a user's)."""
    missing = []
    q = p
    while not q.exists() and q != q.parent:
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
        if _POSIX:
            os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask; say it exactly
    if tighten and _POSIX and not missing and p.is_dir() and p.stat().st_mode & 0o077:
        os.chmod(p, DIR_MODE)
    return p


def private_file(p: Path, *, companions: tuple[str, ...] = ()) -> Path:
    """Make sure ``p`` exists with mode 0600 (created so, never briefly readable by others), in a
    private folder if the folder is new; an existing file (and its ``companions``, e.g. SQLite's
    ``-wal``/``-shm`` suffixes) loses group/other access."""
    private_dir(p.parent)
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    if _POSIX:
        for f in (p, *(p.with_name(p.name + c) for c in companions)):
            try:
                if f.stat().st_mode & 0o077:
                    os.chmod(f, FILE_MODE)
            except (FileNotFoundError, PermissionError):  # gone, or another user's file: theirs
                pass
    return p


def _ensure(p: Path) -> Path:
    return private_dir(p, tighten=True)


def config_dir() -> Path:
    h = _home()
    return _ensure(h / "config" if h else Path(platformdirs.user_config_dir(APP)))


def data_dir() -> Path:
    h = _home()
    return _ensure(h / "data" if h else Path(platformdirs.user_data_dir(APP)))


def log_dir() -> Path:
    h = _home()
    return _ensure(h / "logs" if h else Path(platformdirs.user_log_dir(APP)))


def runtime_db_path(name: str) -> Path:
    """The SQLite file of the local runtime group ``name``."""
    return _ensure(data_dir() / "runtimes") / f"{name}.db"


def resource_path(*parts: str) -> Path:
    """A file the app ships (icons, sample configuration) under the top-level ``resources/``.

    An installed package (wheel or bundle) carries the folder as ``konnect_desktop/resources``
    (pyproject's package-dir maps it there); a checkout has it beside the package. The path may
    not exist: callers that can do without the file check.
    """
    package = Path(__file__).resolve().parent
    for base in (package / "resources", package.parent / "resources"):
        if base.is_dir():
            return base.joinpath(*parts)
    return package.parent.joinpath("resources", *parts)
