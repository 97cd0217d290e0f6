"""TLS from the proxy to HTTPS upstreams through real sockets: an aiohttp upstream on 127.0.0.1
with a certificate made in the test, one of them requiring a client certificate.

Ported from Kong's spec/02-integration/05-proxy/18-upstream_tls_spec.lua: mutual TLS "accessing
protected upstream" without and with ``service.client_certificate`` (and via
``upstream.client_certificate``; "Service.client_certificate takes precedence"), "remove
client_certificate removes access"; tls_verify "default is off", "turn it on, request is
blocked"; ca_certificates "request is allowed through once correct CA certificate is set" /
"...not allowed through once the CA certificate is updated to other ca".
Deliberate differences: Kong's nginx test upstream answers 400 "No required SSL certificate was
sent" when no client certificate comes; this Python upstream refuses the handshake, so the proxy
answers 502 (Kong's answer for a failed upstream handshake). tls_verify_depth: "request is not
allowed through if depth limit is too low", "request is allowed through if depth limit is
sufficient" (a chain through an intermediate CA here, so the depths are 1 and 2).
"""

from __future__ import annotations

import pytest
from aiohttp import web
from test_proxy_support import Cfg, Server, make_runtime, raw_request
from tls_support import CA, server_context

SERVER_CA = CA("Upstream server CA")
OTHER_CA = CA("Some other CA")
CLIENT_CA = CA("Client CA")


class TlsServer(Server):
    def __init__(self, app: web.Application, ctx) -> None:
        super().__init__(app)
        self.ctx = ctx

    async def start(self) -> TlsServer:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self


async def _whoami(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    cn = None
    if peer:
        cn = dict(x[0] for x in peer["subject"]).get("commonName")
    return web.json_response({"client": cn, "path": request.path})


async def tls_upstream(tmp_path, *, mtls: bool) -> TlsServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _whoami)
    pair = SERVER_CA.issue("upstream.test", ips=("127.0.0.1",))
    ctx = server_context(pair, tmp_path, client_ca=CLIENT_CA if mtls else None)
    return await TlsServer(app, ctx).start()


@pytest.fixture
async def rt(tmp_path):
    r = await make_runtime(tmp_path, "uptls")
    yield r
    await r.stop()


async def test_mutual_tls_with_service_and_upstream_client_certificate(tmp_path, rt) -> None:
    up = await tls_upstream(tmp_path, mtls=True)
    try:
        client = CLIENT_CA.issue(client=True, cn="kong-client")
        other = CLIENT_CA.issue(client=True, cn="upstream-client")
        cfg = Cfg()
        svc = cfg.service(host="127.0.0.1", port=up.port, protocol="https", name="mtls")
        cfg.route(svc, paths=["/mtls"])
        await rt.load_config(cfg.config())
        # no client certificate supplied: accessing protected upstream
        resp = await raw_request(rt.proxy.port, "GET", "/mtls")
        assert resp.status == 502 and resp.json()["message"] == "An invalid response was received from the upstream server"
        # client certificate supplied via service.client_certificate
        cert = cfg.add("certificates", cert=client.cert, key=client.key)
        svc["client_certificate"] = {"id": cert["id"]}
        await rt.load_config(cfg.config())
        resp = await raw_request(rt.proxy.port, "GET", "/mtls")
        assert resp.status == 200 and resp.json()["client"] == "kong-client"
        # remove client_certificate removes access
        svc["client_certificate"] = None
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/mtls")).status == 502
        # via upstream.client_certificate; the service's takes precedence when both are set
        ucert = cfg.add("certificates", cert=other.cert, key=other.key)
        u = cfg.upstream("mtls.upstream", client_certificate={"id": ucert["id"]})
        cfg.target(u, f"127.0.0.1:{up.port}")
        svc2 = cfg.service(host="mtls.upstream", port=443, protocol="https", name="via-upstream")
        cfg.route(svc2, paths=["/via-upstream"])
        await rt.load_config(cfg.config())
        resp = await raw_request(rt.proxy.port, "GET", "/via-upstream")
        assert resp.status == 200 and resp.json()["client"] == "upstream-client"
        svc2["client_certificate"] = {"id": cert["id"]}
        await rt.load_config(cfg.config())
        resp = await raw_request(rt.proxy.port, "GET", "/via-upstream")
        assert resp.status == 200 and resp.json()["client"] == "kong-client"
    finally:
        await up.stop()


async def test_tls_verify_and_ca_certificates(tmp_path, rt) -> None:
    up = await tls_upstream(tmp_path, mtls=False)
    try:
        cfg = Cfg()
        svc = cfg.service(host="127.0.0.1", port=up.port, protocol="https", name="verify")
        cfg.route(svc, paths=["/tls"])
        await rt.load_config(cfg.config())
        # tls_verify: default is off
        assert (await raw_request(rt.proxy.port, "GET", "/tls")).status == 200
        # turn it on, request is blocked (the system trust store does not know the test CA)
        svc["tls_verify"] = True
        await rt.load_config(cfg.config())
        resp = await raw_request(rt.proxy.port, "GET", "/tls")
        assert resp.status == 502
        # request is allowed through once correct CA certificate is set
        right = cfg.add("ca_certificates", cert=SERVER_CA.pem)
        wrong = cfg.add("ca_certificates", cert=OTHER_CA.pem)
        svc["ca_certificates"] = [right["id"]]
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/tls")).status == 200
        # ...not allowed through once the CA certificate is updated to other ca
        svc["ca_certificates"] = [wrong["id"]]
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/tls")).status == 502
        # ...and back
        svc["ca_certificates"] = [right["id"]]
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/tls")).status == 200
    finally:
        await up.stop()


async def test_tls_verify_depth(tmp_path, rt) -> None:
    root = CA("Depth root")
    intermediate = CA("Depth intermediate", parent=root)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _whoami)
    up = await TlsServer(app, server_context(intermediate.issue("depth.test", ips=("127.0.0.1",)), tmp_path)).start()
    try:
        cfg = Cfg()
        ca = cfg.add("ca_certificates", cert=root.pem)
        svc = cfg.service(host="127.0.0.1", port=up.port, protocol="https", name="depth",
                          tls_verify=True, ca_certificates=[ca["id"]])
        cfg.route(svc, paths=["/depth"])
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/depth")).status == 200  # no limit set
        svc["tls_verify_depth"] = 1  # leaf -> intermediate -> root is depth 2
        await rt.load_config(cfg.config())
        resp = await raw_request(rt.proxy.port, "GET", "/depth")
        assert resp.status == 502 and resp.json()["message"] == "An invalid response was received from the upstream server"
        svc["tls_verify_depth"] = 2
        await rt.load_config(cfg.config())
        assert (await raw_request(rt.proxy.port, "GET", "/depth")).status == 200
    finally:
        await up.stop()
