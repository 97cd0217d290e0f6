"""The gateway's access log (nginx combined + Kong's request id and latencies, secrets masked)
and the Admin API's debug lines, in-process through real sockets and through ``gateway run``.

No Kong spec covers this: Kong's own proxy access log is nginx's ``access_log`` with its
``kong_log_format`` (combined + ``kong_request_id``); the latencies are added here in Kong's
names (``latencies.kong/proxy/request`` of the log serializer) because a desktop user has no
other place to read them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from pathlib import Path

import aiohttp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_gateway_cli import gateway, get, ready, stop

from konnect_desktop.model import declarative
from konnect_desktop.runtime.access_log import AccessLog, format_line
from konnect_desktop.runtime.manager import sample_config_path
from konnect_desktop.runtime.runtime import LocalRuntime
from konnect_desktop.runtime.traffic import new_entry

LINE = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" '
    r'kong_request_id: "(?P<id>[^"]*)" latencies: kong=(?P<kong>[\d.]+|-) '
    r"upstream=(?P<upstream>[\d.]+|-) request=(?P<total>[\d.]+|-)$")


def test_format_line_is_combined_plus_kong_and_masks_secrets() -> None:
    e = new_entry("abc123", "10.0.0.7", "GET", "/echo?x=1&apikey=very-secret-key&token=t0k3n", "api.local")
    e.status = 200
    e.request_headers = [(b"User-Agent", b'curl/8 "quoted"'), (b"Referer", b"http://x/?access_token=zzz")]
    e.response_headers = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"
    e.proxy_latency, e.upstream_latency, e.total_latency = 0.4, 1.25, 1.9
    line = format_line(e)
    m = LINE.match(line)
    assert m, line
    assert m["ip"] == "10.0.0.7" and m["status"] == "200" and m["bytes"] == "42" and m["id"] == "abc123"
    assert m["request"] == "GET /echo?x=1&apikey=****&token=**** HTTP/1.1"
    assert m["agent"] == r"curl/8 \x22quoted\x22"  # nginx escapes a quote as \x22
    assert m["referer"] == "http://x/?access_token=****"
    assert (m["kong"], m["upstream"], m["total"]) == ("0.40", "1.25", "1.90")
    assert "very-secret-key" not in line and "t0k3n" not in line and "zzz" not in line


def test_a_request_answered_by_the_proxy_itself_has_no_upstream_latency() -> None:
    e = new_entry("r", "127.0.0.1", "GET", "/nowhere", "h")
    e.status = 404
    m = LINE.match(format_line(e))
    assert m and m["upstream"] == "-" and m["bytes"] == "-" and m["agent"] == "-"


async def test_one_line_per_proxied_request_through_real_sockets(tmp_path: Path) -> None:
    rt = LocalRuntime("acc", tmp_path / "acc.db")
    await rt.start()
    out = io.StringIO()
    access = AccessLog(rt.traffic, out)
    try:
        await rt.load_config(declarative.load(sample_config_path()))
        async with aiohttp.ClientSession() as s:
            for i in range(3):
                async with s.get(f"{rt.proxy_url}/echo/{i}?apikey=demo-key-{i}",
                                 headers={"Authorization": "Bearer abcdef123456", "User-Agent": "t/1"}) as r:
                    assert r.status == 200
                    rid = r.headers.get("X-Kong-Request-Id")
            async with s.get(f"{rt.proxy_url}/no-such-route") as r:
                assert r.status == 404
    finally:
        access.close()  # writes what is still queued for the next loop turn
        await rt.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and access.lines == 4
    parsed = [LINE.match(x) for x in lines]
    assert all(parsed), lines
    assert [p["status"] for p in parsed] == ["200", "200", "200", "404"]
    assert parsed[2]["request"] == "GET /echo/2?apikey=**** HTTP/1.1" and parsed[2]["agent"] == "t/1"
    if rid:
        assert parsed[2]["id"] == rid
    assert parsed[0]["upstream"] != "-" and float(parsed[0]["total"]) >= float(parsed[0]["kong"])
    assert "demo-key" not in out.getvalue() and "abcdef123456" not in out.getvalue()


async def test_admin_requests_are_logged_at_debug_with_the_token_masked(tmp_path: Path, caplog) -> None:
    rt = LocalRuntime("adm", tmp_path / "adm.db", admin_token="admin-s3cret-token")
    await rt.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="konnect_desktop.admin"):
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{rt.admin_url}/services?apikey=qqq-secret",
                                 headers={"Kong-Admin-Token": "admin-s3cret-token"}) as r:
                    assert r.status == 200
                async with s.get(f"{rt.admin_url}/services") as r:
                    assert r.status == 401
    finally:
        await rt.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "konnect_desktop.admin"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("admin GET /services?apikey=**** -> 200 in ")
    assert lines[1].startswith("admin GET /services -> 401 in ")
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "konnect_desktop.admin")
    assert "qqq-secret" not in caplog.text and "admin-s3cret-token" not in caplog.text


def test_gateway_run_writes_the_access_log_to_stdout(tmp_path: Path) -> None:
    p = gateway(tmp_path, "--db", str(tmp_path / "o.db"), "--sample")
    try:
        proxy, _admin = ready(p)
        assert get(proxy + "/echo/a?apikey=cli-secret")[0] == 200
        line = p.stdout.readline().rstrip("\n") if p.stdout else ""
    finally:
        assert stop(p) == 0
    m = LINE.match(line)
    assert m, line
    assert m["request"] == "GET /echo/a?apikey=**** HTTP/1.1" and m["status"] == "200"


def test_gateway_run_access_log_file_is_private_and_admin_debug_goes_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    p = gateway(tmp_path, "--db", str(tmp_path / "f.db"), "--sample", "--access-log", str(log), "--log-level", "debug",
                "--admin-token", "gw-admin-token-1")
    try:
        proxy, admin = ready(p)
        assert get(proxy + "/echo/b", {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="})[0] == 200
        assert get(admin + "/routes", {"Kong-Admin-Token": "gw-admin-token-1"})[0] == 200
    finally:
        assert stop(p) == 0
    err = p.stderr.read() if p.stderr else ""
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and LINE.match(lines[0]) and '"GET /echo/b HTTP/1.1" 200' in lines[0]
    assert "admin GET /routes -> 200" in err
    assert "gw-admin-token-1" not in err and "dXNlcjpwYXNzd29yZA" not in lines[0]


@given(
    path=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="?&#="),
                 min_size=1, max_size=30),
    name=st.sampled_from(["apikey", "token", "access_token", "client_secret", "X-Api-Key", "my_password"]),
    secret=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=8, max_size=24),
    agent=st.text(max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_any_request_gives_one_parseable_line_without_the_secret(path: str, name: str, secret: str, agent: str) -> None:
    assume(secret not in agent and secret not in path)  # only the parameter's value is secret
    e = new_entry("id", "127.0.0.1", "GET", f"/{path}?a=1&{name}={secret}", "h")
    e.status = 200
    e.request_headers = [("User-Agent", agent)]
    line = format_line(e)
    assert "\n" not in line and LINE.match(line), line
    assert secret not in line
