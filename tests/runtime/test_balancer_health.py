"""Active and passive health checks and the balancing algorithms, through real sockets: upstream
servers on 127.0.0.1 that the test turns unhealthy and healthy again, a LocalRuntime whose
active checker runs on an injected clock (the test calls ``run_due()``: no wall-clock waits), and
distributions measured over a bounded number of requests.

Kong spec cases ported (spec/02-integration/05-proxy/10-balancer/):
01-healthchecks_spec.lua "perform active health checks -- up then down", "perform active health
checks -- automatic recovery", "perform active health checks -- can detect before any proxy
traffic", "perform passive health checks", "perform passive health checks -- manual recovery",
"do not count Kong-generated errors as failures" (a 401 from a plugin is not the target's);
03-consistent-hashing_spec.lua "hashing on header", "hashing on missing header" (fallback),
path "simple case" / "only uses the path component", query_arg "simple case", uri_capture
"simple case"; 02-least-connections_spec.lua "balances by least-connections";
07-latency_spec.lua "balances by latency".
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest
from aiohttp import web
from test_proxy_support import Cfg, Server, make_runtime, raw_request

from konnect_desktop.runtime.balancer import Balancer, RequestFacts
from konnect_desktop.runtime.health import HealthRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """An upstream whose health probe answer and proxied answers the test sets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.probe_status = 200
        self.status = 200
        self.hits = 0
        self.probes = 0
        self.server: Server | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/status":
            self.probes += 1
            return web.json_response({"probe": self.name}, status=self.probe_status)
        self.hits += 1
        return web.json_response({"who": self.name, "path": request.path}, status=self.status)

    async def start(self) -> Backend:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = await Server(app).start()
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


@pytest.fixture
async def backends():
    bs = [await Backend(n).start() for n in ("a", "b")]
    yield bs
    for b in bs:
        await b.stop()


@pytest.fixture
async def rt(tmp_path):
    clock = Clock()
    r = await make_runtime(tmp_path, "health", health_clock=clock)
    r.clock = clock  # type: ignore[attr-defined]
    yield r
    await r.stop()


async def _who(rt, n: int, path: str = "/", headers=None, client_ip=None) -> Counter:
    out: Counter = Counter()
    for _ in range(n):
        resp = await raw_request(rt.proxy.port, "GET", path, headers=headers, client_ip=client_ip)
        out[resp.json().get("who", resp.status) if resp.status < 500 else resp.status] += 1
    return out


async def _health(rt) -> dict[str, str]:
    async with aiohttp.ClientSession() as s, s.get(f"{rt.admin_url}/upstreams/pool.test/health") as r:
        body = await r.json()
    return {t["target"]: t["health"] for t in body["data"]}


def _pool(cfg: Cfg, backends, **upstream) -> dict:
    u = cfg.upstream("pool.test", **upstream)
    for b in backends:
        cfg.target(u, f"127.0.0.1:{b.port}")
    cfg.route(cfg.service(host="pool.test", port=80, retries=0), paths=["/"])
    return u


ACTIVE = {"active": {"http_path": "/status", "timeout": 5,
                     "healthy": {"interval": 5, "successes": 2},
                     "unhealthy": {"interval": 5, "http_failures": 2, "tcp_failures": 1}}}


async def test_active_checks_up_then_down_and_automatic_recovery(rt, backends) -> None:
    """perform active health checks -- up then down / -- automatic recovery / -- can detect
    before any proxy traffic."""
    a, b = backends
    cfg = Cfg()
    _pool(cfg, backends, healthchecks=ACTIVE)
    await rt.load_config(cfg.config())
    assert await rt.checker.run_due() == 2  # due at once: both probed before any traffic
    assert a.probes == b.probes == 1
    assert await rt.checker.run_due() == 0  # nothing due until the interval has passed
    a.probe_status = 500
    for _ in range(2):  # two HTTP failures in a row
        rt.clock.now += 5
        assert await rt.checker.run_due() == 2
    assert await _health(rt) == {f"127.0.0.1:{a.port}": "UNHEALTHY", f"127.0.0.1:{b.port}": "HEALTHY"}
    assert await _who(rt, 6) == {"b": 6}
    a.probe_status = 200
    for _ in range(2):  # two successes bring it back
        rt.clock.now += 5
        await rt.checker.run_due()
    assert set((await _health(rt)).values()) == {"HEALTHY"}
    assert await _who(rt, 6) == {"a": 3, "b": 3}
    # a target that stops listening: one TCP failure is enough here
    b_port = b.port
    await b.stop()
    rt.clock.now += 5
    await rt.checker.run_due()
    assert (await _health(rt))[f"127.0.0.1:{b_port}"] == "UNHEALTHY"
    assert await _who(rt, 4) == {"a": 4}


