"""How long a big decK file takes: load + validate, dump, and import into the local store.

Generates a file with 10,000 entities (services, routes, plugins, consumers with key-auth
credentials), then prints medians of several runs. Never fails on time.

    .venv/bin/python bench/bench_declarative.py [--entities N] [--runs R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def make_doc(total: int) -> dict[str, Any]:
    """Per unit of 10: 1 service, 2 routes, 2 plugins (one per route), 2.5 consumers each with a key."""
    n_svc = max(1, total // 10)
    services = []
    for i in range(n_svc):
        routes = [{"name": f"r{i}-{j}", "paths": [f"/s{i}/r{j}"], "methods": ["GET", "POST"],
                   "plugins": [{"name": "request-transformer" if j else "rate-limiting",
                                "config": {"add": {"headers": [f"x-r:{i}"]}} if j else {"minute": 100, "policy": "local"}}]}
                  for j in range(2)]
        services.append({"name": f"svc{i}", "url": f"http://backend{i % 50}.internal:8080/api", "tags": ["bench"],
                         "routes": routes})
    consumers = [{"username": f"user{k}", "keyauth_credentials": [{"key": f"key-{k:08d}-secret"}]}
                 for k in range((total - n_svc * 5) // 2)]
    return {"_format_version": "3.0", "services": services, "consumers": consumers}


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from konnect_desktop.model import declarative

    text = yaml.safe_dump(make_doc(args.entities), sort_keys=False)
    probe = declarative.load(text)
    n = probe.entity_count()
    print(f"file: {len(text) / 1e6:.2f} MB YAML, {n} entities {probe.counts()}")

    t_parse, _ = median_time(lambda: declarative.parse_text(text), args.runs)
    t_load, config = median_time(lambda: declarative.load(text), args.runs)
    print(f"parse YAML only:      median {t_parse * 1000:8.1f} ms")
    print(f"load + validate:      median {t_load * 1000:8.1f} ms  ({n / t_load:,.0f} entities/s)")
    t_json, _ = median_time(lambda: declarative.load(declarative.dump(config, fmt="json")), 1)
    print(f"load + validate JSON: {t_json * 1000:8.1f} ms  (one run, includes a JSON dump)")
    t_tree, _ = median_time(lambda: declarative.to_deck_dict(config), args.runs)
    print(f"Config → deck tree:   median {t_tree * 1000:8.1f} ms")
    t_dump, out = median_time(lambda: declarative.dump(config), args.runs)
    print(f"dump (YAML):          median {t_dump * 1000:8.1f} ms  ({len(out) / 1e6:.2f} MB)")
    t_dump_json, _ = median_time(lambda: declarative.dump(config, fmt="json"), args.runs)
    print(f"dump (JSON):          median {t_dump_json * 1000:8.1f} ms")

    try:
        from konnect_desktop.runtime.store import Store
    except ImportError as exc:
        print(f"store import:         skipped (runtime.store not available yet: {exc})")
        return
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(max(1, args.runs // 2 + 1)):
            store = Store(Path(tmp) / f"bench{i}.db")
            t0 = time.perf_counter()
            store.replace_all(config)
            times.append(time.perf_counter() - t0)
            close = getattr(store, "close", None)
            if close:
                close()
    t_store = statistics.median(times)
    print(f"store replace_all:    median {t_store * 1000:8.1f} ms  ({n / t_store:,.0f} entities/s, fresh SQLite file, {len(times)} runs)")
    print(f"file → store total:   {(t_load + t_store) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
