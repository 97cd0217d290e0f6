"""The local Admin API against the browser and the network, through real sockets.

A web page the user visits can send "simple" cross-origin requests (``text/plain``, form and
multipart bodies need no preflight) and can re-point its own DNS name at 127.0.0.1 (DNS
rebinding). Each test below is one way in that used to work, and must not any more — plus the
legitimate clients that must keep working (no ``Origin``: curl, decK, aio-kong, our CLI and GUI).

Deliberate difference from Kong: Kong's Admin API answers every ``Origin`` with
``Access-Control-Allow-Origin`` (``*`` without ``admin_gui_url``; Kong's
``spec/02-integration/04-admin_api/23-cors_spec.lua``, "should return the correct |AC-Allow-Origin|
header when "Origin" is present in request headers"). Kong runs behind a firewall; this runtime
runs next to a browser, so an origin must be allowed explicitly and only then gets CORS answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_proxy_support import make_runtime, port_of, raw_request

from konnect_desktop.runtime.admin_guard import AdminAccess, UnsafeBindError, split_host_header
from konnect_desktop.runtime.runtime import LocalRuntime

DECK = '_format_version: "3.0"\nservices:\n- name: pwned\n  url: http://evil.example\n'
EVIL = "http://evil.example"


def _multipart(fields: dict[str, str], boundary: str = "XyZ") -> tuple[str, bytes]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return f"multipart/form-data; boundary={boundary}", ("".join(parts) + f"--{boundary}--\r\n").encode()


@pytest.fixture
async def rt(tmp_path: Path):
    r = await make_runtime(tmp_path, "sec")
    yield r
    await r.stop()


def _services(r: LocalRuntime) -> list[str]:
    assert r.store is not None
    return sorted(s["name"] or "" for s in r.store.all("services"))


# -- CSRF ------------------------------------------------------------------------------------------
async def test_cross_origin_text_plain_post_config_cannot_replace_the_configuration(rt: LocalRuntime) -> None:
    """Before: 201 and the whole configuration replaced by the page's."""
    assert rt.admin_url is not None and rt.store is not None
    rt.store.insert("services", {"name": "mine", "host": "example.org"})
    port = port_of(rt.admin_url)
    r = await raw_request(port, "POST", "/config", [("Content-Type", "text/plain"), ("Origin", EVIL)], DECK.encode())
    assert r.status == 403, r
    assert "--admin-allow-origin" in r.json()["message"]
    assert r.header("Access-Control-Allow-Origin") is None
    assert _services(rt) == ["mine"]


@pytest.mark.parametrize("kind", ["form", "multipart", "json", "none"])
async def test_cross_origin_posts_create_nothing(rt: LocalRuntime, kind: str) -> None:
    """Before: form and multipart posts (no preflight in a browser) created the service."""
    assert rt.admin_url is not None
    if kind == "form":
        ctype, body = "application/x-www-form-urlencoded", b"name=pwned&url=http://evil.example"
    elif kind == "multipart":
        ctype, body = _multipart({"name": "pwned", "url": "http://evil.example"})
    elif kind == "json":
        ctype, body = "application/json", json.dumps({"name": "pwned", "url": "http://evil.example"}).encode()
    else:
        ctype, body = "text/plain", b"name=pwned"
    for origin in (EVIL, "null", "http://127.0.0.1:1"):  # "null": sandboxed frames and file:// pages
        r = await raw_request(port_of(rt.admin_url), "POST", "/services", [("Content-Type", ctype), ("Origin", origin)], body)
        assert r.status == 403, (origin, r)
    assert _services(rt) == []


async def test_browser_request_marked_cross_site_without_origin_is_refused(rt: LocalRuntime) -> None:
    assert rt.admin_url is not None
    r = await raw_request(port_of(rt.admin_url), "DELETE", "/services/x", [("Sec-Fetch-Site", "cross-site")])
    assert r.status == 403


