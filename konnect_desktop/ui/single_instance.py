"""One app per user and data folder: a second launch hands over to the first and exits.

The first instance holds a ``QLockFile`` in the data folder (stale locks of a crashed app are
detected by Qt from the pid and host they name) and listens on a ``QLocalServer`` whose name is
derived from that folder, so a portable copy (``KONNECT_DESKTOP_HOME``) is its own instance. A
later launch fails to take the lock, connects to the server, sends ``activate`` and exits; the
first instance emits ``sig_activate`` and the main window comes to the front.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from .. import appdirs

log = logging.getLogger(__name__)

MESSAGE = b"activate\n"
CONNECT_MS = 2000  # the first instance may be busy starting; it answers from its event loop


def server_name(data_dir: Path) -> str:
    """A local-socket name unique to the user's data folder (short: socket paths are limited)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return f"konnect-desktop-{digest}"


class SingleInstance(QObject):
    sig_activate = Signal()

    def __init__(self, data_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir or appdirs.data_dir()
        self.name = server_name(self.data_dir)
        self.lock = QLockFile(str(self.data_dir / "app.lock"))
        self.lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
        self.server: QLocalServer | None = None
        self.primary = False

    def start(self) -> bool:
        """True when this is the first instance (and now serves activations); False after
        asking the first instance to come to the front."""
        if self.lock.tryLock(0):
            self.primary = True
            QLocalServer.removeServer(self.name)  # a socket file left by a crashed first instance
            self.server = QLocalServer(self)
            self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
            if not self.server.listen(self.name):
                log.warning("single instance: cannot listen on %s: %s", self.name, self.server.errorString())
            self.server.newConnection.connect(self._on_connection)
            return True
        self.notify_primary()
        return False

    def notify_primary(self) -> bool:
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(CONNECT_MS):
            log.warning("another instance holds %s but does not answer: %s", self.lock.fileName(), sock.errorString())
            return False
        sock.write(MESSAGE)
        ok = sock.waitForBytesWritten(CONNECT_MS)
        sock.disconnectFromServer()
        return ok

    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            # slots find the socket through sender(): a lambda holding it would keep a Python
            # wrapper of an object Qt deletes (deleteLater below), which crashes at teardown
            conn.readyRead.connect(self._read)
            conn.disconnected.connect(self._gone)
            if conn.bytesAvailable():
                self._read(conn)

    def _read(self, conn: QLocalSocket | None = None) -> None:
        conn = conn or self.sender()
        if not isinstance(conn, QLocalSocket):
            return
        data = (conn.property("received") or b"") + bytes(conn.readAll().data())
        conn.setProperty("received", data[-64:])  # the message may arrive in pieces
        if MESSAGE in data:
            conn.setProperty("received", b"")
            log.info("a second launch asked for this window")
            self.sig_activate.emit()

    def _gone(self) -> None:
        conn = self.sender()
        if isinstance(conn, QLocalSocket):
            conn.deleteLater()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.primary:
            self.lock.unlock()
            self.primary = False
