"""The running app's settings for code that runs inside a request but outside the HTTP layer (device
mutation handlers, called by `POST /sync/push`): the one place such code reads `flask.current_app`.

`MutationContext` carries no settings, so the handlers ask here instead of importing Flask themselves.
"""

from __future__ import annotations

from flask import current_app

from backend.storage.service import Storage, storage_for


def acceptance_seal_key() -> bytes:
    """The HMAC key that seals acceptance records (`ACCEPTANCE_SEAL_KEY`)."""
    key: str = current_app.config["ACCEPTANCE_SEAL_KEY"]
    return key.encode()


def evidence_storage() -> Storage:
    """The app's blob store (local or S3), built once per app."""
    return storage_for(current_app)
