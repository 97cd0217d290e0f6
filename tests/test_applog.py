"""The app's log files: rotating, private (0600, rotated files too), secrets masked, a tail for
crash reports, and the fault handler's file."""

from __future__ import annotations

import faulthandler
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from konnect_desktop import applog


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_log_file_is_private_rotates_and_masks(tmp_path: Path, restore_root: None, monkeypatch) -> None:
    monkeypatch.setattr(applog, "MAX_BYTES", 2000)
    path = applog.setup("debug", path=tmp_path / "app.log")
    log = logging.getLogger("konnect_desktop.test")
    log.debug("calling %s with %s", "http://h/p?apikey=abc-123-secret&x=1", "Kong-Admin-Token: tok-987654")
    for i in range(60):
        log.info("line %03d %s", i, "x" * 40)
    files = sorted(tmp_path.glob("app.log*"))
    assert len(files) >= 2, files  # rotated
    assert all(mode(f) == 0o600 for f in files), [(f.name, oct(mode(f))) for f in files]
    text = "".join(f.read_text() for f in files)
    assert "abc-123-secret" not in text and "tok-987654" not in text
    assert "apikey=****" in text and "Kong-Admin-Token: ****" in text
    assert applog.tail(3, path)[-1].endswith("line 059 " + "x" * 40)
    assert len(applog.tail(3, path)) == 3


def test_log_level_filters(tmp_path: Path, restore_root: None) -> None:
    path = applog.setup("warning", path=tmp_path / "w.log")
    logging.getLogger("konnect_desktop.test").info("not this")
    logging.getLogger("konnect_desktop.test").warning("but this")
    text = path.read_text()
    assert "but this" in text and "not this" not in text


def test_an_existing_world_readable_log_is_narrowed(tmp_path: Path, restore_root: None) -> None:
    p = tmp_path / "old.log"
    p.write_text("from an older version\n")
    p.chmod(0o644)
    applog.setup("info", path=p)
    logging.getLogger("konnect_desktop.test").warning("hello")
    assert mode(p) == 0o600


def test_faulthandler_writes_to_a_private_file_in_the_log_folder() -> None:
    was = faulthandler.is_enabled()
    path = applog.enable_faulthandler()
    try:
        assert faulthandler.is_enabled() and path.name == applog.FAULT_FILE and mode(path) == 0o600
    finally:
        if not was:
            faulthandler.disable()


def test_a_hard_crash_leaves_its_stack_in_the_fault_file(tmp_path: Path) -> None:
    code = ("from konnect_desktop import applog; applog.enable_faulthandler(); "
            "import faulthandler; faulthandler._sigsegv()")
    r = subprocess.run([sys.executable, "-c", code], env={"KONNECT_DESKTOP_HOME": str(tmp_path),
                       "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, capture_output=True, timeout=60)
    assert r.returncode != 0
    text = (tmp_path / "logs" / applog.FAULT_FILE).read_text()
    assert "Segmentation fault" in text and "<string>" in text
