"""The proxy's hot path, compiled: which modules are compiled, building them, and loading them
only when they were built from the sources beside them.

The proxy's per-request work is Python (``runtime/http1.py`` → ``exchange.py`` → ``client_response.py``
and the plugins every route uses). mypyc compiles those same typed sources to C extension
modules — nothing is written twice, and a reader reads the Python. ``scripts/build-native`` (run
by the install scripts) builds them into ``konnect_desktop/_native/`` with a manifest of the
sources' hashes; at import time (``konnect_desktop/__init__.py`` calls :func:`install`) the
compiled modules are used only when *every* listed source is byte-identical to what was built,
for this Python. One edited source, a missing build or another interpreter, and the whole set runs
as plain Python — the compiled modules call each other directly, so half a set cannot be mixed
with fresh sources. ``KONNECT_DESKTOP_PURE_PYTHON=1`` forces plain Python (to debug, or compare).

What compiling asks of the listed modules (mypyc checks it at build time, or at run time where
a value is typed ``Any``): they pass mypy strict; a local name holds one type; no async
generators; a class that plain-Python classes subclass says so (``mypyc_attr``); a test replaces
a module's function through a seam (an attribute it reads), not by patching a compiled function.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
OUT = PACKAGE / "_native"  # the build: manifest.json + extension modules (not in git)
GROUP = "konnect_desktop._native"  # mypyc's shared library of the set: konnect_desktop._native__mypyc
ENV_PURE = "KONNECT_DESKTOP_PURE_PYTHON"

# The modules every proxied request runs through, in pipeline order. Adding one: it must pass
# mypy strict and what the module docstring lists; then `scripts/build-native` and the suite.
COMPILED: tuple[str, ...] = (
    "runtime.http1",
    "runtime.exchange",
    "runtime.exchange_upstream",
    "runtime.upstream",
    "runtime.client_response",
    "runtime.responses",
    "runtime.request_views",
    "runtime.router",
    "runtime.limits",
    "runtime.traffic",
    "runtime.config_view",
    "plugins.base",
    "plugins.http_util",
    "plugins.config_view",
    "plugins.auth_common",
    "plugins.key_auth",
    "plugins.acl",
    "plugins.rate_limiting",
    "plugins.rate_limiting_policies",
    "plugins.request_transformer",
)


def _source(module: str) -> Path:
    return PACKAGE.joinpath(*module.split(".")).with_suffix(".py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _abi() -> str:
    """What an extension module is built for: this interpreter and platform."""
    return f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}-{sysconfig.get_config_var('EXT_SUFFIX')}"


@dataclass(frozen=True)
class Status:
    """Whether the compiled modules are in use, and if not, why (for banners, the bench, tests)."""

    compiled: bool
    reason: str
    modules: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.compiled:
            return f"compiled ({len(self.modules)} modules)"
        return f"plain Python ({self.reason})"


def _remedy() -> str:
    """What to do about a missing or stale build, where the user is: a checkout rebuilds; an app
    bundle (PyInstaller sets ``sys.frozen``) was built without one and cannot."""
    if getattr(sys, "frozen", False):
        return "this app bundle carries no usable compiled build"
    return "run scripts/build-native"


def check(out: Path = OUT, env: dict[str, str] | os._Environ[str] = os.environ) -> tuple[Status, dict[str, Path]]:
    """Decide whether the build in ``out`` may be used: (status, module name → extension file)."""
    if env.get(ENV_PURE):
        return Status(False, f"{ENV_PURE} is set"), {}
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except FileNotFoundError:
        return Status(False, f"not built; {_remedy()}"), {}
    except (OSError, ValueError) as exc:
        return Status(False, f"unreadable build manifest ({exc}); {_remedy()}"), {}
    if manifest.get("abi") != _abi():
        return Status(False, f"built for another Python; {_remedy()}"), {}
    if sorted(manifest.get("sources", {})) != sorted(COMPILED):
        return Status(False, f"built for another module list; {_remedy()}"), {}
    for module in COMPILED:
        try:
            fresh = _digest(_source(module)) == manifest["sources"][module]
        except OSError:
            fresh = False
        if not fresh:
            return Status(False, f"konnect_desktop/{module.replace('.', '/')}.py changed since the build; "
                                 f"{_remedy()}"), {}
    files = {name: out / rel for name, rel in manifest.get("files", {}).items()}
    if not all(f.is_file() for f in files.values()):
        return Status(False, f"incomplete build; {_remedy()}"), {}
    return Status(True, "", tuple(COMPILED)), files


class _Finder(importlib.abc.MetaPathFinder):
    """Serves the compiled modules (and their shared library) from the build folder."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