async def test_passive_checks_and_manual_recovery(rt, backends) -> None:
    """perform passive health checks; -- manual recovery (PUT .../healthy); do not count
    Kong-generated errors as failures."""
    a, b = backends
    cfg = Cfg()
    _pool(cfg, backends, healthchecks={"passive": {"unhealthy": {"http_failures": 2, "tcp_failures": 1}}})
    await rt.load_config(cfg.config())
    a.status = 500
    seen = await _who(rt, 6)
    assert seen[500] == 2 and seen["b"] == 4  # a's second 500 marks it unhealthy
    assert (await _health(rt))[f"127.0.0.1:{a.port}"] == "UNHEALTHY"
    a.status = 200
    assert await _who(rt, 4) == {"b": 4}  # no automatic recovery without active checks
    async with aiohttp.ClientSession() as s, \
            s.put(f"{rt.admin_url}/upstreams/pool.test/targets/127.0.0.1:{a.port}/healthy") as r:
        assert r.status == 204
    assert await _who(rt, 4) == {"a": 2, "b": 2}
    # a 401 answered by a plugin never reaches the targets: not their failure
    svc_route = cfg.tables["routes"][0]
    cfg.plugin("key-auth", route=svc_route)
    await rt.load_config(cfg.config())
    for _ in range(4):
        assert (await raw_request(rt.proxy.port, "GET", "/")).status == 401
    assert set((await _health(rt)).values()) == {"HEALTHY"}


async def test_passive_tcp_failure_with_retries(rt, backends) -> None:
    """A dead target fails its first try (a TCP failure marks it unhealthy), the retry goes to
    the other one; afterwards nothing is sent to the dead one."""
    a, b = backends
    dead_port = a.port
    await a.stop()
    cfg = Cfg()
    u = cfg.upstream("pool.test", healthchecks={"passive": {"unhealthy": {"tcp_failures": 1}}})
    cfg.target(u, f"127.0.0.1:{dead_port}")
    cfg.target(u, f"127.0.0.1:{b.port}")
    cfg.route(cfg.service(host="pool.test", port=80), paths=["/"])
    await rt.load_config(cfg.config())
    assert await _who(rt, 6) == {"b": 6}
    assert (await _health(rt))[f"127.0.0.1:{dead_port}"] == "UNHEALTHY"


async def test_consistent_hashing_on_the_proxy(rt, backends) -> None:
    """hashing on header; hashing on missing header (falls back to the query argument)."""
    cfg = Cfg()
    _pool(cfg, backends, algorithm="consistent-hashing", hash_on="header", hash_on_header="x-user",
          hash_fallback="query_arg", hash_fallback_query_arg="user")
    await rt.load_config(cfg.config())
    per_user = {}
    for user in (f"user-{i}" for i in range(30)):
        got = await _who(rt, 3, headers=[("X-User", user)])
        assert len(got) == 1, got  # one user, one target
        per_user[user] = next(iter(got))
    assert set(per_user.values()) == {"a", "b"}  # keys spread over both
    for user in list(per_user)[:5]:  # the fallback hashes the same value the same way
        got = await _who(rt, 2, path=f"/?user={user}")
        assert len(got) == 1
    # an unhealthy target's keys move; the others stay where they were
    a = backends[0]
    async with aiohttp.ClientSession() as s, \
            s.put(f"{rt.admin_url}/upstreams/pool.test/targets/127.0.0.1:{a.port}/unhealthy") as r:
        assert r.status == 204
    for user, where in per_user.items():
        got = await _who(rt, 1, headers=[("X-User", user)])
        assert got == {"b": 1}
        if where == "b":
            assert got == {where: 1}


def _balancer(algorithm: str, **upstream) -> tuple[Balancer, HealthRegistry]:
    health = HealthRegistry()
    up = {"id": "u1", "name": "u", "algorithm": algorithm, "slots": 1000, **upstream}
    targets = [{"target": "10.0.0.1:80", "weight": 100, "created_at": 1},
               {"target": "10.0.0.2:80", "weight": 100, "created_at": 2}]
    return Balancer(up, targets, health), health


