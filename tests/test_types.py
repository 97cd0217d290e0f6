"""The type checker is part of the test command: mypy, configured in pyproject.toml ([tool.mypy]:
strict on the package except ui/, with the modules not yet strict-clean listed there; unused
ignores and ignores without an error code are errors).

Two ratchets keep the types honest where mypy cannot: the number of ``Any`` per layer may not
rise above its budget (untyped JSON is written ``JSONValue``/``JSONObject``/``JSONArray`` from
``konnect_desktop/jsontypes.py``, so what is counted here is every other ``Any``), and every
``type: ignore`` names its error code (checked in ui/ too, which mypy does not see)."""

from __future__ import annotations

import functools
import io
import re
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "konnect_desktop"

# ``Any`` written in each layer (tokens named Any, imports included; comments and strings not).
# Lower a budget when you remove some; raising one needs a reason in the commit.
ANY_BUDGET = {
    "foundation": 16,
    "model": 84,
    "plugins": 116,
    "runtime": 184,
    "controlplanes": 30,
    "console": 4,
    "ui": 403,
}

# The modules [tool.mypy] skips (ignore_errors): none, and none may be added.
SKIPPED_MODULES: set[str] = set()  # none left: every module under mypy strict

_IGNORE = re.compile(r"#\s*type:\s*ignore(?!\[[a-z0-9-]+(,\s*[a-z0-9-]+)*\])")


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else "foundation"


@functools.cache  # both ratchets read every file: tokenize each once
def _tokens(path: Path) -> tuple[tokenize.TokenInfo, ...]:
    return tuple(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))


def any_counts() -> dict[str, int]:
    counts = dict.fromkeys(ANY_BUDGET, 0)
    for p in sorted(PACKAGE.rglob("*.py")):
        n = sum(1 for t in _tokens(p) if t.type == tokenize.NAME and t.string == "Any")
        counts[_layer(p)] = counts.get(_layer(p), 0) + n
    return counts


def test_mypy_is_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_skips_no_new_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    skipped = {m for o in config.get("overrides", []) if o.get("ignore_errors") for m in o["module"]}
    assert skipped <= SKIPPED_MODULES, f"modules newly skipped by mypy: {sorted(skipped - SKIPPED_MODULES)}"


def test_any_stays_within_each_layers_budget() -> None:
    counts = any_counts()
    print("Any per layer (count / budget):", {k: f"{v}/{ANY_BUDGET.get(k)}" for k, v in counts.items()})
    over = {k: (v, ANY_BUDGET.get(k)) for k, v in counts.items() if k not in ANY_BUDGET or v > ANY_BUDGET[k]}
    assert over == {}, (
        f"more Any than budgeted (count, budget): {over}; type the new code, or write untyped JSON "
        "as JSONValue/JSONObject (konnect_desktop/jsontypes.py)")


def test_every_type_ignore_names_its_error_code() -> None:
    bare = [
        f"{p.relative_to(ROOT)}:{t.start[0]}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for t in _tokens(p)
        if t.type == tokenize.COMMENT and _IGNORE.search(t.string)
    ]
    assert bare == [], f"type: ignore without an error code (write type: ignore[code]  # why): {bare}"