status = Status(False, "not checked")


def install() -> Status:
    """Put the compiled modules first on the import path when the build is usable (idempotent)."""
    global status
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return status
    status, files = check()
    if status.compiled:
        sys.meta_path.insert(0, _Finder(files))
    return status


def bundle_files(out: Path = OUT) -> list[tuple[Path, str]]:
    """What an app bundle ships as data for :func:`install` to find a current build in it: the
    build and the listed sources (:func:`check` hashes them; a bundle otherwise carries only their
    bytecode), as (file, its folder relative to the package's parent). Empty without a current build."""
    current, files = check(out, env={})
    if not current.compiled:
        return []
    build = [out / "manifest.json", *files.values()]  # lands where install() looks: OUT
    return ([(f, str(Path(PACKAGE.name, OUT.name, f.parent.relative_to(out)))) for f in build]
            + [(_source(m), str(_source(m).parent.relative_to(PACKAGE.parent))) for m in COMPILED])


# -- building (scripts/build-native) -----------------------------------------------------------------
def build(out: Path = OUT, *, force: bool = False, log: Callable[[str], object] = print) -> Status:
    """Compile ``COMPILED`` with mypyc into ``out`` (skipped when the build there is current).
    Raises whatever the compiler raises; the caller decides whether plain Python will do."""
    current, _ = check(out, env={})
    if current.compiled and not force:
        log("native: the compiled proxy modules are up to date")
        return current
    # the hashes of what is about to be compiled: a source edited during the compile then shows
    # as changed, instead of the build claiming code it was not built from
    digests = {m: _digest(_source(m)) for m in COMPILED}
    from mypyc.build import mypycify  # the compiler: a build-time dependency only
    from setuptools import Distribution  # type: ignore[import-untyped]  # (no stubs installed)

    log(f"native: compiling {len(COMPILED)} proxy modules with mypyc (about a minute, once)…")
    with tempfile.TemporaryDirectory(prefix="konnect-native-") as tmp:
        root, flags = PACKAGE.parent, []
        if not (root / "pyproject.toml").is_file():
            # an installed package (the app bundle's build): mypy would take site-packages for the
            # project's folder (its mypy_extensions.py "shadows" the stubs), so compile a copy of
            # the package's sources; no settings file there, none from the folders above. The
            # checkout's strict type check gates the sources; the compile follows the rest of the
            # package silently, as [tool.mypy] does.
            root = Path(tmp, "src")
            shutil.copytree(PACKAGE, root / PACKAGE.name,
                            ignore=shutil.ignore_patterns("_native*", "resources", "__pycache__", "*.so"))
            flags = ["--config-file=", "--follow-imports=silent"]
        sources = flags + [str(_source(m).relative_to(PACKAGE.parent)) for m in COMPILED]
        cwd = os.getcwd()
        os.chdir(root)  # a checkout: mypyc reads the project's [tool.mypy] options from here
        try:
            exts = mypycify(sources, opt_level="3", group_name=GROUP, target_dir=os.path.join(tmp, "c"))
            dist = Distribution({"name": "konnect-desktop-native", "ext_modules": exts})
            cmd = dist.get_command_obj("build_ext")
            staging = os.path.join(tmp, "lib")
            cmd.build_lib = staging
            cmd.build_temp = os.path.join(tmp, "obj")
            cmd.parallel = os.cpu_count() or 1
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        # module name → its file in the build (build_ext's layout: a/b/c<suffix>), the shared
        # library of the set included
        files = {ext.name: "/".join(ext.name.split(".")) + suffix for ext in exts}
        manifest = {"abi": _abi(), "sources": digests, "files": files}
        Path(staging, "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        # replace the old build in one step: a crash leaves either the old set or the new one
        fresh = out.with_name(out.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(staging, fresh)
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    done, _ = check(out, env={})
    log(f"native: {done}")
    return done


def main(argv: list[str] | None = None) -> int:
    """``build [--force] [--strict]`` or ``status`` (scripts/build-native and the install scripts
    call it): a failed build exits 0 — the proxy then runs as plain Python — unless ``--strict``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["status"]:
        print(check()[0])
        return 0
    try:
        build(force="--force" in args)
    except Exception as exc:  # no compiler, no Python headers, …: plain Python still works
        print(f"native: not compiled ({type(exc).__name__}: {exc}); the proxy runs as plain Python",
              file=sys.stderr)
        return 1 if "--strict" in args else 0
    return 0

