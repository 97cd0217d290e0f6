"""Widgets of the Request Console and Traffic pages: request editors, response viewer, the
gateway insight panel, the burst chart, and the live traffic table and chart.

Views only: the data and every decision live in ``konnect_desktop.console``.
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase


def mono() -> QFont:
    f = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    return f


def status_tone(status: int | None) -> str:
    """Theme role of a status: ok / warn / bad / muted."""
    if status is None:
        return "bad"
    if status < 300:
        return "ok"
    if status < 400:
        return "muted"
    if status < 500:
        return "warn"
    return "bad"
