"""About: versions (app, Qt, PySide, Python), where data and logs live, and the keyring backend."""

from __future__ import annotations

import asyncio
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from .. import __version__, appdirs
from .tasks import TaskRunner


def about_facts() -> list[tuple[str, str]]:
    return [
        ("Konnect Desktop", __version__),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Platform", f"{platform.system()} {platform.release()} · {QGuiApplication.platformName()}"),
        ("Configuration", str(appdirs.config_dir())),
        ("Data", str(appdirs.data_dir())),
        ("Logs", str(appdirs.log_dir())),
    ]


async def keyring_backend() -> str:
    from .. import credentials

    # asking the keyring may be a D-Bus round trip: never on the UI thread
    return await asyncio.to_thread(credentials.backend_name)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Konnect Desktop")
        v = QVBoxLayout(self)
        head = QLabel("<b>Konnect Desktop</b><br>Design, test and operate Kong-style API gateways, "
                      "with a gateway built in.")
        head.setWordWrap(True)
        v.addWidget(head)
        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for k, val in [*about_facts(), ("Keyring", "checking…")]:
            lab = QLabel(val)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[k] = lab
            form.addRow(k, lab)
        v.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        v.addWidget(buttons)
        self.runner = TaskRunner(self)
        self.runner.run(keyring_backend(), label="Asking the keyring", on_done=self.values["Keyring"].setText,
                        on_error=lambda info: self.values["Keyring"].setText(f"unavailable: {info.message}"))
