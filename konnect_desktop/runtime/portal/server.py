"""The Dev Portal's web server (aiohttp): catalog, API pages, accounts, applications, Try it.

Served by the local runtime on its own address (``gateway run --portal-listen``,
``LocalRuntime(portal_listen=...)``), loopback by default. Who may use it follows the Admin API's
rules (``admin_guard.AdminAccess``): a ``Host`` that is not a loopback name, the bound address or an
allowed name is refused (DNS rebinding). For state-changing requests (POST) an ``Origin`` must be
the portal's own (``http://`` + its ``Host``) or an allowed one, and a browser-marked cross-site
request is refused. Deliberate difference from the Admin API: GET pages may be opened from a link
on another site (they change nothing; a developer portal is meant to be linked to).

Sessions: a random id in a cookie (HttpOnly, SameSite=Lax), state kept in memory (a restart logs
everyone out), gone after 12 hours unused; a new id on log-in. Five failed log-ins for one
e-mail address within 15 minutes lock that address out for the rest of the window. Every form carries the session's CSRF token; a POST without the
right one is refused with 403 before anything is read or written. Responses forbid framing and
scripts (Content-Security-Policy): the pages need none.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import ClientSession, ClientTimeout, web

from ...appdirs import resource_path
from ...jsontypes import JSONObject
from ..admin_guard import AdminAccess, split_host_header
from . import views
from .accounts import COLOUR_RE, FormError
from .service import PortalService

log = logging.getLogger(__name__)

COOKIE = "kd_portal"
MAX_SESSIONS = 10_000
SESSION_IDLE = 12 * 3600.0  # seconds a session may go unused
LOGIN_LIMIT, LOGIN_WINDOW = 5, 15 * 60.0  # failed log-ins per e-mail address per window
MAX_TRY_BODY = 64 * 1024
TRY_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_PATH_RE = re.compile(r"^/(?!/)[\x21-\x7e]*$")  # printable, no spaces, not protocol-relative
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

SERVICE: web.AppKey[PortalService] = web.AppKey("portal_service", PortalService)
ACCESS: web.AppKey[AdminAccess] = web.AppKey("portal_access", AdminAccess)
PROXY_URL: web.AppKey[Callable[[], str | None]] = web.AppKey("portal_proxy_url")  # the proxy's URL or None
SESSIONS: web.AppKey[Sessions] = web.AppKey("portal_sessions")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("portal_throttle")
SID: web.RequestKey[str] = web.RequestKey("portal_sid", str)
SESSION: web.RequestKey[JSONObject] = web.RequestKey("portal_session", dict)
NEW_SID: web.RequestKey[str] = web.RequestKey("portal_new_sid", str)


class Sessions:
    """Session id → ``{"csrf", "developer"}``; a session unused for ``idle`` seconds is gone (the
    developer logs in again), the least recently used dropped beyond ``cap``. ``clock`` is
    injectable for tests."""

    def __init__(self, cap: int = MAX_SESSIONS, idle: float = SESSION_IDLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._data: OrderedDict[str, JSONObject] = OrderedDict()
        self.cap, self.idle, self.clock = cap, idle, clock

    def get(self, sid: str | None) -> JSONObject | None:
        if not sid or sid not in self._data:
            return None
        data = self._data[sid]
        now = self.clock()
        if now - data["seen"] > self.idle:
            del self._data[sid]
            return None
        data["seen"] = now
        self._data.move_to_end(sid)
        return data

    def new(self, developer: str | None = None) -> tuple[str, JSONObject]:
        sid = secrets.token_urlsafe(32)
        data = {"csrf": secrets.token_urlsafe(32), "developer": developer, "seen": self.clock()}
        self._data[sid] = data
        while len(self._data) > self.cap:
            self._data.popitem(last=False)
        return sid, data

    def drop(self, sid: str) -> None:
        self._data.pop(sid, None)


class LoginThrottle:
    """At most ``limit`` failed log-ins per e-mail address in ``window`` seconds; then that address
    is refused until the oldest failure leaves the window (guessing passwords gets slow even
    though each guess already costs an Argon2 hash)."""

    def __init__(self, limit: int = LOGIN_LIMIT, window: float = LOGIN_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._fails: dict[str, list[float]] = {}

    def _recent(self, email: str) -> list[float]:
        now = self.clock()
        fails = [t for t in self._fails.get(email, []) if now - t < self.window]
        if fails:
            self._fails[email] = fails
        else:
            self._fails.pop(email, None)
        return fails

    def wait(self, email: str) -> float:
        """Seconds until ``email`` may try again (0: now)."""
        fails = self._recent(email)
        return 0.0 if len(fails) < self.limit else self.window - (self.clock() - fails[0])

    def failed(self, email: str) -> None:
        if len(self._fails) > MAX_SESSIONS:  # bounded: forget the oldest addresses
            self._fails.pop(next(iter(self._fails)))
        self._fails.setdefault(email, []).append(self.clock())

    def succeeded(self, email: str) -> None:
        self._fails.pop(email, None)


# -- middlewares ----------------------------------------------------------------------------------
def _refusal(request: web.Request, access: AdminAccess) -> str | None:
    host = request.headers.get("Host")
    if not access.host_allowed(host):
        name = split_host_header(host or "")
        return (f"Host '{name}' is not allowed on this portal (it answers to loopback names and its own "
                f"address); to allow it, start with --admin-allow-host {name}")
    if request.method in ("GET", "HEAD"):
        return None
    origin = request.headers.get("Origin")
    if origin is not None and host and origin.rstrip("/").lower() == f"http://{host}".lower():
        return None  # the portal's own pages
    return access.refusal(request.headers)


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    why = _refusal(request, request.app[ACCESS])
    if why is not None:
        return web.Response(status=403, text=why + "\n")
    sessions = request.app[SESSIONS]
    sid = request.cookies.get(COOKIE)
    data = sessions.get(sid)
    fresh = data is None
    if sid is None or data is None:
        sid, data = sessions.new()
    request[SID] = sid
    request[SESSION] = data
    try:
        resp = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals: raised, with the same cookie and headers
        _finish(request, exc, fresh)
        raise
    _finish(request, resp, fresh)
    return resp


def _finish(request: web.Request, resp: web.StreamResponse, fresh: bool) -> None:
    if fresh or NEW_SID in request:
        resp.set_cookie(COOKIE, request.get(NEW_SID) or request[SID], httponly=True, samesite="Lax", path="/")
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cache-Control", "no-store")


# -- helpers --------------------------------------------------------------------------------------
def _svc(request: web.Request) -> PortalService:
    return request.app[SERVICE]


async def _page(request: web.Request, title: str, body: str, *, status: int = 200, message: str = "") -> web.Response:
    svc = _svc(request)
    settings = await asyncio.to_thread(svc.accounts.settings)
    dev = await _developer(request)
    html = views.layout(settings, title, body, developer=dev, csrf=request[SESSION]["csrf"], message=message)
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


async def _developer(request: web.Request) -> JSONObject | None:
    did = request[SESSION].get("developer")
    if not did:
        return None
    return await asyncio.to_thread(_svc(request).accounts.developer, did)


async def _form(request: web.Request) -> dict[str, str]:
    """The POSTed form, after its CSRF token was checked (403 page otherwise)."""
    data = await request.post()
    token = data.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, request[SESSION]["csrf"]):
        raise web.HTTPForbidden(
            text=views.layout({"title": "Developer Portal", "logo": ""}, "Form refused", views.error_page(
                "This form has expired or did not come from this portal. Reload the page and try again."),
                developer=None, csrf=request[SESSION]["csrf"]),
            content_type="text/html")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _redirect(location: str) -> web.HTTPFound:
    return web.HTTPFound(location)


async def _require_developer(request: web.Request) -> str:
    dev = await _developer(request)
    if dev is None:
        raise _redirect("/login")
    return str(dev["id"])


# -- pages ----------------------------------------------------------------------------------------
async def catalog(request: web.Request) -> web.Response:
    products = await asyncio.to_thread(lambda: list(_svc(request).catalog.published()))
    return await _page(request, "APIs", views.catalog_page(products))


async def _version_or_404(request: web.Request, product_id: str, version: str) -> tuple[JSONObject, JSONObject]:
    cat = _svc(request).catalog
    try:
        p = await asyncio.to_thread(cat.get_product, product_id)
        v = await asyncio.to_thread(cat.find_version, p["id"], version)
    except Exception:
        raise web.HTTPNotFound() from None
    if not v["published"]:
        raise web.HTTPNotFound()
    return p, v


async def version_page(request: web.Request) -> web.Response:
    return await _render_version(request, request.match_info["product"], request.match_info["version"])


async def _render_version(request: web.Request, product: str, version: str, errors: dict[str, str] | None = None,
                          *, status: int = 200) -> web.Response:
    p, v = await _version_or_404(request, product, version)
    svc = _svc(request)
    try:
        doc = await asyncio.to_thread(svc.catalog.openapi, v["id"])
    except Exception:  # stored documents were checked on the way in; be safe anyway
        doc = None
    did = request[SESSION].get("developer")
    apps = await asyncio.to_thread(svc.accounts.apps, did) if did else None
    body = views.version_page(p, v, doc if isinstance(doc, dict) else None, csrf=request[SESSION]["csrf"],
                              apps=apps, errors=errors or {})
    return await _page(request, f"{p['name']} {v['version']}", body, status=status)


async def signup_get(request: web.Request) -> web.Response:
    return await _page(request, "Sign up", views.signup_page(request[SESSION]["csrf"], {}, {}))


async def signup_post(request: web.Request) -> web.Response:
    form = await _form(request)
    try:
        did = await asyncio.to_thread(_svc(request).accounts.sign_up, form.get("email", ""), form.get("name", ""),
                                      form.get("password", ""))
    except FormError as exc:
        return await _page(request, "Sign up", views.signup_page(request[SESSION]["csrf"], form,
                                                                 {exc.field: exc.message}), status=400)
    _log_in(request, did)
    raise _redirect("/apps")


def _log_in(request: web.Request, developer: str | None) -> None:
    sessions = request.app[SESSIONS]
    sessions.drop(request[SID])
    sid, data = sessions.new(developer)  # a new id: a session id seen before log-in is worthless after
    request[NEW_SID], request[SESSION] = sid, data


async def login_get(request: web.Request) -> web.Response:
    return await _page(request, "Log in", views.login_page(request[SESSION]["csrf"], {}, {}))


async def login_post(request: web.Request) -> web.Response:
    form = await _form(request)
    throttle = request.app[THROTTLE]
    email = form.get("email", "").strip().lower()
    wait = throttle.wait(email)
    if wait > 0:
        msg = f"Too many failed log-ins for this address; try again in {max(1, round(wait / 60))} minute(s)."
        return await _page(request, "Log in", views.login_page(request[SESSION]["csrf"], form, {"password": msg}),
                           status=429)
    try:
        did = await asyncio.to_thread(_svc(request).accounts.log_in, form.get("email", ""), form.get("password", ""))
    except FormError as exc:
        throttle.failed(email)
        return await _page(request, "Log in", views.login_page(request[SESSION]["csrf"], form,
                                                               {exc.field: exc.message}), status=400)
    throttle.succeeded(email)
    _log_in(request, did)
    raise _redirect("/apps")


async def logout(request: web.Request) -> web.Response:
    await _form(request)
    _log_in(request, None)
    raise _redirect("/")


async def apps_get(request: web.Request, values: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    did = await _require_developer(request)
    acc = _svc(request).accounts
    apps = await asyncio.to_thread(acc.apps, did)
    regs = await asyncio.to_thread(lambda: acc.registrations(developer_id=did))
    fresh = await asyncio.to_thread(acc.take_fresh_keys, did)
    body = views.apps_page(request[SESSION]["csrf"], apps, regs, fresh, values or {}, errors or {})
    return await _page(request, "My applications", body, status=status)


async def apps_post(request: web.Request) -> web.Response:
    did = await _require_developer(request)
    form = await _form(request)
    try:
        await asyncio.to_thread(_svc(request).accounts.create_app, did, form.get("name", ""),
                                form.get("description", ""))
    except FormError as exc:
        return await apps_get(request, form, {exc.field: exc.message}, status=400)
    raise _redirect("/apps")


async def register(request: web.Request) -> web.Response:
    did = await _require_developer(request)
    form = await _form(request)
    svc = _svc(request)
    try:
        await svc.request_access(did, form.get("app", ""), form.get("version", ""))
    except FormError as exc:
        try:
            v = await asyncio.to_thread(svc.catalog.get_version, form.get("version", ""))
            p = await asyncio.to_thread(svc.catalog.get_product, v["product"]["id"])
        except Exception:
            return await _page(request, "Request refused", views.error_page(exc.message), status=400)
        return await _render_version(request, p["id"], v["version"], {exc.field: exc.message}, status=400)
    raise _redirect("/apps")


async def new_key(request: web.Request) -> web.Response:
    did = await _require_developer(request)
    await _form(request)
    svc = _svc(request)
    rid = request.match_info["registration"]
    try:
        key = await svc.new_key(did, rid)
    except FormError as exc:
        return await _page(request, "New key refused", views.error_page(exc.message), status=400)
    await asyncio.to_thread(svc.accounts.set_fresh_key, rid, key)
    raise _redirect("/apps")


async def try_it(request: web.Request) -> web.Response:
    form = await _form(request)
    svc = _svc(request)
    method, path = form.get("method", "GET").upper(), form.get("path", "")
    try:
        v = await asyncio.to_thread(svc.catalog.get_version, form.get("version", ""))
        p = await asyncio.to_thread(svc.catalog.get_product, v["product"]["id"])
        back = f"/products/{p['id']}/{v['version']}"
    except Exception:
        raise web.HTTPNotFound() from None
    error, status, headers, text = "", None, [], ""
    body = form.get("body", "").encode()
    proxy = request.app[PROXY_URL]()
    if method not in TRY_METHODS:
        error = f"Method {method!r} cannot be sent from here."
    elif not _PATH_RE.match(path) or len(path) > 2048:
        error = "The path must start with / and hold no spaces (e.g. /openai/v1/models)."
    elif len(body) > MAX_TRY_BODY:
        error = f"The body is larger than {MAX_TRY_BODY // 1024} KiB."
    elif not proxy:
        error = "The local proxy is not running."
    else:
        hdrs = {"Content-Type": "application/json"} if body else {}
        if form.get("apikey"):
            hdrs["apikey"] = form["apikey"]
        try:
            async with ClientSession(timeout=ClientTimeout(total=15)) as client, client.request(
                    method, proxy.rstrip("/") + path, data=body or None, headers=hdrs, allow_redirects=False) as r:
                status = r.status
                headers = list(r.headers.items())
                raw = await r.content.read(MAX_TRY_BODY)
                text = raw.decode("utf-8", "replace")
        except Exception as exc:  # the proxy closed, timed out...: say so on the page
            error = f"The request failed: {type(exc).__name__}: {exc}"
    return await _page(request, "Try it", views.try_result_page(method, path, status, headers, text, error, back))


async def static_css(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(resource_path("portal", "portal.css"), headers={"Content-Type": "text/css"})


async def theme_css(request: web.Request) -> web.Response:
    s = await asyncio.to_thread(_svc(request).accounts.settings)
    accent = s["accent"] if COLOUR_RE.match(s["accent"]) else "#1155cb"
    bg = s["background"] if COLOUR_RE.match(s["background"]) else "#f7f8fa"
    return web.Response(text=f":root {{ --accent: {accent}; --bg: {bg}; }}\n", content_type="text/css")


async def not_found(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return await _page(request, "Not found", views.error_page("There is no such page on this portal."), status=404)


def create_portal_app(service: PortalService, proxy_url: Callable[[], str | None], access: AdminAccess, *,
                      clock: Callable[[], float] = time.monotonic) -> web.Application:
    app = web.Application(middlewares=[guard, web.middleware(not_found)], client_max_size=2 * MAX_TRY_BODY)
    app[SERVICE] = service
    app[ACCESS] = access
    app[PROXY_URL] = proxy_url
    app[SESSIONS] = Sessions(clock=clock)
    app[THROTTLE] = LoginThrottle(clock=clock)
    r = app.router
    r.add_get("/", catalog)
    r.add_get("/products/{product}/{version}", version_page)
    r.add_get("/signup", signup_get)
    r.add_post("/signup", signup_post)
    r.add_get("/login", login_get)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/apps", apps_get)
    r.add_post("/apps", apps_post)
    r.add_post("/register", register)
    r.add_post("/registrations/{registration}/key", new_key)
    r.add_post("/try", try_it)
    r.add_get("/static/portal.css", static_css)
    r.add_get("/theme.css", theme_css)
    return app


__all__ = ["create_portal_app", "LoginThrottle", "Sessions", "COOKIE"]
