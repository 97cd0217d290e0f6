"""Random sequences of changes against a plain in-memory model: after every step the store holds
exactly what the model says, refusals carry the right code and change nothing, and the version
counts committed changes only."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from konnect_desktop.model.errors import KongError
from konnect_desktop.runtime.store import Store

NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
GHOST = str(uuid.uuid4())


class Abort(Exception):
    pass


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-model-"))
        self.store = Store(self.dir / "m.db")
        self.services: dict[str, str] = {}  # id -> name
        self.routes: dict[str, str | None] = {}  # id -> service id
        self.version = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- one change each ------------------------------------------------------------------------
    def _add_service(self, name: str) -> None:
        try:
            e = self.store.insert("services", {"name": name, "host": "h"})
        except KongError as err:
            assert name in self.services.values() and err.code == 5
            raise
        assert name not in self.services.values()
        self.services[e["id"]] = name

    def _add_route(self, sid: str | None) -> None:
        data = {"paths": ["/"], "service": {"id": sid} if sid else None}
        try:
            e = self.store.insert("routes", data)
        except KongError as err:
            assert sid not in self.services and err.code == 4
            raise
        assert sid is None or sid in self.services
        self.routes[e["id"]] = sid

    def _delete_service(self, name: str) -> None:
        sid = next((i for i, n in self.services.items() if n == name), None)
        try:
            deleted = self.store.delete("services", name)
        except KongError as err:
            assert sid is not None and sid in self.routes.values() and err.code == 4
            raise
        assert deleted is (sid is not None)
        if sid:
            assert sid not in self.routes.values()
            del self.services[sid]

    @rule(name=NAMES)
    def add_service(self, name: str) -> None:
        try:
            self._add_service(name)
            self.version += 1
        except KongError:
            pass

    @rule(data=st.data())
    def add_route(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from([*self.services, GHOST, None]))
        try:
            self._add_route(sid)
            self.version += 1
        except KongError:
            pass

    @rule(old=NAMES, new=NAMES)
    def rename_service(self, old: str, new: str) -> None:
        sid = next((i for i, n in self.services.items() if n == old), None)
        try:
            e = self.store.update("services", old, {"name": new})
        except KongError as err:
            assert sid is not None and new != old and new in self.services.values() and err.code == 5
            return
        except Exception as err:
            assert sid is None and type(err).__name__ == "NotFound"
            return
        assert e["id"] == sid
        self.services[sid] = new
        self.version += 1

    @rule(name=NAMES)
    def delete_service(self, name: str) -> None:
        had = name in self.services.values()
        try:
            self._delete_service(name)
            self.version += 1 if had else 0
        except KongError:
            pass

    @rule(data=st.data())
    def delete_route(self, data: st.DataObject) -> None:
        if not self.routes:
            return
        rid = data.draw(st.sampled_from(sorted(self.routes)))
        assert self.store.delete("routes", rid) is True
        del self.routes[rid]
        self.version += 1

    @rule(names=st.lists(NAMES, max_size=3), abort=st.booleans())
    def batch(self, names: list[str], abort: bool) -> None:
        """Several changes in one transaction: one version, or nothing at all."""
        services, routes = dict(self.services), dict(self.routes)
        changed = False
        try:
            with self.store.transaction():
                for name in names:
                    self._add_service(name)
                    sid = next(i for i, n in self.services.items() if n == name)
                    self._add_route(sid)
                    changed = True
                if abort:
                    raise Abort()
        except (KongError, Abort):
            self.services, self.routes = services, routes
            return
        self.version += 1 if changed else 0

    # -- after every step -------------------------------------------------------------------------
    @invariant()
    def store_matches_model(self) -> None:
        assert {e["id"]: e["name"] for e in self.store.all("services")} == self.services
        routes = self.store.all("routes")
        assert {e["id"]: (e["service"] or {}).get("id") for e in routes} == self.routes
        assert self.store.version == self.version
        for name in self.services.values():
            assert self.store.get("services", name)["name"] == name


StoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestStoreModel = StoreMachine.TestCase
