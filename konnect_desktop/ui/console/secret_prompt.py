"""Replaying a request whose secret history did not keep: ask for it, never send "REDACTED".

History stores a request with its key, token or password replaced by ``REDACTED`` (and names
the places). Before such a request is sent, the console asks for each missing value in turn
(masked, never saved) and fills it in where it was; cancelling sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from ...console.redact import REDACTED, redacted_places
from ...console.request import RequestSpec, query_pairs, set_query


def fill_redacted(spec: RequestSpec, values: list[str]) -> RequestSpec:
    """``spec`` with the i-th redacted place (in ``redacted_places`` order) set to ``values[i]``."""
    it = iter(values)
    headers = [(k, v.replace(REDACTED, next(it)) if REDACTED in v else v) for k, v in spec.headers]
    url = spec.url
    pairs = query_pairs(url)
    if any(v == REDACTED for _, v in pairs):
        url = set_query(url, [(k, next(it) if v == REDACTED else v) for k, v in pairs])
    form = [replace(f, value=next(it)) if f.value == REDACTED else f for f in spec.form]
    body = spec.body.replace(REDACTED, next(it)) if REDACTED in spec.body else spec.body
    auth = spec.auth
    if REDACTED in (auth.value, auth.password):
        v = next(it)
        auth = replace(auth, value=v) if auth.value == REDACTED else replace(auth, password=v)
    return replace(spec, headers=headers, url=url, form=form, body=body, auth=auth)


class SecretPrompt:
    """Asks for each redacted place of ``spec`` (one masked dialog after another), then calls
    ``done`` with the filled request; nothing is called when the user cancels."""

    def __init__(self, parent: QWidget, spec: RequestSpec, done: Callable[[RequestSpec], None]) -> None:
        self.parent = parent
        self.spec = spec
        self.done = done
        self.places = redacted_places(spec)
        self.values: list[str] = []
        self.dialog: QInputDialog | None = None
        self._ask()

    def _ask(self) -> None:
        if len(self.values) == len(self.places):
            self.done(fill_redacted(self.spec, self.values))
            return
        place = self.places[len(self.values)]
        dlg = QInputDialog(self.parent)
        dlg.setWindowTitle("Secret needed to send")
        dlg.setLabelText(f"History did not keep the secret of {place}.\n"
                         "Type it to send this request (it is not saved):")
        dlg.setTextEchoMode(QLineEdit.EchoMode.Password)
        dlg.setMinimumWidth(420)
        dlg.textValueSelected.connect(self._answered)
        self.dialog = dlg
        dlg.open()

    def _answered(self, value: str) -> None:
        self.values.append(value)
        self._ask()
