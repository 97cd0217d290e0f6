"""syslog: send each request's log record to the local syslog (Kong's plugin, PRIORITY 4).

The record (``log_serializer``, as JSON) is sent with the severity the response's status picks
— ``server_errors_severity`` for 5xx, ``client_errors_severity`` for 4xx,
``successful_severity`` otherwise — when that severity is at least as urgent as ``log_level``
(Kong's ``LOG_PRIORITIES[severity] <= LOG_PRIORITIES[log_level]``), under ``facility``.

Kong calls the C library's ``syslog(3)`` (ident ``kong``). Here the message is written the way
that call writes it — ``<PRI>Mmm dd hh:mm:ss kong[pid]: <json>`` with PRI = facility × 8 +
severity — as one datagram to the local syslog socket (``/dev/log``, ``/var/run/syslog`` on
macOS), without blocking; the runtime may point it elsewhere (a unix datagram socket path or a
``(host, port)`` UDP address) through ``shared_state("syslog")["address"]``.
``custom_fields_by_lua`` is Lua: accepted and stored, not run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Field, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_serializer import LUA_NOT_RUN, encode, serialize

log = logging.getLogger(__name__)

NAME = "syslog"
PRIORITY = 4
SENDER_NAME = "kong"

SEVERITIES = ("debug", "info", "notice", "warning", "err", "crit", "alert", "emerg")
LOG_PRIORITIES = {"debug": 7, "info": 6, "notice": 5, "warning": 4, "err": 3, "crit": 2, "alert": 1, "emerg": 0}
FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
              "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
              "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}
_FACILITY_ORDER = ("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
                   "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")


def _severity() -> Field:
    return String(default="info", required=True, one_of=SEVERITIES)


CONFIG = Record(
    [
        ("log_level", _severity().with_(description="The least urgent severity that is sent.")),
        ("successful_severity", _severity().with_(description="The severity of requests answered with a 1xx-3xx status.")),
        ("client_errors_severity", _severity().with_(description="The severity of requests answered with a 4xx status.")),
        ("server_errors_severity", _severity().with_(description="The severity of requests answered with a 5xx status.")),
        ("custom_fields_by_lua", typedefs.lua_code()),
        ("facility", String(default="user", required=True, one_of=_FACILITY_ORDER, description="The facility is used by the operating system to decide how to handle each log message.")),
    ],
    nullable=False,
    description="Severities and facility of the syslog messages.",
)


def default_address() -> str:
    return "/var/run/syslog" if os.path.exists("/var/run/syslog") and not os.path.exists("/dev/log") else "/dev/log"


def severity_for(conf: JSONObject, status: int) -> str:
    key = "server_errors_severity" if status >= 500 else "client_errors_severity" if status >= 400 else "successful_severity"
    return str(conf[key])


def frame(facility: str, severity: str, payload: bytes, now: float | None = None) -> bytes:
    """One message as ``syslog(3)`` writes it to the local socket."""
    pri = FACILITIES[facility] * 8 + LOG_PRIORITIES[severity]
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now))
    return b"<%d>%s %s[%d]: %s" % (pri, stamp.encode(), SENDER_NAME.encode(), os.getpid(), payload)


class _Syslog:
    """The runtime's syslog socket (non-blocking datagrams)."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.family = -1
        self.users = 0

    @classmethod
    def of(cls, runtime: RuntimeServices) -> tuple[_Syslog, JSONObject]:
        state = runtime.shared_state(NAME)
        s = state.get("socket")
        if s is None:
            s = state["socket"] = cls()
        return s, state

    def send(self, address: str | tuple[str, int], data: bytes) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        try:
            if self.sock is None or self.family != family:
                self.close()
                self.sock = socket.socket(family, socket.SOCK_DGRAM)
                self.sock.setblocking(False)
                self.family = family
            self.sock.sendto(data, address)
        except OSError as exc:
            log.error("syslog: could not send to %s: %s", address, exc.strerror or exc)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class SyslogHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.syslog, self.state = _Syslog.of(runtime)
        self.syslog.users += 1
        self.lua = bool(config.get("custom_fields_by_lua"))
        self._closed = False

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        conf = self.config
        severity = severity_for(conf, resp.status)
        data: JSONObject = {"severity": severity, "facility": conf["facility"]}
        extra = ""
        if self.lua:
            data["custom_fields_by_lua"] = LUA_NOT_RUN
            extra = "; custom_fields_by_lua not run (Lua)"
        if LOG_PRIORITIES[severity] > LOG_PRIORITIES[conf["log_level"]]:
            ctx.decisions.append(Decision(NAME, "skip", f"log: {severity} is below log_level {conf['log_level']}{extra}", data))
            return
        address = self.state.get("address") or default_address()
        message = frame(conf["facility"], severity, encode(serialize(ctx, resp)))
        asyncio.get_running_loop().call_soon(self.syslog.send, address, message)
        ctx.decisions.append(Decision(NAME, "pass", f"log: sent to syslog ({conf['facility']}.{severity}){extra}", data))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.syslog.users -= 1
            if self.syslog.users <= 0:
                self.syslog.close()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Send each request's log record (Kong's JSON) to the local syslog, with a severity by status.",
    handler=SyslogHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
