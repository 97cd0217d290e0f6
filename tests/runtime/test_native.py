"""The compiled proxy (konnect_desktop/native.py): used only when built from the sources beside
it, for this Python; otherwise the same sources run as plain Python, and the gateway serves the
same answers either way."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest
from test_gateway_cli import gateway, ready

from konnect_desktop import native
from konnect_desktop.runtime import exchange, http1


def _fake_build(out: Path, **change: object) -> None:
    """A build folder whose manifest matches the sources (each extension file a placeholder)."""
    files = {f"konnect_desktop.{m}": f"{m}.so" for m in native.COMPILED}
    for rel in files.values():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"")
    manifest = {"abi": native._abi(), "files": files,
                "sources": {m: hashlib.sha256(native._source(m).read_bytes()).hexdigest() for m in native.COMPILED}}
    manifest.update(change)
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_current_build_is_used(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    status, files = native.check(tmp_path, env={})
    assert status.compiled and status.modules == native.COMPILED
    assert files["konnect_desktop.runtime.exchange"] == tmp_path / "runtime.exchange.so"


def test_no_build_runs_plain_python_and_says_how_to_build(tmp_path: Path) -> None:
    status, files = native.check(tmp_path, env={})
    assert not status.compiled and files == {}
    assert str(status) == "plain Python (not built; run scripts/build-native)"


def test_an_app_bundle_without_a_build_does_not_say_to_run_a_script_it_lacks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # what PyInstaller sets in a bundle
    status, _files = native.check(tmp_path, env={})
    assert str(status) == "plain Python (not built; this app bundle carries no usable compiled build)"


def test_one_changed_source_turns_the_whole_set_off_naming_it(tmp_path: Path) -> None:
    sources = {m: hashlib.sha256(native._source(m).read_bytes()).hexdigest() for m in native.COMPILED}
    sources["runtime.exchange"] = "0" * 64  # as if exchange.py was edited after the build
    _fake_build(tmp_path, sources=sources)
    status, files = native.check(tmp_path, env={})
    assert not status.compiled and files == {}
    assert "konnect_desktop/runtime/exchange.py changed since the build" in status.reason


def test_a_build_for_another_python_or_module_list_is_not_used(tmp_path: Path) -> None:
    _fake_build(tmp_path, abi="cpython-27-other")
    assert "another Python" in native.check(tmp_path, env={})[0].reason
    _fake_build(tmp_path, sources={"runtime.http1": "x"})
    assert "another module list" in native.check(tmp_path, env={})[0].reason


def test_a_missing_extension_file_or_bad_manifest_is_not_used(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    (tmp_path / "runtime.http1.so").unlink()
    assert native.check(tmp_path, env={})[0].reason.startswith("incomplete build")
    (tmp_path / "manifest.json").write_text("{not json")
    assert native.check(tmp_path, env={})[0].reason.startswith("unreadable build manifest")


def test_the_environment_can_force_plain_python(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    status, _files = native.check(tmp_path, env={native.ENV_PURE: "1"})
    assert not status.compiled and native.ENV_PURE in status.reason


def test_a_bundle_ships_the_build_and_the_sources_it_hashes(tmp_path: Path) -> None:
    """packaging/konnect-desktop.spec ships these as data: a bundle carries only the modules'
    bytecode otherwise, and check() would find no sources to compare."""
    assert native.bundle_files(tmp_path) == []  # nothing built: the bundle runs plain Python
    _fake_build(tmp_path)
    shipped = dict(native.bundle_files(tmp_path))
    assert shipped[tmp_path / "manifest.json"] == "konnect_desktop/_native"  # where install() looks
    assert shipped[tmp_path / "runtime.exchange.so"] == "konnect_desktop/_native"
    assert shipped[native.PACKAGE / "runtime" / "exchange.py"] == "konnect_desktop/runtime"
    assert shipped[native.PACKAGE / "plugins" / "acl.py"] == "konnect_desktop/plugins"
    assert len(shipped) == 1 + 2 * len(native.COMPILED)


def test_this_process_runs_what_the_build_says() -> None:
    """When the tree's build is current the suite runs the compiled modules (what the app and
    ``gateway run`` run); CI builds it (scripts/test → build_native), so there it must be."""
    status = native.status
    compiled = [m for m in (exchange, http1)
                if m.__file__ and m.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
    if os.environ.get("CI") and not os.environ.get(native.ENV_PURE):
        assert status.compiled, f"CI runs the compiled proxy; this run: {status}"
    if status.compiled:
        assert compiled == [exchange, http1]
    else:
        assert compiled == [], status


def _fetch(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


FOUR_PLUGINS = """_format_version: "3.0"
services:
  - name: echo
    url: http://echo.internal
    routes:
      - name: r
        paths: [/p]
        plugins:
          - name: key-auth
          - name: acl
            config: {allow: [team]}
          - name: rate-limiting
            config: {minute: 1000, policy: local}
          - name: request-transformer
            config: {add: {headers: ["X-Added:1"]}}
consumers:
  - username: alice
    keyauth_credentials: [{key: alice-key}]
    acls: [{group: team}]
"""


@pytest.mark.parametrize("pure", [False, True], ids=["as built", "plain Python"])
def test_the_gateway_answers_the_same_compiled_or_not(tmp_path: Path, pure: bool) -> None:
    """Through real sockets: a four-plugin route, a refused key, an unknown path — the same
    statuses and headers whichever way the proxy modules run; stderr names which one it is."""
    deck = tmp_path / "kong.yaml"
    deck.write_text(FOUR_PLUGINS)
    env = {native.ENV_PURE: "1"} if pure else {}
    p = gateway(tmp_path, "--config", str(deck), env_extra=env)
    try:
        proxy, _admin = ready(p)
        status, headers, body = _fetch(proxy + "/p/x", {"apikey": "alice-key"})
        assert status == 200, body
        echoed = json.loads(body)
        assert echoed["headers"]["x-added"] == "1" and echoed["headers"]["x-consumer-username"] == "alice"
        assert headers["x-ratelimit-limit-minute"] == "1000" and headers["x-ratelimit-remaining-minute"] == "999"
        status, _h, body = _fetch(proxy + "/p/x", {"apikey": "wrong"})
        assert status == 401 and json.loads(body)["message"] == "Unauthorized"
        status, _h, body = _fetch(proxy + "/nowhere", {})
        assert status == 404 and json.loads(body)["message"] == "no Route matched with those values"
    finally:
        p.terminate()
        _out, err = p.communicate(timeout=20)
    said = next(line for line in err.splitlines() if line.startswith("proxy modules: "))
    if pure:
        assert said == f"proxy modules: plain Python ({native.ENV_PURE} is set)"
    else:
        assert said == f"proxy modules: {native.status}"


def test_build_skips_a_current_build(tmp_path: Path) -> None:
    """``scripts/build-native`` twice: the second time compiles nothing."""
    if not native.status.compiled:
        pytest.skip(f"no current build in this tree ({native.status})")
    said: list[str] = []
    assert native.build(native.OUT, log=said.append).compiled
    assert said == ["native: the compiled proxy modules are up to date"]
