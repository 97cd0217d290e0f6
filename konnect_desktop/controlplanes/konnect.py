"""Kong Konnect: control planes (runtime groups) in a region, their nodes and core entities.

* Region ``us|eu|au|me|in|sg`` → ``https://{region}.api.konghq.com``; ``base_url`` overrides it
  (tests point it at a local server that checks every exchange against Konnect's OpenAPI files).
* Token: a personal (``kpat_…``) or system-account (``spat_…``) access token, sent as
  ``Authorization: Bearer``; held as a ``Secret`` and never shown unmasked.
* Control planes: ``GET /v2/control-planes`` paged with ``page[size]``/``page[number]``, filtered
  with ``filter[name][eq|contains]``; ``POST`` creates one.
* Core entities: Kong's Admin API under ``/v2/control-planes/{id}/core-entities``. Differences the
  OpenAPI file shows and this client absorbs: there is no PATCH (an update is GET, merge the way
  Kong merges, PUT), nulls are not accepted in bodies nor returned (we strip them on the way out
  and put them back on the way in, so entities keep the Admin API shape), ``next`` is omitted on
  the last page.
* Errors: problem+json (``detail``, ``invalid_parameters``) and ``{"message"}`` bodies map onto
  the common hierarchy.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx

from ..credentials import Secret
from ..jsontypes import JSONObject
from ..model.entities import DEPENDENCY_ORDER, ENTITIES
from ..model.schema import is_uuid
from .base import Capabilities, Node, Parent, RuntimeGroup
from .errors import ApiError, NotFound, Unsupported
from .kong_admin import (
    NESTED,
    AdminApiControlPlane,
    HttpOptions,
    RetryHook,
    RetryPolicy,
    _Http,
    _segment,
)

REGIONS: tuple[str, ...] = ("us", "eu", "au", "me", "in", "sg")
READ_ONLY_FIELDS = ("created_at", "updated_at")
# Konnect control planes whose entities are managed elsewhere: editing them is refused.
READ_ONLY_CLUSTER_TYPES = ("CLUSTER_TYPE_CONTROL_PLANE_GROUP", "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER")
NODE_FRESH_SECONDS = 300  # a node that pinged within this window counts as connected

# Konnect has no oauth2 plugin (its tokens need the gateway's database): no oauth2_credentials
# collection under core-entities.
KONNECT_TABLES: tuple[str, ...] = tuple(t for t in DEPENDENCY_ORDER if t != "oauth2_credentials")


def region_url(region: str) -> str:
    if region not in REGIONS:
        raise ValueError(f"unknown Konnect region '{region}' (expected one of: {', '.join(REGIONS)})")
    return f"https://{region}.api.konghq.com"


def token_kind(token: str | Secret) -> str:
    """``personal`` (kpat_), ``system-account`` (spat_) or ``unknown``."""
    value = token.reveal() if isinstance(token, Secret) else token
    if value.startswith("kpat_"):
        return "personal"
    if value.startswith("spat_"):
        return "system-account"
    return "unknown"


def _group(cp: JSONObject) -> RuntimeGroup:
    return RuntimeGroup(
        id=cp["id"], name=cp.get("name", ""), description=cp.get("description") or "",
        labels=dict(cp.get("labels") or {}), kind="konnect",
        extra={k: cp.get(k) for k in ("config", "created_at", "updated_at")},
    )


class KonnectControlPlane(AdminApiControlPlane):
    """One Konnect organisation region; entity operations go to the selected control plane."""

    kind = "konnect"

    def __init__(
        self,
        region: str = "us",
        token: str | Secret = "",
        control_plane: str | None = None,
        *,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        secret = Secret(token)
        if not secret:
            raise ValueError("a Konnect access token is required (kpat_… or spat_…)")
        self.region = region
        self._base = (base_url or region_url(region)).rstrip("/")
        self.token_kind = token_kind(secret)
        options = HttpOptions(headers=dict(headers or {}), verify=verify, ca_file=ca_file, timeout=timeout,
                              connect_timeout=connect_timeout, retry=retry or RetryPolicy())
        super().__init__(_Http(self._base, options, {"Authorization": Secret(f"Bearer {secret.reveal()}")}, on_retry))
        self.capabilities = Capabilities(kind=self.kind, konnect=True, supports_patch=False, tables=KONNECT_TABLES)
        self._wanted = control_plane
        self._cp: JSONObject | None = None

    # -- identity ------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        where = f"Konnect {self.region}" if self._base == region_url(self.region) else f"Konnect at {self._base}"
        cp = (self._cp or {}).get("name") or self._wanted
        return f"{where} / {cp}" if cp else where

    @property
    def control_plane(self) -> JSONObject | None:
        """The selected control plane object (after the first operation), or None."""
        return self._cp

    async def select(self, control_plane: str) -> JSONObject:
        """Switch entity operations to ``control_plane`` (id or name); returns its object."""
        self._wanted, self._cp = control_plane, None
        await self._prepare()
        assert self._cp is not None
        return self._cp

    async def _prepare(self) -> None:
        if self._cp is not None:
            return
        if not self._wanted:
            raise Unsupported("choose a Konnect control plane first (none selected)", target=self.target)
        if is_uuid(self._wanted):
            _, cp = await self._http.request("GET", f"/v2/control-planes/{self._wanted}")
        else:
            found = await self.find_groups(name=self._wanted)
            if not found:
                raise NotFound(f"no Konnect control plane named '{self._wanted}'", target=self.target)
            cp = found[0]
        if not isinstance(cp, dict) or "id" not in cp:
            raise ApiError("unexpected control plane answer", body=cp, target=self.target)
        self._cp = cp
        self._set_capabilities()

    def _set_capabilities(self) -> None:
        cluster_type = ((self._cp or {}).get("config") or {}).get("cluster_type")
        self.capabilities = Capabilities(
            kind=self.kind, writable=cluster_type not in READ_ONLY_CLUSTER_TYPES, dbless=False,
            consumer_groups=True, konnect=True, supports_tags=True, supports_patch=False,
            version=None, probed=True, tables=KONNECT_TABLES,
        )

    def _root(self) -> str:
        if self._cp is None:  # _prepare runs first on every entity operation
            raise Unsupported("choose a Konnect control plane first (none selected)", target=self.target)
        return f"/v2/control-planes/{self._cp['id']}/core-entities"

    async def probe(self) -> Capabilities:
        self._cp = None
        await self._prepare()
        return self.capabilities

    # -- control planes (runtime groups) -------------------------------------------------------
    async def find_groups(
        self, *, name: str | None = None, name_contains: str | None = None, page_size: int = 100
    ) -> list[JSONObject]:
        """Control plane objects, all pages, optionally filtered by name."""
        params: JSONObject = {"page[size]": page_size}
        if name is not None:
            params["filter[name][eq]"] = name
        if name_contains is not None:
            params["filter[name][contains]"] = name_contains
        out: list[JSONObject] = []
        number = 1
        while True:
            _, body = await self._http.request("GET", "/v2/control-planes", params={**params, "page[number]": number})
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ApiError("unexpected answer listing control planes", body=body, target=self.target)
            data = body["data"]
            out.extend(data)
            total = ((body.get("meta") or {}).get("page") or {}).get("total")
            if not data or (isinstance(total, int) and len(out) >= total) or len(data) < page_size:
                return out
            number += 1

    async def list_groups(self, name_contains: str | None = None) -> list[RuntimeGroup]:
        return [_group(cp) for cp in await self.find_groups(name_contains=name_contains)]

    async def create_group(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: dict[str, str] | None = None,
        cluster_type: str = "CLUSTER_TYPE_CONTROL_PLANE",
    ) -> RuntimeGroup:
        """Create a control plane in this region."""
        body: JSONObject = {"name": name, "cluster_type": cluster_type}
        if description is not None:
            body["description"] = description
        if labels:
            body["labels"] = labels
        _, cp = await self._http.request("POST", "/v2/control-planes", json=body)
        if not isinstance(cp, dict) or "id" not in cp:
            raise ApiError("unexpected answer creating a control plane", body=cp, target=self.target)
        return _group(cp)

    async def delete_group(self, id: str) -> None:
        await self._http.request("DELETE", f"/v2/control-planes/{_segment(id)}")
        if self._cp and self._cp.get("id") == id:
            self._cp = None

    async def info(self) -> JSONObject:
        await self.probe()
        assert self._cp is not None
        nodes = await self.nodes()
        versions = sorted({n.version for n in nodes if n.version})
        return {
            "kind": self.kind,
            "target": self.target,
            "region": self.region,
            "token_kind": self.token_kind,
            "control_plane_id": self._cp["id"],
            "control_plane_name": self._cp.get("name"),
            "cluster_type": (self._cp.get("config") or {}).get("cluster_type"),
            "labels": self._cp.get("labels") or {},
            "version": versions[-1] if versions else None,
            "node_count": len(nodes),
        }

    async def nodes(self) -> list[Node]:
        await self._prepare()
        assert self._cp is not None
        path = f"/v2/control-planes/{self._cp['id']}/nodes"
        out: list[Node] = []
        after: str | None = None
        seen: set[str] = set()
        now = time.time()
        while True:
            params: JSONObject = {"page[size]": 100}
            if after:
                params["page[after]"] = after
            _, body = await self._http.request("GET", path, params=params)
            items = (body or {}).get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ApiError("unexpected answer listing nodes", body=body, target=self.target)
            for it in items:
                last = it.get("last_ping")
                state = ((it.get("compatibility_status") or {}).get("state") or "")
                fresh = isinstance(last, (int, float)) and now - last < NODE_FRESH_SECONDS
                out.append(Node(
                    id=str(it.get("id")), hostname=it.get("hostname"), version=it.get("version"),
                    last_seen=float(last) if isinstance(last, (int, float)) else None,
                    status="connected" if fresh else "disconnected",
                    extra={"type": it.get("type"), "config_hash": it.get("config_hash"), "compatibility": state or None},
                ))
            nxt = ((body.get("page") or {}).get("next")) if isinstance(body, dict) else None
            if not nxt or not items:
                return out
            # ``next`` may be the cursor itself or a URL carrying it as page[after]
            token = parse_qs(urlsplit(nxt).query).get("page[after]", [nxt])[0] if "?" in nxt else nxt
            if token in seen:
                raise ApiError("the server repeated a node page cursor", target=self.target)
            seen.add(token)
            after = token

    # -- entity bodies -------------------------------------------------------------------------
    def _body(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        """Konnect refuses nulls and, on nested paths, the parent reference (it comes from the URL);
        input shorthands (a service's ``url``) are expanded, as its schema wants ``host``."""
        try:
            data = ENTITIES[table].expand(dict(data))
        except Exception:  # a malformed shorthand: _check reports it with Kong's words
            pass
        out = {k: v for k, v in data.items() if v is not None}
        if parent is not None and (parent[0], table) in NESTED:
            for fname, f in ENTITIES[table].foreign_keys.items():
                if f.reference == parent[0]:
                    out.pop(fname, None)
        return out

    def _check(self, table: str, data: JSONObject, key: str | None = None, parent: Parent | None = None) -> None:
        """Validate with the model before sending: Konnect's schema refuses what Kong's would, and
        this way the error names the fields in Kong's words. Plugins we do not bundle pass as-is."""
        from ..model import check_entity
        from ..model.errors import schema_violation

        data = dict(data)
        ek = ENTITIES[table].endpoint_key
        if key is not None and ek and not is_uuid(key):
            data[ek] = key  # PUT /services/<name>: the URL supplies the name
        if parent is not None:  # the parent in the URL supplies the foreign key
            pid = parent[1] if is_uuid(parent[1]) else str(uuid.UUID(int=0))
            for fname, f in ENTITIES[table].foreign_keys.items():
                if f.reference == parent[0]:
                    data[fname] = {"id": pid}
        _, errors = check_entity(table, data, strict=False)
        if errors:
            exc = schema_violation(errors)
            raise ApiError(exc.message, status=exc.status, code=exc.code, name=exc.name, fields=exc.fields,
                           body=exc.to_dict(), target=self.target)

    async def create(self, table: str, data: JSONObject, parent: Parent | None = None) -> JSONObject:
        self._check(table, data, parent=parent)
        return await super().create(table, data, parent)

    async def upsert(self, table: str, id_or_key: str, data: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        self._check(table, data, id_or_key, parent)
        return await super().upsert(table, id_or_key, data, parent=parent)

    async def update(self, table: str, id: str, patch: JSONObject, *, parent: Parent | None = None) -> JSONObject:
        """Konnect has no PATCH: read, merge as Kong's PATCH would, write back with PUT.

        Not atomic: a concurrent writer between the read and the write is overwritten.
        """
        await self._prepare()
        self._check_writable()
        current = await self.get(table, id, parent=parent)
        if table == "plugins":
            from ..plugins import entity_schema

            merged = entity_schema(current.get("name")).merge(current, patch)
        else:
            merged = ENTITIES[table].schema.merge(current, patch)
        for f in READ_ONLY_FIELDS:
            merged.pop(f, None)
        return await self.upsert(table, current.get("id") or id, merged, parent=parent)


__all__ = ["KonnectControlPlane", "REGIONS", "region_url", "token_kind"]
