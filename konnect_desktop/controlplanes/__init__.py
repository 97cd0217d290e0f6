"""Control planes: one async interface (``ControlPlane``), three backends.

* ``LocalControlPlane`` — the bundled gateway's store (``local.py``)
* ``KongAdminControlPlane`` — a Kong Gateway Admin API over HTTP (``kong_admin.py``)
* ``KonnectControlPlane`` — Kong Konnect control planes in a region (``konnect.py``)

``open_profile`` builds the right one from a saved ``settings.Profile``, taking its secret from
the keyring. Backends are imported lazily so ``import konnect_desktop.controlplanes`` stays cheap.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .base import Capabilities, ConnectionReport, ControlPlane, Node, RuntimeGroup
from .errors import (
    ApiError,
    AuthFailed,
    ConnectionFailed,
    ControlPlaneError,
    NotFound,
    TimedOut,
    Unsupported,
)

if TYPE_CHECKING:
    from ..credentials import Secret
    from ..runtime.runtime import LocalRuntime
    from ..settings import Profile


def __getattr__(name: str) -> Any:
    if name == "LocalControlPlane":
        from .local import LocalControlPlane

        return LocalControlPlane
    if name == "KongAdminControlPlane":
        from .kong_admin import KongAdminControlPlane

        return KongAdminControlPlane
    if name == "KonnectControlPlane":
        from .konnect import KonnectControlPlane

        return KonnectControlPlane
    raise AttributeError(name)


async def open_profile(profile: Profile, *, secret: str | Secret | None = None, runtime: LocalRuntime | None = None) -> ControlPlane:
    """A control plane for ``profile``.

    ``secret`` overrides the keyring (e.g. a token typed for this session). For ``local``
    profiles pass the running ``LocalRuntime`` if there is one; otherwise the runtime's store is
    opened from the app's data folder.
    """
    from .. import credentials

    problems = profile.problems()
    if problems:
        raise ValueError(f"profile {profile.name!r} is not valid: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
    if profile.auth != "none" and secret is None:
        secret = await credentials.aget_token(profile.name)
        if secret is None:
            raise AuthFailed(f"no token stored for profile '{profile.name}'; enter it in the connection settings")
    # Building a backend loads httpx and a TLS context (or opens an SQLite file): done in a worker
    # thread, so a caller on a GUI event loop never stalls on it.
    return await asyncio.to_thread(_build, profile, secret, runtime)


def _build(profile: Profile, secret: str | Secret | None, runtime: LocalRuntime | None) -> ControlPlane:
    if profile.kind == "local":
        from .local import LocalControlPlane

        if runtime is not None:
            return LocalControlPlane(runtime, name=profile.runtime_name)
        from ..runtime.store import Store

        return LocalControlPlane(store=Store.open_default(profile.runtime_name), name=profile.runtime_name)
    if profile.kind == "kong-admin":
        from .kong_admin import KongAdminControlPlane

        kw: dict[str, Any] = {}
        if profile.auth == "admin-token":
            kw["admin_token"] = secret
        elif profile.auth == "basic":
            kw["basic_auth"] = (profile.basic_user or "", secret)
        return KongAdminControlPlane(
            profile.url or "", dict(profile.headers), name=profile.name, verify=profile.verify_tls,
            ca_file=profile.ca_file, client_cert=profile.client_cert, timeout=profile.timeout, **kw,
        )
    from .konnect import KonnectControlPlane

    return KonnectControlPlane(
        profile.region or "us", secret or "", profile.control_plane, base_url=profile.base_url,
        headers=dict(profile.headers), verify=profile.verify_tls, ca_file=profile.ca_file,
        timeout=profile.timeout,
    )


__all__ = [
    "ControlPlane", "Capabilities", "ConnectionReport", "Node", "RuntimeGroup",
    "ControlPlaneError", "ConnectionFailed", "TimedOut", "AuthFailed", "NotFound", "ApiError",
    "Unsupported", "LocalControlPlane", "KongAdminControlPlane", "KonnectControlPlane", "open_profile",
]
