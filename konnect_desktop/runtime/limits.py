"""The proxy's limits on what a client may send, with Kong's (nginx's) names and defaults.

Kong runs behind nginx, which refuses a request head that is too slow (``client_header_timeout``
→ 408) or too large (``large_client_header_buffers``: each line must fit one buffer, the whole
head all of them), and a body over ``client_max_body_size`` (413). A body the gateway must read
whole (a plugin asks for it, the in-process echo answers with it) is kept in memory up to
``client_body_buffer_size`` and spooled to a temporary file beyond it, as nginx does.

``ProxyLimits`` is set on ``LocalRuntime(limits=...)`` and by ``gateway run``'s options; sizes
may be written as nginx does (``8k``, ``1m``, ``0`` for "no limit" where nginx allows it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_size(value: str | int, field: str) -> int:
    """nginx's size syntax (``8k``, ``10m``, ``1024``) → bytes; a clear error naming ``field``."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field}: expected a size >= 0, got {value}")
        return value
    m = _SIZE_RE.match(value)
    if m is None:
        raise ValueError(f"{field}: expected a size such as 8k, 1m or 1024, got {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def parse_header_buffers(value: str) -> tuple[int, int]:
    """``large_client_header_buffers``: ``"4 8k"`` → (4, 8192)."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
        raise ValueError(f"large_client_header_buffers: expected NUMBER SIZE such as '4 8k', got {value!r}")
    size = parse_size(parts[1], "large_client_header_buffers")
    if size < 64:
        raise ValueError("large_client_header_buffers: the buffer size must be at least 64 bytes")
    return int(parts[0]), size


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """What one client request may take (nginx's defaults, as Kong ships them)."""

    client_header_timeout: float = 60.0  # seconds to send the whole request head → 408
    header_buffers: int = 4  # large_client_header_buffers: number ...
    header_buffer_size: int = 8192  # ... and size; one line must fit one buffer → 494
    # Not an nginx setting (nginx bounds the count only through the buffers): a head of many tiny
    # headers costs per header, so their number is capped too (→ 431). Kong's own
    # ``lua_max_req_headers`` (100) only truncates what plugins see; this is well above it.
    max_request_headers: int = 1000
    client_body_buffer_size: int = 8192  # a body read whole stays in memory up to this ...
    client_max_body_size: int = 0  # ... and over this is refused with 413 (0: no limit, Kong's default)
    echo_max_body: int = 1024 * 1024  # the in-process echo echoes at most this much of a body

    @property
    def max_head(self) -> int:
        """The whole request head (request line + header lines) must fit all the buffers."""
        return self.header_buffers * self.header_buffer_size

    def __post_init__(self) -> None:
        if not self.client_header_timeout > 0:
            raise ValueError("client_header_timeout: expected a number of seconds > 0")
        if self.max_request_headers < 1:
            raise ValueError("max_request_headers: expected a number >= 1")
        for name in ("header_buffers", "header_buffer_size", "client_body_buffer_size",
                     "client_max_body_size", "echo_max_body"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a size >= 0")


DEFAULT_LIMITS = ProxyLimits()
