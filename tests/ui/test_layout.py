"""The window fits a 1280×720 screen: visiting pages never grows it (they scroll instead), a long
status message is elided (whole in the tooltip and the notifications list), and splitter
positions come back with the window. Sizes are what a user notices, measured on real widgets."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QSplitter

from konnect_desktop.ui.errors import ErrorInfo
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages import PAGES

W, H = 1280, 720


def _window(qtbot: Any, arun: Any, session: Any) -> MainWindow:
    conn = session.create_local_group(f"fit-{uuid.uuid4().hex[:6]}")
    arun(session.switch(conn))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(W, H)
    win.show()
    QApplication.processEvents()
    return win


def test_visiting_every_page_never_grows_the_window(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: the minimum size grew as pages were visited (813×762 → 1195×831)."""
    win = _window(qtbot, arun, session)
    for spec in PAGES:
        page = win.show_page(spec.id)
        qtbot.waitUntil(lambda p=page: not p.runner.busy, timeout=10000)
        # an error banner appearing must not grow it either
        page.show_error(ErrorInfo("Something failed", "A long explanation of what failed. " * 12))
        QApplication.processEvents()
        hint = win.minimumSizeHint()
        assert hint.width() <= W and hint.height() <= H, (spec.id, hint)
        assert (win.width(), win.height()) == (W, H), spec.id
    assert not win.sidebar.horizontalScrollBar().isVisible()


