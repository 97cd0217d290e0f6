"""The house rules that a machine can check."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "konnect_desktop"
QT_MODULES = {"PySide6", "qasync", "shiboken6"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_qt_is_imported_only_inside_ui() -> None:
    offenders = [
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if "ui" not in p.relative_to(PACKAGE).parts[:1] and _imports(p) & QT_MODULES
    ]
    assert offenders == [], f"Qt imported outside konnect_desktop/ui/: {offenders}"


def test_core_does_not_import_ui() -> None:
    offenders = []
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE)
        if rel.parts[0] == "ui":
            continue
        text = p.read_text(encoding="utf-8")
        if "konnect_desktop.ui" in text or "from .ui" in text or "from ..ui" in text:
            if rel.name != "cli.py":  # cli only names the gui module as a string to import lazily
                offenders.append(str(rel))
    assert offenders == [], f"core modules import the ui: {offenders}"


def test_ruff_is_clean() -> None:
    """The lint rules (pyproject.toml) hold for the whole tree, Qt-only-in-ui included (TID251)."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    root = PACKAGE.parent
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The one declaration of the layer order: each layer may import those before it, never one after.
# FOUNDATION modules sit below every layer (where files live, the log, secrets, profiles) and
# import no layer; ENTRY modules (the package root, the CLI) sit above all and may import any.
FOUNDATION = ("appdirs", "applog", "credentials", "errors", "jsontypes", "native", "settings")
LAYERS = ("model", "plugins", "runtime", "controlplanes", "console", "ui")
ENTRY = ("__init__", "__main__", "cli", "completion")


def _rank() -> dict[str, int]:
    rank = {name: 0 for name in FOUNDATION}
    rank.update({name: i + 1 for i, name in enumerate(LAYERS)})
    rank.update({name: len(LAYERS) + 1 for name in ENTRY})
    return rank


def _imported_packages(path: Path) -> set[tuple[str, int]]:
    """(first package under konnect_desktop, line) for every import in ``path``, relative ones
    resolved, imports inside functions included."""
    rel = path.relative_to(PACKAGE).parts
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".") if node.module else []
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level]
                targets = [base + mod] if mod else [base + [a.name] for a in node.names]
            elif mod and mod[0] == "konnect_desktop":
                targets = [mod[1:] or [a.name for a in node.names][:1]]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.startswith("konnect_desktop.")]
        found |= {(t[0], node.lineno) for t in targets if t}
    return found


def test_layers_point_one_way() -> None:
    """foundation <- model <- plugins <- runtime <- controlplanes <- console <- ui <- entry points:
    a module never imports one of a later layer, not even inside a function, and every module of
    the package belongs to exactly one of them."""
    rank = _rank()
    offenders, homeless = [], []
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE)
        layer = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if layer not in rank:
            homeless.append(str(rel))
            continue
        for pkg, line in _imported_packages(p):
            if pkg in rank and rank[pkg] > rank[layer]:
                offenders.append(f"{p.relative_to(PACKAGE.parent)}:{line} imports {pkg}")
    assert homeless == [], f"modules in no layer (add them to FOUNDATION, LAYERS or ENTRY): {homeless}"
    assert offenders == [], offenders


# "One of each" (issue #15): the names below are defined once in the package (at a module's top
# level: a class, a function or an assigned constant), and the names that were near-copies of them
# are gone. Another module imports the one definition instead of writing its own.
ONE_OF_EACH = (
    "AppError", "NotFound", "ApiError", "Services", "ConfigIndex", "KONG_VERSION", "TAGLINE",
    "is_uuid", "foreign_id", "describe_transport_error", "exception_chain", "host_port",
    "Multipart", "parse_multipart", "CertInfo", "mask_text", "from_kong_body",
)
GONE = ("IndexedConfig", "_fk", "_exc_chain")


def _top_level_names(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str, int]] = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.name, node.lineno))
        elif isinstance(node, ast.Assign):
            out += [(t.id, node.lineno) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append((node.target.id, node.lineno))
    return out


def test_one_of_each() -> None:
    where: dict[str, list[str]] = {name: [] for name in (*ONE_OF_EACH, *GONE)}
    for p in sorted(PACKAGE.rglob("*.py")):
        for name, line in _top_level_names(p):
            if name in where:
                where[name].append(f"{p.relative_to(PACKAGE).as_posix()}:{line}")
    twice = {name: places for name, places in where.items() if name in ONE_OF_EACH and len(places) > 1}
    missing = [name for name in ONE_OF_EACH if not where[name]]
    back = {name: places for name, places in where.items() if name in GONE and places}
    assert twice == {}, f"defined more than once (import the one instead): {twice}"
    assert missing == [], f"the one definition is gone (update ONE_OF_EACH): {missing}"
    assert back == {}, f"near-copies that were removed are back: {back}"


def test_no_module_guesses_an_errors_message() -> None:
    """Every error the app raises on purpose is an ``AppError`` with ``.message`` (and ``.status``,
    ``.code``, ``.fields``): code reads them after ``isinstance(exc, AppError)``, never by
    ``getattr(exc, "message", ...)``."""
    import re

    guess = re.compile(r"""getattr\(\s*[\w.]+\s*,\s*["']message["']"""
                       r"""|getattr\(\s*(?:exc|err|error|e)\s*,\s*["'](?:fields|code|status)["']""")
    offenders = [f"{p.relative_to(PACKAGE).as_posix()}:{n}" for p in sorted(PACKAGE.rglob("*.py"))
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if guess.search(line)]
    assert offenders == []
