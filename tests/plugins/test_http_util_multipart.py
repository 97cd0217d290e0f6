"""The one multipart/form-data parser (plugins/http_util.py Multipart), which the built-in echo
upstream uses too."""

from __future__ import annotations

from konnect_desktop.plugins.http_util import Multipart
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
