"""Consumers: who calls the APIs, their keys and ACL groups, consumer groups and their plugins.

Two tabs. *Consumers*: the list, and for the selected one its form, key-auth credentials
(generate, copy, shown masked), ACL groups and consumer-group memberships. *Consumer groups*: the
groups, their members and the plugins scoped to them (a Gold tier's rate limit).
"Register application…" does what a developer portal does in one go: a consumer, its key and its
group memberships (and an ACL group) for a service.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...credentials import mask
from ..entity_editor import EntityEditor
from ..forms import FormContext
from ..models import Column, EntityFilterProxy, EntityTableModel, load_entities
from ..plugin_panel import PluginPanel
from ..session import Session
from ..tasks import TaskRunner
from .base import Page


def masked_key(key: str | None) -> str:
    return mask(key) if key else ""


class CredentialsBox(QWidget):
    """A consumer's key-auth keys: shown masked, copy, reveal, generate, delete."""

    def __init__(self, page: ConsumersPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = page
        self.consumer: dict[str, Any] | None = None
        self.keys: list[dict[str, Any]] = []
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.key_input = QLineEdit()
        self.key_input.setPlaceholderText("type an existing key, or leave empty to generate one")
        self.key_input.setAccessibleName("Key to add")
        self.key_input.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.key_input.returnPressed.connect(self.generate)
        self.generate_button = QPushButton("Generate key")
        self.generate_button.clicked.connect(self.generate)
        # typed keys: users move existing keys over from another gateway
        self.key_input.textChanged.connect(
            lambda t: self.generate_button.setText("Add key" if t.strip() else "Generate key"))
        row.addWidget(QLabel("key-auth credentials"))
        row.addWidget(self.key_input, 1)
        row.addWidget(self.generate_button)
        v.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["key", "", "", ""])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAccessibleName("API keys")
        self.table.setMaximumHeight(150)
        v.addWidget(self.table)

    def set_consumer(self, consumer: dict[str, Any] | None, keys: list[dict[str, Any]]) -> None:
        self.consumer = consumer
        self.keys = keys
        self.generate_button.setEnabled(consumer is not None)
        self.table.setRowCount(len(keys))
        for r, k in enumerate(keys):
            item = QTableWidgetItem(masked_key(k.get("key")))
            item.setData(Qt.ItemDataRole.UserRole, k["id"])
            self.table.setItem(r, 0, item)
            for c, (text, slot) in enumerate((("Copy", self._copy), ("Show", self._reveal), ("Delete", self._delete)), 1):
                b = QPushButton(text)
                b.setAccessibleName(f"{text} key {r + 1}")
                b.clicked.connect(lambda _c=False, key=k, s=slot: s(key))
                self.table.setCellWidget(r, c, b)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _copy(self, key: dict[str, Any]) -> None:
        QGuiApplication.clipboard().setText(key.get("key") or "")
        self.page.flash("Key copied to the clipboard.")

    def _reveal(self, key: dict[str, Any]) -> None:
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == key["id"]:
                shown = item.text() == key.get("key")
                item.setText(masked_key(key.get("key")) if shown else key.get("key") or "")
                btn = self.table.cellWidget(r, 2)
                if isinstance(btn, QPushButton):
                    btn.setText("Show" if shown else "Hide")

    def _delete(self, key: dict[str, Any]) -> None:
        self.page.runner.run(self.page.session.delete("keyauth_credentials", key["id"]), label="Deleting key",
                             on_done=lambda _r: self.page.reload_consumer())

    def generate(self) -> None:
        """Add the typed key, or one Kong generates when none is typed."""
        if self.consumer is None:
            return
        data: dict[str, Any] = {"consumer": {"id": self.consumer["id"]}}
        typed = self.key_input.text().strip()
        if typed:
            data["key"] = typed

        def added(_k: Any) -> None:
            self.key_input.clear()
            self.page.reload_consumer()

        self.page.runner.run(self.page.session.create("keyauth_credentials", data),
                             label="Adding key" if typed else "Generating key", on_done=added)


