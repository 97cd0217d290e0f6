"""Upstreams & targets: the load balancers of the runtime group, each with its targets (address,
weight and, where the gateway reports it, health: ``ControlPlane.upstream_health``, i.e.
``GET /upstreams/{u}/health``); targets are added and removed here. The upstream itself is the
schema-generated form."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..forms import FormLayout
from ..models import Column
from .entity_page import EntityListPage

HEALTH_WORDS = {"HEALTHY": "● healthy", "UNHEALTHY": "✕ unhealthy", "DNS_ERROR": "✕ DNS error",
                "HEALTHCHECKS_OFF": "○ checks off"}


def health_text(raw: str | None) -> str:
    if not raw:
        return "—"
    return HEALTH_WORDS.get(raw, raw.lower())


class TargetsBox(QWidget):
    """An upstream's targets: address, weight, health; add (address + weight) and remove."""

    def __init__(self, page: UpstreamsPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = page
        self.upstream: dict[str, Any] | None = None
        self.targets: list[dict[str, Any]] = []
        self.health: dict[str, str] = {}
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 4, 0, 0)
        title = QLabel("Targets")
        title.setStyleSheet("font-weight: 600")
        v.addWidget(title)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["target", "weight", "health"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAccessibleName("Targets")
        v.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.address = QLineEdit()
        self.address.setPlaceholderText("host:port, e.g. 10.0.0.7:8080")
        self.address.setAccessibleName("Target address")
        self.address.returnPressed.connect(self.add)
        self.weight = QSpinBox()
        self.weight.setRange(0, 65535)
        self.weight.setValue(100)
        self.weight.setAccessibleName("Target weight")
        self.weight.setPrefix("weight ")
        self.add_button = QPushButton("+ Add target")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.address, 1)
        row.addWidget(self.weight)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        v.addLayout(row)
        self.note = QLabel()
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        v.addWidget(self.note)

    def set_upstream(self, upstream: dict[str, Any] | None) -> None:
        self.upstream = upstream
        for w in (self.address, self.weight, self.add_button, self.remove_button):
            w.setEnabled(upstream is not None)
        self.show_targets([], {})
        self.note.setText("")
        if upstream is not None:
            self.page.runner.run(self.load(upstream), label="Loading targets", key="targets")

    async def load(self, upstream: dict[str, Any]) -> None:
        cp = self.page.session.require_cp()
        targets = await cp.list_all("targets", parent=("upstreams", upstream["id"]))
        health = await self.page.fetch_health(upstream)
        if self.upstream is not upstream:
            return  # the user moved on
        self.note.setText("" if health is not None else
                          "No health here: the gateway reports it when it runs (a started local runtime "
                          "or a Kong node's Admin API).")
        self.show_targets(targets, health or {})

    def show_targets(self, targets: list[dict[str, Any]], health: dict[str, str]) -> None:
        self.targets, self.health = targets, health
        self.table.setRowCount(len(targets))
        for r, t in enumerate(targets):
            for c, text in enumerate((t.get("target") or "", str(t.get("weight", "")),
                                      health_text(health.get(t.get("target") or "")))):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setData(256, t["id"])
                self.table.setItem(r, c, item)

    def add(self) -> None:
        if self.upstream is None or not self.address.text().strip():
            return
        upstream = self.upstream
        data = {"target": self.address.text().strip(), "weight": self.weight.value()}

        async def create() -> None:
            await self.page.session.require_cp().create("targets", data, parent=("upstreams", upstream["id"]))
            self.page.session.sig_data_changed.emit("targets")
            self.address.clear()
            await self.load(upstream)

        self.page.runner.run(create(), label="Adding target", key="target-write")

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if self.upstream is None or not 0 <= row < len(self.targets):
            return
        upstream, target = self.upstream, self.targets[row]

        async def delete() -> None:
            await self.page.session.require_cp().delete("targets", target["id"], parent=("upstreams", upstream["id"]))
            self.page.session.sig_data_changed.emit("targets")
            await self.load(upstream)

        self.page.runner.run(delete(), label="Removing target", key="target-write")


class UpstreamsPage(EntityListPage):
    title = "Upstreams"
    table = "upstreams"
    noun = "upstream"
    form_layout = FormLayout(order=["name", "algorithm", "slots", "hash_on", "hash_fallback", "host_header", "tags"])

    def columns(self) -> list[Column]:
        return [Column("name", "name"), Column("algorithm", "algorithm"), Column("slots", "slots", align_right=True),
                Column("tags", "tags")]

    def build_extras(self) -> QWidget:
        self.targets = TargetsBox(self)
        return self.targets

    def entity_shown(self, entity: dict[str, Any] | None) -> None:
        self.targets.set_upstream(entity)

    async def fetch_health(self, upstream: dict[str, Any]) -> dict[str, str] | None:
        """target → Kong's health word, as the gateway's ``/upstreams/{u}/health`` reports it;
        None when this connection cannot tell (a stopped local runtime, a Konnect control plane)."""
        cp = self.session.cp
        return await cp.upstream_health(upstream["id"]) if cp is not None else None
