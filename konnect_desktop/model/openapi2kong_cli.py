"""``konnect-desktop openapi2kong SPEC``: an OpenAPI 3 file → a decK file, as ``deck file
openapi2kong`` does it (same names, ids, routes and ``x-kong-*`` extensions; see
``model/openapi2kong.py``). Errors are one line naming the file and what is wrong; exit 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", default=None, metavar="SPEC",
                        help="OpenAPI 3.0/3.1 file (YAML or JSON); '-' reads stdin")
    parser.add_argument("-s", "--spec", dest="spec_opt", metavar="SPEC", help="the same as SPEC (decK's spelling)")
    parser.add_argument("-o", "--output-file", default="-", metavar="FILE",
                        help="where to write the decK file ('-', the default, is stdout)")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default yaml)")
    parser.add_argument("--select-tag", action="append", default=[], metavar="TAG",
                        help="tag every entity with TAG (repeat or comma-separate); default: the spec's x-kong-tags")
    parser.add_argument("--uuid-base", default="", metavar="NAME",
                        help="base name for the entities' UUIDv5 ids (default: x-kong-name, then info.title)")
    parser.add_argument("--no-id", action="store_true", help="write no ids (Kong assigns them)")
    parser.add_argument("--generate-security", action="store_true",
                        help="openid-connect plugins from the spec's openIdConnect security requirements")
    parser.add_argument("--ignore-security-errors", action="store_true",
                        help="skip security requirements that cannot be converted instead of failing")
    parser.add_argument("--reuse-services", action="store_true",
                        help="paths with identical servers and defaults share one service")
    parser.add_argument("--skip-route-by-header", action="store_true",
                        help="no extra routes per value of required header parameters with an enum")


def run(args: argparse.Namespace) -> int:
    import yaml

    from .declarative import render
    from .openapi2kong import OpenAPIError, Options, convert

    name = args.spec_opt or args.spec or "-"
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        print(f"konnect-desktop openapi2kong: {name}: cannot read ({exc.strerror or exc})", file=sys.stderr)
        return 1
    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        print(f"konnect-desktop openapi2kong: {name}: invalid YAML{where}", file=sys.stderr)
        return 1
    tags = [t.strip() for arg in args.select_tag for t in arg.split(",") if t.strip()] or None
    opts = Options(tags=tags, doc_name=args.uuid_base, skip_id=args.no_id,
                   generate_security=args.generate_security, ignore_security_errors=args.ignore_security_errors,
                   reuse_services=args.reuse_services, skip_route_by_header=args.skip_route_by_header)
    try:
        result = convert(doc, opts)
    except OpenAPIError as exc:
        print(f"konnect-desktop openapi2kong: failed converting OpenAPI spec '{name}': {exc}", file=sys.stderr)
        return 1
    text = render(result, args.format)
    if args.output_file == "-":
        sys.stdout.write(text)
    else:
        Path(args.output_file).write_text(text, encoding="utf-8")
    return 0
