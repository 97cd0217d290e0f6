"""Tokens for remote control planes: kept in the OS keyring, shown masked everywhere else.

* ``store_token / get_token / delete_token`` keep one token per profile name in the OS keyring
  (service ``konnect-desktop``). They refuse keyring backends that would not really protect the
  secret (keyring's ``fail``/``null`` backends, the ``keyrings.alt`` plaintext/"encrypted" files)
  and raise ``KeyringUnavailable`` saying what to install. The only fallback is an in-memory store
  for this session, and only when the caller opts in with ``use_session_store()`` — never a
  silent file on disk.
* ``Secret`` wraps a token so that ``repr``, ``str``, f-strings, logs and exceptions show
  ``kpat_…abcd``; the clear value comes out only through ``reveal()``, at the moment it goes into
  an HTTP header.
* ``mask_text`` blanks token-looking words and every ``Secret`` value created in this process
  (``mask_secrets`` also secret query values and written-out secret headers, for logs);
  the control plane errors and ``SecretFilter`` (a logging filter) run every message through it.

Keyring calls block (D-Bus round trips); code on the event loop uses the ``a*`` wrappers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # keyring itself is imported when a secret is first needed
    from keyring.backend import KeyringBackend

from .errors import AppError

SERVICE = "konnect-desktop"

log = logging.getLogger(__name__)

# -- masking -------------------------------------------------------------------------------------

# Names whose values are secret wherever they appear: headers, query and form fields (the request
# console's history, the gateway's access log and every log line use these).
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "apikey", "api-key", "api_key",
    "x-api-key", "x-apikey", "kong-admin-token", "x-auth-token", "x-access-token", "x-csrf-token",
    "x-amz-security-token", "private-token", "x-goog-api-key", "ocp-apim-subscription-key",
})
SECRET_PARAMS = frozenset({
    "apikey", "api_key", "api-key", "key", "token", "access_token", "refresh_token", "id_token",
    "client_secret", "password", "passwd", "secret", "sig", "signature", "x-amz-signature",
    "x-amz-security-token", "auth", "session", "sessionid", "code_verifier", "provision_key",
})
SECRET_NAME_WORDS = re.compile(
    r"token|secret|passw|api[-_]?key|credential|session|signature|private[-_]?key|access[-_]?key", re.I)

_TOKEN_RE = re.compile(r"\b(?:kpat|spat|kat)_[A-Za-z0-9]{6,}\b")
# "?apikey=v" / "&token=v" in a URL or a request line
_PARAM_RE = re.compile(r"([?&;])([^=&\s\"'#]+)=([^&\s\"'#]*)")
# "Kong-Admin-Token: v", "apikey=v", '"authorization": "Bearer v"' in free text
_HEADER_RE = re.compile(
    r"(?i)\b(" + "|".join(re.escape(h) for h in sorted(SECRET_HEADERS, key=len, reverse=True))
    + r")(\"?'?\s*[:=]\s*\"?'?)((?:bearer|basic|token)\s+)?[^\s\"',;&]+")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_MIN_REGISTERED = 6  # shorter values would blank ordinary words in messages

_known: set[str] = set()
_known_lock = threading.Lock()


def mask(value: str) -> str:
    """A token as people may see it: ``kpat_…abcd``. Short values show nothing at all."""
    prefix = ""
    m = re.match(r"^([a-z]{2,5}_)", value)
    if m:
        prefix = m.group(1)
    rest = value[len(prefix):]
    if len(rest) >= 16:
        return f"{prefix}…{rest[-4:]}"
    return f"{prefix}…" if prefix else "****"


def register_secret(value: str) -> None:
    """Remember a secret value so ``mask_text`` blanks it wherever it turns up."""
    if isinstance(value, str) and len(value) >= _MIN_REGISTERED:
        with _known_lock:
            _known.add(value)


def mask_text(text: str) -> str:
    """``text`` with every known secret and every token-looking word masked."""
    if not isinstance(text, str) or not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)  # longest first: one may contain another
    for value in known:
        if value in text:
            text = text.replace(value, mask(value))
    text = _TOKEN_RE.sub(lambda m: mask(m.group(0)), text)
    return _BEARER_RE.sub(lambda m: f"{m.group(1)} ****", text)


def mask_secrets(text: str) -> str:
    """``mask_text``, and also the values of secret query parameters (``?apikey=…``) and of
    secret headers written out (``Kong-Admin-Token: …``): for log lines and crash reports,
    which quote URLs and headers."""
    if not isinstance(text, str) or not text:
        return text
    text = mask_query(text)
    text = _HEADER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}****", text)
    return mask_text(text)


def secret_param(name: str) -> bool:
    """Is a query or form field of this name secret (``apikey``, ``token``, ``client_secret`` …)?"""
    n = name.strip().lower()
    return n in SECRET_PARAMS or bool(SECRET_NAME_WORDS.search(n))


def mask_query(text: str) -> str:
    """``text`` with the values of secret query parameters (``?apikey=…&x=1``) masked."""
    if "=" not in text:
        return text
    return _PARAM_RE.sub(
        lambda m: f"{m.group(1)}{m.group(2)}=****" if m.group(3) and secret_param(m.group(2)) else m.group(0),
        text)


class Secret:
    """A secret string that never shows itself by accident.

    ``str``, ``repr`` and formatting give the masked form; ``reveal()`` gives the value.
    Comparison is constant-time. Pickling is refused so it cannot slip into a file.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("a Secret holds a string")
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            other = other._value
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def reveal(value: str | Secret | None) -> str | None:
    """The clear value of a ``Secret`` (or a plain string) — for the HTTP header, nowhere else."""
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else value


