"""The portal's OpenAPI renderer over open-ended documents (Hypothesis): whatever a document holds,
rendering never fails and no value comes out as markup (an OpenAPI file is third-party input)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from konnect_desktop.runtime.portal.openapi_view import base_path, document_html, operations

NASTY = st.sampled_from(["<script>alert(1)</script>", "\"'><img src=x onerror=alert(1)>", "#/components/x",
                         "get", "post", "$ref", "/p/{id}", "", "&amp;"])
TEXT = st.one_of(st.text(max_size=12), NASTY)
LEAF = st.one_of(st.none(), st.booleans(), st.integers(), TEXT)
VALUE = st.recursive(LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def _op() -> Any:
    return st.fixed_dictionaries({}, optional={
        "summary": TEXT, "description": TEXT, "parameters": st.lists(VALUE, max_size=3),
        "requestBody": VALUE, "responses": st.dictionaries(TEXT, VALUE, max_size=3)})


DOCS = st.fixed_dictionaries({"openapi": st.just("3.0.3")}, optional={
    "info": st.dictionaries(TEXT, VALUE, max_size=3),
    "servers": st.lists(st.dictionaries(st.just("url"), TEXT), max_size=2),
    "paths": st.dictionaries(TEXT, st.one_of(VALUE, st.dictionaries(st.sampled_from(["get", "post", "put"]), _op(),
                                                                        max_size=2)), max_size=3),
    "components": VALUE,
})


@settings(max_examples=300, deadline=None)
@given(DOCS)
def test_any_document_renders_escaped(doc: dict[str, Any]) -> None:
    html = document_html(doc, version_id="v-<id>", csrf="tok'en")
    assert "<script" not in html and "<img" not in html  # the nasty values only ever come out as text
    assert "value='tok'en'" not in html  # attribute values stay quoted
    assert isinstance(operations(doc), list) and isinstance(base_path(doc), str)


def test_recursive_ref_ends() -> None:
    doc = {"openapi": "3.0.3", "components": {"schemas": {"Node": {"type": "object", "properties": {
        "next": {"$ref": "#/components/schemas/Node"}}}}},
        "paths": {"/n": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Node"}}}}}}}}}
    html = document_html(doc, version_id="v", csrf="t")
    assert html.count("Node") >= 2
