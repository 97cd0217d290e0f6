"""Path and host rules shared by route validation and the router.

Kong normalizes request paths before matching (kong/tools/uri.lua) and requires prefix paths on
routes to be stored already normalized; regex paths are PCRE, which we translate to Python's
``re`` dialect here, once, for both validation and matching.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Kong (kong/tools/uri.lua) decodes every %-triplet except these reserved characters, which it
# only upper-cases. Non-ASCII bytes stay encoded here: Python strings are text, not bytes.
RESERVED = frozenset("!#$%&'()*+,/:;=?@[]")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_RFC3986 = re.compile(r"^/[A-Za-z0-9\-._~/%:@!$&'()*+,;=]*$")
_GOOD_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
# Characters a decoded %-triplet must not turn into inside a regex path (Kong's migration escapes them).
REGEX_META = frozenset("\\^$.|?*+()[]{}-")


def _decode_unreserved(path: str, escape_meta: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        code = int(m.group(1), 16)
        ch = chr(code)
        if ch in RESERVED or code >= 0x80:
            return "%" + m.group(1).upper()
        if escape_meta and ch in REGEX_META:
            return "\\" + ch
        return ch

    return _PCT.sub(sub, path)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    out: list[str] = []
    inp = path
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./"):
            inp = inp[2:]
        elif inp == "/.":
            inp = "/"
        elif inp.startswith("/../"):
            inp = inp[3:]
            if out:
                out.pop()
        elif inp == "/..":
            inp = "/"
            if out:
                out.pop()
        elif inp in (".", ".."):
            inp = ""
        else:
            start = 1 if inp.startswith("/") else 0
            idx = inp.find("/", start)
            if idx == -1:
                out.append(inp)
                inp = ""
            else:
                out.append(inp[:idx])
                inp = inp[idx:]
    return "".join(out)


_SLASHES = re.compile(r"//+")


@lru_cache(maxsize=4096)
def normalize_path(path: str) -> str:
    """Kong's request-path normalization: %-triplets uppercased, unreserved characters decoded,
    dot segments removed, duplicate slashes merged."""
    if "%" in path:
        path = _decode_unreserved(path)
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "." in path:
        path = remove_dot_segments(path)
    return path or "/"


def normalize_regex_path(path: str) -> str:
    """Regex route paths get only the %-decoding step; decoded metacharacters are escaped."""
    return _decode_unreserved(path, escape_meta=True) if "%" in path else path


_NAMED_GROUP = re.compile(r"\(\?<(?![=!])([A-Za-z_][A-Za-z0-9_]*)>")


@lru_cache(maxsize=4096)
def compile_pcre(pattern: str) -> re.Pattern[str]:
    """Compile a PCRE route regex with Python's ``re``: ``(?<name>...)`` becomes ``(?P<name>...)``.

    Raises ``re.error`` when the pattern does not compile.
    """
    py = _NAMED_GROUP.sub(r"(?P<\1>", pattern)
    return re.compile(py)


def _percent_error(path: str) -> str | None:
    """Kong's check that every ``%`` starts a valid triplet; the message quotes the bad part."""
    raw = _GOOD_PCT.sub("___", path)
    idx = raw.find("%")
    if idx == -1:
        return None
    return f"invalid url-encoded value: '{raw[idx:idx + 3]}'"


START_ERR = "should start with: / (fixed path) or ~/ (regex path)"


def validate_route_path(path: str) -> str | None:
    """Kong's checks for one entry of ``route.paths`` (typedefs.router_path), in Kong's order;
    returns the error message or None."""
    if "//" in path:
        return "must not have empty segments"
    if not (path.startswith("/") or path.startswith("~/")):
        return START_ERR
    if path.startswith("~"):
        regex = path[1:]
        try:
            compile_pcre(regex)
        except re.error as exc:
            return f"invalid regex: '{regex}' (PCRE returned: {exc})"
        return None
    # Characters outside RFC 3986 are tolerated on routes (Kong only reports bad %-encoding,
    # and only when the rest of the path is RFC 3986 clean).
    if _RFC3986.match(path):
        err = _percent_error(path)
        if err:
            return err
    norm = normalize_path(path)
    if norm != path:
        return f"non-normalized path, consider use '{norm}' instead"
    return None


def validate_service_path(path: str) -> str | None:
    """typedefs.path: starts_with "/", no empty segments, RFC 3986 characters, valid %-encoding."""
    if not path.startswith("/"):
        return "should start with: /"
    if "//" in path:
        return "must not have empty segments"
    if not _RFC3986.match(path):
        return f"invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
    return _percent_error(path)


def migrate_path_v2(path: str) -> str:
    """What Kong does to a route path of a ``_format_version`` 1.1/2.1 file: a path made only of
    ``[a-zA-Z0-9.-_~/%]`` is a prefix (normalized); anything else was a regex and gets ``~``."""
    if _PLAIN_PATH.match(path):
        return normalize_path(path)
    return "~" + normalize_regex_path(path)


_PLAIN_PATH = re.compile(r"^[a-zA-Z0-9.\-_~/%]*$")


