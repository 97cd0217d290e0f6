"""The Kong release this app matches, and the few facts about it that several rooms quote.

The Admin API's ``GET /`` (version, tagline), the proxy's ``Server`` / ``Via`` headers, the
metrics' node facts and a plugin's reported version all say the same Kong version; they read it
here. Behaviour that follows Kong is documented where it is implemented, next to the Kong source
it restates.
"""

from __future__ import annotations

KONG_VERSION = "3.9.1"  # the Kong Gateway release whose behaviour (and Admin API answers) we match
TAGLINE = "Welcome to kong"  # Admin API ``GET /`` tagline

__all__ = ["KONG_VERSION", "TAGLINE"]
