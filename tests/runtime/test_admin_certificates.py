"""Certificates, SNIs and CA certificates through the Admin API over real HTTP (aiohttp on
127.0.0.1, real SQLite), with certificates made in the test (tls_support).

Ported from Kong's spec/02-integration/04-admin_api/06-certificates_routes_spec.lua (each test
names its ``it``), and the checks of kong/db/schema/entities/certificates.lua and
ca_certificates.lua, word for word.
"""

from __future__ import annotations

import datetime as dt

import pytest
from admin_support import admin_client, ok_json
from tls_support import CA

from konnect_desktop.model import certs

CA1 = CA("Spec CA")
RSA = CA1.issue("rsa.test", kind="rsa")
EC = CA1.issue("ec.test", kind="ec")
RSA2 = CA1.issue("rsa2.test", kind="rsa")


@pytest.fixture
async def api(tmp_path):
    async with admin_client(tmp_path / "kong.db") as client:
        yield client


async def _cert(api, names=("foo.test", "bar.test"), pair=RSA):
    return await ok_json(await api.post("/certificates", json={"cert": pair.cert, "key": pair.key, "snis": list(names)}), 201)


@pytest.mark.parametrize("encoding", ["json", "form", "multipart"])
async def test_creates_a_certificate_and_returns_it_with_the_snis_pseudo_property(api, encoding) -> None:
    """it_content_types("creates a certificate and returns it with the snis pseudo-property");
    "returns snis as [] when none is set"."""
    if encoding == "json":
        r = await api.post("/certificates", json={"cert": RSA.cert, "key": RSA.key, "snis": ["n2.test", "n1.test"]})
    else:
        import aiohttp

        fields = [("cert", RSA.cert), ("key", RSA.key), ("snis[1]", "n2.test"), ("snis[2]", "n1.test")]
        if encoding == "form":
            r = await api.post("/certificates", data=fields)
        else:
            form = aiohttp.FormData(default_to_multipart=True)
            for k, v in fields:
                form.add_field(k, v)
            r = await api.post("/certificates", data=form)
    body = await ok_json(r, 201)
    assert body["snis"] == ["n1.test", "n2.test"]  # sorted, as Kong's DAO sorts them
    r = await api.post("/certificates", json={"cert": EC.cert, "key": EC.key})
    assert '"snis":[]' in await r.text()


async def test_duplicated_and_pre_existing_snis(api) -> None:
    """returns a conflict when duplicated snis are present in the request; returns a conflict
    when a pre-existing sni is detected (and nothing is added)."""
    body = await ok_json(await api.post("/certificates", json={"cert": RSA.cert, "key": RSA.key,
                                                           "snis": ["a.test", "b.test", "a.test"]}), 400)
    assert body["message"] == "schema violation (snis: a.test is duplicated)"
    first = await _cert(api, ["a.test"])
    body = await ok_json(await api.post("/certificates", json={"cert": EC.cert, "key": EC.key,
                                                           "snis": ["a.test", "b.test"]}), 400)
    assert body["message"] == f"schema violation (snis: a.test already associated with existing certificate '{first['id']}')"
    assert len((await ok_json(await api.get("/certificates")))["data"]) == 1
    assert [s["name"] for s in (await ok_json(await api.get("/snis")))["data"]] == ["a.test"]


async def test_get_by_id_or_sni(api) -> None:
    """retrieves all certificates with snis; retrieves a certificate by id / by sni; returns 404
    for a random non-existing uuid / sni."""
    c = await _cert(api)
    listed = await ok_json(await api.get("/certificates"))
    assert listed["data"][0]["snis"] == ["bar.test", "foo.test"]
    assert (await ok_json(await api.get(f"/certificates/{c['id']}")))["snis"] == ["bar.test", "foo.test"]
    by_sni = await ok_json(await api.get("/certificates/foo.test"))
    assert by_sni["id"] == c["id"] and by_sni["snis"] == ["bar.test", "foo.test"]
    assert await ok_json(await api.get("/certificates/6bd4f53b-f548-4a57-b4e5-dbd5a0b5b1d5"), 404) == {"message": "Not found"}
    assert await ok_json(await api.get("/certificates/nope.test"), 404) == {"message": "SNI not found"}


