"""Saved connections are the app's one profile store: what the dialog saves, the CLI uses.

Real parts: a real local runtime's Admin API on a free port, the ``konnect-desktop`` command in a
subprocess, the settings file on disk, and (where it can run) a real Secret Service —
gnome-keyring-daemon inside its own D-Bus session, started the way ``tests/test_credentials.py``
does it (its helper is reused).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from konnect_desktop import credentials
from konnect_desktop.settings import Profile, Settings, SettingsStore
from konnect_desktop.ui.connection_dialog import ConnectionDialog
from konnect_desktop.ui.session import Session

TOKEN = "kpat_" + "Gu1" * 14 + "wxyz"
ROOT = Path(__file__).resolve().parents[2]


def _credentials_tests() -> Any:
    """``tests/test_credentials.py`` as a module, for its Secret Service runner."""
    spec = importlib.util.spec_from_file_location("kd_credentials_tests", ROOT / "tests" / "test_credentials.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cli(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KONNECT_DESKTOP_HOME": str(home), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "konnect_desktop", *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)


async def _runtime(tmp_path: Path, *, admin_token: str | None = None) -> Any:
    from konnect_desktop.runtime.runtime import LocalRuntime

    rt = LocalRuntime(f"cli-{uuid.uuid4().hex[:6]}", tmp_path / f"rt-{uuid.uuid4().hex[:6]}.db",
                      proxy_listen="127.0.0.1:0", admin_listen="127.0.0.1:0", admin_token=admin_token)
    await rt.start()
    await rt.store.aio.insert("services", {"name": "billing", "url": "http://billing.internal:8080/v1"})
    return rt


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    (h / "config").mkdir(parents=True)
    return h


@pytest.fixture
def app_session(home: Path, aloop: Any, arun: Any) -> Iterator[Session]:
    """A session whose settings file is the one the CLI reads under ``home``."""
    s = Session(SettingsStore(home / "config" / "settings.json"))
    s.listen = ("127.0.0.1:0", "127.0.0.1:0")
    yield s
    arun(s.close(), timeout=30)


def _fill_kong(dlg: ConnectionDialog, name: str, url: str, token: str = "", headers: str = "") -> None:
    dlg.kind.setCurrentIndex(dlg.kind.findData("kong-admin"))
    dlg.name.setText(name)
    dlg.url.setText(url)
    dlg.headers.setPlainText(headers)
    dlg.kong_token.edit.setText(token)


# -- the GUI's profile is the CLI's profile --------------------------------------------------------
def test_a_connection_saved_in_the_dialog_is_usable_by_cli_dump(qtbot: Any, arun: Any, home: Path,
                                                                  app_session: Session, tmp_path: Path) -> None:
    rt = arun(_runtime(tmp_path), timeout=30)
    try:
        dlg = ConnectionDialog(app_session)
        qtbot.addWidget(dlg)
        _fill_kong(dlg, "lab-admin", rt.admin_url, headers="X-Team: blue")
        dlg.save()
        qtbot.waitUntil(lambda: dlg.result_connection is not None or dlg.problem.isVisible(), timeout=15000)
        assert dlg.result_connection is not None, dlg.problem.text()

        saved = Settings.load(home / "config" / "settings.json").get_profile("lab-admin")
        assert (saved.kind, saved.url, saved.headers, saved.auth) == ("kong-admin", rt.admin_url, {"X-Team": "blue"}, "none")
        # in a worker thread: this test's loop serves the Admin API the command calls
        proc = arun(asyncio.to_thread(_cli, home, "dump", "--from", "lab-admin", "--format", "json"), timeout=90)
        assert proc.returncode == 0, proc.stderr
        dumped = json.loads(proc.stdout)
        assert [s["name"] for s in dumped["services"]] == ["billing"]
        # and the session opens it the same way (controlplanes.open_profile)
        cp = arun(app_session.switch(next(c for c in app_session.connections if c.name == "lab-admin")))
        assert [s["name"] for s in arun(cp.list_all("services"))] == ["billing"]
    finally:
        arun(rt.stop(), timeout=30)


def test_a_name_the_cli_cannot_tell_apart_is_refused(qtbot: Any, app_session: Session) -> None:
    app_session.create_local_group("shared")
    dlg = ConnectionDialog(app_session)
    qtbot.addWidget(dlg)
    _fill_kong(dlg, "shared", "http://127.0.0.1:9")
    dlg.save()
    assert "already exists" in dlg.problem.text()
    _fill_kong(dlg, "ok-name", "http://127.0.0.1:9", headers="Kong-Admin-Token: abc")
    dlg.save()
    assert "secret header(s) Kong-Admin-Token" in dlg.problem.text() and "keyring" in dlg.problem.text()


# -- no keyring: say what to install, offer this session only --------------------------------------
def test_without_a_keyring_the_dialog_says_what_to_install_and_offers_this_session_only(
        qtbot: Any, arun: Any, home: Path, app_session: Session, no_keyring: None, tmp_path: Path) -> None:
    rt = arun(_runtime(tmp_path, admin_token=TOKEN), timeout=30)
    try:
        dlg = ConnectionDialog(app_session)
        qtbot.addWidget(dlg)
        _fill_kong(dlg, "guarded", rt.admin_url, token=TOKEN)
        assert dlg.kong_token.edit.echoMode() == dlg.kong_token.edit.EchoMode.Password
        qtbot.waitUntil(lambda: "no usable OS keyring" in dlg.kong_token.where.text(), timeout=15000)
        hint = dlg.keyring_hint.text()
        assert "gnome-keyring" in hint and "Secret Service" in hint
        assert dlg.session_only.isVisibleTo(dlg)

        # saving without choosing: nothing saved anywhere, and the dialog says why
        dlg.save()
        qtbot.waitUntil(lambda: dlg.problem.isVisibleTo(dlg) and "Nothing was saved" in dlg.problem.text(),
                        timeout=15000)
        assert dlg.result_connection is None
        assert "guarded" not in Settings.load(home / "config" / "settings.json").profiles

        # "this session only", asked for explicitly
        dlg.session_only.setChecked(True)
        dlg.save()
        qtbot.waitUntil(lambda: dlg.result_connection is not None, timeout=15000)
        assert credentials.backend_name() == "this session only (not saved)"
        assert dlg.kong_token.where.text() == "stored in: this session only (not saved)"
        assert credentials.get_token("guarded") == TOKEN
        # a connection whose token is in memory only is not written to the settings file: after a
        # restart it would be listed without its token and fail (issue: "stays listed after a
        # restart and then fails")
        assert "guarded" not in Settings.load(home / "config" / "settings.json").profiles
        assert app_session.find("guarded") is not None
        restarted = Session(SettingsStore(home / "config" / "settings.json"))
        assert restarted.find("guarded") is None
        arun(restarted.close())
        # the token works (the Admin API refuses requests without it) ...
        cp = arun(app_session.switch(dlg.result_connection))
        assert [s["name"] for s in arun(cp.list_all("services"))] == ["billing"]
        # ... and is on no file of the app
        for p in home.rglob("*"):
            if p.is_file():
                assert TOKEN.encode() not in p.read_bytes(), p
    finally:
        arun(rt.stop(), timeout=30)


# -- a real Secret Service: dialog → keyring → CLI ----------------------------------------------------
DRIVE = textwrap.dedent("""
    import asyncio, json, os, subprocess, sys, uuid
    from pathlib import Path
    import qasync
    from PySide6.QtWidgets import QApplication
    from konnect_desktop import credentials
    from konnect_desktop.runtime.runtime import LocalRuntime
    from konnect_desktop.ui.connection_dialog import ConnectionDialog
    from konnect_desktop.settings import SettingsStore
    from konnect_desktop.ui.session import Session

    token = sys.stdin.readline().strip()
    home = Path(os.environ["KONNECT_DESKTOP_HOME"])
    out = {}

    async def wait_for(cond, seconds=20):
        for _ in range(int(seconds / 0.05)):
            if cond():
                return True
            await asyncio.sleep(0.05)
        return False

    async def main():
        rt = LocalRuntime("ss", home / "ss.db", proxy_listen="127.0.0.1:0", admin_listen="127.0.0.1:0",
                          admin_token=token)
        await rt.start()
        await rt.store.aio.insert("services", {"name": "vault-svc", "host": "vault.internal"})
        session = Session(SettingsStore(home / "config" / "settings.json"))
        try:
            dlg = ConnectionDialog(session)
            dlg.kind.setCurrentIndex(dlg.kind.findData("kong-admin"))
            dlg.name.setText("prod-admin")
            dlg.url.setText(rt.admin_url)
            dlg.kong_token.edit.setText(token)
            out["masked"] = dlg.kong_token.edit.echoMode() == dlg.kong_token.edit.EchoMode.Password
            await wait_for(lambda: dlg.kong_token.where.text() != "stored in: …")
            out["where"] = dlg.kong_token.where.text()
            dlg.save()
            await wait_for(lambda: dlg.result_connection is not None or dlg.problem.isVisibleTo(dlg))
            out["saved"] = dlg.result_connection is not None
            out["problem"] = dlg.problem.text()
            got = credentials.get_token("prod-admin")
            out["in_keyring"] = got is not None and got.reveal() == token
            env = dict(os.environ)
            def cli(*args):
                return subprocess.run([sys.executable, "-m", "konnect_desktop", *args], capture_output=True,
                                      text=True, env=env, timeout=60)
            proc = await asyncio.to_thread(cli, "dump", "--from", "prod-admin", "--format", "json")
            out["dump_rc"], out["dump_err"] = proc.returncode, proc.stderr[-500:]
            out["dump_services"] = [s["name"] for s in json.loads(proc.stdout)["services"]] if proc.returncode == 0 else None
            # the Admin API does want the token: without it the same URL is refused
            proc = await asyncio.to_thread(cli, "dump", "--from", rt.admin_url)
            out["without_token_rc"] = proc.returncode
        finally:
            await session.close()
            await rt.stop()

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
    print(json.dumps(out))
