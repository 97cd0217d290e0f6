"""A loopback OpenAI-compatible server for the AI plugins' tests (no tests here): chat and
completions endpoints answering Kong's fixture responses, key checks by header, query or body
parameter, server-sent events when ``stream`` is true, and broken answers on purpose. Every
request it receives is kept in ``received``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from test_proxy_support import Server, app_server

GOOD_KEY = "openai-key"
CHAT_ANSWER = {
    "id": "chatcmpl-8T6YwgvjQVVnGbJ2w8hpOA17SeNy2", "object": "chat.completion", "created": 1702036826,
    "model": "gpt-3.5-turbo-0613",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The sum of 1 + 1 is 2."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37},
}
COMPLETION_ANSWER = {
    "id": "cmpl-8TBeaJVQIhE9kHEJbk1RnKzgFxIqN", "object": "text_completion", "created": 1702054672,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "\n\nI am a language model AI created by OpenAI.", "index": 0, "finish_reason": "length"}],
}
UNAUTHORIZED = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                          "param": None, "code": "invalid_api_key"}}


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenAI:
    server: Server | None = None
    received: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def url(self, path: str = "/v1/chat/completions") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> FakeOpenAI:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("latin-1")
            self.received.append(Received(request.path, dict(request.query), dict(request.headers), body))
            if request.path == "/internal_server_error":
                return web.Response(status=500, text="<html>internal error</html>", content_type="text/html")
            if request.path == "/bad_upstream_response":
                return web.json_response({"nothing_object": {"not_interesting_tag_names": "bad string"}})
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            key = key or request.query.get("apikey", "")
            if not key and isinstance(body, dict):
                key = body.get("apikey") or ""
            if key != GOOD_KEY:
                return web.json_response(UNAUTHORIZED, status=401)
            if isinstance(body, dict) and body.get("stream"):
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                for word in ("The", " sum", " is", " 2."):
                    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": {"content": word}}]}
                    await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await resp.write(b"data: [DONE]\n\n")
                await resp.write_eof()
                return resp
            if request.path.endswith("/completions") and "chat" not in request.path:
                return web.json_response(COMPLETION_ANSWER)
            return web.json_response(CHAT_ANSWER)

        self.server = await app_server(handle)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
