"""Suite-wide settings: offscreen Qt, and app folders in a temporary home (never the user's);
the no-keyring fixtures for any test that needs them."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_home = tempfile.mkdtemp(prefix="konnect-desktop-tests-")
os.environ["KONNECT_DESKTOP_HOME"] = _home

from console.keyring_fixture import no_keyring, session_tokens  # noqa: E402, F401  (fixtures)
