"""``responses.header_lines`` (every head the proxy writes from a table goes through it): the
lines it joins in C are exactly the ``Name: value`` lines formatted one by one, latin-1 or, when
a value is beyond it, UTF-8; a value that is not a string is formatted as before. And
``REQ_DROP_CI`` (the upstream request's filter) drops exactly the names ``REQ_DROP_STR`` does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from konnect_desktop.runtime.responses import REQ_DROP_CI, REQ_DROP_STR, header_lines


def _reference(items: list[tuple[str, object]]) -> bytes:
    text = "".join([f"{k}: {v}\r\n" for k, v in items])
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


_NAMES = st.from_regex(r"[A-Za-z0-9_-]{0,12}", fullmatch=True)
_VALUES = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12),
                    st.integers(), st.floats(allow_nan=False))


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=10))
def test_header_lines_equal_the_lines_formatted_one_by_one(pairs: list[tuple[str, object]]) -> None:
    assert header_lines(pairs) == _reference(pairs)
    table = CIMultiDict(pairs)  # (a multidict's items(): what the proxy passes)
    assert header_lines(table.items()) == _reference(list(table.items()))


# header names: HTTP tokens (llhttp's, and the plugins' validated ones), the dropped ones in
# any case, and their neighbours
_TOKENS = st.one_of(
    st.sampled_from(sorted(REQ_DROP_STR)).map(lambda n: n.upper() if len(n) % 2 else n.title()),
    st.sampled_from(["hosts", "te-x", "x-host", "via2", "apikey", "X-Consumer-ID"]),
    st.from_regex(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}", fullmatch=True),
)


@given(_TOKENS)
def test_req_drop_ci_drops_what_req_drop_str_does(name: str) -> None:
    assert (name in REQ_DROP_CI) == (name.lower() in REQ_DROP_STR)
