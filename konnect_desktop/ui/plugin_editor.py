"""The plugin editor: the generic schema form plus scope, enable toggle and a few hand-tuned layouts.

The form comes from the plugin's config schema: the bundled plugin's own ``PluginSpec.config`` for
the local runtime, or a remote gateway's ``/schemas/plugins/{name}`` rebuilt with
``field_from_kong`` (so a plugin this app does not bundle is editable too). Only the layout is
hand-tuned, and only where it helps: rate-limiting shows its limits per period side by side, the
transformers show their five steps in the order they run.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .. import plugins as plugin_registry
from ..model.entities import PLUGIN_SCHEMA
from ..model.schema import Field, Schema, field_from_kong
from .entity_editor import DeleteFn, EntityEditor, SaveFn
from .forms import FormContext, FormLayout
from .theme import badge

PERIODS = ["second", "minute", "hour", "day", "month", "year"]
TRANSFORM_STEPS = ["remove", "rename", "replace", "add", "append"]

PLUGIN_LAYOUTS: dict[str, FormLayout] = {
    "rate-limiting": FormLayout(
        order=[*PERIODS, "limit_by", "header_name", "path", "policy", "redis"],
        groups=[("Limits", PERIODS)],
        radio={"policy"},
        titles={"limit_by": "Limit by", "hide_client_headers": "Hide client headers"},
        visible_when={
            "header_name": ("limit_by", ("header",)),
            "path": ("limit_by", ("path",)),
            "redis": ("policy", ("redis",)),
        },
    ),
    "request-transformer": FormLayout(
        order=["http_method", *TRANSFORM_STEPS],
        titles={s: f"{i + 1}. {s.capitalize()}" for i, s in enumerate(TRANSFORM_STEPS)},
        horizontal=set(TRANSFORM_STEPS),
        sub={s: FormLayout(order=["headers", "querystring", "body"]) for s in TRANSFORM_STEPS},
    ),
    "response-transformer": FormLayout(
        order=TRANSFORM_STEPS,
        titles={s: f"{i + 1}. {s.capitalize()}" for i, s in enumerate(TRANSFORM_STEPS)},
        horizontal=set(TRANSFORM_STEPS),
        sub={s: FormLayout(order=["headers", "json", "json_types"]) for s in TRANSFORM_STEPS},
    ),
}

SCOPES = [
    ("global", None, "Global (every request)"),
    ("service", "services", "Service"),
    ("route", "routes", "Route"),
    ("consumer", "consumers", "Consumer"),
    ("consumer_group", "consumer_groups", "Consumer group"),
]
SCOPE_FIELDS = ("service", "route", "consumer", "consumer_group")
NOT_RUN_BADGE = "not run locally"


def plugin_entity_fields(name: str, remote_schema: dict[str, Any] | None = None) -> list[tuple[str, Field]]:
    """The plugin entity's fields with this plugin's config record.

    ``remote_schema`` is a gateway's ``/schemas/plugins/{name}`` JSON; without it the bundled spec
    is used. Returns the common fields with an empty config when neither knows the plugin.
    """
    remote: dict[str, Field] = {}
    if remote_schema is not None:
        for item in remote_schema.get("fields", []):
            for fname, fdef in item.items():
                if fname in ("config", "protocols", *SCOPE_FIELDS):
                    remote[fname] = field_from_kong(fdef)
    if "config" not in remote:
        schema = plugin_registry.entity_schema(name)
        return list(schema.fields)
    out = []
    for fname, f in PLUGIN_SCHEMA.fields:
        if fname in SCOPE_FIELDS and fname not in remote:
            # a gateway whose schema lacks the field (Kong OSS has no consumer groups): refused
            f = f.with_(eq=None)
        out.append((fname, remote.get(fname, f)))
    return out


def allowed_scopes(fields: list[tuple[str, Field]]) -> tuple[str, ...]:
    """The scope fields a plugin accepts: those its schema does not pin to null (``eq = null``,
    Kong's typedefs.no_consumer and friends)."""
    by_name = dict(fields)
    return tuple(k for k in SCOPE_FIELDS if k in by_name and by_name[k].eq is not None)


def plugin_layout(name: str) -> FormLayout:
    return FormLayout(
        order=["config"],
        titles={"config": "Configuration"},
        sub={"config": PLUGIN_LAYOUTS.get(name, FormLayout())},
    )


class ScopeChooser(QWidget):
    """Where a plugin applies: globally, or to one service, route, consumer or consumer group."""

    sig_changed = Signal()

    def __init__(self, choices: dict[str, list[tuple[str, str]]], allowed: tuple[str, ...] = SCOPE_FIELDS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(QLabel("Scope"))
        self.kind = QComboBox()
        self.kind.setAccessibleName("Scope kind")
        for key, _table, label in SCOPES:
            if key != "global" and key not in allowed:
                continue  # Kong refuses this plugin there ("value must be null")
            self.kind.addItem(label, key)
        self.target = QComboBox()
        self.target.setAccessibleName("Scope target")
        self.target.setMinimumWidth(160)
        h.addWidget(self.kind)
        h.addWidget(self.target, 1)
        self.choices = choices
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.target.currentIndexChanged.connect(self.sig_changed)
        self._kind_changed()

    def _kind_changed(self, *_: Any) -> None:
        key = self.kind.currentData()
        table = dict((k, t) for k, t, _ in SCOPES).get(key)
        self.target.blockSignals(True)
        self.target.clear()
        for label, ident in self.choices.get(table or "", []):
            self.target.addItem(label, ident)
        self.target.blockSignals(False)
        self.target.setEnabled(table is not None)
        self.target.setVisible(table is not None)
        self.sig_changed.emit()

    def value(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: None for f in SCOPE_FIELDS}
        key = self.kind.currentData()
        ident = self.target.currentData()
        if key != "global" and ident:
            out[key] = {"id": ident}
        return out

    def set_value(self, entity: dict[str, Any]) -> None:
        key, ident = "global", None
        for f in SCOPE_FIELDS:
            ref = entity.get(f)
            if isinstance(ref, dict) and ref.get("id"):
                key, ident = f, ref["id"]
                break
        idx = self.kind.findData(key)
        if idx < 0 and key != "global":
            # stored where this plugin may not be (e.g. written elsewhere): show it as it is, so a
            # save gets Kong's error instead of silently moving the plugin to global
            self.kind.addItem(dict((k, label) for k, _t, label in SCOPES)[key], key)
            idx = self.kind.count() - 1
        self.kind.setCurrentIndex(max(idx, 0))
        if ident:
            t = self.target.findData(ident)
            if t < 0:
                self.target.addItem(ident, ident)
                t = self.target.count() - 1
            self.target.setCurrentIndex(t)

    def describe(self) -> str:
        key = self.kind.currentData()
        if key == "global":
            return "global"
        return f"{key.replace('_', ' ')}: {self.target.currentText()}"


class PluginEditor(EntityEditor):
    """One plugin instance: header (name, scope, enabled), then Form/YAML of its configuration."""

    def __init__(
        self,
        name: str,
        *,
        remote_schema: dict[str, Any] | None = None,
        scope_choices: dict[str, list[tuple[str, str]]] | None = None,
        strict: bool = True,
        save: SaveFn | None = None,
        delete: DeleteFn | None = None,
        context: FormContext | None = None,
        parent: QWidget | None = None,
    ) -> None:
        self.plugin_name = name
        self.spec = plugin_registry.get(name)
        self.remote_schema = remote_schema
        self.strict = strict
        header = QWidget()
        hv = QVBoxLayout(header)
        hv.setContentsMargins(0, 0, 0, 4)
        top = QHBoxLayout()
        title = QLabel(name)
        title.setObjectName("PageTitle")
        top.addWidget(title)
        top.addStretch(1)
        fields = plugin_entity_fields(name, remote_schema)
        if strict and self.spec is not None and not self.spec.runs_locally:
            # the local runtime carries this plugin but does not run it (plugins.not_run)
            self.not_run_badge: QLabel | None = badge(NOT_RUN_BADGE, "warn")
            self.not_run_badge.setToolTip(f"The local runtime does not run {name}: {self.spec.not_run}.")
            top.addWidget(self.not_run_badge)
        else:
            self.not_run_badge = None
        self.scope = ScopeChooser(scope_choices or {}, allowed=allowed_scopes(fields))
        top.addWidget(self.scope, 2)
        self.enabled = QCheckBox("enabled")
        self.enabled.setChecked(True)
        self.enabled.setAccessibleName("Plugin enabled")
        top.addWidget(self.enabled)
        hv.addLayout(top)
        desc = self.spec.description if self.spec else (
            "Form from the gateway's schema." if remote_schema else "Plugin not bundled: configuration is edited as given.")
        about = QLabel(desc)
        about.setObjectName("Muted")
        about.setWordWrap(True)
        hv.addWidget(about)
        self._schema = Schema("plugins", fields, list(self.spec.entity_checks) if self.spec and remote_schema is None else [])
        super().__init__(
            "plugins", fields=fields, layout=plugin_layout(name),
            hide=("name", *SCOPE_FIELDS, "enabled"), context=context, save=save, delete=delete,
            validate=self._validate, header=header, parent=parent,
        )
        self.scope.sig_changed.connect(self._scope_changed)
        self.enabled.toggled.connect(self._enabled_changed)

    # -- hidden fields driven by the header --------------------------------------------------
    def _scope_changed(self) -> None:
        for k, v in self.scope.value().items():
            self.form.set_hidden_value(k, v)

    def _enabled_changed(self, on: bool) -> None:
        self.form.set_hidden_value("enabled", on)

    def new_entity(self) -> dict[str, Any]:
        data, _ = self._schema.check({"name": self.plugin_name})
        return {k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")}

    def load(self, entity: dict[str, Any] | None) -> None:
        super().load(entity)
        data = entity or {}
        self.scope.blockSignals(True)
        self.scope.set_value(data)
        self.scope.blockSignals(False)
        self.enabled.blockSignals(True)
        self.enabled.setChecked(data.get("enabled", True) is not False)
        self.enabled.blockSignals(False)
        self.form.set_hidden_value("name", self.plugin_name)
        self._scope_changed()
        self.form.set_hidden_value("enabled", self.enabled.isChecked())
        self._sync_yaml()
        self._set_dirty(False)

    def set_scope(self, key: str, ident: str | None) -> None:
        """Preselect a scope (the Service Hub opens the editor on its service or route)."""
        ent = {key: {"id": ident}} if ident else {}
        self.scope.set_value(ent)
        self._scope_changed()

    # -- validation ------------------------------------------------------------------------
    def _validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.remote_schema is None:
            _, errors = plugin_registry.check_plugin(data, strict=self.strict)
            return errors
        _, errors = self._schema.check(data)
        return errors
