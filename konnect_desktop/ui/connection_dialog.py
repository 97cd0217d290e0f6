"""Add or edit a connection: choose the kind, then only the fields that kind needs.

Local runtime group: a name. Kong Gateway Admin API: URL, optional headers, optional admin token,
TLS verification. Konnect: region, personal/system access token, control plane. A saved connection
is a ``settings.Profile`` (the CLI can use it by name). Tokens are typed into a masked field and
saved to the OS keyring under the connection's name, never to a file; the keyring's name is shown
beneath ("stored in: Secret Service"). Without a usable keyring the dialog says what to install
and offers to keep the token for this session only. "Test" builds the control plane from what is
typed and shows what it reached, or the exact error.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..settings import KIND_LABELS, REGIONS, Profile, runtime_name_problem
from .errors import ErrorInfo
from .session import Session
from .tasks import TaskRunner

SESSION_ONLY_TEXT = "Keep the token for this session only"


def parse_headers(text: str) -> tuple[dict[str, str], str | None]:
    """``Name: value`` lines → dict, or an error naming the bad line."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            return {}, f"line {n}: expected “Header-Name: value”"
        out[name.strip()] = value.strip()
    return out, None


class TokenField(QWidget):
    """A masked token entry with Show, and where it will be stored."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setAccessibleName("Token")
        self.edit.setPlaceholderText("paste the token (kept in the OS keyring)")
        self.show_box = QCheckBox("Show")
        self.show_box.setAccessibleName("Show token")
        self.show_box.toggled.connect(self._toggle)
        self.where = QLabel("stored in: …")
        self.where.setObjectName("Muted")
        self.where.setAccessibleName("Where the token is stored")
        v.addWidget(self.edit)
        v.addWidget(self.show_box)
        v.addWidget(self.where)

    def _toggle(self, on: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)

    def text(self) -> str:
        return self.edit.text().strip()


class ConnectionDialog(QDialog):
    """Returns (via ``result_connection``) the saved connection after ``accept``."""

    def __init__(self, session: Session, conn: Profile | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.original = conn
        self.result_connection: Profile | None = None
        self.runner = TaskRunner(self)
        self.setWindowTitle("Edit connection" if conn else "Add connection")
        self.setMinimumWidth(520)
        v = QVBoxLayout(self)

        top = QFormLayout()
        self.kind = QComboBox()
        self.kind.setAccessibleName("Connection kind")
        for key, label in KIND_LABELS.items():
            self.kind.addItem(label, key)
        self.name = QLineEdit()
        self.name.setAccessibleName("Connection name")
        top.addRow("Kind", self.kind)
        top.addRow("Name", self.name)
        v.addLayout(top)

        self.pages = QStackedWidget()
        # local
        local = QWidget()
        lf = QFormLayout(local)
        lf.addRow(QLabel("A gateway on this computer with its own configuration store. "
                         "The name is the runtime group's name."))
        self.pages.addWidget(local)
        # kong admin
        kong = QWidget()
        kf = QFormLayout(kong)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://kong.example.com:8001")
        self.url.setAccessibleName("Admin API URL")
        self.headers = QPlainTextEdit()
        self.headers.setPlaceholderText("Optional headers, one per line: Name: value")
        self.headers.setMaximumHeight(70)
        self.kong_token = TokenField()
        self.verify = QCheckBox("Verify TLS certificates")
        self.verify.setChecked(True)
        kf.addRow("Admin API URL", self.url)
        kf.addRow("Headers", self.headers)
        kf.addRow("Admin token", self.kong_token)
        kf.addRow("", self.verify)
        self.pages.addWidget(kong)
        # konnect
        konnect = QWidget()
        nf = QFormLayout(konnect)
        self.region = QComboBox()
        self.region.setAccessibleName("Konnect region")
        for r in REGIONS:
            self.region.addItem(r)
        self.konnect_token = TokenField()
        self.control_plane = QLineEdit()
        self.control_plane.setPlaceholderText("control plane name or id (optional: pick later)")
        nf.addRow("Region", self.region)
        nf.addRow("Access token", self.konnect_token)
        nf.addRow("Control plane", self.control_plane)
        self.pages.addWidget(konnect)
        v.addWidget(self.pages)

        # without a usable keyring: what to install, and the explicit "this session only" choice
        self.keyring_hint = QLabel()
        self.keyring_hint.setWordWrap(True)
        self.keyring_hint.setObjectName("Muted")
        self.keyring_hint.setAccessibleName("No usable OS keyring")
        self.keyring_hint.hide()
        v.addWidget(self.keyring_hint)
        self.session_only = QCheckBox(SESSION_ONLY_TEXT)
        self.session_only.setAccessibleName(SESSION_ONLY_TEXT)
        self.session_only.setToolTip("The token stays in memory and is forgotten when the app quits; "
                                     "nothing is written to disk.")
        self.session_only.hide()
        v.addWidget(self.session_only)
        self._no_keyring = False
        self._keyring_failed = False

        self.problem = QLabel()
        self.problem.setObjectName("FieldError")
        self.problem.setWordWrap(True)
        self.problem.hide()
        v.addWidget(self.problem)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.test_result)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.test_button = QPushButton("Test")
        self.test_button.setAccessibleName("Test connection")
        buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.test_button.clicked.connect(self.test)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self._cancel)
        v.addWidget(buttons)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        if conn is not None:
            self.kind.setCurrentIndex(self.kind.findData(conn.kind))
            self.kind.setEnabled(False)  # a different kind is a different connection
            self.name.setText(conn.name)
            self.name.setEnabled(conn.kind != "local")  # the store file is named after it
            self.url.setText(conn.url or "")
            self.headers.setPlainText("\n".join(f"{k}: {v}" for k, v in conn.headers.items()))
            self.verify.setChecked(conn.verify_tls)
            if conn.region:
                self.region.setCurrentText(conn.region)
            self.control_plane.setText(conn.control_plane or "")
            if conn.has_token:
                for tf in (self.kong_token, self.konnect_token):
                    tf.edit.setPlaceholderText("saved in the keyring: leave empty to keep it")
        self._kind_changed()
        self.runner.run(self._keyring_name(), label="Asking the keyring")

    async def _keyring_name(self) -> None:
        from .. import credentials

        name = await asyncio.to_thread(credentials.backend_name)
        self._show_keyring(name)

    def _show_keyring(self, name: str, hint: str | None = None) -> None:
        """“stored in: <backend>”, or, with no usable keyring, what to install (``hint``) and the
        offer to keep the token for this session only."""
        from .. import credentials

        self._no_keyring = name == "none" or hint is not None
        for tf in (self.kong_token, self.konnect_token):
            tf.where.setText("stored in: nowhere yet (no usable OS keyring)" if self._no_keyring else f"stored in: {name}")
        self.keyring_hint.setText(hint or credentials.INSTALL_HINT)
        self._update_keyring_offer()

    def _update_keyring_offer(self) -> None:
        show = self._no_keyring and self.kind.currentData() != "local"
        self.keyring_hint.setVisible(show)
        self.session_only.setVisible(show)
        self.adjustSize()

    def offers_session_store(self) -> bool:
        return not self.session_only.isHidden()

    def _session_only_chosen(self) -> bool:
        return self.offers_session_store() and self.session_only.isChecked()

    def _kind_changed(self, *_: Any) -> None:
        self.pages.setCurrentIndex(self.kind.currentIndex())
        if hasattr(self, "session_only"):
            self._update_keyring_offer()
        self.name.setPlaceholderText({"local": "dev", "kong-admin": "staging", "konnect": "my-org"}[self.kind.currentData()])

    # -- building ----------------------------------------------------------------------------
    def token(self) -> str:
        kind = self.kind.currentData()
        return self.kong_token.text() if kind == "kong-admin" else self.konnect_token.text() if kind == "konnect" else ""

    def build(self) -> tuple[Profile | None, str | None]:
        """The connection described by the fields, or the first problem."""
        kind = self.kind.currentData()
        name = self.name.text().strip()
        if not name:
            return None, "Give the connection a name."
        base = self.original or Profile(kind=kind, name=name)
        conn = dataclasses.replace(base, kind=kind, name=name)
        if kind == "local":
            err = runtime_name_problem(name)
            if err:
                return None, err
            conn.auth = "none"
        elif kind == "kong-admin":
            url = self.url.text().strip()
            if not url.startswith(("http://", "https://")):
                return None, "The Admin API URL must start with http:// or https://"
            headers, err = parse_headers(self.headers.toPlainText())
            if err:
                return None, f"Headers: {err}"
            conn.url, conn.headers, conn.verify_tls = url.rstrip("/"), headers, self.verify.isChecked()
            if conn.auth not in ("none", "admin-token", "basic"):  # switched from another kind
                conn.auth = "none"
            if self.token() and conn.auth == "none":
                conn.auth = "admin-token"
        else:
            conn.region, conn.auth = self.region.currentText(), "konnect-token"
            conn.control_plane = self.control_plane.text().strip() or None
            original_token = self.original is not None and self.original.has_token
            if not self.token() and not original_token:
                return None, "Konnect needs an access token (kpat_… or spat_…)."
        try:
            self.session.check_connection(conn, self.original)
        except ValueError as exc:  # a name taken, a secret-looking value, a header that is a secret
            return None, str(exc)
        return conn, None

    def _problem(self, text: str | None) -> None:
        self.problem.setText(f"⚠ {text}" if text else "")
        self.problem.setVisible(bool(text))

    # -- test ----------------------------------------------------------------------------------
    def test(self) -> None:
        conn, err = self.build()
        self._problem(err)
        if conn is None:
            return
        self.test_result.setText("Testing…")
        self.runner.run(self._test(conn, self.token() or None), label="Testing", key="test",
                        on_done=self._tested, on_error=self._test_failed)

    async def _test(self, conn: Profile, token: str | None) -> Any:
        if conn.kind == "local":
            cp = await self.session.control_plane_for(conn) if self.original else None
            if cp is None:
                return "A new local runtime group: it is created when you save."
            return await cp.test_connection()
        cp = await self.session.build_control_plane(conn, token)
        try:
            if conn.kind == "konnect" and not conn.control_plane:
                # the control plane is optional here: the token is tested by listing them
                groups = await cp.list_groups()
                names = ", ".join(g.name for g in groups[:5]) + (" …" if len(groups) > 5 else "")
                n = len(groups)
                return (f"token accepted by {cp.target}: {n} control plane{'s' if n != 1 else ''}"
                        + (f" ({names})" if names else "") + "; pick one now or later.")
            return await cp.test_connection()
        finally:
            await self.session.close_control_plane(cp)

    def _tested(self, report: Any) -> None:
        ok = getattr(report, "ok", True)
        self.test_result.setText(("✓ " if ok else "✕ ") + str(report))
        self.test_result.setProperty("status", "ok" if ok else "bad")
        self.test_result.style().unpolish(self.test_result)
        self.test_result.style().polish(self.test_result)

    def _test_failed(self, info: ErrorInfo) -> None:
        self.test_result.setText(f"✕ {info.message}")

    # -- save -----------------------------------------------------------------------------------
    def save(self) -> None:
        conn, err = self.build()
        self._problem(err)
        if conn is None:
            return
        self.runner.run(self._save(conn, self.token()), label="Saving", key="save",
                        on_done=self._saved, on_error=self._save_failed)

    async def _save(self, conn: Profile, token: str) -> Profile:
        from .. import credentials

        if token and self._session_only_chosen() and not credentials.session_store_active():
            credentials.use_session_store(True)  # asked for, in so many words, by the user
            self._show_keyring(credentials.backend_name())
        try:
            return await self.session.save_connection(conn, token=token or None, original=self.original)
        except credentials.KeyringUnavailable as exc:
            # nothing was saved; say what to install (or unlock) and offer this session only
            locked = isinstance(exc, credentials.KeyringLocked)
            self._show_keyring("none", credentials.LOCKED_HINT if locked else credentials.INSTALL_HINT)
            self._keyring_failed = True
            raise

    def _save_failed(self, info: ErrorInfo) -> None:
        if self._keyring_failed:
            self._keyring_failed = False
            # the full words (what to install or unlock, the session-only offer) are just above
            self._problem("Nothing was saved: the token could not be kept in the OS keyring (see above).")
        else:
            self._problem(info.message)

    def _saved(self, conn: Profile) -> None:
        self.result_connection = conn
        self.accept()

    def _cancel(self) -> None:
        self.runner.cancel()
        self.reject()
