"""``konnect-desktop gateway run`` as a subprocess: ready line with the real ports, serving the
the sample configuration only with ``--sample`` (a new store starts empty, as Kong), SIGTERM/SIGINT → drain and exit 0, ``--config`` import, an
invalid file → located problems and exit 1, and the Admin API's bind rule (no token → loopback
only; the token from a private file, the environment or, with a warning, argv)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

READY = re.compile(r"^Konnect Desktop gateway ready: proxy (http://127\.0\.0\.1:(\d+))  admin (http://127\.0\.0\.1:(\d+))$")


def gateway(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp_path / "home"), **(env_extra or {}))
    if "KONG_ADMIN_TOKEN" not in (env_extra or {}):
        env.pop("KONG_ADMIN_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "konnect_desktop", "gateway", "run",
         "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def ready(p: subprocess.Popen[str]) -> tuple[str, str]:
    line = p.stdout.readline().rstrip("\n") if p.stdout else ""
    m = READY.match(line)
    assert m, f"not a ready line: {line!r}; stderr: {p.stderr.read() if p.stderr and p.poll() is not None else ''}"
    assert int(m.group(2)) > 0 and int(m.group(4)) > 0
    return m.group(1), m.group(3)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stop(p: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    p.send_signal(sig)
    try:
        return p.wait(15)
    finally:
        if p.poll() is None:
            p.kill()


def test_a_new_store_starts_empty_without_sample(tmp_path: Path) -> None:
    """Kong starts with nothing configured; a headless gateway must too (decK users sync into it)."""
    p = gateway(tmp_path, "--db", str(tmp_path / "new.db"))
    try:
        proxy, admin = ready(p)
        assert json.loads(get(admin + "/services")[1])["data"] == []
        assert get(proxy + "/echo")[0] == 404
    finally:
        assert stop(p) == 0


def test_first_start_with_sample_serves_it_and_sigterm_exits_0(tmp_path: Path) -> None:
    p = gateway(tmp_path, "--sample")
    try:
        proxy, admin = ready(p)
        status, body = get(proxy + "/echo/hello?x=1")
        assert status == 200
        doc = json.loads(body)
        assert doc["path"] == "/hello" and doc["args"] == {"x": "1"}
        status, body = get(admin + "/services")
        assert status == 200
        names = [s["name"] for s in json.loads(body)["data"]]
        assert "echo" in names
        from konnect_desktop import plugins

        if plugins.get("key-auth") and plugins.get("acl"):
            assert get(proxy + "/private")[0] == 401
            assert get(proxy + "/private", {"apikey": "demo-key"})[0] == 200
    finally:
        code = stop(p)
    assert code == 0


def test_sigint_exits_0_and_state_persists(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    p = gateway(tmp_path, "--db", str(db))
    try:
        _proxy, admin = ready(p)
        req = urllib.request.Request(admin + "/services", data=json.dumps({"name": "kept", "url": "http://127.0.0.1:9"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 201
    finally:
        assert stop(p, signal.SIGINT) == 0
    p = gateway(tmp_path, "--db", str(db))
    try:
        _proxy, admin = ready(p)
        names = [s["name"] for s in json.loads(get(admin + "/services")[1])["data"]]
        assert "kept" in names
    finally:
        assert stop(p) == 0


def test_config_file_is_loaded(tmp_path: Path) -> None:
    conf = tmp_path / "kong.yaml"
    conf.write_text("""
_format_version: "3.0"
services:
  - name: only
    host: echo.internal
    routes:
      - name: only-route
        paths: [/only]
