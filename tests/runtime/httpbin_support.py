"""A small stand-in for httpbin, the upstream of Kong's plugin specs: the endpoints the ported
cases call (``/get``, ``/status/N``, ``/cache/N``, ``/response-headers?Name=value``, ``/xml``,
``/stream/N``, ``/pad/N``), counting the requests it serves; and a settable clock."""

from __future__ import annotations

import json

from aiohttp import web
from fake_clock import FakeClock as Clock  # noqa: F401  (re-exported for the spec modules)


class Upstream:
    """httpbin's endpoints the spec uses; ``served`` counts requests that reached it."""

    def __init__(self) -> None:
        self.served = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.served += 1
        path = request.path
        doc = json.dumps({"path": path, "args": dict(request.query), "n": self.served}).encode()
        if path.startswith("/status/"):
            return web.Response(status=int(path.split("/")[2]), body=doc, content_type="application/json")
        if path.startswith("/pad/"):
            return web.Response(body=b"x" * int(path.rsplit("/", 1)[1]), content_type="text/plain")
        if path.startswith("/cache/"):
            return web.Response(body=doc, content_type="application/json",
                                headers={"Cache-Control": f"public, max-age={path.rsplit('/', 1)[1]}"})
        if path == "/response-headers":
            resp = web.Response(body=doc)
            for k, v in request.query.items():  # a repeated name gives repeated headers
                if k.lower() == "content-type":
                    resp.headers[k] = v
                else:
                    resp.headers.add(k, v)
            resp.headers.setdefault("Content-Type", "application/json")
            return resp
        if path == "/xml":
            return web.Response(body=b"<?xml version='1.0'?><slideshow/>", headers={"Content-Type": "application/xml"})
        if path.startswith("/stream/"):
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(int(path.rsplit("/", 1)[1])):
                await resp.write(json.dumps({"id": i, "n": self.served}).encode() + b"\n")
            await resp.write_eof()
            return resp
        return web.Response(body=doc, content_type="application/json")
