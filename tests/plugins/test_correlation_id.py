"""correlation-id: generators, keeping a client's id, echo_downstream."""

from __future__ import annotations

import re
import uuid

from plugin_helpers import make_ctx, make_handler, make_response, run_access, services

from konnect_desktop import plugins


def test_defaults() -> None:
    c = plugins.validate_plugin({"name": "correlation-id"})["config"]
    assert c == {"header_name": "Kong-Request-ID", "generator": "uuid#counter", "echo_downstream": False}


async def test_uuid_counter_survives_rebuild() -> None:
    rt = services()
    ids = []
    for _ in range(2):
        h = make_handler("correlation-id", runtime=rt)
        for _ in range(2):
            ctx = make_ctx()
            assert await run_access(h, ctx) is None
            ids.append(ctx.headers["Kong-Request-ID"])
    base = ids[0].split("#")[0]
    uuid.UUID(base)
    assert ids == [f"{base}#{n}" for n in (1, 2, 3, 4)]


async def test_uuid_and_tracker() -> None:
    ctx = make_ctx()
    assert await run_access(make_handler("correlation-id", {"generator": "uuid", "header_name": "X-Id"}), ctx) is None
    uuid.UUID(ctx.headers["X-Id"])
    ctx = make_ctx()
    assert await run_access(make_handler("correlation-id", {"generator": "tracker"}), ctx) is None
    assert re.match(r"^127\.0\.0\.1-8000-\d+-1-1-\d+\.\d{3}$", ctx.headers["Kong-Request-ID"])


async def test_client_id_kept_and_echoed() -> None:
    h = make_handler("correlation-id", {"echo_downstream": True})
    ctx = make_ctx("GET", "/", {"Kong-Request-ID": "client-id"})
    assert await run_access(h, ctx) is None
    assert ctx.headers["Kong-Request-ID"] == "client-id"
    resp = make_response()
    h.header_filter(ctx, resp)
    assert resp.headers["Kong-Request-ID"] == "client-id"
    assert ctx.decisions[-1].data == {"correlation_id": "client-id", "generated": False}


async def test_not_echoed_by_default() -> None:
    h = make_handler("correlation-id")
    ctx = make_ctx()
    assert await run_access(h, ctx) is None
    resp = make_response()
    h.header_filter(ctx, resp)
    assert "Kong-Request-ID" not in resp.headers
