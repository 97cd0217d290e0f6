"""The local runtimes one process runs, by name: start, stop, state.

The GUI (``ui/session.py`` adapts this to Qt signals) and ``gateway run`` start their runtimes
here, so a runtime starts the same way everywhere:

1. the bind rules (``admin_guard.check_bind``, ``check_portal_bind``) are checked before any file
   or socket is opened;
2. the store lock is taken before the store is touched (a store another process serves is
   neither served nor changed: ``StoreInUse``);
3. the store is prepared — a decK file (``prepare``), or the app's sample configuration when the
   store has no entities (``sample=True``; a new ``gateway run`` store starts empty, as Kong does);
4. the listeners open. When the usual ports are taken (another gateway on 8000?) and the manager
   allows it (``free_ports_when_busy``, the GUI's choice), the runtime starts on free loopback
   ports instead; ``gateway run`` says so and exits instead.

Nothing here knows about Qt: callers on the GUI's qasync loop await the same coroutines as the
headless gateway does on its own loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .admin_guard import check_bind, check_portal_bind
from .runtime import RUNNING, STARTING, STOPPED, LocalRuntime
from .store import Store

log = logging.getLogger(__name__)

# the tables whose rows make a store "not empty" for the sample configuration
CONFIG_TABLES = ("services", "routes", "plugins", "consumers", "upstreams")
FREE_PORT = "127.0.0.1:0"


def sample_config_path() -> Path:
    """The app's sample decK file (one copy, in the resources)."""
    from ..appdirs import resource_path

    return resource_path("sample", "kong.yaml")


def store_is_empty(store: Store) -> bool:
    return all(store.count(t) == 0 for t in CONFIG_TABLES)


def load_sample_if_empty(store: Store) -> str | None:
    """Load the sample configuration into ``store`` when it holds no configuration.

    Returns None when the sample was loaded or was not needed, else why it was not loaded (the
    runtime then starts empty: a first run must not fail on a sample the bundled plugins refuse).
    """
    from ..model import declarative

    if not store_is_empty(store):
        return None
    path = sample_config_path()
    if not path.exists():
        return f"{path} is missing"
    try:
        store.replace_all(declarative.load(path))
    except Exception as exc:  # any reason at all: serve empty, and say why
        return str(exc) or type(exc).__name__
    return None


def _port_is_zero(listen: Any) -> bool:
    if isinstance(listen, str):
        return listen.rpartition(":")[2] == "0"
    return listen is not None and int(listen[1]) == 0


