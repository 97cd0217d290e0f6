"""Shared test support for the control plane tests (the token used everywhere, the Backend bundle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from konnect_desktop.controlplanes.base import ControlPlane
from konnect_desktop.controlplanes.kong_admin import RetryPolicy

TOKEN = "kpat_" + "Zq9" * 14  # 47 characters, shaped like a Konnect personal access token
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)


@dataclass
class Backend:
    kind: str
    cp: ControlPlane
    store: Any  # the runtime.store.Store that holds this control plane's entities
    extra: dict[str, Any]
