"""The main window's pages: one module per page, listed once here.

Adding a page: write ``pages/<module>.py`` with a ``Page`` subclass and add one ``PageSpec`` line.
The main window imports a page's module when it builds the sidebar; a page that fails to import
is shown as an error page instead of taking the window down.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    id: str
    title: str
    module: str  # under konnect_desktop.ui.pages
    cls: str

    def load(self) -> type:
        mod = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(mod, self.cls)


PAGES: list[PageSpec] = [
    PageSpec("runtimes", "Runtime Manager", "runtime_manager", "RuntimeManagerPage"),
    PageSpec("services", "Service Hub", "service_hub", "ServiceHubPage"),
    PageSpec("consumers", "Consumers", "consumers", "ConsumersPage"),
    PageSpec("plugins", "Plugins", "plugins", "PluginsPage"),
    PageSpec("upstreams", "Upstreams", "upstreams", "UpstreamsPage"),
    PageSpec("certificates", "Certificates", "certificates", "CertificatesPage"),
    PageSpec("vaults", "Vaults", "vaults", "VaultsPage"),
    PageSpec("console", "Request Console", "request_console", "RequestConsolePage"),
    PageSpec("traffic", "Traffic", "traffic", "TrafficPage"),
    PageSpec("replication", "Replication", "replication", "ReplicationPage"),
]


def spec(page_id: str) -> PageSpec:
    return next(p for p in PAGES if p.id == page_id)