_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?$")
_HOSTNAME_CHARS = re.compile(r"^[A-Za-z0-9\-._]+$")
_V4ISH = re.compile(r"^[\d.]+$")
_HEX4 = re.compile(r"^[0-9A-Fa-f]{1,4}$")


def hostname_type(name: str) -> str:
    """Kong's ``hostname_type``: decided by exclusion, not validation."""
    if name.count(":") > 1:
        return "ipv6"
    if _V4ISH.match(name.replace(":", "")):
        return "ipv4"
    return "name"


def _check_ipv4(address: str) -> tuple[str | None, int | None, str | None]:
    m = _IPV4.match(address)
    if not m or any(int(x) > 255 for x in m.groups()[:4]):
        return None, None, f"invalid ipv4 address: {address}"
    port = int(m.group(5)) if m.group(5) is not None else None
    if port is not None and port > 65535:
        return None, None, "invalid port number"
    return ".".join(str(int(x)) for x in m.groups()[:4]), port, None


def _check_ipv6(address: str) -> tuple[str | None, int | None, str | None]:
    port: int | None = None
    check = address
    m = re.match(r"^\[([^\]]*)\](.*)$", address)
    if m:
        check, rest = m.group(1), m.group(2)
        if rest:
            pm = re.match(r"^:(\d+)$", rest)
            if not pm:
                return None, None, "invalid ipv6 address"
            port = int(pm.group(1))
            if port > 65535:
                return None, None, "invalid port number"
    if check.startswith(":"):
        check = "0" + check
    if check.endswith(":"):
        check = check + "0"
    if "::" in check:
        check = check.replace("::", ":" + "0:" * (8 - check.count(":")), 1)
    groups = check.split(":")
    if len(groups) != 8 or not all(_HEX4.match(g) for g in groups):
        return None, None, f"invalid ipv6 address: {address}"
    return ":".join(g.lower().rjust(4, "0") for g in groups), port, None


def _check_hostname(address: str) -> tuple[str | None, int | None, str | None]:
    name, port = address, None
    m = re.search(r":(\d+)$", address)
    if m:
        name = address[: m.start()]
        port = int(m.group(1))
        if port > 65535:
            return None, None, "invalid port number"
    if not _HOSTNAME_CHARS.match(name):
        return None, None, f"invalid hostname: {address}"
    # Labels may start with '-' (punycode) but not end with it; no empty labels.
    if any(label.endswith("-") or label == "" for label in name.split(".")):
        return None, None, f"invalid hostname: {address}"
    return name, port, None


def normalize_ip(address: str) -> tuple[str | None, int | None, str | None, str]:
    """Kong's ``normalize_ip``: (host, port, error, type) for ipv4/ipv6/name with optional port."""
    kind = hostname_type(address)
    check = {"ipv4": _check_ipv4, "ipv6": _check_ipv6, "name": _check_hostname}[kind]
    host, port, err = check(address)
    return host, port, err, kind


def _is_ipv6(h: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(h.strip("[]"))
        return True
    except ValueError:
        return False


def split_host_port(value: str) -> tuple[str, int | None, str | None]:
    """Split ``host[:port]`` (IPv6 in brackets). Returns (host, port, error)."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return value, None, f"invalid value: {value}"
        host, rest = value[: end + 1], value[end + 1 :]
    elif value.count(":") > 1:
        return value, None, None  # bare IPv6
    else:
        host, sep, rest = value.partition(":")
        rest = ":" + rest if sep else ""
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit():
            return host, None, f"invalid port number: {rest[1:]}"
        port = int(rest[1:])
        if not 0 <= port <= 65535:
            return host, None, f"invalid port number: {port}"
        return host, port, None
    return host, None, None


def validate_host(value: str) -> str | None:
    """typedefs.host: a hostname or IP, without a port."""
    _host, port, err, _kind = normalize_ip(value)
    if err == "invalid port number" or (err is None and port is not None):
        return "must not have a port"
    if err:
        return f"invalid value: {value}"
    return None


def validate_host_with_optional_port(value: str) -> str | None:
    return normalize_ip(value)[2]


def validate_route_host(value: str) -> str | None:
    """typedefs.hosts element: at most one ``*``, as the whole leftmost or rightmost label;
    otherwise a hostname/IP with an optional port."""
    if value.count("*") > 1:
        return "invalid wildcard: must have at most one wildcard"
    if "*" in value and not (value.startswith("*.") or value.endswith(".*")):
        return "invalid wildcard: must be placed at leftmost or rightmost label"
    return validate_host_with_optional_port(value.replace("*", "abc"))


def validate_wildcard_host(value: str) -> str | None:
    """typedefs.wildcard_host (SNI names): one ``*`` at either end, a name, no port."""
    idx = value.find("*")
    if idx != -1:
        if idx not in (0, len(value) - 1):
            return "wildcard must be leftmost or rightmost character"
        if value.count("*") > 1:
            return "only one wildcard must be specified"
        value = value.replace("*", "wildcard")
    _host, port, err, kind = normalize_ip(value)
    if err and err != "invalid port number":
        return f"invalid value: {value}"
    if kind != "name":
        return "must not be an IP"
    if err == "invalid port number" or port is not None:
        return "must not have a port"
    return None
