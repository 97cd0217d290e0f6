"""cURL in and out: paste a ``curl`` command to fill the console, copy any request as one.

``parse_curl(text)`` reads the options people paste (from docs, browsers' "Copy as cURL", API
references): ``-X``, ``-H``, ``-d/--data/--data-ascii/--data-raw/--data-binary``,
``--data-urlencode``, ``--json``, ``-F/--form-string``, ``-u``, ``--url``, ``-G``, ``-I``,
``-A``, ``-e``, ``-b``, ``--oauth2-bearer``; quoting as a POSIX shell does it (``shlex``, plus
bash's ``$'…'``), backslash line continuations, a leading ``$`` prompt. Options that only change
how curl itself behaves (``-s``, ``-L``, ``-k``, ``-o`` …) are skipped; the ones that would change
the request but cannot be honoured (a body ``@file``, ``-T``) come back as warnings.

``to_curl(spec)`` writes a command that sends the same request: ``parse_curl(to_curl(r))``
gives ``r`` back for every canonical ``RequestSpec`` (a property test holds us to it). The body
Auth tab maps onto ``-u`` (Basic), ``-H 'Authorization: Bearer …'`` and ``-H 'apikey: …'``, which
import reads back as auth; an API key in the query is written into the URL (and comes back as
part of it). The body kinds map onto curl's own: JSON without an explicit type → ``--json``; a form →
``--data-urlencode`` per field; multipart → ``-F`` / ``--form-string``; raw text →
``--data-raw`` with its ``Content-Type`` (or ``-H 'Content-Type:'`` to stop curl adding its
form default).

Pure functions: no files are read, nothing is sent.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..errors import AppError
from .auth import DEFAULT_KEY_NAME, NO_AUTH, Auth, from_header
from .request import FORM_TYPE, FormField, RequestSpec, _enc, encode_form, is_json_type


class CurlError(AppError, ValueError):
    """The text is not a curl command we can read; ``message`` says why, in a sentence.

    Messages (and import warnings) never quote values from the text: it usually comes from the
    clipboard, which as often holds an API key as a command.
    """


@dataclass
class CurlImport:
    request: RequestSpec
    warnings: list[str] = field(default_factory=list)


# -- options --------------------------------------------------------------------------------------

_ARG_OPTS = {
    # option -> canonical name; these take a value
    "-X": "request", "--request": "request",
    "-H": "header", "--header": "header",
    "-d": "data", "--data": "data", "--data-ascii": "data",
    "--data-binary": "data-binary", "--data-raw": "data-raw", "--data-urlencode": "data-urlencode",
    "--json": "json",
    "-F": "form", "--form": "form", "--form-string": "form-string",
    "-u": "user", "--user": "user",
    "--url": "url",
    "-A": "user-agent", "--user-agent": "user-agent",
    "-e": "referer", "--referer": "referer",
    "-b": "cookie", "--cookie": "cookie",
    "--oauth2-bearer": "bearer",
    "-T": "upload", "--upload-file": "upload",
}
# take a value but do not change the request (output, timeouts, TLS files, proxies …)
_IGNORED_ARG = {
    "-o", "--output", "-m", "--max-time", "--connect-timeout", "--retry", "--retry-delay",
    "--retry-max-time", "-w", "--write-out", "-x", "--proxy", "-U", "--proxy-user", "--cacert",
    "--capath", "-E", "--cert", "--key", "--cert-type", "--key-type", "--resolve", "--connect-to",
    "--limit-rate", "-c", "--cookie-jar", "--interface", "--local-port", "--max-redirs",
    "--max-filesize", "-y", "--speed-time", "-Y", "--speed-limit", "--dns-servers", "--trace",
    "--trace-ascii", "--stderr", "-D", "--dump-header", "--keepalive-time", "--expect100-timeout",
    "--happy-eyeballs-timeout-ms", "--unix-socket", "--abstract-unix-socket", "--proto",
    "--proto-redir", "--pinnedpubkey", "--ciphers", "--tls-max", "-K", "--config", "--variable",
    "--aws-sigv4", "-z", "--time-cond", "-C", "--continue-at", "-r", "--range", "--netrc-file",
    "--output-dir", "--proxy-header", "--noproxy", "--create-file-mode", "--retry-all-errors",
}
# flags (no value) that only change curl's own behaviour
_FLAGS = {
    "-s", "--silent", "-S", "--show-error", "-L", "--location", "-k", "--insecure", "-v",
    "--verbose", "-i", "--include", "--compressed", "-f", "--fail", "--fail-with-body", "-N",
    "--no-buffer", "--http1.0", "--http1.1", "--http2", "--http2-prior-knowledge", "--http3",
    "-#", "--progress-bar", "-g", "--globoff", "-4", "--ipv4", "-6", "--ipv6", "--tr-encoding",
    "--path-as-is", "--raw", "--no-progress-meter", "-n", "--netrc", "--location-trusted",
    "--ssl-reqd", "--no-keepalive", "--no-sessionid", "--tcp-nodelay", "--tcp-fastopen",
    "-O", "--remote-name", "-J", "--remote-header-name", "-q", "--disable", "--digest",
    "--basic", "--anyauth", "--ntlm", "--negotiate", "--fail-early", "-Z", "--parallel",
    "--styled-output", "-:", "--next", "--create-dirs", "--retry-connrefused", "--no-alpn",
    "--no-npn", "--ssl-no-revoke", "--ssl-allow-beast", "--crlf", "--list-only", "-l",
    "-j", "--junk-session-cookies", "-p", "--proxytunnel", "--post301", "--post302", "--post303",
    "-0", "-1", "-2", "-3",
}
_SHORT_FLAGS = {f[1] for f in _FLAGS if len(f) == 2}
_SHORT_ARGS = {o[1] for o in list(_ARG_OPTS) + list(_IGNORED_ARG) if len(o) == 2}
_WARN_FLAGS = {
    "-k": "-k/--insecure ignored: TLS verification is a console setting",
    "--insecure": "-k/--insecure ignored: TLS verification is a console setting",
    "-L": "-L/--location ignored: the console shows redirects instead of following them",
    "--location": "-L/--location ignored: the console shows redirects instead of following them",
}


def _unescape_ansi_c(s: str) -> str:
    """Decode the body of bash's ``$'…'`` quoting."""
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
              "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v", "?": "?"}
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[n]
            j = i + 2
            digits = ""
            while j < len(s) and len(digits) < width and s[j] in "0123456789abcdefABCDEF":
                digits += s[j]
                j += 1
            if digits:
                try:
                    out.append(chr(int(digits, 16)))
                except (ValueError, OverflowError):
                    out.append(s[i:j])
            else:
                out.append(s[i:j])
            i = j
        elif n in "01234567":
            j = i + 1
            digits = ""
            while j < len(s) and len(digits) < 3 and s[j] in "01234567":
                digits += s[j]
                j += 1
            out.append(chr(int(digits, 8)))
            i = j
        else:
            out.append("\\" + n)
            i += 2
    return "".join(out)


