"""Konnect Desktop: design, test and operate Kong-style API gateways, with a gateway built in."""

__version__ = "0.1.0"

# The proxy's hot path runs compiled when a current build of it exists (native.py explains when
# it does not); this must come before anything imports those modules.
from . import native as _native  # noqa: E402

_native.install()

# The plugin registry tells the model how to validate plugin entities (model.plugin_catalog):
# registering it here means every use of the package has it, while the model never imports the
# plugins layer above it.
from . import plugins as _plugins  # noqa: E402, F401
