"""``konnect-desktop`` (the ``gui`` command): the Qt application on a qasync event loop.

Qt and qasync are imported inside ``run`` so that ``konnect-desktop --help`` stays instant. With
no display to draw on, the command says what to do instead of crashing inside Qt.
On first launch the local runtime "default" is started (its store in the app's data folder; the
runtime loads the sample configuration into an empty store), so a new user can send a request
through the gateway within a minute.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

NO_DISPLAY = (
    "No display found. Run the headless gateway with `konnect-desktop gateway run`, "
    "or start the app under Xvfb: `xvfb-run konnect-desktop`"
)
# Qt platforms that draw without a window system
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-start", action="store_true",
                        help="do not start the local runtime on launch")
    parser.add_argument("--page", default=None,
                        help="open this page first (runtimes, services, consumers, plugins, ...)")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help=argparse.SUPPRESS)  # smoke tests: close the window after N seconds


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


def _setup_logging() -> None:
    from .. import appdirs

    try:
        from ..credentials import install_log_filter
    except ImportError:  # pragma: no cover - credentials is part of the package
        install_log_filter = None  # type: ignore[assignment]
    # the log may name hosts, paths and (masked) headers: private like the rest of the app's files
    handler = logging.FileHandler(appdirs.private_file(appdirs.log_dir() / "konnect-desktop.log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    if install_log_filter is not None:
        install_log_filter(root)


def run(args: argparse.Namespace) -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import asyncio

    import qasync
    from PySide6.QtWidgets import QApplication

    from . import theme
    from .mainwindow import MainWindow
    from .session import Session

    _setup_logging()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Konnect Desktop")
    app.setOrganizationName("konnect-desktop")
    app.setDesktopFileName("konnect-desktop")
    app.setQuitOnLastWindowClosed(False)  # the loop below ends on close, then stops the runtimes
    theme.apply(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    session = Session()
    window = MainWindow(session)
    window.restore_state()
    window.show()
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
    with loop:
        loop.run_until_complete(closed.wait())
        loop.run_until_complete(session.close())
    return 0
