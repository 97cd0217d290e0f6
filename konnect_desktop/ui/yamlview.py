"""The YAML tab: any entity as the decK fragment a user would paste into a ``kong.yaml``.

decK writes entities without timestamps and unset fields, with foreign keys by name where it can
and children nested under their parent (a service's routes and plugins). Secret fields are masked
unless the user asks to reveal them (rule 5: screens show secrets masked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..model.entities import ENTITIES

MASK = "********"
DROP = ("created_at", "updated_at")
NameOf = Callable[[str, str], str | None]  # (table, id) -> display name


def clean_entity(table: str, e: dict[str, Any], *, name_of: NameOf | None = None, reveal: bool = False,
                 keep_id: bool = True, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """An entity as decK writes it: no nulls, no timestamps, foreign keys by name, secrets masked."""
    d = ENTITIES.get(table)
    secret = {n for n, f in d.schema.fields if f.secret} if d else set()
    out: dict[str, Any] = {}
    for k, v in e.items():
        if v is None or k in DROP or k in drop or (k == "id" and not keep_id):
            continue
        if isinstance(v, dict) and set(v) == {"id"} and d and k in d.foreign_keys:
            ref = d.foreign_keys[k].reference or ""
            name = name_of(ref, v["id"]) if name_of else None
            v = name or v["id"]
        if k in secret and not reveal:
            v = MASK
        if table == "plugins" and k == "config" and isinstance(v, dict):
            v = _mask_config(e.get("name"), v, reveal)
        out[k] = v
    return out


def _mask_config(name: Any, config: dict[str, Any], reveal: bool) -> dict[str, Any]:
    if reveal:
        return config
    try:
        from ..plugins import get

        spec = get(name) if isinstance(name, str) else None
    except Exception:  # the registry is optional here; mask nothing rather than fail
        spec = None
    if spec is None or not spec.config.fields:
        return config
    return _mask_record(spec.config.fields, config)


def _mask_record(fields: list[tuple[str, Any]], value: dict[str, Any]) -> dict[str, Any]:
    fmap = dict(fields)
    out = {}
    for k, v in value.items():
        f = fmap.get(k)
        if f is not None and f.secret and v is not None:
            out[k] = MASK
        elif f is not None and f.type == "record" and f.fields and isinstance(v, dict):
            out[k] = _mask_record(f.fields, v)
        else:
            out[k] = v
    return out


def deck_fragment(table: str, entity: dict[str, Any], *, children: dict[str, list[dict[str, Any]]] | None = None,
                  name_of: NameOf | None = None, reveal: bool = False) -> str:
    """``services: [- name: echo ... routes: [...]]`` for one entity and its nested children."""
    d = ENTITIES.get(table)
    key = (d.deck_key if d else None) or table
    item = clean_entity(table, entity, name_of=name_of, reveal=reveal)
    for child_table, rows in (children or {}).items():
        if not rows:
            continue
        cd = ENTITIES.get(child_table)
        ckey = (cd.deck_key if cd else None) or child_table
        # nested children name their parent by nesting, not by a foreign key
        parent_fk = {n for n, f in (cd.foreign_keys.items() if cd else []) if f.reference == table}
        item[ckey] = [clean_entity(child_table, r, name_of=name_of, reveal=reveal, drop=tuple(parent_fk)) for r in rows]
    doc = {"_format_version": "3.0", key: [item]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


class YamlView(QWidget):
    """Read-only YAML with Copy and a Reveal-secrets toggle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("YAML")
        v.addWidget(self.text, 1)
        row = QHBoxLayout()
        self.reveal = QCheckBox("Reveal secrets")
        self.reveal.toggled.connect(lambda _on: self._render())
        row.addWidget(self.reveal)
        row.addStretch(1)
        self.copy = QPushButton("Copy")
        self.copy.setAccessibleName("Copy YAML")
        self.copy.clicked.connect(self.copy_to_clipboard)
        row.addWidget(self.copy)
        v.addLayout(row)
        self._render_fn: Callable[[bool], str] | None = None

    def set_source(self, render: Callable[[bool], str] | None) -> None:
        """``render(reveal) -> yaml``; called again when Reveal is toggled."""
        self._render_fn = render
        self._render()

    def _render(self) -> None:
        self.text.setPlainText(self._render_fn(self.reveal.isChecked()) if self._render_fn else "")

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
