"""The Dev Portal's pages over a real socket (aiohttp client with a cookie jar, like a browser
without scripts): accounts, CSRF, Host/Origin rules, isolation between developers, Try it.

Kong's developer portal is not part of Kong/kong (no spec to port). The Host/Origin rules are the
Admin API's (``test_admin_security.py``), with one written-down difference: GET pages may be
opened from another site's link (see ``portal/server.py``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2e_plugin_support import request
from fake_clock import FakeClock
from test_proxy_support import make_runtime

from konnect_desktop.model import declarative
from konnect_desktop.runtime.admin_guard import UnsafeBindError
from konnect_desktop.runtime.runtime import LocalRuntime

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai-portal"
PASSWORD = "correct horse battery"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    runtime = await make_runtime(tmp_path, "portal", admin_listen=None, portal_listen=("127.0.0.1", 0))
    runtime.store.replace_all(declarative.load(EXAMPLE / "kong.yaml"))
    runtime.portal.catalog.load_side_file(EXAMPLE / "kong.yaml")
    await runtime.wait_synced()
    yield runtime
    await runtime.stop()


def csrf_of(html: str) -> str:
    m = re.search(r"name='csrf' value='([^']+)'", html)
    assert m, html[:500]
    return m.group(1)


class Browser:
    """A cookie-keeping client that reads the CSRF token of the last page, as a form would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as r:
            text = await r.text()
            if "name='csrf'" in text:
                self.csrf = csrf_of(text)
            return r.status, text

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
        body = {"csrf": self.csrf, **data} if csrf else data
        async with self.http.post(self.base + path, data=body, headers=headers or {}) as r:
            text = await r.text()
            if "name='csrf'" in text:
                self.csrf = csrf_of(text)
            return r.status, text

    async def sign_up(self, email: str) -> None:
        await self.get("/signup")
        status, text = await self.post("/signup", {"email": email, "name": "Dev", "password": PASSWORD})
        assert status == 200 and "My applications" in text, text[:800]

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browsers(rt: LocalRuntime) -> AsyncIterator[Any]:
    made: list[Browser] = []

    def make() -> Browser:
        b = Browser(rt.portal_url or "")
        made.append(b)
        return b

    yield make
    for b in made:
        await b.close()


def _version_path(rt: LocalRuntime) -> tuple[str, str]:
    [p] = rt.portal.catalog.list_products()
    [v] = rt.portal.catalog.list_versions(p["id"])
    return f"/products/{p['id']}/v1", v["id"]


async def test_register_in_the_portal_then_call_through_the_proxy(rt: LocalRuntime, browsers: Any) -> None:
    b = browsers()
    status, home = await b.get("/")
    assert status == 200 and "OpenAI" in home and "not published to Konnect" in home
    page, vid = _version_path(rt)
    status, text = await b.get(page)
    assert status == 200 and "/openai/v1/chat/completions" in text and "Log in" in text
    await b.sign_up("dev@example.com")
    status, text = await b.post("/apps", {"name": "chat-app", "description": "mine"})
    assert status == 200 and "chat-app" in text
    await b.get(page)
    app_id = re.search(r"<option value='([^']+)'>chat-app", (await b.get(page))[1]).group(1)
    status, text = await b.post("/register", {"app": app_id, "version": vid})
    assert status == 200 and "Approved" in text
    key = re.search(r"<code class='secret'[^>]*>([^<]+)</code>", text).group(1)
    status, again = await b.get("/apps")
    assert key not in again  # shown once
    await rt.wait_synced()
    assert (await request(rt.proxy.port, "GET", "/openai/v1/models", {"apikey": key})).status == 200
    assert (await request(rt.proxy.port, "GET", "/openai/v1/models")).status == 401

    # Try it sends through the local proxy
    status, text = await b.post("/try", {"version": vid, "method": "GET", "path": "/openai/v1/models", "apikey": key})
    assert status == 200 and "<strong class='http-status'>200</strong>" in text
    status, text = await b.post("/try", {"version": vid, "method": "GET", "path": "/openai/v1/models"})
    assert "<strong class='http-status'>401</strong>" in text
    status, text = await b.post("/try", {"version": vid, "method": "GET", "path": "http://example.com/"})
    assert "The path must start with /" in text

    # a new key replaces the old one
    rid = re.search(r"/registrations/([^/]+)/key", again).group(1)
    status, text = await b.post(f"/registrations/{rid}/key", {})
    new = re.search(r"<code class='secret'[^>]*>([^<]+)</code>", text).group(1)
    assert new != key
    await rt.wait_synced()
    assert (await request(rt.proxy.port, "GET", "/openai/v1/models", {"apikey": key})).status == 401
    assert (await request(rt.proxy.port, "GET", "/openai/v1/models", {"apikey": new})).status == 200


