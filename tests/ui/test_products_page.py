"""The Products page against a real local runtime serving the Dev Portal: the approvals list
drives what the portal shows and what the proxy lets through; publishing from the page shows and
hides the API's portal page."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtWidgets import QApplication
from ui_support import current_local_runtime, show_loaded
from widget_checks import assert_looks_right, save_shot

from konnect_desktop.model import declarative
from konnect_desktop.ui.pages.products import LOCAL_ONLY, ProductsPage, parse_labels

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai-portal"
PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    m = re.search(r"name='csrf' value='([^']+)'", html)
    assert m, html[:400]
    return m.group(1)


def _start(arun: Any, session: Any) -> Any:
    _conn, rt = current_local_runtime(arun, session, "portal")
    rt.store.replace_all(declarative.load(EXAMPLE / "kong.yaml"))
    return rt


def _page(qtbot: Any, session: Any) -> ProductsPage:
    return show_loaded(qtbot, ProductsPage(session), (1100, 800), timeout=10000)


def test_parse_labels() -> None:
    assert parse_labels("team=ai, tier = gold,") == {"team": "ai", "tier": "gold"}


def test_manual_approval_in_the_app_shows_the_key_on_the_portal_and_revoke_cuts_it(
        qtbot: Any, arun: Any, session: Any, tmp_path: Path) -> None:
    rt = _start(arun, session)
    page = _page(qtbot, session)
    assert page.note.text() == LOCAL_ONLY
    assert page.portal.url.text() == "not served"

    # the product, made in the page: OpenAI v1 on the openai service, Gold, manual approval
    tab = page.products
    tab.new_product()
    tab.name.setText("OpenAI")
    tab.description.setText("Chat completions")
    tab.labels.setText("team=ai")
    tab.save_product()
    qtbot.waitUntil(lambda: tab.list.count() == 1 and not page.runner.busy, timeout=10000)
    tab.new_version()
    tab.version.setText("v1")
    tab.service.setCurrentIndex(tab.service.findText("openai"))
    tab.group.setCurrentIndex(tab.group.findText("Gold"))
    tab.policy.setCurrentText("manual")
    tab.load_openapi(EXAMPLE / "openapi.yaml")
    qtbot.waitUntil(lambda: tab.openapi_text is not None, timeout=10000)
    tab.save_version()
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1 and not page.runner.busy, timeout=10000)
    assert tab.table.item(0, 2).text() == "no"
    tab.set_published(True)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1 and tab.table.item(0, 2).text() == "yes", timeout=10000)

    # serve the portal from the page (a bad address first: a message naming the fix)
    page.portal.listen.setText("localhost")
    page.portal.start()
    qtbot.waitUntil(lambda: "expected HOST:PORT" in page.portal.message.text(), timeout=10000)
    page.portal.listen.setText("127.0.0.1:0")
    page.portal.start()
    qtbot.waitUntil(lambda: rt.portal_url is not None and page.portal.open_button.isEnabled(), timeout=10000)
    assert page.portal.url.text() == rt.portal_url
    assert session.store.get_value("portal/listen") == "127.0.0.1:0"  # remembered
    [product] = page.service().catalog.list_products()
    version_url = f"{rt.portal_url}/products/{product['id']}/v1"

    async def developer_asks() -> str:
        async with httpx.AsyncClient(base_url=rt.portal_url) as web:
            r = await web.get("/signup")
            r = await web.post("/signup", data={"csrf": _csrf(r.text), "email": "dev@example.com", "name": "Dev",
                                                "password": PASSWORD}, follow_redirects=True)
            r = await web.post("/apps", data={"csrf": _csrf(r.text), "name": "chat-app"}, follow_redirects=True)
            r = await web.get(version_url)
            assert r.status_code == 200 and "/openai/v1/chat/completions" in r.text
            app = re.search(r"<option value='([^']+)'>chat-app", r.text).group(1)
            vid = page.service().catalog.list_versions()[0]["id"]
            r = await web.post("/register", data={"csrf": _csrf(r.text), "app": app, "version": vid},
                               follow_redirects=True)
            assert "Pending approval" in r.text and "class='secret'" not in r.text
            return web.cookies["kd_portal"]

    cookie = arun(developer_asks())

    async def portal_apps() -> str:
        async with httpx.AsyncClient(base_url=rt.portal_url, cookies={"kd_portal": cookie}) as web:
            return (await web.get("/apps")).text

    async def call(key: str | None) -> int:
        async with httpx.AsyncClient() as client:
            headers = {"apikey": key} if key else {}
            return (await client.get(f"{rt.proxy_url}/openai/v1/models", headers=headers)).status_code

    # the approvals list shows it pending; approve in the app
    page.refresh()
    qtbot.waitUntil(lambda: page.approvals.table.rowCount() == 1 and not page.runner.busy, timeout=10000)
    assert page.approvals.table.item(0, 0).text() == "pending"
    assert page.approvals.table.item(0, 2).text() == "dev@example.com"
    assert page.approvals.approve_button.isEnabled() and not page.approvals.revoke_button.isEnabled()
    page.approvals.approve_button.click()
    qtbot.waitUntil(lambda: page.approvals.message.text().startswith("✓"), timeout=10000)
    qtbot.waitUntil(lambda: not page.runner.busy and page.approvals.table.item(0, 0).text() == "approved",
                    timeout=10000)

    # what a user sees of it: the list, its buttons and the message whole and on the page
    shots = os.environ.get("KD_SCREENSHOTS")  # also keep the PNGs, for looking at the page by eye
    page.tabs.setCurrentWidget(page.approvals)
    QApplication.processEvents()
    save_shot(page, tmp_path / "products-approvals.png", shots)
    approvals = page.approvals
    assert_looks_right(page, [approvals.table, approvals.approve_button, approvals.revoke_button, approvals.message])
    page.tabs.setCurrentWidget(page.products)
    QApplication.processEvents()
    save_shot(page, tmp_path / "products-page.png", shots)
    assert_looks_right(page, [page.tabs])

    # the portal shows the key (once); it works through the proxy, in the Gold group
    html = arun(portal_apps())
    key = re.search(r"<code class='secret'[^>]*>([^<]+)</code>", html).group(1)
    assert "class='secret'" not in arun(portal_apps())
    assert arun(call(key)) == 200
    assert arun(call(None)) == 401

    # revoke in the app: the very next request with the key is refused
    assert page.approvals.revoke_button.isEnabled()
    page.approvals.revoke_button.click()
    qtbot.waitUntil(lambda: page.approvals.message.text().endswith("no longer works."), timeout=10000)
    assert arun(call(key)) == 401
    assert "Revoked" in arun(portal_apps())

    # unpublish from the page: the portal's page for the version is gone
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
    tab.set_published(False)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1 and tab.table.item(0, 2).text() == "no", timeout=10000)

    async def status(url: str) -> int:
        async with httpx.AsyncClient() as web:
            return (await web.get(url)).status_code

    assert arun(status(version_url)) == 404

    # appearance: bad colour refused with a message, a good one shows in the portal's theme
    page.portal.accent.setText("blue")
    page.portal.save()
    qtbot.waitUntil(lambda: "expected a colour like #1155cb" in page.portal.message.text(), timeout=10000)
    page.portal.accent.setText("#aa3300")
    page.portal.title.setText("OpenAI developers")
    page.portal.save()
    qtbot.waitUntil(lambda: page.portal.message.text().startswith("✓"), timeout=10000)

    async def theme() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=rt.portal_url) as web:
            return (await web.get("/theme.css")).text, (await web.get("/")).text

    css, home = arun(theme())
    assert "--accent: #aa3300" in css and "OpenAI developers" in home
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)


def test_products_are_local_only(qtbot: Any, arun: Any, session: Any) -> None:
    page = _page(qtbot, session)  # no connection at all
    assert "local-only" in page.note.text() and not page.tabs.isEnabled()
