"""The Request Console: send a request (through the local gateway or anywhere), see what the client
got, what the upstream received, and the quota left; history, cURL in and out, and bursts.

Everything that waits runs as a coroutine on the qasync loop (``self.runner``): sending,
history queries and writes, keyring reads for secret variables, bursts. Ctrl+Enter sends
(pressing it again while a request is in flight replaces it), Ctrl+L jumps to the URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QWidget,
)

from ...console.auth import Auth
from ...console.burst import Burst, BurstPlan, BurstResult
from ...console.curl import CurlError, parse_curl, to_curl
from ...console.environments import (
    Environment,
    EnvironmentStore,
    Resolved,
    Variable,
    VariableError,
    builtin_values,
    resolve,
)
from ...console.history import History, HistoryEntry
from ...console.insight import build_insight, lookup
from ...console.redact import Redactor, redacted_places, runtime_secrets
from ...console.request import METHODS, RequestSpec, query_pairs, set_query
from ...console.sender import Exchange, Sender, SendError
from ..console.auth_editor import AuthEditor
from ..console.burst_chart import BurstPanel
from ..console.collection_panel import CollectionPanel
from ..console.editors import BodyEditor, EnvironmentEditor, KeyValueTable
from ..console.history_panel import HistoryPanel
from ..console.insight_panel import InsightPanel
from ..console.response_view import ResponseView
from ..console.secret_prompt import SecretPrompt
from ..errors import ErrorInfo
from ..session import Session
from .base import Page

log = logging.getLogger(__name__)

NO_ENV = "(no environment)"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _same_listener(url_a: str, url_b: str) -> bool:
    """Do two URLs reach the same local listener? (localhost and 127.0.0.1 count as one)"""
    from urllib.parse import urlsplit

    try:
        a, b = urlsplit(url_a), urlsplit(url_b)
        pa, pb = a.port or (443 if a.scheme == "https" else 80), b.port or (443 if b.scheme == "https" else 80)
    except ValueError:
        return False
    ha, hb = (a.hostname or "").lower(), (b.hostname or "").lower()
    if pa != pb:
        return False
    if ha == hb:
        return True

    def loop(h: str) -> bool:
        if h in _LOOPBACK:
            return True
        try:
            return ipaddress.ip_address(h).is_loopback
        except ValueError:
            return False

    return loop(ha) and loop(hb)


class RequestConsolePage(Page):
    title = "Request Console"
    # history, environments and requests go to URLs, not to the current group: a switch keeps them
    switch_keeps = ("open", "history", "export", "env", "send", "burst", "curl")

    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 history_path: str | Path | None = None, environments_path: str | Path | None = None) -> None:
        super().__init__(session, parent)
        self.sender = Sender()
        self.env_store = EnvironmentStore(environments_path)
        self.history: History | None = None
        self._history_path = history_path
        self.environments: list[Environment] = []
        self.exchange: Exchange | None = None
        self.last_entry: HistoryEntry | None = None
        self.burst: Burst | None = None
        self._syncing = False
        self._build()
        self._shortcuts()
        self.runner.run(self._open(), label="Opening history", key="open")

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        bar = QHBoxLayout()
        self.method = QComboBox()
        self.method.setEditable(True)
        self.method.addItems(list(METHODS))
        self.method.setAccessibleName("Method")
        self.method.setMinimumWidth(96)
        self.url = QLineEdit("{{base}}/echo")
        self.url.setAccessibleName("URL")
        self.url.setPlaceholderText("{{base}}/echo  — or paste a curl command")
        self.url.setClearButtonEnabled(True)
        self.env = QComboBox()
        self.env.setAccessibleName("Environment")
        self.env.setToolTip("Environment: values for {{variables}}")
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.setAccessibleName("Send the request (Ctrl+Enter)")
        self.send_button.setToolTip("Send (Ctrl+Enter) · Cancel while sending")
        self.send_button.clicked.connect(self._send_clicked)
        self.paste_curl = QPushButton("Paste cURL")
        self.paste_curl.setToolTip("Fill the console from a curl command on the clipboard")
        self.paste_curl.clicked.connect(lambda: self.import_curl(QGuiApplication.clipboard().text()))
        bar.addWidget(self.method)
        bar.addWidget(self.url, 1)
        bar.addWidget(QLabel("env:"))
        bar.addWidget(self.env)
        bar.addWidget(self.paste_curl)
        bar.addWidget(self.send_button)
        self.body.addLayout(bar)
        self.notice = QLabel()
        self.notice.setObjectName("Muted")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.body.addWidget(self.notice)

        self.request_tabs = QTabWidget()
        self.params = KeyValueTable("Parameter", "Value")
        self.headers = KeyValueTable("Header", "Value")
        self.body_editor = BodyEditor()
        self.auth_editor = AuthEditor()
        self.env_editor = EnvironmentEditor()
        self.request_tabs.addTab(self.params, "Params")
        self.request_tabs.addTab(self.headers, "Headers")
        self.request_tabs.addTab(self.body_editor, "Body")
        self.request_tabs.addTab(self.auth_editor, "Auth")
        self.request_tabs.addTab(self.env_editor, "Environment")

        self.response = ResponseView()
        self.insight = InsightPanel()
        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(self.response)
        middle.addWidget(self.insight)
        middle.setStretchFactor(0, 3)
        middle.setStretchFactor(1, 2)
        middle.setSizes([640, 420])

        self.bottom = QTabWidget()
        self.history_panel = HistoryPanel()
        self.burst_panel = BurstPanel()
        self.bottom.addTab(self.history_panel, "History")
        self.bottom.addTab(self.burst_panel, "Burst")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.request_tabs)
        split.addWidget(middle)
        split.addWidget(self.bottom)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)  # extra height goes to the response
        split.setStretchFactor(2, 0)
        split.setSizes([180, 440, 240])
        # each part may shrink to a few lines, so the page fits a 1280×720 window with the burst
        # chart shown; choosing Burst gives the chart the room it needs
        self.request_tabs.setMinimumHeight(80)
        self.response.setMinimumHeight(90)
        self.insight.setMinimumHeight(90)
        self.bottom.currentChanged.connect(lambda _i: self._bottom_changed(split))
        # the collection tree sits beside the editor (its own module: console/collection_panel.py)
        self.collections = CollectionPanel(self)
        beside = QSplitter(Qt.Orientation.Horizontal)
        beside.addWidget(self.collections)
        beside.addWidget(split)
        beside.setStretchFactor(0, 0)
        beside.setStretchFactor(1, 1)
        beside.setSizes([360, 920])
        self.body.addWidget(beside, 1)

        self.url.textEdited.connect(self._url_edited)
        self.url.textChanged.connect(self._url_changed)
        self.params.sig_changed.connect(self._params_changed)
        self.headers.sig_changed.connect(self._editors_changed)
        self.body_editor.sig_changed.connect(self._editors_changed)
        self.auth_editor.sig_changed.connect(self._editors_changed)
        self.method.currentTextChanged.connect(lambda _t: self._editors_changed())
        self.env.currentIndexChanged.connect(self._env_changed)
        self.env_editor.sig_save.connect(self._save_environment)
        self.response.sig_copy_curl.connect(self.copy_curl)
        self.history_panel.sig_search.connect(self.refresh_history)
        self.history_panel.sig_replay.connect(self.replay)
        self.history_panel.sig_export.connect(self._export_dialog)
        self.history_panel.sig_clear.connect(self._clear_history)
        self.burst_panel.sig_start.connect(self.start_burst)
        self.burst_panel.sig_cancel.connect(lambda: self.runner.cancel("burst"))
        self.runner.sig_busy.connect(self._busy_changed)
        self.session.sig_runtime_state.connect(self._runtime_state_changed)
        self.session.sig_preferences.connect(self._preferences_changed)
        self._url_changed(self.url.text())

    def _runtime_state_changed(self, _name: str, _state: str) -> None:
        # a bound method: Qt drops the connection when this page is destroyed
        self._editors_changed()

    def _shortcuts(self) -> None:
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key in (QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_Return), QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_Enter)):
            sc = QShortcut(key, self)
            sc.setContext(ctx)
            sc.activated.connect(self.send)
        focus = QShortcut(QKeySequence("Ctrl+L"), self)
        focus.setContext(ctx)
        focus.activated.connect(self.focus_url)

    def focus_url(self) -> None:
        self.url.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.url.selectAll()

    def find(self) -> None:
        self.bottom.setCurrentWidget(self.history_panel)
        self.history_panel.search.setFocus()

    def refresh(self) -> None:
        self.refresh_history(self.history_panel.search.text())

    def on_shown(self) -> None:
        self._editors_changed()

    # -- editors <-> RequestSpec --------------------------------------------------------------------
    def build_spec(self) -> RequestSpec:
        kind, body, form = self.body_editor.value()
        return RequestSpec(self.method.currentText(), self.url.text(), self.headers.pairs(), kind, body, form,
                           self.auth_editor.value()).canonical()

    def load_spec(self, spec: RequestSpec) -> None:
        self._syncing = True
        try:
            self.method.setCurrentText(spec.method)
            self.url.setText(spec.url)
            self.params.set_rows(query_pairs(spec.url))
            self.headers.set_rows(list(spec.headers))
            self.body_editor.set_value(spec.body_kind, spec.body, spec.form)
            self.auth_editor.set_value(spec.auth)
        finally:
            self._syncing = False
        self._editors_changed()

    def _url_edited(self, text: str) -> None:
        if text.lstrip().startswith("curl ") and not self._syncing:
            self.import_curl(text)  # a curl command pasted into the URL field

    def _url_changed(self, text: str) -> None:
        if self._syncing or text.lstrip().startswith("curl "):
            return
        self._syncing = True
        self.params.set_rows(query_pairs(text))
        self._syncing = False
        self._editors_changed()

    def _params_changed(self) -> None:
        if self._syncing:
            return
        self._syncing = True
        self.url.setText(set_query(self.url.text(), self.params.pairs()))
        self._syncing = False
        self._editors_changed()

    def _editors_changed(self) -> None:
        n = len(self.headers.pairs())
        self.request_tabs.setTabText(1, f"Headers ({n})" if n else "Headers")
        k = self.body_editor.kind()
        self.request_tabs.setTabText(2, "Body" if k == "none" else f"Body ({self.body_editor.LABELS[k]})")
        auth = self.auth_editor.value().canonical()
        i = self.request_tabs.indexOf(self.auth_editor)
        self.request_tabs.setTabText(i, f"Auth ({auth.summary()})" if auth.active else "Auth")
        self.auth_editor.set_note(self._auth_note(auth))
        self.response.set_curl(self.curl_text())

    def _auth_note(self, auth: Auth) -> str:
        """What the Auth tab will add, and which typed header or parameter it replaces."""
        kind = self.auth_editor.kind()
        if kind == "none":
            return ""
        if not auth.active:
            return "Nothing is sent until a value is filled in."
        hdr, qp = auth.header(), auth.query_param()
        if hdr is not None:
            where = f"Sent as the header “{hdr[0]}”"
            clash = any(k.strip().lower() == hdr[0].lower() for k, _ in self.headers.pairs())
            extra = f"; it replaces the “{hdr[0]}” typed in Headers." if clash else "."
        else:
            assert qp is not None
            where = f"Sent as the query parameter “{qp[0]}”"
            clash = any(k == qp[0] for k, _ in self.params.pairs())
            extra = f"; it replaces the “{qp[0]}” typed in Params." if clash else "."
        return (where + extra + " Values may use {{variables}}; secret ones stay in the OS keyring. "
                "History and exports keep the key, token or password REDACTED.")

    # -- environments ------------------------------------------------------------------------------
    def current_env(self) -> Environment | None:
        name = self.env.currentText()
        return next((e for e in self.environments if e.name == name), None)

    def _env_changed(self, _i: int) -> None:
        env = self.current_env()
        if env is not None:
            rt = self.local_runtime()
            hint = f"Blank base = {rt.proxy_url}." if rt is not None else "No local runtime is running: set base, or start one."
            self.env_editor.set_environment(env, hint)
        self._editors_changed()

    def _fill_envs(self, envs: list[Environment], select: str | None = None) -> None:
        self.environments = envs
        current = select or self.env.currentText() or (envs[0].name if envs else NO_ENV)
        self.env.blockSignals(True)
        self.env.clear()
        for e in envs:
            self.env.addItem(e.name)
        self.env.addItem(NO_ENV)
        idx = self.env.findText(current)
        self.env.setCurrentIndex(max(0, idx))
        self.env.blockSignals(False)
        self._env_changed(self.env.currentIndex())

    def _save_environment(self, env: Environment) -> None:
        envs = [env if e.name == env.name else e for e in self.environments]
        removed = list(self.env_editor.removed)

        async def save() -> list[Environment]:
            await asyncio.to_thread(self.env_store.save, envs, removed)
            return await asyncio.to_thread(self.env_store.load)

        self.runner.run(save(), label="Saving environment", key="env",
                        on_done=lambda loaded: (self._fill_envs(loaded, env.name), self._note(f"Environment “{env.name}” saved.")))

    def builtins(self) -> dict[str, Any]:
        rt = self.local_runtime()
        out = builtin_values(base=rt.proxy_url if rt else None, admin=getattr(rt, "admin_url", None) if rt else None)
        if rt is None:
            def no_base() -> str:
                raise VariableError("{{base}} is the local runtime's proxy URL, but no local runtime is running: "
                                    "start it with the Start button in the status bar, or set base in the environment.")
            out["base"] = no_base
        return out

    async def resolve_current(self, template: RequestSpec) -> Resolved:
        env = self.current_env()
        if env is not None and any(v.secret for v in env.variables):
            env = await asyncio.to_thread(self.env_store.with_secrets, env)
        return resolve(template, env, self.builtins())

    # -- runtimes ----------------------------------------------------------------------------------
    def running_runtimes(self) -> list[Any]:
        return [rt for rt in self.session.runtimes.values()
                if str(getattr(rt, "state", "")) == "running" and getattr(rt, "proxy_url", None)]

    def local_runtime(self) -> Any:
        """The runtime ``{{base}}`` points at: the current connection's, else the first running."""
        rts = self.running_runtimes()
        cur = self.session.current
        if cur is not None and cur.kind == "local":
            rt = self.session.runtimes.get(cur.name)
            if rt in rts:
                return rt
        return rts[0] if rts else None

    def runtime_for(self, url: str) -> Any:
        return next((rt for rt in self.running_runtimes() if _same_listener(url, rt.proxy_url)), None)

    async def _runtime_secrets(self, rt: Any) -> tuple[list[str], list[str]]:
        """What the runtime makes secret (redacted too): its key-auth key names and the values of
        its stored credentials (keys, passwords, secrets)."""
        extra = list(self.session.preferences.get("redact_names") or [])  # the Preferences' names
        if rt is None or getattr(rt, "store", None) is None:
            return extra, []
        try:
            names, values = await asyncio.to_thread(runtime_secrets, rt.store)
        except Exception:  # a store being closed: fall back to the built-in names
            return extra, []
        return [*names, *extra], values

    # -- sending -----------------------------------------------------------------------------------
    def _busy_changed(self, _busy: bool, _label: str) -> None:
        sending = "Sending request" in self.runner.labels()
        self.send_button.setText("Cancel" if sending else "Send")

    def _send_clicked(self) -> None:
        if "Sending request" in self.runner.labels():
            self.runner.cancel("send")
        else:
            self.send()

    def send(self) -> None:
        template = self.build_spec()
        if redacted_places(template):  # replayed from history without its secret: ask, never send REDACTED
            self.secret_prompt = SecretPrompt(self, template, self._send_spec)
            return
        self._send_spec(template)

    def _send_spec(self, template: RequestSpec) -> None:
        self.error_panel.clear()
        self.response.set_pending("Sending…")
        self.runner.run(self._send(template), label="Sending request", key="send", on_error=self._send_failed)

    def _send_failed(self, info: ErrorInfo) -> None:
        self.response.set_error(info.message)
        self.show_error(info)

    async def _send(self, template: RequestSpec) -> Exchange:
        try:
            resolved = await self.resolve_current(template)
        except VariableError:
            raise
        target_rt = self.runtime_for(resolved.spec.url)
        names, stored = await self._runtime_secrets(target_rt or self.local_runtime())
        env_name = self.env.currentText()
        try:
            ex = await self.sender.send(resolved.spec)
        except asyncio.CancelledError:
            self.response.set_pending("Cancelled.")
            raise
        except SendError as exc:
            await self._record(template, resolved, None, exc.message, env_name, names, stored)
            self.insight.set_message("No response: nothing reached the gateway.")
            raise
        self.exchange = ex
        self.response.set_exchange(ex)
        await self._record(template, resolved, ex, None, env_name, names, stored)
        await self._show_insight(ex, target_rt)
        return ex

    async def _record(self, template: RequestSpec, resolved: Resolved, ex: Exchange | None, error: str | None,
                      env_name: str, names: list[str], stored: list[str]) -> None:
        if self.history is None:
            return
        try:
            self.last_entry = await self.history.arecord(
                template, resolved=resolved.spec, exchange=ex, error=error,
                environment=None if env_name == NO_ENV else env_name,
                secret_values=[*resolved.secret_values, *stored], secret_names=names)
        except Exception as exc:  # history is a convenience: never lose the response over it
            log.warning("could not store the request in history: %s", type(exc).__name__)
        self.refresh_history(self.history_panel.search.text())

    async def _show_insight(self, ex: Exchange, rt: Any) -> None:
        if rt is None:
            self.insight.set_message("This request did not go through a local runtime started by this app, "
                                     "so there is no gateway record to show.")
            return
        if not ex.request_id:
            self.insight.set_message("The response has no X-Kong-Request-Id header, so it cannot be matched "
                                     "to the gateway's record.")
            return
        entry = await lookup(rt.traffic, ex.request_id)
        if entry is None:
            self.insight.set_message(f"No record of request {ex.request_id} in the runtime's traffic log "
                                     "(it keeps the most recent requests only).")
            return
        self.insight.set_insight(build_insight(entry, ex.headers))

    # -- cURL --------------------------------------------------------------------------------------
    def import_curl(self, text: str) -> bool:
        try:
            imported = parse_curl(text)
        except CurlError as exc:
            self.show_error(ErrorInfo("Importing the curl command failed", exc.message))
            return False
        self.error_panel.clear()
        self.load_spec(imported.request)
        self._note("Imported from cURL." + (" " + " ".join(imported.warnings) if imported.warnings else ""))
        return True

    def curl_text(self, template: RequestSpec | None = None) -> str:
        """The current request as cURL: variables filled in where known, secrets REDACTED
        (secret variables stay as ``{{name}}``)."""
        template = template or self.build_spec()
        preview = resolve(template, self.current_env(), self.builtins(), strict=False).spec
        return to_curl(Redactor(self.session.preferences.get("redact_names") or ()).spec(preview))

    def copy_curl(self, with_secrets: bool = False) -> None:
        if not with_secrets:
            QGuiApplication.clipboard().setText(self.curl_text())
            self._note("Copied as cURL (secrets replaced by REDACTED).")
            return

        async def full() -> str:
            return to_curl((await self.resolve_current(self.build_spec())).spec)

        def done(text: str) -> None:
            QGuiApplication.clipboard().setText(text)
            self._note("Copied as cURL with secrets: handle the clipboard with care.")

        self.runner.run(full(), label="Preparing cURL", key="curl", on_done=done)

    def set_collection_note(self, text: str) -> None:
        self._note(text)

    def _bottom_changed(self, split: QSplitter) -> None:
        if self.bottom.currentWidget() is self.burst_panel:
            need = self.burst_panel.minimumSizeHint().height() + 40
            total = sum(split.sizes())
            if split.sizes()[2] < need and total > need:
                rest = total - need
                split.setSizes([rest * 2 // 5, rest - rest * 2 // 5, need])

    def _preferences_changed(self, prefs: dict[str, Any]) -> None:
        if self.history is not None and prefs.get("history_max"):
            self.history.max_entries = int(prefs["history_max"])

    def _note(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- history -----------------------------------------------------------------------------------
    async def _open(self) -> None:
        path = self._history_path
        self.history = await asyncio.to_thread(History, path) if path is not None else await asyncio.to_thread(History)
        self._preferences_changed(self.session.preferences)
        try:
            envs = await asyncio.to_thread(self.env_store.load)
        except VariableError as exc:
            self.show_error(ErrorInfo("Loading environments failed", exc.message))
            envs = [Environment("local", [Variable("base", "")])]
        self._fill_envs(envs)
        await self._search("")

    def refresh_history(self, query: str = "") -> None:
        if self.history is not None:
            self.runner.run(self._search(query), label="Searching history", key="history")

    async def _search(self, query: str) -> None:
        if self.history is None:
            return
        entries = await self.history.asearch(query)
        total = await asyncio.to_thread(self.history.count)
        self.history_panel.set_entries(entries, total)

    def replay(self, entry: HistoryEntry, send_now: bool = False) -> None:
        self.load_spec(entry.template)
        if entry.redacted:
            self._note("Secrets were not saved with this request (" + ", ".join(entry.redacted) +
                       "): Send asks for them, or keep them in a secret environment variable.")
        else:
            self._note(f"Loaded from history ({entry.method} {entry.url}).")
        if send_now:
            self.send()

    async def export_history(self, kind: str, path: str | Path) -> Path:
        assert self.history is not None
        h = self.history
        names, stored = await self._runtime_secrets(self.local_runtime())

        def write() -> Path:
            if kind == "json":
                text = h.export_json(secret_names=names, secret_values=stored)
            else:
                text = h.export_curl(secret_names=names, secret_values=stored)
            p = Path(path)
            p.write_text(text, encoding="utf-8")
            return p

        return await asyncio.to_thread(write)

    def _export_dialog(self, kind: str) -> None:
        suffix = "json" if kind == "json" else "sh"
        path, _ = QFileDialog.getSaveFileName(self, "Export history", f"history.{suffix}")
        if path:
            self.runner.run(self.export_history(kind, path), label="Exporting history", key="export",
                            on_done=lambda p: self._note(f"History exported to {p} (secrets redacted)."))

    def _clear_history(self) -> None:
        if self.history is None:
            return
        answer = QMessageBox.question(self, "Clear history", "Delete every request in the history?")
        if answer == QMessageBox.StandardButton.Yes:
            h = self.history

            async def clear() -> None:
                await asyncio.to_thread(h.clear)
                await self._search("")

            self.runner.run(clear(), label="Clearing history", key="history")

    # -- burst -------------------------------------------------------------------------------------
    def start_burst(self, plan: BurstPlan) -> None:
        try:
            plan = plan.check()
        except ValueError as exc:
            self.show_error(ErrorInfo("The burst cannot start", str(exc)))
            return
        self.error_panel.clear()
        self.runner.run(self._burst(self.build_spec(), plan), label="Sending burst", key="burst",
                        on_error=self._burst_failed)

    def _burst_failed(self, info: ErrorInfo) -> None:
        self.burst_panel.finished(self.burst.result if self.burst else None)
        self.show_error(info)

    async def _burst(self, template: RequestSpec, plan: BurstPlan) -> BurstResult:
        resolved = await self.resolve_current(template)
        sender = Sender(timeout=min(30.0, plan.time_limit), max_connections=plan.concurrency)
        self.burst = Burst(sender, resolved.spec, plan)
        self.burst_panel.started(self.burst.result)
        try:
            res = await self.burst.run()
        except asyncio.CancelledError:
            self.burst_panel.finished(self.burst.result)
            raise
        finally:
            await sender.aclose()
        self.burst_panel.finished(res)
        return res

    # -- lifetime ----------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the client and the history database (tests; the app closes at exit)."""
        self.runner.cancel()
        await self.runner.wait_idle()
        await self.sender.aclose()
        if self.history is not None:
            h, self.history = self.history, None
            await asyncio.to_thread(h.close)
