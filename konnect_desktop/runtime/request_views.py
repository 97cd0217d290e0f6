"""Cheap read-only views of a parsed request for the router and the plugins' context: header
conditions decoded only if a route asks, the query parsed only if a plugin reads it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from multidict import MultiDict


def parse_query(query: str | None) -> MultiDict[str]:
    return MultiDict(parse_qsl(query, keep_blank_values=True)) if query else MultiDict()


class HeaderView:
    """Request headers for the router's header conditions, decoded only if a route asks."""

    __slots__ = ("_raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._map: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        # names compare case-insensitively and with '_' = '-' (Kong's router does the same)
        m: dict[str, list[str]] = {}
        for k, v in self._raw:
            m.setdefault(k.decode("latin-1").lower().replace("_", "-"), []).append(v.decode("latin-1"))
        self._map = m
        return m

    def get(self, name: str, default: Any = None) -> Any:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), default)

    def getall(self, name: str, default: Any = ()) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m.get(name.lower().replace("_", "-"), list(default))

    def __contains__(self, name: object) -> bool:
        m = self._map if self._map is not None else self._build()
        return isinstance(name, str) and name.lower().replace("_", "-") in m

    def __getitem__(self, name: str) -> list[str]:
        m = self._map if self._map is not None else self._build()
        return m[name.lower().replace("_", "-")]

    def items(self) -> Any:
        m = self._map if self._map is not None else self._build()
        return m.items()
