"""Command line entry point: the GUI by default, and the headless commands.

Each command lives in the room it belongs to and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them up, so that ``--help`` and start-up stay cheap
(a command's module is imported only when that command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("konnect_desktop.ui.app", "open the desktop app (the default)"),
    "gateway": ("konnect_desktop.runtime.gateway_cli", "run the bundled gateway headless"),
    "validate": ("konnect_desktop.model.validate_cli", "validate decK files offline"),
    "dump": ("konnect_desktop.controlplanes.cli_dump", "write a control plane's configuration to a decK file"),
    "diff": ("konnect_desktop.controlplanes.cli_diff", "show what a sync would change"),
    "sync": ("konnect_desktop.controlplanes.cli_sync", "make a control plane match a decK file"),
    "replicate": ("konnect_desktop.controlplanes.cli_replicate", "copy one control plane's configuration to another"),
}


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
            module = importlib.import_module(module_name)
        except ImportError as exc:  # a room not built yet, or an optional dependency missing
            p.set_defaults(_import_error=str(exc))
            continue
        module.add_arguments(p)
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
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
