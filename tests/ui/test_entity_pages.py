"""Upstreams & targets, Certificates & SNIs and Vaults pages: schema-generated forms over a real
store, targets with the health the local runtime's Admin API reports, certificates described
from their PEM (generated here with ``cryptography``) with expired / soon-expiring ones flagged."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ui_support import current_local_runtime, show_loaded

from konnect_desktop.ui.cert_info import parse_pem
from konnect_desktop.ui.mainwindow import MainWindow
from konnect_desktop.ui.pages.certificates import CertificatesPage
from konnect_desktop.ui.pages.upstreams import UpstreamsPage
from konnect_desktop.ui.pages.vaults import VaultsPage

NOW = dt.datetime.now(dt.UTC)


def make_cert(cn: str, sans: list[str], not_before: dt.datetime, not_after: dt.datetime) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem, key_pem


def _show(qtbot: Any, page: Any) -> Any:
    return show_loaded(qtbot, page, (1280, 720), timeout=10000)


def test_cert_info_days_and_states() -> None:
    pem, _ = make_cert("api.example.com", ["api.example.com", "www.example.com"],
                       dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    info = parse_pem(pem)
    assert info.subject == "CN=api.example.com" and info.sans == ["api.example.com", "www.example.com"]
    at = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)
    assert info.days_left(at) == 19 and info.state(at) == "soon"
    assert info.expiry_text(at) == "⚠ expires 2026-03-01 (in 19 days)"
    assert info.state(dt.datetime(2026, 1, 5, tzinfo=dt.UTC)) == "ok"
    assert info.state(dt.datetime(2026, 3, 2, tzinfo=dt.UTC)) == "expired"
    assert info.state(dt.datetime(2025, 12, 1, tzinfo=dt.UTC)) == "not yet valid"
    assert parse_pem("nonsense").state() == "unreadable"


def test_upstreams_and_targets_with_health(qtbot: Any, arun: Any, session: Any) -> None:
    current_local_runtime(arun, session, "up")
    page = _show(qtbot, UpstreamsPage(session))
    page.new()
    page.editor.form.editors["name"].edit.setText("orders.upstream")
    page.editor.save()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not page.editor.runner.busy, timeout=10000)
    box = page.targets
    qtbot.waitUntil(lambda: box.upstream is not None and not page.runner.busy, timeout=10000)
    for address, weight in (("127.0.0.1:9001", 50), ("127.0.0.1:9002", 100)):
        box.address.setText(address)
        box.weight.setValue(weight)
        box.add_button.click()
        qtbot.waitUntil(lambda a=address: any(t["target"] == a for t in box.targets) and not page.runner.busy,
                        timeout=10000)
    rows = {box.table.item(r, 0).text(): (box.table.item(r, 1).text(), box.table.item(r, 2).text())
            for r in range(box.table.rowCount())}
    assert set(rows) == {"127.0.0.1:9001", "127.0.0.1:9002"} and rows["127.0.0.1:9001"][0] == "50"
    assert all(h != "—" for _w, h in rows.values()), rows  # the runtime's Admin API answered
    box.table.selectRow([r for r in range(box.table.rowCount()) if box.table.item(r, 0).text() == "127.0.0.1:9001"][0])
    box.remove_button.click()
    qtbot.waitUntil(lambda: len(box.targets) == 1 and not page.runner.busy, timeout=10000)
    stored = arun(session.cp.list_all("targets", parent=("upstreams", page.model.entity(0)["id"])))
    assert [t["target"] for t in stored] == ["127.0.0.1:9002"]


def test_certificates_show_expiry_and_manage_snis(qtbot: Any, arun: Any, local_session: Any) -> None:
    cp = local_session.cp
    for cn, start, end in (("fine.example.com", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=200, hours=12)),
                           ("soon.example.com", NOW - dt.timedelta(days=80), NOW + dt.timedelta(days=10, hours=12)),
                           ("old.example.com", NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=35, hours=12))):
        pem, key = make_cert(cn, [cn], start, end)
        arun(cp.create("certificates", {"cert": pem, "key": key, "tags": [cn.split(".")[0]]}))
    page = _show(qtbot, CertificatesPage(local_session))
    qtbot.waitUntil(lambda: page.model.rowCount() == 3)
    expiry = {page.model.entity(r)["tags"][0]: page.model.index(r, 2).data() for r in range(3)}
    assert expiry["fine"].startswith("expires ") and "in 200 days" in expiry["fine"]
    assert expiry["soon"].startswith("⚠ expires ") and "in 10 days" in expiry["soon"]
    assert expiry["old"].startswith("⚠ expired ") and "36 days ago" in expiry["old"]
    soon = next(page.model.entity(r) for r in range(3) if page.model.entity(r)["tags"] == ["soon"])
    page.select(soon["id"])
    d = page.details
    assert d.fields["subject"].text() == "CN=soon.example.com"
    assert d.fields["sans"].text() == "soon.example.com"
    assert d.fields["expiry"].text().startswith("⚠") and d.fields["expiry"].property("status") == "warn"
    key_editor = page.editor.form.editors["key"]
    assert key_editor.edit.echoMode() != key_editor.edit.EchoMode.Normal  # the private key stays masked
    d.sni_name.setText("soon.example.com")
    d.add_button.click()
    qtbot.waitUntil(lambda: d.snis.count() == 1 and not page.runner.busy, timeout=10000)
    assert [s["name"] for s in arun(cp.list_all("snis"))] == ["soon.example.com"]
    d.snis.setCurrentRow(0)
    d.remove_button.click()
    qtbot.waitUntil(lambda: d.snis.count() == 0 and not page.runner.busy, timeout=10000)
    assert arun(cp.list_all("snis")) == []


def test_vaults_page_creates_from_the_schema_form(qtbot: Any, arun: Any, local_session: Any) -> None:
    page = _show(qtbot, VaultsPage(local_session))
    page.new()
    page.editor.form.editors["prefix"].edit.setText("Bad Prefix")
    page.editor.form.editors["name"].edit.setText("env")
    page.editor.save()
    assert "prefix" in page.editor.form.errors_shown()
    page.editor.form.editors["prefix"].edit.setText("my-env")
    assert "prefix" not in page.editor.form.errors_shown()
    page.editor.save()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not page.editor.runner.busy, timeout=10000)
    assert [(v["prefix"], v["name"]) for v in arun(local_session.cp.list_all("vaults"))] == [("my-env", "env")]


def test_the_new_pages_are_in_the_sidebar_and_clear_on_a_switch(qtbot: Any, arun: Any, session: Any) -> None:
    a = session.create_local_group(f"a-{uuid.uuid4().hex[:6]}")
    arun(session.switch(a))
    arun(session.create("vaults", {"prefix": "only-a", "name": "env"}))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    titles = [win.sidebar.item(i).text() for i in range(win.sidebar.count())]
    assert {"Upstreams", "Certificates", "Vaults"} <= set(titles)
    page = win.show_page("vaults")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not page.runner.busy, timeout=10000)
    arun(session.switch(session.create_local_group(f"b-{uuid.uuid4().hex[:6]}")))
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=10000)
    assert page.model.rowCount() == 0 and page.editor.entity is None


def test_upstream_health_through_a_kong_admin_connection(arun: Any, session: Any) -> None:
    """The Upstreams page's health column for a Kong Admin API connection: ``GET
    /upstreams/{u}/health`` of a real gateway (the local runtime's Admin API on a free port)."""
    from konnect_desktop.settings import Profile

    name = f"h-{uuid.uuid4().hex[:6]}"
    group = session.create_local_group(name)
    rt = arun(session.start_runtime(name, sample=False), timeout=30)
    local = arun(session.control_plane_for(group))
    up = arun(local.create("upstreams", {"name": "pay.upstream"}))
    arun(local.create("targets", {"target": "10.1.1.1:80"}, parent=("upstreams", up["id"])))
    conn = Profile(kind="kong-admin", name=f"admin-{name}", url=rt.admin_url)
    session.add_connection(conn)
    cp = arun(session.control_plane_for(conn))
    assert arun(cp.upstream_health(up["id"])) == {"10.1.1.1:80": "HEALTHCHECKS_OFF"}
    assert arun(local.upstream_health("pay.upstream")) == {"10.1.1.1:80": "HEALTHCHECKS_OFF"}
