"""``konnect-desktop collection import FILE -o DIR``: a Postman v2.1 collection, Insomnia v4
export, HAR file or curl command saved as a collection folder (``console/collection.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="collection_command", metavar="ACTION")
    imp = sub.add_parser("import", help="import a Postman, Insomnia, HAR or curl file as a collection folder")
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="the collection folder to write")


def run(args: argparse.Namespace) -> int:
    from .collection import CollectionError, save
    from .importers import import_file

    if getattr(args, "collection_command", None) != "import":
        print("usage: konnect-desktop collection import FILE -o DIR", file=sys.stderr)
        return 2
    try:
        imported = import_file(args.file)
    except CollectionError as exc:
        print(f"konnect-desktop collection: {exc}", file=sys.stderr)
        return 1
    written = save(imported.collection, args.output)
    for w in imported.warnings:
        print(f"warning: {w}", file=sys.stderr)
    n = len(imported.collection.requests)
    print(f"{args.file}: {imported.kind}, {n} request{'s' if n != 1 else ''} → {args.output} ({len(written)} files)")
    return 0
