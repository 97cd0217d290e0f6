"""Environments: named sets of ``{{ variable }}`` values for the request console.

``{{base}}`` in a URL, ``{{token}}`` in a header: before a request is sent every
``{{ name }}`` in its URL, headers, body and form fields is replaced from the chosen
environment, then from the built-ins — ``base`` (the local runtime's proxy URL, unless the
environment sets it), ``admin`` (its Admin API URL), ``$uuid``, ``$timestamp``, ``$randomInt``.
A name nobody defines is an error naming the variable and where it was used; nothing is sent.

Variables marked secret keep their value in the OS keyring (``credentials``), under
``console-env/<environment>/<variable>``; the environments file only says that they exist.
History stores requests as typed (``{{token}}``, not its value), and the values of secret
variables are scrubbed from anything stored.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .. import appdirs
from ..errors import AppError
from .auth import Auth
from .request import FormField, RequestSpec

VAR = re.compile(r"\{\{\s*([A-Za-z_$][A-Za-z0-9_.$-]*)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
FILENAME = "console-environments.json"
DEFAULT_ENV = "local"
MAX_DEPTH = 5  # a variable may use others, this many levels deep


class VariableError(AppError, ValueError):
    """A variable reference cannot be resolved or written; ``message`` says which and why."""


@dataclass
class Variable:
    name: str
    value: str = ""  # for a secret: filled from the keyring when needed, never saved to the file
    secret: bool = False


@dataclass
class Environment:
    name: str
    variables: list[Variable] = field(default_factory=list)

    def get(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


def validate_name(name: str, what: str = "variable") -> str | None:
    if not _NAME.match(name or ""):
        return f"A {what} name uses letters, digits, '_', '.' or '-' and starts with a letter or '_' (“{name}”)."
    return None


@dataclass
class Resolved:
    spec: RequestSpec
    used: list[str] = field(default_factory=list)  # variable names used, in order
    secret_values: list[str] = field(default_factory=list)  # values of secret variables used


def builtin_values(base: str | None = None, admin: str | None = None) -> dict[str, Callable[[], str]]:
    out: dict[str, Callable[[], str]] = {
        "$uuid": lambda: str(uuid.uuid4()),
        "$timestamp": lambda: str(int(time.time())),
        "$randomInt": lambda: str(random.randint(0, 1000)),
    }
    if base:
        out["base"] = lambda: base
    if admin:
        out["admin"] = lambda: admin
    return out


def resolve(
    spec: RequestSpec,
    env: Environment | None,
    builtins: dict[str, Callable[[], str]] | None = None,
    *,
    strict: bool = True,
) -> Resolved:
    """Replace every ``{{ name }}`` in ``spec``. Raises ``VariableError`` naming unknown ones.

    ``env``'s secret variables must carry their values (``EnvironmentStore.with_secrets``).
    An empty value in the environment falls back to the built-in of the same name (so
    ``base`` left blank means "the local runtime"). ``strict=False`` is the preview ("Copy as
    cURL"): unknown names and secret variables stay as typed, nothing raises.
    """
    values: dict[str, tuple[str, bool]] = {}
    if env is not None:
        for v in env.variables:
            if v.value != "" or v.secret:
                values[v.name] = (v.value, v.secret)
    builtins = builtins or {}
    used: list[str] = []
    secrets: list[str] = []
    missing: dict[str, str] = {}

    def sub(text: str, where: str, depth: int = 0) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in values:
                val, secret = values[name]
                if secret and not strict:
                    return m.group(0)
                if secret and val == "":
                    missing.setdefault(name, where + " (secret value not found in the keyring)")
                    return m.group(0)
            elif name in builtins:
                try:
                    val, secret = builtins[name](), False
                except VariableError:
                    if strict:
                        raise
                    return m.group(0)
            else:
                missing.setdefault(name, where)
                return m.group(0)
            if name not in used:
                used.append(name)
            if depth < MAX_DEPTH and VAR.search(val):
                val = sub(val, where, depth + 1)
            if secret and val:
                secrets.append(val)
            return val

        return VAR.sub(one, text) if "{{" in text else text

    auth = spec.auth.canonical()  # only the fields in use: an unused one may name anything
    out = RequestSpec(
        spec.method,
        sub(spec.url, "the URL"),
        [(sub(k, "a header name"), sub(v, f"header {k}")) for k, v in spec.headers],
        spec.body_kind,
        sub(spec.body, "the body"),
        [FormField(sub(f.name, "a form field name"), sub(f.value, f"form field {f.name}"), f.file) for f in spec.form],
        Auth(auth.kind, sub(auth.name, "the Auth key name"), sub(auth.value, "the Auth value"),
             auth.location, sub(auth.user, "the Auth user"), sub(auth.password, "the Auth password")),
    )
    if missing and strict:
        env_name = f"the environment “{env.name}”" if env is not None else "an environment"
        parts = [f"{{{{{n}}}}} in {w}" for n, w in missing.items()]
        noun = "variable" if len(parts) == 1 else "variables"
        raise VariableError(f"Unknown {noun} {', '.join(parts)}. Define it in {env_name} (or pick another environment).")
    return Resolved(out, used, secrets)


def variables_in(spec: RequestSpec) -> list[str]:
    texts = [spec.url, spec.body, *[x for kv in spec.headers for x in kv],
             *[x for f in spec.form for x in (f.name, f.value)], *spec.auth.canonical().texts()]
    out: list[str] = []
    for t in texts:
        for m in VAR.finditer(t):
            if m.group(1) not in out:
                out.append(m.group(1))
    return out


# -- storage ---------------------------------------------------------------------------------------

class SecretValues(Protocol):
    """Where secret variable values live (the keyring; tests give a dict-backed one)."""

    def get(self, env: str, var: str) -> str | None: ...

    def set(self, env: str, var: str, value: str) -> None: ...

    def delete(self, env: str, var: str) -> None: ...


class KeyringSecrets:
    """Secret variable values in the OS keyring (the app's one place for secrets)."""

    @staticmethod
    def key(env: str, var: str) -> str:
        return f"console-env/{env}/{var}"

    def get(self, env: str, var: str) -> str | None:
        from .. import credentials

        s = credentials.get_token(self.key(env, var))
        return s.reveal() if s is not None else None

    def set(self, env: str, var: str, value: str) -> None:
        from .. import credentials

        if value:
            credentials.store_token(self.key(env, var), value)
        else:
            credentials.delete_token(self.key(env, var))

    def delete(self, env: str, var: str) -> None:
        from .. import credentials

        credentials.delete_token(self.key(env, var))


class EnvironmentStore:
    """Environments in a JSON file in the app's config folder (secret values in the keyring).

    Synchronous (file + keyring): call it from a worker thread on the event loop.
    """

    def __init__(self, path: str | Path | None = None, secrets: SecretValues | None = None) -> None:
        self.path = Path(path) if path is not None else appdirs.config_dir() / FILENAME
        self.secrets: SecretValues = secrets if secrets is not None else KeyringSecrets()

    def load(self) -> list[Environment]:
        """The environments (secret values left empty); a missing file gives the default one."""
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return [Environment(DEFAULT_ENV, [Variable("base", "")])]
        except (OSError, ValueError) as exc:
            raise VariableError(f"The environments file {self.path} cannot be read: {exc}.") from None
        out = []
        for e in raw.get("environments", []) if isinstance(raw, dict) else []:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                continue
            variables = []
            for v in e.get("variables") or []:
                if isinstance(v, dict) and isinstance(v.get("name"), str):
                    secret = bool(v.get("secret"))
                    variables.append(Variable(v["name"], "" if secret else str(v.get("value", "")), secret))
            out.append(Environment(e["name"], variables))
        return out or [Environment(DEFAULT_ENV, [Variable("base", "")])]

    def save(self, envs: list[Environment], removed_secrets: Sequence[tuple[str, str]] = ()) -> None:
        """Write the file (atomically) and put secret values in the keyring.

        A secret variable whose ``value`` is empty keeps what the keyring already holds.
        ``removed_secrets``: (environment, variable) pairs to forget.
        """
        for env in envs:
            err = validate_name(env.name, "environment")
            if err:
                raise VariableError(err)
            seen = set()
            for v in env.variables:
                err = validate_name(v.name)
                if err:
                    raise VariableError(err)
                if v.name in seen:
                    raise VariableError(f"The variable “{v.name}” is defined twice in “{env.name}”.")
                seen.add(v.name)
        for env in envs:
            for v in env.variables:
                if v.secret and v.value:
                    self.secrets.set(env.name, v.name, v.value)
        for env_name, var in removed_secrets:
            try:
                self.secrets.delete(env_name, var)
            except Exception:  # nothing stored: nothing to forget
                pass
        doc = {"format": 1, "environments": [
            {"name": e.name, "variables": [
                {"name": v.name, "secret": True} if v.secret else {"name": v.name, "value": v.value}
                for v in e.variables]}
            for e in envs]}
        appdirs.private_dir(self.path.parent)  # mkstemp below writes the file 0600
        fd, tmp = tempfile.mkstemp(prefix=".env-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def with_secrets(self, env: Environment) -> Environment:
        """A copy of ``env`` with its secret values read from the keyring (blank when absent)."""
        out = []
        for v in env.variables:
            if v.secret and not v.value:
                out.append(Variable(v.name, self.secrets.get(env.name, v.name) or "", True))
            else:
                out.append(Variable(v.name, v.value, v.secret))
        return Environment(env.name, out)
