"""The GUI's error panel renders any error without guessing: an ``AppError`` by its own
``message``/``status``/``code``/``fields``, an httpx transport failure by
``controlplanes.transport.describe_transport_error`` (the one place such sentences are made)."""

from __future__ import annotations

import socket

import httpx
import pytest

from konnect_desktop.console.collection import CollectionError
from konnect_desktop.controlplanes import errors as cp_errors
from konnect_desktop.errors import AppError
from konnect_desktop.model.errors import NotFound, schema_violation
from konnect_desktop.runtime.admin_config import ConfigRejected
from konnect_desktop.ui.errors import describe_error


@pytest.mark.parametrize("err", [
    schema_violation({"name": "required field missing"}),
    cp_errors.ApiError("bad", status=400, code=2, fields={"name": "required field missing"}),
    ConfigRejected({"code": 14, "name": "invalid declarative configuration",
                    "message": "declarative config is invalid: {}", "fields": {"services": ["x"]}}),
    NotFound("no Konnect control plane named 'x'"),
    CollectionError("requests.yaml: url: required"),
], ids=lambda e: type(e).__name__)
def test_any_app_error_is_shown_by_its_own_message_and_fields(err: AppError) -> None:
    info = describe_error(err, action="saving the service")
    assert info.title == "Saving the service failed"
    assert info.message == err.message
    assert info.status == err.status
    assert info.code == err.code
    assert info.fields == (err.fields or {})


def test_a_refused_connection_is_worded_by_the_transport_module() -> None:
    # a bound socket that does not listen: connecting to it is refused at once (no wall clock)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(httpx.ConnectError) as raised:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    info = describe_error(raised.value, action="loading services")
    assert info.message == f"Could not connect to 127.0.0.1:{port}: connection refused"


def test_an_unknown_exception_is_described_from_its_type_and_masked() -> None:
    token = "kpat_" + "B" * 40
    info = describe_error(RuntimeError(f"boom with {token}"))
    assert info.title == "Something went wrong"
    assert token not in info.message and info.message.startswith("boom with")
    assert describe_error(KeyError("name")).message == "Missing value: 'name'"
