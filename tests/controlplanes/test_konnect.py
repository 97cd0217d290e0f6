"""Konnect specifics, every exchange checked against Konnect's OpenAPI files by the test server.

Control planes (runtime groups) listed page by page and filtered by name, created, selected by
name or id; data plane nodes through cursor pages; tokens refused with a clear, token-free error;
and proof that the validating server does catch a request outside the spec.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from controlplane_support import TOKEN

from konnect_desktop.controlplanes.errors import ApiError, AuthFailed, NotFound, Unsupported
from konnect_desktop.controlplanes.kong_admin import RetryPolicy
from konnect_desktop.controlplanes.konnect import (
    REGIONS,
    KonnectControlPlane,
    region_url,
    token_kind,
)


def _client(server: Any, control_plane: str | None = None, token: str = TOKEN) -> KonnectControlPlane:
    return KonnectControlPlane("eu", token, control_plane, base_url=server.base_url,
                               retry=RetryPolicy(attempts=1))


async def test_list_groups_pages_through_every_control_plane(konnect_server: Any) -> None:
    for i in range(23):
        konnect_server.add_control_plane(f"team-{i:02d}", labels={"team": f"t{i % 3}"})
    konnect_server.add_control_plane("other")
    async with _client(konnect_server) as k:
        found = await k.find_groups(page_size=10)
        groups = await k.list_groups(name_contains="team-")
    assert len(found) == 24
    assert [g.name for g in groups] == [f"team-{i:02d}" for i in range(23)]
    assert groups[4].labels == {"team": "t1"} and groups[4].kind == "konnect"
    pages = [ex for ex in konnect_server.exchanges if ex.path == "/v2/control-planes" and ex.method == "GET"]
    assert [ex.query.get("page[number]") for ex in pages[:3]] == ["1", "2", "3"]


async def test_create_and_select_control_plane(konnect_server: Any) -> None:
    async with _client(konnect_server) as k:
        with pytest.raises(Unsupported, match="choose a Konnect control plane"):
            await k.get("services", "x")
        g = await k.create_group("desk-test", description="made by a test", labels={"owner": "me"})
        assert g.name == "desk-test" and g.labels == {"owner": "me"}
        with pytest.raises(ApiError) as dup:
            await k.create_group("desk-test")
        assert dup.value.status == 409 and "already exists" in dup.value.message
        cp = await k.select("desk-test")
        assert cp["id"] == g.id
        await k.create("services", {"name": "in-desk", "host": "h.test"})
        by_id = _client(konnect_server, g.id)
        async with by_id:
            assert [s["name"] async for s in by_id.list("services")] == ["in-desk"]
            assert by_id.target.endswith("/ desk-test")
        with pytest.raises(NotFound, match="no Konnect control plane named 'nope'"):
            await k.select("nope")


async def test_entities_are_separate_per_control_plane(konnect_server: Any) -> None:
    konnect_server.add_control_plane("a")
    konnect_server.add_control_plane("b")
    async with _client(konnect_server, "a") as ka, _client(konnect_server, "b") as kb:
        await ka.create("services", {"name": "only-in-a", "host": "h.test"})
        assert [s async for s in kb.list("services")] == []
        assert [s["name"] async for s in ka.list("services")] == ["only-in-a"]


async def test_nodes_follow_cursor_pages(konnect_server: Any) -> None:
    cp = konnect_server.add_control_plane("nodes")
    now = time.time()
    for i in range(130):
        konnect_server.add_node(cp["id"], f"dp-{i:03d}", last_ping=now if i % 2 == 0 else now - 3600)
    async with _client(konnect_server, "nodes") as k:
        nodes = await k.nodes()
        info = await k.info()
    assert [n.hostname for n in nodes] == [f"dp-{i:03d}" for i in range(130)]
    assert [n.status for n in nodes[:2]] == ["connected", "disconnected"]
    assert nodes[0].version == "3.9.1.0" and nodes[0].extra["compatibility"] == "COMPATIBILITY_STATE_FULLY_COMPATIBLE"
    calls = [ex for ex in konnect_server.exchanges if ex.path.endswith("/nodes")]
    assert calls[1].query.get("page[after]") == "100"
    assert info["node_count"] == 130 and info["version"] == "3.9.1.0"
    assert info["control_plane_name"] == "nodes" and info["token_kind"] == "personal"


async def test_wrong_token_is_auth_failed_and_never_shown(konnect_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    konnect_server.add_control_plane("secured")
    wrong = "spat_" + "W" * 40
    caplog.set_level(logging.DEBUG)
    async with _client(konnect_server, "secured", token=wrong) as k:
        with pytest.raises(AuthFailed) as ei:
            await k.list_groups()
        report = await k.test_connection()
        shown = f"{ei.value} {ei.value!r} {k!r} {k.target} {report} {report!r}"
    assert ei.value.status == 401
    assert not report.ok and report.error_type == "AuthFailed"
    assert wrong not in shown and wrong[5:] not in shown
    assert all(wrong not in r.getMessage() for r in caplog.records)
    assert k.token_kind == "system-account"


async def test_core_entity_401_uses_the_gateway_shape(konnect_server: Any) -> None:
    cp = konnect_server.add_control_plane("c")
    k = KonnectControlPlane("us", "kpat_" + "N" * 40, cp["id"], base_url=konnect_server.base_url,
                            retry=RetryPolicy(attempts=1))
    k._cp = cp  # selected earlier with a good token; now the token was revoked
    async with k:
        with pytest.raises(AuthFailed, match="Unauthorized"):
            await k.get("services", "x")


async def test_update_without_patch_keeps_other_fields(konnect_server: Any) -> None:
    konnect_server.add_control_plane("upd")
    async with _client(konnect_server, "upd") as k:
        svc = await k.create("services", {"name": "u", "url": "http://h.test:81/p", "tags": ["a"]})
        out = await k.update("services", "u", {"retries": 2})
        assert (out["host"], out["port"], out["path"], out["tags"], out["retries"]) == ("h.test", 81, "/p", ["a"], 2)
        assert out["id"] == svc["id"]
        methods = {ex.method for ex in konnect_server.exchanges if "/core-entities/services" in ex.path}
        assert "PATCH" not in methods and "PUT" in methods


async def test_undocumented_answers_are_only_kong_errors(konnect_server: Any) -> None:
    konnect_server.add_control_plane("errs")
    async with _client(konnect_server, "errs") as k:
        await k.create("services", {"name": "x", "host": "h.test"})
        with pytest.raises(ApiError):
            await k.create("services", {"name": "x", "host": "h.test"})
    assert {ex.status for ex in konnect_server.undocumented} == {409}


async def test_the_server_rejects_requests_outside_the_spec(konnect_server: Any) -> None:
    """The validator bites: a request the spec forbids is recorded as a violation."""
    cp = konnect_server.add_control_plane("strict")
    async with httpx.AsyncClient(base_url=konnect_server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        r1 = await c.get(f"/v2/control-planes/{cp['id']}/core-entities/services", params={"size": 5000})
        r2 = await c.get("/v2/control-planes", params={"filter[nmae][eq]": "x"})
        r3 = await c.post(f"/v2/control-planes/{cp['id']}/core-entities/services", json={"host": "h", "name": None})
    assert (r1.status_code, r2.status_code, r3.status_code) == (400, 400, 400)
    found = list(konnect_server.violations)
    konnect_server.violations.clear()  # expected here; the fixture fails on any left over
    assert any("size" in v for v in found)
    assert any("filter[nmae][eq]" in v for v in found)
    assert any("None is not of type" in v for v in found)


async def test_responses_are_checked_too(konnect_server: Any) -> None:
    cp = konnect_server.add_control_plane("resp")
    konnect_server.control_planes[cp["id"]]["labels"] = {"bad label!": "x y"}  # breaks the Labels pattern
    async with _client(konnect_server) as k:
        await k.list_groups()
    found = list(konnect_server.violations)
    konnect_server.violations.clear()
    assert found and "response invalid" in found[0]


def test_regions_and_tokens() -> None:
    assert REGIONS == ("us", "eu", "au", "me", "in", "sg")
    assert [region_url(r) for r in ("us", "sg")] == ["https://us.api.konghq.com", "https://sg.api.konghq.com"]
    with pytest.raises(ValueError, match="unknown Konnect region 'mars'"):
        region_url("mars")
    assert token_kind("kpat_x") == "personal" and token_kind("spat_x") == "system-account"
    with pytest.raises(ValueError, match="token is required"):
        KonnectControlPlane("us", "")
    k = KonnectControlPlane("au", TOKEN, str(uuid.uuid4()))
    assert k.target.startswith("Konnect au / ") and TOKEN not in repr(k)
