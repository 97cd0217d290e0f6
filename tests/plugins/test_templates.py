"""The $(...) template engine: Lua-expression semantics, safety (never eval), and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.plugins.templates import (
    LazyEnv,
    LuaTable,
    TemplateError,
    TemplateSyntaxError,
    compile_template,
    header_key,
)

ENV = LazyEnv({
    "headers": lambda: LuaTable({"host": "h.test", "x-multi": ["a", "b"], "x-n": "5"}, header_key),
    "query_params": lambda: {"q": "20", "flag": True, "list": ["1", "2"]},
    "uri_captures": lambda: {0: "/all", 1: "one", "name": "named"},
    "shared": lambda: {"k": "shared-value"},
})


def render(text: str) -> str:
    return compile_template(text).render(ENV)


@pytest.mark.parametrize("text,out", [
    ("plain", "plain"),
    ("$(headers.host)", "h.test"),
    ('$(headers["host"])', "h.test"),
    ("$(headers['X-N'])", "5"),
    ("$(headers.x_n)", "5"),
    ("$(query_params.q)", "20"),
    ("$(query_params.flag)", "true"),
    ("$(query_params.list[2])", "2"),
    ("$(uri_captures[1])", "one"),
    ("$(uri_captures.name)", "named"),
    ("$(uri_captures[0])", "/all"),
    ("$(uri_captures.none)", ""),
    ("$(uri_captures.none or 'dflt')", "dflt"),
    ('$(uri_captures.none or "d" .. "x")', "dx"),
    ("$(shared.k)", "shared-value"),
    ("a$(query_params.q)b$(uri_captures[1])c", "a20bonec"),
    ("$('$(uri_captures.name)')", "$(uri_captures.name)"),
    ("$(headers.host:upper())", "H.TEST"),
    ("$(headers.host:sub(1, 1))", "h"),
    ("$(#headers.host)", "6"),
    ("$(query_params.q + 1)", "21"),
    ("$(query_params.q * 1.5)", "30"),
    ("$(query_params.q == '20' and 'yes' or 'no')", "yes"),
    ("$(not uri_captures.none)", "true"),
    ("$(false)", ""),
    ("$(nil)", ""),
    ("$(headers.x_multi)", "a, b"),
    ("$(unknown_global)", ""),
    ("$(string)", ""),  # no globals: the sandbox only knows the four tables
    ("cost: $5 $(", "cost: $5 $("),
    ("$(2^10)", "1024"),
    ("$(7 % 3)", "1"),
    ("$(1/4)", "0.25"),
])
def test_render(text: str, out: str) -> None:
    assert render(text) == out


@pytest.mark.parametrize("text", ["$(uri_captures user2)", "$(a.)", "$(function() end)", "$(a = 1)",
                                  "$({})", "$('unterminated)", "$(a..)", "$(os.execute('x') end)", "$()"])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template(text)


@pytest.mark.parametrize("text", ["$(ERROR())", "$(uri_captures.none.x)", "$(headers.host + 1)",
                                  "$(uri_captures.none .. 'x')", "$(headers.host:nomethod())", "$(('x'):rep(1e9))",
                                  "$(__import__('os'))", "$(uri_captures < 1)"])
def test_render_errors(text: str) -> None:
    with pytest.raises(TemplateError):
        render(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_compiles_or_fails_cleanly(text: str) -> None:
    try:
        tpl = compile_template(text)
    except TemplateSyntaxError:
        return
    try:
        out = tpl.render(ENV)
    except TemplateError:
        return
    assert isinstance(out, str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).filter(lambda s: "$(" not in s))
def test_text_without_templates_is_literal(text: str) -> None:
    assert render(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_string_literal_roundtrip(s: str) -> None:
    escaped = s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    # parentheses inside a literal still count for the $(...) delimiters, as in Kong
    if s.count("(") != s.count(")"):
        return
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return
    assert render(f"$('{escaped}')") == s


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.sampled_from(["headers.host", "uri_captures[1]", "'lit'", "nil", "query_params.q", "1"]),
                    lambda inner: st.one_of(st.tuples(inner, st.sampled_from([" or ", " and ", " .. ", " == "]), inner)
                                            .map(lambda t: f"({t[0]}{t[1]}{t[2]})")), max_leaves=6))
def test_generated_expressions_parse(expr: str) -> None:
    tpl = compile_template(f"$({expr})")
    try:
        tpl.render(ENV)
    except TemplateError:
        pass