class GroupsBox(QWidget):
    """ACL groups (free text) and consumer-group memberships (check boxes) of one consumer."""

    def __init__(self, page: ConsumersPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = page
        self.consumer: dict[str, Any] | None = None
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("ACL groups"))
        self.acls = QListWidget()
        self.acls.setMaximumHeight(90)
        self.acls.setAccessibleName("ACL groups")
        v.addWidget(self.acls)
        row = QHBoxLayout()
        self.acl_name = QLineEdit()
        self.acl_name.setPlaceholderText("group name")
        self.acl_name.setAccessibleName("New ACL group")
        add = QPushButton("Add")
        add.setAccessibleName("Add ACL group")
        add.clicked.connect(self.add_acl)
        rm = QPushButton("Remove")
        rm.setAccessibleName("Remove ACL group")
        rm.clicked.connect(self.remove_acl)
        row.addWidget(self.acl_name, 1)
        row.addWidget(add)
        row.addWidget(rm)
        v.addLayout(row)
        v.addWidget(QLabel("Consumer groups"))
        self.groups = QListWidget()
        self.groups.setAccessibleName("Consumer group memberships")
        self.groups.itemChanged.connect(self._membership_changed)
        v.addWidget(self.groups, 1)

    def set_consumer(self, consumer: dict[str, Any] | None, acls: list[dict[str, Any]],
                     groups: list[dict[str, Any]], member_of: set[str]) -> None:
        self.consumer = consumer
        self.acls.clear()
        for a in acls:
            it = QListWidgetItem(a.get("group") or "")
            it.setData(Qt.ItemDataRole.UserRole, a["id"])
            self.acls.addItem(it)
        self.groups.blockSignals(True)
        self.groups.clear()
        for g in groups:
            it = QListWidgetItem(g.get("name") or g["id"])
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if g["id"] in member_of else Qt.CheckState.Unchecked)
            it.setData(Qt.ItemDataRole.UserRole, g["id"])
            self.groups.addItem(it)
        self.groups.blockSignals(False)

    def add_acl(self) -> None:
        name = self.acl_name.text().strip()
        if self.consumer is None or not name:
            return
        self.acl_name.clear()
        self.page.runner.run(self.page.session.create("acls", {"consumer": {"id": self.consumer["id"]}, "group": name}),
                             label="Adding ACL group", on_done=lambda _r: self.page.reload_consumer())

    def remove_acl(self) -> None:
        it = self.acls.currentItem()
        if it is None:
            return
        self.page.runner.run(self.page.session.delete("acls", it.data(Qt.ItemDataRole.UserRole)),
                             label="Removing ACL group", on_done=lambda _r: self.page.reload_consumer())

    def _membership_changed(self, item: QListWidgetItem) -> None:
        if self.consumer is None:
            return
        gid = item.data(Qt.ItemDataRole.UserRole)
        cp = self.page.session.cp
        if cp is None:
            return
        if item.checkState() == Qt.CheckState.Checked:
            coro = cp.add_consumer_to_group(gid, self.consumer["id"])
        else:
            coro = cp.remove_consumer_from_group(gid, self.consumer["id"])
        self.page.runner.run(coro, label="Updating membership", on_done=lambda _r: self.page.memberships_changed())


