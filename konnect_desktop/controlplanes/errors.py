"""One error hierarchy for every control plane backend (a branch of ``konnect_desktop.errors``).

The GUI, the CLI and the replication engine catch these (and ``NotFound``, the model's one 404
kind, shared with the store): a local store, a remote Kong Admin API and Konnect all fail in the
same words. ``ApiError`` keeps the server's Kong-shaped
body (code, name, message, fields) so a form can put each message next to the field it names.

Messages never carry a secret: every message goes through ``credentials.mask_text``, which
blanks anything that looks like a Konnect token plus every secret a backend registered.
"""

from __future__ import annotations

from ..credentials import mask_text
from ..errors import AppError
from ..jsontypes import JSONObject, JSONValue
from ..model.errors import NotFound


class ControlPlaneError(AppError):
    """Base of every control plane failure. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, target: str | None = None) -> None:
        super().__init__(mask_text(message))
        if status is not None:
            self.status = status
        self.target = mask_text(target) if target else target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConnectionFailed(ControlPlaneError):
    """The control plane could not be reached (refused, DNS, TLS, reset)."""


class TimedOut(ConnectionFailed):
    """The control plane did not answer in time (connect, read or write timeout)."""


class AuthFailed(ControlPlaneError):
    """The server refused our credentials (401) or their rights (403)."""


class Unsupported(ControlPlaneError):
    """The backend cannot do this (read-only DB-less node, no consumer groups, no such table)."""


class ApiError(ControlPlaneError):
    """The server answered with an error body; Kong's shape is kept for field-level display.

    ``fields`` maps field names to messages (nested dicts/lists as Kong nests them); for Konnect's
    problem+json errors the ``invalid_parameters`` list is folded into the same mapping.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        name: str | None = None,
        fields: JSONObject | None = None,
        body: JSONValue = None,
        target: str | None = None,
    ) -> None:
        super().__init__(message, status=status, target=target)
        self.code = code
        self.name = name
        self.fields = _mask_tree(fields) if fields else fields
        self.body = _mask_tree(body)

    def to_dict(self) -> JSONObject:
        """The Kong-shaped body: ``{"code", "name", "message", "fields"}`` (absent parts omitted)."""
        out: JSONObject = {}
        if self.code is not None:
            out["code"] = self.code
        if self.name is not None:
            out["name"] = self.name
        out["message"] = self.message
        if self.fields is not None:
            out["fields"] = self.fields
        return out


def _mask_tree(value: JSONValue) -> JSONValue:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    return value


def from_kong_body(status: int, body: JSONValue, *, target: str | None = None) -> ControlPlaneError | NotFound:
    """Map an HTTP error status and its (decoded) JSON body to the hierarchy.

    Understands Kong's ``{"code","name","message","fields"}``, plain ``{"message"}`` and
    Konnect's problem+json (``status``, ``title``, ``detail``, ``invalid_parameters``).
    """
    message = None
    code = name = None
    fields: JSONObject | None = None
    if isinstance(body, dict):
        if "detail" in body or "title" in body:  # problem+json
            message = body.get("detail") or body.get("title")
            params = body.get("invalid_parameters")
            if isinstance(params, list):
                fields = {}
                for p in params:
                    if isinstance(p, dict) and p.get("field"):
                        fields[str(p["field"])] = p.get("reason") or p.get("rule") or "invalid"
        if message is None:
            message = body.get("message")
        if isinstance(body.get("code"), int):
            code = body["code"]
        if isinstance(body.get("name"), str):
            name = body["name"]
        if isinstance(body.get("fields"), dict):
            fields = body["fields"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    if not isinstance(message, str) or not message:
        message = f"HTTP {status}"
    if status in (401, 403):
        return AuthFailed(f"{message} (HTTP {status})", status=status, target=target)
    if status == 404:
        return NotFound(mask_text(message), target=target)
    return ApiError(message, status=status, code=code, name=name, fields=fields, body=body, target=target)


__all__ = [
    "ControlPlaneError", "ConnectionFailed", "TimedOut", "AuthFailed", "NotFound", "Unsupported",
    "ApiError", "from_kong_body",
]
