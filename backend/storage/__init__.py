"""Blob storage for evidence: local files and S3, upload tickets and verification (DESIGN.md §4).

The public surface: `storage_for(app)`, `read_blob`, `get_verified_attachment`, `sweep_uploads`.
"""

from backend.storage.service import Storage, get_verified_attachment, read_blob, storage_for
from backend.storage.sweeper import SweepReport, sweep_uploads

__all__ = ["Storage", "SweepReport", "get_verified_attachment", "read_blob", "storage_for", "sweep_uploads"]