async def test_put(api) -> None:
    """PUT: creates if not found; creates a new sni when provided in the url (also when it is in
    the body too); upserts if found (snis cleared when not given); handles invalid input."""
    created = await ok_json(await api.put("/certificates/n1.test", json={"cert": RSA.cert, "key": RSA.key}))
    assert created["snis"] == ["n1.test"]
    again = await ok_json(await api.put("/certificates/n1.test", json={"cert": RSA.cert, "key": RSA.key, "snis": ["n2.test"]}))
    assert again["id"] == created["id"] and again["snis"] == ["n1.test", "n2.test"]
    both = await ok_json(await api.put("/certificates/n1.test",
                                   json={"cert": RSA.cert, "key": RSA.key, "snis": ["n1.test", "n2.test"]}))
    assert both["snis"] == ["n1.test", "n2.test"]
    up = await ok_json(await api.put(f"/certificates/{created['id']}", json={"cert": EC.cert, "key": EC.key}))
    assert up["snis"] == [] and up["cert"] == EC.cert
    bad = await ok_json(await api.put(f"/certificates/{created['id']}", json={}), 400)
    assert bad["message"] == "2 schema violations (cert: required field missing; key: required field missing)"


async def test_kongs_certificate_checks(api) -> None:
    """handles invalid input with alternate certificate; handles mismatched keys/certificates
    (also the alternate pair); errors on non-distinct certs; invalid PEM in Kong's words."""
    cid = "b2d1a1e4-6c38-4b61-a4b5-8b2b1f2a0c11"
    body = await ok_json(await api.put(f"/certificates/{cid}", json={"cert": RSA.cert, "key": RSA.key, "cert_alt": EC.cert}), 400)
    assert body["message"] == "schema violation (all or none of these fields must be set: 'cert_alt', 'key_alt')"
    body = await ok_json(await api.put(f"/certificates/{cid}", json={"cert": RSA.cert, "key": EC.key}), 400)
    assert body["message"] == "schema violation (certificate does not match key)"
    body = await ok_json(await api.put(f"/certificates/{cid}", json={"cert": RSA.cert, "key": RSA.key,
                                                                  "cert_alt": EC.cert, "key_alt": RSA.key}), 400)
    assert body["message"] == "schema violation (alternative certificate does not match key)"
    body = await ok_json(await api.put(f"/certificates/{cid}", json={"cert": RSA.cert, "key": RSA.key,
                                                                  "cert_alt": RSA2.cert, "key_alt": RSA2.key}), 400)
    assert body["message"] == ("schema violation (certificate and alternative certificate need to have different "
                               "type (e.g. RSA and ECDSA), the provided certificates were both of the same type)")
    ok = await ok_json(await api.put(f"/certificates/{cid}", json={"cert": RSA.cert, "key": RSA.key,
                                                                "cert_alt": EC.cert, "key_alt": EC.key}))
    assert ok["cert_alt"] == EC.cert
    body = await ok_json(await api.post("/certificates", json={"cert": "-----BEGIN CERTIFICATE-----\nxx\n", "key": "nope"}), 400)
    assert body["fields"]["cert"].startswith("invalid certificate: x509.new: ")
    assert body["fields"]["key"].startswith("invalid key: pkey.new: ")


