"""Runtime Manager: connections and their runtime groups, and the selected group's overview.

Left, a tree: local runtime groups, Kong Gateway Admin URLs, Konnect organisations (by region)
with their control planes. Right, the overview: where it is, capability badges ("read-only:
DB-less"), entity counts, the nodes table (hostname, version, last seen, status with a word), and
the actions that make sense for the kind: Test, Use, Start/Stop (local), Replicate to…, Edit, Remove.
"Replicate to…" opens the Replication page with the selected connection/runtime group as source.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...settings import KIND_LABELS, Profile
from ..connection_dialog import ConnectionDialog
from ..errors import ErrorInfo
from ..models import relative_time
from ..session import Session
from ..theme import badge, set_status, status_text
from .base import Page

CONN_ROLE = Qt.ItemDataRole.UserRole + 1
GROUP_ROLE = Qt.ItemDataRole.UserRole + 2
COUNT_TABLES = ("services", "routes", "plugins", "consumers", "consumer_groups", "upstreams", "certificates")


class RuntimeManagerPage(Page):
    title = "Runtime Manager"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.add_button = QPushButton("+ Add connection…")
        self.add_button.clicked.connect(self.add_connection)
        self.new_group_button = QPushButton("New local runtime group…")
        self.new_group_button.clicked.connect(self.new_local_group)
        self.header.addWidget(self.new_group_button)
        self.header.addWidget(self.add_button)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Connection", "State"])
        self.tree.setAccessibleName("Connections")
        self.tree.setMinimumWidth(300)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._selected)
        self.tree.itemExpanded.connect(self._expanded)
        split.addWidget(self.tree)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(10, 0, 0, 0)
        self.heading = QLabel("Select a connection")
        self.heading.setStyleSheet("font-weight: 600; font-size: 13pt")
        self.target = QLabel()
        self.target.setObjectName("Muted")
        self.target.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.heading)
        rv.addWidget(self.target)
        self.badges = QHBoxLayout()
        self.badges.setSpacing(6)
        badge_row = QWidget()
        badge_row.setLayout(self.badges)
        rv.addWidget(badge_row)

        actions = QHBoxLayout()
        self.use_button = QPushButton("Use this runtime group")
        self.use_button.clicked.connect(self.use_selected)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_selected)
        self.start_button = QPushButton("Start")
        self.start_button.setAccessibleName("Start or stop this local runtime")
        self.start_button.clicked.connect(self.start_stop_selected)
        self.replicate_button = QPushButton("Replicate to…")
        self.replicate_button.setAccessibleName("Replicate this runtime group to another")
        self.replicate_button.setToolTip("Open Replication with this runtime group as the source")
        self.replicate_button.clicked.connect(self.replicate_selected)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        for b in (self.use_button, self.test_button, self.start_button, self.replicate_button, self.edit_button,
                  self.remove_button):
            actions.addWidget(b)
        actions.addStretch(1)
        rv.addLayout(actions)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.test_result)

        counts_box = QGroupBox("Entities")
        self.counts_form = QFormLayout(counts_box)
        self.count_labels: dict[str, QLabel] = {}
        for t in COUNT_TABLES:
            lab = QLabel("—")
            self.count_labels[t] = lab
            self.counts_form.addRow(t.replace("_", " "), lab)
        nodes_box = QGroupBox("Nodes")
        nv = QVBoxLayout(nodes_box)
        self.nodes = QTableWidget(0, 4)
        self.nodes.setHorizontalHeaderLabels(["hostname", "version", "last seen", "status"])
        self.nodes.verticalHeader().hide()
        self.nodes.horizontalHeader().setStretchLastSection(True)
        self.nodes.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.nodes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.nodes.setAccessibleName("Nodes")
        nv.addWidget(self.nodes)
        boxes = QHBoxLayout()
        boxes.addWidget(counts_box, 1)
        boxes.addWidget(nodes_box, 3)
        self.nodes.setMaximumHeight(180)
        rv.addLayout(boxes)
        rv.addStretch(1)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([340, 800])
        self.body.addWidget(split, 1)

        session.sig_connections_changed.connect(self.fill_tree)
        session.sig_runtime_state.connect(self._runtime_state)
        session.sig_current_changed.connect(self._current_changed)
        self.fill_tree()

    # -- tree ---------------------------------------------------------------------------------
    def fill_tree(self) -> None:
        selected = self.selected_connection()
        self.tree.blockSignals(True)
        self.tree.clear()
        roots: dict[str, QTreeWidgetItem] = {}
        for key, label in (("local", "Local runtime groups"), ("kong-admin", "Kong Gateway Admin API"), ("konnect", "Konnect")):
            item = QTreeWidgetItem([label, ""])
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            f = item.font(0)
            f.setBold(True)
            item.setFont(0, f)
            self.tree.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)  # a heading: the whole row, never clipped by "State"
            roots[key] = item
        current_id = self.session.current.id if self.session.current else None
        select_item = None
        for c in self.session.connections:
            text = c.name if c.kind != "kong-admin" else f"{c.name}  ({c.url})"
            if c.kind == "konnect":
                text = f"{c.name}  ({c.region})"
            state = self._state_text(c)
            if c.id == current_id:
                state = f"{state} · in use" if state else "in use"
            item = QTreeWidgetItem([text, state])
            item.setToolTip(0, text)
            if c.id == current_id:
                f = item.font(0)
                f.setBold(True)
                item.setFont(0, f)
            item.setData(0, CONN_ROLE, c.id)
            roots[c.kind].addChild(item)
            if c.kind == "konnect":
                item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            if selected is not None and c.id == selected.id:
                select_item = item
        self.tree.expandAll()
        self.tree.blockSignals(False)
        if select_item is None and self.tree.topLevelItem(0).childCount():
            select_item = self.tree.topLevelItem(0).child(0)
        if select_item is not None:
            self.tree.setCurrentItem(select_item)

    def _current_changed(self, _conn: Any) -> None:
        self.fill_tree()

    def _state_text(self, c: Profile) -> str:
        if c.kind == "local":
            return status_text(self.session.runtime_state(c.runtime_name))
        return ""

    def selected_connection(self) -> Profile | None:
        item = self.tree.currentItem() if hasattr(self, "tree") else None
        cid = item.data(0, CONN_ROLE) if item is not None else None
        return self.session.find(cid) if cid else None

    def selected_group(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, GROUP_ROLE) if item is not None else None

    def _expanded(self, item: QTreeWidgetItem) -> None:
        conn = self.session.find(item.data(0, CONN_ROLE)) if item.data(0, CONN_ROLE) else None
        if conn is not None and conn.kind == "konnect" and item.childCount() == 0 and not item.data(0, GROUP_ROLE):
            self.runner.run(self._load_groups(conn, item), label="Listing control planes", key="groups")

    async def _load_groups(self, conn: Profile, item: QTreeWidgetItem) -> None:
        cp = await self.session.control_plane_for(conn)
        groups = await cp.list_groups()
        for g in groups:
            child = QTreeWidgetItem([g.name, g.description or ""])
            child.setData(0, CONN_ROLE, conn.id)
            child.setData(0, GROUP_ROLE, g.name)
            item.addChild(child)

    # -- overview -------------------------------------------------------------------------------
    def _selected(self, *_: Any) -> None:
        conn = self.selected_connection()
        self.test_result.setText("")
        for b in (self.use_button, self.test_button, self.edit_button, self.remove_button, self.start_button,
                  self.replicate_button):
            b.setEnabled(conn is not None)
        if conn is None:
            self.heading.setText("Select a connection")
            self.target.setText("")
            return
        self.heading.setText(f"{KIND_LABELS[conn.kind]} · {self.selected_group() or conn.name}")
        self.start_button.setVisible(conn.kind == "local")
        self._update_start_button(conn)
        self.clear_view()  # nothing of the previous selection stays while (or if) this one is read
        self.refresh()

    def clear_view(self) -> None:
        """An overview with nothing in it: no badges, counts "—", no nodes."""
        self.target.setText("")
        self._set_badges([])
        for lab in self.count_labels.values():
            lab.setText("—")
        self.nodes.setRowCount(0)

    def _update_start_button(self, conn: Profile) -> None:
        st = self.session.runtime_state(conn.runtime_name)
        self.start_button.setText("Stop" if st == "running" else "Start")
        self.start_button.setEnabled(st in ("running", "stopped", "failed"))

    def _runtime_state(self, name: str, _state: str) -> None:
        for i in range(self.tree.topLevelItem(0).childCount() if self.tree.topLevelItemCount() else 0):
            item = self.tree.topLevelItem(0).child(i)
            conn = self.session.find(item.data(0, CONN_ROLE))
            if conn is not None and conn.runtime_name == name:
                item.setText(1, self._state_text(conn))
        conn = self.selected_connection()
        if conn is not None and conn.kind == "local" and conn.runtime_name == name:
            self._update_start_button(conn)
            if _state in ("running", "stopped"):
                self.refresh()

    def refresh(self) -> None:
        conn = self.selected_connection()
        if conn is not None:
            self.runner.run(self._overview(conn), label=f"Reading {conn.name}", key="overview",
                            on_error=self._read_failed)

    def _read_failed(self, info: ErrorInfo) -> None:
        # the failed connection's overview is empty, never the previous one's badges and counts
        self.clear_view()
        self._set_badges([("unreachable", "warn")])
        self.show_error(info)

    def on_shown(self) -> None:
        # counts change on other pages (and in other processes): read again each time it is shown
        self._stale = False
        self.refresh()

    def _set_badges(self, texts: list[tuple[str, str]]) -> None:
        while self.badges.count():
            w = self.badges.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for text, tone in texts:
            self.badges.addWidget(badge(text, tone))
        self.badges.addStretch(1)

    async def _overview(self, conn: Profile) -> None:
        self.error_panel.clear()
        cp = await self.session.control_plane_for(conn)
        self.target.setText(cp.target)
        info = await cp.info()
        caps = await cp.probe() if not cp.capabilities.probed else cp.capabilities
        badges: list[tuple[str, str]] = [(KIND_LABELS[conn.kind], "info")]
        if caps.version:
            badges.append((f"version {caps.version}", "info"))
        badges.append(("read-only: DB-less", "warn") if caps.dbless else
                      ("read-only" if not caps.writable else "writable", "warn" if not caps.writable else "info"))
        if not caps.consumer_groups:
            badges.append(("no consumer groups", "warn"))
        if caps.plugins:
            badges.append((f"{len(caps.plugins)} plugins available", "info"))
        self._set_badges(badges)
        counts = dict(info["counts"]) if isinstance(info.get("counts"), dict) else {}
        for t in COUNT_TABLES:
            if t in counts or (t == "consumer_groups" and not caps.consumer_groups):
                continue
            # not in the node's info (a Kong Admin API): count the list, when the endpoint answers
            try:
                n = 0
                async for _ in cp.list(t):
                    n += 1
                counts[t] = n
            except Exception:  # an endpoint this gateway does not have: "—"
                continue
        for t, lab in self.count_labels.items():
            lab.setText(str(counts[t]) if t in counts else "—")
        nodes = await cp.nodes()
        self.nodes.setRowCount(len(nodes))
        for r, node in enumerate(nodes):
            last = relative_time(node.last_seen) + (" ago" if node.last_seen and time.time() - node.last_seen > 45 else "") if node.last_seen else "never"
            for c, text in enumerate((node.hostname or "?", node.version or "?", last)):
                self.nodes.setItem(r, c, QTableWidgetItem(text))
            status = QLabel()
            set_status(status, node.status)
            self.nodes.setCellWidget(r, 3, status)
        if conn.kind == "local":
            rt = self.session.runtime(conn.runtime_name)
            if rt is not None and self.session.runtime_state(conn.runtime_name) == "running":
                self.target.setText(f"{cp.target} · proxy {rt.proxy_url} · admin {rt.admin_url}")

    # -- actions --------------------------------------------------------------------------------
    def use_selected(self) -> None:
        conn = self.selected_connection()
        if conn is None:
            return
        group = self.selected_group()
        if conn.kind == "konnect" and group and group != conn.control_plane:
            conn.control_plane = group
            self.session.update_connection(conn)
        self.session.runner.run(self.session.switch(conn), label=f"Connecting to {conn.label}", key="switch")

    def test_selected(self) -> None:
        conn = self.selected_connection()
        if conn is None:
            return
        self.test_result.setText("Testing…")
        self.runner.run(self._test(conn), label="Testing connection", key="test",
                        on_done=self._tested, on_error=self._test_failed)

    async def _test(self, conn: Profile) -> Any:
        cp = await self.session.control_plane_for(conn)
        return await cp.test_connection()

    def _tested(self, report: Any) -> None:
        ok = bool(getattr(report, "ok", False))
        self.test_result.setText(("✓ " if ok else "✕ ") + str(report))
        set_status(self.test_result, "ok" if ok else "error", self.test_result.text())

    def _test_failed(self, info: ErrorInfo) -> None:
        self.test_result.setText(f"✕ {info.message}")
        set_status(self.test_result, "error", self.test_result.text())

    def start_stop_selected(self) -> None:
        conn = self.selected_connection()
        if conn is None or conn.kind != "local":
            return
        name = conn.runtime_name
        if self.session.runtime_state(name) == "running":
            self.runner.run(self.session.stop_runtime(name), label=f"Stopping {name}", key="rt")
        else:
            self.runner.run(self.session.start_runtime(name), label=f"Starting {name}", key="rt")

    def replicate_selected(self) -> None:
        """Open Replication with the selected connection (and Konnect control plane) as source."""
        conn = self.selected_connection()
        if conn is None:
            return
        group = self.selected_group() or (conn.control_plane if conn.kind == "konnect" else None)

        def preselect(page: Any) -> None:
            page.replicate_from(conn.id, group)

        self.session.sig_open_page.emit("replication", preselect)

    def add_connection(self) -> None:
        dlg = ConnectionDialog(self.session, parent=self)
        dlg.open()

    def edit_selected(self) -> None:
        conn = self.selected_connection()
        if conn is not None:
            ConnectionDialog(self.session, conn, parent=self).open()

    def new(self) -> None:
        self.add_connection()

    def new_local_group(self) -> None:
        dlg = QInputDialog(self)
        title = "New local runtime group"
        dlg.setWindowTitle(title)
        dlg.setLabelText("Name (letters, digits, . - _):")
        dlg.textValueSelected.connect(self._create_local_group)
        self.group_dialog = dlg
        dlg.open()
        # wide enough for its title (window managers clip a title to the dialog's width); set
        # once shown, as QInputDialog sizes itself to its contents when it opens
        width = dlg.fontMetrics().horizontalAdvance(title) + 160
        dlg.setMinimumWidth(width)
        dlg.resize(max(width, dlg.width()), dlg.height())

    def _create_local_group(self, name: str) -> None:
        if not name.strip():
            return
        try:
            self.session.create_local_group(name.strip())
        except ValueError as exc:
            self.show_error(ErrorInfo("Cannot create the runtime group", str(exc)))

    def remove_selected(self) -> None:
        conn = self.selected_connection()
        if conn is None:
            return
        extra = " Its saved token is removed from the keyring." if conn.has_token else ""
        if conn.kind == "local":
            extra = " The runtime is stopped; its configuration file stays on disk."
        extra += " The command line can no longer use it by name."
        box = QMessageBox(QMessageBox.Icon.Warning, "Remove connection", f"Remove “{conn.label}”?{extra}",
                          QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Yes, self)

        def answered(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes.value:
                self.runner.run(self.session.remove_connection(conn), label="Removing", key="remove")

        box.finished.connect(answered)
        box.open()
