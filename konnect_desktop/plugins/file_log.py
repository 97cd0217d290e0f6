"""file-log: append each request's log record, one JSON line, to a file (Kong's plugin, PRIORITY 9).

The record is Kong's (``log_serializer``). The file is opened once per path and kept open
(``O_WRONLY|O_CREAT|O_APPEND``), or closed and reopened for every write with ``reopen`` — so a
file removed while open keeps receiving nothing visible until ``reopen`` is set, as in Kong.

Differences from Kong, on purpose:
- a file the plugin creates is ``0600`` (Kong: ``0644``): records carry request headers and
  consumer details, readable by the workstation's user only;
- lines are written just after the log phase (one ``loop.call_soon`` per burst, all waiting lines
  in one ``write``) rather than inside it, so a slow disk never delays the response; at most
  ``MAX_PENDING`` lines wait, the oldest dropped beyond that;
- ``custom_fields_by_lua`` is Lua: accepted and stored, not run (the decision says so).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Boolean, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, ResponseContext, RuntimeServices
from .log_serializer import LUA_NOT_RUN, encode, serialize

log = logging.getLogger(__name__)

NAME = "file-log"
PRIORITY = 9
MODE = 0o600
MAX_PENDING = 10000
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_VALID_PATH = re.compile(r"^[^*&%\\`]+$")


def _path_error(value: str) -> str | None:
    return None if _VALID_PATH.match(value) else "not a valid filename"


CONFIG = Record(
    [
        ("path", String(required=True, custom=_path_error, description="The file path of the output log file. The plugin creates the log file if it doesn't exist yet.")),
        ("reopen", Boolean(required=True, default=False, description="Determines whether the log file is closed and reopened on every request.")),
        ("custom_fields_by_lua", typedefs.lua_code()),
    ],
    nullable=False,
    description="The file log records are appended to.",
)


class _Files:
    """The runtime's open log files (Kong's ``file_descriptors``) and lines waiting to be
    written, by path."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}
        self.pending: dict[str, list[bytes]] = {}
        self.reopen: dict[str, bool] = {}
        self.scheduled = False
        self.users = 0
        self.dropped = 0
        self.errors: dict[str, str] = {}

    @classmethod
    def of(cls, runtime: RuntimeServices) -> _Files:
        state = runtime.shared_state(NAME)
        f = state.get("files")
        if not isinstance(f, cls):
            f = state["files"] = cls()
        return f

    def open(self, path: str) -> int | None:
        try:
            fd = os.open(path, _FLAGS, MODE)
        except OSError as exc:
            self.errors[path] = exc.strerror or str(exc)
            log.error("file-log: failed to open the file %s: %s", path, self.errors[path])
            return None
        self.errors.pop(path, None)
        return fd

    def add(self, path: str, line: bytes, reopen: bool) -> None:
        lines = self.pending.setdefault(path, [])
        if len(lines) >= MAX_PENDING:
            del lines[0]
            self.dropped += 1
        lines.append(line)
        self.reopen[path] = reopen
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, {}
        for path, lines in pending.items():
            fd = self.fds.get(path)
            if fd is not None and self.reopen.get(path):
                # closed here, so a descriptor cached before ``reopen`` was switched on goes too
                os.close(fd)
                del self.fds[path]
                fd = None
            if fd is None:
                fd = self.open(path)
                if fd is None:
                    continue
                self.fds[path] = fd
            try:
                os.write(fd, b"".join(lines))
            except OSError as exc:
                self.errors[path] = exc.strerror or str(exc)
                log.error("file-log: failed to write %s: %s", path, self.errors[path])

    def close_all(self) -> None:
        self.flush()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


class FileLogHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.path: str = config["path"]
        self.reopen = bool(config.get("reopen"))
        self.files = _Files.of(runtime)
        self.files.users += 1
        self.lua = bool(config.get("custom_fields_by_lua"))
        self._closed = False

    def log(self, ctx: RequestContext, resp: ResponseContext) -> None:
        files = self.files
        if not self.reopen and self.path not in files.fds:
            # opened here, once per path, so the first request's decision already tells a
            # path that cannot be opened
            fd = files.open(self.path)
            if fd is not None:
                files.fds[self.path] = fd
        files.add(self.path, encode(serialize(ctx, resp)) + b"\n", self.reopen)
        err = files.errors.get(self.path)
        extra = "; custom_fields_by_lua not run (Lua)" if self.lua else ""
        data: JSONObject = {"path": self.path, "reopen": self.reopen}
        if self.lua:
            data["custom_fields_by_lua"] = LUA_NOT_RUN
        if err:
            ctx.decisions.append(Decision(NAME, "error", f"log: {self.path}: {err}{extra}", data))
        else:
            ctx.decisions.append(Decision(NAME, "pass", f"log: appended to {self.path}{extra}", data))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.files.users -= 1
        if self.files.users <= 0:
            self.files.close_all()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Append each request's log record (Kong's JSON, one line) to a file.",
    handler=FileLogHandler,
    any_protocol=True,  # typedefs.protocols (stream routes too); default the http ones
)
