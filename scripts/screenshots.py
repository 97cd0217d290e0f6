"""Render every page of the app, and its main dialogs, to PNG at 1280×720 (offscreen), in the
light and the dark theme, into docs/screenshots/ (``<name>.png`` and ``<name>-dark.png``).

Runs against a real local runtime with the sample configuration plus a little more (a consumer
group, an app with a key, an upstream with targets, a certificate, a vault, a few requests and
a burst), in a throw-away app home, so the pictures show what a user sees. Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KONNECT_DESKTOP_HOME", tempfile.mkdtemp(prefix="konnect-desktop-shots-"))

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = (1280, 720)


async def idle(*runners: Any, settle: float = 0.3, timeout: float = 15.0) -> None:
    """Until every runner is idle, then a moment for painting."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    await asyncio.sleep(0.05)
    while any(r.busy for r in runners) and loop.time() < end:
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)


def _certificate() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=60))
            .not_valid_after(now + dt.timedelta(days=20, hours=12))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.example.com"),
                                                        x509.DNSName("www.example.com")]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


async def populate(session: Any) -> None:
    """What the pictures show beyond the sample configuration."""
    cp = session.cp
    gold = await cp.create("consumer_groups", {"name": "gold"})
    await cp.create("plugins", {"name": "rate-limiting", "consumer_group": {"id": gold["id"]},
                                "config": {"minute": 100, "hour": 2000, "policy": "local"}})
    alice = await cp.create("consumers", {"username": "alice", "tags": ["app"]})
    await cp.create("keyauth_credentials", {"consumer": {"id": alice["id"]}})
    await cp.create("acls", {"consumer": {"id": alice["id"]}, "group": "demo-users"})
    await cp.add_consumer_to_group(gold["id"], alice["id"])
    await cp.create("services", {"name": "openai", "url": "https://api.openai.com/v1", "tags": ["ai"]})
    up = await cp.create("upstreams", {"name": "orders.upstream", "tags": ["demo"]})
    for target, weight in (("10.0.0.7:8080", 100), ("10.0.0.8:8080", 50)):
        await cp.create("targets", {"target": target, "weight": weight}, parent=("upstreams", up["id"]))
    pem, key = _certificate()
    cert = await cp.create("certificates", {"cert": pem, "key": key, "tags": ["demo"]})
    await cp.create("snis", {"name": "api.example.com", "certificate": {"id": cert["id"]}})
    await cp.create("vaults", {"prefix": "env-secrets", "name": "env", "description": "secrets from the environment",
                               "config": {"prefix": "KONG_"}})


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