@pytest.mark.parametrize(("hash_on", "extra", "facts_of"), [
    ("ip", {}, lambda v: RequestFacts(v, [], "/")),
    ("path", {}, lambda v: RequestFacts("1.1.1.1", [], f"/{v}?x=1")),
    ("query_arg", {"hash_on_query_arg": "k"}, lambda v: RequestFacts("1.1.1.1", [], f"/p?k={v}")),
    ("cookie", {"hash_on_cookie": "sid"}, lambda v: RequestFacts("1.1.1.1", [(b"Cookie", f"a=1; sid={v}".encode())], "/")),
    ("uri_capture", {"hash_on_uri_capture": "id"}, lambda v: RequestFacts("1.1.1.1", [], "/", None, lambda: {"id": v})),
    ("consumer", {}, lambda v: RequestFacts("1.1.1.1", [], "/", type("Ctx", (), {"consumer": {"id": v}})())),
])
def test_hash_inputs(hash_on, extra, facts_of) -> None:
    """Each hash_on source keeps one key on one target and spreads keys over both; path
    "only uses the path component"."""
    b, _ = _balancer("consistent-hashing", hash_on=hash_on, **extra)
    picks = {}
    for i in range(40):
        first = b.next(facts_of(f"key{i}"))
        assert all(b.next(facts_of(f"key{i}")) == first for _ in range(3))
        picks[i] = first
    assert len(set(picks.values())) == 2


def test_least_connections_and_latency() -> None:
    """balances by least-connections; balances by latency."""
    b, _ = _balancer("least-connections")
    first = b.next()
    second = b.next()
    assert first != second  # the busy one is avoided
    b.done(*second)
    assert b.next() == second  # still the least busy (first has a request in flight)
    lat, _ = _balancer("latency")
    p1 = lat.next()
    lat.responded(*p1, 200, 0.200)
    lat.done(*p1)
    p2 = lat.next()
    assert p2 != p1  # not measured yet: tried first
    lat.responded(*p2, 200, 0.010)
    lat.done(*p2)
    picks = Counter()
    for _ in range(10):  # the faster target keeps winning while the times stay apart
        p = lat.next()
        picks[p] += 1
        lat.responded(*p, 200, 0.010 if p == p2 else 0.200)
        lat.done(*p)
    assert picks == {p2: 10}


async def test_least_connections_on_the_proxy(rt) -> None:
    """balances by least-connections: while one target holds a request, the others get the new
    ones."""
    release = asyncio.Event()
    arrived = asyncio.Event()
    seen: Counter = Counter()

    def make(name: str):
        async def handler(request: web.Request) -> web.Response:
            seen[name] += 1
            if request.path == "/slow":
                arrived.set()
                await release.wait()
            return web.json_response({"who": name})
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    servers = [await Server(make(n)).start() for n in ("a", "b")]
    try:
        cfg = Cfg()
        u = cfg.upstream("pool.test", algorithm="least-connections")
        for s in servers:
            cfg.target(u, f"127.0.0.1:{s.port}")
        cfg.route(cfg.service(host="pool.test", port=80), paths=["/"])
        await rt.load_config(cfg.config())
        slow = asyncio.ensure_future(raw_request(rt.proxy.port, "GET", "/slow"))
        await asyncio.wait_for(arrived.wait(), 10)  # the slow request holds its target
        busy = next(iter(seen))
        got = await _who(rt, 4, path="/fast")
        assert got == {("b" if busy == "a" else "a"): 4}
        release.set()
        assert (await slow).status == 200
    finally:
        for s in servers:
            await s.stop()


async def test_background_probes_run_in_a_runtime(tmp_path) -> None:
    """Without an injected clock the runtime probes by itself on the configured interval: the test
    waits for the probe to arrive (an event, bounded), not for a time to pass."""
    probed = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/status":
            probed.set()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = await Server(app).start()
    rt = await make_runtime(tmp_path, "bg")
    try:
        cfg = Cfg()
        u = cfg.upstream("pool.test", healthchecks={"active": {"http_path": "/status", "healthy": {"interval": 0.05}}})
        cfg.target(u, f"127.0.0.1:{server.port}")
        await rt.load_config(cfg.config())
        await asyncio.wait_for(probed.wait(), 10)
        assert rt.checker.probes >= 1
    finally:
        await rt.stop()
        await server.stop()
