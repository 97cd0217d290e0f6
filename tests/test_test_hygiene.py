"""The tests' own house rule, checked on their source: no test waits for the wall clock.

A test that sleeps to reach a moment, asserts that something took between x and y seconds, or
reads which second/minute/hour it is, passes or fails with the machine's load and the time of
day. Time goes through clocks the test holds (``tests/fake_clock.py``), waits go through events
and conditions (``qtbot.waitUntil``, ``asyncio.Event``, bounded polls that end when the condition
holds). This scan of ``tests/`` finds, by their shape:

- ``sleep``: ``time.sleep``/``asyncio.sleep`` of a constant above ``MAX_SLEEP`` seconds, and
  ``qtbot.wait``/``QTest.qWait`` of a constant above ``MAX_SLEEP`` in milliseconds;
- ``window``: an ``assert`` ordering (<, <=, >, >=) a clock reading (``time.monotonic()``,
  ``time.time()``, ``perf_counter()``, ``loop.time()``...) or a duration (a name like
  ``elapsed``, ``took``, ``waited``, ``duration``, ``gap``) — except against a ``deadline``,
  the bound of a condition wait;
- ``boundary``: the wall clock cut into seconds, minutes or hours (``time.time() // 60``,
  ``% 3600``...), as a test does to wait for, or dodge, a window's turn.

Code a test gives a child process as a string (a multi-line constant that parses as Python and
imports something) is scanned too. ``ALLOWED`` lists what must stay, each with its reason.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MAX_SLEEP = 0.05  # seconds: a yield to other threads or tasks, not a wait for time to pass
CLOCK_CALLS = {"monotonic", "time", "perf_counter", "perf_counter_ns", "monotonic_ns", "time_ns", "process_time"}
CLOCK_OWNERS = {"time", "loop", "_loop"}  # time.time(), loop.time(), ...
DURATION_NAME = re.compile(r"elapsed|took|waited|duration|gap", re.IGNORECASE)
BOUNDARIES = {1, 60, 3600, 86400}

# (file relative to tests/, function, rule) -> why it must stay
ALLOWED: dict[tuple[str, str, str], str] = {
    ("browser/test_portal_browser.py", "test_developer_registers_an_app_in_the_browser_and_calls_the_api",
     "boundary"): "the gateway runs as a separate `gateway run` process, which has no clock a test can "
                  "hold; the hourly-limit assertion is skipped in the rare run that spans an hour's turn",
}


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if isinstance(f, ast.Attribute) and f.attr in CLOCK_CALLS:
        owner = f.value
        return isinstance(owner, ast.Name) and owner.id in CLOCK_OWNERS or (
            isinstance(owner, ast.Call) and isinstance(owner.func, ast.Attribute)
            and owner.func.attr in ("get_running_loop", "get_event_loop"))
    return isinstance(f, ast.Name) and f.id in ("monotonic", "perf_counter")


def _mentions_clock(node: ast.AST) -> bool:
    return any(_is_clock_call(n) for n in ast.walk(node))


def _is_duration(node: ast.AST) -> bool:
    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    names += [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
    return any(DURATION_NAME.search(x) for x in names) or (
        isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _mentions_clock(node))


def _is_deadline(node: ast.AST) -> bool:
    return any("deadline" in getattr(n, "id", getattr(n, "attr", "")).lower()
               for n in ast.walk(node) if isinstance(n, ast.Name | ast.Attribute))


def _constant(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Attribute):
        owner = f.value.id if isinstance(f.value, ast.Name) else ""
        return f"{owner}.{f.attr}"
    return f.id if isinstance(f, ast.Name) else ""


class _Scan(ast.NodeVisitor):
    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.function = "<module>"
        self.found: list[tuple[str, str, str, int]] = []  # rel, function, rule, line

    def _note(self, rule: str, node: ast.AST) -> None:
        self.found.append((self.rel, self.function, rule, getattr(node, "lineno", 0)))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:  # noqa: N802
        outer = self.function
        if outer == "<module>":  # report against the test (or helper) at the top
            self.function = node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        name = _call_name(node)
        value = _constant(node.args[0]) if node.args else None
        if value is not None:
            if name in ("time.sleep", "asyncio.sleep", "sleep") and value > MAX_SLEEP:
                self._note("sleep", node)
            elif name in ("qtbot.wait", "QTest.qWait") and value > MAX_SLEEP * 1000:
                self._note("sleep", node)
        self.generic_visit(node)

    def visit_Assert(self, node: ast.Assert) -> None:  # noqa: N802
        for cmp in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            if not all(isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE) for op in cmp.ops):
                continue
            sides = [cmp.left, *cmp.comparators]
            if any(_is_deadline(s) for s in sides):
                continue  # `assert time.monotonic() < deadline`: a condition wait's bound
            if any(_mentions_clock(s) or _is_duration(s) for s in sides):
                self._note("window", cmp)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:  # noqa: N802
        text = node.value
        if not isinstance(text, str) or "\n" not in text or "import " not in text:
            return
        try:
            child = ast.parse(textwrap.dedent(text))
        except SyntaxError:
            return  # not code
        scan = _Scan(self.rel)
        scan.function = f"{self.function} (child code)"
        scan.visit(child)
        self.found += [(rel, fn, rule, node.lineno + line - 1) for rel, fn, rule, line in scan.found]

    def visit_BinOp(self, node: ast.BinOp) -> None:  # noqa: N802
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and _mentions_clock(node.left) \
                and _constant(node.right) in BOUNDARIES:
            self._note("boundary", node)
        self.generic_visit(node)


def _scan() -> list[tuple[str, str, str, int]]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS).as_posix()
        if path == Path(__file__).resolve():
            continue  # its examples are offences on purpose
        scan = _Scan(rel)
        scan.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += scan.found
    return found


def test_no_test_waits_for_the_wall_clock() -> None:
    found = _scan()
    offenders = [f"{rel}:{line} {fn}: {rule}" for rel, fn, rule, line in found if (rel, fn, rule) not in ALLOWED]
    assert offenders == [], ("tests that wait for or time the wall clock (hold a clock: tests/fake_clock.py; "
                             "wait for a condition: an event or qtbot.waitUntil):\n" + "\n".join(offenders))
    # an allowance nothing needs any more goes, so the list stays short and true
    unused = set(ALLOWED) - {(rel, fn, rule) for rel, fn, rule, _ in found}
    assert unused == set(), f"ALLOWED entries that match nothing: {sorted(unused)}"


def test_the_scan_finds_each_shape() -> None:
    """The rules catch what they are for (and leave condition waits alone)."""
    source = '''
import asyncio, time
async def test_shapes(qtbot, loop):
    time.sleep(0.5)
    await asyncio.sleep(2)
    qtbot.wait(300)
    t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.0
    assert elapsed >= 0.15
    assert loop.time() - started > 3
    while int(time.time() // 60) == minute:
        pass
    CHILD = """
        import time
        time.sleep(600)
    """
    # fine: short yields, bounded condition waits, equality on a held clock
    await asyncio.sleep(0.01)
    qtbot.wait(10)
    assert time.monotonic() < deadline, "never came"
    assert res.elapsed == 0.5
'''
    scan = _Scan("example.py")
    scan.visit(ast.parse(source))
    assert [(rule, line) for _, _, rule, line in scan.found] == [
        ("sleep", 4), ("sleep", 5), ("sleep", 6), ("window", 8), ("window", 9), ("window", 10), ("boundary", 11),
        ("sleep", 15)]
    assert scan.found[-1][1] == "test_shapes (child code)"
