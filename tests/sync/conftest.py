"""Sync fixtures: devices (the reference client) talking to the app, and job arrangement helpers."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from mobile_contracts.reference_client import Device, FlaskTransport
from tests.conftest import bearer

PROTOCOL_HEADERS = {"X-Sync-Protocol": "2"}


def token_of(app: Flask, user: Any) -> str:
    return bearer(app, user)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def device(app: Flask, db: Any) -> Any:
    """`device(user, **options)` -> a reference-client Device for that user, over the test client."""

    def make(user: Any, **options: Any) -> Device:
        transport = options.pop("transport", None) or FlaskTransport(app.test_client())
        return Device(transport, token=token_of(app, user), **options)

    return make


@pytest.fixture
def sync_headers(auth: Any) -> Any:
    """`sync_headers(user)` -> bearer + protocol headers."""

    def make(user: Any) -> dict[str, str]:
        return {**auth(user), **PROTOCOL_HEADERS}

    return make
