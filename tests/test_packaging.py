"""What ships: resources found the same way from a checkout and an install, the desktop entry and
AppStream metadata valid under the freedesktop validators, and (when a bundle was built, or
``KONNECT_DESKTOP_BUNDLE_TEST=1`` asks for one) the bundle's smoke test."""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from konnect_desktop import appdirs
from konnect_desktop.runtime.manager import sample_config_path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
APP_ID = "io.github.konnect_desktop.KonnectDesktop"  # konnect_desktop.ui.app.APP_ID (no Qt here)
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
BUNDLE = ROOT / "dist" / "konnect-desktop"
PAGE_IDS = ("runtimes", "services", "products", "consumers", "plugins", "upstreams", "certificates", "vaults",
            "console", "traffic", "replication")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_resources_are_found_and_complete() -> None:
    assert appdirs.resource_path("icons", "konnect-desktop.svg").is_file()
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = appdirs.resource_path("icons", "hicolor", f"{size}x{size}", "apps", "konnect-desktop.png")
        assert png_size(png) == (size, size)
    for page in PAGE_IDS:
        svg = appdirs.resource_path("icons", "pages", f"{page}.svg")
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg
    assert sample_config_path() == appdirs.resource_path("sample", "kong.yaml") and sample_config_path().is_file()
    # one copy of the sample: the package folder no longer carries its own
    assert not (ROOT / "konnect_desktop" / "resources").exists()


def test_page_icons_cover_every_sidebar_page() -> None:
    import ast

    tree = ast.parse((ROOT / "konnect_desktop" / "ui" / "pages" / "__init__.py").read_text())
    ids = {n.args[0].value for n in ast.walk(tree)
           if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "PageSpec" and n.args}
    assert ids == set(PAGE_IDS)


def test_an_installed_package_finds_resources_inside_itself(tmp_path: Path) -> None:
    """The layout a wheel or the bundle has: konnect_desktop/resources/ beside the modules."""
    pkg = tmp_path / "konnect_desktop"
    shutil.copytree(ROOT / "konnect_desktop", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", pkg / "resources")
    code = "from konnect_desktop import appdirs; print(appdirs.resource_path('sample', 'kong.yaml'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == pkg / "resources" / "sample" / "kong.yaml"


def test_pyproject_installs_resources_as_package_data() -> None:
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"]["konnect_desktop.resources"] == "resources"
    assert conf["package-data"]["konnect_desktop.resources"] == ["**/*"]
    assert '"konnect_desktop.resources"' in (ROOT / "setup.py").read_text()


def test_desktop_entry_names_the_app_and_validates() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(DESKTOP)
    e = entry["Desktop Entry"]
    assert e["Exec"].split()[0] == "konnect-desktop" and e["Icon"] == "konnect-desktop"
    assert e["Name"] == "Konnect Desktop" and e["Type"] == "Application"
    src = (ROOT / "konnect_desktop" / "ui" / "app.py").read_text()
    assert f'APP_ID = "{APP_ID}"' in src and "setDesktopFileName(APP_ID)" in src
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate not installed (Debian package desktop-file-utils)")
    r = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr


def test_metainfo_references_real_screenshots_and_validates() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    images = [i.text or "" for i in root.iter("image")]
    assert len(images) >= 3
    for url in images:
        assert url.startswith("https://") and "/docs/screenshots/" in url, url
        assert (ROOT / "docs" / "screenshots" / url.rsplit("/", 1)[1]).is_file(), url
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli not installed (Debian package appstream)")
    r = subprocess.run([tool, "validate", "--no-net", "--strict", str(METAINFO)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _bundle_wanted() -> bool:
    return os.environ.get("KONNECT_DESKTOP_BUNDLE_TEST") == "1" or (BUNDLE / "konnect-desktop").is_file()


bundle_test = pytest.mark.skipif(not _bundle_wanted(),
                                 reason="no bundle built (packaging/build; or KONNECT_DESKTOP_BUNDLE_TEST=1)")


@pytest.fixture(scope="module")
def smoke() -> subprocess.CompletedProcess[str]:
    """packaging/smoke on dist/konnect-desktop (built first when asked and missing: minutes), once."""
    if not (BUNDLE / "konnect-desktop").is_file():
        subprocess.run([str(PACKAGING / "build")], check=True, timeout=3600, cwd=ROOT)
    r = subprocess.run([sys.executable, str(PACKAGING / "smoke"), str(BUNDLE)], capture_output=True, text=True,
                       timeout=600)
    print(r.stdout)
    return r


@pytest.mark.bundle
@bundle_test
def test_bundle_smoke(smoke: subprocess.CompletedProcess[str]) -> None:
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


@pytest.mark.bundle
@bundle_test
def test_bundle_gateway_runs_the_compiled_hot_path_without_the_compiler(
        smoke: subprocess.CompletedProcess[str]) -> None:
    """packaging/build compiles the proxy's hot path for the bundle (the machines that build it have
    a C compiler: scripts/_bootstrap.sh's APP_DEBS) and ships the build and its sources, not mypy,
    mypyc or setuptools; the bundle's ``gateway run`` says it runs compiled."""
    internal = next(p for p in (BUNDLE / "_internal", BUNDLE) if (p / "konnect_desktop").is_dir())
    assert (internal / "konnect_desktop" / "_native" / "manifest.json").is_file()
    assert (internal / "konnect_desktop" / "runtime" / "http1.py").is_file()  # what native.check hashes
    shipped = {p.name.split("-")[0] for p in internal.iterdir()}
    assert not shipped & {"mypy", "mypyc", "setuptools", "pkg_resources"}, sorted(shipped)
    said = [line for line in smoke.stdout.splitlines() if line.startswith("ok   gateway run")]
    assert said and "proxy modules: compiled (" in said[0], smoke.stdout
