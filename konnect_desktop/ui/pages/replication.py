"""The Replication page (a placeholder until its room fills it in)."""

from __future__ import annotations

from .base import PlaceholderPage


class ReplicationPage(PlaceholderPage):
    title = "Replication"
    blurb = (
        "Copy a configuration between connections or to a decK file: pick source and target, review the plan (create / update / delete per entity kind), then apply it."
    )
