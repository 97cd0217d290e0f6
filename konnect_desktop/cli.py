"""Command line entry point: the GUI by default, and the headless commands.

Each command lives in the room it belongs to and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them up, so that ``--help`` and start-up stay cheap
(a command's module is imported only when that command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from . import __version__

# command -> ("module" or "module:attribute", one-line help); the target has add_arguments and run
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("konnect_desktop.ui.app", "open the desktop app (the default)"),
    "gateway": ("konnect_desktop.runtime.gateway_cli", "run the bundled gateway headless"),
    "validate": ("konnect_desktop.runtime.validate_cli", "validate decK files offline"),
    "openapi2kong": ("konnect_desktop.model.openapi2kong_cli", "convert an OpenAPI 3 file to a decK file"),
    "test": ("konnect_desktop.console.test_cli", "run a request collection and its assertions (CI)"),
    "collection": ("konnect_desktop.console.collection_cli", "import Postman, Insomnia, HAR or curl as a collection"),
    "dump": ("konnect_desktop.controlplanes.commands:dump", "write a control plane's configuration to a decK file"),
    "diff": ("konnect_desktop.controlplanes.commands:diff", "show what a sync would change"),
    "sync": ("konnect_desktop.controlplanes.commands:sync", "make a control plane match a decK file"),
    "replicate": ("konnect_desktop.controlplanes.commands:replicate", "copy one control plane's configuration to another"),
    "completion": ("konnect_desktop.completion", "print a bash or zsh completion script"),
}


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="konnect-desktop",
        description="Design, test and operate Kong-style API gateways. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"konnect-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        try:
            command = _load(module_name)
        except ImportError as exc:  # an optional dependency missing
            p.set_defaults(_import_error=str(exc))
            continue
        command.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_import_error", None):
        print(f"konnect-desktop {args.command}: unavailable ({args._import_error})", file=sys.stderr)
        return 1
    try:
        return int(_load(args._module).run(args) or 0)
    except KeyboardInterrupt:
        return 130
