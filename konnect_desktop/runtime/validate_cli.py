"""``konnect-desktop validate FILE...``: check decK files offline, as ``deck file validate`` does.

Each valid file gets one OK line with its entity counts; an invalid one gets every problem with
its location (``kong.yaml: services[2].routes[0].paths[1]: ...``). Exit status 0 when every file
is valid, 1 otherwise. Unreadable files and bad YAML are one clear line each, never a traceback.

Beyond the schema, a valid file is checked with the runtime's router for a hole Kong has too: a
route protected by an authentication plugin that a request skips by spelling its host in another
case or with a trailing dot, landing on a broader unauthenticated route (``host_audit``). That is
a warning (the file is what Kong accepts), never a change of the exit status. The command lives
in ``runtime/`` because it uses the router; the schema checks are ``model.declarative``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The order and words of the OK summary.
_SUMMARY = (
    ("services", "service", "services"), ("routes", "route", "routes"),
    ("plugins", "plugin", "plugins"), ("consumers", "consumer", "consumers"),
    ("consumer_groups", "consumer group", "consumer groups"),
    ("keyauth_credentials", "key-auth credential", "key-auth credentials"),
    ("acls", "acl", "acls"), ("basicauth_credentials", "basic-auth credential", "basic-auth credentials"),
    ("jwt_secrets", "jwt secret", "jwt secrets"), ("hmacauth_credentials", "hmac-auth credential", "hmac-auth credentials"),
    ("oauth2_credentials", "oauth2 credential", "oauth2 credentials"),
    ("upstreams", "upstream", "upstreams"), ("targets", "target", "targets"),
    ("certificates", "certificate", "certificates"), ("snis", "sni", "snis"),
    ("ca_certificates", "ca certificate", "ca certificates"), ("vaults", "vault", "vaults"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="decK files (YAML or JSON); '-' reads stdin")
    parser.add_argument("--strict-plugins", action="store_true",
                        help="refuse plugins this app does not bundle (as the local gateway does)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only, no OK lines or warnings")


def summary(counts: dict[str, int]) -> str:
    parts = []
    for table, one, many in _SUMMARY:
        n = counts.get(table, 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts) if parts else "no entities"


def run(args: argparse.Namespace) -> int:
    from ..model.declarative import validate
    from .host_audit import host_case_bypasses

    status = 0
    for name in args.files:
        if name == "-":
            label = "<stdin>"
            source: bytes | Path = sys.stdin.buffer.read()
        else:
            label = name
            source = Path(name)
        report = validate(source, strict_plugins=args.strict_plugins)
        if report.config is None:
            # the message already names the file
            msg = str(report.errors[0])
            if label == "<stdin>":
                msg = msg.replace("<input>", label, 1)
            print(f"error: {msg}", file=sys.stderr)
            status = 1
            continue
        for p in report.errors:
            print(f"{label}: {p}", file=sys.stderr)
        if not args.quiet:
            for w in report.warnings:
                print(f"{label}: warning: {w}", file=sys.stderr)
            if not report.errors:
                for b in host_case_bypasses(report.config):
                    print(f"{label}: warning: {b.message()}", file=sys.stderr)
        if report.errors:
            n = len(report.errors)
            print(f"{label}: invalid ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
            status = 1
        elif not args.quiet:
            print(f"{label}: OK ({summary(report.config.counts())})")
    return status
