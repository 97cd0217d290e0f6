"""Where the app keeps things on disk (platformdirs), with one override for tests and portable use.

Set ``KONNECT_DESKTOP_HOME`` to put config, data and logs under one folder (tests do, so they
never touch the user's real files).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "konnect-desktop"


def _home() -> Path | None:
    v = os.environ.get("KONNECT_DESKTOP_HOME")
    return Path(v) if v else None


def _ensure(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


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
