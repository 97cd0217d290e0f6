"""A client's request body in flight: streamed to the upstream, or read whole when it must be.

Chunks arrive from the client parser (``feed``). Usually an upstream connection takes them
(``attach``) and each chunk is written on as it comes, with the client's reading paused while
the upstream's send buffer is full (back-pressure); what was sent is kept up to ``REPLAY_MAX``
so a retry on another connection can resend it.

A body that must be read whole — a plugin asks for it (``read_all``), the in-process echo
answers with it (``read_capped``) — is kept in memory only up to ``client_body_buffer_size``
and spooled to an anonymous temporary file beyond it, as nginx does; over
``client_max_body_size`` it is refused (``BodyTooLarge`` → 413).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .upstream import UpstreamConnection

HIGH_WATER = 256 * 1024  # request bytes buffered before we stop reading the client
REPLAY_MAX = 1024 * 1024  # request bytes kept to retry on another connection
_READ_BLOCK = 256 * 1024


class BodyTooLarge(Exception):
    """The body is over ``client_max_body_size`` (nginx: 413)."""


class FlowControl(Protocol):
    """The client connection, as far as the body needs it."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class RequestBody:
    """One request's body (see the module docstring)."""

    __slots__ = ("conn", "chunks", "size", "complete", "failed", "waiter", "sink", "end",
                 "unlimited", "paused", "replayable", "total", "discarding", "preview", "chunked",
                 "buffer_size", "max_size", "spool", "too_large")

    def __init__(self, conn: FlowControl, chunked: bool, buffer_size: int = 8192, max_size: int = 0) -> None:
        self.conn = conn
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False
        self.failed = False
        self.waiter: asyncio.Future[None] | None = None
        self.sink: Callable[[bytes], None] | None = None
        self.end: Callable[[], None] | None = None
        self.unlimited = False  # read whole: keep reading the client (spooling) until complete
        self.paused = False
        self.replayable = True
        self.total = 0
        self.discarding = False
        self.preview: bytes | None = None
        self.chunked = chunked
        self.buffer_size = buffer_size  # client_body_buffer_size
        self.max_size = max_size  # client_max_body_size (0: no limit)
        self.spool: IO[bytes] | None = None  # the part of a body read whole beyond buffer_size
        self.too_large = False

    # -- from the client parser ---------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.discarding:
            return
        if self.max_size and self.total > self.max_size:
            self.too_large = True
            self.discard()
            self.fail()
            return
        if self.preview is None:
            self.preview = chunk[:4096]
        sink = self.sink
        if sink is not None:
            if self.replayable:
                self.chunks.append(chunk)
                self.size += len(chunk)
            sink(chunk)
            if self.replayable and self.size > REPLAY_MAX:
                self.replayable = False
                self.chunks = []
            return
        if self.unlimited:  # read whole: memory up to buffer_size, then the spool file
            self.chunks.append(chunk)
            self.size += len(chunk)
            if self.size > self.buffer_size:
                self._spill()
            return
        if not self.replayable:  # buffered after a failed attempt: can't be sent anyway
            return
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > HIGH_WATER:
            self.pause()

    def _spill(self) -> None:
        """Move what is in memory to the spool file (created on first use)."""
        if self.spool is None:
            self.spool = tempfile.TemporaryFile(prefix="konnect-body-")
        self.spool.writelines(self.chunks)
        self.chunks = []
        self.size = 0
        self.replayable = False  # (a spooled body is never streamed: it is read whole)

    def finish(self) -> None:
        self.complete = True
        if self.end is not None:
            self.end()
        self._wake()

    def fail(self) -> None:
        self.failed = True
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- flow control (also driven by the upstream transport's write buffer) -----------------
    def pause(self) -> None:
        if not self.paused and not self.complete:
            self.paused = True
            self.conn.pause_reading()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.conn.resume_reading()

    # -- read whole -----------------------------------------------------------------------------
    async def _wait_complete(self) -> None:
        self.unlimited = True
        if self.size > self.buffer_size:
            self._spill()
        self.resume()
        while not self.complete:
            if self.too_large:
                raise BodyTooLarge
            if self.failed:
                raise ConnectionError("client closed the connection while sending the body")
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        if self.too_large:
            raise BodyTooLarge

    async def read_all(self) -> bytes:
        """The whole body (a plugin asking for it)."""
        await self._wait_complete()
        if self.spool is not None:
            f = self.spool
            f.writelines(self.chunks)
            f.seek(0)
            data = f.read()
            f.close()
            self.spool = None
            self.chunks = [data]
            self.size = len(data)
            return data
        if len(self.chunks) != 1:
            self.chunks = [b"".join(self.chunks)]
        return self.chunks[0] if self.chunks else b""

    async def read_capped(self, cap: int) -> tuple[bytes, int]:
        """The first ``cap`` bytes of the whole body and its full size (the echo upstream):
        the rest is read (spooled) and dropped, never held in memory."""
        await self._wait_complete()
        if self.spool is not None:
            f = self.spool
            f.seek(0)
            head = f.read(cap)
            f.close()
            self.spool = None
            if len(head) < cap and self.chunks:
                head += b"".join(self.chunks)[: cap - len(head)]
        else:
            head = b"".join(self.chunks)[:cap]
        self.chunks = []
        self.size = 0
        return head, self.total

    def close(self) -> None:
        """Drop the spool file, if any (the request is over)."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    # -- streaming to an upstream ------------------------------------------------------------
    def attach(self, conn: UpstreamConnection, chunked: bool) -> None:
        """Stream to ``conn``: replay what is buffered, then pass chunks as they come."""
        transport = conn.transport
        assert transport is not None
        write = transport.write
        touch = conn.touch
        if chunked:
            def sink(c: bytes) -> None:
                if c:
                    write(b"%x\r\n%s\r\n" % (len(c), c))
                    touch()

            def end() -> None:
                write(b"0\r\n\r\n")
                touch()
        else:
            def sink(c: bytes) -> None:
                write(c)
                touch()

            def end() -> None:
                touch()
        for c in self.chunks:
            sink(c)
        if not self.replayable:
            self.chunks = []
        self.sink = sink
        self.end = end
        conn.body_source = self
        if self.complete:
            end()
        else:
            self.resume()

    def detach(self) -> None:
        self.sink = None
        self.end = None

    def discard(self) -> None:
        """Nobody will read the rest: drop it as it arrives (keeps the connection usable)."""
        self.discarding = True
        self.chunks = []
        self.sink = None
        self.end = None
        self.close()
        self.resume()
