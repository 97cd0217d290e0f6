"""The service catalog (API products) and application registration through the portal service:
real SQLite store, real runtime, requests through the proxy's socket.

The flow follows Kong's developer guide (product "OpenAI" v1 implemented by a gateway service,
published, application registration with auto-approval into the Gold consumer group). Kong's own
portal is a Konnect/Enterprise feature with no spec in Kong/kong, so there is no spec case to port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_plugin_support import request
from fake_clock import hold_rate_limiting
from test_proxy_support import make_runtime

from konnect_desktop.model import declarative
from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.catalog import Catalog, side_file_for
from konnect_desktop.runtime.portal.accounts import FormError
from konnect_desktop.runtime.portal.service import PortalService
from konnect_desktop.runtime.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai-portal"


def _story_store(path: Path) -> Store:
    store = Store(path)
    store.replace_all(declarative.load(EXAMPLE / "kong.yaml"))
    Catalog(store).load_side_file(EXAMPLE / "kong.yaml")
    return store


def _story_service(path: Path) -> tuple[Store, PortalService, dict[str, Any]]:
    """The example's store, its portal service, and the one version of the OpenAI product."""
    store = _story_store(path)
    svc = PortalService(store)
    [v] = svc.catalog.list_versions("OpenAI")
    return store, svc, v


def test_side_file_name() -> None:
    assert side_file_for("/x/kong.yaml") == Path("/x/kong.products.yaml")
    assert side_file_for("conf/prod.yml") == Path("conf/prod.products.yaml")


def test_product_and_version_crud(tmp_path: Path) -> None:
    store = _story_store(tmp_path / "a.db")
    cat = Catalog(store)
    [p] = cat.list_products()
    assert p["name"] == "OpenAI" and p["labels"] == {"team": "ai"}
    [v] = cat.list_versions("OpenAI")
    assert v["published"] and v["registration"] == "auto" and v["consumer_group"] == "Gold"
    assert v["service"] == store.get("services", "openai")["id"]
    assert cat.openapi(v["id"])["paths"]["/v1/models"]["get"]["operationId"] == "listModels"
    v2 = cat.create_version(p["id"], {"version": "v2", "registration": "manual"})
    assert not v2["published"] and v2["acl_group"] == "openai-v2"
    assert cat.publish(v2["id"])["published"] and not cat.unpublish(v2["id"])["published"]
    assert cat.update_product("OpenAI", {"description": "new"})["description"] == "new"
    cat.delete_version(v2["id"])
    assert [x["version"] for x in cat.list_versions("OpenAI")] == ["v1"]
    # decK exports carry no products: the entity tables are untouched by the catalog
    assert "products" not in store.export()
    cat.delete_product("OpenAI")
    assert cat.list_products() == [] and cat.list_versions() == []
    store.close()


@pytest.mark.parametrize(("data", "field"), [
    ({"version": "v 1"}, "version"),
    ({"version": "v1", "service": "nope"}, "service"),
    ({"version": "v1", "registration": "sometimes"}, "registration"),
    ({"version": "v1", "consumer_group": "Platinum"}, "consumer_group"),
    ({"version": "v1", "openapi": "just: [text"}, "openapi"),
    ({"version": "v1", "openapi": "title: not openapi"}, "openapi"),
    ({"version": "v1", "colour": "red"}, "colour"),
])
def test_bad_version_names_the_field_and_stores_nothing(tmp_path: Path, data: dict[str, Any], field: str) -> None:
    store = _story_store(tmp_path / "a.db")
    cat = Catalog(store)
    cat.delete_version(cat.list_versions()[0]["id"])
    with pytest.raises(KongError) as info:
        cat.create_version("OpenAI", data)
    assert info.value.fields is not None and field in info.value.fields, info.value.fields
    assert cat.list_versions() == []
    store.close()


def test_product_name_unique_and_required(tmp_path: Path) -> None:
    store = _story_store(tmp_path / "a.db")
    cat = Catalog(store)
    with pytest.raises(KongError, match="UNIQUE"):
        cat.create_product({"name": "OpenAI"})
    with pytest.raises(KongError) as info:
        cat.create_product({"description": "no name"})
    assert info.value.fields == {"name": "required field missing"}
    store.close()