async def test_second_developer_sees_nothing_of_the_first(rt: LocalRuntime, browsers: Any) -> None:
    a, b = browsers(), browsers()
    await a.sign_up("a@example.com")
    await a.post("/apps", {"name": "alpha-secret-app"})
    page, vid = _version_path(rt)
    app_id = re.search(r"<option value='([^']+)'>alpha", (await a.get(page))[1]).group(1)
    status, text = await a.post("/register", {"app": app_id, "version": vid})
    key = re.search(r"<code class='secret'[^>]*>([^<]+)</code>", text).group(1)
    await b.sign_up("b@example.com")
    status, text = await b.get("/apps")
    assert "alpha-secret-app" not in text and key not in text
    status, text = await b.post("/register", {"app": app_id, "version": vid})
    assert status == 400 and "Choose one of your applications" in text
    rid = rt.portal.accounts.registrations()[0]["id"]
    status, text = await b.post(f"/registrations/{rid}/key", {})
    assert status == 400 and key not in text


async def test_forms_refuse_bad_input_with_a_message(rt: LocalRuntime, browsers: Any) -> None:
    b = browsers()
    await b.get("/signup")
    status, text = await b.post("/signup", {"email": "dev@example.com", "name": "Dev", "password": "short"})
    assert status == 400 and "at least 10 characters" in text and "value='dev@example.com'" in text
    assert "short" not in text.split("<main>")[1].split("</form>")[0].replace("at least", "")  # password not echoed
    status, text = await b.post("/signup", {"email": "not-an-address", "name": "Dev", "password": PASSWORD})
    assert status == 400 and "e-mail address like" in text
    await b.get("/login")
    status, text = await b.post("/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert status == 400 and "Wrong e-mail address or password" in text
    await b.sign_up("dev@example.com")
    status, text = await b.post("/apps", {"name": "  "})
    assert status == 400 and "Name the application" in text


async def test_duplicates_are_refused_in_words_and_nothing_changes(rt: LocalRuntime, browsers: Any) -> None:
    """A second account on one e-mail address, a second application of one name: the form says
    why (the store's UNIQUE constraint, in the form's words), and nothing was added."""
    a = browsers()
    await a.sign_up("dev@example.com")
    status, text = await a.post("/apps", {"name": "weather"})
    assert status == 200, text[:800]
    status, text = await a.post("/apps", {"name": "weather"})
    assert status == 400 and "You already have an application named &#x27;weather&#x27;" in text, text[-1500:]
    b = browsers()
    await b.get("/signup")
    status, text = await b.post("/signup", {"email": "dev@example.com", "name": "Other", "password": PASSWORD})
    assert status == 400 and "An account with this e-mail address exists" in text
    accounts = rt.portal.accounts
    assert len(accounts._all("SELECT id FROM x_portal_developers")) == 1
    assert len(accounts._all("SELECT id FROM x_portal_apps")) == 1


async def test_post_without_the_csrf_token_is_refused(rt: LocalRuntime, browsers: Any) -> None:
    b = browsers()
    await b.get("/signup")
    status, text = await b.post("/signup", {"email": "dev@example.com", "name": "Dev", "password": PASSWORD},
                                csrf=False)
    assert status == 403 and "did not come from this portal" in text
    status, _ = await b.post("/signup", {"csrf": "forged", "email": "dev@example.com", "name": "Dev",
                                         "password": PASSWORD}, csrf=False)
    assert status == 403
    assert rt.portal.accounts._all("SELECT id FROM x_portal_developers") == []


async def test_host_and_origin_rules(rt: LocalRuntime, browsers: Any) -> None:
    b = browsers()
    await b.get("/signup")
    status, text = await b.get("/")
    assert status == 200
    async with b.http.get(rt.portal_url + "/", headers={"Host": "evil.example"}) as r:
        assert r.status == 403 and "not allowed on this portal" in await r.text()
    data = {"email": "dev@example.com", "name": "Dev", "password": PASSWORD}
    status, text = await b.post("/signup", data, headers={"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in text
    status, text = await b.post("/signup", data, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    host = rt.portal_url.removeprefix("http://")
    status, text = await b.post("/signup", data, headers={"Origin": f"http://{host}"})
    assert status == 200 and "My applications" in text


async def test_unknown_pages_404_and_cookies_are_httponly_lax(rt: LocalRuntime, browsers: Any) -> None:
    async with aiohttp.ClientSession() as http, http.get(rt.portal_url + "/nope") as r:
        assert r.status == 404 and "no such page" in await r.text()
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    async with aiohttp.ClientSession() as http, http.get(rt.portal_url + "/products/nope/v1") as r:
        assert r.status == 404
    rt.portal.catalog.unpublish(_version_path(rt)[1])
    async with aiohttp.ClientSession() as http, http.get(rt.portal_url + _version_path(rt)[0]) as r:
        assert r.status == 404


async def test_portal_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    runtime = LocalRuntime("p", db_path=tmp_path / "p.db", admin_listen=None, portal_listen=("0.0.0.0", 0))
    with pytest.raises(UnsafeBindError, match="Dev Portal"):
        await runtime.start()
    assert not (tmp_path / "p.db").exists() or runtime.portal_url is None


def test_sessions_expire_when_idle() -> None:
    from konnect_desktop.runtime.portal.server import Sessions

    clock = FakeClock(1000.0)
    s = Sessions(idle=100, clock=clock)
    sid, _ = s.new("dev")
    clock.now += 99
    assert s.get(sid)["developer"] == "dev"  # use refreshes it
    clock.now += 99
    assert s.get(sid) is not None
    clock.now += 101
    assert s.get(sid) is None
    few = Sessions(cap=2, clock=clock)
    ids = [few.new()[0] for _ in range(3)]
    assert few.get(ids[0]) is None and few.get(ids[2]) is not None


async def test_failed_logins_lock_the_address_for_the_window(tmp_path: Path) -> None:
    from aiohttp import web

    from konnect_desktop.runtime.admin_guard import AdminAccess
    from konnect_desktop.runtime.portal.server import create_portal_app
    from konnect_desktop.runtime.portal.service import PortalService
    from konnect_desktop.runtime.store import Store

    store = Store(tmp_path / "t.db")
    svc = PortalService(store)
    svc.accounts.sign_up("dev@example.com", "Dev", PASSWORD)
    clock = FakeClock(1000.0)
    runner = web.AppRunner(create_portal_app(svc, lambda: None, AdminAccess.of(), clock=clock))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    b = Browser(f"http://127.0.0.1:{port}")
    try:
        await b.get("/login")
        for _ in range(5):
            status, text = await b.post("/login", {"email": "dev@example.com", "password": "wrong password"})
            assert status == 400
        status, text = await b.post("/login", {"email": "DEV@example.com", "password": PASSWORD})
        assert status == 429 and "Too many failed log-ins" in text and "15 minute(s)" in text
        clock.now += 15 * 60
        status, text = await b.post("/login", {"email": "dev@example.com", "password": PASSWORD})
        assert status == 200 and "My applications" in text
    finally:
        await b.close()
        await runner.cleanup()
        store.close()
