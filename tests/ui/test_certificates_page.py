"""The Certificates page on a real local runtime: subject, issuer, names, expiry in words, and a
warning for expired and soon-expiring certificates (certificates made in the test)."""

from __future__ import annotations

import uuid
from typing import Any

from tls_support import CA

from konnect_desktop.ui.pages.certificates import CertificatesPage


def test_certificates_page_shows_expiry_in_words(qtbot: Any, arun: Any, session: Any) -> None:
    ca = CA("Page CA")
    good, soon = ca.issue("good.test"), ca.issue("soon.test", days=10)
    expired = ca.issue("old.test", days=-2)
    name = f"c-{uuid.uuid4().hex[:8]}"
    conn = session.create_local_group(name)
    rt = arun(session.start_runtime(name, sample=False), timeout=30)
    arun(session.switch(conn))
    cfg: dict[str, list[dict[str, Any]]] = {"certificates": [], "snis": []}
    for pair, sni in ((good, "api.good.test"), (soon, None), (expired, None)):
        cid = str(uuid.uuid4())
        cfg["certificates"].append({"id": cid, "cert": pair.cert, "key": pair.key})
        if sni:
            cfg["snis"].append({"name": sni, "certificate": {"id": cid}})
    cfg["certificates"].append({"id": str(uuid.uuid4()), "cert": "{vault://env/some-cert}",
                                "key": "{vault://env/some-key}"})
    arun(rt.load_config(cfg), timeout=30)
    page = CertificatesPage(session)
    qtbot.addWidget(page)
    arun(page.load(), timeout=30)
    rows = {page.table.item(r, 0).text(): [page.table.item(r, c).text() for c in range(5)]
            for r in range(page.table.rowCount())}
    assert rows["api.good.test"][4].startswith("valid · ")
    assert "Page CA" in rows["api.good.test"][2] and "good.test" in rows["api.good.test"][1]
    assert rows["soon.test"][4] in ("expires in 9 days", "expires in 10 days")  # 10 days from issue, less a moment
    assert rows["old.test"][4].startswith("expired")
    assert rows["—"][1] == "(in a vault)"
    # details of the selected one, with the warning in words
    r = next(i for i in range(page.table.rowCount()) if page.table.item(i, 0).text() == "old.test")
    page.table.selectRow(r)
    assert page.details.text().startswith("⚠ This certificate has expired")
    assert "Names in the certificate: old.test" in page.details.text()
    page.search.setText("soon")
    visible = [page.table.item(i, 0).text() for i in range(page.table.rowCount()) if not page.table.isRowHidden(i)]
    assert visible == ["soon.test"]
