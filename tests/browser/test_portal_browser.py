"""The Dev Portal in a real browser: Debian's chromium driven headless by Selenium.

The developer guide's story end to end: ``gateway run --config examples/openai-portal/kong.yaml
--portal-listen`` (the products come from the side file next to it), a developer signs up,
creates an application, requests access to "OpenAI" v1 (auto-approve, Gold group), sees the key
once, and calls the API through the proxy with it (200), without it (401), and past the Gold
group's limit (429). Along the way: no console errors, every link on each page resolves, forms
refuse bad input with a message, a POST without the CSRF token is refused.

Screenshots land in the test's temporary folder (and, with KD_SCREENSHOTS=DIR, in DIR).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (scripts/_bootstrap.sh)")

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"proxy (http://127\.0\.0\.1:\d+)\s+admin \S+\s+portal (http://127\.0\.0\.1:\d+)$")
PASSWORD = "correct horse battery"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def http(method: str, url: str, headers: dict[str, str] | None = None, data: bytes | None = None,
         follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         *([] if follow else [_NoRedirect()]))
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp_path / "home"))
    env.pop("KONG_ADMIN_TOKEN", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "konnect_desktop", "gateway", "run", "--proxy-listen", "127.0.0.1:0",
         "--admin-listen", "127.0.0.1:0", "--portal-listen", "127.0.0.1:0", "--access-log", "off",
         "--db", str(tmp_path / "gw.db"), "--config", str(ROOT / "examples" / "openai-portal" / "kong.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = p.stdout.readline().strip() if p.stdout else ""
        m = READY.search(line)
        assert m, f"not a ready line: {line!r}"
        yield m.group(1), m.group(2)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        finally:
            if p.poll() is None:
                p.kill()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look anything up
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or ""), options=opts)
    d.set_page_load_timeout(20)
    try:
        yield d
    finally:
        d.quit()


class Checker:
    """Screenshots, console errors and link checks for every page the test looks at."""

    def __init__(self, d: Any, base: str, shots: Path) -> None:
        self.d, self.base, self.shots = d, base, shots
        self.checked: set[str] = set()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.d.save_screenshot(str(path))
        extra = os.environ.get("KD_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    def page(self) -> None:
        """No console errors so far; every link on this page resolves (no 404)."""
        from selenium.webdriver.common.by import By

        # a refused form answers 400 on purpose (the page shows the message): chromium logs that as
        # a network error, so those are left out; anything else (404, CSP violations, ...) counts
        errors = [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"
                  and not (e.get("source") == "network" and "status of 400" in e.get("message", ""))]
        assert errors == [], errors
        cookie = self.d.get_cookie("kd_portal")
        headers = {"Cookie": f"kd_portal={cookie['value']}"} if cookie else {}
        for a in self.d.find_elements(By.CSS_SELECTOR, "a[href]"):
            href = a.get_attribute("href")
            url, _, frag = href.partition("#")
            if frag:
                if url.rstrip("/") == self.d.current_url.partition("#")[0].rstrip("/"):
                    assert self.d.find_elements(By.ID, frag), f"anchor #{frag} has no target"
                continue
            if url in self.checked:
                continue
            assert url.startswith(self.base), f"link leaves the portal: {url}"
            status, _, _ = http("GET", url, headers)
            assert status == 200, f"{url}: {status}"
            self.checked.add(url)


def test_developer_registers_an_app_in_the_browser_and_calls_the_api(gateway: tuple[str, str], driver: Any,
                                                                     tmp_path: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    proxy, portal = gateway
    d = driver
    c = Checker(d, portal, tmp_path)

    def fill(values: dict[str, str]) -> None:
        for name, value in values.items():
            box = d.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)

    def loads(element: Any) -> None:
        """Click ``element`` and wait until the next page replaced this one (a click returns before
        the navigation ends; reading the old page then would race it)."""
        old = d.find_element(By.TAG_NAME, "html")

        def replaced(_d: Any) -> bool:
            try:
                old.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                # caught mid-navigation, chromedriver says "stale" in other words
                if "does not belong to the document" in str(exc):
                    return True
                raise
            return False

        element.click()
        WebDriverWait(d, 15).until(replaced)

    def submit(form_action: str) -> None:
        loads(d.find_element(By.CSS_SELECTOR, f"form[action='{form_action}'] button[type=submit]"))

    def follow(text: str) -> None:
        loads(d.find_element(By.LINK_TEXT, text))

    # the catalog lists the published product
    d.get(portal + "/")
    assert "OpenAI" in d.find_element(By.TAG_NAME, "main").text
    c.page()
    c.shot("catalog")

    # sign up; bad input gets a message on the form
    follow("Sign up")
    fill({"email": "dev@localhost", "name": "Ada", "password": PASSWORD})  # the browser takes it; we don't
    submit("/signup")
    assert "e-mail address like" in d.find_element(By.CSS_SELECTOR, ".error").text
    fill({"email": "ada@example.com", "name": "Ada", "password": "short"})
    submit("/signup")
    assert "at least 10 characters" in d.find_element(By.CSS_SELECTOR, ".error").text
    c.page()
    c.shot("signup-refused")
    fill({"email": "ada@example.com", "name": "Ada", "password": PASSWORD})
    submit("/signup")
    assert d.find_element(By.TAG_NAME, "h1").text == "My applications"

    # an application; a bad name is refused with a message
    fill({"name": "!!!"})
    submit("/apps")
    assert "Name the application" in d.find_element(By.CSS_SELECTOR, ".error").text
    fill({"name": "chat-app", "description": "My chat front end"})
    submit("/apps")
    assert "chat-app" in d.find_element(By.CSS_SELECTOR, ".card.app").text
    c.page()

    # the API's page: its OpenAPI document rendered; request access
    follow("APIs")
    follow("v1")
    main = d.find_element(By.TAG_NAME, "main").text
    assert "/openai/v1/chat/completions" in main and "Request body" in main and "gpt-4o-mini" in main
    c.page()
    c.shot("version-page")
    version_url = d.current_url
    submit("/register")
    key_el = d.find_element(By.CSS_SELECTOR, "code.secret")
    key = key_el.text
    assert len(key) >= 16
    assert "Approved" in d.find_element(By.CSS_SELECTOR, ".card.app").text
    c.page()
    c.shot("key-shown-once")
    d.refresh()
    assert key not in d.page_source  # shown once

    # through the proxy: with the key 200 (the Gold group's limit in the headers), without 401,
    # then 429 past the Gold limit of 3 an hour
    hour = int(time.time() // 3600)
    status, headers, _ = http("GET", proxy + "/openai/v1/models", {"apikey": key})
    assert status == 200 and headers.get("X-RateLimit-Limit-Hour") == "3", headers
    assert http("GET", proxy + "/openai/v1/models")[0] == 401
    statuses = [http("GET", proxy + "/openai/v1/models", {"apikey": key})[0] for _ in range(3)]
    if int(time.time() // 3600) == hour:  # one rate-limit window (at an hour's turn the count restarts)
        assert statuses == [200, 200, 429]

    # Try it in the page sends through the local proxy (this key is over its limit now: 429)
    d.get(version_url)
    d.find_element(By.CSS_SELECTOR, "#op-get-v1-models details.try summary").click()
    d.find_element(By.ID, "op-get-v1-models-key").send_keys(key)
    loads(d.find_element(By.CSS_SELECTOR, "#op-get-v1-models form.try-form button"))
    got = d.find_element(By.CSS_SELECTOR, ".http-status").text
    assert got in ("200", "429")
    c.page()
    c.shot("try-it")

    # a POST without the CSRF token, with the developer's own session cookie: refused
    cookie = d.get_cookie("kd_portal")["value"]
    status, _, body = http("POST", portal + "/apps", {"Cookie": f"kd_portal={cookie}",
                                                       "Content-Type": "application/x-www-form-urlencoded"},
                           urllib.parse.urlencode({"name": "csrf-less"}).encode(), follow=False)
    assert status == 403 and b"did not come from this portal" in body
    d.get(portal + "/apps")
    assert "csrf-less" not in d.page_source
    c.page()
