"""The plugin list's one-line summaries of the logging and AI plugins (ui/plugin_panel.py)."""

from __future__ import annotations

from konnect_desktop.ui.plugin_panel import plugin_summary


def test_gui_plugin_summaries_hide_secrets() -> None:
    """The plugin list's one-line summary never shows ai-proxy's key or http-log's password."""
    ai = {"name": "ai-proxy", "config": {"route_type": "llm/v1/chat", "auth": {"header_value": "Bearer sk-secret"},
                                         "model": {"provider": "openai", "name": "gpt-4"}}}
    assert plugin_summary(ai) == "llm/v1/chat → openai/gpt-4"
    log = {"name": "http-log", "config": {"http_endpoint": "http://bob:pw@logs.test:9/in", "method": "PUT"}}
    assert plugin_summary(log) == "PUT http://logs.test:9/in"
