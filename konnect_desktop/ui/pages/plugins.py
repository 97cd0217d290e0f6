"""Plugins: every plugin instance of the runtime group, wherever it is scoped, with its editor."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QWidget

from ..plugin_panel import PluginPanel
from ..session import Session
from .base import Page


class PluginsPage(Page):
    title = "Plugins"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search plugins…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search plugins")
        self.header.addWidget(self.search)
        self.panel = PluginPanel(session, self.runner)
        self.panel.sig_changed.connect(self.refresh)
        self.search.textChanged.connect(self.panel.proxy.set_search)
        self.body.addWidget(self.panel, 1)
        session.sig_data_changed.connect(self._data_changed)

    def _data_changed(self, table: str) -> None:
        if table == "plugins" and not self.isVisible():
            self.mark_stale()

    def clear_view(self) -> None:
        self.panel.clear()

    def refresh(self) -> None:
        self.runner.run(self.load(), label="Loading plugins", key="load")

    async def load(self) -> None:
        cp = self.session.cp
        if cp is None:
            return
        for table in ("services", "routes", "consumers", "consumer_groups"):
            try:
                await self.session.ensure(table)  # names for the "applies to" column
            except Exception:  # no consumer groups on this backend: names fall back to ids
                pass
        self.panel.fill_add_combo()
        self.panel.set_plugins(await cp.list_all("plugins"))

    def find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def new(self) -> None:
        self.panel.add_combo.setFocus()
