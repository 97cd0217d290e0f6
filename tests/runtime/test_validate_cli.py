"""``konnect-desktop validate`` run as users run it: a subprocess, real files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deck"


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "konnect_desktop", "validate", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_valid_files_one_ok_line_each() -> None:
    p = run(str(FIXTURES / "reference-example.yaml"), str(FIXTURES / "workspace-multi-entities.yaml"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines == [
        f"{FIXTURES / 'reference-example.yaml'}: OK (1 service, 1 route, 4 plugins, 1 consumer, 1 consumer group, "
        "1 key-auth credential, 1 acl)",
        f"{FIXTURES / 'workspace-multi-entities.yaml'}: OK (1 service, 2 routes, 1 plugin, 1 consumer, "
        "1 key-auth credential, 1 acl, 1 basic-auth credential, 1 jwt secret, 1 hmac-auth credential, 1 upstream, "
        "2 targets, 1 certificate, 2 snis, 1 vault)",
    ]
    assert p.stderr == ""


def test_invalid_file_lists_located_problems_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "kong.yaml").write_text((FIXTURES / "broken.yaml").read_text())
    p = run("kong.yaml", cwd=tmp_path)
    assert p.returncode == 1
    err = p.stderr.splitlines()
    assert "kong.yaml: services[1].routes[1].paths[1]: should start with: / (fixed path) or ~/ (regex path)" in err
    assert "kong.yaml: routes[0].service: no service named 'nowhere'" in err
    assert "kong.yaml: warning: mystery_section: unknown top-level key (kept as is, not validated)" in err
    assert err[-1].startswith("kong.yaml: invalid (") and err[-1].endswith(" problems)")
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_one_bad_file_among_good_ones() -> None:
    p = run(str(FIXTURES / "reference-example.yaml"), str(FIXTURES / "broken.yaml"))
    assert p.returncode == 1
    assert p.stdout.count(": OK (") == 1


def test_unreadable_inputs_are_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("services:\n  - name: [unclosed\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "ver.yaml").write_text('_format_version: "4.0"\n')
    (tmp_path / "noversion.yaml").write_text("services: []\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00junk")
    p = run("missing.yaml", "bad.yaml", "list.yaml", "ver.yaml", "noversion.yaml", "binary.yaml", ".", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        "error: missing.yaml: no such file",
        "error: bad.yaml: invalid YAML at line 3, column 1: did not find expected ',' or ']'",
        "error: list.yaml: expected a mapping at the top level, got a list",
        "error: ver.yaml: unsupported _format_version '4.0' (expected one of: 1.1, 2.1, 3.0)",
        "error: noversion.yaml: missing '_format_version' (one of: 1.1, 2.1, 3.0)",
        "error: binary.yaml: not UTF-8 text (invalid start byte at byte 0)",
        "error: .: is a directory, not a file",
    ]


def test_stdin_and_quiet() -> None:
    text = (FIXTURES / "reference-example.yaml").read_text()
    p = run("-", stdin=text)
    assert p.returncode == 0 and p.stdout.startswith("<stdin>: OK (1 service")
    p = run("-q", "-", stdin=text)
    assert p.returncode == 0 and p.stdout == ""


def test_strict_plugins_refuses_plugins_we_do_not_bundle() -> None:
    path = str(FIXTURES / "consumer-groups-scoped-plugins.yaml")
    assert run(path).returncode == 0
    p = run("--strict-plugins", path)
    assert p.returncode == 1
    assert ("consumer_groups[0].plugins[0].name: plugin 'rate-limiting-advanced' not enabled; "
            "add it to the 'plugins' configuration property") in p.stderr


def test_console_script_and_help() -> None:
    exe = Path(sys.executable).with_name("konnect-desktop")
    p = subprocess.run([str(exe), "validate", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "FILE" in p.stdout
    p = subprocess.run([str(exe), "validate", str(FIXTURES / "legacy-format-1.1.yaml")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.endswith(": OK (1 service, 2 routes)\n")


HOLE = """\
_format_version: "3.0"
services:
- name: app
  url: http://127.0.0.1:9
  routes:
  - name: secure
    hosts: [secure.local]
    paths: [/]
    plugins:
    - name: key-auth
  - name: catch-all
    paths: [/]
"""


def test_a_host_spelling_that_skips_authentication_is_a_warning(tmp_path: Path) -> None:
    """Before: silent. A key-auth route on ``hosts: [secure.local]`` beside an open catch-all:
    ``Host: SECURE.LOCAL`` or ``secure.local.`` reaches the upstream without a key, in Kong too
    (its router compares the raw Host case-sensitively). The file is valid: exit code 0."""
    (tmp_path / "kong.yaml").write_text(HOLE)
    p = run("kong.yaml", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("kong.yaml: OK (")
    warning = [ln for ln in p.stderr.splitlines() if "case-sensitively" in ln]
    assert len(warning) == 1, p.stderr
    assert warning[0].startswith("kong.yaml: warning: route secure (hosts: secure.local) requires key-auth")
    assert "'Host: SECURE.LOCAL'" in warning[0] and "matches route catch-all" in warning[0]
    assert run("-q", "kong.yaml", cwd=tmp_path).stderr == ""  # -q: problems only


def test_no_warning_when_the_broader_route_is_protected_too(tmp_path: Path) -> None:
    (tmp_path / "kong.yaml").write_text(HOLE + "plugins:\n- name: basic-auth\n")  # global: every route
    p = run("kong.yaml", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
