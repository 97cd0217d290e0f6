"""Replication speed: 5,000 entities, local runtime → local runtime over the Admin API.

Prints seconds for dump (export over HTTP), diff (export of the target + plan; against the empty
target before the sync and against the full one after it) and sync (apply),
the medians of a few runs, plus entities per second. Never asserts on time.

    .venv/bin/python bench/bench_replication.py [--entities 5000] [--runs 3] [--cli]

In-process (default), the client and both gateways share one interpreter; ``--cli`` runs two
``gateway run`` processes and times the ``dump`` / ``replicate`` / ``diff`` commands as a user would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from konnect_desktop.controlplanes.kong_admin import KongAdminControlPlane
from konnect_desktop.controlplanes.sync import apply
from konnect_desktop.model import declarative
from konnect_desktop.model.diff import plan
from konnect_desktop.runtime.runtime import LocalRuntime


def make_config(n: int) -> declarative.Config:
    """About ``n`` entities: services with 2 routes, a plugin per service, consumers with a key."""
    services, consumers = [], []
    per_service = 4  # service + 2 routes + 1 plugin
    n_services = max(1, int(n * 0.6) // per_service)
    for i in range(n_services):
        services.append({
            "name": f"svc-{i:05d}", "url": f"http://upstream-{i % 50}.internal:8080/v1",
            "routes": [{"name": f"r-{i:05d}-{j}", "paths": [f"/s{i}/r{j}"]} for j in range(2)],
            "plugins": [{"name": "rate-limiting", "config": {"minute": 100 + i}}],
        })
    n_consumers = max(1, (n - n_services * per_service) // 2)
    for i in range(n_consumers):
        consumers.append({"username": f"user-{i:05d}", "keyauth_credentials": [{"key": f"key-{i:05d}-secret"}]})
    doc = {"_format_version": "3.0", "services": services, "consumers": consumers}
    return declarative.load(json.dumps(doc).encode())


async def one_run(tmp: Path, config: declarative.Config) -> dict[str, float]:
    us = LocalRuntime("us", db_path=tmp / "us.db")
    eu = LocalRuntime("eu", db_path=tmp / "eu.db")
    await us.start()
    await eu.start()
    try:
        await us.load_config(config)
        await eu.load_config(declarative.Config())
        async with KongAdminControlPlane(us.admin_url) as src, KongAdminControlPlane(eu.admin_url) as dst:
            t0 = time.perf_counter()
            desired = await src.export()
            t1 = time.perf_counter()
            current = await dst.export()
            the_plan = plan(current, desired)
            t2 = time.perf_counter()
            report = await apply(the_plan, dst, concurrency=16)
            t3 = time.perf_counter()
            assert report.ok, [o.error for o in report.failed][:3]
            again = plan(await dst.export(), desired)  # a diff against a full target
            t4 = time.perf_counter()
            assert again.empty, f"{len(again.changes)} changes left after sync"
        return {"dump": t1 - t0, "diff": t2 - t1, "sync": t3 - t2, "rediff": t4 - t3,
                "changes": float(len(the_plan.changes))}
    finally:
        await us.stop()
        await eu.stop()


def cli_runs(config: declarative.Config, runs: int) -> None:
    """As a user runs it: two headless gateways (separate processes) and the CLI."""
    import os
    import re
    import subprocess
    import sys

    exe = [sys.executable, "-m", "konnect_desktop"]
    times: dict[str, list[float]] = {"dump": [], "replicate": [], "diff": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "us.json"
            src.write_text(declarative.dump(config, fmt="json"))
            empty = Path(d) / "empty.json"
            empty.write_text('{"_format_version": "3.0"}')
            procs, admins = [], []
            for name, cfg in (("us", src), ("eu", empty)):
                env = dict(os.environ, KONNECT_DESKTOP_HOME=str(Path(d) / name))
                p = subprocess.Popen([*exe, "gateway", "run", "--name", name, "--proxy-listen", "127.0.0.1:0",
                                      "--admin-listen", "127.0.0.1:0", "--config", str(cfg)],
                                     stdout=subprocess.PIPE, text=True, env=env)
                line = p.stdout.readline() if p.stdout else ""
                admins.append(re.search(r"admin (http://\S+)", line).group(1))  # type: ignore[union-attr]
                procs.append(p)
            try:
                def timed(*args: str) -> float:
                    t = time.perf_counter()
                    subprocess.run([*exe, *args], check=True, stdout=subprocess.DEVNULL, timeout=600)
                    return time.perf_counter() - t

                times["dump"].append(timed("dump", "--from", admins[0], "-o", str(Path(d) / "dump.yaml")))
                times["replicate"].append(timed("replicate", "--from", admins[0], "--to", admins[1]))
                times["diff"].append(timed("diff", str(Path(d) / "dump.yaml"), "--to", admins[1], "--exit-on-drift"))
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(30)
    med = {k: statistics.median(v) for k, v in times.items()}
    total = sum(len(v) for v in config.values())
    print(f"CLI, separate processes, median of {runs}: dump {med['dump']:.2f} s  replicate (sync) "
          f"{med['replicate']:.2f} s ({total / med['replicate']:.0f} changes/s)  diff of a full target "
          f"{med['diff']:.2f} s  (each including ~0.5 s of interpreter start-up)")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="time the CLI against two gateway processes instead")
    args = ap.parse_args()
    config = make_config(args.entities)
    if args.cli:
        cli_runs(config, args.runs)
        return
    total = sum(len(v) for v in config.values())
    print(f"configuration: {total} entities ({', '.join(f'{t} {len(v)}' for t, v in config.items() if v)})")
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            r = await one_run(Path(d), config)
        results.append(r)
        print(f"run {i + 1}: dump {r['dump']:.2f} s  diff (empty target) {r['diff']:.2f} s  sync {r['sync']:.2f} s"
              f"  diff (full target, no drift) {r['rediff']:.2f} s  ({int(r['changes'])} changes)")
    med = {k: statistics.median(r[k] for r in results) for k in ("dump", "diff", "sync", "rediff")}
    print(f"median over {args.runs} runs: dump {med['dump']:.2f} s  diff {med['diff']:.2f} s  sync {med['sync']:.2f} s"
          f"  diff of a full target {med['rediff']:.2f} s")
    print(f"rates: dump {total / med['dump']:.0f} entities/s  sync {total / med['sync']:.0f} changes/s")


if __name__ == "__main__":
    asyncio.run(main())