class SecretFilter(logging.Filter):
    """Masks secrets in log records. Attach to handlers (``install_log_filter``): handler
    filters see records propagated from every logger, logger filters do not."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        masked = mask_secrets(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # the traceback text is rendered later by the formatter; render it masked now
            formatter = logging.Formatter()
            record.exc_text = mask_secrets(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_filter(logger: logging.Logger | None = None) -> SecretFilter:
    """Add a ``SecretFilter`` to every handler of ``logger`` (default: the root logger)."""
    flt = SecretFilter()
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt


# -- keyring -------------------------------------------------------------------------------------

INSTALL_HINT = (
    "No usable OS keyring was found to keep the token safe. On Linux, install and run a Secret "
    "Service provider (e.g. `gnome-keyring` or KeePassXC with Secret Service enabled, inside a "
    "desktop session with D-Bus) and unlock it; on macOS and Windows the system keychain is used. "
    "Plaintext keyrings (keyrings.alt) are refused. You can also keep the token for this session "
    "only (it is forgotten when the app quits)."
)


class KeyringUnavailable(AppError, RuntimeError):
    """No keyring that really protects secrets is available (or it is locked)."""

    def __init__(self, detail: str = "") -> None:
        msg = INSTALL_HINT if not detail else f"{INSTALL_HINT} ({mask_text(detail)})"
        super().__init__(msg)
        self.detail = detail


class _SessionStore:
    """In-memory token store for this process only; used only after an explicit opt-in."""

    name = "this session only (not saved)"

    def __init__(self) -> None:
        self._tokens: dict[str, Secret] = {}
        self._lock = threading.Lock()

    def set(self, key: str, token: Secret) -> None:
        with self._lock:
            self._tokens[key] = token

    def get(self, key: str) -> Secret | None:
        with self._lock:
            return self._tokens.get(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


_session: _SessionStore | None = None


def use_session_store(enabled: bool = True) -> None:
    """Opt in (or out) of keeping tokens in memory for this session instead of the keyring.

    The caller asks the user first; nothing is written to disk. Opting out forgets the tokens.
    """
    global _session
    _session = _SessionStore() if enabled else None


def session_store_active() -> bool:
    return _session is not None


_FRIENDLY = {
    "keyring.backends.SecretService.Keyring": "Secret Service",
    "keyring.backends.libsecret.Keyring": "Secret Service (libsecret)",
    "keyring.backends.kwallet.DBusKeyring": "KWallet",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "KWallet",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Manager",
}


def _qualname(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_refused(backend: KeyringBackend) -> bool:
    """Backends that do not protect a secret (or do not store at all)."""
    name = _qualname(backend)
    if name.startswith("keyrings.alt") or name in (
        "keyring.backends.fail.Keyring",
        "keyring.backends.null.Keyring",
    ):
        return True
    try:
        return float(type(backend).priority) <= 0
    except Exception:  # priority raising means the backend cannot run here
        return True


def _usable_backend() -> KeyringBackend:
    """The keyring backend we may use, or raise ``KeyringUnavailable``."""
    import keyring

    backend = keyring.get_keyring()
    if _qualname(backend) == "keyring.backends.chainer.ChainerBackend":
        # a chainer's ``backends`` is not on the base class
        chained: list[KeyringBackend] = getattr(backend, "backends", [])
        usable = [b for b in chained if not _is_refused(b)]
        if not usable:
            raise KeyringUnavailable("only plaintext or no-op keyrings are available")
        return usable[0]
    if _is_refused(backend):
        raise KeyringUnavailable(f"keyring backend {_FRIENDLY.get(_qualname(backend), _qualname(backend))} cannot store secrets")
    return backend


def backend_name() -> str:
    """Where tokens go, for the UI: "Secret Service", "macOS Keychain", "this session only", "none"."""
    if _session is not None:
        return _session.name
    try:
        backend = _usable_backend()
    except KeyringUnavailable:
        return "none"
    return _FRIENDLY.get(_qualname(backend), type(backend).__name__)


def keyring_available() -> bool:
    try:
        _usable_backend()
    except KeyringUnavailable:
        return False
    return True


LOCKED_HINT = (
    "The OS keyring is locked, or it could not ask you to unlock it (no desktop prompt). Unlock "
    "it (logging in to the desktop session usually does) and try again, or keep the token for "
    "this session only."
)


class KeyringLocked(KeyringUnavailable):
    """A keyring exists but is locked and could not be unlocked here."""

    def __init__(self, detail: str = "") -> None:
        AppError.__init__(self, f"{LOCKED_HINT} ({mask_text(detail)})" if detail else LOCKED_HINT)
        self.detail = detail


def _wrap(exc: Exception, action: str) -> KeyringUnavailable:
    # keyring / secretstorage errors may quote their input; mask before anything sees them
    detail = f"{action} failed: {type(exc).__name__}: {mask_text(str(exc))}"
    text = f"{type(exc).__name__} {exc}".lower()
    if "locked" in text or "prompt" in text or "dismissed" in text:
        return KeyringLocked(detail)
    return KeyringUnavailable(detail)


def _check_profile(profile: str) -> None:
    if not isinstance(profile, str) or not profile.strip():
        raise ValueError("profile name must be a non-empty string")


def store_token(profile: str, token: str | Secret) -> None:
    """Keep ``token`` for ``profile`` (the session store if opted in, else the OS keyring)."""
    _check_profile(profile)
    secret = Secret(token)
    if not secret:
        raise ValueError("token must not be empty")
    if _session is not None:
        _session.set(profile, secret)
        return
    backend = _usable_backend()
    try:
        backend.set_password(SERVICE, profile, secret.reveal())
    except KeyringUnavailable:
        raise
    except Exception as exc:
        raise _wrap(exc, "saving the token") from None
    log.info("token for profile %r saved in %s", profile, backend_name())


def get_token(profile: str) -> Secret | None:
    """The token of ``profile`` or None when none is stored."""
    _check_profile(profile)
    if _session is not None:
        return _session.get(profile)
    backend = _usable_backend()
    try:
        value = backend.get_password(SERVICE, profile)
    except Exception as exc:
        raise _wrap(exc, "reading the token") from None
    return Secret(value) if value else None


def delete_token(profile: str) -> bool:
    """Forget the token of ``profile``. Returns False when there was none."""
    _check_profile(profile)
    if _session is not None:
        existed = _session.get(profile) is not None
        _session.delete(profile)
        return existed
    import keyring.errors

    backend = _usable_backend()
    try:
        backend.delete_password(SERVICE, profile)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as exc:
        raise _wrap(exc, "deleting the token") from None
    return True


async def astore_token(profile: str, token: str | Secret) -> None:
    await asyncio.to_thread(store_token, profile, token)


async def aget_token(profile: str) -> Secret | None:
    return await asyncio.to_thread(get_token, profile)


async def adelete_token(profile: str) -> bool:
    return await asyncio.to_thread(delete_token, profile)


__all__ = [
    "SERVICE", "Secret", "mask", "mask_text", "mask_secrets", "mask_query", "secret_param", "register_secret", "reveal", "SecretFilter",
    "install_log_filter", "KeyringUnavailable", "KeyringLocked", "use_session_store", "session_store_active",
    "backend_name", "keyring_available", "store_token", "get_token", "delete_token",
    "astore_token", "aget_token", "adelete_token",
]
