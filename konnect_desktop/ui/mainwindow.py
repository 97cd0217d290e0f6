"""The main window: connection bar, sidebar of pages, and a status bar with the local runtime.

The connection bar says which connection and runtime group every page shows and switches in
one click; the status bar always shows the current group and the local runtime's state
(running/stopped, proxy and admin addresses) with Start/Stop. Pages come from the registry in
``pages/__init__.py`` and are built when first shown, each inside a scroll area: a page that
needs more room than the window has scrolls, it never grows the window (the app fits 1280×720).
Status messages are elided to the bar's width; the full text is in the tooltip and in the
notifications list (the bell button). Splitter positions are remembered with the window.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import appdirs
from ..settings import Profile
from .errors import ErrorInfo, describe_error
from .pages import PAGES, PageSpec
from .pages.base import Page
from .session import Session
from .status import ElidedLabel, NotificationsMenu
from .theme import set_status

log = logging.getLogger(__name__)


def page_icon(page_id: str) -> QIcon:
    """The sidebar icon of a page (``resources/icons/pages/<id>.svg``); empty when not shipped."""
    path = appdirs.resource_path("icons", "pages", f"{page_id}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


class ErrorPage(Page):
    """Shown instead of a page whose module failed to import (the window stays usable)."""

    def __init__(self, session: Session, title: str, exc: BaseException) -> None:
        self.title = title
        super().__init__(session)
        self.title_label.setText(title)
        self.error_panel.show_error(describe_error(exc, action=f"opening {title}"))


class MainWindow(QMainWindow):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Konnect Desktop")
        self.resize(1280, 820)
        self.pages: dict[str, Page] = {}

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        # -- connection bar --------------------------------------------------------------------
        bar = QWidget()
        bar.setObjectName("ConnectionBar")
        bh = QHBoxLayout(bar)
        bh.setContentsMargins(10, 6, 10, 6)
        self.connection_combo = QComboBox()
        self.connection_combo.setAccessibleName("Connection")
        self.connection_combo.setToolTip("The connection and runtime group every page shows")
        self.connection_combo.setMinimumWidth(220)
        self.connection_combo.activated.connect(self._combo_activated)
        bh.addWidget(self.connection_combo)
        self.group_label = QLabel()
        bh.addWidget(self.group_label)
        bh.addStretch(1)
        outer.addWidget(bar)

        # -- sidebar + pages -------------------------------------------------------------------
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("MainSplitter")
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("Sidebar")
        self.sidebar.setAccessibleName("Pages")
        # wide enough for the longest title ("Runtime Manager", "Request Console") beside its icon
        self.sidebar.setMaximumWidth(240)
        self.sidebar.ensurePolished()  # the style sheet sets the sidebar's font size: measure with it
        self.sidebar.setMinimumWidth(self.sidebar.fontMetrics().horizontalAdvance("Request Console") + 72)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.stack = QStackedWidget()
        for spec in PAGES:
            item = QListWidgetItem(page_icon(spec.id), spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.id)
            self.sidebar.addItem(item)
            holder = QWidget()  # replaced by the page when first shown
            holder.setProperty("page_id", spec.id)
            self.stack.addWidget(holder)
        self.sidebar.currentRowChanged.connect(self.show_page_at)
        split.addWidget(self.sidebar)
        split.addWidget(self.stack)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([self.sidebar.minimumWidth(), 1100])
        split.setCollapsible(1, False)
        outer.addWidget(split, 1)
        self.setCentralWidget(central)

        # -- status bar ------------------------------------------------------------------------
        sb = QStatusBar()
        self.setStatusBar(sb)
        self.status_group = QLabel()
        self.status_group.setAccessibleName("Current runtime group")
        self.runtime_status = QLabel()
        self.runtime_addresses = QLabel()
        self.runtime_addresses.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runtime_button = QPushButton("Start")
        self.runtime_button.setAccessibleName("Start or stop the local runtime")
        self.runtime_button.clicked.connect(self.toggle_runtime)
        # a long message (a keyring hint, a server's error) is elided, never widening the window
        self.activity = ElidedLabel()
        self.activity.setObjectName("Muted")
        self.notifications = NotificationsMenu(self)
        self.notify_button = QToolButton()
        self.notify_button.setText("0 messages")
        self.notify_button.setAccessibleName("Notifications")
        self.notify_button.setToolTip("Messages of this session")
        self.notify_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.notify_button.setMenu(self.notifications)
        self.notifications.sig_count.connect(
            lambda n: self.notify_button.setText(f"{n} message{'s' if n != 1 else ''}"))
        sb.addWidget(self.status_group)
        sb.addWidget(self.activity, 1)
        sb.addPermanentWidget(self.notify_button)
        sb.addPermanentWidget(self.runtime_status)
        sb.addPermanentWidget(self.runtime_addresses)
        sb.addPermanentWidget(self.runtime_button)

        self._build_actions()
        session.sig_connections_changed.connect(self.fill_connections)
        session.sig_current_changed.connect(self._current_changed)
        session.sig_runtime_state.connect(self._runtime_state)
        session.sig_error.connect(self.show_error)
        session.sig_open_page.connect(self.open_page_with)
        session.runner.sig_busy.connect(self._busy)
        self.fill_connections()
        self._update_status()
        self._clock = QTimer(self)
        self._clock.setInterval(5000)
        self._clock.timeout.connect(self._update_status)
        self._clock.start()

    # -- actions and shortcuts ----------------------------------------------------------------
    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        view_menu = menu.addMenu("&View")
        help_menu = menu.addMenu("&Help")

        def action(text: str, key: Any, slot: Any, where: Any) -> QAction:
            a = QAction(text, self)
            a.setShortcut(QKeySequence(key))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.triggered.connect(slot)
            where.addAction(a)
            self.addAction(a)
            return a

        self.act_new = action("&New", QKeySequence.StandardKey.New, self._new, file_menu)
        self.act_find = action("&Find", QKeySequence.StandardKey.Find, self._find, view_menu)
        self.act_refresh = action("&Refresh", QKeySequence.StandardKey.Refresh, self._refresh, view_menu)
        self.act_prefs = action("&Preferences…", QKeySequence.StandardKey.Preferences, self._preferences, file_menu)
        if self.act_prefs.shortcut().isEmpty():  # not every platform defines one
            self.act_prefs.setShortcut(QKeySequence("Ctrl+,"))
        if self.act_refresh.shortcut().isEmpty():
            self.act_refresh.setShortcut(QKeySequence("F5"))
        file_menu.addSeparator()
        action("&Quit", QKeySequence.StandardKey.Quit, self.close, file_menu)
        self.act_log_folder = QAction("Open &Log Folder", self)
        self.act_log_folder.setToolTip(f"Logs and crash reports: {appdirs.log_dir()}")
        self.act_log_folder.triggered.connect(self.open_log_folder)
        help_menu.addAction(self.act_log_folder)
        help_menu.addSeparator()
        a = QAction("&About Konnect Desktop", self)
        a.triggered.connect(self.about)
        help_menu.addAction(a)
        for i, spec in enumerate(PAGES[:9]):
            act = QAction(spec.title, self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _c=False, i=i: self.sidebar.setCurrentRow(i))
            view_menu.addAction(act)

    def current_page(self) -> Page | None:
        w = self.stack.currentWidget()
        if isinstance(w, QScrollArea):
            w = w.widget()
        return w if isinstance(w, Page) else None

    def _new(self) -> None:
        p = self.current_page()
        if p is not None:
            p.new()

    def _find(self) -> None:
        p = self.current_page()
        if p is not None:
            p.find()

    def _refresh(self) -> None:
        p = self.current_page()
        if p is not None:
            p.refresh()

    def _preferences(self) -> None:
        from .preferences import PreferencesDialog

        self.preferences_dialog = PreferencesDialog(self.session, self)
        self.preferences_dialog.open()

    def open_log_folder(self) -> None:
        from .crash import open_log_folder

        if not open_log_folder():
            self.notify(f"Logs and crash reports are in {appdirs.log_dir()}")

    def bring_to_front(self) -> None:
        """A second launch of the app asked for this window."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def about(self) -> None:
        from .about import AboutDialog

        AboutDialog(self).open()

    # -- pages --------------------------------------------------------------------------------
    def page(self, page_id: str) -> Page:
        """The page ``page_id``, built on first use."""
        if page_id in self.pages:
            return self.pages[page_id]
        idx = next(i for i, s in enumerate(PAGES) if s.id == page_id)
        spec: PageSpec = PAGES[idx]
        try:
            page: Page = spec.load()(self.session)
        except Exception as exc:  # a broken page must not take the window down
            log.exception("page %s failed to build", page_id)
            page = ErrorPage(self.session, spec.title, exc)
        old = self.stack.widget(idx)
        self.stack.removeWidget(old)
        old.deleteLater()
        scroll = QScrollArea()
        scroll.setObjectName(f"PageScroll-{page_id}")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(page)
        self.stack.insertWidget(idx, scroll)
        self.pages[page_id] = page
        self._restore_splitters(page, page_id)
        return page

    def show_page(self, page_id: str) -> Page:
        idx = next(i for i, s in enumerate(PAGES) if s.id == page_id)
        self.sidebar.setCurrentRow(idx)
        return self.pages[page_id]

    def open_page_with(self, page_id: str, action: Any = None) -> Page:
        """Show ``page_id`` and hand it to ``action`` (a page asking for another, e.g. the Runtime
        Manager's “Replicate to…” opening Replication with its group as the source)."""
        page = self.show_page(page_id)
        if action is not None:
            try:
                action(page)
            except Exception as exc:  # the page may be an error page, or an older one
                log.exception("acting on page %s failed", page_id)
                self.show_error(describe_error(exc, action=f"opening {page_id}"))
        return page

    def show_page_at(self, row: int) -> None:
        if row < 0:
            return
        spec = PAGES[row]
        page = self.page(spec.id)
        self.stack.setCurrentIndex(row)
        page.on_shown()

    # -- connections --------------------------------------------------------------------------
    def fill_connections(self) -> None:
        self.connection_combo.blockSignals(True)
        self.connection_combo.clear()
        for c in self.session.connections:
            self.connection_combo.addItem(c.label, c.id)
        cur = self.session.current
        # the combo names the connection in use, or none: never one that is not (yet) in use
        self.connection_combo.setCurrentIndex(self.connection_combo.findData(cur.id) if cur is not None else -1)
        self.connection_combo.blockSignals(False)
        self._update_status()

    def _combo_activated(self, index: int) -> None:
        conn = self.session.find(self.connection_combo.itemData(index))
        if conn is not None:
            self.switch_to(conn)

    def switch_to(self, conn: Profile) -> None:
        self.session.runner.run(self.session.switch(conn), label=f"Connecting to {conn.label}", key="switch")

    def _current_changed(self, conn: Profile | None) -> None:
        self.fill_connections()
        self._update_status()

    def _runtime_state(self, _name: str, _state: str) -> None:
        self._update_status()

    def _busy(self, busy: bool, label: str) -> None:
        self.activity.setText(f"{label}…" if busy else "")

    def show_error(self, info: ErrorInfo) -> None:
        self.notify(f"⚠ {info.title}: {info.message}", "\n".join([info.title, info.message, *info.lines()]))

    def notify(self, text: str, full: str | None = None) -> None:
        """A message in the status bar (elided) and in the notifications list (whole)."""
        self.activity.setText(text)
        self.activity.setToolTip(full or text)
        self.notifications.add(full or text)

    def _update_status(self) -> None:
        conn = self.session.current
        if conn is None:
            self.status_group.setText("runtime group: —")
            self.group_label.setText("")
        else:
            group = self.session.group_of(conn)
            self.status_group.setText(f"runtime group: {group}")
            where = self.session.cp.target if self.session.cp is not None else ""
            self.group_label.setText(f"runtime group: {group}   ·   {where}")
        local = conn.runtime_name if conn is not None and conn.kind == "local" else None
        if local is None:
            # the status bar always tells about a local runtime: the first running one, or default
            running = [n for n in self.session.runtimes if self.session.runtime_state(n) == "running"]
            local = running[0] if running else next(
                (c.runtime_name for c in self.session.connections if c.kind == "local"), "default")
        state = self.session.runtime_state(local)
        set_status(self.runtime_status, state, f"{'●' if state == 'running' else '○'} local “{local}” {state}")
        rt = self.session.runtime(local)
        if rt is not None and state == "running":
            https = getattr(rt, "proxy_tls_url", None)
            self.runtime_addresses.setText(f"proxy {getattr(rt, 'proxy_url', '?')}"
                                           + (f"  https {https}" if https else "")
                                           + f"  admin {getattr(rt, 'admin_url', '?')}")
        else:
            self.runtime_addresses.setText("")
        self.runtime_button.setText("Stop" if state in ("running", "starting") else "Start")
        self.runtime_button.setEnabled(state in ("running", "stopped", "failed"))
        self.runtime_button.setProperty("runtime", local)

    def toggle_runtime(self) -> None:
        name = self.runtime_button.property("runtime") or "default"
        if self.session.runtime_state(name) == "running":
            self.session.runner.run(self.session.stop_runtime(name), label=f"Stopping {name}", key=f"rt-{name}")
        else:
            self.session.runner.run(self.session.start_runtime(name), label=f"Starting {name}", key=f"rt-{name}")

    # -- window state --------------------------------------------------------------------------
    def restore_state(self) -> None:
        # kept in the settings file as base64 text (it is JSON)
        geo = self.session.store.get_value("window/geometry")
        state = self.session.store.get_value("window/state")
        if isinstance(geo, str):
            self.restoreGeometry(QByteArray.fromBase64(geo.encode("ascii")))
        if isinstance(state, str):
            self.restoreState(QByteArray.fromBase64(state.encode("ascii")))
        main = self.centralWidget().findChild(QSplitter, "MainSplitter")
        sizes = self.session.store.get_value("splitters/window")
        if main is not None and isinstance(sizes, list) and sizes and isinstance(sizes[0], list):
            main.setSizes([int(n) for n in sizes[0]])
        page = self.session.store.get_value("window/page", "services")
        ids = [s.id for s in PAGES]
        self.sidebar.setCurrentRow(ids.index(page) if page in ids else 1)

    def _splitters(self, root: QWidget) -> list[QSplitter]:
        return list(root.findChildren(QSplitter))

    def _restore_splitters(self, root: QWidget, key: str) -> None:
        """Put a page's splitters where the user left them (saved per page, in order)."""
        saved = self.session.store.get_value(f"splitters/{key}")
        if not isinstance(saved, list):
            return
        for sp, sizes in zip(self._splitters(root), saved, strict=False):
            if isinstance(sizes, list) and len(sizes) == sp.count() and all(isinstance(n, int) for n in sizes):
                sp.setSizes(sizes)

    def _save_splitters(self) -> None:
        main = self.centralWidget().findChild(QSplitter, "MainSplitter")
        if main is not None:
            self.session.store.set_value("splitters/window", [list(main.sizes())])
        for key, page in self.pages.items():
            self.session.store.set_value(f"splitters/{key}", [list(sp.sizes()) for sp in self._splitters(page)])

    def save_state(self) -> None:
        self._save_splitters()
        self.session.store.set_value("window/geometry", bytes(self.saveGeometry().toBase64().data()).decode("ascii"))
        self.session.store.set_value("window/state", bytes(self.saveState().toBase64().data()).decode("ascii"))
        row = self.sidebar.currentRow()
        if 0 <= row < len(PAGES):
            self.session.store.set_value("window/page", PAGES[row].id)
        self.session.save_ui()  # written off the UI thread; the app waits for it before quitting

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_state()
        super().closeEvent(event)
