"""The one multipart/form-data parser (plugins/multipart.py ``Multipart``), which plugins, the
built-in echo upstream and the Admin API all use."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from konnect_desktop.plugins.multipart import Multipart, Part
from konnect_desktop.runtime.admin_body import BodyError, parse_multipart
from konnect_desktop.runtime.echo import echo_body

CTYPE = 'multipart/form-data; boundary="b0"'
BODY = (b'--b0\r\nContent-Disposition: form-data; name="t"\r\n\r\nv\r\n'
        b'--b0\r\nContent-Disposition: form-data; name="t"\r\n\r\nw\r\n'
        b'--b0\r\nContent-Disposition: form-data; name="up"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
        b'file body\r\n--b0--\r\n')


def test_fields_tell_files_from_form_fields() -> None:
    parsed = Multipart.parse(BODY, CTYPE)
    assert parsed is not None
    assert parsed.fields() == [("t", b"v", False), ("t", b"w", False), ("up", b"file body", True)]


def test_echo_reports_form_and_files() -> None:
    doc = echo_body("POST", "/anything", [("Host", "echo.internal"), ("Content-Type", CTYPE)], BODY, "127.0.0.1")
    assert doc["form"] == {"t": ["v", "w"]} and doc["files"] == {"up": "file body"}


def test_echo_without_a_boundary_has_no_form() -> None:
    doc = echo_body("POST", "/", [("Content-Type", "multipart/form-data")], b"junk", "127.0.0.1")
    assert doc["form"] == {} and doc["files"] == {}


# -- the parser itself (plugins/multipart.py): framing as RFC 2046 writes it -----------------------
_names = st.text(st.characters(blacklist_characters='"\r\n', blacklist_categories=("Cs",)), max_size=12)
_contents = st.binary(max_size=64) | st.sampled_from([b"", b"\r\n", b"--", b"a\r\n\r\nb", b"x\r\n--"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(_names, _contents, st.booleans()), max_size=6),
       boundary=st.text("abcdefXYZ0123456789'()+_,-./:=?", min_size=1, max_size=30),
       preamble=st.sampled_from([b"", b"preamble\r\n"]), epilogue=st.sampled_from([b"", b"epilogue"]))
def test_parse_reads_back_what_a_client_wrote(parts: list[tuple[str, bytes, bool]], boundary: str,
                                              preamble: bytes, epilogue: bytes) -> None:
    delim = b"--" + boundary.encode()
    assume(not any(delim in c for _n, c, _f in parts))  # a client picks a boundary its data lacks
    body = bytearray(preamble)
    for name, content, is_file in parts:
        dispo = f'Content-Disposition: form-data; name="{name}"' + ('; filename="f.bin"' if is_file else "")
        body += delim + b"\r\n" + dispo.encode() + b"\r\n\r\n" + content + b"\r\n"
    body += delim + b"--\r\n" + epilogue
    parsed = Multipart.parse(bytes(body), f'multipart/form-data; boundary="{boundary}"')
    assert parsed is not None
    assert parsed.fields() == [(n, c, f) for n, c, f in parts]
    # written back unchanged (preamble and epilogue dropped), and that reads back the same
    again = Multipart.parse(parsed.to_bytes(), f"multipart/form-data; boundary={boundary}")
    assert again is not None and again.parts == parsed.parts


def test_a_delimiter_counts_only_at_the_start_of_a_line() -> None:
    body = (b'--b0\r\nContent-Disposition: form-data; name="a"\r\n\r\nx--b0 y\r\n--b0x\r\n'
            b'--b0  \r\nContent-Disposition: form-data; name="b"\r\n\r\nz\r\n--b0--')
    parsed = Multipart.parse(body, "multipart/form-data; boundary=b0")
    assert parsed is not None
    assert parsed.fields() == [("a", b"x--b0 y\r\n--b0x", False), ("b", b"z", False)]


def test_a_part_without_headers_has_no_name_and_keeps_its_content() -> None:
    parsed = Multipart.parse(b"--b\r\n\r\nbare\r\n--b--\r\n", "multipart/form-data; boundary=b")
    assert parsed is not None and parsed.parts == [Part(None, b"", b"bare")]
    assert parsed.to_bytes() == b"--b\r\n\r\nbare\r\n--b--\r\n"


def test_the_admin_api_reads_json_parts_and_skips_nameless_and_nested_ones() -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="tags"\r\nContent-Type: application/json\r\n\r\n'
            b'["x","y"]\r\n'
            b'--b\r\nContent-Disposition: form-data; name="bad"\r\nContent-Type: application/json\r\n\r\n{nope\r\n'
            b'--b\r\nContent-Type: text/plain\r\n\r\nno name\r\n'
            b'--b\r\nContent-Disposition: form-data; name="n"\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n'
            b'--c--\r\n'
            b'--b\r\nContent-Disposition: form-data; name="host"\r\n\r\nh.local\r\n--b--\r\n')
    assert parse_multipart(body, "multipart/form-data; boundary=b") == [
        ("tags", ["x", "y"]), ("bad", "{nope"), ("host", "h.local")]
    with pytest.raises(BodyError, match="invalid UTF-8"):
        parse_multipart(b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--b--',
                        "multipart/form-data; boundary=b")
    with pytest.raises(BodyError, match="Cannot parse multipart body"):
        parse_multipart(b"anything", "multipart/form-data")
