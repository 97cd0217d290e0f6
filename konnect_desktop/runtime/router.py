"""The router of the local data plane: Kong 3.x ``traditional_compatible`` semantics, in Python.

The proxy calls :meth:`Router.match` for every request; :meth:`Router.compile` runs once per
configuration change (the data plane swaps the compiled router atomically). Everything here is
pure: no I/O, no clock, no globals besides constants.

What Kong does and where we read it (Kong/kong master, 3.9/3.10):

* ``kong/router/transform.lua`` turns each route into an ATC expression and a 64-bit priority
  (``get_expression``, ``get_priority``) and splits a route whose paths fall into several groups
  (all regexes together, each prefix length apart) into one matcher per group
  (``split_routes_and_services_by_path``). The split matchers get derived ids: a UUID v5 of
  ``"<route id>#<group number>"`` in namespace ``7f145bf9-0dce-4f91-98eb-debbce4b9f6b``; those
  derived ids take part in the UUID tie-break, so we derive them the same way.
* ``Kong/atc-router`` keeps matchers ordered by (priority, uuid) and tries them in descending
  order; the first whose expression holds wins. So on an exact priority tie the larger UUID wins.
* ``kong/router/atc.lua`` + ``fields.lua``: the request host is split at the first ``:``
  (a non-numeric rest means "no port", so ``[::1]:80`` stays whole); ``net.dst.port`` is the
  port from the Host header, else the port the proxy listens on. Header values are lower-cased
  and matched with ``any(lower(http.headers.<name>))``; header names are case-insensitive and
  ``_`` equals ``-``. ``~*`` header values are regexes, and Kong lower-cases the regex text
  itself too (so ``~*\\D`` becomes ``\\d``): we do the same. SNI conditions only apply to
  ``https`` requests (``net.protocol != "https" || tls.sni == ...``).
* Host case: ATC compares ``http.host`` byte for byte (``==``, ``^=`` prefix, ``=^`` suffix)
  against the raw Host header and the hosts as stored on the route; nothing lower-cases either
  side. So **host matching is case-sensitive** (``Example.com`` does not match a route host
  ``example.com``), exactly as in Kong 3.x with this flavor. What Kong never says, we do:
  :meth:`Router.host_case_note` names the route a request would have matched but for case or a
  trailing dot (the proxy puts it on the traffic entry).
* Protocols do not take part in matching: an ``https``-only route also matches plain http, and
  the proxy answers with the route's ``https_redirect_status_code`` (``Match.redirect_status``);
  this is kong/runloop/handler.lua's access phase.
* Routes whose service has ``enabled: false`` are left out of the router (handler.lua
  ``new_router``: "routes where the services.enabled == false are not put in router"), so such a
  request gets the ordinary 404. Routes without a service are kept (``Match.service is None``).
* Regex paths: ``^`` is prepended (anchored at the start only) and the regex is searched in the
  normalized path; Kong compiles them with Rust's ``regex`` crate, which rejects look-around and
  back-references, so such routes never match in Kong (the matcher cannot be added); we drop them
  too and list them in :attr:`Router.errors`.
* ``kong/router/utils.lua`` ``get_upstream_uri_v0`` joins service.path and the request path
  (``traditional_compatible`` always uses v0 path handling).

Priority: we order matchers by the documented layout of ``get_priority`` (most significant
first): match weight (number of non-empty fields among methods/hosts/headers/snis/paths),
plain-host-only, header count (capped at 255), regex bit, regex_priority (regex groups only),
prefix length in bytes (capped at 2**19-1); then the matcher UUID. We compare them as a tuple, so
negative ``regex_priority`` values simply sort lower.

A known deviation, on purpose: in Kong itself ``lshift_uint64`` rebinds its upvalue instead of
converting, so the weight, header-count and regex_priority shifts run as LuaJIT 32-bit ``bit``
operations (``bit.lshift(2, 61)`` is ``2 << 29``). Run under LuaJIT 2.1, the real values put
the plain-host bit (60) and the regex bit (51) above the match weight, and give routes with
weight >= 4 or a negative regex_priority a sign-extended, top priority. We follow the documented
order above (which every case of Kong's router spec also satisfies); the two differ only when
a plain-host or regex route with fewer fields competes with a heavier route, or for weight >= 4.

Speed: compile once; index matchers by host (exact / ``*.x`` suffix / ``x.*`` prefix / none) and
inside each host bucket by literal path prefix (prefix paths, and the literal head of regex
paths), so a request only looks at the few matchers that could hold; each bucket list is in
priority order, so scanning stops at the first hit. Results are memoized in a bounded LRU keyed on
everything the decision depends on (method, host, path, scheme, port, SNI and only the header
values that some route looks at), as Kong does.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, cast

from ..jsontypes import JSONObject
from ..model.paths import compile_pcre, normalize_path, normalize_regex_path
from ..model.schema import foreign_id

__all__ = ["Match", "Router", "normalize_request_path", "split_host_port", "upstream_path_v0"]

HTTP_SUBSYSTEM_PROTOCOLS = frozenset({"http", "https", "grpc", "grpcs"})
SPLIT_ROUTE_NAMESPACE = uuid.UUID("7f145bf9-0dce-4f91-98eb-debbce4b9f6b")
MAX_HEADER_COUNT = 255
MAX_PREFIX_LENGTH = 0x7FFFF
DEFAULT_CACHE_SIZE = 5000


@dataclass(frozen=True, slots=True)
class Match:
    route: JSONObject
    service: JSONObject | None
    uri_captures: dict[int | str, str]  # numbered groups from 0, and named ones
    request_path: str
    upstream_path: str
    stripped_prefix: str | None
    redirect_status: int | None


# -- helpers shared with tests ----------------------------------------------------------------

_PORT_DIGITS = re.compile(r"[0-9]+")


def split_host_port(value: str | None) -> tuple[str | None, int | None]:
    """Kong's split: at the first ``:``; the rest must be a number, else there is no port."""
    if not value:
        return None, None
    idx = value.find(":")
    if idx == -1:
        return value, None
    rest = value[idx + 1 :]
    if not _PORT_DIGITS.fullmatch(rest):
        return value, None
    return value[:idx], int(rest)


