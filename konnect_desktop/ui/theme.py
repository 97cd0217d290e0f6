"""Light and dark themes that follow the system, and the small visual vocabulary of the app.

The app uses the platform style and the system palette; on top of it a short style sheet adds
the few things the palette cannot say (error lines, badges, status dots), in colours picked for
the current light or dark scheme. Status is never colour alone: every dot comes with a word.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

STATUS_WORDS = {
    "running": ("●", "ok"),
    "connected": ("●", "ok"),
    "ok": ("●", "ok"),
    "stopped": ("○", "muted"),
    "starting": ("◐", "warn"),
    "stopping": ("◐", "warn"),
    "unknown": ("◌", "muted"),
    "disconnected": ("✕", "bad"),
    "failed": ("✕", "bad"),
    "error": ("✕", "bad"),
    "warn": ("⚠", "warn"),
}

_COLOURS = {
    # role: (light, dark)
    "ok": ("#1a7f37", "#3fb950"),
    "warn": ("#9a6700", "#d29922"),
    "bad": ("#cf222e", "#f85149"),
    "muted": ("#57606a", "#8b949e"),
    "badge_bg": ("#ddf4ff", "#1f3a5f"),
    "badge_fg": ("#0969da", "#79c0ff"),
    "warn_bg": ("#fff8c5", "#3b2e0a"),
    "error_bg": ("#ffebe9", "#3d1417"),
}


THEMES = ("system", "light", "dark")
_mode = "system"  # the Preferences' choice: follow the system, or always light / dark


def is_dark(app: QGuiApplication | None = None) -> bool:
    """Is the app dark? The Preferences' choice, else the system's (style hint, then palette)."""
    if _mode != "system":
        return _mode == "dark"
    app = app or QGuiApplication.instance()  # type: ignore[assignment]
    if app is None:
        return False
    try:
        scheme = app.styleHints().colorScheme()
        if scheme == Qt.ColorScheme.Dark:
            return True
        if scheme == Qt.ColorScheme.Light:
            return False
    except AttributeError:  # Qt < 6.5
        pass
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def colour(role: str, dark: bool | None = None) -> str:
    light_c, dark_c = _COLOURS[role]
    return dark_c if (is_dark() if dark is None else dark) else light_c


def style_sheet(dark: bool) -> str:
    c = {k: (v[1] if dark else v[0]) for k, v in _COLOURS.items()}
    return f"""
QLabel#FieldError {{ color: {c['bad']}; }}
QLabel#Summary[state="error"] {{ color: {c['bad']}; font-weight: bold; }}
QLabel#Summary[state="ok"] {{ color: {c['ok']}; }}
QFrame#ErrorPanel {{ background: {c['error_bg']}; border: 1px solid {c['bad']}; border-radius: 4px; }}
QLabel#Badge {{ background: {c['badge_bg']}; color: {c['badge_fg']}; border-radius: 8px; padding: 1px 8px; }}
QLabel#Badge[tone="warn"] {{ background: {c['warn_bg']}; color: {c['warn']}; }}
QLabel[status="ok"] {{ color: {c['ok']}; }}
QLabel[status="warn"] {{ color: {c['warn']}; }}
QLabel[status="bad"] {{ color: {c['bad']}; }}
QLabel[status="muted"] {{ color: {c['muted']}; }}
QLabel#PageTitle {{ font-size: 15pt; font-weight: 600; }}
QLabel#Muted {{ color: {c['muted']}; }}
QListWidget#Sidebar {{ border: none; font-size: 11pt; }}
QListWidget#Sidebar::item {{ padding: 6px 10px; }}
"""


def dark_palette() -> QPalette:
    """A dark palette for styles that do not follow the system scheme by themselves."""
    p = QPalette()
    roles = QPalette.ColorRole
    for role, c in (
        (roles.Window, "#1f2328"), (roles.WindowText, "#e6edf3"), (roles.Base, "#161b22"),
        (roles.AlternateBase, "#1c2128"), (roles.Text, "#e6edf3"), (roles.Button, "#2d333b"),
        (roles.ButtonText, "#e6edf3"), (roles.Highlight, "#1f6feb"), (roles.HighlightedText, "#ffffff"),
        (roles.ToolTipBase, "#2d333b"), (roles.ToolTipText, "#e6edf3"), (roles.PlaceholderText, "#8b949e"),
        (roles.Link, "#58a6ff"), (roles.Mid, "#30363d"), (roles.Dark, "#0d1117"), (roles.Light, "#484f58"),
    ):
        p.setColor(role, QColor(c))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7681"))
    return p


def _scheme_is_dark(app: QGuiApplication) -> bool:
    try:
        return app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return False


def apply(app: QApplication, mode: str | None = None) -> None:
    """Apply the theme now (``mode``: system, light or dark; None keeps the current choice) and,
    when following the system, whenever its scheme changes."""
    global _mode
    first = not getattr(app, "_kd_theme_hooked", False)
    if mode is not None:
        _mode = mode if mode in THEMES else "system"

    def refresh() -> None:
        if _mode == "dark":
            app.setPalette(dark_palette())
        elif _mode == "light" or not _scheme_is_dark(app):
            app.setPalette(app.style().standardPalette())
        elif app.palette().color(QPalette.ColorRole.Window).lightness() >= 128:
            # the system asks for dark but the style kept a light palette (Fusion, some desktops)
            app.setPalette(dark_palette())
        app.setStyleSheet(style_sheet(is_dark(app)))

    refresh()
    if first:
        app._kd_theme_hooked = True  # type: ignore[attr-defined]
        try:
            app.styleHints().colorSchemeChanged.connect(lambda *_: _mode == "system" and refresh())
        except AttributeError:  # Qt < 6.5: the palette still follows the system; colours may lag
            pass


def mode() -> str:
    return _mode


def status_text(state: str) -> str:
    """``running`` → ``● running``: a shape and a word, so colour is never the only signal."""
    dot, _ = STATUS_WORDS.get(state, ("◌", "muted"))
    return f"{dot} {state}"


def set_status(label: QLabel, state: str, text: str | None = None) -> None:
    _, tone = STATUS_WORDS.get(state, ("◌", "muted"))
    label.setText(text if text is not None else status_text(state))
    label.setProperty("status", tone)
    label.setAccessibleName(f"Status: {state}")
    _repolish(label)


def badge(text: str, tone: str = "info", parent: QWidget | None = None) -> QLabel:
    lab = QLabel(text, parent)
    lab.setObjectName("Badge")
    lab.setProperty("tone", tone)
    lab.setAccessibleName(f"Badge: {text}")
    return lab


def _repolish(w: QWidget) -> None:
    st = w.style()
    st.unpolish(w)
    st.polish(w)


def qcolor(role: str) -> QColor:
    return QColor(colour(role))
