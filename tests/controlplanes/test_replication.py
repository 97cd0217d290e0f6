"""``controlplanes.replication`` without Qt: reading both sides at once (``asyncio.TaskGroup``),
the first failure raised as it is, cancellation reaching both reads, plan + apply with progress.

Real parts: two SQLite stores in ``tmp_path`` behind real ``LocalControlPlane``s. The provider of
connections is the small ``Connections`` seam the GUI's session fills in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from konnect_desktop.controlplanes.base import ControlPlane
from konnect_desktop.controlplanes.local import LocalControlPlane
from konnect_desktop.controlplanes.replication import (
    CONNECTION,
    FILE,
    Endpoint,
    ReplicationError,
    apply_plan,
    compute_plan,
)
from konnect_desktop.runtime.store import Store
from konnect_desktop.settings import Profile


class Provider:
    """Connections by name: real local control planes, or one whose reading never ends."""

    def __init__(self, cps: dict[str, ControlPlane]) -> None:
        self.cps = cps
        self.waiting = asyncio.Event()  # the never-ending read has begun
        self.cancelled: list[str] = []

    def find(self, conn_id: str) -> Profile | None:
        known = set(self.cps) | {"slow"}
        return Profile(name=conn_id, kind="local") if conn_id in known else None

    async def control_plane_for(self, conn: Profile) -> ControlPlane:
        if conn.name == "slow":
            self.waiting.set()
            try:
                await asyncio.Event().wait()  # a remote that never answers
            except asyncio.CancelledError:
                self.cancelled.append(conn.name)
                raise
        return self.cps[conn.name]

    async def build_control_plane(self, conn: Profile) -> ControlPlane:
        return await self.control_plane_for(conn)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[str, Store]]:
    made = {name: Store(tmp_path / f"{name}.db") for name in ("us", "eu")}
    yield made
    for s in made.values():
        s.close()


@pytest.fixture
def provider(stores: dict[str, Store]) -> Provider:
    return Provider({name: LocalControlPlane(store=s, name=name) for name, s in stores.items()})


def side(name: str) -> Endpoint:
    return Endpoint(CONNECTION, conn_id=name)


async def test_plan_and_apply_between_two_connections_with_progress(stores: dict[str, Store], provider: Provider) -> None:
    for i in range(3):
        stores["us"].insert("services", {"name": f"s{i}", "url": f"http://127.0.0.1:9/{i}"})
    stores["eu"].insert("services", {"name": "only-eu", "url": "http://127.0.0.1:9/eu"})
    result = await compute_plan(provider, side("us"), side("eu"), [])
    assert sorted((c.action, c.new["name"] if c.new else c.old["name"]) for c in result.plan.changes) == [
        ("create", "s0"), ("create", "s1"), ("create", "s2"), ("delete", "only-eu")]
    seen: list[tuple[int, int, str]] = []
    report = await apply_plan(provider, result, lambda done, total, _c, status: seen.append((done, total, status)))
    assert [o.status for o in report.outcomes] == ["applied"] * 4
    assert [d for d, _t, _s in seen if _s == "applied"] == [1, 2, 3, 4] and {t for _d, t, _s in seen} == {4}
    assert sorted(e["name"] for e in stores["eu"].all("services")) == ["s0", "s1", "s2"]


async def test_a_side_that_fails_cancels_the_other_and_its_error_comes_out_as_it_is(provider: Provider) -> None:
    """Not an ``ExceptionGroup``: the page shows the ``ReplicationError``'s words."""
    with pytest.raises(ReplicationError, match="no longer exists"):
        await compute_plan(provider, side("slow"), side("gone"), [])
    assert provider.cancelled == ["slow"]


async def test_cancelling_a_plan_cancels_both_reads(provider: Provider) -> None:
    task = asyncio.ensure_future(compute_plan(provider, side("slow"), side("us"), []))
    await asyncio.wait_for(provider.waiting.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert provider.cancelled == ["slow"]


async def test_a_missing_target_file_is_a_plan_of_creates(stores: dict[str, Store], provider: Provider,
                                                          tmp_path: Path) -> None:
    stores["us"].insert("services", {"name": "a", "url": "http://127.0.0.1:9/"})
    out = tmp_path / "new-kong.yaml"
    result = await compute_plan(provider, side("us"), Endpoint(FILE, path=str(out)), [])
    assert [c.action for c in result.plan.changes] == ["create"]
    await apply_plan(provider, result)
    assert "name: a" in out.read_text()


async def test_the_same_side_twice_is_refused_with_words(provider: Provider) -> None:
    with pytest.raises(ReplicationError, match="the same"):
        await compute_plan(provider, side("us"), side("us"), [])

