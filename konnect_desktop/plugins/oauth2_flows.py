"""The oauth2 plugin's own endpoints: ``POST .../oauth2/token`` and ``POST .../oauth2/authorize``
(kong/plugins/oauth2/access.lua's ``issue_token`` and ``authorize``, restated).

Both answer the client themselves (``PluginExit``, JSON, ``Cache-Control: no-store``). Their
checks run in Kong's order and, as in Kong, a later failing check replaces an earlier error, so
clients see the same error for the same request. Tokens and codes are read and written through
the runtime store's worker-thread API (``store.aio``); the issued values never reach a decision.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from multidict import MultiDict

from ..jsontypes import JSONObject, JSONValue
from ..model.entities import oauth2_secret_verify, random_string
from . import auth_common
from .base import Decision, PluginExit, RequestContext, encode_args
from .http_util import decode_args
from .oauth2 import NAME, OAuth2Handler, request_parameters, token_gone, token_store

_BASIC = re.compile(r"\s*[Bb]asic\s*(.+)")
CODE_TTL = 300  # access.lua inserts authorization codes with a ttl of 300 s
NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Invalid client authentication"}
BAD_REDIRECT = {"error": "invalid_request", "error_description": "Invalid redirect_uri that does not match with any "
                "redirect_uri created with the application"}


def _error(error: str, description: str) -> JSONObject:
    return {"error": error, "error_description": description}


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") or ip.startswith("::ffff:127.")


def check_https(handler: OAuth2Handler, ctx: RequestContext) -> tuple[bool, str | None]:
    """kong.tools.http.check_https. The local runtime trusts its loopback peers' X-Forwarded-Proto
    (Kong trusts the addresses in ``trusted_ips``; a TLS terminator in front of a workstation
    gateway runs on the same machine)."""
    if ctx.original.scheme.lower() == "https":
        return True, None
    if not handler.config.get("accept_http_if_already_terminated") or not _is_loopback(ctx.client_ip):
        return False, None
    proto = ctx.original.headers.getall("X-Forwarded-Proto", [])
    if not proto:
        return False, None
    if len(proto) > 1 or "," in proto[0]:
        return False, "Only one X-Forwarded-Proto header allowed"
    return proto[0].lower() == "https", None


def retrieve_scope(params: JSONObject, config: JSONObject) -> tuple[str | None, JSONObject | None]:
    scope = params.get("scope")
    allowed = config.get("scopes")
    granted: list[str] = []
    if allowed and scope is not None:
        if not isinstance(scope, str):
            return None, _error("invalid_scope", "scope must be a string")
        for s in scope.split():
            if s not in allowed:
                return None, _error("invalid_scope", f'"{s}" is an invalid scope')
            granted.append(s)
    elif scope is None and config.get("mandatory_scope"):
        return None, _error("invalid_scope", "You must specify a scope")
    return (" ".join(granted) if granted else None), None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _code_challenge(params: JSONObject) -> tuple[str | None, str | None, str | None]:
    """(challenge, error, method) as retrieve_code_challenge returns them."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if method and not challenge:
        return None, "code_challenge is required when code_method is present", None
    if isinstance(challenge, str):
        try:  # normalize to unpadded base64url when it decodes
            challenge = _b64url(base64.b64decode(challenge.replace("-", "+").replace("_", "/")
                                                 + "=" * (-len(challenge) % 4), validate=True))
        except (binascii.Error, ValueError):
            pass
        if method and method != "S256":
            if method != "s256":
                return None, "code_challenge_method is not supported, must be S256", None
            method = "S256"
    return challenge, None, method or "S256"


def _requires_pkce(config: JSONObject, client: JSONObject | None, used_pkce: JSONValue = None) -> bool:
    if not client:
        return False
    pkce = config.get("pkce") or "lax"
    return bool(used_pkce or (client.get("client_type") == "public" and pkce != "none")
                or (client.get("client_type") == "confidential" and pkce == "strict"))


