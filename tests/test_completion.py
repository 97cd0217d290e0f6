"""Shell completion generated from the argument parser, exercised in a real bash (and zsh when
installed): commands, nested subcommands and options complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def completion(shell: str) -> str:
    r = subprocess.run([sys.executable, "-m", "konnect_desktop", "completion", shell], capture_output=True,
                       text=True, timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    return r.stdout


def bash_complete(script: Path, words: list[str]) -> list[str]:
    line = " ".join(words)
    prog = f"""
source {script}
fn=$(complete -p konnect-desktop | sed -E 's/.*-F ([^ ]+).*/\\1/')
COMP_WORDS=({line})
COMP_CWORD={len(words) - 1}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
$fn konnect-desktop "{words[-1]}" "{words[-2]}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [w.strip() for w in r.stdout.splitlines() if w.strip()]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_subcommands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "konnect-desktop.bash"
    script.write_text(completion("bash"))
    assert bash_complete(script, ["konnect-desktop", "ga"]) == ["gateway"]
    assert set(bash_complete(script, ["konnect-desktop", ""])) >= {"gateway", "gui", "validate", "dump", "diff",
                                                                   "sync", "replicate", "completion"}
    assert bash_complete(script, ["konnect-desktop", "gateway", "r"]) == ["run"]
    assert "--access-log" in bash_complete(script, ["konnect-desktop", "gateway", "run", "--acc"])
    assert set(bash_complete(script, ["konnect-desktop", "gateway", "run", "--log-level", ""])) == {
        "debug", "info", "warning", "error"}
    assert set(bash_complete(script, ["konnect-desktop", "completion", ""])) == {"bash", "zsh"}


def test_zsh_script_names_every_command_and_parses() -> None:
    text = completion("zsh")
    assert text.startswith("#compdef konnect-desktop")
    for cmd in ("gateway", "gui", "validate", "dump", "diff", "sync", "replicate", "completion", "--access-log"):
        assert cmd in text
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: script checked by content only")
    r = subprocess.run(["zsh", "-n"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
