"""``konnect-desktop completion bash|zsh``: a shell completion script generated from the argument
parser itself (shtab), so every command and option completes and nothing is kept by hand.

    konnect-desktop completion bash > ~/.local/share/bash-completion/completions/konnect-desktop
    konnect-desktop completion zsh > "${fpath[1]}/_konnect-desktop"
"""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to write the completion script for")


def script(shell: str) -> str:
    import shtab

    from .cli import build_parser

    return shtab.complete(build_parser(), shell=shell)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return 0
