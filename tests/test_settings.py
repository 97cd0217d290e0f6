"""Profiles on disk: round trip, atomic writes, damaged files reported and kept, no secret ever saved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from konnect_desktop import appdirs
from konnect_desktop.settings import (
    Profile,
    Settings,
    SettingsCorrupt,
    SettingsError,
    SettingsStore,
    runtime_name_problem,
)

TOKEN = "kpat_" + "S3" * 20


def _profiles() -> list[Profile]:
    return [
        Profile("laptop", "local", runtime="default"),
        Profile("staging gw", "kong-admin", url="https://kong.staging.test:8444", auth="admin-token",
                ca_file="/etc/ssl/staging-ca.pem", headers={"X-Team": "blue"}, timeout=10),
        Profile("konnect eu", "konnect", region="eu", control_plane="prod-cp", auth="konnect-token"),
    ]


def test_round_trip_in_the_app_config_folder() -> None:
    s = Settings(path=None)
    for p in _profiles():
        s.add_profile(p)
    s.ui["window"] = {"w": 1200, "h": 800}
    path = s.save()
    assert path == appdirs.config_dir() / "settings.json"
    loaded = Settings.load()
    assert loaded.profiles == {p.name: p for p in _profiles()}
    assert loaded.ui == {"window": {"w": 1200, "h": 800}}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.unlink()


def test_missing_file_is_empty_settings(tmp_path: Path) -> None:
    s = Settings.load(tmp_path / "nope.json")
    assert s.profiles == {} and s.ui == {}


@pytest.mark.parametrize("content, words", [
    ("{not json", "invalid JSON at line 1"),
    ("[1, 2]", "expected a JSON object"),
    ('{"profiles": [{"name": "x", "kind": "local", "password": "p"}]}', "unknown field(s) password"),
    ('{"profiles": [{"name": "x", "kind": "local"}, {"name": "x", "kind": "local"}]}', "two profiles are named 'x'"),
    ('{"version": 99}', "newer version"),
])
def test_damaged_file_is_reported_and_left_alone(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content)
    with pytest.raises(SettingsCorrupt) as ei:
        Settings.load(path)
    assert words in str(ei.value) and str(path) in str(ei.value)
    fresh = Settings(path=path)
    fresh.add_profile(Profile("new", "local"))
    with pytest.raises(SettingsCorrupt):
        fresh.save()  # never silently overwrite what could not be read
    assert path.read_text() == content


def test_recover_moves_the_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    s = Settings.load(path, recover=True)
    assert s.profiles == {}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == "{oops"
    s.add_profile(Profile("new", "local"))
    s.save()
    assert json.loads(path.read_text())["profiles"][0]["name"] == "new"


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    s = Settings(path=path)
    s.add_profile(Profile("a", "local"))
    s.save()
    before = path.read_text()

    def crash(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    s.add_profile(Profile("b", "local"))
    with pytest.raises(OSError, match="disk full"):
        s.save()
    assert path.read_text() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp file left behind


@pytest.mark.parametrize("profile, field", [
    (Profile("x", "kong-admin", url="https://h", headers={"Kong-Admin-Token": "abc"}), "headers"),
    (Profile("x", "kong-admin", url="https://h", headers={"Authorization": "Basic Zm9vOmJhcg=="}), "headers"),
    (Profile("x", "konnect", region="us", auth="konnect-token", control_plane=TOKEN), "control_plane"),
    (Profile("x", "kong-admin", url="https://h", headers={"X-Note": TOKEN}), "headers"),
    (Profile("x", "kong-admin", url="https://user:pw@h"), "url"),
])
def test_secrets_are_refused(profile: Profile, field: str) -> None:
    problems = profile.problems()
    assert field in problems
    with pytest.raises(SettingsError):
        Settings().add_profile(profile)
    assert TOKEN not in str(problems)


def test_ui_state_with_a_token_is_refused(tmp_path: Path) -> None:
    s = Settings(path=tmp_path / "s.json")
    s.ui["last_search"] = TOKEN
    with pytest.raises(SettingsError, match="looks like a token"):
        s.save()
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("profile, field", [
    (Profile("", "local"), "name"),
    (Profile("x", "cloud"), "kind"),
    (Profile("x", "kong-admin", url="localhost:8001"), "url"),
    (Profile("x", "konnect", region="mars", auth="konnect-token"), "region"),
    (Profile("x", "konnect", region="us"), "auth"),
    (Profile("x", "kong-admin", url="http://h", auth="basic"), "basic_user"),
    (Profile("x", "kong-admin", url="http://h", timeout=0), "timeout"),
])
def test_invalid_profiles_name_the_field(profile: Profile, field: str) -> None:
    assert field in profile.problems()


def test_profile_management() -> None:
    s = Settings()
    s.add_profile(Profile("a", "local"))
    with pytest.raises(SettingsError, match="already exists"):
        s.add_profile(Profile("a", "local"))
    s.rename_profile("a", "b")
    assert list(s.profiles) == ["b"] and s.get_profile("b").name == "b"
    s.remove_profile("b")
    with pytest.raises(SettingsError, match="no profile named 'b'"):
        s.get_profile("b")


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.one_of(st.integers(), st.text(max_size=30), st.booleans()), max_size=8))
def test_ui_state_round_trips(tmp_path_factory: pytest.TempPathFactory, ui: dict) -> None:
    path = tmp_path_factory.mktemp("ui") / "s.json"
    s = Settings(path=path, ui=dict(ui))
    try:
        s.save()
    except SettingsError:
        return  # a random string that looks like a token is refused, as it should be
    assert Settings.load(path).ui == ui


# -- what a window keeps in memory only --------------------------------------------------------------
def test_id_and_session_only_are_never_written_and_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    s = Settings(path=path)
    s.add_profile(Profile("renamed", "local", id="the-old-name", session_only=True))
    s.save()
    saved = json.loads(path.read_text())["profiles"][0]
    assert "id" not in saved and "session_only" not in saved
    loaded = Settings.load(path).get_profile("renamed")
    assert (loaded.id, loaded.session_only) == ("renamed", False)  # a loaded profile's id is its name
    path.write_text(json.dumps({"profiles": [{"name": "x", "kind": "local", "id": "y"}]}))
    with pytest.raises(SettingsCorrupt, match="unknown field"):
        Settings.load(path)


def test_cleaned_drops_what_the_kind_does_not_use_and_labels_name_the_kind() -> None:
    """A form switched from Konnect to a local group leaves region and headers behind."""
    p = Profile("dev", "local", region="eu", control_plane="prod", url="http://h", headers={"X-A": "1"},
                ca_file="/ca.pem", base_url="http://konnect.test")
    c = p.cleaned()
    assert (c.region, c.control_plane, c.url, c.headers, c.ca_file, c.base_url) == (None, None, None, {}, None, None)
    assert (c.label, c.runtime_name, c.has_token) == ("Local · dev", "dev", False)
    k = Profile("org", "konnect", region="eu", control_plane="prod", auth="konnect-token", url="http://x")
    assert k.cleaned().url is None and k.cleaned().control_plane == "prod"
    assert (k.label, k.has_token) == ("Konnect eu · prod", True)
    assert Profile("gw", "kong-admin", url="http://h").label == "Kong · gw"
    assert Profile("x", "kong-admin", url="localhost:8001").problem() == "url: expected an http:// or https:// URL"
    assert Profile("x", "local").problem() is None


@pytest.mark.parametrize("name, ok", [("dev", True), ("a.b-c_d", True), ("-x", False), ("has space", False),
                                      ("x" * 63, True), ("x" * 64, False), ("", False), ("../up", False)])
def test_runtime_names_are_safe_file_names(name: str, ok: bool) -> None:
    assert (runtime_name_problem(name) is None) is ok


def test_a_store_change_keeps_profiles_another_program_saved_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    store.put(Profile("mine", "local"))
    outside = Settings.load(path)
    outside.add_profile(Profile("theirs", "kong-admin", url="http://10.0.0.1:8001"))
    outside.save()
    store.put(Profile("renamed", "local"), old_name="mine")
    assert sorted(Settings.load(path).profiles) == ["renamed", "theirs"]
    store.remove("renamed")
    assert [p.name for p in store.profiles()] == ["theirs"]


def test_a_damaged_file_makes_every_store_change_fail_and_stays_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    store = SettingsStore(path)
    assert store.problem is not None and "cannot read settings file" in store.problem
    with pytest.raises(SettingsError, match="cannot read settings file"):
        store.put(Profile("x", "local"))
    assert path.read_text() == "{ not json"


def test_a_window_setting_set_while_the_file_is_written_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI thread sets window settings while the writer thread may be in the middle of a change
    (the main window's page was lost this way under load): a value set during the write stays
    visible and is written by the next sync. The interleaving is forced by setting it from within
    ``Settings.save`` (no threads, no timing)."""
    store = SettingsStore(tmp_path / "settings.json")
    store.set_value("window/geometry", "g1")
    real_save = Settings.save
    calls = []

    def save_with_a_ui_write(self: Settings) -> Path:
        if not calls:
            store.set_value("window/page", "plugins")  # the UI thread, mid-write
        calls.append(1)
        return real_save(self)

    monkeypatch.setattr(Settings, "save", save_with_a_ui_write)
    store.sync()
    assert store.get_value("window/geometry") == "g1" and store.get_value("window/page") == "plugins"
    assert "window/page" not in Settings.load(tmp_path / "settings.json").ui
    store.sync()  # still pending: the next write takes it
    assert Settings.load(tmp_path / "settings.json").ui["window/page"] == "plugins"
    assert Settings.load(tmp_path / "settings.json").ui["window/geometry"] == "g1"
