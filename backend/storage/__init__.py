"""Blob storage for evidence: local files and S3, upload tickets and verification (DESIGN.md §4).

The public surface: `storage_for(app)`, `read_blob`, `get_verified_attachment`, `sweep_uploads`,
`adopt_request_attachments` (call when a work order is made from a request).
"""

from backend.storage.service import (
    Storage,
    adopt_request_attachments,
    get_verified_attachment,
    read_blob,
    storage_for,
)
from backend.storage.sweeper import SweepReport, sweep_uploads

__all__ = [
    "Storage",
    "adopt_request_attachments",
    "SweepReport",
    "get_verified_attachment",
    "read_blob",
    "storage_for",
    "sweep_uploads",
]
