"""``konnect-desktop`` (the ``gui`` command): the Qt application on a qasync event loop.

Qt and qasync are imported inside ``run`` so that ``konnect-desktop --help`` stays instant. With
no display to draw on, the command says what to do instead of crashing inside Qt, naming commands
that work as typed (the launcher the user ran: ``./scripts/run-app``, the bundle, or the
installed ``konnect-desktop``).
A second launch brings the first window to the front and exits (``single_instance``); the log
goes to a rotating private file, and an uncaught exception opens a crash report (``crash``).
On first launch the local runtime "default" is started (its store in the app's data folder; the
runtime loads the sample configuration into an empty store), so a new user can send a request
through the gateway within a minute.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..applog import add_log_level_argument

NO_DISPLAY = (
    "No display found. Run the headless gateway with `{cmd} gateway run`, "
    "or start the app under a virtual display: `xvfb-run -a {cmd}`"
)
# the desktop entry's name (packaging/<APP_ID>.desktop): Wayland matches the window to it
APP_ID = "io.github.konnect_desktop.KonnectDesktop"
# set by scripts/run-app to the path it was started as, so hints name the script
LAUNCHER_ENV = "KONNECT_DESKTOP_LAUNCHER"

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon
# Qt platforms that draw without a window system
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-start", action="store_true",
                        help="do not start the local runtime on launch")
    parser.add_argument("--page", default=None,
                        help="open this page first (runtimes, services, consumers, plugins, ...)")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help=argparse.SUPPRESS)  # smoke tests: close the window after N seconds
    add_log_level_argument(parser, default="info")


def launch_command(env: dict[str, str] | None = None, argv0: str | None = None) -> str:
    """How the user can start this program again, as a shell word that works as typed."""
    env = dict(os.environ if env is None else env)
    if env.get(LAUNCHER_ENV):
        return shlex.quote(env[LAUNCHER_ENV])
    argv0 = argv0 if argv0 is not None else sys.argv[0]
    name = Path(argv0).name
    if not argv0 or name in ("__main__.py", "-c") or name.endswith(".py"):
        return f"{shlex.quote(sys.executable)} -m konnect_desktop"  # python -m konnect_desktop
    on_path = shutil.which(name, path=env.get("PATH"))
    if on_path and Path(on_path).resolve() == Path(argv0).resolve():
        return name  # the installed console script or a bundle on PATH
    return shlex.quote(argv0)  # ./dist/konnect-desktop/konnect-desktop, as typed


def display_available(env: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Can Qt open a window here? (Linux/BSD need X11 or Wayland unless a headless platform is set)"""
    env = dict(os.environ if env is None else env)
    platform = platform or sys.platform
    qpa = (env.get("QT_QPA_PLATFORM") or "").split(":")[0].strip().lower()
    if qpa in HEADLESS_PLATFORMS:
        return True
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True  # macOS and Windows always have a window system
    if qpa.startswith("wayland"):
        return bool(env.get("WAYLAND_DISPLAY"))
    if qpa == "xcb":
        return bool(env.get("DISPLAY"))
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def app_icon() -> QIcon:
    """The app icon: the SVG plus the rendered PNGs (sharper at small sizes)."""
    from PySide6.QtGui import QIcon

    from .. import appdirs

    icon = QIcon()
    svg = appdirs.resource_path("icons", "konnect-desktop.svg")
    if svg.is_file():
        icon.addFile(str(svg))
    for png in sorted(appdirs.resource_path("icons", "hicolor").glob("*/apps/konnect-desktop.png")):
        icon.addFile(str(png))
    return icon


def icons_not_rendering() -> list[str]:
    """Icons Qt cannot draw here (a bundle without the SVG icon engine, a missing file)."""
    from PySide6.QtCore import QSize

    from .mainwindow import page_icon
    from .pages import PAGES

    bad = [spec.id for spec in PAGES if page_icon(spec.id).pixmap(QSize(16, 16)).isNull()]
    if app_icon().pixmap(QSize(16, 16)).isNull():
        bad.append("app")
    return bad


def run(args: argparse.Namespace) -> int:
    if not display_available():
        print(NO_DISPLAY.format(cmd=launch_command()), file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import asyncio

    import qasync
    from PySide6.QtWidgets import QApplication

    from .. import appdirs, applog
    from . import theme
    from .crash import CrashHandler
    from .single_instance import SingleInstance

    applog.setup(getattr(args, "log_level", "info"))
    applog.enable_faulthandler()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Konnect Desktop")
    app.setOrganizationName("konnect-desktop")
    app.setDesktopFileName(APP_ID)
    icon = app_icon()
    if icon.isNull():  # a bundle or install without resources/ (packaging/smoke looks for this)
        logging.getLogger(__name__).warning("app icon not found under %s", appdirs.resource_path("icons"))
    app.setWindowIcon(icon)
    instance = SingleInstance()
    if not instance.start():
        print("Konnect Desktop is already running: its window was brought to the front.", file=sys.stderr)
        logging.getLogger(__name__).info("second launch handed over to the running app")
        return 0
    crash = CrashHandler().install()
    app.setQuitOnLastWindowClosed(False)  # the loop below ends on close, then stops the runtimes
    theme.apply(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    from .mainwindow import MainWindow
    from .session import Session

    session = Session()
    from . import preferences

    preferences.apply(session, preferences.load(session))  # theme, ports, history, redaction
    window = MainWindow(session)
    crash.parent = window
    instance.sig_activate.connect(window.bring_to_front)
    window.restore_state()
    window.show()
    if bad := icons_not_rendering():  # packaging/smoke looks for this line
        logging.getLogger(__name__).warning("icons that do not render: %s", ", ".join(bad))
    logging.getLogger(__name__).info("window shown after %.0f ms", (time.perf_counter() - t0) * 1000)

    async def startup() -> None:
        conn = session.last_connection() or next(c for c in session.connections if c.kind == "local")
        if conn.kind == "local" and not args.no_start:
            try:
                await session.start_runtime(conn.runtime_name)
            except Exception as exc:  # the window still opens; the status bar offers Start
                from .errors import describe_error

                session.sig_error.emit(describe_error(exc, action=f"starting local runtime {conn.runtime_name}"))
        await session.switch(conn)
        if args.page:
            window.show_page(args.page)

    session.runner.run(startup(), label="Starting", key="startup")
    session.runner.run(session.warm_up(), label="Loading", key="warm-up")
    if args.quit_after:
        loop.call_later(args.quit_after, window.close)

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    app.lastWindowClosed.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
            loop.run_until_complete(session.close())
    finally:
        instance.close()
        crash.uninstall()
    return 0