def test_side_file_replicates_to_a_second_runtime_group(tmp_path: Path) -> None:
    """Export next to the decK file, import into another group holding the same services (other
    ids): the version's implementation is found by the service's name."""
    first = _story_store(tmp_path / "a.db")
    deck = tmp_path / "out" / "kong.yaml"
    deck.parent.mkdir()
    written = Catalog(first).save_side_file(deck)
    assert written == tmp_path / "out" / "kong.products.yaml"
    second = Store(tmp_path / "b.db")
    second.replace_all(declarative.load(EXAMPLE / "kong.yaml"))
    assert Catalog(second).load_side_file(deck) == 1
    [v] = Catalog(second).list_versions("OpenAI")
    assert v["service"] == second.get("services", "openai")["id"]
    assert Catalog(second).export_products() == Catalog(first).export_products()
    first.close()
    second.close()


def test_side_file_with_a_bad_entry_changes_nothing(tmp_path: Path) -> None:
    store = _story_store(tmp_path / "a.db")
    before = Catalog(store).export_products()
    doc = yaml.safe_load(yaml.safe_dump(before))
    doc["products"].append({"name": "Broken", "versions": [{"version": "v1", "service": "missing"}]})
    with pytest.raises(KongError, match="Broken"):
        Catalog(store).import_products(doc)
    assert Catalog(store).export_products() == before
    store.close()


async def _signed_up(svc: PortalService, email: str) -> tuple[str, str]:
    dev = svc.accounts.sign_up(email, "Dev", "correct horse battery")
    return dev, svc.accounts.create_app(dev, "chat-app")


async def test_auto_registration_key_works_through_the_proxy_and_revoke_cuts_it(tmp_path: Path) -> None:
    rt = await make_runtime(tmp_path, "cat", admin_listen=None)
    try:
        rt.store.replace_all(declarative.load(EXAMPLE / "kong.yaml"))
        svc = PortalService(rt.store)
        svc.catalog.load_side_file(EXAMPLE / "kong.yaml")
        await rt.wait_synced()
        port = rt.proxy.port
        before = await request(port, "GET", "/openai/v1/models")
        assert before.status == 200  # no registration yet: the service is open

        dev, app = await _signed_up(svc, "a@example.com")
        [v] = svc.catalog.list_versions("OpenAI")
        reg = await svc.request_access(dev, app, v["id"])
        assert reg["status"] == "approved"
        key = svc.accounts.take_fresh_keys(dev)[reg["id"]]
        assert svc.accounts.take_fresh_keys(dev) == {}  # shown once
        await rt.wait_synced()

        assert (await request(port, "GET", "/openai/v1/models")).status == 401
        assert (await request(port, "GET", "/openai/v1/models", {"apikey": "wrong"})).status == 401
        # all four in one hour window: the rate-limiting plugins read a clock held past an hour's start
        hold_rate_limiting(rt, at=1_699_999_200.25)
        statuses = []
        for _ in range(4):
            r = await request(port, "GET", "/openai/v1/models", {"apikey": key})
            statuses.append(r.status)
            if r.status == 200:
                assert r.header("X-RateLimit-Limit-Hour") == "3"  # the Gold group's own limit
        assert statuses == [200, 200, 200, 429]

        await svc.revoke(reg["id"])
        assert (await request(port, "GET", "/openai/v1/models", {"apikey": key})).status == 401
        assert svc.accounts.registration(reg["id"])["status"] == "revoked"
    finally:
        await rt.stop()


async def test_manual_registration_waits_for_approval(tmp_path: Path) -> None:
    store, svc, v = _story_service(tmp_path / "a.db")
    svc.catalog.set_registration(v["id"], "manual")
    dev, app = await _signed_up(svc, "b@example.com")
    reg = await svc.request_access(dev, app, v["id"])
    assert reg["status"] == "pending" and reg["consumer_id"] is None
    assert store.count("consumers") == 0
    assert [r["id"] for r in svc.accounts.registrations(status="pending")] == [reg["id"]]
    with pytest.raises(FormError):
        await svc.request_access(dev, app, v["id"])  # once per app and version
    key = await svc.approve(reg["id"])
    consumer = store.get("consumers", svc.accounts.registration(reg["id"])["consumer_id"])
    assert store.find("keyauth_credentials", key) is not None
    assert [a["group"] for a in store.all("acls", where={"consumer": consumer["id"]})] == ["openai-v1"]
    plugins = {p["name"] for p in store.all("plugins") if (p.get("service") or {}).get("id") == v["service"]}
    assert {"key-auth", "acl"} <= plugins
    with pytest.raises(FormError):
        await svc.approve(reg["id"])
    new = await svc.new_key(dev, reg["id"])
    assert new != key and store.find("keyauth_credentials", key) is None
    store.close()


