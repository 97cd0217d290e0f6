"""Tokens: masked everywhere, stored only in a real keyring, or in memory when the user opts in.

The keyring tests run against a real Secret Service: gnome-keyring-daemon inside its own
dbus-run-session, unlocked with a throwaway password, driven by a small Python subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from hypothesis import given
from hypothesis import strategies as st

from konnect_desktop import appdirs, credentials
from konnect_desktop.controlplanes.errors import ApiError, from_kong_body
from konnect_desktop.credentials import (
    KeyringUnavailable,
    Secret,
    SecretFilter,
    mask,
    mask_text,
)

TOKEN = "kpat_" + "Q7" * 20 + "wxyz"


# -- masking ---------------------------------------------------------------------------------------

def test_mask_shapes() -> None:
    assert mask(TOKEN) == "kpat_…wxyz"
    assert mask("spat_" + "a" * 30 + "1234") == "spat_…1234"
    assert mask("short") == "****"
    assert mask("kpat_short") == "kpat_…"  # too short to show any of it
    assert mask("no-prefix-but-long-enough-9876") == "…9876"


def test_secret_never_shows_itself() -> None:
    s = Secret(TOKEN)
    for shown in (str(s), repr(s), f"{s}", f"{s!r}", f"{s:>60}", "%s" % (s,), str([s]), str({"t": s})):  # noqa: UP031
        assert TOKEN not in shown
        assert "kpat_…wxyz" in shown
    assert s.reveal() == TOKEN and s == TOKEN and s == Secret(TOKEN) and s != "other"
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_mask_text_hides_known_and_token_looking_values() -> None:
    registered = "plain-password-not-token-like"
    Secret(registered)
    text = f"failed with {TOKEN} and spat_{'b' * 30} and Bearer abc.def.ghi and {registered}"
    out = mask_text(text)
    assert TOKEN not in out and "spat_" + "b" * 30 not in out and "abc.def.ghi" not in out
    assert registered not in out


@given(st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=8, max_size=60))
def test_any_secret_is_masked_inside_any_message(value: str) -> None:
    already = value in credentials._known
    s = Secret(value)
    try:
        message = mask_text(f"prefix {s.reveal()} suffix")
        assert value not in message
    finally:
        if not already:  # random words must not stay registered and mask other tests' messages
            credentials._known.discard(value)


def test_errors_never_carry_the_token() -> None:
    err = from_kong_body(400, {"message": f"invalid key {TOKEN}", "fields": {"key": f"{TOKEN} is taken"}})
    assert isinstance(err, ApiError)
    for shown in (str(err), repr(err), err.message, json.dumps(err.to_dict()), json.dumps(err.body)):
        assert TOKEN not in shown
    auth = from_kong_body(401, {"message": f"Bearer {TOKEN} rejected"})
    assert TOKEN not in str(auth)


def test_log_filter_masks_messages_args_and_tracebacks() -> None:
    logger = logging.getLogger("konnect_desktop.test_secret_logging")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(SecretFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("token is %s", TOKEN)
        logger.warning(f"inline {TOKEN}")
        try:
            raise RuntimeError(f"boom {TOKEN}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 3
    assert all(TOKEN not in r for r in records)
    assert "kpat_…wxyz" in records[0] and "RuntimeError" in records[2]


def test_install_log_filter_covers_root_handlers() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        credentials.install_log_filter()
        assert any(isinstance(f, SecretFilter) for f in handler.filters)
    finally:
        root.removeHandler(handler)


# -- no usable keyring --------------------------------------------------------------------------

def test_no_backend_says_what_to_install(no_keyring: None) -> None:
    assert credentials.backend_name() == "none"
    assert not credentials.keyring_available()
    with pytest.raises(KeyringUnavailable) as ei:
        credentials.store_token("prod", TOKEN)
    msg = str(ei.value)
    assert "gnome-keyring" in msg and "Secret Service" in msg and "keyrings.alt" in msg
    assert TOKEN not in msg
    with pytest.raises(KeyringUnavailable):
        credentials.get_token("prod")


def test_null_backend_is_refused_too() -> None:
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    try:
        with pytest.raises(KeyringUnavailable):
            credentials.store_token("prod", TOKEN)
    finally:
        keyring.set_keyring(before)


def test_session_store_only_when_opted_in_and_never_on_disk(no_keyring: None) -> None:
    credentials.use_session_store()
    assert credentials.backend_name() == "this session only (not saved)"
    credentials.store_token("prod", TOKEN)
    got = credentials.get_token("prod")
    assert isinstance(got, Secret) and got.reveal() == TOKEN
    assert credentials.delete_token("prod") is True
    assert credentials.get_token("prod") is None and credentials.delete_token("prod") is False
    credentials.store_token("kept", TOKEN)
    for folder in (appdirs.config_dir(), appdirs.data_dir(), appdirs.log_dir()):
        for p in Path(folder).rglob("*"):
            if p.is_file():
                assert TOKEN.encode() not in p.read_bytes(), p
    credentials.use_session_store(False)  # opting out forgets
    with pytest.raises(KeyringUnavailable):
        credentials.get_token("kept")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        credentials.store_token("", TOKEN)
    credentials.use_session_store()
    try:
        with pytest.raises(ValueError):
            credentials.store_token("p", "")
    finally:
        credentials.use_session_store(False)


# -- a real Secret Service ------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys, logging
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from konnect_desktop import credentials as c
    token = sys.stdin.readline().strip()
    out = {"backend": c.backend_name()}
    c.store_token("prod", token)
    c.store_token("staging", token[::-1])
    got = c.get_token("prod")
    out["prod_ok"] = got is not None and got.reveal() == token
    out["staging_ok"] = c.get_token("staging").reveal() == token[::-1]
    out["repr"] = repr(got)
    c.store_token("prod", token + "2")  # replacing keeps one entry
    out["replaced_ok"] = c.get_token("prod").reveal() == token + "2"
    out["deleted"] = c.delete_token("prod")
    out["after_delete"] = c.get_token("prod") is None
    out["delete_again"] = c.delete_token("prod")
    import keyring
    out["raw_service_lookup"] = keyring.get_password("konnect-desktop", "staging") == token[::-1]
    print(json.dumps(out))
""")


