"""The configuration index the data plane hands to plugins.

``ConfigIndex`` is a :class:`~.base.ConfigView` compiled from a whole configuration
(``dict[table, list[entity]]`` in Admin API shape, what ``Store.export()`` returns): consumers by
id and username, credentials by key, ACL groups and consumer-group memberships per consumer, all
looked up in O(1) on the hot path. (The :class:`~.base.RuntimeServices` the runtime hands to
plugins is ``runtime.dataplane.Services``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.schema import foreign_id

# which field of a credential table is its lookup key
CREDENTIAL_KEYS: dict[str, str] = {
    "keyauth_credentials": "key",
    "basicauth_credentials": "username",
    "jwt_secrets": "key",
    "hmacauth_credentials": "username",
    "oauth2_credentials": "client_id",
}


class ConfigIndex:
    """A read-only, indexed view of consumers, credentials, ACLs and consumer groups."""

    def __init__(self) -> None:
        self._consumers: dict[str, dict[str, Any]] = {}
        self._by_username: dict[str, dict[str, Any]] = {}
        self._credentials: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in CREDENTIAL_KEYS}
        self._credentials_by_id: dict[str, dict[str, Any]] = {}
        self._acls: dict[str, list[str]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        self._memberships: dict[str, list[dict[str, Any]]] = {}
        self._group_ids: dict[str, tuple[str, ...]] = {}

    @classmethod
    def build(cls, config: Mapping[str, list[dict[str, Any]]]) -> ConfigIndex:
        ix = cls()
        for c in config.get("consumers", ()):
            ix._consumers[c["id"]] = c
            if c.get("username"):
                ix._by_username[c["username"]] = c
        for table, key_field in CREDENTIAL_KEYS.items():
            for cred in config.get(table, ()):
                key = cred.get(key_field)
                if isinstance(key, str):
                    ix._credentials[table][key] = cred
                if isinstance(cred.get("id"), str):
                    ix._credentials_by_id[cred["id"]] = cred
        for acl in config.get("acls", ()):
            cid = foreign_id(acl.get("consumer"))
            if cid and isinstance(acl.get("group"), str):
                groups = ix._acls.setdefault(cid, [])
                if acl["group"] not in groups:
                    groups.append(acl["group"])
        for g in config.get("consumer_groups", ()):
            ix._groups[g["id"]] = g
        for m in config.get("consumer_group_consumers", ()):
            cid, gid = foreign_id(m.get("consumer")), foreign_id(m.get("consumer_group"))
            if cid and gid and gid in ix._groups:
                ix._memberships.setdefault(cid, []).append(ix._groups[gid])
        for members in ix._memberships.values():
            members.sort(key=lambda g: str(g.get("name") or ""))
        return ix

    # -- ConfigView -----------------------------------------------------------------------------
    def consumer(self, id_or_username: str) -> dict[str, Any] | None:
        return self._consumers.get(id_or_username) or self._by_username.get(id_or_username)

    def credential(self, table: str, key: str) -> dict[str, Any] | None:
        return self._credentials.get(table, {}).get(key)

    def credential_by_id(self, credential_id: str) -> dict[str, Any] | None:
        """Any credential by its id (ids are UUIDs, unique across tables)."""
        return self._credentials_by_id.get(credential_id)

    def acl_groups(self, consumer_id: str) -> list[str]:
        return list(self._acls.get(consumer_id, ()))

    def consumer_groups(self, consumer_id: str) -> list[dict[str, Any]]:
        return list(self._memberships.get(consumer_id, ()))

    def group_ids(self, consumer_id: str) -> tuple[str, ...]:
        """The ids of the consumer's groups, in ``consumer_groups`` order (the chain resolver's
        key; computed once per consumer)."""
        ids = self._group_ids.get(consumer_id)
        if ids is None:
            ids = self._group_ids[consumer_id] = tuple(g["id"] for g in self._memberships.get(consumer_id, ()))
        return ids


__all__ = ["ConfigIndex", "CREDENTIAL_KEYS"]