class RegisterApplicationDialog(QDialog):
    """A consumer, its API key, its consumer groups and an ACL group, for a service, in one go."""

    def __init__(self, session: Session, services: list[tuple[str, str]], groups: list[tuple[str, str]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = TaskRunner(self)
        self.setWindowTitle("Register application")
        self.setMinimumWidth(460)
        self.result: dict[str, Any] | None = None
        v = QVBoxLayout(self)
        intro = QLabel("Creates a consumer for the application, an API key for it, and its group "
                       "memberships — what a developer portal does when an app subscribes to an API.")
        intro.setWordWrap(True)
        v.addWidget(intro)
        form = QFormLayout()
        self.app_name = QLineEdit()
        self.app_name.setAccessibleName("Application name")
        self.app_name.setPlaceholderText("mobile-app")
        self.service = QComboBox()
        self.service.setAccessibleName("Service")
        self.service.addItem("(any service)", None)
        for label, ident in services:
            self.service.addItem(label, ident)
        self.acl = QLineEdit()
        self.acl.setPlaceholderText("optional, e.g. demo-users")
        self.acl.setAccessibleName("ACL group")
        self.groups = QListWidget()
        self.groups.setMaximumHeight(100)
        self.groups.setAccessibleName("Consumer groups")
        for label, ident in groups:
            it = QListWidgetItem(label)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
            it.setData(Qt.ItemDataRole.UserRole, ident)
            self.groups.addItem(it)
        self.protect = QCheckBox("Protect the service with key-auth (added when it has none)")
        self.protect.setAccessibleName("Protect the service with key-auth")
        self.protect.setChecked(True)
        self.service.currentIndexChanged.connect(lambda _i: self.protect.setEnabled(self.service.currentData() is not None))
        self.protect.setEnabled(False)
        form.addRow("Application", self.app_name)
        form.addRow("For service", self.service)
        form.addRow("", self.protect)
        form.addRow("Consumer groups", self.groups)
        form.addRow("ACL group", self.acl)
        v.addLayout(form)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.message)
        self.request = QLineEdit()  # the ready-to-paste request, key masked until copied
        self.request.setReadOnly(True)
        self.request.setAccessibleName("Request to try the key")
        self.copy_request = QPushButton("Copy request")
        self.copy_request.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.full_request))
        self.full_request = ""
        req_row = QHBoxLayout()
        req_row.addWidget(self.request, 1)
        req_row.addWidget(self.copy_request)
        self.request.hide()
        self.copy_request.hide()
        v.addLayout(req_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.register_button = self.buttons.addButton("Register", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.register)
        self.buttons.rejected.connect(self.reject)
        v.addWidget(self.buttons)
        self.register_button.setDefault(True)  # Enter registers; set once it is inside the dialog

    def chosen_groups(self) -> list[str]:
        return [self.groups.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.groups.count())
                if self.groups.item(i).checkState() == Qt.CheckState.Checked]

    def register(self) -> None:
        name = self.app_name.text().strip()
        if not name:
            self.message.setText("⚠ Give the application a name.")
            return
        self.register_button.setEnabled(False)
        self.message.setText("Registering…")
        self.runner.run(register_application(self.session, name, self.service.currentData(), self.chosen_groups(),
                                             self.acl.text().strip() or None,
                                             protect=self.protect.isChecked() and self.protect.isEnabled()),
                        label="Registering", on_done=self._done, on_error=self._failed)

    def _done(self, result: dict[str, Any]) -> None:
        self.result = result
        key = result["key"]["key"]
        protected = " key-auth now protects the service." if result.get("plugin") else ""
        self.message.setText(f"✓ Registered “{result['consumer']['username']}”.{protected} API key: {mask(key)} "
                             "(copied to the clipboard; send it in the apikey header). Try it:")
        QGuiApplication.clipboard().setText(key)
        self.full_request = result["request"]
        self.request.setText(result["request"].replace(key, mask(key)))
        self.request.show()
        self.copy_request.show()
        self.buttons.clear()
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.accept)

    def _failed(self, info: Any) -> None:
        self.register_button.setEnabled(True)
        lines = "; ".join(info.lines())
        self.message.setText(f"⚠ {info.message}" + (f" ({lines})" if lines and lines not in info.message else ""))


