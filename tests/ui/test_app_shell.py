"""The desktop shell around the window: one instance per data folder (a second launch focuses
the first), crash reports, the app and page icons, the log folder action, and the no-display
hints that must work as typed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication, QPushButton

from konnect_desktop import __version__, appdirs
from konnect_desktop.ui import app as app_module
from konnect_desktop.ui.crash import CrashHandler
from konnect_desktop.ui.mainwindow import MainWindow, page_icon
from konnect_desktop.ui.pages import PAGES
from konnect_desktop.ui.single_instance import SingleInstance

ROOT = Path(__file__).resolve().parents[2]


# -- single instance --------------------------------------------------------------------------------
def test_second_instance_hands_over_to_the_first(qtbot: Any, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.start() and first.primary
    second = SingleInstance(tmp_path)
    try:
        with qtbot.waitSignal(first.sig_activate, timeout=5000):
            assert second.start() is False
        assert not second.primary
    finally:
        second.close()
        first.close()
    third = SingleInstance(tmp_path)  # the first one quit: the next launch is the app
    try:
        assert third.start()
    finally:
        third.close()


def test_instances_are_per_data_folder(qtbot: Any, tmp_path: Path) -> None:
    a, b = SingleInstance(tmp_path / "a"), SingleInstance(tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        assert a.start() and b.start()
        assert a.name != b.name
    finally:
        a.close()
        b.close()


def test_main_window_comes_to_the_front_when_asked(qtbot: Any, session: Any, tmp_path: Path) -> None:
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    win.showMinimized()
    first = SingleInstance(tmp_path)
    assert first.start()
    first.sig_activate.connect(win.bring_to_front)
    try:
        with qtbot.waitSignal(first.sig_activate, timeout=5000):
            SingleInstance(tmp_path).notify_primary()
        assert not win.isMinimized() and win.isVisible()
    finally:
        first.close()


def _app(home: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen([sys.executable, "-m", "konnect_desktop", "--no-start", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for_log(home: Path, text: str, proc: subprocess.Popen[str], count: int = 1) -> None:
    """Until the app's log has ``text`` ``count`` times (bounded; fails if the app exits)."""
    log = home / "logs" / "konnect-desktop.log"
    for _ in range(600):
        if log.exists() and log.read_text(errors="replace").count(text) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"app exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            proc.wait(0.1)  # returns early only if the app exits
        except subprocess.TimeoutExpired:
            pass
    pytest.fail(f"{text!r} never logged")


