"""One aiohttp client session per runtime and purpose, for plugins that call out (http-log's
log server, ai-proxy's LLM): its connection pool keeps connections alive across requests and
configuration rebuilds. Made on first use on the event loop (handlers are built where no loop
may run) and closed when the last handler using it closes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import RuntimeServices

if TYPE_CHECKING:
    import aiohttp


class SharedSession:
    def __init__(self, verify_tls: bool) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.users = 0
        self.verify_tls = verify_tls

    @classmethod
    def of(cls, runtime: RuntimeServices, name: str, *, verify_tls: bool = False) -> SharedSession:
        """The session holder kept in ``runtime.shared_state(name)``; counts one more user.
        ``verify_tls`` checks servers' certificates (Kong's log plugins do not)."""
        state = runtime.shared_state(name)
        c = state.get("client")
        if not isinstance(c, cls):
            c = state["client"] = cls(verify_tls)
        c.users += 1
        return c

    def get(self, keepalive_ms: float = 60000) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            import aiohttp  # here: the plugins package is imported where no event loop runs

            connector = aiohttp.TCPConnector(keepalive_timeout=max(keepalive_ms / 1000.0, 0.001), ssl=self.verify_tls)
            self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self.session

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.session is not None:
            session, self.session = self.session, None
            await session.close()


__all__ = ["SharedSession"]