async def register_application(session: Session, name: str, service_id: str | None, group_ids: list[str],
                               acl_group: str | None, *, protect: bool = False) -> dict[str, Any]:
    """Consumer + key + memberships (+ ACL group); with ``protect``, key-auth on the service when
    no key-auth plugin applies to it yet, so the key is what lets requests through. On failure,
    what was made here is removed again (the consumer's key and memberships go with it), so
    nothing half-done is left behind. ``request`` in the result is a ready-to-paste curl line."""
    tags = ["app"] + ([f"service-{service_id[:8]}"] if service_id else [])
    plugin = None
    if protect and service_id:
        plugins = await session.require_cp().list_all("plugins")
        if not any(p.get("name") == "key-auth" and (p.get("service") or {}).get("id") == service_id
                   and not p.get("route") and not p.get("consumer") for p in plugins):
            plugin = await session.create("plugins", {"name": "key-auth", "service": {"id": service_id}, "tags": tags})
    try:
        consumer = await session.create("consumers", {"username": name, "tags": tags})
    except BaseException:
        if plugin is not None:
            await session.delete("plugins", plugin["id"])
        raise
    try:
        key = await session.create("keyauth_credentials", {"consumer": {"id": consumer["id"]}, "tags": tags})
        cp = session.cp
        assert cp is not None
        for gid in group_ids:
            await cp.add_consumer_to_group(gid, consumer["id"])
        acl = None
        if acl_group:
            acl = await session.create("acls", {"consumer": {"id": consumer["id"]}, "group": acl_group})
        request = await _request_line(session, service_id, key["key"], plugin)
    except BaseException:
        await session.delete("consumers", consumer["id"])
        if plugin is not None:
            await session.delete("plugins", plugin["id"])
        raise
    session.sig_data_changed.emit("consumer_group_consumers")
    return {"consumer": consumer, "key": key, "groups": group_ids, "acl": acl, "plugin": plugin, "request": request}


async def _request_line(session: Session, service_id: str | None, key: str, plugin: dict[str, Any] | None) -> str:
    """``curl -H 'apikey: KEY' http://proxy/path``: the service's first route path on the local
    runtime's proxy (a placeholder for the proxy of a remote gateway)."""
    path = "/"
    if service_id:
        routes = await session.require_cp().list_all("routes")
        paths = [p for r in routes if (r.get("service") or {}).get("id") == service_id for p in (r.get("paths") or [])]
        path = next((p for p in paths if not p.startswith("~")), path)
    conn = session.current
    rt = session.runtime(conn.runtime_name) if conn is not None and conn.kind == "local" else None
    base = str(getattr(rt, "proxy_url", "")) or "http://PROXY"
    header = ((plugin or {}).get("config") or {}).get("key_names") or ["apikey"]
    return f"curl -H '{header[0]}: {key}' {base.rstrip('/')}{path}"


