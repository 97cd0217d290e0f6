"""loggly: ship request logs to Loggly over syslog/UDP (carried, not run).

Schema from Kong 3.9's ``kong/plugins/loggly/schema.lua``. The plugin only observes, so the local
runtime proxies requests without it and marks each with a ``skip`` decision.
"""

from __future__ import annotations

from ..model import typedefs
from ..model.schema import Field, Number, Record, Set, String
from .base import PluginSpec
from .not_run import Skips

SEVERITIES = ("debug", "info", "notice", "warning", "err", "crit", "alert", "emerg")


def _severity() -> Field:
    return String(default="info", one_of=SEVERITIES)


CONFIG = Record([
    ("host", typedefs.host(default="logs-01.loggly.com")),
    ("port", typedefs.port(default=514)),
    ("key", String(required=True, secret=True)),
    ("tags", Set(String(), default=["kong"])),
    ("log_level", _severity()),
    ("successful_severity", _severity()),
    ("client_errors_severity", _severity()),
    ("server_errors_severity", _severity()),
    ("timeout", Number(default=10000)),
    ("custom_fields_by_lua", typedefs.lua_code()),
], nullable=False)

PLUGIN = PluginSpec(
    name="loggly",
    priority=6,
    config=CONFIG,
    description="Send request and response logs to Loggly.",
    handler=Skips,
    any_protocol=True,
    not_run="it sends logs to Loggly; requests are proxied without logging",
)
