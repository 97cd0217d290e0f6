"""What the Dev Portal does, without HTTP: request access, approve, reject, revoke, new key.

``PortalService`` joins the catalog (what is published, with which policy), the portal's accounts
and ``runtime.registration`` (the consumer, key, groups and service guard an approval creates).
The web pages (``portal.server``) and the app's approvals list call the same methods, so a
registration approved in the app shows its key on the developer's next portal page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ...jsontypes import JSONObject
from ...model.errors import KongError
from ..catalog import Catalog
from ..registration import StoreWriter, guard_service, regenerate_key, register_application
from ..store import Store
from .accounts import Accounts, FormError

P = ParamSpec("P")
T = TypeVar("T")


def _consumer_name(reg: JSONObject) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{reg['app_name']}-{reg['product']}-{reg['version']}").strip("-")
    return f"{base[:80]}-{reg['id'][:8]}"


class PortalService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.catalog = Catalog(store)
        self.accounts = Accounts(store)
        self.writer = StoreWriter(store)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def request_access(self, developer_id: str, app_id: str, version_id: str) -> JSONObject:
        """A registration for the developer's app: approved at once (``auto``) or ``pending``."""
        app = await self._run(self.accounts.app, developer_id, app_id)
        if app is None:
            raise FormError("app", "Choose one of your applications.")
        try:
            version = await self._run(self.catalog.get_version, version_id)
        except Exception:
            version = None
        if version is None or not version["published"]:
            raise FormError("version", "This API version is not published.")
        if version["registration"] == "off":
            raise FormError("version", "This API version does not take registrations.")
        if not version["service"]:
            raise FormError("version", "This API version has no implementation yet; ask the operator.")
        rid = await self._run(self.accounts.new_registration, app_id, version_id)
        if version["registration"] == "auto":
            await self.approve(rid)
        reg = await self._run(self.accounts.registration, rid)
        if reg is None:  # deleted by the operator in between
            raise FormError("app", "The registration was removed meanwhile; try again.")
        return reg

    async def approve(self, registration_id: str) -> str:
        """Create the consumer, key, memberships and ACL entry, guard the service; returns the
        key (also kept for the developer's next page). Approving twice is refused."""
        reg = await self._run(self.accounts.registration, registration_id)
        if reg is None:
            raise FormError("registration", "No such registration.")
        if reg["status"] == "approved":
            raise FormError("registration", "Already approved.")
        version = await self._run(self.catalog.get_version, reg["version_id"])
        groups = [version["consumer_group"]] if version["consumer_group"] else []
        await guard_service(self.writer, version["service"], version["acl_group"])
        result = await register_application(self.writer, _consumer_name(reg), version["service"], groups,
                                            version["acl_group"], custom_id=f"portal-{reg['id']}",
                                            extra_tags=["dev-portal"])
        key = str(result["key"]["key"])
        await self._run(self.accounts.set_status, registration_id, "approved", result["consumer"]["id"], key)
        return key

    async def reject(self, registration_id: str) -> None:
        reg = await self._run(self.accounts.registration, registration_id)
        if reg is None or reg["status"] != "pending":
            raise FormError("registration", "Only a pending registration can be rejected.")
        await self._run(self.accounts.set_status, registration_id, "rejected", None)

    async def revoke(self, registration_id: str) -> None:
        """Delete the registration's consumer (its key, ACL entry and memberships go with it)."""
        reg = await self._run(self.accounts.registration, registration_id)
        if reg is None:
            raise FormError("registration", "No such registration.")
        if reg["consumer_id"]:
            try:
                await self.writer.delete("consumers", reg["consumer_id"])
            except KongError:  # already gone (deleted in the Consumers page): still revoked
                pass
        await self._run(self.accounts.set_status, registration_id, "revoked", None)

    async def delete_version(self, version_id: str) -> None:
        """Revoke the version's approved registrations (their keys stop working), then delete it:
        deleting the catalog row alone would leave working keys behind."""
        for reg in await self._run(self.accounts.registrations):
            if reg["version_id"] == version_id and reg["status"] == "approved":
                await self.revoke(reg["id"])
        await self._run(self.catalog.delete_version, version_id)

    async def delete_product(self, product_id: str) -> None:
        for v in await self._run(self.catalog.list_versions, product_id):
            await self.delete_version(v["id"])
        await self._run(self.catalog.delete_product, product_id)

    async def new_key(self, developer_id: str, registration_id: str) -> str:
        """A fresh key for the developer's own approved registration; the old one stops working."""
        reg = await self._run(self.accounts.registration, registration_id)
        if reg is None or reg["developer_id"] != developer_id or reg["status"] != "approved":
            raise FormError("registration", "No approved registration of yours with this id.")
        cred = await regenerate_key(self.writer, reg["consumer_id"])
        return str(cred["key"])


__all__ = ["PortalService"]
