"""The Qt binding must not leak references to None (PySide6 6.12.0 did: the app aborted with
"none_dealloc" after ~15,000 calls). Guards the version pin in pyproject.toml."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_calls_returning_nothing_keep_none_alive(qapp) -> None:
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
    assert sys.getrefcount(None) - before > -100
