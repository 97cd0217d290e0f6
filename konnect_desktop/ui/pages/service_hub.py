"""Service Hub: every service of the current runtime group, and a master–detail service page.

The list is an ``EntityTableModel`` filled page by page in the background (thousands of
services stay smooth: no per-row widgets, filtering against precomputed text, sorting in one
pass). The selected service opens below: Overview (its form), Routes, Plugins that apply to it,
and the YAML (decK fragment) of the service with its routes and plugins.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..entity_editor import EntityEditor
from ..forms import FormContext, FormLayout
from ..models import (
    Column,
    EntityFilterProxy,
    EntityTableModel,
    load_entities,
    relative_time,
)
from ..openapi_import import OpenAPIImportDialog, open_dialog
from ..plugin_panel import PluginPanel
from ..service_url import ServiceUrlRow
from ..session import Session
from ..yamlview import YamlView, deck_fragment
from .base import Page

SERVICE_LAYOUT = FormLayout(order=["name", "protocol", "host", "port", "path", "tags", "enabled", "retries"])
# the URL field (``service_url``) sits above the form: it is the first thing to fill
ROUTE_LAYOUT = FormLayout(order=["name", "protocols", "methods", "paths", "hosts", "headers", "strip_path", "preserve_host", "tags"])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class RoutesTab(QWidget):
    """The service's routes, and the route editor beside them."""

    def __init__(self, hub: ServiceHubPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.service: dict[str, Any] | None = None
        self.model = EntityTableModel([
            Column("name", "name"),
            Column("paths", "paths"),
            Column("methods", "methods"),
            Column("hosts", "hosts"),
            Column("strip_path", "strip path", text=lambda r: "yes" if r.get("strip_path") else "no"),
        ], search_keys=("name", "paths", "hosts"))
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.new_button = QPushButton("+ New route")
        self.new_button.clicked.connect(self.new_route)
        lv.addWidget(self.new_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Routes")
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        lv.addWidget(self.table, 1)
        split.addWidget(left)
        self.editor = EntityEditor("routes", layout=ROUTE_LAYOUT, hide=("service",),
                                   context=FormContext(hub.session.choices),
                                   save=self._save, delete=self._delete)
        self.editor.sig_saved.connect(self._saved)
        self.editor.sig_deleted.connect(self._deleted)
        self.editor.setEnabled(False)
        split.addWidget(self.editor)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 4, 0, 0)
        v.addWidget(split)

    def set_service(self, service: dict[str, Any] | None, routes: list[dict[str, Any]]) -> None:
        self.service = service
        self.model.set_rows(routes)
        self.table.resizeColumnsToContents()
        self.new_button.setEnabled(service is not None)
        if routes:
            self.table.selectRow(0)
        else:
            self.editor.setEnabled(False)
            self.editor.load(None)

    def _selected(self, current: Any, _prev: Any) -> None:
        if current.isValid():
            self.editor.setEnabled(True)
            self.editor.load(self.model.entity(current.row()))

    def new_route(self) -> None:
        if self.service is None:
            return
        self.table.clearSelection()
        self.editor.setEnabled(True)
        self.editor.load(None)
        self.editor.form.set_hidden_value("service", {"id": self.service["id"]})
        first = self.editor.form.editors.get("name")
        if first is not None:
            first.setFocus()

    async def _save(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if self.service is not None:
            data["service"] = {"id": self.service["id"]}
        return await self.hub.session.save("routes", data, existing)

    async def _delete(self, entity: dict[str, Any]) -> None:
        await self.hub.session.delete("routes", entity["id"])

    def _saved(self, route: dict[str, Any]) -> None:
        self.model.upsert(route)
        self.hub.route_saved(route)

    def _deleted(self, route: dict[str, Any]) -> None:
        self.model.remove_id(route["id"])
        self.hub.route_deleted(route)
        self.editor.load(None)
        self.editor.setEnabled(False)


class ServiceDetail(QWidget):
    """The service page: Overview / Routes / Plugins / YAML."""

    def __init__(self, hub: ServiceHubPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.service: dict[str, Any] | None = None
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel()
        self.heading.setStyleSheet("font-weight: 600; font-size: 12pt")
        v.addWidget(self.heading)
        self.tabs = QTabWidget()
        self.url_row = ServiceUrlRow()  # Kong's url shorthand, first
        self.overview = EntityEditor("services", layout=SERVICE_LAYOUT, context=FormContext(hub.session.choices),
                                     save=self._save, delete=self._delete, header=self.url_row)
        self.url_row.bind(self.overview.form)
        # deleting a service its routes still use: say so, and offer to delete them too
        self.overview.delete_button.clicked.disconnect()
        self.overview.delete_button.clicked.connect(self.confirm_delete)
        self.overview.sig_saved.connect(hub.service_saved)
        self.overview.sig_deleted.connect(hub.service_deleted)
        self.routes = RoutesTab(hub)
        self.plugins = PluginPanel(hub.session, hub.runner)
        self.plugins.sig_changed.connect(hub.plugins_changed)
        self.yaml = YamlView()
        self.tabs.addTab(self.overview, "Overview")
        self.tabs.addTab(self.routes, "Routes")
        self.tabs.addTab(self.plugins, "Plugins")
        self.tabs.addTab(self.yaml, "YAML")
        self.tabs.currentChanged.connect(self._tab_changed)
        v.addWidget(self.tabs, 1)

    def show_service(self, service: dict[str, Any] | None) -> None:
        self.service = service
        hub = self.hub
        if service is None:
            self.heading.setText("New service")
            self.overview.load(None)
            self.url_row.show_value({})
            self.tabs.setCurrentWidget(self.overview)
            for i in (1, 2, 3):
                self.tabs.setTabEnabled(i, False)
            name = self.overview.form.editors.get("name")
            if name is not None:
                name.setFocus()
            return
        for i in (1, 2, 3):
            self.tabs.setTabEnabled(i, True)
        self.heading.setText(f"{service.get('name') or service['id']}")
        if self.overview.entity != service:  # after a save the editor already shows it (and "Saved.")
            self.overview.load(service)
            self.url_row.show_value(service)
        sid = service["id"]
        routes = hub.routes_of(sid)
        self.routes.set_service(service, routes)
        route_ids = {r["id"] for r in routes}

        def applies(p: dict[str, Any]) -> bool:
            s = (p.get("service") or {}).get("id")
            r = (p.get("route") or {}).get("id")
            if s == sid or r in route_ids:
                return True
            # global plugins apply too, unless scoped to a consumer or group only
            return not s and not r and not p.get("consumer") and not p.get("consumer_group")

        self.plugins.set_filter(applies, default_scope=("service", sid))
        self.plugins.fill_add_combo()
        self.plugins.set_plugins(hub.plugins)
        self._render_yaml()

    def _tab_changed(self, _i: int) -> None:
        if self.tabs.currentWidget() is self.yaml:
            self._render_yaml()

    def _render_yaml(self) -> None:
        service = self.service
        if service is None:
            self.yaml.set_source(None)
            return
        hub = self.hub
        sid = service["id"]

        def render(reveal: bool) -> str:
            routes = hub.routes_of(sid)
            plugins = [p for p in hub.plugins if (p.get("service") or {}).get("id") == sid]
            return deck_fragment("services", service, children={"routes": routes, "plugins": plugins},
                                 name_of=hub.session.name_of, reveal=reveal)

        self.yaml.set_source(render)

    async def _save(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        return await self.hub.session.save("services", data, existing)

    async def _delete(self, entity: dict[str, Any]) -> None:
        await self.hub.session.delete("services", entity["id"])

    def confirm_delete(self) -> None:
        service = self.overview.entity
        if service is None:
            return
        routes = self.hub.routes_of(service["id"])
        name = service.get("name") or service["id"]
        if not routes:
            EntityEditor.confirm_delete(self.overview)
            return
        listed = ", ".join(r.get("name") or (r.get("paths") or [r["id"][:8]])[0] for r in routes[:5])
        more = f" and {len(routes) - 5} more" if len(routes) > 5 else ""
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete service",
                          f"Service “{name}” is used by {_count(len(routes), 'route')} ({listed}{more}). "
                          "Kong refuses to delete a service its routes still point to.",
                          QMessageBox.StandardButton.Cancel, self)
        self.delete_all_button = box.addButton(f"Delete the service and its {_count(len(routes), 'route')}",
                                               QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.delete_box = box

        def answered(_result: int) -> None:
            if box.clickedButton() is self.delete_all_button:
                self.overview.runner.run(self._delete_with_routes(service, routes), label="Deleting", key="delete",
                                         on_done=lambda _r: self.overview.sig_deleted.emit(service),
                                         on_error=self.overview._failed)

        box.finished.connect(answered)
        box.open()

    async def _delete_with_routes(self, service: dict[str, Any], routes: list[dict[str, Any]]) -> None:
        """Routes first (each one's plugins go with it), then the service."""
        for r in routes:
            await self.hub.session.delete("routes", r["id"])
            self.hub.route_deleted(r)
        await self.hub.session.delete("services", service["id"])


class ServiceHubPage(Page):
    title = "Services"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.routes: list[dict[str, Any]] = []
        self.plugins: list[dict[str, Any]] = []
        self.route_counts: dict[str, int] = {}
        self._routes_by_service: dict[str, list[dict[str, Any]]] = {}

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, host, tags…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search services")
        self.search.setMinimumWidth(220)
        self.tag = QComboBox()
        self.tag.setAccessibleName("Filter by tag")
        self.tag.addItem("all tags", "")
        self.tag.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.new_button = QPushButton("+ New service")
        self.new_button.clicked.connect(self.new)
        self.header.addWidget(self.search)
        self.header.addWidget(self.tag)
        self.header.addWidget(self.new_button)
        self.openapi_button = QPushButton("OpenAPI…")
        self.openapi_button.setAccessibleName("Import OpenAPI")
        self.openapi_button.setToolTip("Import OpenAPI: services and routes from an OpenAPI 3 file, previewed before they are applied")
        self.openapi_button.clicked.connect(lambda: self.import_openapi())
        self.header.addWidget(self.openapi_button)

        self.model = EntityTableModel([
            Column("name", "name"),
            Column("host", "host"),
            Column("protocol", "protocol"),
            Column("routes", "routes", text=lambda s: str(self.route_counts.get(s.get("id"), 0)),
                   sort_key=lambda s: (0, self.route_counts.get(s.get("id"), 0), ""), align_right=True),
            Column("tags", "tags"),
            Column("updated_at", "updated", text=lambda s: relative_time(s.get("updated_at")),
                   sort_key=lambda s: (0, s.get("updated_at") or 0, "")),
        ], search_keys=("name", "host", "tags", "id", "path"))
        self.proxy = EntityFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Services")
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((180, 220, 80, 60, 160, 90)):
            self.table.setColumnWidth(col, width)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._selected)

        self.count_label = QLabel()
        self.count_label.setObjectName("Muted")

        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.table, 1)
        tv.addWidget(self.count_label)
        split.addWidget(top)
        self.detail_stack = QStackedWidget()
        self.empty = QLabel("Select a service to see its routes and plugins, or create one with “+ New service”.")
        self.empty.setObjectName("Muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.detail = ServiceDetail(self)
        self.detail_stack.addWidget(self.empty)
        self.detail_stack.addWidget(self.detail)
        split.addWidget(self.detail_stack)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([260, 540])
        self.body.addWidget(split, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(120)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(self._search_timer.start)
        self.tag.currentIndexChanged.connect(self._apply_search)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        session.sig_data_changed.connect(self._data_changed)

    def import_openapi(self) -> OpenAPIImportDialog:
        """The import dialog (ui/openapi_import.py); applied entities reach this list through
        ``sig_data_changed``."""
        dlg = open_dialog(self.session, self)
        dlg.sig_applied.connect(lambda _report: self.refresh())  # this page is visible: reload now
        return dlg

    # -- loading ---------------------------------------------------------------------------------
    def clear_view(self) -> None:
        self.model.set_rows([])
        self.routes, self.plugins = [], []
        self._index_routes()
        self.detail.service = None
        self.detail.overview.load(None)
        self.detail.routes.set_service(None, [])
        self.detail.plugins.clear()
        self.detail.yaml.set_source(None)
        self.detail_stack.setCurrentWidget(self.empty)
        self._update_count()

    def refresh(self) -> None:
        self.runner.run(self.load(), label="Loading services", key="load")

    async def load(self) -> int:
        cp = self.session.cp
        if cp is None:
            return 0
        selected = self.current_service()
        self.loaded_count = 0
        n = await load_entities(self.model, cp.list("services", page_size=1000), on_progress=self._progress)
        await self.load_children()
        self._fill_tags()
        if selected is not None and self.model.row_of(selected["id"]) is not None:
            self.select_service(selected["id"])
        self._update_count()
        return n

    async def load_children(self) -> None:
        """Routes (for counts and the Routes tab) and plugins; names for scopes and YAML."""
        cp = self.session.cp
        if cp is None:
            return
        self.routes = await cp.list_all("routes")
        self.session.cache["routes"] = self.routes
        self.session.cache["services"] = self.model.entities()
        self.plugins = await cp.list_all("plugins")
        self._index_routes()

    def _index_routes(self) -> None:
        by: dict[str, list[dict[str, Any]]] = {}
        for r in self.routes:
            sid = (r.get("service") or {}).get("id")
            if sid:
                by.setdefault(sid, []).append(r)
        self._routes_by_service = by
        self.route_counts = {k: len(v) for k, v in by.items()}
        self.model.refresh_column("routes")

    def routes_of(self, service_id: str) -> list[dict[str, Any]]:
        return list(self._routes_by_service.get(service_id, []))

    def _progress(self, n: int) -> None:
        self.loaded_count = n
        self.count_label.setText(f"Loading… {n} services")

    def _fill_tags(self) -> None:
        current = self.tag.currentData()
        self.tag.blockSignals(True)
        self.tag.clear()
        self.tag.addItem("all tags", "")
        for t in self.model.all_tags():
            self.tag.addItem(t, t)
        idx = self.tag.findData(current)
        self.tag.setCurrentIndex(max(idx, 0))
        self.tag.blockSignals(False)

    def _update_count(self, *_: Any) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        routes = len(self.routes)
        text = f"{_count(total, 'service')} · {_count(routes, 'route')} · {_count(len(self.plugins), 'plugin')}"
        if shown != total:
            text = f"{shown} of {_count(total, 'service')} shown · {_count(routes, 'route')}"
        self.count_label.setText(text)

    def _data_changed(self, table: str) -> None:
        if not self.isVisible() and table in ("services", "routes", "plugins"):
            self.mark_stale()

    # -- filtering ---------------------------------------------------------------------------------
    def _apply_search(self, *_: Any) -> None:
        self.proxy.set_search(self.search.text())
        self.proxy.set_tag(self.tag.currentData())

    def find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- selection and detail ----------------------------------------------------------------------
    def current_service(self) -> dict[str, Any] | None:
        idx = self.table.currentIndex()
        if not idx.isValid() or self.detail.service is None:
            return None
        return self.proxy.entity(idx.row())

    def select_service(self, ident: str) -> None:
        r = self.model.row_of(ident)
        if r is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(r, 0))
        if idx.isValid():
            self.table.setCurrentIndex(idx)
            self.table.scrollTo(idx)

    def _selected(self, current: Any, _prev: Any) -> None:
        if not current.isValid():
            return
        self.detail_stack.setCurrentWidget(self.detail)
        self.detail.show_service(self.proxy.entity(current.row()))

    def new(self) -> None:
        self.table.clearSelection()
        self.table.setCurrentIndex(self.proxy.index(-1, -1))
        self.detail_stack.setCurrentWidget(self.detail)
        self.detail.show_service(None)

    # -- changes from the detail page ----------------------------------------------------------------
    def service_saved(self, service: dict[str, Any]) -> None:
        self.model.upsert(service)
        self.session.cache["services"] = self.model.entities()
        self._fill_tags()
        self.select_service(service["id"])
        self.detail.show_service(service)
        self._update_count()

    def service_deleted(self, service: dict[str, Any]) -> None:
        self.model.remove_id(service["id"])
        self.routes = [r for r in self.routes if (r.get("service") or {}).get("id") != service["id"]]
        self.plugins = [p for p in self.plugins if (p.get("service") or {}).get("id") != service["id"]]
        self._index_routes()
        self.detail.service = None
        self.detail_stack.setCurrentWidget(self.empty)
        self._update_count()

    def route_saved(self, route: dict[str, Any]) -> None:
        self.routes = [r for r in self.routes if r["id"] != route["id"]] + [route]
        self.session.cache["routes"] = self.routes
        self._index_routes()
        self._update_count()

    def route_deleted(self, route: dict[str, Any]) -> None:
        self.routes = [r for r in self.routes if r["id"] != route["id"]]
        self._index_routes()
        self._update_count()

    def plugins_changed(self) -> None:
        self.runner.run(self._reload_plugins(), label="Loading plugins", key="plugins")

    async def _reload_plugins(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        self.plugins = await cp.list_all("plugins")
        self.detail.plugins.model.set_rows([p for p in self.plugins if self.detail.plugins._filter(p)])
        self._update_count()
