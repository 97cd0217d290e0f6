"""Router benchmark: match time with 10, 1,000 and 10,000 routes, and compile time.

Prints a table; never fails on time. Run: ``.venv/bin/python bench/bench_router.py``.

Route mix (deterministic): exact hosts + prefix paths, prefix-only paths, wildcard hosts, regex
paths (most with a literal head, a few without), header routes, method routes. The request mix is
fixed per size: mostly requests that hit some route (spread over all of them), some misses.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from konnect_desktop.runtime.router import Router  # noqa: E402

WORDS = ["users", "orders", "items", "billing", "search", "auth", "files", "reports", "v1", "v2"]


def make_routes(n: int, seed: int = 7) -> tuple[list[dict], dict[str, dict], list[tuple]]:
    rnd = random.Random(seed)
    services = {f"s{i}": {"id": f"s{i}", "protocol": "http", "host": "up", "port": 80,
                          "path": rnd.choice([None, "/", "/base", "/base/"]), "enabled": True}
                for i in range(max(1, n // 10))}
    sids = sorted(services)
    hosts = [f"svc{k}.example.com" for k in range(max(1, n // 20))]
    routes: list[dict] = []
    requests: list[tuple] = []
    for i in range(n):
        rid = f"{rnd.getrandbits(128):032x}"
        rid = f"{rid[:8]}-{rid[8:12]}-4{rid[13:16]}-a{rid[17:20]}-{rid[20:]}"
        r: dict = {"id": rid, "protocols": ["http", "https"], "strip_path": rnd.random() < 0.5,
                   "service": {"id": rnd.choice(sids)}}
        word = rnd.choice(WORDS)
        kind = rnd.random()
        if kind < 0.40:
            h = rnd.choice(hosts)
            r["hosts"] = [h]
            r["paths"] = [f"/api/{word}/{i}"]
            req = ("GET", h, f"/api/{word}/{i}/x?q=1", {}, "http")
        elif kind < 0.60:
            r["paths"] = [f"/p{i}/{word}"]
            req = ("GET", "any.host", f"/p{i}/{word}/deep/path", {}, "http")
        elif kind < 0.70:
            r["hosts"] = [f"*.t{i % 97}.example.net"]
            r["paths"] = [f"/w{i}"]
            req = ("GET", f"a.t{i % 97}.example.net", f"/w{i}/z", {}, "http")
        elif kind < 0.845:
            r["paths"] = [rf"~/users/{i}/(?<id>\d+)/{word}"]
            req = ("GET", "x.test", f"/users/{i}/42/{word}", {}, "http")
        elif kind < 0.85:
            r["paths"] = [rf"~/(a|b)/r{i}/\d+"]  # no literal head: scanned for every request
            req = ("GET", "x.test", f"/a/r{i}/7", {}, "http")
        elif kind < 0.95:
            r["headers"] = {"x-tenant": [f"t{i % 50}"]}
            r["paths"] = [f"/h{i}"]
            req = ("GET", "x.test", f"/h{i}", {"X-Tenant": f"T{i % 50}"}, "http")
        else:
            r["methods"] = ["POST", "PUT"]
            r["paths"] = [f"/m{i}"]
            req = ("POST", "x.test", f"/m{i}", {}, "http")
        routes.append(r)
        requests.append(req)
    return routes, services, requests


def request_mix(requests: list[tuple], count: int = 400, seed: int = 11) -> list[tuple]:
    rnd = random.Random(seed)
    mix = [rnd.choice(requests) for _ in range(int(count * 0.9))]
    mix += [("GET", "nobody.test", f"/missing/{k}", {}, "http") for k in range(count - len(mix))]
    rnd.shuffle(mix)
    return mix


def time_calls(fn, mix: list[tuple], passes: int) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        for method, host, path, headers, scheme in mix:
            t0 = clock()
            fn(method, host, path, headers, scheme)
            samples.append((clock() - t0) / 1000.0)
    return samples


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def bench_size(n: int) -> dict[str, float]:
    routes, services, reqs = make_routes(n)
    router = Router.compile(routes, services)
    assert not router.errors, router.errors[:3]
    mix = request_mix(reqs)
    hits = sum(router.match_uncached(m, h, p, hd, s) is not None for m, h, p, hd, s in mix)
    gc.disable()
    try:
        unc = time_calls(router.match_uncached, mix, passes=5)
        router.clear_cache()
        time_calls(router.match, mix, passes=1)  # warm the cache
        cached = time_calls(router.match, mix, passes=5)
    finally:
        gc.enable()
    return {"n": n, "hit_rate": hits / len(mix),
            "unc_med": statistics.median(unc), "unc_p99": p99(unc),
            "c_med": statistics.median(cached), "c_p99": p99(cached)}


def bench_compile(n: int, runs: int = 5) -> float:
    routes, services, _ = make_routes(n)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        Router.compile(routes, services)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    start = time.perf_counter()
    rows = [bench_size(n) for n in (10, 1_000, 10_000)]
    print("router match time (µs per match; 400-request mix, ~90% hits; median and p99)")
    print(f"{'routes':>8} {'hit%':>5} {'uncached med':>13} {'uncached p99':>13} "
          f"{'cached med':>11} {'cached p99':>11}")
    for r in rows:
        print(f"{r['n']:>8} {r['hit_rate'] * 100:>5.0f} {r['unc_med']:>13.2f} {r['unc_p99']:>13.2f}"
              f" {r['c_med']:>11.2f} {r['c_p99']:>11.2f}")
    print(f"ratio 10k/10 (uncached median): {rows[2]['unc_med'] / rows[0]['unc_med']:.2f}")
    print(f"ratio 10k/10 (cached median):   {rows[2]['c_med'] / rows[0]['c_med']:.2f}")
    print(f"compile 10,000 routes: {bench_compile(10_000) * 1000:.0f} ms (median of 5)")
    print(f"total bench time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
