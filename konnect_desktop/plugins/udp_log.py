"""udp-log: send each request's log record, as one JSON datagram, to a UDP server (Kong's plugin,
PRIORITY 8).

Kong sends from a timer; here the log phase schedules the send for right after it
(``loop.call_soon``), on one non-blocking UDP socket per runtime; a host name is resolved
asynchronously first. A datagram that cannot be sent is logged and dropped, as in Kong.
``custom_fields_by_lua`` is Lua: accepted and stored, not run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Number, Record
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_serializer import LUA_NOT_RUN, encode, serialize

log = logging.getLogger(__name__)

NAME = "udp-log"
PRIORITY = 8

CONFIG = Record(
    [
        ("host", typedefs.host(required=True, description="A string representing a host name, such as example.com.")),
        ("port", typedefs.port(required=True, description="An integer representing a port number between 0 and 65535, inclusive.")),
        ("timeout", Number(default=10000, description="An optional timeout in milliseconds when sending data to the upstream server.")),
        ("custom_fields_by_lua", typedefs.lua_code()),
    ],
    nullable=False,
    description="The UDP server log records are sent to.",
)


class DatagramSender:
    """Non-blocking datagram sends to (host, port) pairs, from the event loop (shared by
    udp-log and statsd)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.socks: dict[int, socket.socket] = {}
        self.resolved: dict[str, tuple[int, str]] = {}
        self.users = 0
        self.errors = 0

    def _sock(self, family: int) -> socket.socket:
        s = self.socks.get(family)
        if s is None:
            s = self.socks[family] = socket.socket(family, socket.SOCK_DGRAM)
            s.setblocking(False)
        return s

    def send(self, host: str, port: int, data: bytes) -> None:
        """Send ``data`` right after the current callback (never blocks the caller)."""
        loop = asyncio.get_running_loop()
        target = self.resolved.get(host)
        if target is None:
            try:
                ip = ipaddress.ip_address(host.strip("[]"))
                target = self.resolved[host] = (socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))
            except ValueError:
                loop.create_task(self._resolve_and_send(host, port, data))
                return
        loop.call_soon(self._sendto, target, port, data, host)

    async def _resolve_and_send(self, host: str, port: int, data: bytes) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            self.errors += 1
            log.error("%s: could not connect to %s:%s: %s", self.tag, host, port, exc)
            return
        family, _t, _p, _c, addr = infos[0]
        self.resolved[host] = (int(family), str(addr[0]))
        self._sendto(self.resolved[host], port, data, host)

    def _sendto(self, target: tuple[int, str], port: int, data: bytes, host: str) -> None:
        try:
            self._sock(target[0]).sendto(data, (target[1], port))
        except OSError as exc:
            self.errors += 1
            log.error("%s: could not send data to %s:%s: %s", self.tag, host, port, exc)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            for s in self.socks.values():
                s.close()
            self.socks.clear()

    @classmethod
    def of(cls, runtime: RuntimeServices, name: str) -> DatagramSender:
        state = runtime.shared_state(name)
        s = state.get("sender")
        if not isinstance(s, cls):
            s = state["sender"] = cls(name)
        return s


class UdpLogHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.sender = DatagramSender.of(runtime, NAME)
        self.sender.users += 1
        self.where = f"udp://{config['host']}:{config['port']}"
        self.lua = bool(config.get("custom_fields_by_lua"))
        self._closed = False

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        self.sender.send(self.config["host"], self.config["port"], encode(serialize(ctx, resp)))
        data: JSONObject = {"destination": self.where}
        extra = ""
        if self.lua:
            data["custom_fields_by_lua"] = LUA_NOT_RUN
            extra = "; custom_fields_by_lua not run (Lua)"
        ctx.decisions.append(Decision(NAME, "pass", f"log: sent to {self.where}{extra}", data))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.sender.release()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Send each request's log record (Kong's JSON) as a UDP datagram.",
    handler=UdpLogHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