class RuntimeManager:
    """The runtimes this process started, by name, and where new ones listen.

    ``proxy_listen`` / ``admin_listen`` / ``proxy_listen_tls`` are the addresses a new runtime
    asks for (``start`` may override them, and any other ``LocalRuntime`` argument, per call).
    """

    def __init__(self, *, proxy_listen: tuple[str, int] | str = "127.0.0.1:8000",
                 admin_listen: tuple[str, int] | str | None = "127.0.0.1:8001",
                 proxy_listen_tls: tuple[str, int] | str | None = None,
                 free_ports_when_busy: bool = True, owner: str = "Konnect Desktop") -> None:
        self.proxy_listen = proxy_listen
        self.admin_listen = admin_listen
        self.proxy_listen_tls = proxy_listen_tls
        self.free_ports_when_busy = free_ports_when_busy
        self.owner = owner
        self.runtimes: dict[str, LocalRuntime] = {}
        self._starting: dict[str, asyncio.Future[LocalRuntime]] = {}

    # -- reading -----------------------------------------------------------------------------
    def get(self, name: str) -> LocalRuntime | None:
        return self.runtimes.get(name)

    def state(self, name: str) -> str:
        """``stopped``, ``starting``, ``running``, ``stopping`` or ``failed``."""
        if name in self._starting:
            return STARTING
        rt = self.runtimes.get(name)
        return str(rt.state) if rt is not None else STOPPED

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, name: str, *, db_path: str | Path | None = None, sample: bool = False,
                    prepare: Callable[[Store], None] | None = None, **options: Any) -> LocalRuntime:
        """Start the runtime ``name`` (its store at ``db_path``, else the app's data folder).

        ``prepare(store)`` runs in a worker thread with the lock held, before the listeners open
        (``gateway run --config`` loads its file there); its exception stops the start and leaves
        nothing open. ``sample=True`` loads the sample configuration into an empty store instead.
        A runtime already running (or starting) under ``name`` is returned as it is.
        """
        rt = self.runtimes.get(name)
        if rt is not None and rt.state in (RUNNING, STARTING):
            return rt
        pending = self._starting.get(name)
        if pending is not None:  # a second caller waits for the first one's start
            return await asyncio.shield(pending)
        fut: asyncio.Future[LocalRuntime] = asyncio.get_running_loop().create_future()
        self._starting[name] = fut
        try:
            rt = await self._start(name, db_path, sample, prepare, options)
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # marks it retrieved: when nobody else waited, asyncio stays quiet
            raise
        except BaseException:
            fut.cancel()
            raise
        else:
            self.runtimes[name] = rt
            fut.set_result(rt)
            return rt
        finally:
            self._starting.pop(name, None)

    async def _start(self, name: str, db_path: str | Path | None, sample: bool,
                     prepare: Callable[[Store], None] | None, options: dict[str, Any]) -> LocalRuntime:
        asked = {"proxy_listen": self.proxy_listen, "admin_listen": self.admin_listen,
                 "proxy_listen_tls": self.proxy_listen_tls, "owner": self.owner, **options}
        attempts = [asked]
        if self.free_ports_when_busy and not _port_is_zero(asked["proxy_listen"]):
            attempts.append({**asked, "proxy_listen": FREE_PORT,
                             "admin_listen": FREE_PORT if asked["admin_listen"] is not None else None,
                             "proxy_listen_tls": FREE_PORT if asked["proxy_listen_tls"] is not None else None})
        prepared = False
        for i, kw in enumerate(attempts):
            rt = LocalRuntime(name, db_path, **kw)
            _check_binds(rt)
            rt.lock.acquire()  # StoreInUse: another process serves this store; nothing touched
            try:
                store = await asyncio.to_thread(Store, rt.db_path)
            except BaseException:
                rt.lock.release()
                raise
            if not prepared:
                try:
                    await asyncio.to_thread(_prepare, store, sample, prepare)
                except BaseException:
                    await asyncio.to_thread(store.close)
                    rt.lock.release()
                    raise
                prepared = True
            rt.store = store
            try:
                await rt.start()  # a failed start closes the store and releases the lock
            except OSError:
                if i + 1 == len(attempts):
                    raise
                log.info("ports %s/%s busy, using free ports", kw["proxy_listen"], kw["admin_listen"])
                continue
            return rt
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def stop(self, name: str, drain_timeout: float = 10.0) -> None:
        """Stop the runtime ``name`` (finishing in-flight requests up to ``drain_timeout``);
        it is forgotten even when stopping fails."""
        rt = self.runtimes.get(name)
        if rt is None:
            return
        try:
            await rt.stop(drain_timeout)
        finally:
            self.runtimes.pop(name, None)


def _check_binds(rt: LocalRuntime) -> None:
    """``LocalRuntime.start`` checks these too; here they come before the store is prepared."""
    if rt.admin_listen is not None:
        check_bind(rt.admin_listen[0], rt.admin_token)
    if rt.portal_listen is not None:
        check_portal_bind(rt.portal_listen[0], rt.admin_token)


def _prepare(store: Store, sample: bool, prepare: Callable[[Store], None] | None) -> None:
    if prepare is not None:
        prepare(store)
    elif sample:
        why = load_sample_if_empty(store)
        if why:
            log.warning("sample configuration not loaded: %s", why)


__all__ = ["RuntimeManager", "load_sample_if_empty", "sample_config_path", "store_is_empty"]