# Kong's ``escape`` (kong/tools/uri.lua): anything outside these is %-encoded (UTF-8 bytes).
_UNSAFE = re.compile(r"[^!#$&'()*+,/:;=?@\[\]A-Za-z0-9\-_.~%]")


def _escape_char(m: re.Match[str]) -> str:
    # The proxy hands us the request line decoded as latin-1 (one char per byte), so a char
    # below 256 is one byte, as Kong sees it; anything wider came from Python and goes as UTF-8.
    c = m.group(0)
    if ord(c) < 256:
        return f"%{ord(c):02X}"
    return "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(value: str) -> str:
    """Lua's ``string.lower``: ASCII letters only."""
    return value.lower() if value.isascii() else value.translate(_ASCII_LOWER)


@lru_cache(maxsize=8192)
def normalize_request_path(raw: str) -> str:
    """What Kong matches and forwards: the path without query, %-normalized, dot segments and
    duplicate slashes removed, and unsafe characters %-encoded (``normalize`` = escape∘unescape)."""
    q = raw.find("?", 1)
    if q != -1:
        raw = raw[:q]
    path = normalize_path(raw)
    if _UNSAFE.search(path):
        path = _UNSAFE.sub(_escape_char, path)
    return path


def _sanitize_postfix(postfix: str) -> str:
    if not postfix:
        return ""
    if postfix in (".", ".."):
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


def upstream_path_v0(strip_path: bool, postfix: str, request_path: str, base: str) -> str:
    """kong/router/utils.lua ``get_upstream_uri_v0``: service.path ⊕ request path."""
    if base.endswith("/"):
        if strip_path:
            if postfix == "":
                if base == "/":
                    return "/"
                if request_path.endswith("/"):
                    return base
                return base[:-1]
            if postfix.startswith("/"):
                return base[:-1] + postfix
            return base + postfix
        return base + request_path[1:]
    if strip_path:
        if postfix == "":
            if len(request_path) > 1 and request_path.endswith("/"):
                return base + "/"
            return base
        if postfix.startswith("/"):
            return base + postfix
        return base + "/" + postfix
    if request_path == "/":
        return base
    return base + request_path


def _uuid_int(value: str) -> int:
    try:
        return uuid.UUID(value).int
    except (ValueError, AttributeError, TypeError):
        # Not a UUID (hand-written tests): order by the text, still deterministic.
        return int.from_bytes(str(value).encode("utf-8")[:64].ljust(64, b"\0"), "big")


# Rust's regex crate has none of these; Kong cannot add a matcher that uses them.
_RUST_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|\\[1-9]|\\k<|[*+?}]\+")


