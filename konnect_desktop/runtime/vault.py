"""Vault references, resolved as Kong OSS resolves them, when the runtime builds a configuration.

A referenceable field (a certificate's ``cert``/``key``/``cert_alt``/``key_alt``, a plugin config
field marked ``referenceable`` or secret, such as rate-limiting's ``redis.password``) may hold
``{vault://<vault>/<resource>[/<key>][#<version>]}`` instead of the secret:

* ``<vault>`` is ``env`` (Kong OSS's bundled vault) or the ``prefix`` of a ``vaults`` entity whose
  ``name`` is ``env`` and whose ``config.prefix`` is put before the resource;
* the env vault reads the variable ``upper(prefix + resource)`` with ``-`` as ``_``
  (``kong/vaults/env``); ``#2`` reads ``<NAME>_PREVIOUS``;
* with ``/<key>`` the variable holds JSON and the value is that key of it.

``resolve(config, environ)`` returns a copy of the configuration with the references replaced,
and the problems (named by entity and field, never showing a value). The store, the Admin API,
exports and decK files keep references exactly as written; only the compiled snapshot and the TLS
contexts see secrets. A reference that cannot be resolved stays as written (a plugin then fails
closed with it; a certificate is not served) and is reported in ``LocalRuntime.config_errors``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .. import plugins as plugin_registry
from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue
from ..model import ENTITIES
from ..model.schema import Field, is_reference


class VaultError(AppError):
    """A vault reference that cannot be resolved; the message says why (never the value)."""


def parse_reference(ref: str) -> tuple[str, str, str | None, int | None]:
    """``{vault://env/name/key#2}`` → ("env", "name", "key", 2)."""
    body = ref[len("{vault://"):-1]
    body = body.split("?", 1)[0]
    version: int | None = None
    if "#" in body:
        body, _, v = body.rpartition("#")
        if not v.isdigit():
            raise VaultError("invalid reference version")
        version = int(v)
    vault, _, rest = body.partition("/")
    if not vault or not rest:
        raise VaultError("invalid reference (expected {vault://<vault>/<resource>[/<key>]})")
    resource, _, key = rest.partition("/")
    if not resource:
        raise VaultError("invalid reference: no resource")
    return vault, resource, (key or None), version


class Resolver:
    """Resolves references against the ``vaults`` entities of one configuration."""

    def __init__(self, vaults: list[JSONObject], environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.vaults = {v["prefix"]: v for v in vaults if isinstance(v.get("prefix"), str)}

    def resolve(self, ref: str) -> str:
        vault, resource, key, version = parse_reference(ref)
        prefix = None
        if vault != "env":
            entity = self.vaults.get(vault)
            if entity is None:
                raise VaultError(f"vault '{vault}' is not configured")
            if entity.get("name") != "env":
                raise VaultError(f"vault '{entity.get('name')}' is not installed")
            prefix = (entity.get("config") or {}).get("prefix")
        name = ((prefix or "") + resource).replace("-", "_").upper()
        if version == 2:
            name += "_PREVIOUS"
        value = self.environ.get(name)
        if value is None:
            raise VaultError(f"environment variable {name} is not set")
        if key is None:
            return value
        try:
            doc = json.loads(value)
        except ValueError:
            raise VaultError(f"environment variable {name} does not hold JSON (needed for key '{key}')") from None
        if not isinstance(doc, dict) or key not in doc:
            raise VaultError(f"no key '{key}' in environment variable {name}")
        found = doc[key]
        return found if isinstance(found, str) else json.dumps(found)


def _walk(fields: list[tuple[str, Field]] | None, value: JSONValue, resolver: Resolver, where: str,
          errors: list[str]) -> JSONValue:
    """``value`` (a record per ``fields``) with its referenceable strings resolved (a copy only
    where something changed)."""
    if not isinstance(value, dict) or not fields:
        return value
    out = value
    for name, f in fields:
        v = value.get(name)
        new = v
        if (f.referenceable or f.secret) and isinstance(v, str) and is_reference(v):
            try:
                new = resolver.resolve(v)
            except VaultError as exc:
                errors.append(f"{where}.{name}: could not resolve {v}: {exc}")
        elif f.type == "record" and isinstance(v, dict):
            new = _walk(f.fields, v, resolver, f"{where}.{name}", errors)
        if new is not v:
            if out is value:
                out = dict(value)
            out[name] = new
    return out


def resolve(config: dict[str, list[JSONObject]], environ: Mapping[str, str] | None = None
            ) -> tuple[dict[str, list[JSONObject]], list[str]]:
    """The configuration with every reference in a referenceable field resolved, and the
    problems. ``config`` itself is not changed."""
    resolver = Resolver(config.get("vaults") or [], os.environ if environ is None else environ)
    errors: list[str] = []
    out = dict(config)
    certs_schema = ENTITIES["certificates"].schema
    certs = config.get("certificates") or []
    resolved_certs = [_walk(certs_schema.fields, c, resolver, f"certificate {c.get('id')}", errors) for c in certs]
    if any(a is not b for a, b in zip(resolved_certs, certs, strict=True)):
        out["certificates"] = resolved_certs
    plugins = config.get("plugins") or []
    resolved_plugins = []
    for p in plugins:
        spec = plugin_registry.get(p.get("name")) if isinstance(p.get("name"), str) else None
        conf = p.get("config")
        if spec is None or not isinstance(conf, dict):
            resolved_plugins.append(p)
            continue
        new_conf = _walk(spec.config.fields, conf, resolver, f"plugin {p.get('name')} ({p.get('id')}) config", errors)
        resolved_plugins.append(p if new_conf is conf else {**p, "config": new_conf})
    if any(a is not b for a, b in zip(resolved_plugins, plugins, strict=True)):
        out["plugins"] = resolved_plugins
    return out, errors


__all__ = ["Resolver", "VaultError", "parse_reference", "resolve"]
