"""The Request Console's collection tree: a folder of request files (``console/collection.py``)
beside the request editor.

Open a collection folder (recent ones are remembered in the settings' ``ui`` values), pick a
request to load it into the console's editor, Save it back to its file, add or delete request
files, and run one request or all of them through ``console.runner.run_request``. Each request
shows PASS / FAIL (icon and text) in the tree; the selected one lists its checks, expected
against got. When the current connection is a running local runtime, gateway-side checks use
its traffic log; otherwise only the client's side is checked and the panel says so. Runs are
coroutines on the console's ``TaskRunner``: cancellable, and the window never waits on them.
Import turns a Postman, Insomnia, HAR or curl file into a new collection folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...console import collection as col
from ...console.auth import NO_AUTH
from ...console.environments import Environment
from ...console.importers import import_file
from ...console.request import RequestSpec
from ...console.runner import RequestResult, run_request
from ..errors import ErrorInfo
from .collection_checks import ChecksList, result_text

if TYPE_CHECKING:
    from ..pages.request_console import RequestConsolePage

RECENT_KEY = "console/recent_collections"
RECENT_MAX = 8
NO_ENV = "(no environment)"
NOT_LOCAL = ("The current connection is not a running local runtime: only the client's side is checked "
             "(gateway checks are skipped).")
REQ_ROLE = Qt.ItemDataRole.UserRole


class CollectionPanel(QWidget):
    """A collection's requests as a tree, with Open / Import / New / Delete / Save / Run."""

    def __init__(self, console: RequestConsolePage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # a weak reference: the page owns this panel, and a cycle would keep a closed page's
        # Python object alive after Qt deleted it
        self._console = weakref.ref(console)
        self.runner = console.runner
        self.collection: col.Collection | None = None
        self.results: dict[str, RequestResult] = {}  # request file → its last result
        self.items: dict[str, QTreeWidgetItem] = {}  # request file → its row
        self.running: set[str] = set()
        # edits not saved yet, per request file, kept while another request is being looked at
        self.drafts: dict[str, RequestSpec] = {}
        self._baseline: tuple[str, RequestSpec] | None = None  # (file, the editor's spec as loaded)
        self._build()

    @property
    def console(self) -> RequestConsolePage:
        page = self._console()
        assert page is not None, "the Request Console page is gone"
        return page

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(4)
        top = QHBoxLayout()
        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open a collection folder (the arrow lists recent ones)")
        self.open_button.setAccessibleName("Open a collection folder")
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.recent_menu = QMenu(self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.open_button.setMenu(self.recent_menu)
        self.open_button.clicked.connect(self._open_dialog)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("A Postman v2.1, Insomnia v4, HAR or curl file into a new collection folder")
        self.import_button.clicked.connect(self._import_dialog)
        self.env = QComboBox()
        self.env.setAccessibleName("Collection environment")
        self.env.setToolTip("The collection's environment (environments/NAME.yaml)")
        self.env.setMinimumContentsLength(6)
        top.addWidget(self.open_button)
        top.addWidget(self.import_button)
        top.addWidget(self.env, 1)
        v.addLayout(top)

        self.title = QLabel("No collection open")
        self.title.setObjectName("Muted")
        self.title.setWordWrap(True)
        v.addWidget(self.title)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Request", "Result"])
        self.tree.setAccessibleName("Collection requests")
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.currentItemChanged.connect(self._selected)
        self.checks = ChecksList()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.checks)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([200, 260])
        v.addWidget(split, 1)

        row1 = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("A new request file in the selected group")
        self.new_button.clicked.connect(lambda: self.new_request())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected request's file")
        self.delete_button.clicked.connect(lambda: self.delete_request())
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Write the editor's request back to its file (keeps its checks)")
        self.save_button.clicked.connect(lambda: self.save_request())
        for b in (self.new_button, self.delete_button, self.save_button):
            row1.addWidget(b)
        v.addLayout(row1)
        row2 = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the selected request (or group) as saved, and its checks")
        self.run_button.clicked.connect(lambda: self.run_selected())
        self.run_all_button = QPushButton("Run all")
        self.run_all_button.setToolTip("Run every request in order · Cancel while running")
        self.run_all_button.clicked.connect(self._run_all_clicked)
        row2.addWidget(self.run_button)
        row2.addWidget(self.run_all_button)
        v.addLayout(row2)
        self.note = QLabel()
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        self.note.hide()
        v.addWidget(self.note)
        self.runner.sig_busy.connect(lambda *_: self._update_buttons())
        # Ctrl+S anywhere in the console saves the selected request (the editor is the console's)
        save_keys = QKeySequence(QKeySequence.StandardKey.Save)
        self.save_button.setToolTip(f"{self.save_button.toolTip()} "
                                    f"({save_keys.toString(QKeySequence.SequenceFormat.NativeText)})")
        QShortcut(save_keys, self.console, lambda: self.save_request() if self.save_button.isEnabled() else None,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._update_buttons()

    def _update_buttons(self) -> None:
        have = self.collection is not None
        req = self.current_request()
        running = self.is_running()
        self.new_button.setEnabled(have and not running)
        self.delete_button.setEnabled(req is not None and not running)
        self.save_button.setEnabled(req is not None and not running)
        self.run_button.setEnabled(have and not running)
        self.run_all_button.setEnabled(have)
        self.run_all_button.setText("Cancel" if running else "Run all")

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _fail(self, title: str, message: str) -> None:
        self.console.show_error(ErrorInfo(title, message))

    # -- opening -----------------------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.console.session.store.get_value(RECENT_KEY, [])
        return [str(p) for p in value] if isinstance(value, list) else []

    def _remember(self, root: Path) -> None:
        paths = [str(root), *[p for p in self.recent() if p != str(root)]][:RECENT_MAX]
        self.console.session.store.set_value(RECENT_KEY, paths)
        self.console.session.save_ui()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.recent()
        if not paths:
            self.recent_menu.addAction("(no recent collections)").setEnabled(False)
        for p in paths:
            self.recent_menu.addAction(p, lambda p=p: self.open_collection(p))

    def _open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a collection folder", self.recent()[0] if self.recent() else "")
        if path:
            self.open_collection(path)

    def open_collection(self, path: str | Path, select: Path | None = None) -> asyncio.Task[Any]:
        return self.runner.run(self._load(Path(path), select), label="Opening collection", key="collection",
                               on_error=self._load_failed)

    def _load_failed(self, info: ErrorInfo) -> None:
        self.console.show_error(ErrorInfo("Opening the collection failed", info.message))

    async def _load(self, root: Path, select: Path | None = None) -> col.Collection:
        loaded = await asyncio.to_thread(col.load, root)
        self.show_collection(loaded, select)
        self._remember(loaded.root or root)
        return loaded

    def show_collection(self, collection: col.Collection, select: Path | None = None) -> None:
        self.collection = collection
        self.results = {k: v for k, v in self.results.items() if any(str(r.path) == k for r in collection.requests)}
        n = len(collection.requests)
        folder = collection.root.name if collection.root is not None else ""
        self.title.setText(f"{collection.name} · {n} request{'' if n == 1 else 's'} · {folder}/")
        self.title.setToolTip(str(collection.root))
        current_env = self.env.currentText()
        self.env.clear()
        for name in sorted(collection.environments):
            self.env.addItem(name)
        self.env.addItem(NO_ENV)
        wanted = current_env if self.env.findText(current_env) >= 0 else (
            "local" if "local" in collection.environments else self.env.itemText(0))
        self.env.setCurrentIndex(max(0, self.env.findText(wanted)))
        self._fill_tree(select)
        self._update_buttons()

    def _fill_tree(self, select: Path | None) -> None:
        assert self.collection is not None
        self._stash()
        self.drafts = {k: v for k, v in self.drafts.items() if self.request_for(k) is not None}
        self.tree.blockSignals(True)
        self.tree.clear()
        self.items = {}
        groups: dict[tuple[str, ...], QTreeWidgetItem] = {}

        def group_item(group: tuple[str, ...]) -> QTreeWidgetItem | None:
            if not group:
                return None
            if group not in groups:
                parent = group_item(group[:-1])
                it = QTreeWidgetItem([group[-1], ""])
                it.setIcon(0, self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon))
                (parent.addChild(it) if parent is not None else self.tree.addTopLevelItem(it))
                it.setExpanded(True)
                groups[group] = it
            return groups[group]

        target: QTreeWidgetItem | None = None
        for req in self.collection.requests:
            it = QTreeWidgetItem(["", ""])
            it.setData(0, REQ_ROLE, str(req.path))
            parent = group_item(req.group)
            (parent.addChild(it) if parent is not None else self.tree.addTopLevelItem(it))
            self.items[str(req.path)] = it
            self._label(str(req.path))
            self._paint(str(req.path))
            if select is not None and req.path == select:
                target = it
        for it in groups.values():
            it.setExpanded(True)
        self.tree.blockSignals(False)
        if target is not None:
            self.tree.setCurrentItem(target)
        else:
            self._show_checks(None)

    def _paint(self, key: str) -> None:
        it = self.items.get(key)
        if it is None:
            return
        style = self.style()
        if key in self.running:
            it.setText(1, "running…")
            it.setIcon(1, style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
            return
        r = self.results.get(key)
        if r is None:
            it.setText(1, "")
            it.setIcon(1, style.standardIcon(QStyle.StandardPixmap.SP_FileIcon))
            return
        it.setText(1, result_text(r))
        it.setIcon(1, style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton if r.ok
                                         else QStyle.StandardPixmap.SP_MessageBoxCritical))
        it.setToolTip(1, "\n".join(r.lines()))

    # -- selection ---------------------------------------------------------------------------------
    def request_for(self, key: str | None) -> col.CollectionRequest | None:
        if self.collection is None or not key:
            return None
        return next((r for r in self.collection.requests if str(r.path) == key), None)

    def current_request(self) -> col.CollectionRequest | None:
        it = self.tree.currentItem() if hasattr(self, "tree") else None
        return self.request_for(it.data(0, REQ_ROLE) if it is not None else None)

    def select(self, path: str | Path) -> None:
        it = self.items.get(str(path))
        if it is not None:
            self.tree.setCurrentItem(it)

    def _stash(self) -> None:
        """Keep the editor's unsaved edits of the request being left as its draft."""
        if self._baseline is None:
            return
        key, loaded = self._baseline
        self._baseline = None
        now = self.console.build_spec()
        if now != loaded:
            self.drafts[key] = now
        else:
            self.drafts.pop(key, None)
        self._label(key)

    def _label(self, key: str) -> None:
        req, it = self.request_for(key), self.items.get(key)
        if req is None or it is None:
            return
        edited = key in self.drafts
        it.setText(0, f"{req.spec.method} {req.name}{' • edited' if edited else ''}")
        it.setToolTip(0, f"{req.spec.method} {req.spec.url}\n{req.path}" + ("\nunsaved edits (Save writes them)" if edited else ""))

    def _selected(self, current: QTreeWidgetItem | None, _prev: Any) -> None:
        self._stash()
        req = self.request_for(current.data(0, REQ_ROLE) if current is not None else None)
        self._update_buttons()
        if req is None:
            self._show_checks(None)
            return
        key = str(req.path)
        self.console.load_spec(req.spec)
        self._baseline = (key, self.console.build_spec())
        if key in self.drafts:
            self.console.load_spec(self.drafts[key])
        self.console.set_collection_note(f"Editing “{req.title}” from {req.path.name if req.path else 'the collection'}: "
                                         "Save writes the editor back to the file.")
        result = self.results.get(str(req.path))
        self._show_checks(result)
        if result is not None and result.responses:
            self.console.response.set_exchange(result.responses[0])  # what its last run got
            self.console.insight.set_message("The gateway's side of this run is in the collection's check list; "
                                             "Send the request for the full gateway view.")

    def _show_checks(self, r: RequestResult | None) -> None:
        self.checks.show_result(r)

    def check_lines(self) -> list[str]:
        """The checks shown, as sentences ("✗ name: expected …, got …")."""
        return self.checks.lines()

    # -- editing files -----------------------------------------------------------------------------
    def save_request(self) -> asyncio.Task[Any] | None:
        req = self.current_request()
        if req is None or req.path is None:
            return None
        spec = self.console.build_spec()
        notes = []
        if spec.auth.canonical().active:
            notes.append("The Auth tab is not part of a collection file: put the key in a header with a "
                         "{{variable}} instead.")
        edited = dataclasses.replace(req, spec=dataclasses.replace(spec, auth=NO_AUTH))

        async def write() -> Path:
            return await asyncio.to_thread(col.write_request, edited)

        def done(p: Path) -> None:
            assert self.collection is not None
            edited.path = p
            self.collection.requests = [edited if r is req else r for r in self.collection.requests]
            self.drafts.pop(str(p), None)
            if self.current_request() is edited:
                self._baseline = (str(p), self.console.build_spec())
            self._label(str(p))
            self.set_note(" ".join([f"Saved {p.name}.", *notes]))

        return self.runner.run(write(), label="Saving request", key="collection-save", on_done=done,
                               on_error=lambda info: self._fail("Saving the request failed", info.message))

    def _folder_for_new(self) -> Path | None:
        if self.collection is None or self.collection.root is None:
            return None
        req = self.current_request()
        if req is not None and req.path is not None:
            return req.path.parent
        it = self.tree.currentItem()
        if it is not None and it.childCount():  # a group: the folder of its first request
            first = it.child(0)
            while first is not None and first.data(0, REQ_ROLE) is None and first.childCount():
                first = first.child(0)
            r = self.request_for(first.data(0, REQ_ROLE) if first is not None else None)
            if r is not None and r.path is not None:
                return r.path.parent
        return self.collection.root

    def new_request(self, name: str = "New request") -> asyncio.Task[Any] | None:
        folder = self._folder_for_new()
        if folder is None or self.collection is None:
            return None
        root = self.collection.root
        assert root is not None

        async def create() -> Path:
            p = await asyncio.to_thread(col.new_request_file, folder, name)
            await self._load(root, p)
            return p

        return self.runner.run(create(), label="Adding request", key="collection",
                               on_done=lambda p: self.set_note(f"Added {p.name}: edit it, then Save."),
                               on_error=lambda info: self._fail("Adding a request failed", info.message))

    def delete_request(self, *, confirm: bool = True) -> asyncio.Task[Any] | None:
        req = self.current_request()
        if req is None or req.path is None or self.collection is None or self.collection.root is None:
            return None
        if confirm:
            answer = QMessageBox.question(self, "Delete request", f"Delete the file {req.path.name} (“{req.name}”)?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        path, root = req.path, self.collection.root

        async def delete() -> None:
            await asyncio.to_thread(path.unlink)
            self.results.pop(str(path), None)
            await self._load(root)

        return self.runner.run(delete(), label="Deleting request", key="collection",
                               on_done=lambda _r: self.set_note(f"Deleted {path.name}."),
                               on_error=lambda info: self._fail("Deleting the request failed", info.message))

    # -- running -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return "Running collection" in self.runner.labels()

    def _run_all_clicked(self) -> None:
        if self.is_running():
            self.runner.cancel("collection-run")
        else:
            self.run_all()

    def selected_requests(self) -> list[col.CollectionRequest]:
        it = self.tree.currentItem()
        if it is None:
            return []
        keys: list[str] = []

        def walk(node: QTreeWidgetItem) -> None:
            key = node.data(0, REQ_ROLE)
            if key:
                keys.append(key)
            for i in range(node.childCount()):
                walk(node.child(i))

        walk(it)
        return [r for r in (self.request_for(k) for k in keys) if r is not None]

    def run_selected(self) -> asyncio.Task[Any] | None:
        reqs = self.selected_requests()
        return self.run(reqs) if reqs else None

    def run_all(self) -> asyncio.Task[Any] | None:
        if self.collection is None:
            return None
        return self.run(list(self.collection.requests))

    def environment(self) -> Environment | None:
        if self.collection is None:
            return None
        return self.collection.environments.get(self.env.currentText())

    def target(self) -> tuple[str | None, Any, str | None]:
        """(base URL, traffic log, note): the current connection's running local runtime with its
        traffic log, else the environment's ``base`` with client-side checks only."""
        session = self.console.session
        cur = session.current
        if cur is not None and cur.kind == "local":
            rt = session.runtimes.get(cur.runtime_name)
            if rt is not None and str(getattr(rt, "state", "")) == "running" and getattr(rt, "proxy_url", None):
                return rt.proxy_url, rt.traffic, None
        return None, None, NOT_LOCAL

    def run(self, requests: list[col.CollectionRequest]) -> asyncio.Task[Any]:
        self.console.error_panel.clear()
        return self.runner.run(self._run(requests), label="Running collection", key="collection-run",
                               on_error=lambda info: self._fail("Running the collection failed", info.message))

    async def _run(self, requests: list[col.CollectionRequest]) -> list[RequestResult]:
        base, traffic, note = self.target()
        env = await self._environment_with_console()
        if base is not None and env is not None and env.get("base") is not None:
            # the local runtime under test is {{base}}, as in ``konnect-desktop test``
            env = Environment(env.name, [v for v in env.variables if v.name != "base"])
        if base is None and (env is None or not (env.get("base") and env.get("base").value)):
            cur = self.console.session.current
            if cur is not None and cur.kind == "local":
                raise col.CollectionError(f"The local runtime “{cur.runtime_name}” is not running: start it "
                                          "(Start in the status bar), then run again.")
            raise col.CollectionError("{{base}} is unknown: switch to a running local runtime, or set base in "
                                      "the collection's environment to the gateway's proxy URL.")
        admin = getattr(self.local_runtime_or_none(), "admin_url", None) if base is not None else None
        self._stash_current()
        unsaved = [r for r in requests if str(r.path) in self.drafts]
        if unsaved:  # as ``konnect-desktop test`` would: what is in the files
            note = " ".join(filter(None, [note, f"{len(unsaved)} request(s) with unsaved edits ran as saved."]))
        self.set_note(note or "")
        done: list[RequestResult] = []
        keys = [str(r.path) for r in requests]
        self.running = set(keys)
        for k in keys:
            self._paint(k)
        try:
            for req in requests:
                r = await run_request(req, self.console.sender, env, base=base, admin=admin, traffic=traffic,
                                      gateway_reason=None if traffic is not None else
                                      "the current connection is not a local runtime")
                key = str(req.path)
                self.results[key] = r
                self.running.discard(key)
                self._paint(key)
                done.append(r)
                if self.current_request() is req:
                    self._show_checks(r)
        finally:
            left = list(self.running)
            self.running = set()
            for k in left:
                self._paint(k)
        passed = sum(r.ok for r in done)
        summary = f"{passed} passed, {len(done) - passed} failed."
        self.set_note(f"{summary} {note}" if note else summary)
        self._update_buttons()
        return done

    async def _environment_with_console(self) -> Environment | None:
        """The collection's environment (``{{env:NAME}}`` from the process), plus the variables
        only the console's current environment has — its secret ones read from the keyring, so
        a key never has to be written into the collection's files."""
        env = col.with_process_env(self.environment())
        extra = self.console.current_env()
        if extra is None:
            return env
        have = {v.name for v in env.variables} if env is not None else set()
        missing = [v for v in extra.variables if v.name not in have]
        if not missing:
            return env
        if any(v.secret for v in missing):
            extra = await asyncio.to_thread(self.console.env_store.with_secrets, Environment(extra.name, missing))
            missing = extra.variables
        return Environment(env.name if env is not None else extra.name, [*(env.variables if env else []), *missing])

    def _stash_current(self) -> None:
        """Record the selected request's edits as a draft without leaving it."""
        if self._baseline is not None:
            key, loaded = self._baseline
            self._stash()
            self._baseline = (key, loaded)

    def local_runtime_or_none(self) -> Any:
        cur = self.console.session.current
        return self.console.session.runtimes.get(cur.runtime_name) if cur is not None and cur.kind == "local" else None

    # -- importing ---------------------------------------------------------------------------------
    def _import_dialog(self) -> None:
        src, _ = QFileDialog.getOpenFileName(self, "Import requests", "",
                                             "Postman, Insomnia, HAR or curl (*.json *.yaml *.yml *.har *.sh *.txt);;"
                                             "All files (*)")
        if not src:
            return
        dest = QFileDialog.getExistingDirectory(self, "Folder for the new collection (an empty one)")
        if dest:
            self.import_into(src, dest)

    def import_into(self, src: str | Path, dest: str | Path) -> asyncio.Task[Any]:
        src, dest = Path(src), Path(dest)

        async def work() -> list[str]:
            def convert() -> list[str]:
                if dest.exists() and any(dest.iterdir()):
                    raise col.CollectionError(f"{dest}: not empty; import into a new or empty folder "
                                              "(files already there are never overwritten)")
                imported = import_file(src)
                col.save(imported.collection, dest)
                return [f"Imported {len(imported.collection.requests)} requests from {imported.kind or src.name}.",
                        *imported.warnings]

            lines = await asyncio.to_thread(convert)
            await self._load(dest)
            return lines

        def done(lines: list[str]) -> None:
            self.set_note("\n".join(lines[:1] + [f"⚠ {w}" for w in lines[1:]]))

        return self.runner.run(work(), label="Importing requests", key="collection", on_done=done,
                               on_error=lambda info: self._fail("Importing failed", info.message))