""")
    p = gateway(tmp_path, "--config", str(conf), "--db", str(tmp_path / "c.db"))
    try:
        proxy, admin = ready(p)
        assert get(proxy + "/only/x")[0] == 200
        assert get(proxy + "/echo")[0] == 404  # the file replaced everything: no sample
    finally:
        assert stop(p) == 0


def test_a_products_side_file_the_store_refuses_exits_1_and_changes_nothing(tmp_path: Path) -> None:
    """``--config`` is loaded under the store lock before the listeners open; a side file naming an
    OpenAPI file that is not there is refused in words, and the decK file's services are not kept
    either (one transaction)."""
    from konnect_desktop.runtime.store import Store

    conf = tmp_path / "kong.yaml"
    conf.write_text('_format_version: "3.0"\nservices:\n  - name: only\n    host: echo.internal\n')
    (tmp_path / "kong.products.yaml").write_text(
        "products:\n  - name: p\n    versions:\n      - version: v1\n        openapi_file: missing.yaml\n")
    db = tmp_path / "side.db"
    code, out, err = finish(gateway(tmp_path, "--config", str(conf), "--db", str(db)))
    assert code == 1 and "ready" not in out
    assert f"{conf}: configuration rejected" in err and "openapi_file" in err, err
    store = Store(db)
    try:
        assert store.count("services") == 0
    finally:
        store.close()
    assert not (tmp_path / "side.db.lock").exists()


def test_a_products_side_file_that_is_not_yaml_exits_1_naming_where(tmp_path: Path) -> None:
    """Bad input gets words, not a traceback: the side file and the line of the YAML error."""
    conf = tmp_path / "kong.yaml"
    conf.write_text('_format_version: "3.0"\nservices:\n  - name: only\n    host: echo.internal\n')
    (tmp_path / "kong.products.yaml").write_text("products:\n  - name: [unclosed\n")
    code, out, err = finish(gateway(tmp_path, "--config", str(conf), "--db", str(tmp_path / "y.db")))
    assert code == 1 and "ready" not in out
    assert f"{conf}: configuration rejected" in err and "kong.products.yaml is not valid YAML (line" in err, err
    assert "Traceback" not in err


def test_invalid_config_prints_located_errors_and_exits_1(tmp_path: Path) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text("""
_format_version: "3.0"
services:
  - name: svc
    host: echo.internal
    routes:
      - name: r
        paths: [no-leading-slash]
""")
    p = gateway(tmp_path, "--config", str(conf), "--db", str(tmp_path / "bad.db"))
    try:
        code = p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    out, err = p.communicate()
    assert code == 1
    assert "ready" not in out
    assert "bad.yaml" in err
    assert "services[0].routes[0]" in err and "paths" in err


def test_admin_token_is_enforced(tmp_path: Path) -> None:
    p = gateway(tmp_path, "--admin-token", "s3cret", "--db", str(tmp_path / "t.db"))
    try:
        _proxy, admin = ready(p)
        assert get(admin + "/services")[0] == 401
        assert get(admin + "/services", {"Kong-Admin-Token": "s3cret"})[0] == 200
    finally:
        assert stop(p) == 0


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        code = p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    out, err = p.communicate()
    return code, out, err


def test_non_loopback_admin_without_token_is_refused(tmp_path: Path) -> None:
    """Before: ``--admin-listen 0.0.0.0:…`` started without a token and took POST /services from
    anyone on the network."""
    db = tmp_path / "open.db"
    code, out, err = finish(gateway(tmp_path, "--admin-listen", "0.0.0.0:0", "--db", str(db)))
    assert code == 2 and "ready" not in out
    assert "refusing to expose the Admin API on 0.0.0.0" in err
    assert "--admin-token-file" in err and "KONG_ADMIN_TOKEN" in err and "127.0.0.1" in err
    assert not db.exists()


def test_a_busy_proxy_port_exits_1_without_moving_elsewhere(tmp_path: Path) -> None:
    """The GUI falls back to free ports when 8000 is taken; ``gateway run`` must not (a script
    waits on the port it asked for): it says it cannot listen, exits 1 and leaves the store
    unlocked."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        db = tmp_path / "busy.db"
        code, out, err = finish(gateway(tmp_path, "--db", str(db), "--sample", "--proxy-listen", f"127.0.0.1:{port}"))
        assert code == 1 and "ready" not in out
        assert "gateway: cannot listen" in err
        assert not (tmp_path / "busy.db.lock").exists()
    finally:
        holder.close()


