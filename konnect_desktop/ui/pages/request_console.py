"""The Request Console page (a placeholder until its room fills it in)."""

from __future__ import annotations

from .base import PlaceholderPage


class RequestConsolePage(PlaceholderPage):
    title = "Request Console"
    blurb = (
        "Send requests through the local gateway and see what each plugin decided: the route matched, the consumer, rate-limit quota left, and what the upstream received."
    )
