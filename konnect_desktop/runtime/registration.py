"""Application registration: what a developer portal does when an app gets access to an API.

One code path for both sides: the app's "Register application…" dialog (through the selected
runtime group's control plane) and the local Dev Portal's approvals (through the runtime's own
store, ``StoreWriter``). Both hand an ``EntityWriter`` -- anything with the control plane's
``create`` / ``update`` / ``delete`` / ``list_all`` / ``add_consumer_to_group`` coroutines -- so
this module needs neither the control planes nor Qt.

``register_application`` makes a consumer, its key-auth key, its consumer-group memberships and
an ACL group entry, and removes the consumer again if a later step fails (its key and memberships
go with it: nothing half-done is left). ``guard_service`` puts key-auth and acl on the service a
product version is implemented by, so only registered apps get through. Revoking is deleting the
consumer: its key, ACL entry and memberships cascade, and the proxy refuses the key from the next
configuration rebuild on.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ..jsontypes import JSONObject
from .store import Store

MEMBERSHIP_TABLE = "consumer_group_consumers"


class EntityWriter(Protocol):
    async def create(self, table: str, data: JSONObject) -> JSONObject: ...

    async def update(self, table: str, id: str, patch: JSONObject) -> JSONObject: ...

    async def delete(self, table: str, id: str) -> None: ...

    async def list_all(self, table: str) -> list[JSONObject]: ...

    async def add_consumer_to_group(self, group: str, consumer: str) -> None: ...


class StoreWriter:
    """``EntityWriter`` over a runtime's own ``Store`` (each call in a worker thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, table: str, data: JSONObject) -> JSONObject:
        return await asyncio.to_thread(self.store.insert, table, data)

    async def update(self, table: str, id: str, patch: JSONObject) -> JSONObject:
        return await asyncio.to_thread(self.store.update, table, id, patch)

    async def delete(self, table: str, id: str) -> None:
        await asyncio.to_thread(self.store.delete, table, id)

    async def list_all(self, table: str) -> list[JSONObject]:
        return await asyncio.to_thread(self.store.all, table)

    async def add_consumer_to_group(self, group: str, consumer: str) -> None:
        def work() -> None:
            g = self.store.get("consumer_groups", group)
            c = self.store.get("consumers", consumer)
            self.store.insert(MEMBERSHIP_TABLE, {"consumer_group": {"id": g["id"]}, "consumer": {"id": c["id"]}})

        await asyncio.to_thread(work)


async def register_application(writer: EntityWriter, name: str, service_id: str | None, group_ids: list[str],
                               acl_group: str | None, *, protect: bool = False, custom_id: str | None = None,
                               extra_tags: list[str] | None = None) -> JSONObject:
    """Consumer + key + memberships (+ ACL group), all or nothing. With ``protect``, key-auth goes
    on the service first when no key-auth plugin applies to it yet (removed again on failure).
    Returns ``{"consumer", "key", "groups", "acl", "plugin"}``; ``key["key"]`` is the secret to
    show once, ``plugin`` the key-auth plugin made here (or None)."""
    tags = ["app"] + ([f"service-{service_id[:8]}"] if service_id else []) + list(extra_tags or [])
    plugin = None
    if protect and service_id:
        plugins = await writer.list_all("plugins")
        if not any(p.get("name") == "key-auth" and (p.get("service") or {}).get("id") == service_id
                   and not p.get("route") and not p.get("consumer") for p in plugins):
            plugin = await writer.create("plugins", {"name": "key-auth", "service": {"id": service_id}, "tags": tags})
    body: JSONObject = {"username": name, "tags": tags}
    if custom_id:
        body["custom_id"] = custom_id
    try:
        consumer = await writer.create("consumers", body)
    except BaseException:
        if plugin is not None:
            await writer.delete("plugins", plugin["id"])
        raise
    result: JSONObject = {"consumer": consumer, "key": None, "groups": group_ids, "acl": None, "plugin": plugin}
    try:
        result["key"] = await writer.create("keyauth_credentials", {"consumer": {"id": consumer["id"]}, "tags": tags})
        for gid in group_ids:
            await writer.add_consumer_to_group(gid, consumer["id"])
        if acl_group:
            result["acl"] = await writer.create("acls", {"consumer": {"id": consumer["id"]}, "group": acl_group})
    except BaseException:
        await unregister(writer, result)
        raise
    return result


async def unregister(writer: EntityWriter, result: JSONObject) -> None:
    """Undo ``register_application``: the consumer (its key, ACL entry and memberships cascade)
    and the key-auth plugin it put on the service, if any."""
    await writer.delete("consumers", result["consumer"]["id"])
    if result.get("plugin") is not None:
        await writer.delete("plugins", result["plugin"]["id"])


async def regenerate_key(writer: EntityWriter, consumer_id: str) -> JSONObject:
    """A new key-auth key for the consumer; its old keys stop working."""
    new = await writer.create("keyauth_credentials", {"consumer": {"id": consumer_id}, "tags": ["app"]})
    for cred in await writer.list_all("keyauth_credentials"):
        if (cred.get("consumer") or {}).get("id") == consumer_id and cred["id"] != new["id"]:
            await writer.delete("keyauth_credentials", cred["id"])
    return new


async def guard_service(writer: EntityWriter, service_id: str, acl_group: str) -> None:
    """key-auth and acl on the service, the acl allowing ``acl_group`` (added to an existing
    allow list; a deny-list acl is left alone and reported)."""
    plugins = [p for p in await writer.list_all("plugins")
               if (p.get("service") or {}).get("id") == service_id and not p.get("route") and not p.get("consumer")]
    by_name = {p["name"]: p for p in plugins}
    if "key-auth" not in by_name:
        await writer.create("plugins", {"name": "key-auth", "service": {"id": service_id}, "tags": ["dev-portal"]})
    acl = by_name.get("acl")
    if acl is None:
        await writer.create("plugins", {"name": "acl", "service": {"id": service_id}, "tags": ["dev-portal"],
                                        "config": {"allow": [acl_group], "hide_groups_header": True}})
        return
    allow = list((acl.get("config") or {}).get("allow") or [])
    if (acl.get("config") or {}).get("deny") and not allow:
        raise ValueError(f"the service's acl plugin uses a deny list; allow group {acl_group!r} by hand")
    if acl_group not in allow:
        await writer.update("plugins", acl["id"], {"config": {"allow": allow + [acl_group]}})


__all__ = ["EntityWriter", "StoreWriter", "guard_service", "regenerate_key", "register_application", "unregister"]
