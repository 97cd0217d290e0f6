"""Open-ended inputs through the proxy (hypothesis): whatever query string and header values a
client sends arrive at the upstream unchanged, and the upstream path is the normalized request
path. The runtime runs on its own loop in a background thread; the client is ``http.client``."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_proxy_support import Cfg, echo_server, make_runtime

from konnect_desktop.runtime.router import normalize_request_path


class Gateway:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rt, self.up = self.call(self._start(tmp))
        self.port = int(self.rt.proxy_url.rsplit(":", 1)[1])

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self, tmp: Path) -> tuple[Any, Any]:
        up = await echo_server()
        rt = await make_runtime(tmp)
        cfg = Cfg()
        cfg.route(cfg.service(port=up.port), paths=["/"], strip_path=False)
        await rt.load_config(cfg.config())
        return rt, up

    def close(self) -> None:
        self.call(self.rt.stop())
        self.call(self.up.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def get(self, target: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest("GET", target, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = Gateway(tmp_path_factory.mktemp("props"))
    yield g
    g.close()


_QCHARS = st.sampled_from(list("abcXYZ019-._~!$&'()*+,;=:@/?") + ["%20", "%2F", "%e2%82%ac", "%3D", "%26"])
_query = st.lists(_QCHARS, max_size=40).map("".join)
_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
_segment = st.one_of(
    st.text(st.sampled_from(list("abcdefgxyz0129-_~")), min_size=1, max_size=8),
    st.sampled_from([".", "..", "%41", "%7e", "%2F", "%2f", "%20", "a%2Eb", ""]),
)
_path = st.lists(_segment, min_size=1, max_size=8).map(lambda segs: "/" + "/".join(segs))

_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(query=_query, value=_value)
def test_query_and_header_values_arrive_unchanged(gw: Gateway, query: str, value: str) -> None:
    status, doc = gw.get(f"/q?{query}", {"X-Prop": value})
    assert status == 200
    assert doc["query"] == query
    assert doc["headers"]["x-prop"] == value


@_settings
@given(path=_path)
def test_upstream_path_is_the_normalized_request_path(gw: Gateway, path: str) -> None:
    status, doc = gw.get(path, {})
    assert status == 200
    assert doc["path"] == normalize_request_path(path)
    assert doc["headers"]["x-forwarded-path"] == path
