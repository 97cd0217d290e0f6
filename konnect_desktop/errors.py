"""The root of every error the app raises on purpose, and a map of the tree.

Every such error carries its sentence the same way: ``.message`` (also ``str(err)``), worded for
people and free of secrets; ``.status`` is the HTTP status when there is one; ``.code`` and
``.fields`` are Kong's error code and per-field messages when the error has Kong's shape (None
otherwise). A caller that only wants to tell someone what went wrong reads these of any
``AppError``, whatever its kind (the GUI's error panel does exactly that). Anything else that
escapes (``OSError``, a bug) is not an ``AppError`` and is logged as such; a transport failure
below HTTP is put into words by ``controlplanes.transport.describe_transport_error``.

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
    ├── controlplanes.commands.UsageError        a SOURCE/TARGET or file the CLI cannot use
    ├── controlplanes.replication.ReplicationError   a replication side that cannot be used
    ├── console: SendError, CurlError, VariableError, CollectionError   (the last three also ValueError)
    ├── runtime: responses.ProxyExit (the proxy's own answers: 404, 502, 504, …; status + Kong's
    │   sentence), the HTTP/1 parser's refusals (400, 413, 414, 431),
    │   admin_config.ConfigRejected (400, Kong's code-14 body), gateway_cli.ConfigNotLoaded,
    │   admin_guard.UnsafeBindError /
    │   TokenFileError (also ValueError), store_lock.StoreInUse (also RuntimeError),
    │   vault.VaultError, portal.accounts.FormError (also ValueError), store.StoreClosed (a KongError)
    ├── plugins.templates.TemplateSyntaxError    a template in a plugin's config (also ValueError)
    ├── credentials.KeyringUnavailable           no safe keyring (also RuntimeError)
    └── ui.openapi_import.OpenAPIImportError     (also ValueError)

Not in the tree, on purpose: signals that never reach a person as such (``plugins.base.PluginExit``,
``runtime.upstream.UpstreamError``, ``request_body.BodyTooLarge``,
``plugins.templates.TemplateError``, ``rate_limiting_policies.PolicyError``): the data plane turns
them into responses and log lines.

This module is a foundation: it imports nothing of the app, so every layer may use it.
"""

from __future__ import annotations

from .jsontypes import JSONObject


class AppError(Exception):
    """Base of every error the app raises on purpose: ``message`` is the sentence to show."""

    status: int | None = None
    code: int | None = None  # Kong's error code (2 schema violation, 5 unique, ...), when Kong-shaped
    fields: JSONObject | None = None  # Kong's per-field messages, when Kong-shaped

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


__all__ = ["AppError"]
