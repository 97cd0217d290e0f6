"""post-function: Kong's serverless Lua functions run last in each phase (carried, not run).

Same schema as pre-function (Kong builds both from ``pre-function/_schema.lua``); only the name
and the priority differ.
"""

from __future__ import annotations

from .base import PluginSpec
from .not_run import Refuses
from .pre_function import NOT_RUN, serverless_config

CONFIG, CHECKS = serverless_config()

PLUGIN = PluginSpec(
    name="post-function",
    priority=-1000,
    config=CONFIG,
    description="Run Lua code after every other plugin, per phase (Kong serverless functions).",
    handler=Refuses,
    entity_checks=CHECKS,
    no_consumer=True,
    any_protocol=True,
    not_run=NOT_RUN,
)
