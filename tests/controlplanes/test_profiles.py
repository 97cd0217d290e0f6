"""From a saved profile to a working control plane, the secret coming from the token store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from controlplane_support import TOKEN

from konnect_desktop import credentials
from konnect_desktop.controlplanes import (
    AuthFailed,
    KonnectControlPlane,
    LocalControlPlane,
    open_profile,
)
from konnect_desktop.settings import Profile


@pytest.fixture
def session_tokens() -> Any:
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    credentials.use_session_store()
    yield
    credentials.use_session_store(False)
    keyring.set_keyring(before)


async def test_konnect_profile_uses_the_stored_token(konnect_server: Any, session_tokens: None) -> None:
    konnect_server.add_control_plane("from-profile")
    prof = Profile("k", "konnect", region="us", control_plane="from-profile", auth="konnect-token",
                   base_url=konnect_server.base_url)
    with pytest.raises(AuthFailed, match="no token stored for profile 'k'"):
        await open_profile(prof)
    credentials.store_token("k", TOKEN)
    cp = await open_profile(prof)
    async with cp:
        assert isinstance(cp, KonnectControlPlane)
        await cp.create("services", {"name": "p", "host": "h.test"})
        assert [s["name"] async for s in cp.list("services")] == ["p"]


async def test_local_profile_opens_the_runtime_store(tmp_path: Path) -> None:
    cp = await open_profile(Profile("mine", "local", runtime="profile-test"))
    async with cp:
        assert isinstance(cp, LocalControlPlane)
        await cp.create("consumers", {"username": "u"})
        assert (await cp.info())["counts"]["consumers"] == 1
    cp.store.close()


async def test_invalid_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="url"):
        await open_profile(Profile("bad", "kong-admin", url="nope"))