async def shoot(out: Path) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.settings import SettingsStore
    from konnect_desktop.ui import theme
    from konnect_desktop.ui.about import AboutDialog
    from konnect_desktop.ui.connection_dialog import ConnectionDialog
    from konnect_desktop.ui.mainwindow import MainWindow
    from konnect_desktop.ui.pages.consumers import RegisterApplicationDialog
    from konnect_desktop.ui.preferences import PreferencesDialog
    from konnect_desktop.ui.session import Session

    saved: list[Path] = []
    app = QApplication.instance()
    session = Session(SettingsStore(Path(os.environ["KONNECT_DESKTOP_HOME"]) / "shots-settings.json"))
    session.listen = ("127.0.0.1:0", "127.0.0.1:0")
    rt = await session.start_runtime("default")
    await session.switch(session.connections[0])
    await populate(session)

    win = MainWindow(session)
    win.resize(*SIZE)
    win.show()

    for mode in ("light", "dark"):
        theme.apply(app, mode)  # type: ignore[arg-type]
        suffix = "-dark" if mode == "dark" else ""

        def save(widget: Any, name: str, suffix: str = suffix) -> None:
            path = out / f"{name}{suffix}.png"
            widget.grab().save(str(path))
            saved.append(path)

        async def page(page_id: str, name: str, then: Callable[[Any], Awaitable[None]] | None = None) -> Any:
            p = win.show_page(page_id)
            await idle(p.runner, session.runner)
            if then is not None:
                await then(p)
                await idle(p.runner, session.runner)
            save(win, name)
            return p

        await page("runtimes", "runtime-manager")
        hub = await page("services", "service-hub", lambda h: _select_echo(h))
        hub.detail.tabs.setCurrentWidget(hub.detail.routes)
        await idle(hub.runner)
        save(win, "service-routes")
        hub.detail.tabs.setCurrentWidget(hub.detail.yaml)
        await idle(hub.runner)
        save(win, "service-yaml")
        hub.detail.tabs.setCurrentWidget(hub.detail.plugins)
        for name in ("rate-limiting", "request-transformer"):
            p = next(p for p in hub.plugins if p["name"] == name)
            hub.detail.plugins.open_editor(name, p)
            await idle(hub.runner)
            save(win, f"plugin-{name}")
        hub.detail.tabs.setCurrentWidget(hub.detail.overview)
        consumers = await page("consumers", "consumers")
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
        consumers.tabs.setCurrentIndex(0)
        consumers.detail.setCurrentIndex(0)
        await page("plugins", "plugins")
        await page("upstreams", "upstreams")
        await page("certificates", "certificates")
        await page("vaults", "vaults")
        await page("console", "request-console", lambda c: _console(c, rt))
        console = win.pages["console"]
        console.bottom.setCurrentWidget(console.burst_panel)
        await idle(console.runner)
        save(win, "request-console-burst")
        console.bottom.setCurrentWidget(console.history_panel)
        await page("traffic", "traffic")
        await page("replication", "replication")

        dialogs: list[tuple[str, Any]] = []
        dlg = ConnectionDialog(session, parent=win)
        dlg.kind.setCurrentIndex(dlg.kind.findData("kong-admin"))
        dlg.name.setText("staging")
        dlg.url.setText("https://kong.staging.example:8444")
        dlg.kong_token.edit.setText("not-a-real-token")
        dialogs.append(("add-connection", dlg))
        dialogs.append(("about", AboutDialog(win)))
        dialogs.append(("preferences", PreferencesDialog(session, win)))
        await session.ensure("services")
        reg = RegisterApplicationDialog(session, session.choices("services"), [("gold", "gold")], win)
        reg.app_name.setText("mobile-app")
        reg.service.setCurrentIndex(reg.service.findText("echo"))
        dialogs.append(("register-application", reg))
        for name, d in dialogs:
            d.show()
            await idle(*(r for r in (getattr(d, "runner", None),) if r is not None))
            save(d, name)
            d.close()
    theme.apply(app, "light")  # type: ignore[arg-type]

    def save_light(widget: Any, name: str) -> None:
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        saved.append(path)

    await shoot_apis(win, session, rt, save_light)  # last: it replaces the runtime's configuration
    theme.apply(app, "system")  # type: ignore[arg-type]
    win.close()
    await session.close()
    return saved


async def _select_echo(hub: Any) -> None:
    echo = next(e for e in hub.model.entities() if e.get("name") == "echo")
    hub.select_service(echo["id"])


async def _console(console: Any, rt: Any) -> None:
    """A few requests through the sample's routes, then a burst against its rate limit."""
    from konnect_desktop.console.burst import BurstPlan

    if console.history is not None and console.history.count():
        return  # already sent for the other theme
    base = rt.proxy_url
    for path, headers in (("/echo/anything", []), ("/private", [("apikey", "demo-key")]),
                          ("/limited", []), ("/transformed?x=1", [("X-Demo", "1")])):
        console.url.setText(base + path)
        console.headers.set_rows(headers)
        console.send()
        await idle(console.runner)
    console.url.setText(base + "/limited")
    console.headers.set_rows([])
    console.start_burst(BurstPlan(count=12))
    await idle(console.runner, timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import qasync
    from PySide6.QtWidgets import QApplication

    from konnect_desktop.ui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    app.setStyle("Fusion")  # the offscreen platform has no native style; Fusion follows the palette
    theme.apply(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        saved = loop.run_until_complete(shoot(args.out))
    for p in saved:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
