"""Blob storage for evidence: local files and S3, upload tickets and verification (DESIGN.md §4).

The public surface: `storage_for(app)`, `read_blob`, `get_verified_attachment`, `sweep_uploads`,
`adopt_request_attachments` (call when a work order is made from a request).
"""

from __future__ import annotations

from backend.evidence.service import (
    Storage,
    adopt_request_attachments,
    get_verified_attachment,
    read_blob,
    storage_for,
)
from backend.evidence.sweeper import SweepReport, sweep_uploads
from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import ALL_STAFF, PARTNER, STAFF, Role

__all__ = [
    "Storage",
    "adopt_request_attachments",
    "SweepReport",
    "get_verified_attachment",
    "read_blob",
    "storage_for",
    "sweep_uploads",
]


def register(registry: Registry) -> None:
    from backend.evidence import models, mutations

    registry.domain("evidence", models=(models,), mutations=(mutations,))
    registry.grant(Permission.ATTACHMENT_CREATE, {Role.TECHNICIAN, Role.CUSTOMER} | STAFF)
    registry.grant(Permission.ATTACHMENT_READ, {Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | ALL_STAFF)
