"""TLS from the proxy to HTTPS upstreams, as a service asks for it (Kong's ``tls_verify``,
``ca_certificates``, ``client_certificate``; an upstream's ``client_certificate`` when the
service names none).

``UpstreamTls`` is one service's settings, compared by value (the connection pool keys kept-alive
connections by it, so two services with the same settings share them) and carrying its
``ssl.SSLContext``, built when the configuration is compiled (a worker thread):

* ``tls_verify`` true: the upstream's certificate must chain to the service's
  ``ca_certificates`` (their PEM, from the ``ca_certificates`` entities) or, when it lists none,
  to the system's trust store; the host name is checked. Unset or false: not verified (Kong's
  ``proxy_ssl_verify`` is off by default).
* ``client_certificate``: the pair presented when the upstream asks for one (mutual TLS).
* ``tls_verify_depth`` (with ``tls_verify``): a verified chain longer than the depth is refused
  after the handshake (nginx's ``proxy_ssl_verify_depth``: the leaf is depth 0, so 1 allows a
  certificate signed directly by a trusted CA). Python's ``ssl`` has no depth setting; the chain
  comes from ``SSLObject.get_verified_chain`` (public from Python 3.13; the same method of the
  underlying object before). Where neither exists the depth is not enforced.

Vault references in the certificates are resolved before this module sees the configuration.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from ..jsontypes import JSONObject
from ..model.schema import foreign_id
from .tls import load_pairs

TLS_PROTOCOLS = ("https", "grpcs", "tls")


@dataclass(frozen=True)
class UpstreamTls:
    verify: bool
    ca_pems: tuple[str, ...] = ()
    client_pair: tuple[str, str] | None = None
    depth: int | None = None  # tls_verify_depth (only with verify)
    context: ssl.SSLContext | None = field(default=None, compare=False, hash=False, repr=False)

    def check_peer(self, transport: asyncio.BaseTransport) -> str | None:
        """After the handshake: why the connection must not be used (a chain too deep), or None."""
        if not self.verify or self.depth is None:
            return None
        sslobj = transport.get_extra_info("ssl_object")
        get_chain = getattr(sslobj, "get_verified_chain", None) or getattr(
            getattr(sslobj, "_sslobj", None), "get_verified_chain", None)
        if get_chain is None:
            return None
        chain = get_chain() or []
        if len(chain) - 1 > self.depth:
            return f"certificate chain too long ({len(chain) - 1} > tls_verify_depth {self.depth})"
        return None

    def build(self) -> UpstreamTls:
        ctx = ssl.create_default_context() if not self.ca_pems else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.verify:
            if self.ca_pems:
                ctx.load_verify_locations(cadata="\n".join(self.ca_pems))
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_pair is not None:
            load_pairs(ctx, [self.client_pair])
        return UpstreamTls(self.verify, self.ca_pems, self.client_pair, self.depth, ctx)


def build_profiles(config: dict[str, list[JSONObject]]) -> tuple[dict[str, UpstreamTls], list[str]]:
    """Service id → its upstream TLS settings (HTTPS services only), and the problems found."""
    certs = {c["id"]: c for c in config.get("certificates", ())}
    cas = {c["id"]: c for c in config.get("ca_certificates", ())}
    upstreams = {u.get("name"): u for u in config.get("upstreams", ())}
    built: dict[UpstreamTls, UpstreamTls] = {}
    out: dict[str, UpstreamTls] = {}
    errors: list[str] = []
    for svc in config.get("services", ()):
        if svc.get("protocol") not in TLS_PROTOCOLS:
            continue
        ca_pems = tuple(cas[i]["cert"] for i in (svc.get("ca_certificates") or ()) if i in cas)
        cert_id = foreign_id(svc.get("client_certificate"))
        if cert_id is None and svc.get("host") in upstreams:
            cert_id = foreign_id(upstreams[svc["host"]].get("client_certificate"))
        pair = None
        if cert_id is not None:
            cert = certs.get(cert_id)
            if cert is not None:
                c, k = cert.get("cert"), cert.get("key")
                if isinstance(c, str) and isinstance(k, str):
                    pair = (c, k)
                else:
                    errors.append(f"service {svc.get('name') or svc.get('id')}: client certificate {cert_id} has no PEM pair")
        depth = svc.get("tls_verify_depth")
        key = UpstreamTls(bool(svc.get("tls_verify")), ca_pems, pair, depth if isinstance(depth, int) else None)
        profile = built.get(key)
        if profile is None:
            try:
                profile = key.build()
            except (ssl.SSLError, OSError, ValueError) as exc:
                errors.append(f"service {svc.get('name') or svc.get('id')}: upstream TLS settings not usable: {exc}")
                # fail closed: a context that trusts nothing, so every handshake is refused (502)
                profile = UpstreamTls(True, ("unusable", svc["id"]), None, None, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            built[key] = profile
        out[svc["id"]] = profile
    return out, errors


__all__ = ["UpstreamTls", "build_profiles"]
