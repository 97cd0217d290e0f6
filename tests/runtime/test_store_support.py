"""Shared helpers for the store tests: a store on a real file, a factory that builds a valid
entity of any kind (creating its parents on the way), and a decK round trip checked for drift."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pem_fixture import CERT, KEY, new_ca_cert

from konnect_desktop import plugins
from konnect_desktop.model import ENTITIES, declarative, diff
from konnect_desktop.runtime.store import Store

# Bundled plugins whose config is valid with defaults only, in order of preference.
_DEFAULT_OK_PLUGINS = ("correlation-id", "cors", "key-auth", "response-transformer", "request-transformer")


def bundled_plugin(*, consumer_scope: bool = False, group_scope: bool = False) -> str | None:
    """A bundled plugin that validates with an empty config (and, if asked, may be scoped to a
    consumer or a consumer group), or None while none such is written yet."""
    from konnect_desktop.model import check_entity

    for name in _DEFAULT_OK_PLUGINS:
        spec = plugins.get(name)
        if spec is None or (consumer_scope and spec.no_consumer) or (group_scope and not spec.consumer_groups):
            continue
        _, errors = check_entity("plugins", {"name": name, "config": {}})
        if not errors:
            return name
    return None


def needs_plugin(*, consumer_scope: bool = False, group_scope: bool = False) -> str:
    name = bundled_plugin(consumer_scope=consumer_scope, group_scope=group_scope)
    if name is None:
        pytest.skip("no suitable bundled plugin module is written yet")
    return name


def new_store(path: Path, **options: Any) -> Store:
    return Store(path / "runtime.db", **options)


class Factory:
    """``make("routes")`` -> a stored, valid route (its service created too)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = itertools.count(1)

    def data(self, table: str, **over: Any) -> dict[str, Any]:
        n = next(self.n)

        def ref(parent: str) -> dict[str, str]:
            return {"id": self(parent)["id"]}

        base: dict[str, Any]
        if table == "services":
            base = {"name": f"svc-{n}", "host": "example.com"}
        elif table == "routes":
            base = {"name": f"route-{n}", "paths": [f"/r{n}"]}
            if "service" not in over:
                base["service"] = ref("services")
        elif table == "consumers":
            base = {"username": f"user-{n}"}
        elif table == "consumer_groups":
            base = {"name": f"group-{n}"}
        elif table == "consumer_group_consumers":
            base = {}
            if "consumer_group" not in over:
                base["consumer_group"] = ref("consumer_groups")
            if "consumer" not in over:
                base["consumer"] = ref("consumers")
        elif table == "plugins":
            base = {"name": needs_plugin(), "instance_name": f"plugin-{n}"}
            if not {"service", "route", "consumer", "consumer_group"} & set(over):
                base["service"] = ref("services")
        elif table in ("keyauth_credentials", "acls", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials"):
            base = {
                "keyauth_credentials": {"key": f"key-{n}"},
                "acls": {"group": f"acl-group-{n}"},
                "basicauth_credentials": {"username": f"basic-{n}", "password": "pw"},
                "jwt_secrets": {"key": f"issuer-{n}"},
                "hmacauth_credentials": {"username": f"hmac-{n}"},
            }[table]
            if "consumer" not in over:
                base["consumer"] = ref("consumers")
        elif table == "oauth2_credentials":
            base = {"name": f"app-{n}", "redirect_uris": [f"http://app{n}.test/cb"]}
            if "consumer" not in over:
                base["consumer"] = ref("consumers")
        elif table in ("oauth2_authorization_codes", "oauth2_tokens"):
            # a token must say how long it lives (Kong: expires_in is required, no default)
            base = {"expires_in": 7200} if table == "oauth2_tokens" else {}
            if "credential" not in over:
                base["credential"] = ref("oauth2_credentials")
        elif table == "upstreams":
            base = {"name": f"upstream-{n}.internal"}
        elif table == "targets":
            base = {"target": f"10.0.{n // 250}.{n % 250 + 1}:8000"}
            if "upstream" not in over:
                base["upstream"] = ref("upstreams")
        elif table == "certificates":
            base = {"cert": CERT, "key": KEY}
        elif table == "snis":
            base = {"name": f"sni-{n}.example.com"}
            if "certificate" not in over:
                base["certificate"] = ref("certificates")
        elif table == "ca_certificates":
            base = {"cert": new_ca_cert(f"CA {n}")}  # the digest is the certificate's: one CA each
        elif table == "vaults":
            base = {"prefix": f"vault-{n}x", "name": "env"}
        else:  # pragma: no cover
            raise AssertionError(table)
        base.update(over)
        return base

    def __call__(self, table: str, **over: Any) -> dict[str, Any]:
        return self.store.insert(table, self.data(table, **over))


ALL_TABLES = tuple(ENTITIES)
TAGGED_TABLES = tuple(t for t, e in ENTITIES.items() if e.schema.get("tags") is not None)


def drift_after_edit(store: Store, text: str, old: str, new: str) -> tuple[diff.Plan, Any]:
    """Checks that the store's decK dump loads back with no drift, then that the decK file ``text``
    with ``old`` replaced by ``new`` differs from the store by exactly one change: (plan, change)."""
    again = declarative.load(declarative.dump(store.export()).encode())
    assert not diff.plan(store.export(), again).changes
    plan = diff.plan(store.export(), declarative.load(text.replace(old, new).encode()))
    [change] = plan.changes
    return plan, change