def _literal_prefix(regex: str) -> str:
    """The literal text every match of ``^regex`` must start with ("" when unsure)."""
    if "|" in regex:
        return ""
    out: list[str] = []
    i, n = 0, len(regex)
    while i < n:
        c = regex[i]
        if c in ".^$*+?{}[]()|":
            break
        if c == "\\":
            nxt = regex[i + 1 : i + 2]
            if not nxt or nxt.isalnum():
                break  # a class (\d, \w ...) or an escape we do not interpret
            lit, step = nxt, 2
        else:
            lit, step = c, 1
        after = regex[i + step : i + step + 1]
        if after in ("?", "*", "{"):
            break
        out.append(lit)
        i += step
        if after == "+":
            break
    return "".join(out)


def _required_literal(rx: re.Pattern[str]) -> str:
    """The longest literal run outside groups and classes that every match must contain, so a
    cheap substring test can skip the regex ("" when unsure: alternation, flags that change
    literal meaning)."""
    if rx.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    text = rx.pattern
    best = ""
    run: list[str] = []
    depth = 0
    in_class = False
    i, n = 0, len(text)

    def flush() -> None:
        nonlocal best
        if len(run) > len(best):
            best = "".join(run)
        run.clear()

    while i < n:
        c = text[i]
        if in_class:
            if c == "\\":
                i += 2
                continue
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt and nxt in "xuUN0123456789":
                return ""  # a char code or back-reference: do not guess
            if depth == 0 and nxt and not nxt.isalnum():
                lit, step = nxt, 2
            else:
                flush()
                i += 2
                continue
        elif c == "[":
            flush()
            in_class = True
            i += 1
            continue
        elif c == "(":
            flush()
            depth += 1
            i += 1
            continue
        elif c == ")":
            depth -= 1
            i += 1
            continue
        elif c == "|":
            if depth == 0:
                return ""
            i += 1
            continue
        elif c == "{":
            flush()
            end = text.find("}", i)
            i = n if end == -1 else end + 1  # a repeat count is not literal text
            continue
        elif c in ".^$*+?}":
            flush()
            i += 1
            continue
        else:
            lit, step = c, 1
        if depth > 0:
            i += step
            continue
        after = text[i + step : i + step + 1]
        if after in ("?", "*", "{"):
            flush()
        else:
            run.append(lit)
            if after == "+":
                flush()
        i += step
    flush()
    return best


class HeaderValues(Protocol):
    """What the router reads request headers through: ``getall`` with a default, case-insensitive
    (a ``CIMultiDict``, or ``_Headers`` over a plain mapping)."""

    def getall(self, key: str, default: tuple[()], /) -> list[str] | tuple[()]: ...


# request headers as callers give them: a ``getall`` view, or a plain mapping (tests pass dicts)
Headers = HeaderValues | Mapping[str, str | list[str] | tuple[str, ...]] | None


def _header_values(headers: Headers) -> HeaderValues | None:
    if headers is None:
        return None
    if hasattr(headers, "getall"):  # a multidict (a Mapping too, so isinstance cannot tell them apart)
        return cast(HeaderValues, headers)
    return _Headers(headers)


class _Headers:
    """A case-insensitive ``getall`` view over a plain mapping (tests pass dicts)."""

    __slots__ = ("_d",)

    def __init__(self, headers: Mapping[str, str | list[str] | tuple[str, ...]]) -> None:
        d: dict[str, list[str]] = {}
        for k, v in headers.items():
            vals = d.setdefault(k.lower(), [])
            if isinstance(v, (list, tuple)):
                vals.extend(v)
            else:
                vals.append(v)
        self._d = d

    def getall(self, key: str, default: tuple[()] = (), /) -> list[str] | tuple[()]:
        return self._d.get(key.lower(), default)


# -- compiled matchers ----------------------------------------------------------------------------

_NO_PATH = ("", None)  # what a matcher without paths "matched"


