"""The Traffic page (a placeholder until its room fills it in)."""

from __future__ import annotations

from .base import PlaceholderPage


class TrafficPage(PlaceholderPage):
    title = "Traffic"
    blurb = (
        "A live view of requests through the local runtime: method, path, status, latency, route and consumer, with filters."
    )
