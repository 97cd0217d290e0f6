"""The Traffic page against a real local runtime: requests from outside the app show up within a
second, filters, bounded model, the chart's data, and the Gateway panel for a selected row."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_clock import hold_rate_limiting
from PySide6.QtWidgets import QApplication
from widget_checks import assert_looks_right, save_shot

from konnect_desktop.ui.pages.traffic import TrafficPage

SHOTS = os.environ.get("KONNECT_DESKTOP_SHOTS")


@pytest.fixture
def runtime(session: Any, arun: Any) -> Any:
    return arun(session.start_runtime(f"traffic-{uuid.uuid4().hex[:8]}"), timeout=30)


def _page(qtbot: Any, session: Any, size: tuple[int, int] = (1280, 860)) -> TrafficPage:
    page = TrafficPage(session)
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    return page


def _outside(calls: list[tuple[str, dict[str, str]]], base: str) -> threading.Thread:
    """Plain httpx in another thread: a client that knows nothing of the app."""
    def run() -> None:
        with httpx.Client(base_url=base, timeout=5) as c:
            for path, headers in calls:
                c.get(path, headers=headers)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_requests_from_outside_show_within_a_second(qtbot: Any, session: Any, runtime: Any) -> None:
    """"Within a second" by construction: the runtime's traffic log hands each entry to the page's
    listener as the request ends, and the page moves what arrived into the table every
    ``FLUSH_MS`` (checked here, not timed)."""
    from konnect_desktop.ui.pages.traffic import FLUSH_MS

    page = _page(qtbot, session)
    assert page.runtime is runtime and "proxy " + runtime.proxy_url in page.source.text()
    assert page._flush_timer.isActive() and page._flush_timer.interval() == FLUSH_MS <= 1000
    _outside([("/echo/from-outside", {})], runtime.proxy_url)
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 1, timeout=10000)
    row = [page.proxy.index(0, c).data() for c in range(7)]
    assert row[1:6] == ["GET", "/echo/from-outside", "echo", "", "200"]
    assert row[6].endswith(" ms")


def test_filters_chart_and_insight(qtbot: Any, session: Any, runtime: Any, tmp_path: Path, qapp: Any) -> None:
    from konnect_desktop.ui import theme

    theme.apply(qapp)
    page = _page(qtbot, session, size=(1280, 720))  # the size the app must fit
    hold_rate_limiting(runtime)
    calls = ([("/echo/a", {})] * 3 + [("/transformed", {})] + [("/limited", {})] * 7
             + [("/private", {"apikey": "demo-key"}), ("/private", {}), ("/nowhere", {})])
    th = _outside(calls, runtime.proxy_url)
    qtbot.waitUntil(lambda: not th.is_alive(), timeout=10000)  # the gateway runs on this loop: never block it
    qtbot.waitUntil(lambda: page.model.rowCount() == len(calls), timeout=3000)
    assert "14 requests" in page.count.text()

    page.status.setCurrentIndex(page.status.findData("4xx"))
    assert page.proxy.rowCount() == 4  # two 429, one 401, one 404
    page.status.setCurrentIndex(page.status.findData("rejected"))
    assert page.proxy.rowCount() == 4 and "4 of 14 shown" in page.count.text()
    page.status.setCurrentIndex(0)
    page.route.setCurrentIndex(page.route.findData("echo-limited"))
    assert page.proxy.rowCount() == 7
    page.route.setCurrentIndex(0)
    page.consumer.setCurrentIndex(page.consumer.findData("demo"))
    assert page.proxy.rowCount() == 1
    page.consumer.setCurrentIndex(0)
    page.search.setText("transformed")
    assert page.proxy.rowCount() == 1
    page.search.setText("")

    data = page.chart.series()
    assert sum(data["per_second"]) == 14 and sum(data["rejected_per_second"]) == 4
    assert dict(data["rejections_by_route"]) == {"echo-limited": 2, "echo-private": 1, "(no route)": 1}

    # selecting a row shows the same Gateway panel as the console
    page.search.setText("transformed")
    page.select_row(0)
    assert "+ X-Sample-Greeting: hello from the gateway" in page.insight.diff_lines()
    page.search.setText("")
    page.route.setCurrentIndex(page.route.findData("echo-limited"))
    page.table.sortByColumn(0, page.table.horizontalHeader().sortIndicatorOrder())
    page.select_row(0)  # newest: the last 429
    assert "rate-limiting reject" in page.insight.info.text()
    assert "minute 0/5 left" in page.insight.info.text()
    page.route.setCurrentIndex(0)
    page.table.clearSelection()
    page.search.setText("transformed")
    page.select_row(0)
    page.search.setText("")
    QApplication.processEvents()
    save_shot(page, tmp_path / "traffic.png", SHOTS)  # first: to look at when the next line fails
    assert_looks_right(page, key=[page.table, page.chart, page.insight, page.status, page.route,
                                  page.consumer, page.search, page.pause],
                       min_sizes={page.table: (800, 150), page.chart: (400, 150)})


def test_model_is_bounded_and_pause_holds_rows(qtbot: Any, session: Any, runtime: Any) -> None:
    page = _page(qtbot, session)
    page.model.max_rows = 5
    page.pause.setChecked(True)
    th = _outside([("/echo/x", {})] * 8, runtime.proxy_url)
    qtbot.waitUntil(lambda: not th.is_alive(), timeout=10000)
    qtbot.waitUntil(lambda: len(page._pending) == 8, timeout=10000)  # all eight arrived
    page.flush()  # what the page's timer does: while paused it moves nothing
    assert page.model.rowCount() == 0  # paused: kept aside
    page.pause.setChecked(False)
    assert page.model.rowCount() == 5 and page.model.dropped == 3
    assert "oldest 3 dropped" in page.count.text()
    page.clear_table()
    assert page.model.rowCount() == 0


def test_follows_the_runtime_starting_and_stopping(qtbot: Any, session: Any, arun: Any) -> None:
    page = _page(qtbot, session)
    assert page.runtime is None and "No local runtime is running" in page.source.text()
    name = f"traffic-{uuid.uuid4().hex[:8]}"
    rt = arun(session.start_runtime(name), timeout=30)
    assert page.runtime is rt
    arun(session.stop_runtime(name), timeout=30)
    assert page.runtime is None and "No local runtime is running" in page.source.text()
