"""ai-proxy: turn a route into an LLM endpoint in the OpenAI wire format (Kong's plugin,
PRIORITY 770), for providers that speak it — ``openai`` (any ``model.options.upstream_url``,
e.g. a local model server), and ``mistral`` / ``llama2`` with their ``openai`` format.

The access phase follows Kong's normalize-request filter: the body must be JSON
("content-type header does not match request body, or bad JSON formatting"), carry prompts for
``route_type`` ("request body doesn't contain valid prompts", "[llm/v1/chat] message format is
not compatible with [llm/v1/completions] route type"), and may not name another model than the
configured one ("cannot use own model - must be: <name>"); a request without a model on a plugin
without one is refused ("model parameter not found in request, nor in gateway configuration").
The configured ``model.options`` (temperature, max_tokens, top_p) take precedence over the
request's, ``stream`` is set explicitly, ``top_k`` removed (Kong's openai driver); the auth
header or parameter (query or body) is injected unless the client sent its own and
``auth.allow_override`` lets it stand.

Kong then re-targets the request (``kong.service.set_target``); the plugin contract here has no
such hook, so the plugin sends the request to the LLM itself and answers with its response —
status and body passed through, ``X-Kong-LLM-Model: <provider>/<model>`` added. A 2xx answer
without ``choices`` is Kong's 500 "transformation failed from type openai://<route_type>:
'choices' not in <route_type> response". Streaming (``stream: true`` or
``response_streaming: always``) is passed through as the provider's server-sent events, but
buffered: the client gets them at once when the LLM has finished. Secrets (``auth.header_value``,
``auth.param_value``) never appear in decisions or logs. ``preserve`` forwards the body as is.
Other providers validate and are stored; a request reaching one is answered 500 naming why.
With ``logging.log_statistics`` the request's log record gets Kong's ``ai.proxy`` section
(provider, models, LLM latency, the LLM's token counts, cost from ``model.options.input_cost`` /
``output_cost``; the payloads too with ``log_payloads``), which prometheus' ``ai_metrics`` count.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from multidict import CIMultiDict

from ..jsontypes import JSONObject
from ..model.schema import (
    Boolean,
    Check,
    Conditional,
    Integer,
    String,
)
from .ai_common import BAD_JSON, error, is_compatible, request_json
from .base import Decision, Handler, PluginExit, PluginSpec, RequestContext, RuntimeServices
from .http_client import SharedSession
from .http_util import decode_args
from .llm_schema import llm_config

log = logging.getLogger(__name__)

NAME = "ai-proxy"
PRIORITY = 770
OPENAI_URL = "https://api.openai.com:443"
# not passed on to the LLM: the connection's own headers, and what the new body recomputes
_NOT_FORWARDED = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                  "proxy-connection", "accept-encoding", "expect"}
OPENAI_PATHS = {"llm/v1/chat": "/v1/chat/completions", "llm/v1/completions": "/v1/completions"}


# Kong's ai-proxy schema: the shared ``llm`` record plus the proxy's own fields
_LLM = llm_config()
CONFIG = _LLM.with_(
    fields=[
        *(_LLM.fields or []),
        ("response_streaming", String(default="allow", one_of=("allow", "deny", "always"), description="Whether to 'optionally allow', 'deny', or 'always' (force) the streaming of answers via server sent events.")),
        ("max_request_body_size", Integer(default=8 * 1024, gt=0, description="max allowed body size allowed to be introspected")),
        ("model_name_header", Boolean(default=True, description="Display the model name selected in the X-Kong-LLM-Model response header")),
        ("llm_format", String(default="openai", one_of=("openai", "bedrock", "gemini"), description="LLM input and output format and schema to use")),
    ],
    nullable=False,
    description="Which LLM the route talks to, and how.",
)

ENTITY_CHECKS: list[Check] = [
    Conditional("config.llm_format", {"one_of": ["bedrock", "gemini"]}, "config.route_type", {"eq": "llm/v1/chat"},
                "native provider options in llm_format can only be used with the 'llm/v1/chat' route_type"),
    Conditional("config.llm_format", {"eq": "bedrock"}, "config.model.provider", {"eq": "bedrock"},
                "native llm_format 'bedrock' can only be used with the 'bedrock' model.provider"),
    Conditional("config.llm_format", {"eq": "gemini"}, "config.model.provider", {"eq": "gemini"},
                "native llm_format 'gemini' can only be used with the 'gemini' model.provider"),
]


def openai_wire(config: JSONObject) -> str | None:
    """None when this configuration speaks the OpenAI wire format, else why not."""
    model = config["model"]
    provider = model["provider"]
    options = model.get("options") or {}
    if config.get("llm_format") not in (None, "openai"):
        return f"llm_format '{config['llm_format']}'"
    if provider == "openai":
        return None
    if provider == "mistral" and options.get("mistral_format") == "openai" and options.get("upstream_url"):
        return None
    if provider == "llama2" and options.get("llama2_format") == "openai" and options.get("upstream_url"):
        return None
    return f"provider '{provider}'"


def target_url(config: JSONObject) -> str:
    """Kong's openai ``configure_request``: ``upstream_url`` as given, or OpenAI's host with
    ``upstream_path`` or the route type's path."""
    options = config["model"].get("options") or {}
    given = options.get("upstream_url")
    if given and isinstance(given, str):
        return given
    path = options.get("upstream_path") or OPENAI_PATHS.get(config["route_type"]) or "/"
    return OPENAI_URL + "/" + str(path).lstrip("/")


