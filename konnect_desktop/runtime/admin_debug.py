"""The Admin API's debugging endpoints: ``/timers``, ``/debug/.../log-level`` and ``/status/dns``.

Kong OSS answers these on every node (``kong/api/routes/kong.lua``, ``debug.lua``); monitoring
scripts and Kong Manager call them, so the local runtime answers them too, with what it has:

* ``GET /timers`` — Kong reports lua-resty-timer-ng's timers; the runtime's timers are the event
  loop's scheduled callbacks and tasks, reported in the same shape (``worker``, ``stats.sys``,
  ``stats.timers`` keyed by name, ``stats.flamegraph`` empty as with Kong's debug off).
* ``GET /debug/node/log-level`` → ``{"message": "log level: <level>"}``;
  ``PUT /debug/node/log-level/{level}`` (and ``/debug/cluster/log-level/{level}``: one node is
  the whole cluster) changes the ``konnect_desktop`` logger's level for ``timeout`` seconds
  (default 60, as Kong), then it returns to what it was. Levels are nginx's (debug … emerg), with
  Kong's messages for an unknown level, a negative timeout and an unchanged level.
* ``GET /status/dns`` → 501 with Kong's words for a node without its new DNS client: this
  runtime resolves through the operating system and keeps no DNS statistics.

Nothing here imports ``admin_api``: it registers handlers on the ``AdminAPI`` it is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..jsontypes import JSONObject, JSONValue

if TYPE_CHECKING:  # admin_api imports this module to register it
    from .admin_api import Call, Handler

LOGGER = "konnect_desktop"
DEFAULT_TIMEOUT = 60  # seconds, Kong's DEFAULT_LOG_LEVEL_TIMEOUT

# nginx's levels, most verbose first, and the Python level each maps to
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": 25,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "crit": logging.CRITICAL,
    "alert": logging.CRITICAL + 1,
    "emerg": logging.CRITICAL + 2,
}


def _json(status: int, body: JSONValue) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json", charset="utf-8")


def level_name(level: int) -> str:
    """The nginx name of a Python level (the nearest at or above it)."""
    for name, value in LEVELS.items():
        if level <= value:
            return name
    return "emerg"


class LogLevelControl:
    """The node's log level as the Admin API changes it, reverting after a timeout.

    ``clock`` (monotonic seconds) is injectable so the timeout is testable without waiting; the
    revert is scheduled on the loop and also applied whenever the level is read past its time."""

    def __init__(self, logger: str = LOGGER, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logging.getLogger(logger)
        self.clock = clock
        self._saved: int | None = None  # the level to return to, while a change is in force
        self._expires = math.inf
        self._timer: asyncio.TimerHandle | None = None

    def current(self) -> str:
        self.expire_if_due()
        return level_name(self.logger.getEffectiveLevel())

    def expire_if_due(self) -> None:
        if self._saved is not None and self.clock() >= self._expires:
            self.logger.setLevel(self._saved)
            self._saved = None
            self._expires = math.inf

    def set(self, name: str, timeout: float) -> None:
        if self._saved is None:
            self._saved = self.logger.level
        self.logger.setLevel(LEVELS[name])
        self._expires = self.clock() + timeout
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - handlers always run on the loop
            return
        self._timer = loop.call_later(max(timeout, 0.0), self.expire_if_due)


def register(api: Any) -> None:  # an AdminAPI; given a log_level attribute here
    """Add the debugging endpoints to an ``AdminAPI``."""
    # read through the attribute on each call: a caller (a test) may swap in its own control
    api.log_level = getattr(api, "log_level", None) or LogLevelControl()

    async def get_level(_call: Call) -> web.StreamResponse:
        return _json(200, {"message": f"log level: {api.log_level.current()}"})

    def put_level(broadcast: bool) -> Handler:
        async def handler(call: Call) -> web.StreamResponse:
            name = call.params[0]
            raw_timeout = call.arg("timeout")
            try:
                timeout = math.ceil(float(raw_timeout)) if raw_timeout is not None else DEFAULT_TIMEOUT
            except ValueError:
                timeout = DEFAULT_TIMEOUT  # Kong: tonumber() fails -> the default
            if name not in LEVELS:
                return _json(400, {"message": f"unknown log level: {name}"})
            if timeout < 0:
                return _json(400, {"message": "timeout must be greater than or equal to 0"})
            control: LogLevelControl = api.log_level
            if control.current() == name:
                return _json(200, {"message": f"log level is already {name}"})
            control.set(name, timeout)
            return _json(200, {"message": "log level changed for all nodes" if broadcast else "log level changed"})

        return handler

    async def timers(_call: Call) -> web.StreamResponse:
        return _json(200, timers_report())

    async def dns(_call: Call) -> web.StreamResponse:
        return _json(501, {"message": "not implemented with the legacy DNS client"})

    api.route("/debug/node/log-level", "GET", get_level)
    api.route("/debug/node/log-level/{log_level}", "PUT", put_level(False), raw_body=True)
    api.route("/debug/cluster/log-level/{log_level}", "PUT", put_level(True), raw_body=True)
    api.route("/timers", "GET", timers)
    api.route("/status/dns", "GET", dns)


def timers_report() -> JSONObject:
    """``GET /timers`` in Kong's shape from the running loop: tasks are running timers, scheduled
    callbacks waiting ones."""
    loop = asyncio.get_running_loop()
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    scheduled = [h for h in getattr(loop, "_scheduled", ()) if not h.cancelled()]
    ready = len(getattr(loop, "_ready", ()))
    entries: JSONObject = {}
    for task in tasks:
        name = task.get_name()
        coro = task.get_coro()
        entries[name] = {
            "name": name,
            "is_running": True,
            "meta": {"name": getattr(coro, "__qualname__", "task"), "callstack": "debug off"},
            "stats": {"runs": 0, "finish": 0, "last_err_msg": "",
                      "elapsed_time": {"avg": 0, "min": 9999999, "max": -1, "variance": 0}},
        }
    sys_stats = {"running": len(tasks), "pending": ready, "waiting": len(scheduled), "runs": 0}
    sys_stats["total"] = sys_stats["running"] + sys_stats["pending"] + sys_stats["waiting"]
    return {
        "worker": {"id": 0, "count": 1, "pid": os.getpid()},
        "stats": {"sys": sys_stats, "timers": entries,
                  "flamegraph": {"running": "", "pending": "", "elapsed_time": ""}},
    }


__all__ = ["LEVELS", "LogLevelControl", "level_name", "register", "timers_report"]
