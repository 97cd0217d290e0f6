"""Products: the service catalog of a local runtime group, and its Dev Portal.

Three tabs. *Products*: API products and their versions (implementation service, consumer group,
registration policy, OpenAPI document), Publish / Unpublish. *Approvals* and *Portal* live in
``products_portal``: the registrations waiting for a decision, and the portal's address, title,
logo and colours.

Products are local-only for now: they are kept with the local runtime group (``runtime.catalog``)
and travel in ``kong.products.yaml`` beside an exported decK file. For a Kong Admin API or Konnect
connection the page says so instead of pretending (Konnect's API Products API is not mapped yet).
All catalog reads and writes run in worker threads; the UI thread never waits on the store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...runtime.catalog import POLICIES
from ..session import Session
from .base import Page
from .products_portal import ApprovalsTab, PortalTab, row_table

LOCAL_ONLY = ("API products, the Dev Portal and its developer accounts are local-only for now: they are "
              "kept with this local runtime group (and in kong.products.yaml next to an exported "
              "kong.yaml), never sent to Konnect.")
NOT_LOCAL = ("Products are local-only for now: connect to a local runtime group to edit them. "
             "(Konnect's API Products are not mapped yet.)")


def parse_labels(text: str) -> dict[str, str]:
    """``team=ai, tier=gold`` → ``{"team": "ai", "tier": "gold"}`` (the catalog checks the names)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if part.strip():
            k, _, v = part.partition("=")
            out[k.strip()] = v.strip()
    return out