class _Matcher:
    __slots__ = (
        "route", "service", "mid", "rank", "sort_key",
        "methods", "hosts", "headers", "snis", "prefixes", "regexes",
        "strip_path", "base", "redirect_status", "need",
    )
    # set by Router._add_route (the rest in __init__)
    route: JSONObject
    service: JSONObject | None
    mid: str  # the route's id, or a split route's derived id
    rank: int
    sort_key: tuple[tuple[int, ...], int]
    strip_path: bool
    base: str
    redirect_status: int | None

    def __init__(self) -> None:
        self.methods: frozenset[str] | None = None
        # (kind, value, port): kind 0 exact, 1 suffix (value ".x.com"), 2 prefix (value "x.")
        self.hosts: tuple[tuple[int, str, int | None], ...] | None = None
        # (lookup name, exact lower-case values, lower-cased regexes)
        self.headers: tuple[tuple[str, frozenset[str], tuple[re.Pattern[str], ...]], ...] = ()
        self.snis: tuple[tuple[int, str], ...] | None = None
        self.prefixes: tuple[str, ...] = ()
        self.regexes: tuple[re.Pattern[str], ...] = ()
        # text the normalized path must contain (single-regex groups): a cheap pre-test
        self.need = ""

    def check(self, method: str, host: str | None, dport: int | None, path: str,
              headers: HeaderValues | None, scheme: str, sni: str | None) -> tuple[str, re.Match[str] | None] | None:
        """All conditions of the route's ATC expression; returns (matched path, regex match)."""
        if self.methods is not None and method not in self.methods:
            return None
        if self.hosts is not None:
            if host is None:
                return None
            for kind, value, port in self.hosts:
                if kind == 0:
                    ok = host == value
                elif kind == 1:
                    ok = host.endswith(value)
                else:
                    ok = host.startswith(value)
                if ok and (port is None or port == dport):
                    break
            else:
                return None
        if self.snis is not None and scheme == "https":
            if sni is None:
                return None
            if len(sni) > 1 and sni.endswith("."):
                sni = sni[:-1]
            for kind, value in self.snis:
                if kind == 0:
                    ok = sni == value
                elif kind == 1:
                    ok = sni.endswith(value)
                else:
                    ok = sni.startswith(value)
                if ok:
                    break
            else:
                return None
        for name, exact, regexes in self.headers:
            values = headers.getall(name, ()) if headers is not None else ()
            for v in values:
                lv = _lower(v)
                if lv in exact:
                    break
                for rx in regexes:
                    if rx.search(lv):
                        break
                else:
                    continue
                break
            else:
                return None
        if self.prefixes:
            for p in self.prefixes:
                if path.startswith(p):
                    return p, None
            return None
        if self.regexes:
            for rx in self.regexes:
                m = rx.search(path)
                if m is not None:
                    return m.group(0), m
            return None
        return _NO_PATH


class _Bucket:
    """Matchers of one host key, indexed by the literal path prefix they require."""

    __slots__ = ("by_prefix", "lengths")

    def __init__(self) -> None:
        self.by_prefix: dict[str, list[_Matcher]] = {}
        self.lengths: tuple[int, ...] = ()

    def add(self, key: str, m: _Matcher) -> None:
        lst = self.by_prefix.setdefault(key, [])
        if not lst or lst[-1] is not m:
            lst.append(m)

    def freeze(self) -> None:
        for lst in self.by_prefix.values():
            lst.sort(key=_rank)
        # every prefix length, ascending; 0 (the matchers that need no prefix) comes first
        self.lengths = tuple(sorted({len(k) for k in self.by_prefix}))


def _rank(m: _Matcher) -> int:
    return m.rank


def _nonempty(v: object) -> bool:
    return bool(v)


def _priority(route: JSONObject, paths: list[str]) -> tuple[int, ...]:
    hosts = route.get("hosts")
    headers = route.get("headers") or {}
    weight = 0
    for f in ("sources", "destinations", "methods", "hosts"):
        if _nonempty(route.get(f)):
            weight += 1
    hcount = min(len(headers), MAX_HEADER_COUNT)
    if hcount:
        weight += 1
    if _nonempty(route.get("snis")):
        weight += 1
    # Kong: ``type(hosts) == "table"`` and no ``*`` in any of them.
    plain = isinstance(hosts, list) and not any("*" in h for h in hosts)
    regex = False
    length = 0
    if paths:
        weight += 1
        if paths[0].startswith("~"):
            regex = True
        else:
            length = len(paths[0].encode("utf-8"))
    rp = int(route.get("regex_priority") or 0) if regex else 0
    return (weight, int(plain), hcount, int(regex), rp, length & MAX_PREFIX_LENGTH)


