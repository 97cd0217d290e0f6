"""The one multipart/form-data parser: plugins (request-transformer, ``kong.request.get_body``),
the built-in echo upstream and the Admin API all read multipart bodies through ``Multipart``.

It follows Kong's ``lua-multipart`` (parse a whole body, edit it part by part, write it back) with
RFC 2046's framing: a delimiter is ``--boundary`` at the start of a line (the CRLF before it
belongs to the delimiter, not to the previous part's content), optionally followed by
whitespace; ``--boundary--`` closes the body; the preamble and epilogue are ignored. A part's
name is the quoted ``name`` of its ``Content-Disposition`` (a part without one keeps its place
but has no name, as in Kong).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.I)
_DISPO_NAME = re.compile(rb'(?i)content-disposition:[^\r\n]*?\bname="([^"]*)"')
_DISPO_FILENAME = re.compile(rb'(?i)content-disposition:[^\r\n]*?\bfilename\*?=')
_CONTENT_TYPE = re.compile(rb'(?im)^content-type:[ \t]*([^\r\n]*)')
_CRLF = b"\r\n"


class Part(NamedTuple):
    """One part: its field name (None without one), raw header block and content."""

    name: str | None
    head: bytes
    content: bytes

    @property
    def is_file(self) -> bool:
        """An upload (its ``Content-Disposition`` names a ``filename``)."""
        return _DISPO_FILENAME.search(self.head) is not None

    @property
    def content_type(self) -> str:
        """The part's own ``Content-Type``, lower-cased ("" when it has none)."""
        m = _CONTENT_TYPE.search(self.head)
        return m.group(1).decode("latin-1").strip().lower() if m else ""


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart ``Content-Type`` (quoted or not), or None."""
    m = _BOUNDARY.search(content_type or "")
    return (m.group(1) or m.group(2)) if m else None


def _part(chunk: bytes) -> Part:
    if chunk.startswith(_CRLF):  # no headers at all: the blank line comes first
        head, content = b"", chunk[2:]
    else:
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, content = chunk, b""
    nm = _DISPO_NAME.search(head)
    return Part(nm.group(1).decode("utf-8", "replace") if nm else None, head, content)


def _chunks(body: bytes, boundary: bytes) -> list[bytes]:
    """Each part's bytes (headers, blank line, content) between delimiter lines, in order."""
    sep = _CRLF + b"--" + boundary
    pieces = (_CRLF + body).split(sep)
    chunks: list[bytes] = []
    current: bytes | None = None  # None: still in the preamble
    closed = False
    for piece in pieces[1:]:
        eol = piece.find(_CRLF)
        line = piece if eol < 0 else piece[:eol]
        if line.startswith(b"--") and not line[2:].strip(b" \t"):
            closed = True  # the close delimiter: the epilogue after it is ignored
            break
        if line.strip(b" \t"):  # "--boundaryX...": not a delimiter, part of the content
            if current is not None:
                current += sep + piece
            continue
        if current is not None:
            chunks.append(current)
        current = b"" if eol < 0 else piece[eol + 2:]
    if current is not None:
        if not closed and current.endswith(_CRLF):  # a body cut before its close delimiter
            current = current[:-2]
        chunks.append(current)
    return chunks


class Multipart:
    """A multipart/form-data body: ordered parts, each with its raw headers and content."""

    def __init__(self, boundary: str, parts: list[Part]) -> None:
        self.boundary = boundary
        self.parts = parts

    @classmethod
    def parse(cls, body: bytes, content_type: str) -> Multipart | None:
        """The body's parts; None when ``content_type`` names no boundary."""
        boundary = boundary_of(content_type)
        if boundary is None:
            return None
        chunks = _chunks(body, boundary.encode("latin-1")) if body else []
        return cls(boundary, [_part(c) for c in chunks])

    def get(self, name: str) -> bytes | None:
        for p in self.parts:
            if p.name == name:
                return p.content
        return None

    def delete(self, name: str) -> None:
        self.parts = [p for p in self.parts if p.name != name]

    def set_simple(self, name: str, value: str | bytes) -> None:
        """Set field ``name`` to a plain value (replacing the first part of that name)."""
        head = f'Content-Disposition: form-data; name="{name}"'.encode()
        data = value.encode("utf-8") if isinstance(value, str) else value
        for i, p in enumerate(self.parts):
            if p.name == name:
                self.parts[i] = Part(name, head, data)
                return
        self.parts.append(Part(name, head, data))

    def fields(self) -> list[tuple[str, bytes, bool]]:
        """(name, content, is a file upload) of every named part, in order."""
        return [(p.name, p.content, p.is_file) for p in self.parts if p.name is not None]

    def to_bytes(self) -> bytes:
        delim = b"--" + self.boundary.encode("latin-1")
        out = bytearray()
        for p in self.parts:
            out += delim + _CRLF + (p.head + _CRLF if p.head else b"") + _CRLF + p.content + _CRLF
        out += delim + b"--\r\n"
        return bytes(out)


__all__ = ["Multipart", "Part", "boundary_of"]
