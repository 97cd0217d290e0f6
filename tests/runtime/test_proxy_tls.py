"""HTTPS on the proxy through real sockets: a LocalRuntime with its TLS listener on 127.0.0.1,
certificates made in the test (tls_support), clients that verify them.

Ported from Kong's spec/02-integration/05-proxy/06-ssl_spec.lua (``it`` titles named per test):
the handshake's certificate per SNI (exact, prefix and suffix wildcards and their priorities, the
``*`` SNI, the default certificate), SSL termination (426 for https-only routes over HTTP, 301/302
redirects, an ``x-forwarded-proto: https`` from an untrusted client does not count), and what the
upstream is told (``X-Forwarded-Proto``/``X-Forwarded-Port``).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat

import pytest
from test_proxy_support import Cfg, echo_server, make_runtime, raw_request
from tls_support import CA

from konnect_desktop.runtime.tls import default_pair_paths

CA1 = CA("Proxy CA")


def _cn(der: bytes) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


async def handshake(port: int, sni: str | None, *, verify: bool = False, ctx: ssl.SSLContext | None = None,
                    request: bytes | None = None) -> tuple[str, str | None, bytes]:
    """(certificate CN, ALPN protocol, response bytes) of one TLS connection."""
    if ctx is None:
        ctx = CA1.client_context() if verify else ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sni)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True)
        alpn = sslobj.selected_alpn_protocol()
        data = b""
        if request is not None:
            writer.write(request)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 10)
        return _cn(der), alpn, data
    finally:
        writer.close()
        with_suppressed = getattr(writer, "wait_closed", None)
        if with_suppressed:
            try:
                await with_suppressed()
            except (ssl.SSLError, ConnectionError):
                pass


@pytest.fixture
async def tls_rt(tmp_path):
    echo = await echo_server()
    rt = await make_runtime(tmp_path, "tls", proxy_listen_tls=("127.0.0.1", 0))
    yield rt, echo
    await rt.stop()
    await echo.stop()


def _certificates(cfg: Cfg) -> None:
    exact = CA1.issue("ssl1.com", cn="ssl1.com")
    alt = CA1.issue("ssl-alt.com", cn="ssl-alt.com")
    alt_alt = CA1.issue("ssl-alt-alt.com", cn="ssl-alt-alt.com")
    for pair, names in ((exact, ["ssl1.com"]),
                        (alt, ["*.wildcard.com", "wildcard.*"]),
                        (alt_alt, ["wildcard.org", "test.wildcard.*", "*.www.wildcard.com"])):
        c = cfg.add("certificates", cert=pair.cert, key=pair.key)
        for n in names:
            cfg.add("snis", name=n, certificate={"id": c["id"]})


async def test_sni_selection_as_kong(tls_rt) -> None:
    """handshake: "sets the default fallback SSL certificate if no SNI match", "sets the
    configured SSL certificate if SNI match"; wildcard sni: "matches *.wildcard.com (prefix)",
    "matches wildcard.* (suffix)", "respects matching priorities (exact first / prefix second /
    suffix third)", "matches *.www.wildcard.com"; global SSL: "fallbacks on the default proxy SSL
    certificate when SNI is not provided by client"."""
    rt, echo = tls_rt
    cfg = Cfg()
    _certificates(cfg)
    await rt.load_config(cfg.config())
    port = rt.proxy.tls_port
    assert (await handshake(port, "ssl1.com", verify=True))[0] == "ssl1.com"  # verified by the client
    assert (await handshake(port, "test.wildcard.com"))[0] == "ssl-alt.com"
    assert (await handshake(port, "wildcard.eu"))[0] == "ssl-alt.com"
    assert (await handshake(port, "wildcard.org"))[0] == "ssl-alt-alt.com"
    assert (await handshake(port, "test.wildcard.org"))[0] == "ssl-alt-alt.com"
    assert (await handshake(port, "test.www.wildcard.com"))[0] == "ssl-alt-alt.com"
    assert (await handshake(port, "nothing.test"))[0] == "localhost"  # the runtime's default
    assert (await handshake(port, None))[0] == "localhost"
    # a client that trusts only the test CA refuses the default certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(port, "nothing.test", verify=True)