async def test_unpublished_or_closed_versions_refuse_requests(tmp_path: Path) -> None:
    store, svc, v = _story_service(tmp_path / "a.db")
    dev, app = await _signed_up(svc, "c@example.com")
    svc.catalog.set_registration(v["id"], "off")
    with pytest.raises(FormError, match="registrations"):
        await svc.request_access(dev, app, v["id"])
    svc.catalog.unpublish(v["id"])
    with pytest.raises(FormError, match="not published"):
        await svc.request_access(dev, app, v["id"])
    store.close()


async def test_a_developer_never_reaches_another_developers_app(tmp_path: Path) -> None:
    store, svc, v = _story_service(tmp_path / "a.db")
    dev_a, app_a = await _signed_up(svc, "a@example.com")
    dev_b, _app_b = await _signed_up(svc, "b@example.com")
    reg = await svc.request_access(dev_a, app_a, v["id"])
    assert [a["name"] for a in svc.accounts.apps(dev_b)] == ["chat-app"]
    assert svc.accounts.app(dev_b, app_a) is None
    assert svc.accounts.registrations(developer_id=dev_b) == []
    assert svc.accounts.take_fresh_keys(dev_b) == {}
    with pytest.raises(FormError):
        await svc.request_access(dev_b, app_a, v["id"])
    with pytest.raises(FormError):
        await svc.new_key(dev_b, reg["id"])
    store.close()


def test_accounts_refuse_bad_input(tmp_path: Path) -> None:
    store = _story_store(tmp_path / "a.db")
    acc = PortalService(store).accounts
    for email, name, pw, field in [("nope", "x", "long enough pw", "email"), ("a@b.io", "", "long enough pw", "name"),
                                   ("a@b.io", "x", "short", "password")]:
        with pytest.raises(FormError) as info:
            acc.sign_up(email, name, pw)
        assert info.value.field == field
    dev = acc.sign_up("a@b.io", "A", "long enough pw")
    with pytest.raises(FormError, match="exists"):
        acc.sign_up("A@B.io", "A", "long enough pw")
    assert acc.log_in("a@b.io", "long enough pw") == dev
    for email, pw in [("a@b.io", "wrong password"), ("x@b.io", "long enough pw")]:
        with pytest.raises(FormError, match="Wrong e-mail address or password"):
            acc.log_in(email, pw)
    with store.side_read() as r:
        row = r.execute("SELECT password_hash FROM x_portal_developers").fetchone()
    assert row[0].startswith("$argon2id$")
    store.close()


async def test_reimporting_the_side_file_keeps_registrations(tmp_path: Path) -> None:
    """``gateway run --config`` at every start re-applies kong.products.yaml: versions that stay
    keep their ids, so developers' registrations of them survive; a dropped version goes."""
    store, svc, v = _story_service(tmp_path / "a.db")
    dev, app = await _signed_up(svc, "a@example.com")
    reg = await svc.request_access(dev, app, v["id"])
    doc = svc.catalog.export_products()
    doc["products"][0]["description"] = "changed"
    doc["products"][0]["versions"].append({"version": "v2", "service": "openai"})
    assert svc.catalog.import_products(doc) == 2
    assert svc.catalog.get_product("OpenAI")["description"] == "changed"
    assert svc.accounts.registration(reg["id"])["status"] == "approved"
    assert [x["id"] for x in svc.catalog.list_versions("OpenAI") if x["version"] == "v1"] == [v["id"]]
    doc["products"][0]["versions"] = doc["products"][0]["versions"][1:]
    svc.catalog.import_products(doc)
    assert [x["version"] for x in svc.catalog.list_versions("OpenAI")] == ["v2"]
    assert svc.accounts.registration(reg["id"]) is None  # its version is gone
    store.close()


async def test_deleting_a_version_revokes_its_keys(tmp_path: Path) -> None:
    store, svc, v = _story_service(tmp_path / "a.db")
    dev, app = await _signed_up(svc, "a@example.com")
    reg = await svc.request_access(dev, app, v["id"])
    key = svc.accounts.take_fresh_keys(dev)[reg["id"]]
    assert store.find("keyauth_credentials", key) is not None
    await svc.delete_product("OpenAI")
    assert store.find("keyauth_credentials", key) is None and store.count("consumers") == 0
    assert svc.catalog.list_products() == []
    store.close()
