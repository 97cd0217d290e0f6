"""Handlers for plugins the local runtime carries but does not run.

Such a plugin (``PluginSpec.not_run`` says why) validates, stores, dumps, syncs and replicates like
any other, so a real Kong configuration loads here whole. What it would do to traffic is not
pretended:

* ``Refuses`` — for a plugin that would guard or answer requests (Lua functions, AWS Lambda,
  LDAP, transcoding, LLM rewriting): every request it applies to is answered 500 with a message
  naming the plugin and why. Letting the request through would skip an authentication or send
  the upstream something it was never meant to receive.
* ``Skips`` — for a plugin that only observes (tracing, metrics, log shipping): the request goes
  on, with a ``skip`` decision in the traffic insight saying what was not done.

Both log one warning per plugin name the first time a runtime builds an instance of it, so a
configuration load says once which plugins will not run, not once per request or rebuild.
"""

from __future__ import annotations

import logging

from ..jsontypes import JSONObject
from . import get as get_spec
from .base import Decision, Handler, RequestContext, RuntimeServices

log = logging.getLogger(__name__)

REFUSED_STATUS = 500
_WARNED = "not-run-warned"  # RuntimeServices.shared_state: plugin names already warned about


def refusal_message(name: str, reason: str) -> str:
    """The message a refused request gets (also what tests and the docs quote)."""
    return f"plugin '{name}' cannot run in the local runtime: {reason}"


class _NotRun(Handler):
    consequence = ""  # what happens to requests, for the start-up warning

    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.name = str(plugin.get("name") or "")
        spec = get_spec(self.name)
        self.reason = (spec.not_run if spec is not None else None) or "not supported here"
        warned = runtime.shared_state(_WARNED)
        if self.name not in warned:  # handlers are built in one thread per rebuild
            warned[self.name] = True
            log.warning("plugin %s is carried but not run by the local runtime (%s): %s",
                        self.name, self.reason, self.consequence)


class Refuses(_NotRun):
    """Answers every request it applies to with 500 naming the plugin: never lets it through."""

    consequence = "the requests it applies to are answered 500"

    def access(self, ctx: RequestContext) -> None:
        ctx.decisions.append(Decision(self.name, "reject", f"not run locally: {self.reason}",
                                      {"status": REFUSED_STATUS, "not_run": True}))
        raise ctx.kong_error(REFUSED_STATUS, refusal_message(self.name, self.reason))


class Skips(_NotRun):
    """Lets requests go on, marking each with a ``skip`` decision."""

    consequence = "requests are proxied without it"

    def access(self, ctx: RequestContext) -> None:
        ctx.decisions.append(Decision(self.name, "skip", f"not run locally: {self.reason}", {"not_run": True}))


__all__ = ["Refuses", "Skips", "REFUSED_STATUS", "refusal_message"]