class ConsumersPage(Page):
    title = "Consumers"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.memberships: list[dict[str, Any]] = []
        self.groups_list: list[dict[str, Any]] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search consumers…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search consumers")
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance(self.search.placeholderText()) + 40)
        self.register_button = QPushButton("Register application…")
        self.register_button.clicked.connect(self.register_application)
        self.new_button = QPushButton("+ New consumer")
        self.new_button.clicked.connect(self.new)
        self.header.addWidget(self.search)
        self.header.addWidget(self.register_button)
        self.header.addWidget(self.new_button)
        self.flash_label = QLabel()
        self.flash_label.setObjectName("Muted")
        self.header.insertWidget(1, self.flash_label)

        self.tabs = QTabWidget()
        self.body.addWidget(self.tabs, 1)

        # -- consumers tab --------------------------------------------------------------------
        self.model = EntityTableModel([
            Column("username", "username"),
            Column("custom_id", "custom id"),
            Column("groups", "consumer groups", text=self._groups_text),
            Column("tags", "tags"),
        ], search_keys=("username", "custom_id", "tags", "id"))
        self.proxy = EntityFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search.textChanged.connect(self.proxy.set_search)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.setAccessibleName("Consumers")
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        detail = QTabWidget()
        self.editor = EntityEditor("consumers", context=FormContext(session.choices),
                                   save=self._save, delete=self._delete)
        self.editor.sig_saved.connect(self._saved)
        self.editor.sig_deleted.connect(self._deleted)
        self.credentials = CredentialsBox(self)
        self.groups_box = GroupsBox(self)
        access = QWidget()
        av = QVBoxLayout(access)
        av.addWidget(self.credentials, 1)
        av.addWidget(self.groups_box, 2)
        detail.addTab(self.editor, "Consumer")
        detail.addTab(access, "Keys and groups")
        self.detail = detail
        split.addWidget(detail)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([480, 660])
        self.tabs.addTab(split, "Consumers")

        # -- consumer groups tab --------------------------------------------------------------
        self.group_model = EntityTableModel([
            Column("name", "name"),
            Column("members", "members", text=lambda g: str(self._member_count(g["id"])), align_right=True),
            Column("tags", "tags"),
        ])
        self.group_table = QTableView()
        self.group_table.setModel(self.group_model)
        self.group_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.group_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.group_table.verticalHeader().hide()
        self.group_table.horizontalHeader().setStretchLastSection(True)
        self.group_table.setAccessibleName("Consumer groups")
        self.group_table.selectionModel().currentRowChanged.connect(self._group_selected)
        gsplit = QSplitter(Qt.Orientation.Horizontal)
        gleft = QWidget()
        gl = QVBoxLayout(gleft)
        gl.setContentsMargins(0, 0, 0, 0)
        grow = QHBoxLayout()
        self.group_name = QLineEdit()
        self.group_name.setPlaceholderText("new group name, e.g. gold")
        self.group_name.setAccessibleName("New consumer group name")
        self.group_name.returnPressed.connect(self.create_group)  # Enter confirms, as the button
        add_group = QPushButton("+ Create group")
        add_group.clicked.connect(self.create_group)
        grow.addWidget(self.group_name, 1)
        grow.addWidget(add_group)
        gl.addLayout(grow)
        gl.addWidget(self.group_table, 1)
        self.members_label = QLabel()
        self.members_label.setWordWrap(True)
        self.members_label.setObjectName("Muted")
        gl.addWidget(self.members_label)
        gsplit.addWidget(gleft)
        self.group_plugins = PluginPanel(session, self.runner)
        self.group_plugins.sig_changed.connect(self._reload_group_plugins)
        gsplit.addWidget(self.group_plugins)
        gsplit.setStretchFactor(0, 1)
        gsplit.setStretchFactor(1, 3)
        gsplit.setSizes([260, 900])
        self.groups_tab = gsplit
        self.tabs.addTab(gsplit, "Consumer groups")
        self.group_plugins.set_filter(lambda _p: False)
        session.sig_data_changed.connect(self._data_changed)

    # -- loading ----------------------------------------------------------------------------------
    def clear_view(self) -> None:
        self.model.set_rows([])
        self.memberships, self.groups_list = [], []
        self.group_model.set_rows([])
        self.editor.load(None)
        self.credentials.set_consumer(None, [])
        self.groups_box.set_consumer(None, [], [], set())
        self.members_label.setText("")
        self.group_plugins.set_filter(lambda _p: False)
        self.group_plugins.clear()

    def refresh(self) -> None:
        self.runner.run(self.load(), label="Loading consumers", key="load")

    async def load(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        await load_entities(self.model, cp.list("consumers"))
        self.session.cache["consumers"] = self.model.entities()
        await self._load_groups()
        self.table.resizeColumnsToContents()
        if self.model.rowCount() and not self.table.currentIndex().isValid():
            self.table.selectRow(0)

    async def _load_groups(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        if cp.capabilities.consumer_groups:
            self.groups_list = await cp.list_all("consumer_groups")
            self.memberships = [m async for m in cp.memberships()]
        else:
            self.groups_list, self.memberships = [], []
        self.session.cache["consumer_groups"] = self.groups_list
        self.group_model.set_rows(self.groups_list)
        self.model.refresh_column("groups")
        self.tabs.setTabEnabled(1, bool(cp.capabilities.consumer_groups))

    def _data_changed(self, table: str) -> None:
        if table in ("consumers", "consumer_groups", "keyauth_credentials", "acls") and not self.isVisible():
            self.mark_stale()

    def _groups_of(self, consumer_id: str) -> set[str]:
        return {m["consumer_group"]["id"] for m in self.memberships if (m.get("consumer") or {}).get("id") == consumer_id}

    def _groups_text(self, c: dict[str, Any]) -> str:
        names = {g["id"]: g.get("name") for g in self.groups_list}
        return ", ".join(sorted(names.get(g) or g[:8] for g in self._groups_of(c["id"])))

    def _member_count(self, group_id: str) -> int:
        return sum(1 for m in self.memberships if (m.get("consumer_group") or {}).get("id") == group_id)

    # -- consumer selection -----------------------------------------------------------------------
    def current_consumer(self) -> dict[str, Any] | None:
        return self.editor.entity

    def _selected(self, current: Any, _prev: Any) -> None:
        if current.isValid():
            consumer = self.proxy.entity(current.row())
            self.editor.load(consumer)
            self.reload_consumer()

    def reload_consumer(self) -> None:
        consumer = self.editor.entity
        if consumer is None:
            self.credentials.set_consumer(None, [])
            self.groups_box.set_consumer(None, [], self.groups_list, set())
            return
        self.runner.run(self._load_consumer(consumer), label="Loading keys", key="consumer")

    async def _load_consumer(self, consumer: dict[str, Any]) -> None:
        cp = self.session.cp
        if cp is None:
            return
        parent = ("consumers", consumer["id"])
        keys = await cp.list_all("keyauth_credentials", parent=parent)
        acls = await cp.list_all("acls", parent=parent)
        if self.editor.entity is not consumer:
            return  # the user moved on
        self.credentials.set_consumer(consumer, keys)
        self.groups_box.set_consumer(consumer, acls, self.groups_list, self._groups_of(consumer["id"]))

    def memberships_changed(self) -> None:
        self.runner.run(self._load_groups(), label="Loading groups", key="groups")

    def flash(self, text: str) -> None:
        self.flash_label.setText(text)

    # -- consumer edits ----------------------------------------------------------------------------
    def new(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.table.clearSelection()
        self.editor.load(None)
        self.detail.setCurrentIndex(0)
        self.credentials.set_consumer(None, [])
        ed = self.editor.form.editors.get("username")
        if ed is not None:
            ed.setFocus()

    def find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    async def _save(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        return await self.session.save("consumers", data, existing)

    async def _delete(self, entity: dict[str, Any]) -> None:
        await self.session.delete("consumers", entity["id"])

    def _saved(self, consumer: dict[str, Any]) -> None:
        r = self.model.upsert(consumer)
        idx = self.proxy.mapFromSource(self.model.index(r, 0))
        self.table.selectionModel().blockSignals(True)
        self.table.setCurrentIndex(idx)
        self.table.selectionModel().blockSignals(False)
        self.reload_consumer()

    def _deleted(self, consumer: dict[str, Any]) -> None:
        self.model.remove_id(consumer["id"])
        self.editor.load(None)
        self.reload_consumer()

    # -- groups -----------------------------------------------------------------------------------
    def create_group(self) -> None:
        name = self.group_name.text().strip()
        if not name:
            return
        self.group_name.clear()
        self.runner.run(self.session.create("consumer_groups", {"name": name}), label="Creating group",
                        on_done=lambda _g: self.memberships_changed())

    def _group_selected(self, current: Any, _prev: Any) -> None:
        if not current.isValid():
            return
        g = self.group_model.entity(current.row())
        members = [c.get("username") or c.get("custom_id") or c["id"][:8] for c in self.model.entities()
                   if g["id"] in self._groups_of(c["id"])]
        self.members_label.setText(f"Members of {g.get('name')}: " + (", ".join(sorted(members)) or "none yet"))
        gid = g["id"]
        self.group_plugins.set_filter(lambda p: (p.get("consumer_group") or {}).get("id") == gid,
                                      default_scope=("consumer_group", gid))
        self.group_plugins.fill_add_combo()
        self._reload_group_plugins()

    def _reload_group_plugins(self) -> None:
        async def load() -> None:
            cp = self.session.cp
            if cp is not None:
                self.group_plugins.set_plugins(await cp.list_all("plugins"))

        self.runner.run(load(), label="Loading group plugins", key="group-plugins")

    def register_application(self) -> None:
        self.runner.run(self._open_register(), label="Preparing", key="register")

    async def _open_register(self) -> None:
        await self.session.ensure("services")
        dlg = RegisterApplicationDialog(self.session, self.session.choices("services"),
                                        [(g.get("name") or g["id"], g["id"]) for g in self.groups_list], self)
        dlg.accepted.connect(self.refresh)
        dlg.open()
        self.register_dialog = dlg


__all__ = ["ConsumersPage", "RegisterApplicationDialog", "register_application"]