def _secret_service_cmd(tmp: Path, unlock: bool) -> list[str]:
    start = ("echo -n throwaway | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1"
             if unlock else "gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1")
    return ["dbus-run-session", "--", "sh", "-c", f"{start}; exec {sys.executable} {tmp / 'drive.py'}"]


def _run_secret_service(tmp: Path, unlock: bool, script: str, stdin: str) -> subprocess.CompletedProcess[str]:
    for binary in ("dbus-run-session", "gnome-keyring-daemon"):
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} is not installed (CI installs dbus and gnome-keyring)")
    (tmp / "drive.py").write_text(script)
    run_dir = tmp / "run"
    run_dir.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"), "XDG_RUNTIME_DIR": str(run_dir),
           "XDG_CONFIG_HOME": str(tmp / "config")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env.pop("DISPLAY", None)
    return subprocess.run(_secret_service_cmd(tmp, unlock), input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


def test_tokens_round_trip_through_a_real_secret_service(tmp_path: Path) -> None:
    proc = _run_secret_service(tmp_path, True, SCRIPT, TOKEN + "\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "backend": "Secret Service", "prod_ok": True, "staging_ok": True, "repr": "Secret('kpat_…wxyz')",
        "replaced_ok": True, "deleted": True, "after_delete": True, "delete_again": False,
        "raw_service_lookup": True,
    }
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr  # nor in any debug log line
    # the secret is in the keyring's own store, not in our folders or in clear anywhere under HOME
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.name != "drive.py":
            assert TOKEN.encode() not in p.read_bytes(), p


LOCKED_SCRIPT = textwrap.dedent("""
    import json
    from konnect_desktop import credentials as c
    try:
        c.store_token("prod", "kpat_" + "L" * 40)
        print(json.dumps({"stored": True}))
    except c.KeyringLocked as e:
        print(json.dumps({"locked": str(e)}))
    except c.KeyringUnavailable as e:
        print(json.dumps({"unavailable": str(e)}))
""")


def test_locked_secret_service_gives_a_clear_error(tmp_path: Path) -> None:
    proc = _run_secret_service(tmp_path, False, LOCKED_SCRIPT, "")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "locked" in out, out
    assert "unlock" in out["locked"].lower() and "L" * 40 not in out["locked"]
