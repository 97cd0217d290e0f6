"""The Gateway insight panel shows what Kong would not say (the host-case note of a request)."""

from __future__ import annotations

from typing import Any

from konnect_desktop.console.insight import build_insight
from konnect_desktop.ui.console.insight_panel import InsightPanel


def test_host_case_warning_is_shown(qtbot: Any) -> None:
    note = ("matched route open, not route secure: Kong compares hosts case-sensitively "
            "(Host 'SECURE.LOCAL', route host 'secure.local')")
    entry = {"request_id": "r1", "status": 200, "route": {"id": "1", "name": "open"},
             "request": {"method": "GET", "path": "/", "headers": [["Host", "SECURE.LOCAL"]]},
             "upstream_request": None, "warnings": [note]}
    panel = InsightPanel()
    qtbot.addWidget(panel)
    panel.set_insight(build_insight(entry))
    assert "not route secure: Kong compares hosts case-sensitively" in panel.info.text()
    assert panel.insight is not None and panel.insight.warnings == [note]
