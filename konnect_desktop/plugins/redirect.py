"""redirect: answer every request with a redirect to a fixed URL (Kong 3.9's plugin).

The answer is ``status_code`` (301) with ``Location: <location>`` and the body ``redirecting``.
With ``keep_incoming_path`` the path and query string of the incoming request replace those of
``location`` (scheme, host, port and fragment stay), so ``/a?b=1`` on a route redirecting to
``https://new.test/old`` goes to ``https://new.test/a?b=1``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..model.schema import Boolean, Integer, Record, String
from .base import Decision, Handler, PluginExit, PluginSpec, RequestContext
from .http_util import url_error

NAME = "redirect"
PRIORITY = 779  # after rate limiting, validation and transformation; before AI plugins

CONFIG = Record(
    [
        ("status_code", Integer(required=True, default=301, between=(100, 599),
                                description="The response code to send. Must be an integer between 100 and 599.")),
        ("location", String(required=True, custom=url_error, description="The URL to redirect to.")),
        ("keep_incoming_path", Boolean(default=False,
                                       description="Use the incoming request's path and query string in the redirect URL.")),
    ],
    nullable=False,
    description="Where requests are redirected.",
)


def with_incoming_path(location: str, raw_target: str) -> str:
    """``location`` with its path and query replaced by the request's (as received, encoded)."""
    path, sep, query = raw_target.partition("?")
    parts = urlsplit(location)
    return urlunsplit((parts.scheme, parts.netloc, path or "/", query if sep else "", parts.fragment))


class RedirectHandler(Handler):
    def access(self, ctx: RequestContext) -> None:
        location: str = self.config["location"]
        if self.config.get("keep_incoming_path"):
            location = with_incoming_path(location, ctx.original.raw_path)
        status = int(self.config.get("status_code") or 301)
        ctx.decisions.append(Decision(NAME, "reject", f"redirected ({status}) to {location}",
                                      {"status": status, "location": location}))
        raise PluginExit(status, "redirecting", {"Location": location})


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Redirect requests to another URL, optionally keeping their path and query.",
    handler=RedirectHandler,
    consumer_groups=True,
)
