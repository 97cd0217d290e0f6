"""One error taxonomy: every error the app raises on purpose is an ``AppError`` carrying its
sentence in ``.message`` (the same as ``str()``), so any caller can show it without guessing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from konnect_desktop.console.collection import CollectionError
from konnect_desktop.console.curl import CurlError
from konnect_desktop.console.environments import VariableError
from konnect_desktop.console.sender import SendError
from konnect_desktop.controlplanes import errors as cp_errors
from konnect_desktop.controlplanes.commands import UsageError
from konnect_desktop.credentials import KeyringLocked, KeyringUnavailable
from konnect_desktop.errors import AppError
from konnect_desktop.model.declarative import FileFormatError
from konnect_desktop.model.errors import KongError, NotFound, schema_violation
from konnect_desktop.model.openapi2kong import OpenAPIError
from konnect_desktop.plugins.auth_common import AuthFailure
from konnect_desktop.plugins.templates import TemplateSyntaxError
from konnect_desktop.runtime.admin_api import HttpAnswer
from konnect_desktop.runtime.admin_body import BodyError
from konnect_desktop.runtime.admin_config import ConfigRejected
from konnect_desktop.runtime.admin_guard import TokenFileError, UnsafeBindError
from konnect_desktop.runtime.store_lock import StoreInUse
from konnect_desktop.runtime.vault import VaultError

PACKAGE = Path(__file__).resolve().parents[1] / "konnect_desktop"


@pytest.mark.parametrize("err", [
    KongError(2, "schema violation (name: required field missing)"),
    schema_violation({"name": "required field missing"}),
    NotFound(),
    NotFound("no Konnect control plane named 'x'", target="https://kong.test"),
    cp_errors.ConnectionFailed("Connection refused"),
    cp_errors.TimedOut("read timed out"),
    cp_errors.AuthFailed("Unauthorized (HTTP 401)", status=401),
    cp_errors.Unsupported("read-only node"),
    cp_errors.ApiError("bad", status=400, code=2, fields={"name": "x"}),
    FileFormatError("not YAML"),
    OpenAPIError("no paths"),
    HttpAnswer(405, {"message": "Method not allowed"}),
    BodyError("Cannot parse JSON body"),
    AuthFailure(401, "No API key found in request"),
    SendError("Connection refused"),
    CurlError("not a curl command"),
    VariableError("unknown variable"),
    CollectionError("requests.yaml: url: required"),
    UsageError("no such file"),
    KeyringUnavailable("no backend"),
    KeyringLocked("locked"),
    TemplateSyntaxError("unexpected token"),
    ConfigRejected({"code": 14, "message": "declarative config is invalid: {}"}),
    UnsafeBindError("refusing to listen on 0.0.0.0 without a token"),
    TokenFileError("cannot read the admin token file"),
    StoreInUse(Path("kong.db"), {"pid": 1}),
    VaultError("environment variable X is not set"),
], ids=lambda e: type(e).__name__)
def test_every_error_carries_its_message_the_same_way(err: AppError) -> None:
    assert isinstance(err, AppError)
    assert isinstance(err.message, str) and err.message
    assert str(err) == err.message


def test_one_not_found_for_the_store_and_every_control_plane() -> None:
    assert cp_errors.NotFound is NotFound
    err = cp_errors.from_kong_body(404, {"message": "Not found"}, target="https://kong.test")
    assert type(err) is NotFound and err.status == 404 and err.message == "Not found"


def test_control_plane_errors_mask_secrets() -> None:
    token = "kpat_" + "A" * 40
    err = cp_errors.from_kong_body(500, {"message": f"token {token} rejected"})
    assert token not in err.message
    nf = cp_errors.from_kong_body(404, {"message": f"no {token}"})
    assert token not in nf.message


def test_no_module_sets_message_by_hand() -> None:
    """``.message`` is set once, by ``AppError``; a new error class derives from it instead."""
    offenders = []
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE).as_posix()
        if rel.startswith("ui/") or rel == "errors.py":
            continue
        if re.search(r"^\s+[\w.]+\.message\s*=(?!=)", p.read_text(encoding="utf-8"), re.M):
            offenders.append(rel)
    assert offenders == []


# Exceptions that are signals inside the data plane, never shown to a person as they are: the
# proxy turns them into responses and log lines. Everything else the package raises on purpose
# derives from ``AppError``.
SIGNALS = {
    "PluginExit", "InvalidKey", "PolicyError", "TemplateError", "UpstreamError", "BodyTooLarge",
    "_SniNotFound",
}


def _exception_classes() -> dict[str, tuple[str, list[str]]]:
    """Every class in the package: name -> (module, its base names, each the last dotted part)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                out[node.name] = (p.relative_to(PACKAGE).as_posix(), bases)
    return out


def test_every_exception_class_is_an_app_error_or_a_named_signal() -> None:
    classes = _exception_classes()

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in {"Exception", "BaseException"} or (name.endswith(("Error", "Exception")) and name not in classes):
            return True  # a builtin or third-party exception type
        if name in seen or name not in classes:
            return False
        return any(is_exception(b, seen | {name}) for b in classes[name][1])

    def is_app_error(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "AppError":
            return True
        if name in seen or name not in classes:
            return False
        return any(is_app_error(b, seen | {name}) for b in classes[name][1])

    offenders = sorted(
        f"{module}:{name}" for name, (module, _) in classes.items()
        if name != "AppError" and is_exception(name) and not is_app_error(name)
        and name not in SIGNALS
    )
    assert offenders == []