""")


def test_the_dialog_saves_the_token_in_a_real_secret_service_and_the_cli_uses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = _credentials_tests()
    home = tmp_path / "apphome"
    (home / "config").mkdir(parents=True)
    monkeypatch.setenv("KONNECT_DESKTOP_HOME", str(home))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    proc = helper._run_secret_service(tmp_path, True, DRIVE, TOKEN + "\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["masked"] is True
    assert out["where"] == "stored in: Secret Service"
    assert out["saved"] is True, out["problem"]
    assert out["in_keyring"] is True
    assert out["dump_rc"] == 0, out["dump_err"]
    assert out["dump_services"] == ["vault-svc"]
    assert out["without_token_rc"] != 0
    settings_text = (home / "config" / "settings.json").read_text()
    profile = Settings.load(home / "config" / "settings.json").get_profile("prod-admin")
    assert profile.auth == "admin-token"
    assert TOKEN not in settings_text and TOKEN not in proc.stdout and TOKEN not in proc.stderr
    # nothing under HOME holds the token in clear (the keyring keeps it encrypted)
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.name != "drive.py":
            assert TOKEN.encode() not in p.read_bytes(), p


# -- the file is shared ------------------------------------------------------------------------------
def test_profiles_the_cli_wrote_meanwhile_are_kept(arun: Any, app_session: Session, home: Path) -> None:
    from konnect_desktop.settings import Profile

    path = home / "config" / "settings.json"
    arun(app_session.flush())  # the session's first write (its "default" local group) is done
    outside = Settings.load(path)
    outside.add_profile(Profile(name="from-elsewhere", kind="kong-admin", url="http://10.0.0.1:8001"))
    outside.save()
    app_session.add_connection(Profile(kind="kong-admin", name="from-gui", url="http://10.0.0.2:8001"))
    arun(app_session.flush())
    assert {"from-elsewhere", "from-gui", "default"} <= set(Settings.load(path).profiles)


def test_a_damaged_settings_file_is_reported_and_never_overwritten(qtbot: Any, arun: Any, aloop: Any,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    session = Session(SettingsStore(path))
    errors: list[Any] = []
    session.sig_error.connect(errors.append)
    try:
        qtbot.waitUntil(lambda: bool(errors), timeout=5000)
        assert "cannot read settings file" in errors[0].message and str(path) in errors[0].message
        session.add_connection(Profile(kind="kong-admin", name="x", url="http://127.0.0.1:9"))
        arun(session.flush())
        qtbot.waitUntil(lambda: len(errors) >= 2, timeout=5000)
        assert path.read_text() == "{ not json"
    finally:
        arun(session.close())


def test_renaming_a_connection_takes_its_token_along(qtbot: Any, arun: Any, app_session: Session, home: Path,
                                                     no_keyring: None) -> None:
    credentials.use_session_store(True)
    dlg = ConnectionDialog(app_session)
    qtbot.addWidget(dlg)
    _fill_kong(dlg, "before", "http://127.0.0.1:9", token=TOKEN)
    dlg.save()
    qtbot.waitUntil(lambda: dlg.result_connection is not None, timeout=15000)
    conn = dlg.result_connection
    edit = ConnectionDialog(app_session, conn)
    qtbot.addWidget(edit)
    assert "leave empty to keep it" in edit.kong_token.edit.placeholderText()
    edit.name.setText("after")
    edit.save()
    qtbot.waitUntil(lambda: edit.result_connection is not None, timeout=15000)
    assert credentials.get_token("after") == TOKEN and credentials.get_token("before") is None
    profiles = Settings.load(home / "config" / "settings.json").profiles
    assert "after" not in profiles and "before" not in profiles  # session-only: never on disk
    assert app_session.find(conn.id) is not None and app_session.find(conn.id).name == "after"
