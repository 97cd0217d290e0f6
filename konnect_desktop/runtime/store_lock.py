"""Who is serving a store: a lock file beside the SQLite file, so two processes never serve one
store without knowing it.

``<store>.lock`` holds the owner's pid, host and a label ("Konnect Desktop", "gateway run").
Taking the lock when the file names a live process on this host raises ``StoreInUse`` (which
says who, and what to do); a file left by a process that died is stale and taken over. Within
one process the lock is shared (counted): tests and the app may open several runtimes on one
store, and they know about each other.

SQLite itself would let two gateways share the file, but each would compile its own snapshot and
answer on its own ports with its own rate-limit counters — the surprise this lock prevents.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path

from ..errors import AppError

_held: dict[Path, int] = {}  # lock path -> holders in this process
_held_lock = threading.Lock()


class StoreInUse(AppError, RuntimeError):
    def __init__(self, store: Path, owner: dict[str, object]) -> None:
        self.store, self.owner = store, owner
        super().__init__(
            f"the store {store} is in use by {owner.get('label') or 'another process'} "
            f"(pid {owner.get('pid')}). Stop it first, or serve another store with --db PATH "
            "or --name NAME")


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running (on this host)?"""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate it there
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def read_owner(store: Path) -> dict[str, object] | None:
    try:
        data = json.loads(lock_path(store).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(owner: dict[str, object] | None) -> bool:
    if owner is None:
        return True  # unreadable or half-written by a process killed while writing it
    if owner.get("host") != socket.gethostname():
        return False  # a store on a shared disk, served from another machine: we cannot tell
    pid = owner.get("pid")
    return not isinstance(pid, int) or not pid_alive(pid)


class StoreLock:
    """``acquire()`` / ``release()`` the right to serve ``store`` (also a context manager)."""

    def __init__(self, store: Path | str, label: str) -> None:
        self.store = Path(store).resolve()
        self.path = lock_path(self.store)
        self.label = label
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        with _held_lock:
            if _held.get(self.path, 0) > 0:
                _held[self.path] += 1
                self.held = True
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "label": self.label})
            for _ in range(3):  # bounded: a stale file is removed at most twice before we give up
                try:
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    owner = read_owner(self.store)
                    if owner is not None and owner.get("pid") == os.getpid() \
                            and owner.get("host") == socket.gethostname():
                        break  # left by this very process (a runtime not stopped): ours
                    if not _is_stale(owner):
                        raise StoreInUse(self.store, owner or {}) from None
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(body)
                break
            else:
                raise StoreInUse(self.store, read_owner(self.store) or {})
            _held[self.path] = 1
            self.held = True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with _held_lock:
            n = _held.get(self.path, 0) - 1
            if n > 0:
                _held[self.path] = n
                return
            _held.pop(self.path, None)
            owner = read_owner(self.store)
            if owner is not None and owner.get("pid") == os.getpid():
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
