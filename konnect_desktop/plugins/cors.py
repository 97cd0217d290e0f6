"""cors: Cross-Origin Resource Sharing headers, and answers to preflight requests (Kong's plugin).

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by
the plugin itself with 200 and the allow-headers, unless ``preflight_continue`` passes it to the
upstream. Other responses get ``Access-Control-Allow-Origin`` (and credentials / expose headers)
added. Origins are exact (``https://a.test``, default ports ignored), ``*``, or regular expressions
(anchored at both ends, matched against the host when the pattern has no ``:``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from multidict import CIMultiDict, MutableMultiMapping

from ..jsontypes import JSONObject
from ..model.paths import compile_pcre
from ..model.schema import Array, Boolean, Number, Record, String
from .base import (
    Decision,
    Handler,
    PluginExit,
    PluginSpec,
    RequestContext,
    ResponseContext,
    RuntimeServices,
)

NAME = "cors"
PRIORITY = 2000
METHODS = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_PLAIN = re.compile(r"^[A-Za-z0-9.:/-]+$")


def _asterisk_or_regex(value: str) -> str | None:
    if value == "*":
        return None
    try:
        compile_pcre(value)
    except (re.error, ValueError):
        return f"'{value}' is not a valid regex"
    return None


CONFIG = Record(
    [
        ("origins", Array(String(custom=_asterisk_or_regex),
                          description="Allowed origins: `*`, exact origins (`https://app.test`) or regular expressions (`.*\\.app\\.test`). Empty means any origin.")),
        ("headers", Array(String(), description="Value of `Access-Control-Allow-Headers` in preflight answers. When empty, the request's `Access-Control-Request-Headers` is echoed.")),
        ("exposed_headers", Array(String(), description="Value of `Access-Control-Expose-Headers`: response headers the browser may show to scripts.")),
        ("methods", Array(String(one_of=METHODS), default=list(METHODS),
                          description="Value of `Access-Control-Allow-Methods` in preflight answers.")),
        ("max_age", Number(description="How long (seconds) a browser may cache a preflight answer (`Access-Control-Max-Age`).")),
        ("credentials", Boolean(required=True, default=False,
                                description="Send `Access-Control-Allow-Credentials: true` (with `*` origins, the request's origin is echoed instead of `*`).")),
        ("private_network", Boolean(required=True, default=False,
                                    description="Answer `Access-Control-Allow-Private-Network: true` to preflights that ask for private network access.")),
        ("preflight_continue", Boolean(required=True, default=False,
                                       description="Pass preflight requests to the upstream instead of answering them.")),
        ("allow_origin_absent", Boolean(required=True, default=True,
                                        description="Add CORS headers to responses even when the request has no `Origin` header.")),
    ],
    nullable=False,
    description="Which cross-origin requests browsers may make.",
)


def _normalize_origin(origin: str) -> tuple[str, str]:
    """(origin without default port, host) as Kong's normalize_origin computes them."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return origin, origin
    if not parts.scheme or not host:
        return origin, origin
    if (parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443):
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}", host


class _Origin:
    __slots__ = ("regex", "domain", "by_host")

    def __init__(self, entry: str) -> None:
        self.by_host = ":" not in entry
        if not _PLAIN.match(entry):
            # Kong anchors user regexes at both ends
            pattern = entry if entry.endswith("$") else entry + "$"
            pattern = pattern[1:] if pattern.startswith("^") else pattern
            self.regex: re.Pattern[str] | None = compile_pcre(pattern)
            self.domain = ""
        else:
            self.regex = None
            self.domain = _normalize_origin(entry)[0]

    def matches(self, domain: str, host: str) -> bool:
        if self.regex is not None:
            return self.regex.match(host if self.by_host else domain) is not None
        return domain == self.domain


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


class CorsHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        origins = list(config.get("origins") or [])
        self.origins = origins
        self.single = origins[0] if len(origins) == 1 and _PLAIN.match(origins[0]) else None
        self.matchers = [_Origin(o) for o in origins if o != "*"]
        methods = config.get("methods")
        self.methods = ",".join(methods) if methods else ",".join(METHODS)

    def _configure_origin(self, req_origin: str | None, headers: MutableMultiMapping[str], in_filter: bool) -> bool:
        """Set Access-Control-Allow-Origin; True when every origin is allowed (``*``)."""
        if not self.origins or self.origins == ["*"]:
            headers["Access-Control-Allow-Origin"] = "*"
            return True
        _vary(headers, in_filter)
        if self.single is not None:
            headers["Access-Control-Allow-Origin"] = self.single
            return False
        if req_origin:
            if "*" in self.origins:
                headers["Access-Control-Allow-Origin"] = "*"
                return True
            domain, host = _normalize_origin(req_origin)
            for m in self.matchers:
                if m.matches(domain, host):
                    headers["Access-Control-Allow-Origin"] = domain
                    return False
        headers.popall("Access-Control-Allow-Origin", None)
        return False

    def _configure_credentials(self, allow_all: bool, req_origin: str | None, headers: MutableMultiMapping[str], in_filter: bool) -> None:
        if not self.config.get("credentials"):
            return
        if not allow_all:
            headers["Access-Control-Allow-Credentials"] = "true"
            return
        if req_origin:  # "*" cannot go with credentials: echo the origin
            _vary(headers, in_filter)
            headers["Access-Control-Allow-Origin"] = req_origin
            headers["Access-Control-Allow-Credentials"] = "true"

    async def access(self, ctx: RequestContext) -> None:
        req_origin = ctx.headers.get("Origin")
        if ctx.method != "OPTIONS" or not req_origin or not ctx.headers.get("Access-Control-Request-Method"):
            return
        ctx.plugin_ctx(self)["preflight"] = True  # the answer (ours or the upstream's) gets no more headers
        if self.config.get("preflight_continue"):
            ctx.decisions.append(Decision(NAME, "pass", f"preflight from {req_origin} passed to the upstream"))
            return
        headers: CIMultiDict[str] = CIMultiDict()
        allow_all = self._configure_origin(req_origin, headers, False)
        self._configure_credentials(allow_all, req_origin, headers, False)
        conf_headers = self.config.get("headers")
        if conf_headers:
            headers["Access-Control-Allow-Headers"] = ",".join(conf_headers)
        else:
            acrh = ctx.headers.get("Access-Control-Request-Headers")
            if acrh:
                headers["Access-Control-Allow-Headers"] = acrh
        headers["Access-Control-Allow-Methods"] = self.methods
        if self.config.get("max_age") is not None:
            headers["Access-Control-Max-Age"] = _num(self.config["max_age"])
        if self.config.get("private_network") and ctx.headers.get("Access-Control-Request-Private-Network") == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"
        allowed = "Access-Control-Allow-Origin" in headers
        ctx.decisions.append(Decision(NAME, "pass" if allowed else "reject",
                                      f"preflight from {req_origin} answered ({'origin allowed' if allowed else 'origin not allowed'})",
                                      {"origin": req_origin, "allowed": allowed, "status": 200}))
        raise PluginExit(200, None, dict(headers))

    def header_filter(self, ctx: RequestContext, resp: ResponseContext) -> None:
        if ctx.plugin_ctx(self).get("preflight"):
            return
        req_origin = ctx.headers.get("Origin")
        if not req_origin and not self.config.get("allow_origin_absent", True):
            return
        allow_all = self._configure_origin(req_origin, resp.headers, True)
        self._configure_credentials(allow_all, req_origin, resp.headers, True)
        exposed = self.config.get("exposed_headers")
        if exposed:
            resp.headers["Access-Control-Expose-Headers"] = ",".join(exposed)
        ctx.decisions.append(Decision(NAME, "pass", f"CORS headers for origin {req_origin or '(none)'}",
                                      {"origin": req_origin,
                                       "allow_origin": resp.headers.get("Access-Control-Allow-Origin")}))


def _vary(headers: MutableMultiMapping[str], in_filter: bool) -> None:
    # the answer depends on Origin (caches must know); in the response phase it is added to
    # what the upstream sent, on our own preflight answer it is set
    if in_filter:
        if "Origin" not in [v.strip() for v in ",".join(headers.getall("Vary", [])).split(",")]:
            headers.add("Vary", "Origin")
    else:
        headers["Vary"] = "Origin"


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Allow browsers to call the API from other origins: CORS headers and preflight answers.",
    handler=CorsHandler,
    no_consumer=True,
)
