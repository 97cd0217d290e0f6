"""Profiles on disk: round trip, atomic writes, damaged files reported and kept, no secret ever saved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from konnect_desktop import appdirs
from konnect_desktop.settings import Profile, Settings, SettingsCorrupt, SettingsError

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
