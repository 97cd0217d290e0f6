"""The source and target pickers: a saved connection and its runtime group, or a decK file."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...controlplanes.replication import CONNECTION, FILE, SOURCE, Endpoint, list_groups
from ...settings import Profile
from ..session import Session
from ..tasks import TaskRunner
from ..theme import set_status

FILE_FILTER = "decK files (*.yaml *.yml *.json);;YAML (*.yaml *.yml);;JSON (*.json);;All files (*)"


class EndpointPicker(QGroupBox):
    """One side of a replication. ``endpoint()`` says what is chosen; ``sig_changed`` fires on
    every change so the page can mark its plan out of date."""

    sig_changed = Signal()

    def __init__(self, session: Session, role: str, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("Source" if role == SOURCE else "Target", parent)
        self.session = session
        self.role = role
        self.runner = runner
        self.setAccessibleName(self.title())
        self._filling = False
        self._groups: dict[str, list[str]] = {}  # connection id -> runtime groups listed

        v = QVBoxLayout(self)
        v.setSpacing(6)
        kinds = QHBoxLayout()
        self.use_connection = QRadioButton("Connection")
        self.use_file = QRadioButton("decK file")
        self.use_connection.setAccessibleName(f"{self.title()}: a connection")
        self.use_file.setAccessibleName(f"{self.title()}: a decK file")
        self.use_file.setToolTip("Read this file" if role == SOURCE else "Write the source into this file (dump)")
        self._kind_group = QButtonGroup(self)
        self._kind_group.addButton(self.use_connection)
        self._kind_group.addButton(self.use_file)
        self.use_connection.setChecked(True)
        kinds.addWidget(self.use_connection)
        kinds.addWidget(self.use_file)
        kinds.addStretch(1)
        v.addLayout(kinds)

        self.stack = QStackedWidget()
        # connection + runtime group
        conn_page = QWidget()
        ch = QHBoxLayout(conn_page)
        ch.setContentsMargins(0, 0, 0, 0)
        self.connection = QComboBox()
        self.connection.setAccessibleName(f"{self.title()} connection")
        self.connection.setMinimumWidth(180)
        self.group = QComboBox()
        self.group.setAccessibleName(f"{self.title()} runtime group")
        self.group.setMinimumWidth(120)
        self.group.setToolTip("Runtime group (a Konnect control plane, or the connection's own group)")
        ch.addWidget(self.connection, 2)
        ch.addWidget(QLabel("group"))
        ch.addWidget(self.group, 1)
        self.stack.addWidget(conn_page)
        # file
        file_page = QWidget()
        fh = QHBoxLayout(file_page)
        fh.setContentsMargins(0, 0, 0, 0)
        self.path = QLineEdit()
        self.path.setAccessibleName(f"{self.title()} file")
        self.path.setPlaceholderText("kong.yaml" if role == SOURCE else "where to write, e.g. kong.yaml or kong.json")
        self.browse = QPushButton("Open…" if role == SOURCE else "Save as…")
        self.browse.setAccessibleName(f"Choose the {role} file")
        self.browse.clicked.connect(self.choose_file)
        fh.addWidget(self.path, 1)
        fh.addWidget(self.browse)
        self.stack.addWidget(file_page)
        v.addWidget(self.stack)

        self.state = QLabel()  # tone comes from set_status (an object name would override it)
        self.state.setAccessibleName(f"{self.title()} state")
        v.addWidget(self.state)

        self.use_connection.toggled.connect(self._kind_toggled)
        self.connection.currentIndexChanged.connect(self._connection_picked)
        self.group.currentIndexChanged.connect(self._changed)
        self.path.textChanged.connect(self._changed)
        session.sig_connections_changed.connect(self.fill_connections)
        session.sig_runtime_state.connect(self._runtime_state)
        self.dialog: QFileDialog | None = None
        self.fill_connections()

    # -- what is chosen ------------------------------------------------------------------------
    def endpoint(self) -> Endpoint:
        if self.use_file.isChecked():
            return Endpoint(FILE, path=self.path.text().strip() or None)
        conn_id = self.connection.currentData()
        group = self.group.currentText() or None
        conn = self.session.find(conn_id) if conn_id else None
        if conn is not None and conn.kind != "konnect":
            group = None
        return Endpoint(CONNECTION, conn_id=conn_id, group=group)

    def set_endpoint(self, ep: Endpoint) -> None:
        """Show ``ep`` (swap, or a page that opens replication for a given group)."""
        self._filling = True
        try:
            if ep.kind == FILE:
                self.use_file.setChecked(True)
                self.path.setText(ep.path or "")
            else:
                self.use_connection.setChecked(True)
                i = self.connection.findData(ep.conn_id)
                if i >= 0:
                    self.connection.setCurrentIndex(i)
                self._fill_groups(ep.group)
        finally:
            self._filling = False
        self._changed()

    def select_connection(self, conn_id: str, group: str | None = None) -> None:
        self.set_endpoint(Endpoint(CONNECTION, conn_id=conn_id, group=group))

    def select_file(self, path: str) -> None:
        self.set_endpoint(Endpoint(FILE, path=path))

    # -- filling -------------------------------------------------------------------------------
    def fill_connections(self) -> None:
        current = self.connection.currentData()
        self._filling = True
        try:
            self.connection.clear()
            for c in self.session.connections:
                self.connection.addItem(self._conn_label(c), c.id)
            i = self.connection.findData(current)
            if i >= 0:
                self.connection.setCurrentIndex(i)
            self._fill_groups(self.group.currentText() or None)
        finally:
            self._filling = False
        self._show_state()

    def _conn_label(self, c: Profile) -> str:
        if c.kind == "local" and self.session.runtime_state(c.name) == "running":
            return f"{c.label} (running)"
        return c.label

    def _connection_picked(self, _i: int) -> None:
        if self._filling:
            return
        self._fill_groups(None)
        self._changed()

    def _fill_groups(self, wanted: str | None) -> None:
        conn = self.session.find(self.connection.currentData() or "")
        was = self._filling
        self._filling = True
        try:
            self.group.clear()
            if conn is None:
                return
            if conn.kind != "konnect":
                self.group.addItem(conn.runtime_name)
                self.group.setEnabled(False)
                return
            self.group.setEnabled(True)
            self.group.setEditable(True)  # a control plane can be typed before the list arrives
            names = list(self._groups.get(conn.id) or [conn.control_plane or conn.name])
            if wanted and wanted not in names:
                names.insert(0, wanted)
            self.group.addItems(names)
            self.group.setCurrentText(wanted or conn.control_plane or names[0])
            if conn.id not in self._groups:
                self.runner.run(self._load_groups(conn), label="Listing control planes", key=f"groups-{self.role}")
        finally:
            self._filling = was

    async def _load_groups(self, conn: Profile) -> None:
        names = await list_groups(self.session, conn)
        self._groups[conn.id] = names
        if self.connection.currentData() == conn.id:
            self._fill_groups(self.group.currentText() or None)

    # -- reacting ------------------------------------------------------------------------------
    def _kind_toggled(self, _on: bool) -> None:
        self.stack.setCurrentIndex(0 if self.use_connection.isChecked() else 1)
        self._changed()

    def _changed(self, *_: Any) -> None:
        if self._filling:
            return
        self._show_state()
        self.sig_changed.emit()

    def _runtime_state(self, _name: str, _state: str) -> None:
        self._show_state()

    def _show_state(self) -> None:
        ep = self.endpoint()
        if ep.kind == FILE:
            if not ep.path:
                set_status(self.state, "unknown", "No file chosen.")
            elif self.role == SOURCE:
                set_status(self.state, "unknown", "Entities are read from this decK file.")
            else:
                set_status(self.state, "unknown", "Apply writes the source into this file (YAML or JSON by extension).")
            return
        conn = self.session.find(ep.conn_id or "")
        if conn is None:
            set_status(self.state, "unknown", "No connection: add one in the Runtime Manager.")
            return
        if conn.kind == "local":
            st = self.session.runtime_state(conn.name)
            dot = "●" if st == "running" else "○"
            set_status(self.state, st, f"{dot} local runtime group “{conn.name}” {st}")
        elif conn.kind == "konnect":
            set_status(self.state, "unknown", f"Konnect {conn.region or ''}, control plane “{ep.group or conn.control_plane or ''}”")
        else:
            set_status(self.state, "unknown", f"Kong Gateway Admin API {conn.url or ''}")
        self.connection.setItemText(self.connection.currentIndex(), self._conn_label(conn))

    def choose_file(self) -> None:
        """A non-blocking file dialog (the window stays responsive; tests never see a modal)."""
        dlg = QFileDialog(self, "Open a decK file" if self.role == SOURCE else "Write the source to")
        dlg.setNameFilter(FILE_FILTER)
        if self.role == SOURCE:
            dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
            dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        else:
            dlg.setFileMode(QFileDialog.FileMode.AnyFile)
            dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dlg.setDefaultSuffix("yaml")
        dlg.fileSelected.connect(self.select_file)
        self.dialog = dlg
        dlg.open()
