"""Path and host rules shared by route validation and the router.

Kong normalizes request paths before matching (kong/tools/uri.lua) and requires prefix paths on
routes to be stored already normalized; regex paths are PCRE, which we translate to Python's
``re`` dialect here, once, for both validation and matching.
"""

from __future__ import annotations

import re
from functools import lru_cache

UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_RFC3986 = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
REGEX_META = frozenset("\\^$.|?*+()[]{}")


def _decode_unreserved(path: str, escape_meta: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        if ch in UNRESERVED:
            if escape_meta and ch in REGEX_META:
                return "\\" + ch
            return ch
        return "%" + m.group(1).upper()

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
_POSSESSIVE = re.compile(r"(?<!\\)([*+?}])\+")


@lru_cache(maxsize=4096)
def compile_pcre(pattern: str) -> re.Pattern[str]:
    """Compile a PCRE route regex with Python's ``re``: ``(?<name>...)`` becomes ``(?P<name>...)``.

    Raises ``re.error`` when the pattern does not compile.
    """
    py = _NAMED_GROUP.sub(r"(?P<\1>", pattern)
    return re.compile(py)


def validate_route_path(path: str) -> str | None:
    """Kong's checks for one entry of ``route.paths``; returns the error message or None."""
    if path.startswith("~"):
        regex = path[1:]
        if not regex.startswith("/"):
            return "should start with: / (fixed path) or ~/ (regex path)"
        try:
            compile_pcre(regex)
        except re.error as exc:
            return f"invalid regex: '{regex}' (PCRE returned: {exc})"
        return None
    if not path.startswith("/"):
        return "should start with: / (fixed path) or ~/ (regex path)"
    if not _RFC3986.match(path):
        return f"invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
    if _BAD_PCT.search(path):
        return f"invalid url-encoded value: '{path}'"
    if "//" in path:
        return "must not have empty segments"
    norm = normalize_path(path)
    if norm != path:
        return f"non-normalized path, consider use '{norm}' instead"
    return None


def validate_service_path(path: str) -> str | None:
    if not path.startswith("/"):
        return "should start with: /"
    if not _RFC3986.match(path):
        return f"invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
    if _BAD_PCT.search(path):
        return f"invalid url-encoded value: '{path}'"
    if "//" in path:
        return "must not have empty segments"
    return None


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


def _is_ipv4(h: str) -> bool:
    m = _IPV4.match(h)
    return bool(m) and all(0 <= int(x) <= 255 for x in m.groups())


def _is_ipv6(h: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(h.strip("[]"))
        return True
    except ValueError:
        return False


def _is_hostname(h: str) -> bool:
    if not h or len(h) > 253:
        return False
    labels = h.rstrip(".").split(".")
    return all(_LABEL.match(label) for label in labels)


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
        host, _, rest = value.partition(":")
        rest = ":" + rest if _ else ""
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit():
            return host, None, f"invalid port number: {rest[1:]}"
        port = int(rest[1:])
        if not 0 <= port <= 65535:
            return host, None, f"invalid port number: {port}"
        return host, port, None
    return host, None, None


def validate_host(value: str) -> str | None:
    """A service host: hostname or IP, no port."""
    host, port, err = split_host_port(value)
    if err:
        return err
    if port is not None:
        return "must not have a port"
    if _is_ipv4(host) or _is_ipv6(host) or _is_hostname(host):
        return None
    return f"invalid value: {value}"


def validate_route_host(value: str) -> str | None:
    """A route host: hostname/IP with optional port; one ``*`` as a whole leftmost or rightmost label."""
    host, _port, err = split_host_port(value)
    if err:
        return err
    if "*" in host:
        if host.count("*") > 1:
            return "invalid wildcard: must have at most one wildcard"
        if not (host.startswith("*.") or host.endswith(".*")):
            return "invalid wildcard: must be placed at leftmost or rightmost label"
        rest = host[2:] if host.startswith("*.") else host[:-2]
        return None if _is_hostname(rest) else f"invalid hostname: {value}"
    if _is_ipv4(host) or _is_ipv6(host) or _is_hostname(host):
        return None
    return f"invalid hostname: {value}"