@pytest.mark.slow
def test_two_real_launches_one_app_and_a_killed_app_leaves_no_stale_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _app(home)
    try:
        _wait_for_log(home, "window shown", first)
        second = subprocess.run([sys.executable, "-m", "konnect_desktop", "--no-start"], capture_output=True,
                                text=True, timeout=60, cwd=ROOT,
                                env=dict(os.environ, KONNECT_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen"))
        assert second.returncode == 0
        assert "already running" in second.stderr
        _wait_for_log(home, "a second launch asked for this window", first)
        assert first.poll() is None  # the first app carries on
    finally:
        first.kill()  # as a crash would: no clean-up
        first.wait(15)
    third = _app(home, "--quit-after", "0.5")
    try:
        assert third.wait(60) == 0
    finally:
        if third.poll() is None:
            third.kill()
    assert (home / "logs" / "konnect-desktop.log").read_text().count("window shown") == 2


# -- crash reports ------------------------------------------------------------------------------------
@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_opens_a_copyable_report_and_writes_it(qtbot: Any) -> None:
    handler = CrashHandler().install()
    button = QPushButton("crash")
    qtbot.addWidget(button)

    def slot() -> None:
        raise RuntimeError("boom calling http://h/x?apikey=sl0t-secret with Authorization: Bearer abcdefghijkl")

    button.clicked.connect(slot)
    try:
        button.click()
        qtbot.waitUntil(lambda: bool(handler.dialogs), timeout=5000)
    finally:
        handler.uninstall()
    dialog = handler.dialogs[0]
    qtbot.addWidget(dialog)
    report = dialog.text.toPlainText()
    assert f"Konnect Desktop {__version__} crash report" in report
    for part in ("Platform:", "Python:", "Qt:", "Traceback:", "RuntimeError: boom", "in slot", "Last log lines"):
        assert part in report, part
    assert "sl0t-secret" not in report and "abcdefghijkl" not in report
    assert "apikey=****" in report
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == report
    assert len(handler.reports) == 1
    path = handler.reports[0]
    assert path.parent == appdirs.log_dir() and path.name.startswith("crash-")
    assert path.read_text() == report
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dialog.reject()
    qtbot.waitUntil(lambda: not handler.dialogs, timeout=2000)


# -- icons and menus -------------------------------------------------------------------------------------
def test_app_icon_and_page_icons_render(qtbot: Any, session: Any) -> None:
    icon = app_module.app_icon()
    assert not icon.isNull()
    assert not icon.pixmap(QSize(16, 16)).isNull() and not icon.pixmap(QSize(256, 256)).isNull()
    win = MainWindow(session)
    qtbot.addWidget(win)
    for row, spec in enumerate(PAGES):
        assert not page_icon(spec.id).isNull(), spec.id
        item_icon = win.sidebar.item(row).icon()
        assert not item_icon.pixmap(QSize(24, 24)).isNull(), spec.id
    assert app_module.icons_not_rendering() == []


def test_help_menu_opens_the_log_folder(qtbot: Any, session: Any, monkeypatch: Any) -> None:
    opened: list[str] = []
    from konnect_desktop.ui import crash

    monkeypatch.setattr(crash.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    win = MainWindow(session)
    qtbot.addWidget(win)
    help_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    assert win.act_log_folder in help_menu.actions()
    win.act_log_folder.trigger()
    assert opened == [str(appdirs.log_dir())]


# -- no display ----------------------------------------------------------------------------------------
def _no_display_hints(env: dict[str, str], *cmd: str) -> list[str]:
    proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "No display found" in proc.stderr and "Traceback" not in proc.stderr
    return re.findall(r"`([^`]+)`", proc.stderr)


def test_launcher_from_run_app_is_named_in_the_hints() -> None:
    assert app_module.launch_command({"KONNECT_DESKTOP_LAUNCHER": "./scripts/run-app"}) == "./scripts/run-app"
    assert 'export KONNECT_DESKTOP_LAUNCHER="$0"' in (ROOT / "scripts" / "run-app").read_text()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KONNECT_DESKTOP_LAUNCHER": "./scripts/run-app",
           "KONNECT_DESKTOP_HOME": "/nonexistent-never-created"}
    hints = _no_display_hints(env, sys.executable, "-m", "konnect_desktop")
    assert hints == ["./scripts/run-app gateway run", "xvfb-run -a ./scripts/run-app"]


def test_launch_command_for_an_installed_script_and_a_bundle(tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "konnect-desktop"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert app_module.launch_command({"PATH": str(exe.parent)}, str(exe)) == "konnect-desktop"
    bundle = "./dist/konnect-desktop/konnect-desktop"
    assert app_module.launch_command({"PATH": "/usr/bin"}, bundle) == bundle


def test_no_display_hints_work_as_typed(tmp_path: Path) -> None:
    """Run the two commands the message names (with free ports / a short life appended)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KONNECT_DESKTOP_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    gateway_hint, xvfb_hint = _no_display_hints(env, sys.executable, "-m", "konnect_desktop")
    gw = subprocess.Popen(shlex.split(gateway_hint) + ["--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = gw.stdout.readline() if gw.stdout else ""
        assert line.startswith("Konnect Desktop gateway ready"), (line, gw.stderr.read() if gw.poll() is not None and gw.stderr else "")
    finally:
        gw.terminate()
        gw.wait(15)
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian package xvfb)")
    app = subprocess.run(shlex.split(xvfb_hint) + ["--no-start", "--quit-after", "0.5"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert app.returncode == 0, app.stderr
