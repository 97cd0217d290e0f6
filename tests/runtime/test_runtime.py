"""LocalRuntime lifecycle and configuration changes, through real sockets: start/stop inside the
running loop, the Admin API on its own listener, configuration picked up atomically (no request
dropped while it changes under load), several runtimes side by side, the traffic log."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from fake_clock import hold_rate_limiting
from test_proxy_support import Cfg, app_server, make_runtime, port_of, raw_request

from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.runtime import LocalRuntime


async def test_lifecycle_states_and_urls(tmp_path) -> None:
    rt = LocalRuntime("life", db_path=tmp_path / "life.db")
    assert rt.state == "stopped" and rt.proxy_url is None
    await rt.start()
    try:
        assert rt.state == "running"
        assert rt.proxy_url.startswith("http://127.0.0.1:") and port_of(rt.proxy_url) > 0
        assert rt.admin_url.startswith("http://127.0.0.1:") and port_of(rt.admin_url) > 0
        async with aiohttp.ClientSession() as s:
            async with s.get(rt.admin_url + "/") as r:
                assert r.status == 200
                info = await r.json()
                assert "version" in info
            async with s.get(rt.proxy_url + "/") as r:
                assert r.status == 404
    finally:
        await rt.stop()
    assert rt.state == "stopped"
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port_of(rt.proxy_url))


async def test_start_failure_is_reported(tmp_path) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    busy = blocker.sockets[0].getsockname()[1]
    try:
        rt = LocalRuntime("busy", db_path=tmp_path / "busy.db", proxy_listen=("127.0.0.1", busy))
        with pytest.raises(OSError):
            await rt.start()
        assert rt.state == "failed"
        assert rt.last_error
    finally:
        blocker.close()


async def test_admin_api_changes_reach_the_proxy(tmp_path, echo) -> None:
    rt = await make_runtime(tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(rt.admin_url + "/services", json={"name": "svc", "url": f"http://127.0.0.1:{echo.port}/up"}) as r:
                assert r.status == 201, await r.text()
            async with s.post(rt.admin_url + "/services/svc/routes", json={"name": "r1", "paths": ["/via-admin"]}) as r:
                assert r.status == 201, await r.text()
            deadline = time.monotonic() + 10  # a bound for a rebuild that never comes, not a timing
            while True:  # the rebuild runs off the request path; it lands within milliseconds
                async with s.get(rt.proxy_url + "/via-admin/x") as r:
                    if r.status == 200:
                        assert (await r.json())["path"] == "/up/x"
                        break
                assert time.monotonic() < deadline, "route never became active"
                await asyncio.sleep(0.02)
    finally:
        await rt.stop()


async def test_store_change_is_used_by_the_next_request(tmp_path, echo) -> None:
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        svc = cfg.service(port=echo.port, path="/v1")
        cfg.route(svc, paths=["/api"])
        await rt.load_config(cfg.config())
        px = port_of(rt.proxy_url)
        assert (await raw_request(px, "GET", "/api/x")).json()["path"] == "/v1/x"
        await asyncio.to_thread(rt.store.update, "services", svc["id"], {"path": "/v2"})
        await rt.wait_synced()
        assert (await raw_request(px, "GET", "/api/x")).json()["path"] == "/v2/x"
        await asyncio.to_thread(rt.store.delete, "routes", cfg.tables["routes"][0]["id"])
        await rt.wait_synced()
        assert (await raw_request(px, "GET", "/api/x")).status == 404
    finally:
        await rt.stop()


async def test_invalid_config_changes_nothing(tmp_path, echo) -> None:
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=echo.port), paths=["/ok"])
        await rt.load_config(cfg.config())
        bad = Cfg()
        bad.route(bad.service(port=echo.port), paths=["no-slash"])
        with pytest.raises(KongError):
            await rt.load_config(bad.config())
        assert (await raw_request(port_of(rt.proxy_url), "GET", "/ok")).status == 200
        assert rt.store.count("routes") == 1
    finally:
        await rt.stop()


async def test_burst_of_changes_is_coalesced(tmp_path, echo) -> None:
    rt = await make_runtime(tmp_path)
    try:
        svc = await asyncio.to_thread(rt.store.insert, "services", {"host": "127.0.0.1", "port": echo.port})
        await rt.wait_synced()
        before = rt.rebuilds

        def many() -> None:
            for i in range(50):
                rt.store.insert("routes", {"paths": [f"/r{i}"], "service": {"id": svc["id"]}})

        await asyncio.to_thread(many)
        await rt.wait_synced()
        assert rt.snapshot.version == rt.store.version
        assert rt.rebuilds - before < 25  # 50 commits, far fewer compiles
        assert (await raw_request(port_of(rt.proxy_url), "GET", "/r49")).status == 200
    finally:
        await rt.stop()


@pytest.mark.slow
async def test_no_request_dropped_while_config_changes_under_load(tmp_path, echo) -> None:
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        svc = cfg.service(port=echo.port)
        cfg.route(svc, paths=["/stable"])
        await rt.load_config(cfg.config())
        statuses: list[int] = []
        stop, answered = asyncio.Event(), asyncio.Event()

        async def client() -> None:
            async with aiohttp.ClientSession() as s:
                while not stop.is_set():
                    async with s.get(rt.proxy_url + "/stable") as r:
                        await r.read()
                        statuses.append(r.status)
                        answered.set()

        clients = [asyncio.create_task(client()) for _ in range(8)]
        changes = 30
        for n in range(changes):
            # routes come and go, the service path flips: /stable must keep answering
            await asyncio.to_thread(rt.store.insert, "routes", {"paths": [f"/extra{n}"], "service": {"id": svc["id"]}})
            await asyncio.to_thread(rt.store.update, "services", svc["id"], {"path": "/a" if n % 2 else "/b"})
            await rt.wait_synced()  # the proxy serves this change...
            answered.clear()  # ...and the clients get an answer from it (counted, not timed)
            await asyncio.wait_for(answered.wait(), 30)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), 10)
        assert len(statuses) >= changes
        assert set(statuses) == {200}
        assert rt.rebuilds >= changes
    finally:
        await rt.stop()


async def test_stop_drains_in_flight_requests(tmp_path) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()  # still busy when the runtime is told to stop: the test says when
        return web.Response(text="finished")

    up = await app_server(slow)
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/slow"])
        await rt.load_config(cfg.config())
        pending = asyncio.create_task(raw_request(port_of(rt.proxy_url), "GET", "/slow"))
        await asyncio.wait_for(arrived.wait(), 30)  # the request is in flight
        proxy = rt.proxy
        stopping = asyncio.create_task(rt.stop())
        async with asyncio.timeout(30):  # until the proxy has stopped accepting and waits for it
            while proxy.idle_waiter is None:
                await asyncio.sleep(0)
        assert not stopping.done() and not pending.done()
        release.set()
        await stopping
        resp = await pending
        assert resp.status == 200 and resp.body == b"finished"
        assert rt.state == "stopped"
    finally:
        await rt.stop()
        await up.stop()


async def test_two_runtimes_side_by_side(tmp_path, echo) -> None:
    a = await make_runtime(tmp_path, "alpha")
    b = await make_runtime(tmp_path, "beta")
    try:
        assert a.proxy_url != b.proxy_url and a.admin_url != b.admin_url
        ca, cb = Cfg(), Cfg()
        ca.route(ca.service(port=echo.port, path="/from-a"), paths=["/x"])
        cb.route(cb.service(port=echo.port, path="/from-b"), paths=["/y"])
        await a.load_config(ca.config())
        await b.load_config(cb.config())
        assert (await raw_request(port_of(a.proxy_url), "GET", "/x")).json()["path"] == "/from-a"
        assert (await raw_request(port_of(b.proxy_url), "GET", "/y")).json()["path"] == "/from-b"
        assert (await raw_request(port_of(a.proxy_url), "GET", "/y")).status == 404
        assert (await raw_request(port_of(b.proxy_url), "GET", "/x")).status == 404
        assert len(a.traffic) == 2 and len(b.traffic) == 2
        await a.stop()
        assert (await raw_request(port_of(b.proxy_url), "GET", "/y")).status == 200
    finally:
        await a.stop()
        await b.stop()


async def test_traffic_log_entries_and_subscribers(tmp_path) -> None:
    rt = await make_runtime(tmp_path, traffic_capacity=5)
    try:
        cfg = Cfg()
        svc = cfg.service(host="echo.internal", name="echo-svc")
        cfg.route(svc, name="echo-route", paths=["/echo"])
        await rt.load_config(cfg.config())
        seen: list[str] = []
        remove = rt.traffic.add_listener(lambda e: seen.append(e.request_id))
        received = []

        async def watch() -> None:
            async for entry in rt.traffic.subscribe():
                received.append(entry)
                if len(received) == 3:
                    return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)
        px = port_of(rt.proxy_url)
        ids = []
        for i in range(3):
            resp = await raw_request(px, "POST", f"/echo/item?n={i}", headers=[("X-Client", "t")],
                                     body=b'{"n": %d}' % i)
            ids.append(resp.header("X-Kong-Request-Id"))
        await asyncio.wait_for(watcher, 5)
        assert [e.request_id for e in received] == ids
        assert seen == ids
        remove()
        d = rt.traffic.get(ids[1]).to_dict()
        assert d["method"] == "POST" and d["path"] == "/echo/item" and d["status"] == 200
        assert d["route"] == {"id": cfg.tables["routes"][0]["id"], "name": "echo-route"}
        assert d["service"]["name"] == "echo-svc"
        assert ["X-Client", "t"] in d["request"]["headers"]
        assert d["request"]["path"] == "/echo/item?n=1"
        assert d["request"]["body"] == '{"n": 1}'
        assert d["upstream_request"]["path"] == "/item?n=1"
        assert ["Host", "echo.internal"] in d["upstream_request"]["headers"]
        assert d["latencies"]["total"] >= d["latencies"]["proxy"] >= 0
        assert any(k.lower() == "content-type" for k, _ in d["response"]["headers"])
        for _ in range(5):  # the ring keeps the last `capacity` entries
            await raw_request(px, "GET", "/nope")
        assert len(rt.traffic) == 5
        assert rt.traffic.get(ids[0]) is None
    finally:
        await rt.stop()


async def test_plugin_decisions_and_exit_answers_are_logged(tmp_path) -> None:
    from konnect_desktop import plugins

    if not (plugins.get("key-auth") and plugins.get("rate-limiting")):
        pytest.skip("plugins not bundled yet")
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        svc = cfg.service(host="echo.internal")
        route = cfg.route(svc, paths=["/p"])
        cfg.plugin("key-auth", route=route)
        cfg.plugin("rate-limiting", {"minute": 2}, route=route)
        c = cfg.consumer("alice")
        cfg.add("keyauth_credentials", consumer={"id": c["id"]}, key="alice-key")
        await rt.load_config(cfg.config())
        # the three counted requests fall in one minute: the plugin reads a clock held past a minute's start
        hold_rate_limiting(rt)
        px = port_of(rt.proxy_url)
        denied = await raw_request(px, "GET", "/p")
        assert denied.status == 401
        assert denied.header("WWW-Authenticate") == "Key"
        assert denied.json()["request_id"] == denied.header("X-Kong-Request-Id")
        ok = [await raw_request(px, "GET", "/p", headers=[("apikey", "alice-key")]) for _ in range(3)]
        assert [r.status for r in ok] == [200, 200, 429]
        assert ok[0].header("X-RateLimit-Remaining-Minute") == "1"
        assert ok[0].json()["headers"]["x-consumer-username"] == "alice"
        entry = rt.traffic.get(ok[2].header("X-Kong-Request-Id"))
        assert entry.consumer["username"] == "alice"
        assert any(d.plugin == "rate-limiting" and d.outcome == "reject" for d in entry.decisions)
    finally:
        await rt.stop()


async def test_traffic_log_shows_both_bodies_when_a_plugin_changes_it(tmp_path) -> None:
    from konnect_desktop import plugins

    if not plugins.get("request-transformer"):
        pytest.skip("request-transformer not bundled yet")
    rt = await make_runtime(tmp_path)
    try:
        cfg = Cfg()
        route = cfg.route(cfg.service(host="echo.internal"), paths=["/t"])
        cfg.plugin("request-transformer", {"add": {"body": ["added:1"]}}, route=route)
        await rt.load_config(cfg.config())
        resp = await raw_request(port_of(rt.proxy_url), "POST", "/t", body=b"a=1",
                                 headers=[("Content-Type", "application/x-www-form-urlencoded")])
        assert resp.json()["form"] == {"a": "1", "added": "1"}
        d = rt.traffic.get(resp.header("X-Kong-Request-Id")).to_dict()
        assert d["request"]["body"] == "a=1"
        assert d["upstream_request"]["body"] in ("a=1&added=1", "added=1&a=1")
    finally:
        await rt.stop()