def analytics(plugin_id: str | None, model_conf: JSONObject, model_name: str | None, response: bytes,
              latency_ms: int, request: JSONObject | None) -> JSONObject:
    """Kong's ``ai.proxy`` log section (serialize-analytics): meta (provider, models, latency) and
    usage (the LLM's token counts; cost from ``model.options.input_cost``/``output_cost`` per
    million tokens), and with ``log_payloads`` the request sent and the response received."""
    try:
        doc = json.loads(response)
    except ValueError:
        doc = None
    doc = doc if isinstance(doc, dict) else {}
    usage = doc.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    options = model_conf.get("options") or {}
    cost = (prompt * (options.get("input_cost") or 0) + completion * (options.get("output_cost") or 0)) / 1_000_000
    out: JSONObject = {
        "meta": {"plugin_id": plugin_id, "provider_name": model_conf.get("provider") or "UNSPECIFIED",
                 "request_model": model_name or "UNSPECIFIED",
                 "response_model": doc.get("model") or model_name or "UNSPECIFIED", "llm_latency": latency_ms},
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": int(usage.get("total_tokens") or prompt + completion),
                  "time_per_token": latency_ms / completion if completion else 0, "cost": cost},
    }
    if request is not None:
        out["payload"] = {"request": json.dumps(request, separators=(",", ":"), ensure_ascii=False),
                          "response": response.decode("utf-8", "replace")}
    return out


class AiProxyHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.unsupported = openai_wire(config)
        self.url = target_url(config)
        parts = urlsplit(self.url)
        self.where = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "")
                                 if parts.hostname else parts.netloc, parts.path, "", ""))
        # certificates are verified (Kong's proxy does not by default): the request carries the
        # provider's key
        self.client = SharedSession.of(runtime, NAME, verify_tls=True)
        self._closed = False

    def access(self, ctx: RequestContext) -> Awaitable[None] | None:
        return self._access(ctx)

    async def _access(self, ctx: RequestContext) -> None:
        conf = self.config
        if self.unsupported:
            ctx.decisions.append(Decision(NAME, "error", f"ai-proxy: {self.unsupported} cannot run locally"))
            raise ctx.kong_error(500, f"ai-proxy: {self.unsupported} is not supported by the local runtime "
                                      "(only the OpenAI wire format)")
        request = await request_json(ctx, conf.get("max_request_body_size"))
        route_type = conf["route_type"]
        if not isinstance(request, dict):
            raise self._bad(ctx, BAD_JSON)
        model_conf = conf["model"]
        model_name = model_conf.get("name")
        if route_type != "preserve":
            messages = request.get("messages")
            if not ((isinstance(messages, list) and messages) or isinstance(request.get("prompt"), str)):
                raise self._bad(ctx, "request body doesn't contain valid prompts")
        requested = request.get("model")
        if not model_name and isinstance(requested, str):
            model_name = requested
        if isinstance(requested, str) and requested != "" and requested != model_name:
            raise self._bad(ctx, f"cannot use own model - must be: {model_name}")
        if not model_name and route_type != "preserve":
            raise self._bad(ctx, "model parameter not found in request, nor in gateway configuration")
        ok, err = is_compatible(request, route_type)
        if not ok:
            raise self._bad(ctx, err or "")
        streaming = bool(request.get("stream")) or conf.get("response_streaming") == "always"
        if streaming and conf.get("response_streaming") == "deny":
            raise self._bad(ctx, "response streaming is not enabled for this LLM")
        body = dict(request)
        if route_type != "preserve":
            options = model_conf.get("options") or {}
            for key in ("temperature", "max_tokens", "top_p", "top_k"):
                if options.get(key) is not None:
                    body[key] = options[key]
            body["model"] = model_name
            body["stream"] = streaming
            body.pop("top_k", None)
        # the client's headers go on to the LLM, as they would through Kong's proxy
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v) for k, v in ctx.headers.items() if k.lower() not in _NOT_FORWARDED)
        headers["Content-Type"] = "application/json"
        headers["Accept-Encoding"] = "identity"  # the answer is passed on as received
        query = decode_args(urlsplit(self.url).query)
        auth = conf.get("auth") or {}
        if auth.get("header_name") and auth.get("header_value"):
            if ctx.headers.get(auth["header_name"]) is None or not auth.get("allow_override"):
                headers[auth["header_name"]] = auth["header_value"]
        if auth.get("param_name") and auth.get("param_value"):
            name = auth["param_name"]
            if auth.get("param_location") == "query":
                client = ctx.query.get(name)
                query[name] = client if client is not None and auth.get("allow_override") else auth["param_value"]
            elif auth.get("param_location") == "body":
                if body.get(name) is None or not auth.get("allow_override"):
                    body[name] = auth["param_value"]
        started = time.perf_counter()
        status, resp_headers, payload = await self._call(headers, query, body)
        latency_ms = int((time.perf_counter() - started) * 1000)
        model_label = f"{model_conf['provider']}/{model_name}" if model_name else model_conf["provider"]
        out_headers = {}
        ctype = resp_headers.get("Content-Type") or "application/json"
        out_headers["Content-Type"] = ctype
        if conf.get("model_name_header", True):
            out_headers["X-Kong-LLM-Model"] = model_label
        if 200 <= status < 300 and route_type != "preserve" and "text/event-stream" not in ctype:
            try:
                doc = json.loads(payload)
            except ValueError:
                doc = None
            if not isinstance(doc, dict) or "choices" not in doc:
                msg = (f"transformation failed from type {model_conf['provider']}://{route_type}: "
                       f"'choices' not in {route_type} response")
                ctx.decisions.append(Decision(NAME, "error", f"ai-proxy: {msg}", {"model": model_label}))
                raise PluginExit(500, {"error": {"message": msg}}, {"X-Kong-LLM-Model": model_label}
                                 if conf.get("model_name_header", True) else None)
        ctx.decisions.append(Decision(
            NAME, "pass", f"ai-proxy: {route_type} to {self.where} (model {model_label}"
                          f"{', streamed (buffered)' if streaming else ''}) → {status}",
            {"model": model_label, "upstream": self.where, "status": status, "stream": streaming}))
        logging_conf = conf.get("logging") or {}
        if logging_conf.get("log_statistics"):
            ctx.shared.setdefault("ai", {})["proxy"] = analytics(
                self.plugin.get("id"), model_conf, model_name, payload, latency_ms,
                body if logging_conf.get("log_payloads") else None)
        raise PluginExit(status, payload, out_headers)

    def _bad(self, ctx: RequestContext, message: str) -> PluginExit:
        ctx.decisions.append(Decision(NAME, "reject", f"ai-proxy: {message}"))
        return error(400, message)

    async def _call(self, headers: CIMultiDict[str], query: JSONObject, body: JSONObject) -> tuple[int, Mapping[str, str], bytes]:
        import aiohttp  # here: the plugins package is imported where no event loop runs

        session = self.client.get()
        parts = urlsplit(self.url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/",
                          urlencode([(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])
                                     if v is not True]), ""))
        try:
            async with session.post(url, data=json.dumps(body).encode(), headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=600)) as res:
                return res.status, res.headers, await res.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.error("ai-proxy: request to %s failed: %s", self.where, type(exc).__name__)
            return 502, {"Content-Type": "application/json"}, json.dumps(
                {"error": {"message": f"failed to reach the LLM at {self.where}"}}).encode()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.client.release()


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Turn a route into an LLM endpoint (OpenAI wire format): validate prompts, set the model and options, add the provider's auth.",
    handler=AiProxyHandler,
    entity_checks=ENTITY_CHECKS,
    consumer_groups=True,  # Kong's plugin reference: consumer groups supported
    # protocols: Kong's typedefs.protocols_http (grpc, grpcs, http, https), the default
)
