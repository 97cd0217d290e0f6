"""Render each main screen of the app to PNG (offscreen) into docs/screenshots/.

Runs against a real local runtime with the sample configuration, in a throw-away app home, so
the pictures show what a new user sees. Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KONNECT_DESKTOP_HOME", tempfile.mkdtemp(prefix="konnect-desktop-shots-"))

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def idle(*runners: Any, settle: float = 0.3, timeout: float = 15.0) -> None:
    """Until every runner is idle, then a moment for painting."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    await asyncio.sleep(0.05)
    while any(r.busy for r in runners) and loop.time() < end:
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)


async def shoot_apis(win: Any, session: Any, rt: Any, save: Any) -> None:
    """APIs as code, at 1280×720: "Import OpenAPI…" previewing the users-api example against the
    sample group, then that example's collection run in the Request Console against its own
    configuration, with one check deliberately broken so a failure shows expected vs got."""
    import shutil

    import yaml

    from konnect_desktop.model.declarative import load_document, merge_documents, read_source

    example = ROOT / "examples" / "users-api"
    win.resize(1280, 720)
    hub = win.show_page("services")
    await idle(hub.runner, session.runner)
    dlg = hub.import_openapi()
    dlg.resize(1280, 720)
    spec = Path(os.environ["KONNECT_DESKTOP_HOME"]) / "openapi.yaml"  # a path a user would have
    shutil.copy(example / "openapi.yaml", spec)
    dlg.path.setText(str(spec))
    dlg.tags.setText("users-api")
    dlg.preview()
    await idle(dlg.runner)
    save(dlg, "openapi-import")
    dlg.close()

    doc = merge_documents([read_source(example / "kong.yaml"), read_source(example / "consumers.yaml")])
    await rt.load_config(load_document(doc, strict_plugins=True))
    folder = Path(os.environ["KONNECT_DESKTOP_HOME"]) / "users-api"
    shutil.copytree(example / "collection", folder)
    health = folder / "01-health.yaml"
    broken = yaml.safe_load(health.read_text())
    broken["expect"]["gateway"]["upstream"]["headers"]["x-api-version"] = "2"
    health.write_text(yaml.safe_dump(broken, sort_keys=False))
    console = win.show_page("console")
    await idle(console.runner)
    panel = console.collections
    panel.open_collection(folder)
    await idle(console.runner)
    panel.run_all()
    await idle(console.runner, timeout=30)
    panel.select(health)
    await idle(console.runner)
    save(win, "collection-run")


async def shoot(out: Path, dark: bool, only: set[str] | None = None) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui.about import AboutDialog
    from konnect_desktop.ui.connection_dialog import ConnectionDialog
    from konnect_desktop.ui.mainwindow import MainWindow
    from konnect_desktop.ui.session import ConnectionStore, Session

    saved: list[Path] = []
    app = QApplication.instance()
    session = Session(ConnectionStore(Path(os.environ["KONNECT_DESKTOP_HOME"]) / "shots-settings.json"))
    session.listen = ("127.0.0.1:0", "127.0.0.1:0")
    rt = await session.start_runtime("default")
    await session.switch(session.connections[0])
    cp = session.cp
    assert cp is not None
    # a consumer group with a Gold-tier limit, and an app registered for it
    gold = await cp.create("consumer_groups", {"name": "gold"})
    await cp.create("plugins", {"name": "rate-limiting", "consumer_group": {"id": gold["id"]},
                                "config": {"minute": 100, "hour": 2000, "policy": "local"}})
    alice = await cp.create("consumers", {"username": "alice", "tags": ["app"]})
    await cp.create("keyauth_credentials", {"consumer": {"id": alice["id"]}})
    await cp.create("acls", {"consumer": {"id": alice["id"]}, "group": "demo-users"})
    await cp.add_consumer_to_group(gold["id"], alice["id"])
    await cp.create("services", {"name": "openai", "url": "https://api.openai.com/v1", "tags": ["ai"]})

    win = MainWindow(session)
    win.resize(1360, 860)
    win.show()
    suffix = "-dark" if dark else ""

    def save(widget: Any, name: str) -> None:
        if only and name not in only:
            return
        path = out / f"{name}{suffix}.png"
        widget.grab().save(str(path))
        saved.append(path)

    # Service Hub with the echo service open
    hub = win.show_page("services")
    await idle(hub.runner, session.runner)
    echo = next(e for e in hub.model.entities() if e.get("name") == "echo")
    hub.select_service(echo["id"])
    await idle(hub.runner)
    save(win, "service-hub")
    if dark:
        return saved
    hub.detail.tabs.setCurrentWidget(hub.detail.routes)
    await idle(hub.runner)
    save(win, "service-routes")
    hub.detail.tabs.setCurrentWidget(hub.detail.yaml)
    await idle(hub.runner)
    save(win, "service-yaml")
    # plugin editors: rate-limiting and request-transformer as the sample configures them
    hub.detail.tabs.setCurrentWidget(hub.detail.plugins)
    panel = hub.detail.plugins
    for name in ("rate-limiting", "request-transformer"):
        p = next(p for p in hub.plugins if p["name"] == name)
        panel.open_editor(name, p)
        await idle(hub.runner)
        save(win, f"plugin-{name}")
    # the other pages
    for page_id in ("runtimes", "consumers", "plugins"):
        page = win.show_page(page_id)
        await idle(page.runner, session.runner)
        save(win, page_id if page_id != "runtimes" else "runtime-manager")
    consumers = win.show_page("consumers")
    consumers.detail.setCurrentIndex(1)
    await idle(consumers.runner)
    save(win, "consumer-keys")
    consumers.tabs.setCurrentIndex(1)
    consumers.group_table.selectRow(0)
    await idle(consumers.runner)
    if consumers.group_plugins.model.rowCount():
        consumers.group_plugins.table.selectRow(0)
        await idle(consumers.runner)
    save(win, "consumer-groups")
    dlg = ConnectionDialog(session, parent=win)
    dlg.kind.setCurrentIndex(dlg.kind.findData("kong-admin"))
    dlg.name.setText("staging")
    dlg.url.setText("https://kong.staging.example:8444")
    dlg.kong_token.edit.setText("not-a-real-token")
    dlg.show()
    await idle(dlg.runner)
    save(dlg, "add-connection")
    dlg.close()
    about = AboutDialog(win)
    about.show()
    await idle(about.runner)
    save(about, "about")
    about.close()
    if not dark:
        await shoot_apis(win, session, rt, save)
    win.close()
    await session.close()
    del rt, app
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--dark", action="store_true", help="render with the dark colour scheme")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help="comma-separated screenshot names to write (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import qasync
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    app.setStyle("Fusion")  # the offscreen platform has no native style; Fusion follows the palette
    if args.dark:
        app.styleHints().setColorScheme(Qt.ColorScheme.Dark)
        # offscreen has no system scheme to follow: hand the app the palette a dark desktop would
        app.setPalette(theme.dark_palette())
    theme.apply(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        saved = loop.run_until_complete(shoot(args.out, args.dark, {n.strip() for n in args.only.split(",") if n.strip()}))
    for p in saved:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
