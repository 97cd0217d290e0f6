"""The root of every error the app raises on purpose, and a map of the tree.

Every such error carries its sentence the same way: ``.message`` (also ``str(err)``), worded for
people and free of secrets; ``.status`` is the HTTP status when there is one. A caller that only
wants to tell someone what went wrong reads ``.message`` of any ``AppError``, whatever its kind.
Anything else that escapes (``OSError``, a bug) is not an ``AppError`` and is logged as such.

The tree (each room defines its own kinds, below the one it belongs to)::

    AppError
    ├── model.errors.KongError          Kong's {code, name, message, fields} (store, decK, forms)
    ├── model.errors.NotFound           404: an entity, its parent or a control plane does not exist
    ├── model.declarative.FileFormatError / model.openapi2kong.OpenAPIError   (also ValueError)
    ├── runtime.admin_api.HttpAnswer    an Admin API answer decided early (status + JSON body)
    ├── runtime.admin_body.BodyError    a request body that cannot be read at all
    ├── plugins.auth_common.AuthFailure authentication failed (status, headers, Kong's body)
    ├── controlplanes.errors.ControlPlaneError   a control plane backend failed; message masked
    │   ├── ConnectionFailed
    │   │   └── TimedOut
    │   ├── AuthFailed
    │   ├── Unsupported
    │   └── ApiError                    the server's Kong-shaped error body
    ├── controlplanes.replication.ReplicationError   a replication side that cannot be used
    └── console: SendError, CurlError, VariableError   (the last two also ValueError)

This module is a foundation: it imports nothing of the app, so every layer may use it.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the app raises on purpose: ``message`` is the sentence to show."""

    status: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


__all__ = ["AppError"]
