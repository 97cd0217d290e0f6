"""Render the app icon's PNGs from resources/icons/konnect-desktop.svg (run after editing it).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render-icons.py [--sheet PREVIEW.png]

Writes resources/icons/hicolor/<N>x<N>/apps/konnect-desktop.png for the sizes desktops use (the
freedesktop icon theme layout, so packaging/ can copy the tree as it is). ``--sheet`` also writes
one preview image of every icon (app and pages) on a light and a dark background.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def sheet(path: Path) -> None:
    svgs = [ICONS / "konnect-desktop.svg", *sorted((ICONS / "pages").glob("*.svg"))]
    cell = 72
    image = QImage(cell * len(svgs), cell * 2, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    for row, bg in enumerate(("#ffffff", "#1e1e1e")):
        painter.fillRect(0, row * cell, image.width(), cell, QColor(bg))
        for col, svg in enumerate(svgs):
            size = 64 if svg.parent == ICONS else 24
            off = (cell - size) // 2
            painter.drawImage(col * cell + off, row * cell + off, render(svg, size))
    painter.end()
    image.save(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="also write a preview of every icon here")
    args = parser.parse_args()
    QGuiApplication(sys.argv[:1])
    for size in SIZES:
        out = ICONS / "hicolor" / f"{size}x{size}" / "apps" / "konnect-desktop.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not render(ICONS / "konnect-desktop.svg", size).save(str(out)):
            raise SystemExit(f"could not write {out}")
        print(out.relative_to(ROOT))
    if args.sheet:
        sheet(args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
