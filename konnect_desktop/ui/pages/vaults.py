"""Vaults: where ``{vault://prefix/…}`` references in plugin settings are resolved. A list and
the schema-generated form (prefix, vault name, description, config)."""

from __future__ import annotations

from ..forms import FormLayout
from ..models import Column
from .entity_page import EntityListPage


class VaultsPage(EntityListPage):
    title = "Vaults"
    table = "vaults"
    noun = "vault"
    form_layout = FormLayout(order=["prefix", "name", "description", "config", "tags"])
    search_keys = ("prefix", "name", "description", "tags", "id")

    def columns(self) -> list[Column]:
        return [Column("prefix", "prefix"), Column("name", "vault"), Column("description", "description"),
                Column("tags", "tags")]
