"""Assertions on a request's outcome: what the client got and what the gateway did.

An ``expect`` mapping (from a collection file) holds any of::

    status: 200                      # or [200, 201]
    headers: {content-type: {contains: json}, x-internal: absent, retry-after: present}
    json: {"$.user.id": 42, "$.items[0].name": {matches: "^a"}}
    body: {contains: "hello"}
    latency_ms: {lt: 500}
    gateway:                          # the local runtime's view (traffic log), skipped elsewhere
      route: users_getuser            # name (or id); null = no route matched
      service: users
      consumer: dev                   # username (or id); null = anonymous
      plugins: {key-auth: pass, rate-limiting: reject}   # a decision's outcome, "ran" or "absent"
      upstream:                       # what the upstream received
        path: /api/users/42           # path without the query
        headers: {x-from-spec: "yes", apikey: absent}
        query: {x: "1"}
        json: {"$.a": 1}
    burst:                            # for a request sent ``burst: N`` times in a row
      rejected_from: 6                # requests 1-5 pass, 6 onwards are rejected
      status: 429                     # the status of the rejected ones
      headers: {retry-after: present} # on the first rejected one

Top-level checks look at the first response of a burst. A value is compared for equality (headers
and query as text, JSON by value), or given as a matcher: ``{equals|contains|matches|lt|gt|
one_of: ...}``; ``present`` / ``absent`` for headers and query parameters. Every check reports
what was expected and what came, so a failure reads as a sentence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..jsontypes import JSONObject, JSONValue
from .sender import Exchange

TOP = {"status", "headers", "json", "body", "latency_ms", "gateway", "burst"}
GATEWAY = {"route", "service", "consumer", "plugins", "upstream"}
UPSTREAM = {"path", "headers", "query", "json", "method"}
BURST = {"rejected_from", "status", "headers"}
MATCHERS = {"equals", "contains", "matches", "lt", "gt", "one_of"}
_MISSING = object()


@dataclass
class Check:
    name: str  # "status", "gateway.plugins.key-auth", "json $.id"
    ok: bool
    expected: str
    got: str
    skipped: str | None = None  # why it did not run (e.g. gateway checks against a remote)

    def line(self) -> str:
        if self.skipped:
            return f"~ {self.name}: skipped ({self.skipped})"
        return f"{'✓' if self.ok else '✗'} {self.name}: expected {self.expected}, got {self.got}"


@dataclass
class Outcome:
    """What running one collection request produced."""

    responses: list[Exchange]  # one per request sent (a burst has several)
    gateway: list[JSONObject | None] = field(default_factory=list)  # traffic entries, same order
    gateway_reason: str | None = None  # set when gateway checks cannot run (remote target)
    error: str | None = None  # a request that got no response


# -- validating the expect mapping ----------------------------------------------------------------

def check_expect(expect: JSONObject) -> str | None:
    """The first thing wrong with an ``expect`` mapping (as ``field: why``), or None."""
    unknown = set(expect) - TOP
    if unknown:
        return f"{sorted(unknown)[0]}: unknown check (known: {', '.join(sorted(TOP))})"
    for key, allowed in (("gateway", GATEWAY), ("burst", BURST)):
        sub = expect.get(key)
        if sub is None:
            continue
        if not isinstance(sub, dict):
            return f"{key}: expected a mapping"
        bad = set(sub) - allowed
        if bad:
            return f"{key}.{sorted(bad)[0]}: unknown check (known: {', '.join(sorted(allowed))})"
    up = (expect.get("gateway") or {}).get("upstream")
    if up is not None:
        if not isinstance(up, dict):
            return "gateway.upstream: expected a mapping"
        bad = set(up) - UPSTREAM
        if bad:
            return f"gateway.upstream.{sorted(bad)[0]}: unknown check (known: {', '.join(sorted(UPSTREAM))})"
    for where, value in _matcher_values(expect):
        if isinstance(value, dict):
            bad = set(value) - MATCHERS
            if bad or len(value) != 1:
                return f"{where}: a matcher is one of {', '.join(sorted(MATCHERS))} (got {', '.join(sorted(value)) or 'nothing'})"
            if "matches" in value:
                try:
                    re.compile(str(value["matches"]))
                except re.error as exc:
                    return f"{where}: matches: invalid regular expression ({exc})"
    for where, path in _json_paths(expect):
        try:
            parse_path(path)
        except ValueError as exc:
            return f"{where}: {exc}"
    rf = (expect.get("burst") or {}).get("rejected_from")
    if rf is not None and (isinstance(rf, bool) or not isinstance(rf, int) or rf < 1):
        return "burst.rejected_from: expected the 1-based position of the first rejected request"
    return None


def _matcher_values(expect: JSONObject) -> list[tuple[str, JSONValue]]:
    out: list[tuple[str, JSONValue]] = []
    for key in ("status", "latency_ms"):
        if key in expect:
            out.append((key, expect[key]))
    if "body" in expect:
        out.append(("body", expect["body"]))
    gw = expect.get("gateway") or {}
    up = gw.get("upstream") or {}
    for prefix, mapping in (("headers", expect.get("headers")), ("json", expect.get("json")),
                            ("gateway.upstream.headers", up.get("headers")), ("gateway.upstream.query", up.get("query")),
                            ("gateway.upstream.json", up.get("json")), ("burst.headers", (expect.get("burst") or {}).get("headers"))):
        if isinstance(mapping, dict):
            out.extend((f"{prefix}.{k}", v) for k, v in mapping.items())
    return out


def _json_paths(expect: JSONObject) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for prefix, mapping in (("json", expect.get("json")), ("gateway.upstream.json", ((expect.get("gateway") or {}).get("upstream") or {}).get("json"))):
        if isinstance(mapping, dict):
            out.extend((f"{prefix}.{k}", str(k)) for k in mapping)
    return out


# -- JSONPath (the common subset) -----------------------------------------------------------------

_STEP = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(-?\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")


def parse_path(path: str) -> list[str | int]:
    """``$.a.b[0]['c d']`` → ``["a", "b", 0, "c d"]``; a ValueError names what is not understood."""
    if not path.startswith("$"):
        raise ValueError(f"a JSON path starts with '$' (got '{path}')")
    steps: list[str | int] = []
    i = 1
    while i < len(path):
        m = _STEP.match(path, i)
        if not m:
            raise ValueError(f"cannot read the JSON path '{path}' at '{path[i:]}' (use .name, [index] or ['name'])")
        name, index, q1, q2 = m.groups()
        steps.append(int(index) if index is not None else name if name is not None else (q1 if q1 is not None else q2))
        i = m.end()
    return steps


def json_at(doc: JSONValue, path: str) -> JSONValue:
    cur = doc
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                return _MISSING
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                return _MISSING
            cur = cur[step]
    return cur


# -- comparing ------------------------------------------------------------------------------------

def _show(v: JSONValue) -> str:
    if v is _MISSING:
        return "nothing"
    return repr(v) if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _match(expected: JSONValue, got: JSONValue, *, as_text: bool) -> tuple[bool, str]:
    """(ok, expected as words)."""
    if isinstance(expected, dict):
        (op, want), = expected.items()
        if got is _MISSING or got is None:
            return False, f"{op} {_show(want)}"
        if op == "equals":
            return _match(want, got, as_text=as_text)
        if op == "contains":
            if isinstance(got, (list, dict)):
                return want in got, f"something containing {_show(want)}"
            return str(want) in str(got), f"text containing {_show(want)}"
        if op == "matches":
            return re.search(str(want), str(got)) is not None, f"text matching /{want}/"
        if op == "one_of":
            opts = want if isinstance(want, list) else [want]
            return any(_match(o, got, as_text=as_text)[0] for o in opts), f"one of {_show(opts)}"
        try:
            n = float(got)
        except (TypeError, ValueError):
            return False, f"a number {'<' if op == 'lt' else '>'} {want}"
        return (n < float(want)) if op == "lt" else (n > float(want)), f"{'<' if op == 'lt' else '>'} {want}"
    if as_text:
        if expected == "present":
            return got is not _MISSING, "present"
        if expected == "absent":
            return got is _MISSING, "absent"
        text = "true" if expected is True else "false" if expected is False else str(expected)
        return got is not _MISSING and str(got) == text, repr(text)
    return got == expected, _show(expected)


def _check(name: str, expected: JSONValue, got: JSONValue, *, as_text: bool = False) -> Check:
    ok, words = _match(expected, got, as_text=as_text)
    return Check(name, ok, words, _show(got))


def _header(headers: JSONObject | list[tuple[str, str]] | None, name: str) -> JSONValue:
    low = name.lower()
    if isinstance(headers, dict):
        for k, v in headers.items():
            if k.lower() == low:
                return v[0] if isinstance(v, list) and v else v
        return _MISSING
    vals = [v for k, v in headers or () if k.lower() == low]
    return vals[0] if vals else _MISSING


def _json_body(text: str) -> JSONValue:
    try:
        return json.loads(text)
    except ValueError:
        return _MISSING


def _client_checks(expect: JSONObject, ex: Exchange) -> list[Check]:
    out = []
    if "status" in expect:
        want = expect["status"]
        if isinstance(want, list):
            want = {"one_of": want}
        out.append(_check("status", want, ex.status))
    for name, want in (expect.get("headers") or {}).items():
        out.append(_check(f"header {name}", want, _header(ex.headers, name), as_text=True))
    if expect.get("json"):
        doc = _json_body(ex.text())
        for path, want in expect["json"].items():
            got = json_at(doc, path) if doc is not _MISSING else _MISSING
            out.append(_check(f"json {path}", want, got))
    if "body" in expect:
        out.append(_check("body", expect["body"], ex.text(), as_text=True))
    if "latency_ms" in expect:
        total = ex.timing.total_ms
        out.append(_check("latency_ms", expect["latency_ms"], round(total, 1) if total is not None else _MISSING))
    return out


def _ref_matches(ref: JSONObject | None, want: JSONValue, key: str) -> tuple[bool, str]:
    shown = None if ref is None else (ref.get(key) or ref.get("id"))
    if want is None:
        return ref is None, _show(shown)
    return ref is not None and want in (ref.get(key), ref.get("id")), _show(shown)


def _gateway_checks(gw: JSONObject, entry: JSONObject | None, reason: str | None) -> list[Check]:
    names = [f"gateway.{k}" for k in gw if k not in ("plugins", "upstream")]
    names += [f"gateway.plugins.{p}" for p in gw.get("plugins") or {}]
    names += [f"gateway.upstream.{k}" for k in gw.get("upstream") or {}]
    if reason is not None or entry is None:
        why = reason or "the gateway recorded no entry for this request"
        return [Check(n, True, "", "", skipped=why) if reason else Check(n, False, "a gateway record", why) for n in names]
    out = []
    for key, field_name in (("route", "name"), ("service", "name"), ("consumer", "username")):
        if key in gw:
            ok, got = _ref_matches(entry.get(key), gw[key], field_name)
            out.append(Check(f"gateway.{key}", ok, _show(gw[key]), got))
    decisions: JSONObject = {}  # plugin -> outcome, as the traffic entry's JSON has them
    for d in entry.get("decisions") or ():
        decisions.setdefault(d.get("plugin"), d.get("outcome"))
    for plugin, want in (gw.get("plugins") or {}).items():
        got = decisions.get(plugin, _MISSING)
        if want == "ran":
            ok, words = got is not _MISSING, "a decision"
        else:  # "pass", "reject", "skip", "transform", "error", "absent" or a matcher
            ok, words = _match(want, got, as_text=True)
        out.append(Check(f"gateway.plugins.{plugin}", ok, words, _show(got) if got is not _MISSING else "no decision"))
    up = gw.get("upstream") or {}
    seen = entry.get("upstream_request")
    if up and seen is None:
        return out + [Check(f"gateway.upstream.{k}", False, "an upstream request", "the request never went upstream") for k in up]
    if up and seen is not None:
        target = seen.get("path") or ""
        path, _, query = target.partition("?")
        if "path" in up:
            out.append(_check("gateway.upstream.path", up["path"], path, as_text=True))
        if "method" in up:
            out.append(_check("gateway.upstream.method", up["method"], seen.get("method"), as_text=True))
        for name, want in (up.get("headers") or {}).items():
            out.append(_check(f"gateway.upstream.header {name}", want, _header(seen.get("headers") or {}, name), as_text=True))
        q = dict(parse_qsl(query, keep_blank_values=True))
        for name, want in (up.get("query") or {}).items():
            out.append(_check(f"gateway.upstream.query {name}", want, q.get(name, _MISSING), as_text=True))
        if up.get("json"):
            body = seen.get("body")
            doc = _json_body(body) if isinstance(body, str) else _MISSING
            for p, want in up["json"].items():
                out.append(_check(f"gateway.upstream.json {p}", want, json_at(doc, p) if doc is not _MISSING else _MISSING))
    return out


def _rejected(ex: Exchange) -> bool:
    return ex.status == 429 or (400 <= ex.status < 500 and _header(ex.headers, "retry-after") is not _MISSING)


def _burst_checks(b: JSONObject, responses: list[Exchange]) -> list[Check]:
    out = []
    first = next((i for i, ex in enumerate(responses) if _rejected(ex)), None)
    if "rejected_from" in b:
        want = b["rejected_from"]
        tail_ok = first is not None and all(_rejected(ex) for ex in responses[first:])
        said = "none rejected" if first is None else f"first rejected #{first + 1}" + ("" if tail_ok else ", some later ones passed")
        out.append(Check("burst.rejected_from", first == want - 1 and tail_ok, f"requests #{want}..#{len(responses)} rejected", said))
    if "status" in b:
        statuses = sorted({ex.status for ex in responses[first:]}) if first is not None else []
        ok = bool(statuses) and all(_match(b["status"], s, as_text=False)[0] for s in statuses)
        out.append(Check("burst.status", ok, _show(b["status"]), _show(statuses) if statuses else "no rejected request"))
    for name, want in (b.get("headers") or {}).items():
        got = _header(responses[first].headers, name) if first is not None else _MISSING
        out.append(_check(f"burst.header {name}", want, got, as_text=True))
    return out


def evaluate(expect: JSONObject, outcome: Outcome) -> list[Check]:
    """Every check of ``expect`` against ``outcome``, in the order they were written."""
    if outcome.error is not None or not outcome.responses:
        return [Check("response", False, "a response", outcome.error or "no response")]
    out = _client_checks(expect, outcome.responses[0])
    if expect.get("gateway"):
        entry = outcome.gateway[0] if outcome.gateway else None
        out += _gateway_checks(expect["gateway"], entry, outcome.gateway_reason)
    if expect.get("burst"):
        out += _burst_checks(expect["burst"], outcome.responses)
    return out
