"""response-ratelimiting's parsing of the upstream's usage header (Kong's header_filter.lua
parse_header): one header split on commas, or several headers one part each."""

from __future__ import annotations

from konnect_desktop.plugins.response_ratelimiting import parse_increments

LIMITS = {"video": {"second": 1}, "image": {"second": 1}}


def test_parse_increments() -> None:
    assert parse_increments(["video=1, image=2"], LIMITS) == {"video": 1, "image": 2}
    assert parse_increments(["video=2", "image=1"], LIMITS) == {"video": 2, "image": 1}
    assert parse_increments([" video = 1.5 ,other=3"], LIMITS) == {"video": 1.5}  # unknown names ignored
    assert parse_increments(["video", "image=1=2", "video=x"], LIMITS) == {}  # malformed parts ignored
    assert parse_increments([], LIMITS) == {}
