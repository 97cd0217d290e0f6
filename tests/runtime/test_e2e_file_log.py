"""file-log through real sockets and real files, ported from Kong's
spec/03-plugins/04-file-log/01-log_spec.lua and 02-schema_spec.lua (each test names its ``it``).

Lines are written right after the log phase (``loop.call_soon``); a test yields to the loop a
bounded number of times for them instead of sleeping."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e_plugin_support import Gateway, lines_in

from konnect_desktop import plugins

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def route_with(gw: Gateway, config: dict[str, Any], path: str = "/p") -> None:
    c, svc = gw.cfg()
    r = c.route(svc, paths=[path])
    c.plugin("file-log", config, route=r)
    await gw.load(c)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_logs_to_file(gw: Gateway, tmp_path: Path) -> None:
    """it("logs to file"); the file is created 0600 (Kong: 0644 — records hold request headers)."""
    path = tmp_path / "file.log"
    await route_with(gw, {"path": str(path)})
    marker = uuid.uuid4().hex
    r = await gw.request("GET", "/p", [("file-log-uuid", marker)])
    assert r.status == 200
    (entry,) = await lines_in(path, 1)
    assert entry["client_ip"] == "127.0.0.1"
    assert entry["request"]["headers"]["file-log-uuid"] == marker
    assert isinstance(entry["request"]["size"], int) and isinstance(entry["response"]["size"], int)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert logged is not None
    assert [d.summary for d in logged.decisions if d.plugin == "file-log"] == [f"log: appended to {path}"]


async def test_reopens_file_on_each_request(gw: Gateway, tmp_path: Path) -> None:
    """it("reopens file on each request")."""
    path = tmp_path / "reopen.log"
    await route_with(gw, {"path": str(path), "reopen": True})
    ids = [uuid.uuid4().hex for _ in range(3)]
    await gw.request("GET", "/p", [("file-log-uuid", ids[0])])
    await lines_in(path, 1)
    path.unlink()
    await gw.request("GET", "/p", [("file-log-uuid", ids[1])])
    await gw.request("GET", "/p", [("file-log-uuid", ids[2])])
    got = [e["request"]["headers"]["file-log-uuid"] for e in await lines_in(path, 2)]
    assert got == ids[1:]


async def test_logs_are_lost_if_reopen_false_and_file_removed(gw: Gateway, tmp_path: Path) -> None:
    """it("logs are lost if reopen = false and file doesn't exist")."""
    path = tmp_path / "kept-open.log"
    await route_with(gw, {"path": str(path)})
    await gw.request("GET", "/p")
    await lines_in(path, 1)
    path.unlink()
    assert (await gw.request("GET", "/p")).status == 200
    await settle()
    assert not path.exists()


@pytest.mark.parametrize(("kind", "reason"), [("missing-dir", "No such file or directory"),
                                              ("directory", "Is a directory")])
async def test_cannot_open(gw: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str,
                           reason: str) -> None:
    """it("does not create log file if directory doesn't exist") and
    it("the given path is not a file but a directory"): the request is answered, the error is
    logged, and the decision says why."""
    path = tmp_path / "nope" / "x.log" if kind == "missing-dir" else tmp_path
    await route_with(gw, {"path": str(path)})
    with caplog.at_level("ERROR", logger="konnect_desktop.plugins.file_log"):
        r = await gw.request("GET", "/p")
        await settle()
    assert r.status == 200
    assert f"failed to open the file {path}: {reason}" in caplog.text
    logged = gw.runtime.traffic.get(r.header("X-Kong-Request-Id") or "")
    assert logged is not None
    (d,) = [d for d in logged.decisions if d.plugin == "file-log"]
    assert d.outcome == "error" and reason in d.summary
    assert not (tmp_path / "nope").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
async def test_no_write_permission(gw: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """it("does not log if Kong has no write permissions to the file")."""
    path = tmp_path / "ro.log"
    path.write_text("")
    path.chmod(0o400)
    await route_with(gw, {"path": str(path)})
    with caplog.at_level("ERROR", logger="konnect_desktop.plugins.file_log"):
        assert (await gw.request("GET", "/p")).status == 200
    assert "Permission denied" in caplog.text and path.read_text() == ""


async def test_character_device(gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    """it("the given path is a character device file"): /dev/null opens and takes the line."""
    await route_with(gw, {"path": "/dev/null"})
    with caplog.at_level("ERROR", logger="konnect_desktop.plugins.file_log"):
        assert (await gw.request("GET", "/p")).status == 200
        await settle()
    assert "failed to open" not in caplog.text


@pytest.mark.parametrize(("config", "errors"), [
    ({"path": "/tmp/log"}, {}),  # 02-schema_spec it("accepts valid path") (and reopen defaults to false)
    ({"path": "/tmp/log", "custom_fields_by_lua": {"foo": "return 'bar'"}}, {}),  # it("accepts custom fields by lua")
    ({}, {"config": {"path": "required field missing"}}),  # it("rejects missing path")
    ({"path": "/ovo*"}, {"config": {"path": "not a valid filename"}}),  # it("rejects invalid filename")
    ({"path": "/tmp/log", "reopen": "x"}, {"config": {"reopen": "expected a boolean"}}),
])
async def test_schema(config: dict[str, Any], errors: dict[str, Any]) -> None:
    """spec/03-plugins/04-file-log/02-schema_spec.lua."""
    out, errs = plugins.check_plugin({"name": "file-log", "config": config})
    assert errs == errors
    if not errs:
        assert out["config"]["reopen"] is False
