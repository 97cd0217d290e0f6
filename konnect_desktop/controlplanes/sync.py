"""Applying a replication plan to a control plane.

The plan (``model/diff.py``) says what to change; this module does it against any
``ControlPlane``: batch by batch in dependency order (colliding deletes, then creates and updates
parents first, then deletes children first), concurrently within a batch, translating foreign
keys from the desired side's ids to the target's. It stops cleanly after the first batch with a
failure and reports, for every change, whether it was applied, failed (with the server's words)
or not attempted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..credentials import mask_text
from ..errors import AppError
from ..jsontypes import JSONObject
from ..model.diff import Change, Plan
from ..model.entities import ENTITIES
from .base import ControlPlane

MEMBERSHIP = "consumer_group_consumers"
ProgressFn = Callable[[int, int, Change, str], None]  # (done, total, change, outcome)


@dataclass
class Outcome:
    change: Change
    status: str  # "applied" | "failed" | "skipped"
    error: str | None = None
    result: JSONObject | None = None


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status == "applied" for o in self.outcomes)

    @property
    def applied(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "applied"]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    def summary(self) -> dict[str, int]:
        out = {"creating": 0, "updating": 0, "deleting": 0}
        for o in self.applied:
            out[{"create": "creating", "update": "updating", "delete": "deleting"}[o.change.action]] += 1
        out["total"] = sum(out.values())
        return out


_DROP = ("created_at", "updated_at")


def _body(change: Change, id_map: dict[tuple[str, str], str], *, keep_id: bool) -> JSONObject:
    """The desired entity as sent to the target: timestamps dropped, foreign keys translated."""
    src = change.new or {}
    out = {k: v for k, v in src.items() if k not in _DROP}
    if not keep_id:
        out.pop("id", None)
    for fname, f in ENTITIES[change.table].foreign_keys.items():
        ref = out.get(fname)
        if isinstance(ref, dict) and ref.get("id"):
            out[fname] = {"id": id_map.get((f.reference or "", ref["id"]), ref["id"])}
    if change.table == "keyauth_credentials":
        out.pop("ttl", None)
    return out


async def apply(
    plan: Plan,
    target: ControlPlane,
    *,
    concurrency: int = 8,
    progress: ProgressFn | None = None,
) -> ApplyReport:
    """Apply ``plan`` to ``target``. Cancellation (``task.cancel()``) stops between requests."""
    id_map = dict(plan.id_map)
    report = ApplyReport()
    steps = plan.steps()
    total = sum(len(b) for b in steps)
    done = 0
    sem = asyncio.Semaphore(concurrency)
    failed = False

    async def run_one(c: Change) -> Outcome:
        # progress is told as each change finishes (not when its whole batch has), so a bar
        # moves during a large batch and a cancelled run knows exactly what was done
        nonlocal done
        o = await attempt(c)
        done += 1
        if progress:
            progress(done, total, o.change, o.status)
        return o

    async def attempt(c: Change) -> Outcome:
        async with sem:
            try:
                if c.table == MEMBERSHIP:
                    # memberships have no collection of their own on Kong's Admin API
                    m = _body(c, id_map, keep_id=False) if c.action == "create" else (c.old or {})
                    group, consumer = m["consumer_group"]["id"], m["consumer"]["id"]
                    if c.action == "create":
                        await target.add_consumer_to_group(group, consumer)
                    else:
                        await target.remove_consumer_from_group(group, consumer)
                    return Outcome(c, "applied")
                if c.action == "create":
                    body = _body(c, id_map, keep_id=True)
                    res = await target.create(c.table, body)
                    if c.new and c.new.get("id") and isinstance(res, dict) and res.get("id"):
                        id_map[(c.table, c.new["id"])] = res["id"]
                    return Outcome(c, "applied", result=res)
                if c.action == "update":
                    body = _body(c, id_map, keep_id=False)
                    res = await target.update(c.table, (c.old or {})["id"], body)
                    return Outcome(c, "applied", result=res)
                await target.delete(c.table, (c.old or {})["id"])
                return Outcome(c, "applied")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported per entity; the run stops after this batch
                return Outcome(c, "failed", error=_describe(exc))

    for batch in steps:
        if failed:
            report.outcomes.extend(Outcome(c, "skipped") for c in batch)
            continue
        results = await asyncio.gather(*(run_one(c) for c in batch))
        for o in results:
            report.outcomes.append(o)
            if o.status == "failed":
                failed = True
    return report


def _describe(exc: Exception) -> str:
    """One line for a failed change: an ``AppError``'s own sentence, else the exception's text
    (masked: it did not come through a control plane's error hierarchy)."""
    if isinstance(exc, AppError):
        return exc.message or type(exc).__name__
    return mask_text(str(exc)) or type(exc).__name__


def render_report(report: ApplyReport) -> str:
    """What was and was not applied, for the CLI and the GUI's result list."""
    lines = []
    for o in report.failed:
        lines.append(f"Error: failed to {o.change.action} {o.change.kind} {o.change.name}: {o.error}")
    if report.skipped:
        lines.append(f"Not applied ({len(report.skipped)}): " + ", ".join(
            f"{o.change.action} {o.change.kind} {o.change.name}" for o in report.skipped[:20]
        ) + (" …" if len(report.skipped) > 20 else ""))
    return "\n".join(lines) + ("\n" if lines else "")
