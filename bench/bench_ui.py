"""GUI figures: start-up to an interactive window, loading 10,000 services, the longest UI stall.

Prints figures, never fails. Runs offscreen against a real SQLite store (local control plane),
in a throw-away app home::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_ui.py [--services 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

T_PROCESS = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KONNECT_DESKTOP_HOME", tempfile.mkdtemp(prefix="konnect-desktop-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


SEED_SECONDS = [0.0]


class StallMeter:
    """A 10 ms QTimer; the longest gap between ticks is the longest time the UI could not react."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return max(self.gaps, default=0.0) * 1000


def seed(db: Path, n: int) -> None:
    from konnect_desktop.runtime.store import Store

    store = Store(db)
    config = {"services": [
        {"name": f"svc-{i:05d}", "host": f"host{i % 97}.internal", "tags": [f"team-{i % 7}"]} for i in range(n)
    ]}
    t = time.perf_counter()
    store.replace_all(config)
    SEED_SECONDS[0] = time.perf_counter() - t
    print(f"seeded {n} services into SQLite in {SEED_SECONDS[0]:.2f} s")
    store.close()


async def measure(n: int, db: Path, t_app: float) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.controlplanes.local import LocalControlPlane
    from konnect_desktop.runtime.store import Store
    from konnect_desktop.settings import Profile, SettingsStore
    from konnect_desktop.ui.mainwindow import MainWindow
    from konnect_desktop.ui.session import Session

    app = QApplication.instance()
    assert app is not None
    meter = StallMeter()
    t0 = time.perf_counter()
    session = Session(SettingsStore(db.with_suffix(".json")))
    win = MainWindow(session)
    win.resize(1280, 820)
    win.show()
    await asyncio.sleep(0)
    app.processEvents()
    t_window = time.perf_counter()
    print(f"start-up: imports+QApplication {1000 * (t0 - t_app):.0f} ms, window built and shown "
          f"{1000 * (t_window - t0):.0f} ms, process start to interactive window "
          f"{1000 * (t_window - T_PROCESS - SEED_SECONDS[0]):.0f} ms (seeding excluded)")

    store = await asyncio.to_thread(Store, db)
    cp = LocalControlPlane(store=store, name="bench")
    session.use(Profile(kind="local", name="bench", id="bench"), cp)
    hub = win.show_page("services")
    hub.runner.cancel()  # the page started a load on show; measure a clean one
    await hub.runner.wait_idle()

    meter.start()
    t = time.perf_counter()
    first_rows: list[float] = []
    hub.model.modelReset.connect(lambda: first_rows.append(time.perf_counter()) if not first_rows else None)
    hub.refresh()
    await hub.runner.wait_idle()
    await asyncio.sleep(0.05)
    total = time.perf_counter() - t
    stall = meter.stop()
    gaps = sorted(meter.gaps)
    p95 = gaps[int(0.95 * (len(gaps) - 1))] * 1000 if gaps else 0.0
    first = (first_rows[0] - t) * 1000 if first_rows else float("nan")
    print(f"load {hub.model.rowCount()} services into the table: first rows after {first:.0f} ms, "
          f"all in {total * 1000:.0f} ms; UI stall max {stall:.0f} ms, p95 tick gap {p95:.0f} ms")

    # search as you type, sort, tag filter: each measured as the one synchronous step it is
    steps = (
        ("search 'svc-0999'", lambda: hub.proxy.set_search("svc-0999"), lambda: hub.proxy.set_search("")),
        ("search 'host1'", lambda: hub.proxy.set_search("host1"), lambda: hub.proxy.set_search("")),
        ("sort by name desc", lambda: hub.table.sortByColumn(0, Qt.SortOrder.DescendingOrder),
         lambda: hub.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)),
        ("sort by host", lambda: hub.table.sortByColumn(1, Qt.SortOrder.AscendingOrder),
         lambda: hub.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)),
        ("tag filter team-3", lambda: hub.proxy.set_tag("team-3"), lambda: hub.proxy.set_tag(None)),
    )
    for label, do, undo in steps:
        times, undo_times, shown = [], [], 0
        for _ in range(5):
            t = time.perf_counter()
            do()
            app.processEvents()
            times.append((time.perf_counter() - t) * 1000)
            shown = hub.proxy.rowCount()
            t = time.perf_counter()
            undo()
            app.processEvents()
            undo_times.append((time.perf_counter() - t) * 1000)
        print(f"{label:<20} median {statistics.median(times):6.1f} ms ({shown} rows shown), "
              f"undo median {statistics.median(undo_times):6.1f} ms")

    # scrolling through the whole table
    meter.start()
    t = time.perf_counter()
    bar = hub.table.verticalScrollBar()
    for v in range(0, bar.maximum() + 1, max(1, bar.maximum() // 50)):
        bar.setValue(v)
        app.processEvents()
        await asyncio.sleep(0)
    print(f"scroll top to bottom in 50 steps: {1000 * (time.perf_counter() - t):.0f} ms, "
          f"UI stall max {meter.stop():.0f} ms")
    win.close()
    await session.close()
    await asyncio.to_thread(store.close)


def main() -> int:
    t_app = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=10_000)
    args = parser.parse_args()
    db = Path(os.environ["KONNECT_DESKTOP_HOME"]) / "bench.db"
    seed(db, args.services)

    import qasync
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui import theme

    t_app = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    theme.apply(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(measure(args.services, db, t_app))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