def _expand_ansi_c_quotes(text: str) -> str:
    """Rewrite ``$'…'`` words (outside other quotes) as plain shell quoting shlex understands."""
    if "$'" not in text:
        return text
    out: list[str] = []
    i, quote_ch = 0, ""
    while i < len(text):
        c = text[i]
        if quote_ch:
            out.append(c)
            if c == "\\" and quote_ch == '"' and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if c == quote_ch:
                quote_ch = ""
            i += 1
            continue
        if c == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if c == "$" and text.startswith("$'", i):
            j = i + 2
            while j < len(text) and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                raise CurlError("The command has an unclosed $'…' quote.")
            out.append(shlex.quote(_unescape_ansi_c(text[i + 2:j])))
            i = j + 1
            continue
        if c in "'\"":
            quote_ch = c
        out.append(c)
        i += 1
    return "".join(out)


def _tokens(text: str) -> list[str]:
    text = text.strip()
    # line continuations: bash backslash-newline (also with CRLF)
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    if text.startswith("$ "):
        text = text[2:]
    text = _expand_ansi_c_quotes(text)
    try:
        toks = shlex.split(text, posix=True)
    except ValueError as exc:
        raise CurlError(f"The command could not be read: {str(exc).lower()}.") from None
    if not toks:
        raise CurlError("Paste a curl command, e.g. curl -H 'apikey: …' http://127.0.0.1:8000/echo")
    first = toks[0].rsplit("/", 1)[-1]
    if first not in ("curl", "curl.exe"):
        # never the text itself: a clipboard that holds no curl command often holds a key
        raise CurlError("This is not a curl command: it does not start with “curl”.")
    return toks[1:]


