"""A list of plugin instances with the editor beside it: used by the Service Hub (plugins that
apply to a service), the Plugins page (all of them) and Consumers (a group's plugins)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .. import plugins as plugin_registry
from ..plugins.http_log import safe_endpoint
from .forms import FormContext
from .models import Column, EntityFilterProxy, EntityTableModel
from .plugin_editor import NOT_RUN_BADGE, PERIODS, SCOPE_FIELDS, TRANSFORM_STEPS, PluginEditor
from .session import Session
from .tasks import TaskRunner

SCOPE_TABLES = {"service": "services", "route": "routes", "consumer": "consumers", "consumer_group": "consumer_groups"}


def plugin_summary(p: dict[str, Any]) -> str:
    """One line saying what a plugin instance does: ``3/minute, 100/hour`` for rate limits."""
    cfg = p.get("config") or {}
    name = p.get("name")
    if name == "rate-limiting":
        limits = [f"{_num(cfg[per])}/{per}" for per in PERIODS if cfg.get(per) is not None]
        by = cfg.get("limit_by")
        return ", ".join(limits) + (f" by {by}" if by else "")
    if name in ("request-transformer", "response-transformer"):
        parts = []
        for step in TRANSFORM_STEPS:
            rec = cfg.get(step) or {}
            n = sum(len(v) for v in rec.values() if isinstance(v, list))
            if n:
                parts.append(f"{step} {n}")
        return " · ".join(parts) or "no changes"
    if name == "acl":
        allow, deny = cfg.get("allow"), cfg.get("deny")
        return f"allow {', '.join(allow)}" if allow else f"deny {', '.join(deny)}" if deny else ""
    if name == "key-auth":
        return "keys in " + ", ".join(cfg.get("key_names") or [])
    if name == "ai-proxy":  # (its auth record holds the provider's key: never shown)
        model = cfg.get("model") or {}
        return f"{cfg.get('route_type')} → {model.get('provider')}/{model.get('name') or '(client picks)'}"
    if name == "http-log" and cfg.get("http_endpoint"):
        # the endpoint's user info is a password
        return f"{cfg.get('method') or 'POST'} {safe_endpoint(cfg['http_endpoint'])}"
    shown = [f"{k}={v}" for k, v in cfg.items() if v not in (None, [], {}, False)][:3]
    return ", ".join(shown)


def not_run_locally(name: str) -> bool:
    spec = plugin_registry.get(name)
    return spec is not None and not spec.runs_locally


def _num(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


class PluginPanel(QWidget):
    """Plugins (filtered by ``set_filter``) in a table; selecting one opens its editor."""

    sig_changed = Signal()

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self._filter: Callable[[dict[str, Any]], bool] = lambda _p: True
        self.default_scope: tuple[str, str] | None = None
        self.editor: PluginEditor | None = None

        self.model = EntityTableModel([
            Column("name", "plugin", text=self.name_text),
            Column("scope", "applies to", text=self.scope_text),
            Column("enabled", "enabled", text=lambda p: "yes" if p.get("enabled", True) else "no"),
            Column("summary", "settings", text=plugin_summary),
        ], search_keys=("name", "instance_name", "tags"))
        self.proxy = EntityFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        add_row = QHBoxLayout()
        self.add_combo = QComboBox()
        self.add_combo.setAccessibleName("Plugin to add")
        self.add_combo.setMinimumWidth(160)
        self.add_button = QPushButton("+ Add plugin")
        self.add_button.clicked.connect(self.add_selected)
        add_row.addWidget(self.add_combo, 1)
        add_row.addWidget(self.add_button)
        lv.addLayout(add_row)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.table.setAccessibleName("Plugins")
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        lv.addWidget(self.table, 1)
        split.addWidget(left)
        self.editor_holder = QWidget()
        self.editor_layout = QVBoxLayout(self.editor_holder)
        self.editor_layout.setContentsMargins(6, 0, 0, 0)
        self.hint = QLabel("Select a plugin to edit it, or add one.")
        self.hint.setObjectName("Muted")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.editor_layout.addWidget(self.hint)
        split.addWidget(self.editor_holder)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([380, 760])
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(split)
        self.fill_add_combo()

    # -- content -------------------------------------------------------------------------------
    def fill_add_combo(self) -> None:
        cp = self.session.cp
        names = list(cp.capabilities.plugins) if cp is not None and cp.capabilities.plugins else []
        names = names or [s.name for s in plugin_registry.all_specs()] or list(plugin_registry.BUNDLED)
        current = self.add_combo.currentData()
        self.add_combo.clear()
        for n in sorted(names):
            spec = plugin_registry.get(n)
            if self.default_scope is not None and spec is not None and self.default_scope[0] not in spec.scopes:
                continue  # e.g. cors on a consumer group's page: Kong refuses that scope
            self.add_combo.addItem(f"{n}  [{NOT_RUN_BADGE}]" if self._local and not_run_locally(n) else n, n)
        if current:
            self.add_combo.setCurrentIndex(max(self.add_combo.findData(current), 0))

    def set_filter(self, fn: Callable[[dict[str, Any]], bool], default_scope: tuple[str, str] | None = None) -> None:
        self._filter = fn
        self.default_scope = default_scope

    def set_plugins(self, plugins: list[dict[str, Any]]) -> None:
        """Show the plugins that pass the filter; an open editor stays only when its plugin is
        still listed (a new plugin's editor, only when it is scoped where the panel now is)."""
        editor = self.editor
        keep = editor.entity.get("id") if editor is not None and editor.entity else None
        self.model.set_rows([p for p in plugins if self._filter(p)])
        self.table.resizeColumnsToContents()
        if keep and self.model.row_of(keep) is not None:
            self.select_id(keep)
        elif editor is not None and (keep or not self._editor_in_scope(editor)):
            self.close_editor()

    def _editor_in_scope(self, editor: PluginEditor) -> bool:
        if self.default_scope is None:
            return True
        field, ident = self.default_scope
        return bool((editor.scope.value().get(field) or {}).get("id") == ident)

    def name_text(self, p: dict[str, Any]) -> str:
        """The plugin's name, with the "not run locally" badge on the local runtime."""
        name = str(p.get("name") or "")
        return f"{name}  [{NOT_RUN_BADGE}]" if self._local and not_run_locally(name) else name

    @property
    def _local(self) -> bool:
        cp = self.session.cp
        return cp is None or cp.capabilities.kind == "local"

    def scope_text(self, p: dict[str, Any]) -> str:
        parts = []
        for f in SCOPE_FIELDS:
            ref = p.get(f)
            if isinstance(ref, dict) and ref.get("id"):
                name = self.session.name_of(SCOPE_TABLES[f], ref["id"]) or ref["id"][:8]
                parts.append(f"{f.replace('_', ' ')} {name}")
        return " + ".join(parts) or "global"

    def select_id(self, ident: str) -> None:
        r = self.model.row_of(ident)
        if r is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(r, 0))
        self.table.selectionModel().blockSignals(True)
        self.table.setCurrentIndex(idx)
        self.table.selectionModel().blockSignals(False)

    # -- editing -------------------------------------------------------------------------------
    def _selected(self, current: Any, _prev: Any) -> None:
        if not current.isValid():
            return
        p = self.proxy.entity(current.row())
        if self.editor is not None and self.editor.entity is not None and self.editor.entity.get("id") == p.get("id"):
            return
        self.open_editor(p["name"], p)

    def add_selected(self) -> None:
        name = self.add_combo.currentData()
        if name:
            self.table.clearSelection()
            self.open_editor(name, None)

    def open_editor(self, name: str, entity: dict[str, Any] | None) -> None:
        self.runner.run(self._open(name, entity), label=f"Opening {name}", key="open-plugin")

    async def _open(self, name: str, entity: dict[str, Any] | None) -> PluginEditor:
        cp = self.session.cp
        remote = None
        if cp is not None and (cp.capabilities.kind != "local" or plugin_registry.get(name) is None):
            # the gateway's own schema: matches its version, and covers plugins we do not bundle
            remote = await cp.schema(name)
        choices: dict[str, list[tuple[str, str]]] = {}
        for table in SCOPE_TABLES.values():
            try:
                await self.session.ensure(table)
            except Exception:  # a backend without consumer groups: that scope just has no choices
                pass
            choices[table] = self.session.choices(table)
        editor = PluginEditor(
            name, remote_schema=remote, scope_choices=choices,
            strict=cp is None or cp.capabilities.kind == "local",
            save=self._save, delete=self._delete,
            context=FormContext(self.session.choices),
        )
        editor.load(entity)
        if entity is None and self.default_scope is not None:
            editor.set_scope(*self.default_scope)
        editor.sig_saved.connect(self._saved)
        editor.sig_deleted.connect(self._deleted)
        self._show_editor(editor)
        return editor

    def _show_editor(self, editor: PluginEditor) -> None:
        if self.editor is not None:
            self.editor.setParent(None)
            self.editor.deleteLater()
        self.hint.hide()
        self.editor = editor
        self.editor_layout.addWidget(editor)

    async def _save(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        return await self.session.save("plugins", data, existing)

    async def _delete(self, entity: dict[str, Any]) -> None:
        await self.session.delete("plugins", entity["id"])

    def _saved(self, entity: dict[str, Any]) -> None:
        if self._filter(entity):
            self.model.upsert(entity)
            self.select_id(entity["id"])
        self.sig_changed.emit()

    def close_editor(self) -> None:
        if self.editor is not None:
            self.editor.setParent(None)
            self.editor.deleteLater()
            self.editor = None
        self.hint.show()

    def clear(self) -> None:
        """No plugins, no editor (another connection or runtime group was chosen)."""
        self.runner.cancel("open-plugin")
        self.model.set_rows([])
        self.close_editor()

    def _deleted(self, entity: dict[str, Any]) -> None:
        self.model.remove_id(entity["id"])
        self.close_editor()
        self.sig_changed.emit()