async def test_clients_without_origin_keep_working_form_and_multipart_included(rt: LocalRuntime) -> None:
    """curl, decK, aio-kong and our own clients send no Origin: unchanged."""
    assert rt.admin_url is not None
    port = port_of(rt.admin_url)
    r = await raw_request(port, "POST", "/services", [("Content-Type", "application/x-www-form-urlencoded")],
                          b"name=form&url=http://a.example")
    assert r.status == 201, r
    ctype, body = _multipart({"name": "multi", "url": "http://b.example"})
    r = await raw_request(port, "POST", "/services", [("Content-Type", ctype)], body)
    assert r.status == 201, r
    r = await raw_request(port, "POST", "/config", [("Content-Type", "text/plain")], DECK.encode())
    assert r.status == 201, r
    assert _services(rt) == ["pwned"]
    r = await raw_request(port, "OPTIONS", "/services")
    assert r.status == 204 and r.header("Allow") == "GET, HEAD, POST, OPTIONS"
    assert not [k for k, _v in r.header_list if k.lower().startswith("access-control-")]


# -- DNS rebinding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8001", "localhost.evil.example", "127.0.0.1.nip.io"])
async def test_foreign_host_is_refused_before_the_store(rt: LocalRuntime, host: str) -> None:
    """Before: ``Host: evil.example`` was served (a rebound name reads and writes the config)."""
    assert rt.admin_url is not None and rt.store is not None
    port = port_of(rt.admin_url)
    version = rt.store.version
    r = await raw_request(port, "POST", "/services", [("Content-Type", "application/json")],
                          b'{"name": "pwned", "host": "x.example"}', host=host)
    assert r.status == 403 and "--admin-allow-host" in r.json()["message"], r
    r = await raw_request(port, "GET", "/config", host=host)
    assert r.status == 403 and b"_format_version" not in r.body
    assert rt.store.version == version and _services(rt) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}", "localhost", "LOCALHOST:{port}", "localhost.",
                                  "[::1]:{port}", "[::1]", "app.localhost:{port}", "127.0.0.2"])
async def test_loopback_hosts_are_served(rt: LocalRuntime, host: str) -> None:
    assert rt.admin_url is not None
    port = port_of(rt.admin_url)
    r = await raw_request(port, "GET", "/services", host=host.format(port=port))
    assert r.status == 200, r