class ProductsTab(QWidget):
    def __init__(self, page: ProductsPage) -> None:
        super().__init__()
        self.page = page
        self.products: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []
        self.openapi_text: str | None = None
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setAccessibleName("API products")
        self.list.currentRowChanged.connect(self._product_selected)
        row = QHBoxLayout()
        self.new_product_button = QPushButton("+ New product")
        self.new_product_button.clicked.connect(self.new_product)
        self.delete_product_button = QPushButton("Delete")
        self.delete_product_button.clicked.connect(self.delete_product)
        row.addWidget(self.new_product_button)
        row.addWidget(self.delete_product_button)
        lv.addWidget(self.list, 1)
        lv.addLayout(row)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        pform = QFormLayout()
        self.name = QLineEdit()
        self.name.setAccessibleName("Product name")
        self.description = QLineEdit()
        self.description.setAccessibleName("Product description")
        self.labels = QLineEdit()
        self.labels.setPlaceholderText("team=ai, tier=gold")
        self.labels.setAccessibleName("Product labels")
        pform.addRow("Name", self.name)
        pform.addRow("Description", self.description)
        pform.addRow("Labels", self.labels)
        rv.addLayout(pform)
        self.save_product_button = QPushButton("Save product")
        self.save_product_button.clicked.connect(self.save_product)
        rv.addWidget(self.save_product_button, 0, Qt.AlignmentFlag.AlignLeft)

        rv.addWidget(QLabel("Versions"))
        self.table = row_table(["Version", "Service", "Published", "Registration", "Consumer group"], "Product versions")
        self.table.currentCellChanged.connect(lambda r, *_: self._version_selected(r))
        rv.addWidget(self.table, 1)
        vform = QFormLayout()
        self.version = QLineEdit()
        self.version.setPlaceholderText("v1")
        self.version.setAccessibleName("Version")
        self.service = QComboBox()
        self.service.setAccessibleName("Implementation: gateway service")
        self.group = QComboBox()
        self.group.setAccessibleName("Consumer group granted")
        self.policy = QComboBox()
        self.policy.addItems(list(POLICIES))
        self.policy.setAccessibleName("Registration")
        oa = QHBoxLayout()
        self.openapi_label = QLabel("none")
        self.openapi_label.setObjectName("Muted")
        self.load_openapi_button = QPushButton("Load OpenAPI…")
        self.load_openapi_button.clicked.connect(self.choose_openapi)
        oa.addWidget(self.openapi_label, 1)
        oa.addWidget(self.load_openapi_button)
        vform.addRow("Version", self.version)
        vform.addRow("Implementation", self.service)
        vform.addRow("Consumer group", self.group)
        vform.addRow("Registration", self.policy)
        vform.addRow("OpenAPI", oa)
        rv.addLayout(vform)
        buttons = QHBoxLayout()
        self.new_version_button = QPushButton("New version")
        self.new_version_button.clicked.connect(self.new_version)
        self.save_version_button = QPushButton("Save version")
        self.save_version_button.clicked.connect(self.save_version)
        self.publish_button = QPushButton("Publish")
        self.publish_button.clicked.connect(lambda: self.set_published(True))
        self.unpublish_button = QPushButton("Unpublish")
        self.unpublish_button.clicked.connect(lambda: self.set_published(False))
        self.delete_version_button = QPushButton("Delete version")
        self.delete_version_button.clicked.connect(self.delete_version)
        for b in (self.new_version_button, self.save_version_button, self.publish_button, self.unpublish_button,
                  self.delete_version_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        rv.addLayout(buttons)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.message)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(split)

    # -- loading ------------------------------------------------------------------------------
    async def load(self) -> dict[str, Any]:
        svc = self.page.service()

        def work() -> dict[str, Any]:
            store = svc.store
            return {"products": svc.catalog.list_products(), "versions": svc.catalog.list_versions(),
                    "services": [(s.get("name") or s["id"], s["id"]) for s in store.all("services")],
                    "groups": [g["name"] for g in store.all("consumer_groups")]}

        return await asyncio.to_thread(work)

    def show_data(self, data: dict[str, Any]) -> None:
        current = self.current_product()
        self.products = data["products"]
        self.all_versions = data["versions"]
        self.service.clear()
        self.service.addItem("(none yet)", None)
        for label, ident in data["services"]:
            self.service.addItem(label, ident)
        self.service_names = {ident: label for label, ident in data["services"]}
        self.group.clear()
        self.group.addItem("(none)", None)
        for g in data["groups"]:
            self.group.addItem(g, g)
        self.list.blockSignals(True)
        self.list.clear()
        for p in self.products:
            it = QListWidgetItem(p["name"])
            it.setData(Qt.ItemDataRole.UserRole, p["id"])
            self.list.addItem(it)
        self.list.blockSignals(False)
        ids = [p["id"] for p in self.products]
        row = ids.index(current["id"]) if current and current["id"] in ids else (0 if ids else -1)
        self.list.setCurrentRow(row)
        self._product_selected(row)

    def current_product(self) -> dict[str, Any] | None:
        row = self.list.currentRow()
        return self.products[row] if 0 <= row < len(self.products) else None

    def current_version(self) -> dict[str, Any] | None:
        row = self.table.currentRow()
        return self.versions[row] if 0 <= row < len(self.versions) else None

    def _product_selected(self, row: int) -> None:
        p = self.products[row] if 0 <= row < len(self.products) else None
        self.name.setText(p["name"] if p else "")
        self.description.setText(p["description"] if p else "")
        self.labels.setText(", ".join(f"{k}={v}" for k, v in (p["labels"] if p else {}).items()))
        self.versions = [v for v in getattr(self, "all_versions", []) if p and v["product"]["id"] == p["id"]]
        self.table.setRowCount(len(self.versions))
        for i, v in enumerate(self.versions):
            cells = [v["version"], self.service_names.get(v["service"], v["service"] or "(none)"),
                     "yes" if v["published"] else "no", v["registration"], v["consumer_group"] or ""]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(str(text)))
        self.table.setCurrentCell(0 if self.versions else -1, 0)
        self._version_selected(0 if self.versions else -1)

    def _version_selected(self, row: int) -> None:
        v = self.versions[row] if 0 <= row < len(self.versions) else None
        self.version.setText(v["version"] if v else "")
        self.service.setCurrentIndex(max(0, self.service.findData(v["service"])) if v else 0)
        self.group.setCurrentIndex(max(0, self.group.findData(v["consumer_group"])) if v else 0)
        self.policy.setCurrentText(v["registration"] if v else "auto")
        self.openapi_text = None
        self.openapi_label.setText("stored document" if v and v["openapi"] else "none")
        for b in (self.publish_button, self.unpublish_button, self.delete_version_button):
            b.setEnabled(v is not None)
        if v:
            self.publish_button.setEnabled(not v["published"])
            self.unpublish_button.setEnabled(v["published"])

    # -- actions ------------------------------------------------------------------------------
    def _do(self, fn: Any, *args: Any, label: str, done: str) -> None:
        cat = self.page.service().catalog

        async def work() -> Any:
            return await asyncio.to_thread(getattr(cat, fn), *args)

        self.page.runner.run(work(), label=label, on_done=lambda _r: self._after(done), on_error=self._failed)

    def _after(self, done: str) -> None:
        self.message.setText(f"✓ {done}")
        self.page.refresh()

    def _failed(self, info: Any) -> None:
        self.message.setText(f"⚠ {info.message}")

    def new_product(self) -> None:
        self.list.setCurrentRow(-1)
        self._product_selected(-1)
        self.name.setFocus()

    def save_product(self) -> None:
        data = {"name": self.name.text(), "description": self.description.text(),
                "labels": parse_labels(self.labels.text())}
        p = self.current_product()
        if p is None:
            self._do("create_product", data, label="Creating product", done=f"Product “{data['name']}” created.")
        else:
            self._do("update_product", p["id"], data, label="Saving product", done="Product saved.")

    def _revoking(self, fn: str, ident: str, *, label: str, done: str) -> None:
        """Deletes that revoke the approved registrations first (``PortalService``)."""
        svc = self.page.service()
        self.page.runner.run(getattr(svc, fn)(ident), label=label, on_done=lambda _r: self._after(done),
                             on_error=self._failed)

    def delete_product(self) -> None:
        p = self.current_product()
        if p is not None:
            self._revoking("delete_product", p["id"], label="Deleting product",
                           done=f"Product “{p['name']}” deleted; its registrations were revoked.")

    def new_version(self) -> None:
        self.table.setCurrentCell(-1, 0)
        self._version_selected(-1)
        self.version.setFocus()

    def choose_openapi(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "OpenAPI document", "", "OpenAPI (*.yaml *.yml *.json)")
        if path:
            self.load_openapi(Path(path))

    def load_openapi(self, path: Path) -> None:
        async def read() -> str:
            return await asyncio.to_thread(path.read_text, encoding="utf-8")

        def loaded(text: str) -> None:
            self.openapi_text = text
            self.openapi_label.setText(f"{path.name} (save the version to keep it)")

        self.page.runner.run(read(), label="Reading OpenAPI", on_done=loaded, on_error=self._failed)

    def version_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version.text().strip(), "service": self.service.currentData(),
                                "consumer_group": self.group.currentData(), "registration": self.policy.currentText()}
        if self.openapi_text is not None:
            data["openapi"] = self.openapi_text
        return data

    def save_version(self) -> None:
        p = self.current_product()
        if p is None:
            self.message.setText("⚠ Save the product first.")
            return
        v = self.current_version()
        if v is None:
            self._do("create_version", p["id"], self.version_data(), label="Creating version", done="Version created.")
        else:
            self._do("update_version", v["id"], self.version_data(), label="Saving version", done="Version saved.")

    def set_published(self, published: bool) -> None:
        v = self.current_version()
        if v is not None:
            self._do("publish", v["id"], published, label="Publishing" if published else "Unpublishing",
                     done=f"{v['version']} {'published to' if published else 'removed from'} the Dev Portal.")

    def delete_version(self) -> None:
        v = self.current_version()
        if v is not None:
            self._revoking("delete_version", v["id"], label="Deleting version",
                           done=f"Version {v['version']} deleted; its registrations were revoked.")