def test_a_long_status_message_is_elided_and_kept_whole_elsewhere(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: a long keyring message made the window 4201 px wide."""
    win = _window(qtbot, arun, session)
    message = "No usable OS keyring was found: install gnome-keyring or KWallet, " * 30
    win.show_error(ErrorInfo("Cannot keep the token", message))
    QApplication.processEvents()
    assert (win.width(), win.height()) == (W, H)
    assert win.minimumSizeHint().width() <= W
    shown = win.activity.shown_text()
    assert shown.endswith("…") and len(shown) < len(message)
    assert message in win.activity.toolTip()
    assert message in win.notifications.messages[0][1]
    assert win.notify_button.text() == "1 message"
    # the Stop/Start button stays on screen
    button = win.runtime_button
    assert button.mapTo(win, button.rect().bottomRight()).x() <= W


def test_splitter_positions_are_remembered(qtbot: Any, arun: Any, session: Any) -> None:
    win = _window(qtbot, arun, session)
    page = win.show_page("services")
    split = page.findChildren(QSplitter)[0]
    total = sum(split.sizes())
    split.setSizes([150, total - 150])
    main = win.centralWidget().findChild(QSplitter, "MainSplitter")
    main.setSizes([190, sum(main.sizes()) - 190])
    win.save_state()
    arun(session.flush())
    win.close()

    again = MainWindow(session)
    qtbot.addWidget(again)
    again.resize(W, H)
    again.restore_state()
    again.show()
    page2 = again.show_page("services")
    QApplication.processEvents()
    assert page2.findChildren(QSplitter)[0].sizes()[0] == 150
    assert again.centralWidget().findChild(QSplitter, "MainSplitter").sizes()[0] == 190


def _burst(reset_after: float) -> Any:
    from konnect_desktop.console.burst import BurstPlan, BurstResult, BurstSample

    res = BurstResult(BurstPlan(count=12), state="done", elapsed=1.0)
    for i in range(12):
        t = 0.05 * (i + 1)
        if i < 5:
            res.samples.append(BurstSample(i, t - 0.01, t, 200, remaining=4 - i, limit=5, period="minute"))
        elif i < 9:
            res.samples.append(BurstSample(i, t - 0.01, t, 429, remaining=0, limit=5, period="minute",
                                           retry_after=reset_after))
        else:
            res.samples.append(BurstSample(i, t - 0.01, t, 200, remaining=4, limit=5, period="minute"))
    return res


def test_burst_chart_labels_never_overlap(qtbot: Any) -> None:
    """Issue: at its default size "limit tripped…" was drawn over "window resets…"."""
    from konnect_desktop.ui.console.burst_chart import BurstChart

    chart = BurstChart()
    qtbot.addWidget(chart)
    for reset_after, width in ((0.2, 460), (0.2, 900), (30.0, 460), (30.0, 1100)):
        chart.set_result(_burst(reset_after))
        chart.resize(width, chart.minimumHeight())
        chart.grab()  # paints
        boxes = chart.text_boxes
        texts = [t for t, _ in boxes]
        assert any(t.startswith("limit tripped") for t in texts)
        assert any(t.startswith("window resets") for t in texts)
        assert any(t.startswith("passing again") for t in texts)
        for i, (ta, ra) in enumerate(boxes):
            assert ra.left() >= 0 and ra.right() <= chart.width() and ra.bottom() <= chart.height(), ta
            for tb, rb in boxes[i + 1:]:
                assert not ra.intersects(rb), (width, ta, tb)


def test_tree_labels_and_dialog_titles_are_not_clipped(qtbot: Any, arun: Any, session: Any) -> None:
    """Issue: "Kong Gateway Adm…" in the tree, "New lo…group" as a dialog title."""
    from konnect_desktop.settings import Profile
    from konnect_desktop.ui.pages.runtime_manager import RuntimeManagerPage

    session.add_connection(Profile(kind="kong-admin", name="kong", url="http://127.0.0.1:9"))
    win = _window(qtbot, arun, session)
    rm = win.show_page("runtimes")
    assert isinstance(rm, RuntimeManagerPage)
    QApplication.processEvents()
    tree = rm.tree
    for r in range(tree.topLevelItemCount()):
        root = tree.topLevelItem(r)
        rect = tree.visualItemRect(root)
        bold = root.font(0)
        from PySide6.QtGui import QFontMetrics

        need = QFontMetrics(bold).horizontalAdvance(root.text(0))
        assert rect.width() >= need + 8, root.text(0)
    rm.new_local_group()
    dlg = rm.group_dialog
    qtbot.waitUntil(dlg.isVisible)
    assert dlg.width() >= dlg.fontMetrics().horizontalAdvance(dlg.windowTitle()) + 120
    dlg.setTextValue("made-here")
    dlg.accept()
    assert session.find("made-here") is not None


def _clipped(root: Any) -> list[str]:
    """Visible one-line labels and buttons whose text does not fit their width."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

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
    return out


def test_every_page_at_1280x720_shows_its_labels_and_buttons_whole(qtbot: Any, arun: Any, session: Any) -> None:
    """What a user notices in a screenshot: clipped words. Every page, its sidebar entry, its
    buttons and one-line labels at the size the app must fit; the console fits with its burst
    chart shown (no page scrolling needed there)."""
    from PySide6.QtWidgets import QScrollArea

    win = _window(qtbot, arun, session)
    sidebar = win.sidebar
    for i in range(sidebar.count()):
        item = sidebar.item(i)
        # icon, text and the style sheet's 10 px padding on each side
        need = max(sidebar.iconSize().width(), 16) + sidebar.fontMetrics().horizontalAdvance(item.text()) + 20 + 6
        assert sidebar.visualItemRect(item).width() >= need, item.text()
    problems: dict[str, list[str]] = {}
    for spec in PAGES:
        page = win.show_page(spec.id)
        qtbot.waitUntil(lambda p=page: not p.runner.busy, timeout=10000)
        QApplication.processEvents()
        bad = _clipped(win)
        if bad:
            problems[spec.id] = bad
    assert not problems, problems
    console = win.show_page("console")
    console.bottom.setCurrentWidget(console.burst_panel)
    QApplication.processEvents()
    scroll = win.stack.currentWidget()
    assert isinstance(scroll, QScrollArea)
    assert not scroll.verticalScrollBar().isVisible()
    assert console.burst_panel.chart.height() >= console.burst_panel.chart.minimumHeight()
    console.bottom.setCurrentWidget(console.history_panel)
    QApplication.processEvents()
    assert console.response.height() >= 180  # back on History, the response has its room again
    arun(console.aclose())


def test_each_page_is_listed_once() -> None:
    """A page listed twice (a merge of two branches adding it) shows two sidebar entries."""
    ids = [p.id for p in PAGES]
    titles = [p.title for p in PAGES]
    assert len(ids) == len(set(ids)) and len(titles) == len(set(titles)), ids
