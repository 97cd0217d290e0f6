"""Hosts that differ only by case or a trailing dot: where Kong's matching surprises people.

Kong's router compares the raw ``Host`` header with a route's hosts byte for byte (see
``runtime.router``), and so do we: ``Host: SECURE.LOCAL`` or ``Host: secure.local.`` does not
match a route on ``hosts: [secure.local]``. DNS and browsers treat those spellings as the same
name, so such a request reaches the server — and if a broader route (no hosts, say a catch-all
``/``) matches it instead, the request skips whatever protects the host's route. Kong never says
so; this module does, without changing the matching.

``host_case_bypasses(config)`` — for ``konnect-desktop validate``: every route protected by an
authentication plugin whose host, spelled in another case or with a trailing dot, is answered by a
route without one. Pure (a Config in, findings out), using the real router. (For one request, the
router itself says when the Host missed a route only by its spelling: ``Router.host_case_note``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..jsontypes import JSONObject, JSONValue
from ..model.schema import foreign_id
from .router import Router, route_label

# Kong's authentication plugins (bundled and Enterprise): a route carrying one of them is
# "protected"; a request that reaches a route without any is not authenticated.
AUTHENTICATION_PLUGINS = frozenset({
    "key-auth", "key-auth-enc", "basic-auth", "jwt", "hmac-auth", "oauth2", "oauth2-introspection",
    "session", "ldap-auth", "ldap-auth-advanced", "openid-connect", "mtls-auth", "jwt-signer",
    "vault-auth", "saml",
})


def auth_plugins_for(route: Mapping[str, JSONValue], plugins: Iterable[Mapping[str, JSONValue]]) -> list[str]:
    """Names of the enabled authentication plugins that run on ``route`` for every request:
    global, on its service or on the route (a consumer- or group-scoped one needs a consumer
    first, so it protects nothing)."""
    rid, sid = route.get("id"), foreign_id(route.get("service"))
    out = []
    for p in plugins:
        if p.get("name") not in AUTHENTICATION_PLUGINS or p.get("enabled") is False:
            continue
        if foreign_id(p.get("consumer")) or foreign_id(p.get("consumer_group")):
            continue
        prid, psid = foreign_id(p.get("route")), foreign_id(p.get("service"))
        if (prid is None or prid == rid) and (psid is None or psid == sid):
            out.append(str(p["name"]))
    return sorted(set(out))


@dataclass(frozen=True)
class HostCaseBypass:
    """A request with ``request_host`` skips ``protected`` (and its ``plugins``) and is answered
    by ``matched``, which has no authentication plugin."""

    protected: JSONObject
    host: str  # as configured on ``protected``
    request_host: str  # the other spelling
    matched: JSONObject
    plugins: tuple[str, ...]

    def message(self) -> str:
        return (f"route {route_label(self.protected)} (hosts: {self.host}) requires {', '.join(self.plugins)}, "
                f"but a request with 'Host: {self.request_host}' matches route {route_label(self.matched)} "
                f"instead, which has no authentication plugin: Kong compares hosts case-sensitively "
                f"(a trailing dot counts), so Kong lets this request through unauthenticated too; "
                f"protect route {route_label(self.matched)} as well, or narrow it")


def _sample_request(route: Mapping[str, JSONValue]) -> tuple[str, str, dict[str, str]] | None:
    """A request ``route`` matches (method, path, headers), or None when it cannot be derived
    simply (regex paths or header regexes only)."""
    methods = route.get("methods") or ["GET"]
    paths = route.get("paths") or ["/"]
    path = next((p for p in paths if not p.startswith("~")), None)
    if path is None:
        return None
    headers: dict[str, str] = {}
    for name, values in (route.get("headers") or {}).items():
        plain = [v for v in values or () if not str(v).startswith("~*")]
        if not plain:
            return None
        headers[name] = str(plain[0])
    return str(methods[0]), path, headers


def _other_spellings(host: str) -> list[str]:
    """What a client may send for the same name: lower case first (the usual spelling), then
    upper case, then with a trailing dot."""
    return [h for h in dict.fromkeys((host.lower(), host.upper(), host + ".")) if h != host]


def host_case_bypasses(config: Mapping[str, list[JSONObject]]) -> list[HostCaseBypass]:
    """Authenticated routes that a request escapes by spelling the host differently (case, a
    trailing dot) and landing on an unauthenticated route. Matching is the router's, unchanged."""
    routes = list(config.get("routes") or ())
    services = {s["id"]: s for s in config.get("services") or () if s.get("id")}
    plugins = list(config.get("plugins") or ())
    router = Router.compile(routes, services)
    found: list[HostCaseBypass] = []
    for route in routes:
        guards = auth_plugins_for(route, plugins)
        if not guards:
            continue
        sample = _sample_request(route)
        if sample is None:
            continue
        method, path, headers = sample
        for host in route.get("hosts") or ():
            if "*" in host:
                continue
            name = host.split(":", 1)[0] if host.count(":") == 1 else host
            own = router.match_uncached(method, host, path, headers)
            if own is None or own.route.get("id") != route.get("id"):
                continue  # another route wins even for the exact host: not this finding
            for other in _other_spellings(name):
                m = router.match_uncached(method, other, path, headers)
                if m is None or auth_plugins_for(m.route, plugins):
                    continue
                found.append(HostCaseBypass(route, host, other, m.route, tuple(guards)))
                break  # one spelling is enough to show the hole
    return found


__all__ = ["AUTHENTICATION_PLUGINS", "HostCaseBypass", "auth_plugins_for", "host_case_bypasses"]
