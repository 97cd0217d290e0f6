"""Connection profiles and app preferences, in one JSON file in the app's config folder.

A profile names a control plane the user works with: a local runtime, a Kong Admin URL or a
Konnect region + control plane, with its TLS options, extra non-secret headers and which kind of
secret it needs. The file never holds a secret: tokens and passwords live in the OS keyring
(``credentials``) under the profile's name, and saving refuses anything that looks like one.

Writes are atomic (temporary file in the same folder, fsync, rename), so a crash leaves the old
file or the new one, never half of each. A file that cannot be read is reported with its path and
the parser's words and is never overwritten: ``load(recover=True)`` moves it aside first.

``ui`` is a free-form dict for the GUI (window geometry, last profile, theme ...).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
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
    """One named connection. Holds no secret: ``auth`` says which one the keyring keeps."""

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
        leaked = [f.name for f in fields(self) if _looks_secret(getattr(self, f.name))]
        for fname in leaked:
            errs[fname] = "looks like a token; secrets go to the keyring, not the settings file"
        return errs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict):
            raise SettingsError("a profile must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"profile {data.get('name')!r}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SettingsError(f"profile {data.get('name')!r}: {exc}") from None


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


__all__ = ["Profile", "Settings", "SettingsError", "SettingsCorrupt", "KINDS", "AUTH_KINDS", "REGIONS", "FILENAME"]
