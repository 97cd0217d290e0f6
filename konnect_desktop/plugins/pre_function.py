"""pre-function: Kong's serverless Lua functions run first in each phase (carried, not run).

The schema is Kong's ``kong/plugins/pre-function/_schema.lua``, shared with post-function: one list
of Lua chunks per phase, at least one phase set. Kong compiles each chunk to check it
(``error parsing pre-function: ...``); this app does not run Lua, so chunks are carried unchecked
and every request the plugin applies to is refused (``plugins.not_run``).
"""

from __future__ import annotations

from ..model.schema import Array, AtLeastOneOf, Check, Field, Record, String
from .base import PluginSpec
from .not_run import Refuses

PHASES = ("certificate", "rewrite", "access", "header_filter", "body_filter", "log")
NOT_RUN = "it runs Lua code, and this app does not run Lua"


def serverless_config() -> tuple[Field, list[Check]]:
    """The config record and entity checks pre-function and post-function share."""
    def phase() -> Field:
        return Array(String(), required=True, default=[],
                     description="Custom functions, which can be user-defined, are cached and executed sequentially during specific phases: `certificate`, `rewrite`, `access`, `header_filter`, `body_filter`, and `log`.")
    config = Record([(p, phase()) for p in PHASES], nullable=False)
    return config, [AtLeastOneOf([f"config.{p}" for p in PHASES])]


CONFIG, CHECKS = serverless_config()

PLUGIN = PluginSpec(
    name="pre-function",
    priority=1000000,
    config=CONFIG,
    description="Run Lua code before every other plugin, per phase (Kong serverless functions).",
    handler=Refuses,
    entity_checks=CHECKS,
    no_consumer=True,
    any_protocol=True,
    not_run=NOT_RUN,
)