def _split_options(tokens: list[str], warnings: list[str]) -> list[tuple[str, str | None]]:
    """Tokens → (option, value) pairs in order; positional arguments as ("url", value)."""
    out: list[tuple[str, str | None]] = []
    i = 0
    only_args = False
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if only_args or not t.startswith("-") or t == "-":
            out.append(("url", t))
            continue
        if t == "--":
            only_args = True
            continue
        if t.startswith("--"):
            if t in _ARG_OPTS or t in _IGNORED_ARG:
                if i >= len(tokens):
                    raise CurlError(f"The option {t} needs a value.")
                val = tokens[i]
                i += 1
                out.append((_ARG_OPTS[t] if t in _ARG_OPTS else "ignored", val))
            elif t in ("--get",):
                out.append(("get", None))
            elif t in ("--head",):
                out.append(("head", None))
            elif t in _FLAGS:
                if t in _WARN_FLAGS:
                    warnings.append(_WARN_FLAGS[t])
            elif t.startswith("--no-"):
                pass  # negated boolean flags change only curl's own behaviour
            else:
                warnings.append(f"Unknown option {t.split('=', 1)[0]} ignored.")  # not a value after "="
            continue
        # short options, possibly combined (-sSL) or with the value attached (-XPOST, -H'a: b')
        j = 1
        while j < len(t):
            ch = t[j]
            j += 1
            opt = "-" + ch
            if ch == "G":
                out.append(("get", None))
            elif ch == "I":
                out.append(("head", None))
            elif ch in _SHORT_ARGS:
                if j < len(t):
                    val = t[j:]
                else:
                    if i >= len(tokens):
                        raise CurlError(f"The option {opt} needs a value.")
                    val = tokens[i]
                    i += 1
                out.append((_ARG_OPTS[opt] if opt in _ARG_OPTS else "ignored", val))
                break
            elif ch in _SHORT_FLAGS:
                if opt in _WARN_FLAGS:
                    warnings.append(_WARN_FLAGS[opt])
            else:
                warnings.append(f"Unknown option {opt} ignored.")
    return out


def _urlencode_piece(value: str) -> str:
    """curl's ``--data-urlencode`` rules."""
    eq, at = value.find("="), value.find("@")
    if value.startswith("="):
        return _enc(value[1:])
    if eq > 0 and (at < 0 or eq < at):
        return value[:eq] + "=" + _enc(value[eq + 1:])
    if at >= 0:
        raise CurlError("A --data-urlencode value with @ reads a file; paste the file's content instead.")
    return _enc(value)


def decode_form(body: str) -> list[tuple[str, str]] | None:
    """The fields of an urlencoded body, or None when re-encoding them would not give ``body``
    back byte for byte (then it is sent as raw text, exactly as pasted)."""
    if not body:
        return None
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None
    return pairs if encode_form(pairs) == body else None