async def test_allowed_host_and_origin(tmp_path: Path) -> None:
    """``--admin-allow-host`` / ``--admin-allow-origin``: a name and a web page the user trusts,
    with proper CORS answers for that origin (Kong's preflight: Allow-Methods of the path, the
    requested headers echoed — 23-cors_spec.lua "should allow headers from the request")."""
    r = await make_runtime(tmp_path, "allow", admin_allow_hosts=["gw.test"],
                           admin_allow_origins=["http://localhost:3000/"])
    try:
        assert r.admin_url is not None
        port = port_of(r.admin_url)
        assert (await raw_request(port, "GET", "/services", host="GW.test:8001")).status == 200
        assert (await raw_request(port, "GET", "/services", host="other.test")).status == 403
        ok = "http://localhost:3000"
        pre = await raw_request(port, "OPTIONS", "/services", [
            ("Origin", ok), ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,kong-admin-token")])
        assert pre.status == 204
        assert pre.header("Access-Control-Allow-Origin") == ok
        assert pre.header("Access-Control-Allow-Methods") == "GET, HEAD, POST, OPTIONS"
        assert pre.header("Access-Control-Allow-Headers") == "content-type,kong-admin-token"
        assert pre.header("Vary") == "Origin"
        res = await raw_request(port, "POST", "/services", [("Origin", ok), ("Content-Type", "application/json")],
                                b'{"name": "fromui", "host": "a.example"}')
        assert res.status == 201 and res.header("Access-Control-Allow-Origin") == ok
        bad = await raw_request(port, "OPTIONS", "/services", [("Origin", EVIL), ("Access-Control-Request-Method", "POST")])
        assert bad.status == 403 and bad.header("Access-Control-Allow-Origin") is None
        assert _services(r) == ["fromui"]
    finally:
        await r.stop()


# -- binding -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":::0", "192.0.2.10:0"])
async def test_library_refuses_a_non_loopback_admin_without_token(tmp_path: Path, listen: str) -> None:
    """Before: ``LocalRuntime(admin_listen="0.0.0.0:…")`` served everyone on the network."""
    db = tmp_path / "open.db"
    r = LocalRuntime("open", db_path=db, proxy_listen="127.0.0.1:0", admin_listen=listen)
    with pytest.raises(UnsafeBindError, match="admin token") as exc:
        await r.start()
    assert "127.0.0.1" in str(exc.value) and "KONG_ADMIN_TOKEN" in str(exc.value)
    assert r.state == "failed" and not db.exists()  # refused before anything was opened


async def test_wildcard_bind_with_token_is_guarded(tmp_path: Path) -> None:
    r = await make_runtime(tmp_path, "guarded", admin_listen="0.0.0.0:0", admin_token="t0ken")
    try:
        assert r.admin_url is not None and r.admin_url.startswith("http://127.0.0.1:")
        port = port_of(r.admin_url)
        assert r.admin_bound == [f"0.0.0.0:{port}"]  # what is really bound, for the ready line
        assert (await raw_request(port, "GET", "/services")).status == 401
        assert (await raw_request(port, "POST", "/services", [("Content-Type", "application/json")],
                                  b'{"host": "a.example"}')).status == 401
        tok = [("Kong-Admin-Token", "t0ken")]
        assert (await raw_request(port, "GET", "/services", tok)).status == 200
        # bound everywhere: the machine's addresses are its own (an IP literal is never rebound)
        assert (await raw_request(port, "GET", "/services", tok, host=f"192.0.2.7:{port}")).status == 200
        assert (await raw_request(port, "GET", "/services", tok, host="evil.example")).status == 403
        root = (await raw_request(port, "GET", "/", tok)).json()
        assert root["configuration"]["admin_listen"] == [f"0.0.0.0:{port}"]
    finally:
        await r.stop()


# -- the pure parts ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "host"), [
    ("Example.COM:80", "example.com"), ("[::1]:8001", "::1"), ("[::1]", "::1"), ("::1", "::1"),
    ("localhost.", "localhost"), ("127.0.0.1", "127.0.0.1"), ("a.b:x", "a.b:x"),
])
def test_split_host_header(header: str, host: str) -> None:
    assert split_host_header(header) == host


def test_bound_address_is_allowed_other_addresses_are_not() -> None:
    a = AdminAccess.of("192.0.2.10")
    assert a.host_allowed("192.0.2.10:8001") and a.host_allowed("localhost")
    assert not a.host_allowed("192.0.2.11") and not a.host_allowed("myhost.lan")
    assert AdminAccess.of("192.0.2.10", allow_hosts=["*"]).host_allowed("anything.example")
    assert AdminAccess.of("192.0.2.10", allow_hosts=["MyHost.LAN."]).host_allowed("myhost.lan:8001")


_LABEL = st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(_LABEL, min_size=1, max_size=4), port=st.one_of(st.none(), st.integers(1, 65535)),
       dot=st.booleans())
def test_any_dns_name_is_refused_unless_it_is_loopback_or_allowed(labels: list[str], port: int | None, dot: bool) -> None:
    """A rebinding attacker controls any DNS name; only ``localhost`` (and ``*.localhost``, which
    RFC 6761 keeps on loopback) and names the user allowed pass."""
    name = ".".join(labels)
    header = name + ("." if dot else "") + (f":{port}" if port is not None else "")
    loopback = name.lower() in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback") \
        or name.lower().endswith(".localhost")
    for listen in ("127.0.0.1", "0.0.0.0", "192.0.2.10"):
        assert AdminAccess.of(listen).host_allowed(header) is loopback, (listen, header)
        assert AdminAccess.of(listen, allow_hosts=[name.upper()]).host_allowed(header)


@settings(max_examples=200, deadline=None)
@given(origin=st.text(min_size=0, max_size=40))
def test_any_origin_is_refused_unless_allowed(origin: str) -> None:
    headers = {"Host": "127.0.0.1:8001", "Origin": origin}
    assert AdminAccess.of().refusal(headers) is not None
    assert AdminAccess.of().cors_headers(headers) == {}
    allowed = AdminAccess.of(allow_origins=[origin]) if origin.strip() else AdminAccess.of(allow_origins=["*"])
    assert allowed.refusal(headers) is None
