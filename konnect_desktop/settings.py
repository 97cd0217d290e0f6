"""Connection profiles and app preferences, in one JSON file in the app's config folder.

A profile names a control plane the user works with: a local runtime, a Kong Admin URL or a
Konnect region + control plane, with its TLS options, extra non-secret headers and which kind of
secret it needs. The file never holds a secret: tokens and passwords live in the OS keyring
(``credentials``) under the profile's name, and saving refuses anything that looks like one.

Writes are atomic (temporary file in the same folder, fsync, rename), so a crash leaves the old
file or the new one, never half of each. A file that cannot be read is reported with its path and
the parser's words and is never overwritten: ``load(recover=True)`` moves it aside first.

``ui`` is a free-form dict for the GUI (window geometry, last profile, theme ...).

``SettingsStore`` is the file as a long-lived program (the GUI) shares it with the CLI and other
windows: every change re-reads the file and writes it back under one lock, so profiles added
meanwhile elsewhere are kept; window values set from the UI thread wait in memory for the next
write.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import appdirs
from .credentials import mask_text

log = logging.getLogger(__name__)

FILENAME = "settings.json"
FORMAT_VERSION = 1
KINDS = ("local", "kong-admin", "konnect")
AUTH_KINDS = ("none", "admin-token", "basic", "konnect-token")
REGIONS = ("us", "eu", "au", "me", "in", "sg")
KIND_LABELS = {"local": "Local runtime", "kong-admin": "Kong Gateway Admin API", "konnect": "Konnect"}
# fields a profile has in memory only (see ``Profile``): never written, refused when read
MEMORY_ONLY = ("id", "session_only")
_RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SECRET_HEADERS = frozenset({"authorization", "kong-admin-token", "apikey", "x-api-key", "proxy-authorization", "cookie"})


class SettingsError(Exception):
    """The settings cannot be read or the change is not valid. The message says what and where."""


class SettingsCorrupt(SettingsError):
    """The settings file exists but cannot be parsed; it was left untouched."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"cannot read settings file {path}: {why}. It was left as it is; fix it, or start "
            "with fresh settings (the damaged file is then kept beside it as a .corrupt copy)."
        )
        self.path = path


@dataclass
class Profile:
    """One named connection. Holds no secret: ``auth`` says which one the keyring keeps.

    Two fields live in memory only and are never written: ``id``, the name the profile had when
    it was loaded or created (a window's pickers keep their selection through a rename), and
    ``session_only``, set when its token is kept in this process's memory only (no usable
    keyring): such a profile is not saved either, so it is never listed without its token.
    """

    name: str
    kind: str
    url: str | None = None  # kong-admin: the Admin API base URL
    region: str | None = None  # konnect
    control_plane: str | None = None  # konnect: control plane name or id (the runtime group)
    runtime: str | None = None  # local: runtime name (defaults to the profile name)
    auth: str = "none"
    basic_user: str | None = None  # kong-admin basic auth: the user; the password is in the keyring
    verify_tls: bool = True
    ca_file: str | None = None
    client_cert: str | None = None  # PEM path (cert+key); the key's passphrase is not supported
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    base_url: str | None = None  # konnect: override of the regional URL (proxies, tests)
    id: str = field(default="", compare=False)
    session_only: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        self.id = self.id or self.name

    @property
    def has_token(self) -> bool:
        """Whether the keyring (or this session's store) is expected to hold a secret for it."""
        return self.auth != "none"

    @property
    def runtime_name(self) -> str:
        """The local runtime a ``local`` profile opens (its own name unless ``runtime`` says)."""
        return self.runtime or self.name

    @property
    def label(self) -> str:
        """How pickers name it: ``Local · dev``, ``Konnect eu · prod``, ``Kong · staging``."""
        if self.kind == "local":
            return f"Local · {self.name}"
        if self.kind == "konnect":
            return f"Konnect {self.region or ''} · {self.control_plane or self.name}"
        return f"Kong · {self.name}"

    def cleaned(self) -> Profile:
        """A copy without the values its kind does not use (a form switched from one kind to
        another leaves them behind); this is what gets saved and opened."""
        remote = self.kind != "local"
        konnect = self.kind == "konnect"
        return replace(
            self, url=self.url if self.kind == "kong-admin" else None,
            region=self.region if konnect else None, control_plane=self.control_plane if konnect else None,
            runtime=self.runtime if self.kind == "local" else None,
            basic_user=self.basic_user if self.auth == "basic" else None,
            ca_file=self.ca_file if remote else None, client_cert=self.client_cert if remote else None,
            headers=dict(self.headers) if remote else {}, base_url=self.base_url if konnect else None,
        )

    def problem(self) -> str | None:
        """The first thing wrong with it, in words (``url: expected ...``), or None."""
        problems = self.problems()
        if not problems:
            return None
        fname, why = next(iter(problems.items()))
        return f"{fname.replace('_', ' ')}: {why}"

    def problems(self) -> dict[str, str]:
        """Field → what is wrong with it; empty when the profile is usable."""
        errs: dict[str, str] = {}
        if not isinstance(self.name, str) or not self.name.strip():
            errs["name"] = "required field missing"
        elif len(self.name) > 200 or any(ch in self.name for ch in "\n\r\t"):
            errs["name"] = "must be one line of at most 200 characters"
        if self.kind not in KINDS:
            errs["kind"] = f"expected one of: {', '.join(KINDS)}"
        if self.auth not in AUTH_KINDS:
            errs["auth"] = f"expected one of: {', '.join(AUTH_KINDS)}"
        if self.kind == "kong-admin":
            parts = urlsplit(self.url or "")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                errs["url"] = "expected an http:// or https:// URL"
            elif parts.username or parts.password:
                errs["url"] = "credentials do not belong in the URL; use basic auth (kept in the keyring)"
            if self.auth == "basic" and not self.basic_user:
                errs["basic_user"] = "required field missing"
            if self.auth == "konnect-token":
                errs["auth"] = "a Kong Admin API takes 'none', 'admin-token' or 'basic'"
        if self.kind == "konnect":
            if self.region not in REGIONS:
                errs["region"] = f"expected one of: {', '.join(REGIONS)}"
            if self.auth not in ("konnect-token",):
                errs["auth"] = "Konnect needs 'konnect-token'"
        if self.kind == "local" and self.auth != "none":
            errs["auth"] = "a local runtime takes no credentials"
        if not isinstance(self.headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()):
            errs["headers"] = "expected a map of strings"
        else:
            bad = sorted(k for k in self.headers if k.lower() in SECRET_HEADERS)
            if bad:
                errs["headers"] = f"secret header(s) {', '.join(bad)} cannot be saved in settings; use the keyring-backed auth options"
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or not 0 < self.timeout <= 3600:
            errs["timeout"] = "value should be between 0 and 3600"
        if not isinstance(self.verify_tls, bool):
            errs["verify_tls"] = "expected a boolean"
        leaked = [f.name for f in fields(self) if f.name not in MEMORY_ONLY and _looks_secret(getattr(self, f.name))]
        for fname in leaked:
            errs[fname] = "looks like a token; secrets go to the keyring, not the settings file"
        return errs

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in MEMORY_ONLY:
            del out[name]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict):
            raise SettingsError("a profile must be a JSON object")
        known = {f.name for f in fields(cls)} - set(MEMORY_ONLY)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"profile {data.get('name')!r}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SettingsError(f"profile {data.get('name')!r}: {exc}") from None