async def test_patch_snis(api) -> None:
    """updates snis associated with a certificate; updates only the certificate if no snis are
    specified; returns a conflict when duplicated / pre-existing snis; deletes all snis from a
    certificate if snis field is JSON null."""
    c1 = await _cert(api, ["a.test", "b.test"])
    c2 = await _cert(api, ["c.test"], pair=EC)
    up = await ok_json(await api.patch(f"/certificates/{c1['id']}", json={"snis": ["z.test"]}))
    assert up["snis"] == ["z.test"]
    up = await ok_json(await api.patch(f"/certificates/{c1['id']}", json={"tags": ["t"]}))
    assert up["snis"] == ["z.test"] and up["tags"] == ["t"]
    body = await ok_json(await api.patch(f"/certificates/{c1['id']}", json={"snis": ["q.test", "q.test"]}), 400)
    assert body["message"] == "schema violation (snis: q.test is duplicated)"
    body = await ok_json(await api.patch(f"/certificates/{c1['id']}", json={"snis": ["c.test"]}), 400)
    assert body["message"] == f"schema violation (snis: c.test already associated with existing certificate '{c2['id']}')"
    r = await api.patch(f"/certificates/{c1['id']}", json={"snis": None})
    assert r.status == 200 and '"snis":[]' in await r.text()
    assert [s["name"] for s in (await ok_json(await api.get("/snis")))["data"]] == ["c.test"]


async def test_delete_and_nested_snis(api) -> None:
    """DELETE: deletes a certificate and all related snis; /certificates/:certificate/snis:
    certificate doesn't exist, retrieves a list of snis, returns a conflict when an sni exists."""
    c = await _cert(api)
    nested = await ok_json(await api.get(f"/certificates/{c['id']}/snis"))
    assert sorted(s["name"] for s in nested["data"]) == ["bar.test", "foo.test"]
    added = await ok_json(await api.post(f"/certificates/{c['id']}/snis", json={"name": "baz.test"}), 201)
    assert added["certificate"] == {"id": c["id"]}
    dup = await ok_json(await api.post(f"/certificates/{c['id']}/snis", json={"name": "baz.test"}), 409)
    assert dup["message"] == "UNIQUE violation detected on '{name=\"baz.test\"}'"
    missing = "585e4c16-c656-11e6-8db9-5f512d8a12cd"
    assert await ok_json(await api.post(f"/certificates/{missing}/snis", json={"name": "x.test"}), 404) == {"message": "Not found"}
    await ok_json(await api.delete("/certificates/foo.test"), 204)
    assert (await ok_json(await api.get("/snis")))["data"] == []
    assert await ok_json(await api.delete("/certificates/nope.test"), 404) == {"message": "SNI not found"}


async def test_ca_certificates_checks(api) -> None:
    """ca_certificates.lua: one certificate at a time, not expired, a CA; cert_digest is the
    certificate's SHA-256 and unique."""
    body = await ok_json(await api.post("/ca_certificates", json={"cert": CA1.pem}), 201)
    assert body["cert_digest"] == certs.cert_digest(CA1.pem) and len(body["cert_digest"]) == 64
    dup = await ok_json(await api.post("/ca_certificates", json={"cert": CA1.pem}), 409)
    assert dup["fields"] == {"cert_digest": body["cert_digest"]}
    leaf = await ok_json(await api.post("/ca_certificates", json={"cert": RSA.cert}), 400)
    assert leaf["message"] == ('schema violation (certificate does not appear to be a CA because it is missing '
                               'the "CA" basic constraint)')
    two = await ok_json(await api.post("/ca_certificates", json={"cert": CA("B").pem + CA("C").pem}), 400)
    assert two["message"] == "schema violation (please submit only one certificate at a time)"
    old = await ok_json(await api.post("/ca_certificates", json={"cert": CA("Old", expired=True).pem}), 400)
    assert old["message"] == 'schema violation (certificate expired, "Not After" time is in the past)'


def test_describe_for_the_gui() -> None:
    info = certs.describe(RSA.cert, now=dt.datetime.now(dt.UTC))
    assert info.names == ("rsa.test",) and info.key_type == "RSA"
    assert "Spec CA" in info.issuer and "rsa.test" in info.subject
    assert 360 <= info.days_left <= 365 and not info.expired and not info.expiring_soon
    soon = certs.describe(CA1.issue("soon.test", days=10).cert)
    assert soon.expiring_soon
    later = certs.describe(RSA.cert, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
    assert later.expired