def _pkce_error(params: JSONObject, code: JSONObject) -> JSONObject | None:
    verifier = params.get("code_verifier")
    if verifier is None:
        return _error("invalid_request", "code_verifier is required for PKCE authorization requests")
    if not isinstance(verifier, str):
        return _error("invalid_request", "code_verifier is not a string")
    if not 43 <= len(verifier) <= 128:
        return _error("invalid_request", "code_verifier must be between 43 and 128 characters")
    if not code.get("challenge") or _b64url(hashlib.sha256(verifier.encode()).digest()) != code["challenge"]:
        return _error("invalid_grant", "Invalid code")
    return None


def _client(ctx: RequestContext, client_id: JSONValue) -> tuple[list[str] | None, JSONObject | None]:
    """get_redirect_uris: the client's redirect URIs (None when it has none) and the client."""
    client = ctx.config.credential("oauth2_credentials", client_id) if isinstance(client_id, str) and client_id else None
    return ((client or {}).get("redirect_uris") or None), client


def _client_credentials(handler: OAuth2Handler, ctx: RequestContext, params: JSONObject) -> tuple[JSONValue, JSONValue, bool]:
    """retrieve_client_credentials: the parameters, else ``Basic`` in the auth header."""
    if params.get("client_id") and params.get("client_secret"):
        return params["client_id"], params["client_secret"], False
    header = ctx.original.headers.get(handler.header_name)
    if header is not None:
        client_id = client_secret = None
        m = _BASIC.search(header)
        if m is not None:
            try:
                decoded = base64.b64decode(m.group(1).strip(), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                decoded = None
            if decoded is not None:  # kong.tools.string.split on every ':'
                parts = decoded.split(":")
                client_id = parts[0]
                client_secret = parts[1] if len(parts) > 1 else None
        return client_id, client_secret, True
    return params.get("client_id"), None, False


def _answer(ctx: RequestContext, endpoint: str, status: int, body: JSONObject,
            headers: dict[str, str] | None = None) -> PluginExit:
    error = body.get("error") if status >= 400 else None
    summary = f"{endpoint}: {error}" if error else f"{endpoint}: issued"
    ctx.decisions.append(Decision(NAME, "reject" if error else "pass", summary, {"status": status}))
    return PluginExit(status, {k: v for k, v in body.items() if v is not None}, {**NO_CACHE, **(headers or {})})


async def generate_token(handler: OAuth2Handler, ctx: RequestContext, client: JSONObject, userid: JSONValue,
                         scope: str | None, state: JSONValue, *, disable_refresh: bool = False,
                         existing: JSONObject | None = None) -> JSONObject:
    config = handler.config
    store = token_store(handler, ctx)
    expiration = int(config.get("token_expiration") or 0)
    service_id = None if handler.global_credentials else (ctx.service or {}).get("id")
    now = int(auth_common.now())
    refresh = None
    if existing is not None and config.get("reuse_refresh_token"):
        # Kong updates the row (new access token, new created_at); the store keeps created_at on
        # update, so the row is replaced with the same refresh token instead
        refresh = existing.get("refresh_token")
        await store.aio.delete("oauth2_tokens", existing["id"])
        service_id = (existing.get("service") or {}).get("id")
    elif not disable_refresh and expiration > 0:
        refresh = random_string()
    token = await store.aio.insert("oauth2_tokens", {
        "service": {"id": service_id} if service_id else None,
        "credential": {"id": client["id"]},
        "authenticated_userid": userid if isinstance(userid, str) else None,
        "expires_in": expiration,
        "refresh_token": refresh,
        "scope": scope,
        "created_at": now,
    })
    return {"access_token": token["access_token"], "token_type": "bearer",
            "expires_in": expiration if expiration > 0 else None, "refresh_token": refresh, "state": state}


async def issue_token(handler: OAuth2Handler, ctx: RequestContext) -> None:
    config = handler.config
    params = await request_parameters(ctx)
    state = params.get("state")
    result: JSONObject = {}
    unauthorized: dict[str, str] | None = None  # 401 + WWW-Authenticate when the client used the header
    is_https, err = check_https(handler, ctx)
    if not is_https:
        result = _error("access_denied", err or "You must use HTTPS")
    else:
        grant = params.get("grant_type")
        if not (grant in ("authorization_code", "refresh_token")
                or (config.get("enable_client_credentials") and grant == "client_credentials")
                or (config.get("enable_password_grant") and grant == "password")):
            result = _error("unsupported_grant_type", "Invalid grant_type")
        client_id, client_secret, from_header = _client_credentials(handler, ctx, params)
        redirect_uris, client = _client(ctx, client_id)
        if grant != "client_credentials":
            if redirect_uris:
                redirect = params.get("redirect_uri") or redirect_uris[0]
                if redirect not in redirect_uris:
                    result = dict(BAD_REDIRECT)
            else:
                result = dict(INVALID_CLIENT)
                if from_header:
                    unauthorized = {"WWW-Authenticate": 'Basic realm="OAuth2.0"'}
        if client:
            if client.get("client_type") == "confidential":
                if client.get("hash_secret"):
                    authenticated = oauth2_secret_verify(client_secret, client.get("client_secret"))
                else:
                    authenticated = client.get("client_secret") == client_secret
                if not authenticated:
                    result = dict(INVALID_CLIENT)
                    if from_header:
                        unauthorized = {"WWW-Authenticate": 'Basic realm="OAuth2.0"'}
            elif client.get("client_type") == "public" and str(client_secret or "").strip() != "":
                result = _error("invalid_request", "client_secret is disallowed for public clients")
        if not result.get("error"):
            result = await _grant(handler, ctx, params, grant, client, state)
    result["state"] = state
    if result.get("error"):
        status = 401 if unauthorized else 400
        raise _answer(ctx, "token", status, result, unauthorized)
    raise _answer(ctx, "token", 200, result)


async def _grant(handler: OAuth2Handler, ctx: RequestContext, params: JSONObject, grant: JSONValue,
                 client: JSONObject | None, state: JSONValue) -> JSONObject:
    config = handler.config
    store = token_store(handler, ctx)
    now = auth_common.now()
    service_id = None if handler.global_credentials else (ctx.service or {}).get("id")
    if client is None and grant != "client_credentials":
        return dict(INVALID_CLIENT)  # (the checks before have said so already)
    if grant == "authorization_code":
        assert client is not None
        code_value = params.get("code")
        code = await store.aio.find_by("oauth2_authorization_codes", "code", code_value) if isinstance(code_value, str) else None
        if code is not None and now - (code.get("created_at") or 0) > CODE_TTL:
            code = None  # Kong's row has expired with its ttl
        bad_code = _error("invalid_request", "Invalid code")
        if (code is None or (service_id and service_id != (code.get("service") or {}).get("id"))
                or (code.get("credential") or {}).get("id") != client["id"]):
            return bad_code
        if _requires_pkce(config, client, code.get("challenge_method")):
            err = _pkce_error(params, code)
            if err:
                return err
        if handler.global_credentials and code.get("plugin") and code["plugin"].get("id") != handler.plugin.get("id"):
            return bad_code
        result = await generate_token(handler, ctx, client, code.get("authenticated_userid"), code.get("scope"), state)
        await store.aio.delete("oauth2_authorization_codes", code["id"])  # a code is used once
        return result
    if grant == "client_credentials":
        if params.get("authenticated_userid") and config.get("provision_key") != params.get("provision_key"):
            return _error("invalid_provision_key", "Invalid provision_key")
        if client is None:
            return dict(INVALID_CLIENT)
        scope, err = retrieve_scope(params, config)
        if err:
            return err
        return await generate_token(handler, ctx, client, params.get("authenticated_userid"), scope, state,
                                    disable_refresh=True)
    if grant == "password":
        assert client is not None
        if config.get("provision_key") != params.get("provision_key"):
            return _error("invalid_provision_key", "Invalid provision_key")
        userid = params.get("authenticated_userid")
        if not isinstance(userid, str) or not userid.strip():
            return _error("invalid_authenticated_userid", "Missing authenticated_userid parameter")
        scope, err = retrieve_scope(params, config)
        if err:
            return err
        return await generate_token(handler, ctx, client, userid, scope, state)
    # refresh_token
    assert client is not None
    refresh = params.get("refresh_token")
    token = await store.aio.find_by("oauth2_tokens", "refresh_token", refresh) if isinstance(refresh, str) else None
    if token is not None and token_gone(token, config, now):
        token = None
    if token is None or (service_id and service_id != (token.get("service") or {}).get("id")):
        return _error("invalid_request", "Invalid refresh_token")
    if (token.get("credential") or {}).get("id") != client["id"]:
        return dict(INVALID_CLIENT)
    allowed = config.get("scopes") or ()
    if token.get("scope") and any(s not in allowed for s in str(token["scope"]).split()):
        return _error("invalid_scope", "Scope mismatch")
    result = await generate_token(handler, ctx, client, token.get("authenticated_userid"), token.get("scope"), state,
                                  existing=token)
    if not config.get("reuse_refresh_token"):
        await store.aio.delete("oauth2_tokens", token["id"])
    return result


async def authorize(handler: OAuth2Handler, ctx: RequestContext) -> None:
    config = handler.config
    params = await request_parameters(ctx)
    state = params.get("state")
    result: JSONObject = {}
    redirect_uri: str | None = None
    implicit = False
    is_https, err = check_https(handler, ctx)
    userid = params.get("authenticated_userid")
    if not is_https:
        result = _error("access_denied", err or "You must use HTTPS")
    elif config.get("provision_key") != params.get("provision_key"):
        result = _error("invalid_provision_key", "Invalid provision_key")
    elif not isinstance(userid, str) or not userid.strip():
        result = _error("invalid_authenticated_userid", "Missing authenticated_userid parameter")
    else:
        response_type = params.get("response_type")
        if not ((response_type == "code" and config.get("enable_authorization_code"))
                or (config.get("enable_implicit_grant") and response_type == "token")):
            result = _error("unsupported_response_type", "Invalid response_type")
        scopes, scope_err = retrieve_scope(params, config)
        if scope_err:
            result = scope_err
        redirect_uris, client = _client(ctx, params.get("client_id"))
        if not redirect_uris:
            result = dict(INVALID_CLIENT)
        else:
            redirect_uri = params.get("redirect_uri") or redirect_uris[0]
            if redirect_uri not in redirect_uris:
                result = dict(BAD_REDIRECT)
                redirect_uri = redirect_uris[0]
        challenge, pkce_err, method = _code_challenge(params)
        if pkce_err:
            result = _error("invalid_request", pkce_err)
        elif client and not challenge and _requires_pkce(config, client):
            result = _error("invalid_request", f"code_challenge is required for {client.get('client_type')} clients")
        elif not challenge:
            method = None
        if not result.get("error"):
            assert client is not None
            if response_type == "code":
                service_id = None if handler.global_credentials else (ctx.service or {}).get("id")
                store = token_store(handler, ctx)
                code = await store.aio.insert("oauth2_authorization_codes", {
                    "service": {"id": service_id} if service_id else None,
                    "credential": {"id": client["id"]},
                    "authenticated_userid": userid,
                    "scope": scopes,
                    "challenge": challenge,
                    "challenge_method": method,
                    "plugin": {"id": handler.plugin["id"]} if handler.plugin.get("id") else None,
                    "created_at": int(auth_common.now()),
                })
                result = {"code": code["code"]}
            else:
                result = await generate_token(handler, ctx, client, userid, scopes, state, disable_refresh=True)
                implicit = True
    result["state"] = state
    status = 400 if result.get("error") else 200
    if redirect_uri is None:
        raise _answer(ctx, "authorize", status, result)
    raise _answer(ctx, "authorize", status, {"redirect_uri": _redirect(redirect_uri, result, implicit)})


def _redirect(uri: str, params: JSONObject, implicit: bool) -> str:
    """The redirect URI with the answer merged into its query (its fragment for implicit grants),
    encoded as kong.tools.http.encode_args does (keys sorted)."""
    parts = urlsplit(uri)
    existing = decode_args(parts.fragment if implicit else parts.query)
    merged = {**existing, **{k: v for k, v in params.items() if v is not None}}
    md: MultiDict[str] = MultiDict()
    for k, v in merged.items():
        for item in v if isinstance(v, list) else [v]:
            md.add(str(k), "" if item is True else str(item))
    encoded = encode_args(md)
    if implicit:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, encoded))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))


__all__ = ["authorize", "check_https", "generate_token", "issue_token", "retrieve_scope"]
