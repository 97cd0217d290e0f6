"""Suite-wide settings: offscreen Qt, and app folders in a temporary home (never the user's)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_home = tempfile.mkdtemp(prefix="konnect-desktop-tests-")
os.environ["KONNECT_DESKTOP_HOME"] = _home
