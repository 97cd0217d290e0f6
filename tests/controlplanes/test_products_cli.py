"""API products travel with the configuration through the CLI (local runtime groups): ``sync``
applies the side file next to the decK file, ``replicate`` copies the catalog to a second local
group after the services, ``dump -o`` writes the side file next to the decK file. The developer
guide's last step: "replicate the configuration to a second runtime group"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "openai-portal"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "konnect_desktop", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_sync_replicate_dump_carry_the_products(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = cli(home, "sync", str(EXAMPLE / "kong.yaml"), "--to", "local:first")
    assert r.returncode == 0, r.stderr
    assert "API products: 1 version(s) from kong.products.yaml" in r.stdout
    r = cli(home, "replicate", "--from", "local:first", "--to", "local:second")
    assert r.returncode == 0, r.stderr
    assert "API products: 1 version(s) replicated" in r.stdout
    out = tmp_path / "out" / "kong.yaml"
    out.parent.mkdir()
    r = cli(home, "dump", "--from", "local:second", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "products" not in yaml.safe_load(out.read_text())  # the decK file stays decK
    side = yaml.safe_load((tmp_path / "out" / "kong.products.yaml").read_text())
    [product] = side["products"]
    assert product["name"] == "OpenAI"
    [version] = product["versions"]
    assert version["service"] == "openai" and version["consumer_group"] == "Gold" and version["published"]
    assert version["openapi"]["info"]["title"] == "OpenAI (local)"


def test_a_bad_side_file_is_reported(tmp_path: Path) -> None:
    work = tmp_path / "cfg"
    work.mkdir()
    (work / "kong.yaml").write_text((EXAMPLE / "kong.yaml").read_text())
    (work / "kong.products.yaml").write_text("products:\n- name: X\n  versions:\n  - {version: v1, service: nope}\n")
    r = cli(tmp_path / "home", "sync", str(work / "kong.yaml"), "--to", "local:bad")
    assert r.returncode != 0
    assert "API products not applied" in r.stderr and "nope" in r.stderr and "Traceback" not in r.stderr
