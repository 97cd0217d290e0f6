"""The model's helpers for entity values that several rooms read (one of each)."""

from __future__ import annotations

from konnect_desktop.model.schema import foreign_id, is_uuid

ID = "5b6f7e0c-5c77-4a8e-9a43-6a0d3f1e2a10"


def test_foreign_id_reads_both_ways_of_writing_a_reference() -> None:
    assert foreign_id({"id": ID}) == ID
    assert foreign_id(ID) == ID
    assert foreign_id(None) is None and foreign_id({}) is None and foreign_id({"id": 7}) is None


def test_is_uuid_is_kongs_typedef() -> None:
    assert is_uuid(ID) and is_uuid(ID.upper())
    assert not is_uuid(ID.replace("-", "")) and not is_uuid(None) and not is_uuid(f"{{{ID}}}")
