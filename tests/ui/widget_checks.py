"""What a user notices in a screenshot, measured on the widgets themselves: words cut off, a key
widget squeezed to nothing or pushed off the window, two of them drawn over each other.

A PNG's file size says none of this, so the screenshot tests assert these and still write the
PNG (for a person to look at).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QWidget

MIN_WIDTH = 40  # px: narrower than this, a key widget is not usable
COMBO_CHROME = 24  # px a combo box's frame and arrow take besides its text (Fusion style)


def clipped(root: QWidget) -> list[str]:
    """Visible one-line labels, buttons and combo boxes whose text does not fit their width."""
    from konnect_desktop.ui.status import ElidedLabel

    out = []
    for w in root.findChildren(QLabel):
        if not w.isVisible() or w.wordWrap() or isinstance(w, ElidedLabel) or w.textFormat() == Qt.TextFormat.RichText:
            continue
        text = w.text()
        if not text or "<" in text or "\n" in text or w.pixmap() is not None and not w.pixmap().isNull():
            continue
        if w.fontMetrics().horizontalAdvance(text) > w.contentsRect().width() + 1:
            out.append(f"label {text!r}: {w.fontMetrics().horizontalAdvance(text)} > {w.contentsRect().width()}")
    for b in root.findChildren(QAbstractButton):
        text = b.text().replace("&", "")
        if b.isVisible() and text and b.width() < b.fontMetrics().horizontalAdvance(text) + 8:
            out.append(f"button {text!r}: {b.width()} < {b.fontMetrics().horizontalAdvance(text) + 8}")
    for c in root.findChildren(QComboBox):
        text = c.currentText()
        if c.isVisible() and text and not c.isEditable():
            need = c.fontMetrics().horizontalAdvance(text) + COMBO_CHROME
            if c.width() < need:
                out.append(f"combo box {text!r}: {c.width()} < {need}")
    return out


def rect_in(root: QWidget, w: QWidget) -> QRect:
    """``w``'s rectangle in ``root``'s coordinates."""
    return QRect(w.mapTo(root, QPoint(0, 0)), w.size())


def _name(w: QWidget) -> str:
    return w.objectName() or type(w).__name__


def problems(root: QWidget, key: Sequence[QWidget], *, min_sizes: Mapping[QWidget, tuple[int, int]] | None = None,
             ) -> list[str]:
    """Everything a user would notice in ``root`` as it is shown now (empty: it looks right).

    ``key`` are the widgets the screen is about: each must be shown, at least ``MIN_WIDTH`` wide
    and one line of its font high (or its entry in ``min_sizes``), wholly inside ``root``, and
    overlap no other key widget (a widget may lie inside another: a table in its panel)."""
    out = clipped(root)
    area = root.rect()
    placed: list[tuple[QWidget, QRect]] = []
    for w in key:
        if not w.isVisible():
            out.append(f"{_name(w)} is not shown")
            continue
        r = rect_in(root, w)
        min_w, min_h = (min_sizes or {}).get(w, (MIN_WIDTH, w.fontMetrics().height()))
        if r.width() < min_w or r.height() < min_h:
            out.append(f"{_name(w)} is {r.width()}×{r.height()} px (wants at least {min_w}×{min_h})")
        if not area.contains(r):
            out.append(f"{_name(w)} at {r.x()},{r.y()} {r.width()}×{r.height()} is not wholly inside "
                       f"the {area.width()}×{area.height()} window")
        placed.append((w, r))
    for i, (a, ra) in enumerate(placed):
        for b, rb in placed[i + 1:]:
            if not (a.isAncestorOf(b) or b.isAncestorOf(a)) and ra.intersects(rb):
                out.append(f"{_name(a)} and {_name(b)} overlap")
    return out


def assert_looks_right(root: QWidget, key: Sequence[QWidget], **options: Any) -> None:
    bad = problems(root, key, **options)
    assert not bad, bad


def save_shot(widget: QWidget, path: Path, also_in: str | None = None) -> None:
    """Write the PNG a person looks at (and a copy into ``also_in``, a folder, when given)."""
    image = widget.grab()
    assert image.save(str(path)) and image.width() == widget.width() and image.height() == widget.height()
    if also_in:
        Path(also_in).mkdir(parents=True, exist_ok=True)
        image.save(str(Path(also_in) / path.name))


def chart_label_problems(chart: Any) -> list[str]:
    """A chart's drawn labels (``text_boxes``: text and its box, from the last paint) each lie
    inside the chart and over no other label."""
    out = []
    boxes = chart.text_boxes
    for i, (ta, ra) in enumerate(boxes):
        if ra.left() < 0 or ra.right() > chart.width() or ra.bottom() > chart.height():
            out.append(f"{ta!r} is drawn outside the {chart.width()}×{chart.height()} chart")
        for tb, rb in boxes[i + 1:]:
            if ra.intersects(rb):
                out.append(f"{ta!r} is drawn over {tb!r}")
    return out
