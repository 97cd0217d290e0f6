"""How a collection run reads in the Request Console: PASS / FAIL words for the tree, and the list
of one request's checks (failures first, each as its name over "expected …, got …", with an icon
and a mark so colour is never the only signal)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QTreeWidget, QTreeWidgetItem, QWidget

from ...console.runner import RequestResult

SENTENCE_ROLE = Qt.ItemDataRole.UserRole


def result_text(r: RequestResult) -> str:
    """PASS / FAIL in words (the icon beside it is never the only signal); short, as the tree is
    narrow: the tooltip has every failed check."""
    n = len(r.checks) - len(r.skipped)
    if r.ok:
        return f"PASS, {len(r.skipped)} skipped" if r.skipped else "PASS"
    if r.error and not r.checks:
        return "FAIL: no response"
    return f"FAIL {len(r.failed)} of {n}"


class ChecksList(QTreeWidget):
    """The checks of the selected request's last run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(1)
        self.setHeaderLabels(["Checks of the selected request"])
        self.setAccessibleName("Checks of the selected request")
        self.setRootIsDecorated(False)
        self.setWordWrap(True)

    def show_result(self, r: RequestResult | None) -> None:
        self.clear()
        if r is None:
            return
        style = self.style()
        rows: list[tuple[str, str, QStyle.StandardPixmap, str]] = []  # name, detail, icon, sentence
        if r.error and not r.checks:
            rows.append(("response", f"✗ FAIL: {r.error}", QStyle.StandardPixmap.SP_MessageBoxCritical,
                         f"✗ response: {r.error}"))
        # failures first: they are what the reader came for
        for c in sorted(r.checks, key=lambda c: (c.ok or bool(c.skipped), bool(c.skipped))):
            if c.skipped:
                rows.append((c.name, f"~ skipped: {c.skipped}", QStyle.StandardPixmap.SP_MessageBoxInformation, c.line()))
            else:
                mark = "✓ pass" if c.ok else "✗ FAIL"
                icon = QStyle.StandardPixmap.SP_DialogApplyButton if c.ok else QStyle.StandardPixmap.SP_MessageBoxCritical
                rows.append((c.name, f"{mark}: expected {c.expected}, got {c.got}", icon, c.line()))
        for name, detail, icon, sentence in rows:
            it = QTreeWidgetItem([f"{name}\n{detail}"])
            it.setIcon(0, style.standardIcon(icon))
            it.setToolTip(0, sentence)
            it.setData(0, SENTENCE_ROLE, sentence)
            self.addTopLevelItem(it)

    def lines(self) -> list[str]:
        """The checks shown, as sentences ("✗ name: expected …, got …")."""
        return [self.topLevelItem(i).data(0, SENTENCE_ROLE) for i in range(self.topLevelItemCount())]
