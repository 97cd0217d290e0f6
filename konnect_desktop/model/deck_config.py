"""``Config``, the one in-memory shape of a whole configuration, and the decK vocabulary that
loading (``model.declarative``) and dumping (``model.deck_dump``) share: which tables are consumer
credentials, how a file refers to an entity, the order a dump lists entities in.

A ``Config`` is flat: one list per Kong table, every entity in the Admin API shape with its id and
foreign keys ``{"id": ...}``, plus the file's metadata and what the model does not know, verbatim.
"""

from __future__ import annotations

from typing import Any

from .entities import DEPENDENCY_ORDER

# The credential tables decK nests under consumers.
CREDENTIALS = ("keyauth_credentials", "acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials",
               "oauth2_credentials")

# How decK files refer to an entity of a table: which field holds its name (besides its id).
REF_KEY = {
    "services": "name", "routes": "name", "consumers": "username", "consumer_groups": "name",
    "upstreams": "name", "certificates": None, "ca_certificates": None, "vaults": "prefix",
}
# The order lists take in a dump: by these fields, then by id.
SORT_KEYS = {
    "services": ("name",), "routes": ("name",), "consumers": ("username", "custom_id"),
    "consumer_groups": ("name",), "upstreams": ("name",), "targets": ("target",),
    "certificates": ("cert",), "snis": ("name",), "ca_certificates": ("cert",), "vaults": ("prefix",),
    "keyauth_credentials": ("key",), "acls": ("group",), "basicauth_credentials": ("username",),
    "jwt_secrets": ("key",), "hmacauth_credentials": ("username",), "oauth2_credentials": ("client_id", "name"),
    "plugins": ("name", "instance_name"),
}
TIMESTAMPS = ("created_at", "updated_at")


class Config(dict[str, list[dict[str, Any]]]):
    """A whole configuration: entity lists keyed by Kong table name (every table present, lists
    sorted by id), plus the file's metadata and whatever the model does not know, kept verbatim.

    It is a plain ``dict`` of tables for the store and the replication engine; the metadata rides
    on attributes. Two Configs are equal when tables and metadata are.
    """

    def __init__(
        self,
        tables: dict[str, list[dict[str, Any]]] | None = None,
        *,
        format_version: str = "3.0",
        info: dict[str, Any] | None = None,
        transform: bool | None = None,
        konnect: dict[str, Any] | None = None,
        workspace: str | None = None,
        extra: dict[str, Any] | None = None,
        consumer_extra: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__({t: [] for t in DEPENDENCY_ORDER})
        for t, rows in (tables or {}).items():
            self[t] = list(rows)
        self.format_version = format_version
        self.info: dict[str, Any] = dict(info or {})
        self.transform = transform
        self.konnect = konnect
        self.workspace = workspace
        self.extra: dict[str, Any] = dict(extra or {})  # unmodelled top-level kinds, verbatim
        # unmodelled credential lists per consumer id (oauth2_credentials, ...), verbatim
        self.consumer_extra: dict[str, dict[str, Any]] = dict(consumer_extra or {})

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "_format_version": self.format_version, "_info": self.info, "_transform": self.transform,
            "_konnect": self.konnect, "_workspace": self.workspace,
        }

    @property
    def select_tags(self) -> list[str]:
        return list(self.info.get("select_tags") or [])

    def counts(self) -> dict[str, int]:
        return {t: len(rows) for t, rows in self.items() if rows}

    def entity_count(self) -> int:
        return sum(len(rows) for rows in self.values())

    def sort(self) -> Config:
        for t in self:
            self[t].sort(key=lambda e: str(e.get("id")))
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return dict.__eq__(self, other)
        return (dict.__eq__(self, other) and self.meta == other.meta and self.extra == other.extra
                and self.consumer_extra == other.consumer_extra)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        return f"Config({self.counts()}, format_version={self.format_version!r})"


__all__ = ["CREDENTIALS", "Config", "REF_KEY", "SORT_KEYS", "TIMESTAMPS"]
