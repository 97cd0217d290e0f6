"""Open-ended input to the Admin API: whatever arrives, the answer is a Kong-shaped JSON error or a
success, never a 5xx, and the form decoder turns any field names into plain data."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
import requests
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from konnect_desktop.runtime.admin_api import create_admin_app
from konnect_desktop.runtime.admin_body import decode_form
from konnect_desktop.runtime.store import Store

PATHS = ["/services", "/routes", "/consumers", "/plugins", "/upstreams", "/key-auths", "/acls",
         "/consumer_groups", "/services/s1", "/services/s1/routes", "/routes/r1/service",
         "/consumers/c1/key-auth", "/consumer_groups/g1/consumers", "/schemas/services/validate",
         "/schemas/plugins/validate", "/config"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
field_names = st.sampled_from(["name", "host", "port", "paths", "paths[]", "paths[1]", "config.minute",
                               "config.add.headers[]", "tags", "protocols[2]", "service.id", "url",
                               "consumer", "a..b", ".x", "x.", "[]", "a[1][2]"]) | st.text(max_size=12)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("fuzz") / "k.db")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(create_admin_app(store))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(holder["runner"].cleanup())  # type: ignore[union-attr]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    url = f"http://127.0.0.1:{holder['port']}"
    s = requests.Session()
    s.post(f"{url}/services", json={"name": "s1", "host": "h"})
    s.post(f"{url}/services/s1/routes", json={"name": "r1", "paths": ["/r"]})
    s.post(f"{url}/consumers", json={"username": "c1"})
    s.post(f"{url}/consumer_groups", json={"name": "g1"})
    yield url
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)
    store.close()


def _check(r: requests.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.content:
        body = r.json()
        if r.status_code >= 400:
            assert isinstance(body.get("message"), str)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["POST", "PUT", "PATCH"]), body=json_values)
def test_json_bodies_never_crash(base, path, method, body) -> None:
    _check(requests.request(method, base + path, data=json.dumps(body),
                            headers={"Content-Type": "application/json"}, timeout=10))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["POST", "PUT", "PATCH"]),
       fields=st.lists(st.tuples(field_names, st.text(max_size=12)), max_size=8))
def test_form_bodies_never_crash(base, path, method, fields) -> None:
    _check(requests.request(method, base + path, data=fields, timeout=10))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(segments=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5),
       query=st.dictionaries(st.sampled_from(["size", "offset", "tags", "list_consumers", "flatten_errors"]),
                             st.text(max_size=10), max_size=3),
       method=st.sampled_from(["GET", "DELETE", "HEAD", "OPTIONS"]))
def test_any_path_and_query(base, segments, query, method) -> None:
    from urllib.parse import quote

    path = "/" + "/".join(quote(s, safe="") for s in segments)
    _check(requests.request(method, base + path, params=query, timeout=10))


@given(fields=st.lists(st.tuples(field_names, st.text(max_size=8)), max_size=12))
def test_decode_form_gives_plain_data(fields) -> None:
    out = decode_form(fields)
    json.dumps(out)  # only dicts with string keys, lists and strings
    assert isinstance(out, dict)
