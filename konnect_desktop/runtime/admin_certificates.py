"""The Admin API's certificates with their ``snis`` pseudo-field, as Kong's certificates DAO and
``kong/api/routes/certificates.lua`` write them:

* every certificate answered by the Admin API carries ``snis``: the names of its SNI entities,
  sorted (``[]`` when none);
* ``POST /certificates`` and ``PATCH``/``PUT /certificates/{c}`` take ``snis`` (a list; a form's
  lone value; JSON null = none): a repeated name is refused ("<name> is duplicated"), a name
  held by another certificate too ("<name> already associated with existing certificate
  '<id>'"); the certificate and its SNIs change in one transaction; without ``snis`` a PATCH
  leaves them alone, a PUT clears them;
* ``{c}`` is an id or one of the certificate's SNI names; an unknown name answers 404
  "SNI not found", except on PUT, which creates the certificate with that name among its SNIs.

SNIs stay their own entities (``/snis``, ``/certificates/{c}/snis``, decK's nested ``snis``);
``snis`` is never stored on the certificate.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ..jsontypes import JSONArray, JSONObject, JSONValue
from ..model import ENTITIES, paths
from ..model.errors import NotFound, schema_violation
from ..model.schema import UUID_RE

if TYPE_CHECKING:  # admin_api imports this module to register it
    from .admin_api import AdminAPI, Call, Handler

_UNSET = object()


def _json(status: int, body: JSONValue) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json", charset="utf-8")


class _SniNotFound(Exception):
    pass


def parse_name_list(value: JSONValue) -> list[str] | None:
    """``snis`` as given → sorted names; None when not given. Raises Kong's schema violations."""
    if value is _UNSET:
        return None
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise schema_violation({"snis": "expected an array"})
    errors: JSONArray = []
    for n in names:
        if not isinstance(n, str):
            errors.append("expected a string")
        else:
            errors.append(paths.validate_wildcard_host(n))
    if any(e is not None for e in errors):
        raise schema_violation({"snis": errors})
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise schema_violation({"snis": f"{n} is duplicated"})
        seen.add(n)
    return sorted(names)


def register(api: AdminAPI) -> None:
    """Override the generated certificate endpoints of an ``AdminAPI``."""
    store = api.store
    edef = ENTITIES["certificates"]

    def names_of(cert_id: str) -> list[str]:
        return sorted(s["name"] for s in store.all("snis", where={"certificate": cert_id}))

    def with_snis(cert: JSONObject, names: list[str] | None = None) -> JSONObject:
        out = dict(cert)
        out["snis"] = names if names is not None else names_of(cert["id"])
        return out

    def check_new(names: list[str], cert_id: str | None) -> None:
        for n in names:
            row = store.find("snis", n)
            if row is not None and (row.get("certificate") or {}).get("id") != cert_id:
                raise schema_violation(
                    {"snis": f"{n} already associated with existing certificate '{row['certificate']['id']}'"})

    def set_list(cert_id: str, names: list[str]) -> None:
        current = {s["name"]: s for s in store.all("snis", where={"certificate": cert_id})}
        for name, sni in current.items():
            if name not in names:
                store.delete("snis", sni["id"])
        for n in names:
            if n not in current:
                store.insert("snis", {"name": n, "certificate": {"id": cert_id}})

    def target_id(key: str, method: str) -> tuple[str, str | None]:
        """Kong's ``prepare_params``: (certificate id, SNI name given in the URL)."""
        if UUID_RE.match(key):
            return key, None
        sni = store.find("snis", key)
        if sni is not None and sni.get("certificate"):
            return sni["certificate"]["id"], key
        if method != "PUT":
            raise _SniNotFound()
        return str(uuid.uuid4()), key

    def split_args(call: Call) -> tuple[JSONObject, JSONValue]:
        args = api._args(call, edef)
        return args, args.pop("snis", _UNSET)

    async def guarded(work: Callable[[], web.StreamResponse]) -> web.StreamResponse:
        try:
            answer: web.StreamResponse = await api.run(work)
            return answer
        except _SniNotFound:
            return _json(404, {"message": "SNI not found"})

    async def list_certs(call: Call) -> web.StreamResponse:
        resp = await generated_list(call)
        if not isinstance(resp, web.Response) or not isinstance(resp.body, bytes):
            return resp  # not a JSON page (the generated handler streams nothing today)
        body = json.loads(resp.body)
        ids = [c["id"] for c in body["data"]]

        def work() -> dict[str, list[str]]:
            return {i: names_of(i) for i in ids}

        names = await api.run(work)
        body["data"] = [with_snis(c, names[c["id"]]) for c in body["data"]]
        return _json(200, body)

    async def create(call: Call) -> web.StreamResponse:
        args, raw = split_args(call)

        def work() -> JSONObject:
            names = parse_name_list(raw) or []
            with store.transaction():
                check_new(names, None)
                cert = store.insert("certificates", args)
                set_list(cert["id"], names)
            return with_snis(cert, names)

        return _json(201, await api.run(work))

    async def get(call: Call) -> web.StreamResponse:
        def work() -> web.StreamResponse:
            cid, _name = target_id(call.params[0], "GET")
            cert = store.find("certificates", cid)
            if cert is None:
                raise NotFound()
            return _json(200, with_snis(cert))

        return await guarded(work)

    def change(method: str) -> Handler:
        async def handler(call: Call) -> web.StreamResponse:
            args, raw = split_args(call)
            if method == "PUT" and raw is _UNSET:
                raw = None  # a PUT replaces: no snis means none
            url_key = call.params[0]

            def work() -> web.StreamResponse:
                cid, url_name = target_id(url_key, method)
                names = parse_name_list(raw)
                if method == "PUT" and url_name is not None and names is not None and url_name not in names:
                    names = sorted([*names, url_name])
                with store.transaction():
                    if names is not None:
                        check_new(names, cid)
                    if method == "PATCH":
                        cert = store.update("certificates", cid, args)
                    else:
                        cert = store.upsert("certificates", cid, args)
                    if names is not None:
                        set_list(cid, names)
                return _json(200, with_snis(cert, names))

            return await guarded(work)

        return handler

    async def delete(call: Call) -> web.StreamResponse:
        def work() -> web.StreamResponse:
            cid, _name = target_id(call.params[0], "DELETE")
            store.delete("certificates", cid)  # its SNIs go with it (on_delete cascade)
            return web.Response(status=204)

        return await guarded(work)

    generated_list = api._all["/certificates"].methods["GET"]
    api.route("/certificates", "GET", list_certs)
    api.route("/certificates", "POST", create)
    api.route("/certificates/{certificates}", "GET", get)
    api.route("/certificates/{certificates}", "PATCH", change("PATCH"))
    api.route("/certificates/{certificates}", "PUT", change("PUT"))
    api.route("/certificates/{certificates}", "DELETE", delete)


__all__ = ["parse_name_list", "register"]
