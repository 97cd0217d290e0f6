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
FOUNDATION = ("appdirs", "applog", "credentials", "errors", "jsontypes", "settings")
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
