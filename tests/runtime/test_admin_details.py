"""Admin API details real clients rely on, over real HTTP (aiohttp on 127.0.0.1, real SQLite).

* A foreign key given by a unique field of its entity instead of its id — JSON
  ``"service": {"name": "echo"}``, form ``service.name=echo`` — resolved as Kong's DAO does
  (``kong/db/dao/init.lua`` ``resolve_foreign``: unique fields and the endpoint key, code 13
  "foreign keys unresolved" when nothing matches). Kong's OSS 3.9 Admin API spec documents both
  notations on ``POST /routes``.
* ``/timers``, ``/debug/node/log-level`` (``kong/api/routes/debug.lua``) and ``/status/dns``.
"""

from __future__ import annotations

import logging

import pytest
from admin_support import admin_client, ok_json
from fake_clock import FakeClock

from konnect_desktop.runtime.admin_api import admin_api_of
from konnect_desktop.runtime.admin_debug import LogLevelControl


@pytest.fixture
async def api(tmp_path):
    clock = FakeClock(1000.0)
    async with admin_client(tmp_path / "kong.db") as client:
        admin_api_of(client.server.app).log_level = LogLevelControl("konnect_desktop.test_admin_details", clock=clock)
        client.clock = clock  # type: ignore[attr-defined]
        yield client


async def test_foreign_key_by_name_in_json(api) -> None:
    svc = await ok_json(await api.post("/services", json={"name": "echo", "url": "http://echo.internal"}), 201)
    route = await ok_json(await api.post("/routes", json={"paths": ["/e"], "service": {"name": "echo"}}), 201)
    assert route["service"] == {"id": svc["id"]}
    # PATCH and PUT resolve the same way
    await ok_json(await api.post("/services", json={"name": "other", "url": "http://o.internal"}), 201)
    patched = await ok_json(await api.patch(f"/routes/{route['id']}", json={"service": {"name": "other"}}))
    other = await ok_json(await api.get("/services/other"))
    assert patched["service"] == {"id": other["id"]}
    put = await ok_json(await api.put("/routes/named", json={"paths": ["/n"], "service": {"name": "echo"}}))
    assert put["service"] == {"id": svc["id"]}


async def test_foreign_key_by_name_in_form(api) -> None:
    svc = await ok_json(await api.post("/services", data={"name": "echo", "url": "http://echo.internal"}), 201)
    route = await ok_json(await api.post("/routes", data={"paths[]": "/e", "service.name": "echo"}), 201)
    assert route["service"] == {"id": svc["id"]}
    # consumers: username (the endpoint key) and custom_id (unique) both resolve
    alice = await ok_json(await api.post("/consumers", data={"username": "alice", "custom_id": "a-1"}), 201)
    cred = await ok_json(await api.post("/key-auths", data={"consumer.username": "alice", "key": "k1"}), 201)
    assert cred["consumer"] == {"id": alice["id"]}
    cred2 = await ok_json(await api.post("/key-auths", json={"consumer": {"custom_id": "a-1"}, "key": "k2"}), 201)
    assert cred2["consumer"] == {"id": alice["id"]}


async def test_foreign_key_unresolved_is_kongs_error(api) -> None:
    r = await api.post("/routes", json={"paths": ["/x"], "service": {"name": "nope"}})
    body = await ok_json(r, 400)
    assert body == {
        "code": 13,
        "name": "foreign keys unresolved",
        "message": "foreign key unresolved (service.name: the foreign key cannot be resolved with "
                   "'{name=\"nope\"}' for an existing 'services' entity)",
        "fields": {"service": {"name": "the foreign key cannot be resolved with '{name=\"nope\"}' "
                                       "for an existing 'services' entity"}},
    }
    assert (await ok_json(await api.get("/routes")))["data"] == []
    # a key with no unique field still reads as the missing primary key (schema violation)
    body = await ok_json(await api.post("/routes", json={"paths": ["/x"], "service": {"port": 1}}), 400)
    assert body["code"] == 2 and "service" in body["fields"]


async def test_log_level_get_put_and_timeout(api) -> None:
    """kong/api/routes/debug.lua: GET answers "log level: <l>"; PUT changes it for `timeout`
    seconds (clock injected, no waiting); unknown level and negative timeout are 400."""
    logger = logging.getLogger("konnect_desktop.test_admin_details")
    logger.setLevel(logging.WARNING)
    assert await ok_json(await api.get("/debug/node/log-level")) == {"message": "log level: warn"}
    assert await ok_json(await api.put("/debug/node/log-level/debug?timeout=30")) == {"message": "log level changed"}
    assert logger.level == logging.DEBUG
    assert await ok_json(await api.get("/debug/node/log-level")) == {"message": "log level: debug"}
    assert await ok_json(await api.put("/debug/node/log-level/debug")) == {"message": "log level is already debug"}
    assert await ok_json(await api.put("/debug/node/log-level/loud"), 400) == {"message": "unknown log level: loud"}
    assert await ok_json(await api.put("/debug/node/log-level/info?timeout=-1"), 400) == {
        "message": "timeout must be greater than or equal to 0"}
    assert await ok_json(await api.put("/debug/cluster/log-level/notice?timeout=30")) == {
        "message": "log level changed for all nodes"}
    api.clock.now += 29
    assert await ok_json(await api.get("/debug/node/log-level")) == {"message": "log level: notice"}
    api.clock.now += 1  # the timeout has passed: back to the level before the first change
    assert await ok_json(await api.get("/debug/node/log-level")) == {"message": "log level: warn"}
    assert logger.level == logging.WARNING


async def test_timers_and_dns_status(api) -> None:
    body = await ok_json(await api.get("/timers"))
    assert body["worker"]["id"] == 0 and body["worker"]["count"] == 1
    sys_ = body["stats"]["sys"]
    assert sys_["total"] == sys_["running"] + sys_["pending"] + sys_["waiting"]
    assert sys_["running"] >= 1  # this very request's task
    assert set(body["stats"]["flamegraph"]) == {"running", "pending", "elapsed_time"}
    assert await ok_json(await api.get("/status/dns"), 501) == {"message": "not implemented with the legacy DNS client"}