def parse_curl(text: str) -> CurlImport:
    """Read a curl command into a (canonical) ``RequestSpec``. Raises ``CurlError``."""
    warnings: list[str] = []
    opts = _split_options(_tokens(text), warnings)
    method: str | None = None
    url: str | None = None
    headers: list[tuple[str, str]] = []
    removed: set[str] = set()
    data: list[str] = []
    json_mode = False
    form: list[FormField] = []
    get = head = False
    for name, val in opts:
        assert name in ("get", "head") or val is not None
        v = val or ""
        if name == "url":
            if url is None:
                url = v
            else:
                warnings.append("An extra URL was ignored: the console sends one request.")
        elif name == "request":
            method = v.upper()
        elif name == "header":
            if v.startswith("@"):
                warnings.append(f"-H {v} reads headers from a file; not read.")
                continue
            if ":" in v:
                k, _, hv = v.partition(":")
                k, hv = k.strip(), hv.strip()
                if not hv:
                    removed.add(k.lower())  # "Name:" removes a header curl would add
                    headers = [(a, b) for a, b in headers if a.lower() != k.lower()]
                    continue
                headers.append((k, hv))
            elif v.rstrip().endswith(";"):
                headers.append((v.rstrip()[:-1].strip(), ""))  # "Name;" sends an empty header
            else:
                warnings.append("A -H value without a colon was ignored.")  # it may be a bare token
        elif name in ("data", "data-binary"):
            if v.startswith("@"):
                warnings.append(f"The body {v} names a file; the console sent the text “{v}” instead. Paste the file's content.")
            data.append(v)
        elif name == "data-raw":
            data.append(v)
        elif name == "data-urlencode":
            data.append(_urlencode_piece(v))
        elif name == "json":
            if v.startswith("@"):
                warnings.append(f"The JSON body {v} names a file; paste the file's content instead.")
            json_mode = True
            data.append(v)
        elif name in ("form", "form-string"):
            fname, eq, fval = v.partition("=")
            if not eq:
                raise CurlError("A -F value is not name=content.")
            if name == "form" and fval.startswith(("@", "<")):
                path = fval[1:]
                if ";" in path:
                    path, _, extra = path.partition(";")
                    warnings.append(f"Form part options “;{extra}” ignored.")
                if fval.startswith("<"):
                    warnings.append(f"-F {fname}=<{path} (field text from a file) is sent as a file upload.")
                form.append(FormField(fname, path, True))
            else:
                if name == "form" and ";type=" in fval:
                    fval, _, extra = fval.partition(";type=")
                    warnings.append(f"Form part type “{extra}” ignored.")
                form.append(FormField(fname, fval))
        elif name == "user":
            user = v if ":" in v else v + ":"
            if ":" not in v:
                warnings.append("-u without a password: curl would ask for one; an empty password is used.")
            headers.append(("Authorization", "Basic " + base64.b64encode(user.encode()).decode()))
        elif name == "user-agent":
            headers.append(("User-Agent", v))
        elif name == "referer":
            headers.append(("Referer", v))
        elif name == "cookie":
            if "=" in v:
                headers.append(("Cookie", v))
            else:
                warnings.append(f"-b {v} names a cookie file; not read.")
        elif name == "bearer":
            headers.append(("Authorization", f"Bearer {v}"))
        elif name == "upload":
            warnings.append(f"-T {v} (upload a file) is not supported; no body set.")
        elif name == "get":
            get = True
        elif name == "head":
            head = True
    if url is None:
        raise CurlError("The curl command has no URL.")
    if data and form:
        raise CurlError("The command mixes -d and -F: curl itself refuses that (one body per request).")

    body_kind, body, fields = "none", "", list(form)
    if get and data:
        joined = "&".join(data)
        url = url + ("&" if "?" in url else "?") + joined
        data = []
    if form:
        body_kind = "multipart"
    elif data:
        body = "".join(data) if json_mode else "&".join(data)
        ct = next((hv for k, hv in headers if k.lower() == "content-type"), None)
        if ct is None and "content-type" in removed:
            body_kind = "raw"
        elif json_mode and ct is None:
            body_kind = "json"
            headers = [(k, hv) for k, hv in headers
                       if not (k.lower() == "accept" and hv == "application/json")]
        elif ct is not None and is_json_type(ct):
            body_kind = "json"
        elif ct is None or ct.split(";")[0].strip().lower() == FORM_TYPE:
            pairs = decode_form(body)
            if pairs is not None:
                body_kind, fields, body = "form", [FormField(k, fv) for k, fv in pairs], ""
            else:
                body_kind = "raw"
                if ct is None:  # what curl sends by default with -d
                    headers.append(("Content-Type", FORM_TYPE))
        else:
            body_kind = "raw"
    if method is None:
        method = "HEAD" if head else "GET" if get else ("POST" if body_kind != "none" or data else "GET")
    headers, auth = _lift_auth(headers)
    spec = RequestSpec(method, url, headers, body_kind, body, fields, auth).canonical()
    return CurlImport(spec, warnings)


