"""Running a collection: each request resolved, sent (a burst: several times in a row), its
gateway record looked up in the local runtime's traffic log, and its assertions evaluated.

The same runner serves ``konnect-desktop test`` and the Request Console's collection tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from .assertions import Check, Outcome, evaluate
from .collection import Collection, CollectionRequest
from .environments import Environment, VariableError, builtin_values, resolve
from .insight import lookup
from .sender import Exchange, Sender, SendError

if TYPE_CHECKING:
    from ..runtime.traffic import TrafficLog

REMOTE = "a remote gateway: only the client's side is checked"


@dataclass
class RequestResult:
    request: CollectionRequest
    checks: list[Check] = field(default_factory=list)
    responses: list[Exchange] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and not c.skipped]

    @property
    def skipped(self) -> list[Check]:
        return [c for c in self.checks if c.skipped]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def lines(self) -> list[str]:
        head = f"{'PASS' if self.ok else 'FAIL'}  {self.request.title}"
        status = f" → {self.responses[0].status}" if self.responses else ""
        burst = f" ×{len(self.responses)}" if len(self.responses) > 1 else ""
        n = len(self.checks) - len(self.skipped)
        counts = f"  ({n} check{'' if n == 1 else 's'}"
        counts += f", {len(self.skipped)} skipped)" if self.skipped else ")"
        out = [head + status + burst + counts]
        if self.error and not self.checks:  # otherwise the "response" check says it
            out.append(f"      ✗ {self.error}")
        out += [f"      {c.line()}" for c in self.failed]
        return out


@dataclass
class RunReport:
    collection: Collection
    results: list[RequestResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def summary(self) -> str:
        passed = sum(r.ok for r in self.results)
        skipped = sum(len(r.skipped) for r in self.results)
        tail = f"; {skipped} gateway checks skipped ({REMOTE})" if skipped else ""
        return f"{passed} passed, {len(self.results) - passed} failed{tail}"

    def junit_xml(self) -> str:
        """JUnit XML (one testsuite, one testcase per request) for CI systems."""
        fails = sum(not r.ok for r in self.results)
        cases = []
        for r in self.results:
            classname = ".".join((self.collection.name, *r.request.group))
            body = ""
            if not r.ok:
                msg = r.error or "; ".join(c.line()[2:] for c in r.failed)
                detail = "\n".join(([r.error] if r.error else []) + [c.line() for c in r.failed])
                body += f"<failure message={quoteattr(msg)} type=\"AssertionError\">{escape(detail)}</failure>"
            passed_lines = [c.line() for c in r.checks if c.ok or c.skipped]
            if passed_lines:
                body += f"<system-out>{escape(chr(10).join(passed_lines))}</system-out>"
            cases.append(f'  <testcase classname={quoteattr(classname)} name={quoteattr(r.request.name)} '
                         f'time="{r.seconds:.3f}">{body}</testcase>')
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<testsuite name={quoteattr(self.collection.name)} tests="{len(self.results)}" '
                f'failures="{fails}" errors="0" skipped="0" time="{self.seconds:.3f}">\n'
                + "\n".join(cases) + "\n</testsuite>\n")


async def run_request(req: CollectionRequest, sender: Sender, env: Environment | None, *,
                      base: str | None = None, admin: str | None = None, traffic: TrafficLog | None = None,
                      gateway_reason: str | None = None) -> RequestResult:
    result = RequestResult(req)
    t0 = time.perf_counter()
    try:
        spec = resolve(req.spec, env, builtin_values(base, admin)).spec.applied()
    except VariableError as exc:
        result.error = exc.message
        return result
    outcome = Outcome([], [], None if traffic is not None else (gateway_reason or REMOTE))
    try:
        for _ in range(max(1, req.burst)):
            ex = await sender.send(spec)
            outcome.responses.append(ex)
            if traffic is not None and not outcome.gateway and ex.request_id:  # top-level checks: the first
                outcome.gateway.append(await lookup(traffic, ex.request_id))
    except SendError as exc:
        outcome.error = exc.message
    result.responses = outcome.responses
    result.checks = evaluate(req.expect, outcome)
    result.error = outcome.error
    result.seconds = time.perf_counter() - t0
    return result


async def run_collection(collection: Collection, sender: Sender, env: Environment | None, *,
                         base: str | None = None, admin: str | None = None, traffic: TrafficLog | None = None,
                         only: Callable[[CollectionRequest], bool] | None = None,
                         on_result: Callable[[RequestResult], None] | None = None) -> RunReport:
    """Run every request (or those ``only`` keeps) in order; never raises for a failed check."""
    report = RunReport(collection)
    t0 = time.perf_counter()
    for req in collection.requests:
        if only is not None and not only(req):
            continue
        r = await run_request(req, sender, env, base=base, admin=admin, traffic=traffic)
        report.results.append(r)
        if on_result is not None:
            on_result(r)
    report.seconds = time.perf_counter() - t0
    return report