class ProductsPage(Page):
    title = "Products"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self._service: Any = None
        self._service_store: Any = None
        self.note = QLabel(LOCAL_ONLY)
        self.note.setWordWrap(True)
        self.note.setObjectName("Muted")
        self.body.addWidget(self.note)
        self.tabs = QTabWidget()
        self.products = ProductsTab(self)
        self.approvals = ApprovalsTab(self)
        self.portal = PortalTab(self)
        self.tabs.addTab(self.products, "Products")
        self.tabs.addTab(self.approvals, "Approvals")
        self.tabs.addTab(self.portal, "Portal")
        self.body.addWidget(self.tabs, 1)
        session.sig_data_changed.connect(self.mark_stale)
        session.sig_runtime_state.connect(self._runtime_state)  # a bound slot: dropped with the page

    def _runtime_state(self, *_: Any) -> None:
        self.portal.show_address()

    def store(self) -> Any:
        """The local runtime group's store, or None for other kinds of connection."""
        conn = self.session.current
        if conn is None or conn.kind != "local":
            return None
        return getattr(self.session.cp, "store", None)

    def runtime(self) -> Any:
        conn = self.session.current
        return self.session.runtime(conn.runtime_name) if conn is not None and conn.kind == "local" else None

    def service(self) -> Any:
        """The portal service over the current store: the running portal's own when it is served
        (same object the web pages use), else one made for this store."""
        from ...runtime.portal.service import PortalService

        rt = self.runtime()
        if rt is not None and rt.portal is not None and rt.store is self.store():
            return rt.portal
        store = self.store()
        if self._service is None or self._service_store is not store:
            self._service, self._service_store = PortalService(store), store
        return self._service

    def refresh(self) -> None:
        local = self.store() is not None
        self.note.setText(LOCAL_ONLY if local else NOT_LOCAL)
        self.tabs.setEnabled(local)
        self.portal.show_address()
        if not local:
            return

        async def load() -> dict[str, Any]:
            # PortalService makes its tables on first use: in a worker, like every store call
            await asyncio.to_thread(self.service)
            return {"products": await self.products.load(), "approvals": await self.approvals.load()}

        def show(data: dict[str, Any]) -> None:
            self.products.show_data(data["products"])
            self.approvals.show_data(data["approvals"])
            self.portal.load_settings()

        self.runner.run(load(), label="Loading products", key="load", on_done=show)


__all__ = ["ProductsPage", "LOCAL_ONLY", "parse_labels"]