def _path_groups(paths: list[str]) -> list[list[str]]:
    """All regexes in one group, each prefix length in its own; in order of first appearance."""
    groups: dict[str | int, list[str]] = {}
    for p in paths:
        key: str | int = "~" if p.startswith("~") else len(p.encode("utf-8"))
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def _host_entry(h: str) -> tuple[int, str, int | None]:
    host, port = split_host_port(h)
    assert host is not None
    if host.startswith("*"):
        return 1, host[1:], port
    if host.endswith("*"):
        return 2, host[:-1], port
    return 0, host, port


def _sni_entry(s: str) -> tuple[int, str]:
    """transform.lua ``sni_op_transform``/``sni_val_transform``: ``*.x`` suffix, ``x.*``
    prefix; a trailing FQDN dot is not used for routing."""
    if s.endswith("*") and not s.startswith("*"):
        return 2, s[:-1]
    if len(s) > 1 and s.endswith("."):
        s = s[:-1]
    if s.startswith("*"):
        return 1, s[1:]
    return 0, s


def _service_id(route: JSONObject) -> str | None:
    return foreign_id(route.get("service"))


class Router:
    """A compiled, immutable set of routes. Build with :meth:`compile`."""

    def __init__(self) -> None:
        self.matchers: list[_Matcher] = []
        self.errors: list[str] = []
        self._exact: dict[str, _Bucket] = {}
        self._suffix: dict[str, _Bucket] = {}
        self._prefix: dict[str, _Bucket] = {}
        self._nohost = _Bucket()
        # plain (non-wildcard) route hosts as written, and folded (lower case, no trailing dot)
        # → the routes carrying them: for ``host_case_note``
        self._plain_hosts: set[str] = set()
        self._folded_hosts: dict[str, list[JSONObject]] = {}
        self._notes: dict[tuple[str, str | None], str | None] = {}
        self._header_names: tuple[str, ...] = ()
        self._cache: OrderedDict[tuple[object, ...], Match | None] = OrderedDict()
        self.cache_size = DEFAULT_CACHE_SIZE
        self.cache_hits = 0
        self.cache_misses = 0

    # -- compile ---------------------------------------------------------------------------------
    @classmethod
    def compile(cls, routes: Iterable[JSONObject], services: Mapping[str, JSONObject],
                cache_size: int = DEFAULT_CACHE_SIZE) -> Router:
        self = cls()
        self.cache_size = cache_size
        header_names: set[str] = set()
        for route in routes:
            protocols = route.get("protocols") or ["http", "https"]
            if not any(p in HTTP_SUBSYSTEM_PROTOCOLS for p in protocols):
                continue  # stream routes belong to the stream router
            rid = route.get("id")
            if not rid:
                self.errors.append("route without id skipped")
                continue
            service: JSONObject | None = None
            sid = _service_id(route)
            if sid is not None:
                service = services.get(sid)
                if service is None:
                    self.errors.append(f"could not find service for route ({rid})")
                    continue
                if service.get("enabled") is False:
                    continue  # Kong leaves these routes out of the router
                if service.get("protocol") not in HTTP_SUBSYSTEM_PROTOCOLS:
                    service = None  # Kong: a stream service cannot serve an http route
            try:
                self._add_route(route, service, header_names)
            except (re.error, ValueError, TypeError, AttributeError) as exc:
                self.errors.append(f"could not add route: {rid}, err: {exc}")
        self.matchers.sort(key=lambda m: m.sort_key, reverse=True)
        for i, m in enumerate(self.matchers):
            m.rank = i
            self._index(m)
        for b in (*self._exact.values(), *self._suffix.values(), *self._prefix.values(),
                  self._nohost):
            b.freeze()
        self._header_names = tuple(sorted(header_names))
        return self

    def _add_route(self, route: JSONObject, service: JSONObject | None, header_names: set[str]) -> None:
        rid = route["id"]
        methods = route.get("methods") or None
        hosts = route.get("hosts") or None
        headers = route.get("headers") or None
        snis = route.get("snis") or None
        paths = list(route.get("paths") or ())
        if not (methods or hosts or headers or snis or paths):
            raise ValueError("route has no matching field")
        groups = _path_groups(paths) if paths else [[]]
        protocols = route.get("protocols") or ["http", "https"]
        redirect = None
        if "https" in protocols and "http" not in protocols:
            redirect = route.get("https_redirect_status_code") or 426
        base = (service.get("path") or "/") if service is not None else "/"

        compiled_headers = []
        for name, values in (headers or {}).items():
            lookup = name.lower().replace("_", "-")
            exact: set[str] = set()
            rxs: list[re.Pattern[str]] = []
            for v in values or ():
                if v.startswith("~*"):
                    text = _lower(v[2:])
                    if _RUST_UNSUPPORTED.search(text):
                        raise ValueError(f"regex not supported: {v}")
                    rxs.append(compile_pcre(text))
                else:
                    exact.add(_lower(v))
            compiled_headers.append((lookup, frozenset(exact), tuple(rxs)))
            header_names.add(lookup)

        for index, group in enumerate(groups, start=1):
            m = _Matcher()
            m.route = route
            m.service = service
            m.methods = frozenset(methods) if methods else None
            m.hosts = tuple(_host_entry(h) for h in hosts) if hosts else None
            if index == 1:
                for kind, value, _port in m.hosts or ():
                    if kind == 0:
                        self._plain_hosts.add(value)
                        routes = self._folded_hosts.setdefault(fold_host(value), [])
                        if route not in routes:
                            routes.append(route)
            m.headers = tuple(compiled_headers)
            m.snis = tuple(_sni_entry(s) for s in snis) if snis else None
            if group and group[0].startswith("~"):
                rxs = []
                for p in group:
                    text = normalize_regex_path(p[1:])
                    if _RUST_UNSUPPORTED.search(text):
                        raise ValueError(f"regex not supported: {p}")
                    rxs.append(compile_pcre("^" + text))
                m.regexes = tuple(rxs)
                if len(rxs) == 1:
                    m.need = _required_literal(rxs[0])
            else:
                m.prefixes = tuple(group)
            m.strip_path = bool(route.get("strip_path"))
            m.base = base
            m.redirect_status = redirect
            if len(groups) > 1:
                m.mid = str(uuid.uuid5(SPLIT_ROUTE_NAMESPACE, f"{rid}#{index}"))
            else:
                m.mid = rid
            m.sort_key = (_priority(route, group), _uuid_int(m.mid))
            self.matchers.append(m)

    def _index(self, m: _Matcher) -> None:
        if m.prefixes:
            path_keys = list(dict.fromkeys(m.prefixes))
        elif m.regexes:
            path_keys = list(dict.fromkeys(_literal_prefix(rx.pattern[1:]) for rx in m.regexes))
            if "" in path_keys:
                path_keys = [""]
        else:
            path_keys = [""]
        if m.hosts is None:
            buckets = [self._nohost]
        else:
            buckets = []
            for kind, value, _port in m.hosts:
                table = (self._exact, self._suffix, self._prefix)[kind]
                b = table.get(value)
                if b is None:
                    b = table[value] = _Bucket()
                if b not in buckets:
                    buckets.append(b)
        for b in buckets:
            for key in path_keys:
                b.add(key, m)

    # -- match -----------------------------------------------------------------------------------
    def match(self, method: str, host: str | None, path: str, headers: Headers,
              scheme: str = "http", port: int | None = None,
              sni: str | None = None) -> Match | None:
        hdrs = _header_values(headers)
        if self._header_names and hdrs is not None:
            hv = tuple(tuple(hdrs.getall(n, ())) for n in self._header_names)
        else:
            hv = None
        key = (method, host, path, scheme, port, sni, hv)
        cache = self._cache
        try:
            result = cache[key]
        except KeyError:
            pass
        else:
            self.cache_hits += 1
            cache.move_to_end(key)
            return result
        self.cache_misses += 1
        result = self.match_uncached(method, host, path, hdrs, scheme, port, sni)
        cache[key] = result
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return result

    def match_uncached(self, method: str, host: str | None, path: str, headers: Headers,
                       scheme: str = "http", port: int | None = None,
                       sni: str | None = None) -> Match | None:
        hdrs = _header_values(headers)
        npath = normalize_request_path(path)
        hname, hport = split_host_port(host)
        dport = hport if hport is not None else port

        buckets: list[_Bucket] = []
        if hname is not None:
            b = self._exact.get(hname)
            if b is not None:
                buckets.append(b)
            if self._suffix:
                suffix = self._suffix
                i = hname.find(".")
                while i != -1:
                    b = suffix.get(hname[i:])
                    if b is not None:
                        buckets.append(b)
                    i = hname.find(".", i + 1)
            if self._prefix:
                prefix = self._prefix
                i = hname.find(".")
                while i != -1:
                    b = prefix.get(hname[: i + 1])
                    if b is not None:
                        buckets.append(b)
                    i = hname.find(".", i + 1)
        buckets.append(self._nohost)

        best: _Matcher | None = None
        best_rank = len(self.matchers)
        best_hit: tuple[str, re.Match[str] | None] | None = None
        plen = len(npath)
        for b in buckets:
            by_prefix = b.by_prefix
            for length in b.lengths:  # 0 first when the bucket has matchers without a prefix
                if length > plen:
                    break
                lst = by_prefix.get(npath[:length])
                if lst is None:
                    continue
                for m in lst:
                    if m.rank >= best_rank:
                        break
                    if m.need and m.need not in npath:
                        continue
                    hit = m.check(method, hname, dport, npath, hdrs, scheme, sni)
                    if hit is not None:
                        best, best_rank, best_hit = m, m.rank, hit
                        break
        if best is None or best_hit is None:
            return None
        return self._result(best, best_hit, npath, scheme)

    @staticmethod
    def _result(m: _Matcher, hit: tuple[str, re.Match[str] | None], npath: str,
                scheme: str) -> Match:
        matched, rxm = hit
        captures: dict[int | str, str] = {}
        if rxm is not None and rxm.re.groups:
            caps: dict[int | str, str] = {0: rxm.group(0)}
            for i, g in enumerate(rxm.groups(), start=1):
                if g is not None:
                    caps[i] = g
            for name, g in rxm.groupdict().items():
                if g is not None:
                    caps[name] = g
            if len(caps) > 1:  # Kong: only when a group other than the whole match took part
                captures = caps
        has_path = bool(m.prefixes or m.regexes)  # (else the matcher "matched" _NO_PATH)
        prefix = matched if (m.strip_path and has_path) else None
        pre = prefix if prefix is not None else "/"
        postfix = _sanitize_postfix(npath[len(pre):])
        upstream = upstream_path_v0(m.strip_path, postfix, npath, m.base)
        stripped = prefix if prefix is not None and prefix != "/" else None
        return Match(
            route=m.route,
            service=m.service,
            uri_captures=captures,
            request_path=npath,
            upstream_path=upstream,
            stripped_prefix=stripped,
            redirect_status=m.redirect_status if scheme != "https" else None,
        )

    # -- what Kong does not tell --------------------------------------------------------------------
    def host_case_note(self, host: str | None, matched: JSONObject | None) -> str | None:
        """When ``host`` (the raw Host header) equals a route's host except for case or a
        trailing dot, and that route is not the one ``matched``: a sentence saying so (Kong
        compares hosts case-sensitively, so such a request may skip that route's plugins).
        None otherwise. One set lookup for a Host that is exactly some route's host."""
        if not self._folded_hosts or not host:
            return None
        name, _port = split_host_port(host)
        if name is None or name in self._plain_hosts:
            return None
        key = (host, matched.get("id") if matched else None)
        notes = self._notes
        if key in notes:
            return notes[key]
        note = host_case_note(name, matched, self._folded_hosts.get(fold_host(name)) or ())
        if len(notes) >= 1024:
            notes.clear()
        notes[key] = note
        return note

    # -- introspection ---------------------------------------------------------------------------
    def ordered_route_ids(self) -> list[str]:
        """Matcher order (highest priority first) as route ids; split routes repeat."""
        return [m.route["id"] for m in self.matchers]

    def clear_cache(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self.matchers)


def fold_host(host: str) -> str:
    """A host as DNS compares it: lower case, without the trailing dot of an FQDN."""
    return host.lower().rstrip(".") or host


def route_label(route: JSONObject) -> str:
    return str(route.get("name") or route.get("id"))


def host_case_note(host: str, matched: JSONObject | None, near: Iterable[JSONObject]) -> str | None:
    """Pure: the note for a request whose Host ``host`` folds to the hosts of the routes
    ``near`` (see ``Router.host_case_note``), or None when ``matched`` is one of them."""
    mid = matched.get("id") if matched else None
    others = [r for r in near if r.get("id") != mid]
    if not others:
        return None
    hosts = [h for h in (others[0].get("hosts") or ()) if fold_host(split_host_port(h)[0] or "") == fold_host(host)]
    where = f"matched route {route_label(matched)}" if matched else "matched no route"
    return (f"{where}, not route {route_label(others[0])}: Kong compares hosts case-sensitively "
            f"(Host {host!r}, route host {hosts[0] if hosts else '?'!r})")