def runtime_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a local runtime (it names its store file), or None."""
    if not _RUNTIME_NAME.match(name or ""):
        return "Use letters, digits, '.', '-' or '_' (up to 63 characters), starting with a letter or digit."
    return None


def _looks_secret(value: Any) -> bool:
    if isinstance(value, str):
        return mask_text(value) != value
    if isinstance(value, dict):
        return any(_looks_secret(v) for v in value.values())
    return False


@dataclass
class Settings:
    """All settings. ``load()`` reads the file; ``save()`` writes it atomically."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # -- file ----------------------------------------------------------------------------------
    @staticmethod
    def default_path() -> Path:
        return appdirs.config_dir() / FILENAME

    @classmethod
    def load(cls, path: str | Path | None = None, *, recover: bool = False) -> Settings:
        """Read the settings; a missing file gives empty settings.

        A damaged file raises ``SettingsCorrupt`` and stays as it is; with ``recover=True`` it
        is renamed to ``settings.json.corrupt-<time>`` and empty settings are returned.
        """
        p = Path(path) if path is not None else cls.default_path()
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path=p)
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {p}: {exc.strerror or exc}") from None
        try:
            return cls._parse(text, p)
        except SettingsCorrupt:
            if not recover:
                raise
            aside = p.with_name(f"{p.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(p, aside)
            log.warning("settings file %s could not be read; moved aside to %s", p, aside)
            return cls(path=p)

    @classmethod
    def _parse(cls, text: str, p: Path) -> Settings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsCorrupt(p, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        if not isinstance(data, dict):
            raise SettingsCorrupt(p, "expected a JSON object at the top")
        version = data.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SettingsCorrupt(p, f"written by a newer version of the app (format {version!r})")
        raw_profiles = data.get("profiles", [])
        if not isinstance(raw_profiles, list):
            raise SettingsCorrupt(p, "'profiles' must be a list")
        profiles: dict[str, Profile] = {}
        for raw in raw_profiles:
            try:
                prof = Profile.from_dict(raw)
            except SettingsError as exc:
                raise SettingsCorrupt(p, str(exc)) from None
            if prof.name in profiles:
                raise SettingsCorrupt(p, f"two profiles are named {prof.name!r}")
            profiles[prof.name] = prof
        ui = data.get("ui", {})
        if not isinstance(ui, dict):
            raise SettingsCorrupt(p, "'ui' must be an object")
        return cls(profiles=profiles, ui=ui, path=p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "profiles": [self.profiles[n].to_dict() for n in sorted(self.profiles)],
            "ui": self.ui,
        }

    def save(self) -> Path:
        """Write atomically. Refuses to replace a file it cannot read (``SettingsCorrupt``)."""
        p = self.path or self.default_path()
        for prof in self.profiles.values():
            errs = prof.problems()
            if errs:
                raise SettingsError(f"profile {prof.name!r} is not valid: " + "; ".join(f"{k}: {v}" for k, v in errs.items()))
        if _looks_secret(json.dumps(self.ui)):
            raise SettingsError("ui settings contain something that looks like a token; secrets go to the keyring")
        if p.exists():
            try:
                self._parse(p.read_text(encoding="utf-8"), p)
            except SettingsCorrupt:
                raise
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsCorrupt(p, str(exc)) from None
        appdirs.private_dir(p.parent)  # a new folder is 0700; the file is written 0600 below
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        self.path = p
        return p

    # -- profiles ------------------------------------------------------------------------------
    def add_profile(self, profile: Profile, *, replace: bool = False) -> Profile:
        errs = profile.problems()
        if errs:
            raise SettingsError("; ".join(f"{k}: {v}" for k, v in errs.items()))
        if profile.name in self.profiles and not replace:
            raise SettingsError(f"a profile named {profile.name!r} already exists")
        self.profiles[profile.name] = profile
        return profile

    def get_profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise SettingsError(f"no profile named {name!r}") from None

    def remove_profile(self, name: str) -> Profile:
        """Forget a profile (its keyring token is the caller's to delete, after asking)."""
        try:
            return self.profiles.pop(name)
        except KeyError:
            raise SettingsError(f"no profile named {name!r}") from None

    def rename_profile(self, old: str, new: str) -> Profile:
        prof = self.get_profile(old)
        if new in self.profiles:
            raise SettingsError(f"a profile named {new!r} already exists")
        candidate = Profile(**{**prof.to_dict(), "name": new})
        errs = candidate.problems()
        if errs:
            raise SettingsError("; ".join(f"{k}: {v}" for k, v in errs.items()))
        del self.profiles[old]
        self.profiles[new] = candidate
        return candidate


class SettingsStore:
    """The settings file as a long-lived program shares it: profiles and window values.

    Every change re-reads the file and writes it back atomically (``Settings.save``) under one
    lock, so profiles the CLI or another window added meanwhile are kept. A file that cannot be
    read is never written over: ``problem`` says why, and every change raises ``SettingsError``
    until it is fixed. Changes touch the disk: a GUI calls them from a worker thread; window
    values (``set_value``) are memory operations any thread may call.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else Settings.default_path()
        self.problem: str | None = None
        self._lock = threading.Lock()  # one change of the file at a time
        # guards the window values in memory (``settings.ui`` and what is not written yet), which
        # one thread sets while another may be mid-change; held for dict operations only, so a
        # caller setting a value never waits for the disk
        self._mem = threading.Lock()
        self._ui_dirty: dict[str, Any] = {}
        try:
            self.settings = Settings.load(self.path)
        except SettingsError as exc:
            self.problem = str(exc)
            self.settings = Settings(path=self.path)

    # -- reading (memory) ------------------------------------------------------------------------
    def profiles(self) -> list[Profile]:
        return [self.settings.profiles[n] for n in sorted(self.settings.profiles)]

    def get_value(self, key: str, default: Any = None) -> Any:
        return self.settings.ui.get(key, default)

    # -- writing (disk) --------------------------------------------------------------------------
    def _change(self, fn: Callable[[Settings], None]) -> None:
        with self._lock:
            if self.problem is not None:
                raise SettingsError(self.problem)
            fresh = Settings.load(self.path)
            fn(fresh)
            with self._mem:
                written = dict(self._ui_dirty)
            fresh.ui.update(written)
            fresh.save()
            with self._mem:
                # a value set while the file was written stays pending and stays visible
                for key, value in written.items():
                    if key in self._ui_dirty and self._ui_dirty[key] is value:
                        del self._ui_dirty[key]
                fresh.ui.update(self._ui_dirty)
                self.settings = fresh

    def put(self, profile: Profile, old_name: str | None = None) -> None:
        """Save ``profile`` (``cleaned``), replacing ``old_name`` when it was renamed."""

        def change(s: Settings) -> None:
            if old_name and old_name != profile.name:
                s.profiles.pop(old_name, None)
            if profile.name in s.profiles and old_name != profile.name and profile.name not in self.settings.profiles:
                raise SettingsError(f"a profile named {profile.name!r} was saved meanwhile (by the CLI or another window)")
            s.add_profile(profile.cleaned(), replace=True)

        self._change(change)

    def remove(self, name: str) -> None:
        def change(s: Settings) -> None:
            s.profiles.pop(name, None)

        self._change(change)

    def set_value(self, key: str, value: Any) -> None:
        """Remember a window value (JSON-able); written by the next ``sync()`` or change."""
        with self._mem:
            self.settings.ui[key] = value
            self._ui_dirty[key] = value

    def sync(self) -> None:
        """Write the window values set since the last write (nothing when there are none)."""
        if self._ui_dirty:
            self._change(lambda s: None)


__all__ = ["Profile", "Settings", "SettingsStore", "SettingsError", "SettingsCorrupt", "KINDS", "KIND_LABELS",
           "AUTH_KINDS", "REGIONS", "FILENAME", "runtime_name_problem"]
