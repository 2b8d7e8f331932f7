"""The evidence store's settings, read once from the app's config into a plain value (no Flask here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from backend.evidence.models import AttachmentKind

MIB = 1024 * 1024


@dataclass(frozen=True)
class StorageConfig:
    backend: str
    blob_dir: str
    public_base_url: str
    secret_key: str
    s3_bucket: str
    s3_endpoint_url: str
    s3_region: str
    s3_path_style: bool
    s3_access_key_id: str
    s3_secret_access_key: str
    ticket_ttl: timedelta
    download_ttl: timedelta
    multipart_threshold: int
    part_size: int
    upload_retention: timedelta
    max_bytes: Mapping[str, int]  # per kind, one file
    max_per_job: Mapping[str, int]  # per kind, count
    max_bytes_per_job: int
    max_video_seconds: int

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> StorageConfig:
        return cls(
            backend=config["STORAGE_BACKEND"],
            blob_dir=config["BLOB_DIR"],
            public_base_url=config["PUBLIC_BASE_URL"].rstrip("/"),
            secret_key=config["SECRET_KEY"],
            s3_bucket=config["S3_BUCKET"],
            s3_endpoint_url=config["S3_ENDPOINT_URL"],
            s3_region=config["S3_REGION"],
            s3_path_style=bool(config["S3_PATH_STYLE"]),
            s3_access_key_id=config["S3_ACCESS_KEY_ID"],
            s3_secret_access_key=config["S3_SECRET_ACCESS_KEY"],
            ticket_ttl=timedelta(seconds=config["STORAGE_TICKET_TTL_SECONDS"]),
            download_ttl=timedelta(seconds=config["STORAGE_DOWNLOAD_TTL_SECONDS"]),
            multipart_threshold=config["STORAGE_MULTIPART_THRESHOLD"],
            part_size=max(config["STORAGE_PART_SIZE"], 5 * MIB),  # S3's minimum part size
            upload_retention=timedelta(hours=config["STORAGE_UPLOAD_RETENTION_HOURS"]),
            max_bytes={
                AttachmentKind.PHOTO: config["ATTACHMENT_MAX_PHOTO_BYTES"],
                AttachmentKind.VIDEO: config["ATTACHMENT_MAX_VIDEO_BYTES"],
                AttachmentKind.DOCUMENT: config["ATTACHMENT_MAX_DOCUMENT_BYTES"],
                AttachmentKind.SIGNATURE: config["ATTACHMENT_MAX_SIGNATURE_BYTES"],
            },
            max_per_job={
                AttachmentKind.PHOTO: config["ATTACHMENT_MAX_PHOTOS_PER_JOB"],
                AttachmentKind.VIDEO: config["ATTACHMENT_MAX_VIDEOS_PER_JOB"],
                AttachmentKind.DOCUMENT: config["ATTACHMENT_MAX_DOCUMENTS_PER_JOB"],
                AttachmentKind.SIGNATURE: config["ATTACHMENT_MAX_SIGNATURES_PER_JOB"],
            },
            max_bytes_per_job=config["ATTACHMENT_MAX_BYTES_PER_JOB"],
            max_video_seconds=config["ATTACHMENT_MAX_VIDEO_SECONDS"],
        )

    def parts_for(self, size: int) -> int:
        """How many parts a multipart upload of `size` bytes has (the last one may be short)."""
        return max(1, -(-size // self.part_size))

    def is_multipart(self, size: int) -> bool:
        return size > self.multipart_threshold