def test_token_from_environment_guards_a_wildcard_bind_and_ready_line_shows_it(tmp_path: Path) -> None:
    """Before: the ready line said 127.0.0.1 when 0.0.0.0 was bound."""
    p = gateway(tmp_path, "--admin-listen", "0.0.0.0:0", "--db", str(tmp_path / "e.db"),
                env_extra={"KONG_ADMIN_TOKEN": "from-env"})
    try:
        line = p.stdout.readline() if p.stdout else ""
        m = re.match(r"^Konnect Desktop gateway ready: proxy http://127\.0\.0\.1:\d+  admin http://0\.0\.0\.0:(\d+)$", line)
        assert m, line
        admin = f"http://127.0.0.1:{m.group(1)}"
        assert get(admin + "/services")[0] == 401
        assert get(admin + "/services", {"Kong-Admin-Token": "from-env"})[0] == 200
    finally:
        assert stop(p) == 0
    assert "from-env" not in (p.stderr.read() if p.stderr else "")


def test_token_file_must_be_private(tmp_path: Path) -> None:
    tok = tmp_path / "admin.token"
    tok.write_text("file-secret\n")
    tok.chmod(0o644)
    code, out, err = finish(gateway(tmp_path, "--admin-token-file", str(tok), "--db", str(tmp_path / "f.db")))
    assert code == 2 and "ready" not in out
    assert "readable by other users" in err and f"chmod 600 {tok}" in err and "file-secret" not in err
    tok.chmod(0o600)
    p = gateway(tmp_path, "--admin-token-file", str(tok), "--admin-listen", "0.0.0.0:0", "--db", str(tmp_path / "f.db"))
    try:
        line = p.stdout.readline() if p.stdout else ""
        port = line.rsplit(":", 1)[1].strip()
        assert get(f"http://127.0.0.1:{port}/services")[0] == 401
        assert get(f"http://127.0.0.1:{port}/services", {"Kong-Admin-Token": "file-secret"})[0] == 200
    finally:
        assert stop(p) == 0


def test_admin_token_on_the_command_line_warns(tmp_path: Path) -> None:
    p = gateway(tmp_path, "--admin-token", "argv-secret", "--db", str(tmp_path / "w.db"))
    try:
        ready(p)
    finally:
        assert stop(p) == 0
    err = p.stderr.read() if p.stderr else ""
    assert "visible to other users" in err and "--admin-token-file" in err and "argv-secret" not in err


@pytest.mark.parametrize("argv", [["gateway"], ["gateway", "run", "--proxy-listen", "nonsense"]])
def test_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "konnect_desktop", *argv], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()


READY_TLS = re.compile(r"^Konnect Desktop gateway ready: proxy (http://127\.0\.0\.1:(\d+))  "
                       r"https (https://127\.0\.0\.1:(\d+))  admin (http://127\.0\.0\.1:(\d+))$")


def test_proxy_listen_tls_serves_https(tmp_path: Path) -> None:
    """``gateway run --proxy-listen-tls HOST:PORT`` (Kong's ``proxy_listen ... ssl``): the ready
    line names the HTTPS address; a client trusting the default certificate kept beside the store
    talks HTTP/1.1 (ALPN) over TLS to the proxy."""
    import socket
    import ssl

    db = tmp_path / "g.db"
    p = gateway(tmp_path, "--proxy-listen-tls", "127.0.0.1:0", "--db", str(db))
    try:
        line = p.stdout.readline().rstrip("\n") if p.stdout else ""
        m = READY_TLS.match(line)
        assert m, (line, p.stderr.read() if p.stderr and p.poll() is not None else "")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "g.db.default-cert.pem"))
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", int(m.group(4))), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.selected_alpn_protocol() == "http/1.1"
                tls.sendall(b"GET /nowhere-at-all HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
        assert data.startswith(b"HTTP/1.1 404"), data[:200]
    finally:
        assert stop(p) == 0
