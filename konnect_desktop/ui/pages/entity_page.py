"""A schema-driven master–detail page for one entity kind: a searchable, sortable list on the
left, the entity's form (``EntityEditor``, generated from the model's schema) on the right, and
room below the form for what belongs to the entity (an upstream's targets, a certificate's SNIs).

Upstreams, Certificates and Vaults are this page with their columns and extras; the list loads
in the background and is cleared the moment the connection or runtime group changes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...model.entities import ENTITIES
from ..entity_editor import EntityEditor
from ..forms import FormContext, FormLayout
from ..models import Column, EntityFilterProxy, EntityTableModel, load_entities
from ..session import Session
from .base import Page


class EntityListPage(Page):
    """Subclasses set ``table``, ``noun`` and ``columns()``; ``build_extras`` adds widgets under
    the form and ``entity_shown`` fills them."""

    table: ClassVar[str] = ""
    noun: ClassVar[str] = ""
    form_layout: ClassVar[FormLayout | None] = None
    search_keys: ClassVar[tuple[str, ...]] = ("name", "id", "tags")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText(f"Search {self.noun}s…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(f"Search {self.noun}s")
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance(self.search.placeholderText()) + 40)
        self.new_button = QPushButton(f"+ New {self.noun}")
        self.new_button.clicked.connect(self.new)
        self.header.addWidget(self.search)
        self.header.addWidget(self.new_button)

        self.model = EntityTableModel(self.columns(), search_keys=self.search_keys)
        self.proxy = EntityFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search.textChanged.connect(self.proxy.set_search)
        self.list = QTableView()
        self.list.setModel(self.proxy)
        self.list.setSortingEnabled(True)
        self.list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.verticalHeader().hide()
        self.list.horizontalHeader().setStretchLastSection(True)
        self.list.setAlternatingRowColors(True)
        self.list.setWordWrap(False)
        self.list.setAccessibleName(f"{self.noun.capitalize()}s")
        self.list.selectionModel().currentRowChanged.connect(self._selected)
        self.count_label = QLabel()
        self.count_label.setObjectName("Muted")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.list, 1)
        lv.addWidget(self.count_label)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 0, 0, 0)
        self.heading = QLabel()
        self.heading.setStyleSheet("font-weight: 600; font-size: 12pt")
        rv.addWidget(self.heading)
        self.editor = EntityEditor(self.table, layout=self.form_layout, context=FormContext(session.choices),
                                   save=self._save, delete=self._delete)
        self.editor.sig_saved.connect(self._saved)
        self.editor.sig_deleted.connect(self._deleted)
        detail = QSplitter(Qt.Orientation.Vertical)
        detail.addWidget(self.editor)
        extras = self.build_extras()
        if extras is not None:
            detail.addWidget(extras)
            detail.setStretchFactor(0, 3)
            detail.setStretchFactor(1, 2)
        rv.addWidget(detail, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([420, 640])
        self.body.addWidget(split, 1)
        self.show_entity(None)
        session.sig_data_changed.connect(self._data_changed)

    # -- what subclasses fill in -------------------------------------------------------------------
    def columns(self) -> list[Column]:
        return [Column("name", "name"), Column("tags", "tags")]

    def build_extras(self) -> QWidget | None:
        return None

    def entity_shown(self, entity: dict[str, Any] | None) -> None:
        """The form now shows ``entity`` (None: a new one, or nothing)."""

    # -- loading -----------------------------------------------------------------------------------
    def clear_view(self) -> None:
        self.model.set_rows([])
        self.show_entity(None)
        self._update_count()

    def refresh(self) -> None:
        self.runner.run(self.load(), label=f"Loading {self.noun}s", key="load")

    async def load(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        keep = self.editor.entity.get("id") if self.editor.entity else None
        await load_entities(self.model, cp.list(self.table))
        self.session.cache[self.table] = self.model.entities()
        self.list.resizeColumnsToContents()
        self._update_count()
        if keep and self.model.row_of(keep) is not None:
            self.select(keep)
        elif self.model.rowCount() and not self.list.currentIndex().isValid():
            self.list.selectRow(0)

    def _data_changed(self, table: str) -> None:
        if table == self.table and not self.isVisible():
            self.mark_stale()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n} {self.noun}{'s' if n != 1 else ''}")

    # -- selection -----------------------------------------------------------------------------------
    def select(self, ident: str) -> None:
        r = self.model.row_of(ident)
        if r is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(r, 0))
        if idx.isValid():
            self.list.setCurrentIndex(idx)

    def _selected(self, current: Any, _prev: Any) -> None:
        if current.isValid():
            self.show_entity(self.proxy.entity(current.row()))

    def show_entity(self, entity: dict[str, Any] | None, *, new: bool = False) -> None:
        self.editor.load(entity)
        self.editor.setEnabled(entity is not None or new)
        d = ENTITIES[self.table]
        self.heading.setText(d.display_name(entity) if entity else (f"New {self.noun}" if new else
                             f"Select a {self.noun}, or create one with “+ New {self.noun}”."))
        self.entity_shown(entity)

    def new(self) -> None:
        self.list.clearSelection()
        self.list.setCurrentIndex(self.proxy.index(-1, -1))
        self.show_entity(None, new=True)

    def find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- writes --------------------------------------------------------------------------------------
    async def _save(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        return await self.session.save(self.table, data, existing)

    async def _delete(self, entity: dict[str, Any]) -> None:
        await self.session.delete(self.table, entity["id"])

    def _saved(self, entity: dict[str, Any]) -> None:
        self.model.upsert(entity)
        self.session.cache[self.table] = self.model.entities()
        self._update_count()
        self.select(entity["id"])
        self.entity_shown(entity)

    def _deleted(self, entity: dict[str, Any]) -> None:
        self.model.remove_id(entity["id"])
        self.session.cache[self.table] = self.model.entities()
        self._update_count()
        self.show_entity(None)