async def test_star_sni_and_alt_pair(tls_rt) -> None:
    """"sets the default certificate of '*' SNI" (with cert_alt: the RSA/ECDSA pair a client can
    use), and a configuration change reaches the next handshake."""
    rt, _echo = tls_rt
    rsa_pair = CA1.issue("ssl-example.com", kind="rsa", cn="ssl-example.com")
    ec_pair = CA1.issue("ssl-example.com", kind="ec", cn="ssl-example.com-ecdsa")
    cfg = Cfg()
    c = cfg.add("certificates", cert=rsa_pair.cert, key=rsa_pair.key, cert_alt=ec_pair.cert, key_alt=ec_pair.key)
    cfg.add("snis", name="*", certificate={"id": c["id"]})
    await rt.load_config(cfg.config())
    port = rt.proxy.tls_port

    def tls12(ciphers: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        return ctx

    assert (await handshake(port, "example.com", ctx=tls12("ECDHE-RSA-AES128-GCM-SHA256")))[0] == "ssl-example.com"
    assert (await handshake(port, "example.com", ctx=tls12("ECDHE-ECDSA-AES128-GCM-SHA256")))[0] == \
        "ssl-example.com-ecdsa"
    await rt.load_config(Cfg().config())
    assert (await handshake(port, "example.com"))[0] == "localhost"


async def test_default_certificate_is_kept_beside_the_store(tmp_path) -> None:
    """Made once per runtime group, private key 0600; the same after a restart."""
    db = tmp_path / "group.db"
    from konnect_desktop.runtime.runtime import LocalRuntime

    rt = LocalRuntime("g", db_path=db, admin_listen=None, proxy_listen_tls=("127.0.0.1", 0))
    await rt.start()
    try:
        assert rt.proxy_tls_url == f"https://127.0.0.1:{rt.proxy.tls_port}"
        first = await handshake(rt.proxy.tls_port, None)
    finally:
        await rt.stop()
    cert_path, key_path = default_pair_paths(db)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    pem = cert_path.read_text()
    rt = LocalRuntime("g", db_path=db, admin_listen=None, proxy_listen_tls=("127.0.0.1", 0))
    await rt.start()
    try:
        ctx = ssl.create_default_context(cadata=pem)  # trusts exactly the kept certificate
        cn, alpn, _ = await handshake(rt.proxy.tls_port, "localhost", ctx=ctx)
        assert cn == first[0] == "localhost" and alpn == "http/1.1"
    finally:
        await rt.stop()


def _get(path: str, host: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


async def test_ssl_termination(tls_rt) -> None:
    """SSL termination: "blocks request without HTTPS if protocols = { http }" (426 with Kong's
    headers), "returns 301/302 when route has https_redirect_status_code set", "blocks HTTP request
    with HTTPS in x-forwarded-proto" (from a client that is not trusted); over TLS the route is
    served and the upstream hears X-Forwarded-Proto: https and the TLS port."""
    rt, echo = tls_rt
    cfg = Cfg()
    pair = CA1.issue("example.com", cn="example.com")
    c = cfg.add("certificates", cert=pair.cert, key=pair.key)
    cfg.add("snis", name="example.com", certificate={"id": c["id"]})
    svc = cfg.service(port=echo.port)
    cfg.route(svc, hosts=["example.com"], paths=["/"], protocols=["https"])
    cfg.route(svc, hosts=["example.com"], paths=["/redirect-301"], protocols=["https"], https_redirect_status_code=301)
    cfg.route(svc, hosts=["example.com"], paths=["/redirect-302"], protocols=["https"], https_redirect_status_code=302)
    await rt.load_config(cfg.config())

    resp = await raw_request(rt.proxy.port, "GET", "/", host="example.com")
    assert resp.status == 426 and "Please use HTTPS protocol" in resp.json()["message"]
    assert "Upgrade" in resp.header("connection") and resp.header("upgrade") == "TLS/1.2, HTTP/1.1"
    resp = await raw_request(rt.proxy.port, "GET", "/redirect-301", host="example.com")
    assert resp.status == 301 and resp.header("location") == "https://example.com/redirect-301"
    resp = await raw_request(rt.proxy.port, "GET", "/redirect-302?foo=bar", host="example.com")
    assert resp.status == 302 and resp.header("location") == "https://example.com/redirect-302?foo=bar"
    resp = await raw_request(rt.proxy.port, "GET", "/", host="example.com", headers=[("X-Forwarded-Proto", "https")])
    assert resp.status == 426

    cn, alpn, data = await handshake(rt.proxy.tls_port, "example.com", verify=True,
                                     request=_get("/redirect-301/x", "example.com"))
    status, _headers, body = _parse(data)
    assert cn == "example.com" and alpn == "http/1.1" and status == 200
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-port"] == str(rt.proxy.tls_port)
    # an http route still answers on the TLS listener (protocols default to http and https)
    cfg.route(svc, hosts=["plain.test"], paths=["/"])
    await rt.load_config(cfg.config())
    _cn_, _alpn, data = await handshake(rt.proxy.tls_port, "plain.test", request=_get("/", "plain.test"))
    assert _parse(data)[0] == 200
    assert json.loads(_parse(data)[2])["headers"]["x-forwarded-proto"] == "https"
    resp = await raw_request(rt.proxy.port, "GET", "/", host="plain.test")
    assert resp.status == 200 and resp.json()["headers"]["x-forwarded-proto"] == "http"


async def test_https_routes_match_on_sni(tls_rt) -> None:
    """A route's ``snis`` match the TLS server name the client sent (router: ``tls.sni`` for
    https), exact and wildcard; another name does not match the route."""
    rt, echo = tls_rt
    cfg = Cfg()
    svc = cfg.service(port=echo.port)
    cfg.route(svc, snis=["api.sni.test", "*.wild.test"], protocols=["https"], name="by-sni")
    await rt.load_config(cfg.config())
    for name in ("api.sni.test", "x.wild.test"):
        _cn_, _alpn, data = await handshake(rt.proxy.tls_port, name, request=_get("/any", "whatever.test"))
        assert _parse(data)[0] == 200, (name, data[:200])
    _cn_, _alpn, data = await handshake(rt.proxy.tls_port, "other.test", request=_get("/any", "whatever.test"))
    assert _parse(data)[0] == 404