def _lift_auth(headers: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], Auth]:
    """Move the one header the Auth tab would have written (``-u``, ``--oauth2-bearer``,
    ``Authorization: Bearer/Basic …``, ``apikey: …``) into the request's auth. Only when it is
    the only header of its name — two of them is not something the Auth tab writes."""
    for wanted in ("authorization", DEFAULT_KEY_NAME):
        same = [i for i, (k, _) in enumerate(headers) if k.strip().lower() == wanted]
        if len(same) == 1:
            k, v = headers[same[0]]
            auth = from_header(k, v)
            if auth is not None:
                return headers[:same[0]] + headers[same[0] + 1:], auth
    return headers, NO_AUTH


# -- export ---------------------------------------------------------------------------------------

def _q(s: str) -> str:
    return shlex.quote(s)


def to_curl(spec: RequestSpec, *, multiline: bool = True) -> str:
    """A curl command that sends ``spec`` (canonicalised first)."""
    r = spec.canonical()
    parts: list[str] = ["curl"]
    has_body = r.body_kind != "none"
    implied = "POST" if has_body else "GET"
    if r.method == "HEAD" and not has_body:
        parts.append("-I")
    elif r.method != implied:
        parts.append(f"-X {_q(r.method)}")
    # the Auth tab: a query API key goes into the URL, the rest after the typed headers (which it
    # replaces when they share its name, as sending does)
    auth = r.auth
    wire = r.applied()
    url = wire.url
    parts.append(f"--url {_q(url)}" if url.startswith("-") or not url else _q(url))
    auth_header = auth.header()
    typed = wire.headers[:-1] if auth_header is not None else wire.headers
    for k, v in typed:
        parts.append(f"-H {_q(f'{k}: {v}' if v else f'{k};')}")
    if auth.kind == "basic":
        parts.append(f"-u {_q(auth.user + ':' + auth.password)}")
    elif auth_header is not None:
        parts.append(f"-H {_q(auth_header[0] + ': ' + auth_header[1])}")
    ct = r.header("content-type")
    if r.body_kind == "json":
        if ct is None:
            parts.append(f"--json {_q(r.body)}")
        else:
            parts.append(f"--data-raw {_q(r.body)}")
    elif r.body_kind == "raw":
        if ct is None:
            parts.append(_q("-H") + " " + _q("Content-Type:"))  # stop curl's form default
        parts.append(f"--data-raw {_q(r.body)}")
    elif r.body_kind == "form":
        if all(f.name and "=" not in _enc(f.name) and "@" not in _enc(f.name) for f in r.form):
            for f in r.form:
                parts.append(f"--data-urlencode {_q(_enc(f.name) + '=' + f.value)}")
        else:
            parts.append(f"--data-raw {_q(encode_form([(f.name, f.value) for f in r.form]))}")
    elif r.body_kind == "multipart":
        for f in r.form:
            if f.file:
                parts.append(f"-F {_q(f.name + '=@' + f.value)}")
            elif f.value.startswith(("@", "<")) or ";" in f.value:
                parts.append(f"--form-string {_q(f.name + '=' + f.value)}")
            else:
                parts.append(f"-F {_q(f.name + '=' + f.value)}")
    sep = " \\\n  " if multiline else " "
    # keep the command word, the method and the URL on the first line
    n = 3 if parts[1].startswith(("-X", "-I")) else 2
    return sep.join([" ".join(parts[:n]), *parts[n:]])
