"""Settings read from environment variables, with safe embedded defaults (SQLite + local blobs).

Every variable is documented in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass
class Settings:
    """The app's configuration; `as_flask()` turns it into Flask config keys."""

    database_url: str = field(
        default_factory=lambda: _env("DATABASE_URL", f"sqlite:///{DEFAULT_INSTANCE / 'repairops.db'}")
    )
    secret_key: str = field(
        default_factory=lambda: _env("SECRET_KEY", "dev-only-change-me-in-production-0001")
    )
    jwt_access_minutes: int = field(default_factory=lambda: _env_int("JWT_ACCESS_MINUTES", 60))
    jwt_refresh_days: int = field(default_factory=lambda: _env_int("JWT_REFRESH_DAYS", 30))
    storage_backend: str = field(default_factory=lambda: _env("STORAGE_BACKEND", "local"))
    blob_dir: str = field(default_factory=lambda: _env("BLOB_DIR", str(DEFAULT_INSTANCE / "blobs")))
    s3_bucket: str = field(default_factory=lambda: _env("S3_BUCKET", "repairops-evidence"))
    s3_endpoint_url: str = field(default_factory=lambda: _env("S3_ENDPOINT_URL", ""))
    s3_region: str = field(default_factory=lambda: _env("S3_REGION", "us-east-1"))
    s3_path_style: bool = field(default_factory=lambda: _env("S3_PATH_STYLE", "0") == "1")
    # Empty: boto3's default credential chain (environment, instance profile).
    s3_access_key_id: str = field(default_factory=lambda: _env("S3_ACCESS_KEY_ID", ""))
    s3_secret_access_key: str = field(default_factory=lambda: _env("S3_SECRET_ACCESS_KEY", ""))
    storage_ticket_ttl_seconds: int = field(
        default_factory=lambda: _env_int("STORAGE_TICKET_TTL_SECONDS", 3600)
    )
    storage_download_ttl_seconds: int = field(
        default_factory=lambda: _env_int("STORAGE_DOWNLOAD_TTL_SECONDS", 300)
    )
    storage_multipart_threshold: int = field(
        default_factory=lambda: _env_int("STORAGE_MULTIPART_THRESHOLD", 16 * 1024 * 1024)
    )
    storage_part_size: int = field(default_factory=lambda: _env_int("STORAGE_PART_SIZE", 8 * 1024 * 1024))
    storage_upload_retention_hours: int = field(
        default_factory=lambda: _env_int("STORAGE_UPLOAD_RETENTION_HOURS", 168)
    )
    attachment_max_photo_bytes: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_PHOTO_BYTES", 25 * 1024 * 1024)
    )
    attachment_max_video_bytes: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_VIDEO_BYTES", 300 * 1024 * 1024)
    )
    attachment_max_document_bytes: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_DOCUMENT_BYTES", 20 * 1024 * 1024)
    )
    attachment_max_signature_bytes: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_SIGNATURE_BYTES", 2 * 1024 * 1024)
    )
    attachment_max_video_seconds: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_VIDEO_SECONDS", 300)
    )
    attachment_max_photos_per_job: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_PHOTOS_PER_JOB", 50)
    )
    attachment_max_videos_per_job: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_VIDEOS_PER_JOB", 10)
    )
    attachment_max_documents_per_job: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_DOCUMENTS_PER_JOB", 20)
    )
    attachment_max_signatures_per_job: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_SIGNATURES_PER_JOB", 10)
    )
    attachment_max_bytes_per_job: int = field(
        default_factory=lambda: _env_int("ATTACHMENT_MAX_BYTES_PER_JOB", 500 * 1024 * 1024)
    )
    public_base_url: str = field(default_factory=lambda: _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000"))
    max_request_bytes: int = field(default_factory=lambda: _env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024))
    # HMAC-SHA256 key sealing acceptance signatures; rotating it leaves old seals verifiable only by id.
    acceptance_seal_key: str = field(
        default_factory=lambda: _env("ACCEPTANCE_SEAL_KEY", "dev-only-acceptance-seal-key-change-me-0001")
    )
    page_size_default: int = 50
    page_size_max: int = 200
    extra: dict[str, Any] = field(default_factory=dict)

    def as_flask(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SECRET_KEY": self.secret_key,
            "JWT_SECRET_KEY": self.secret_key,
            "JWT_ACCESS_TOKEN_EXPIRES": self.jwt_access_minutes * 60,
            "JWT_REFRESH_TOKEN_EXPIRES": self.jwt_refresh_days * 86400,
            "STORAGE_BACKEND": self.storage_backend,
            "BLOB_DIR": self.blob_dir,
            "S3_BUCKET": self.s3_bucket,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "S3_REGION": self.s3_region,
            "S3_PATH_STYLE": self.s3_path_style,
            "S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "STORAGE_TICKET_TTL_SECONDS": self.storage_ticket_ttl_seconds,
            "STORAGE_DOWNLOAD_TTL_SECONDS": self.storage_download_ttl_seconds,
            "STORAGE_MULTIPART_THRESHOLD": self.storage_multipart_threshold,
            "STORAGE_PART_SIZE": self.storage_part_size,
            "STORAGE_UPLOAD_RETENTION_HOURS": self.storage_upload_retention_hours,
            "ATTACHMENT_MAX_PHOTO_BYTES": self.attachment_max_photo_bytes,
            "ATTACHMENT_MAX_VIDEO_BYTES": self.attachment_max_video_bytes,
            "ATTACHMENT_MAX_DOCUMENT_BYTES": self.attachment_max_document_bytes,
            "ATTACHMENT_MAX_SIGNATURE_BYTES": self.attachment_max_signature_bytes,
            "ATTACHMENT_MAX_VIDEO_SECONDS": self.attachment_max_video_seconds,
            "ATTACHMENT_MAX_PHOTOS_PER_JOB": self.attachment_max_photos_per_job,
            "ATTACHMENT_MAX_VIDEOS_PER_JOB": self.attachment_max_videos_per_job,
            "ATTACHMENT_MAX_DOCUMENTS_PER_JOB": self.attachment_max_documents_per_job,
            "ATTACHMENT_MAX_SIGNATURES_PER_JOB": self.attachment_max_signatures_per_job,
            "ATTACHMENT_MAX_BYTES_PER_JOB": self.attachment_max_bytes_per_job,
            # Blueprints whose POST/PUT bodies are not JSON (the local blob store's upload routes).
            "RAW_BODY_BLUEPRINTS": ("blob_transfer",),
            "PUBLIC_BASE_URL": self.public_base_url,
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "ACCEPTANCE_SEAL_KEY": self.acceptance_seal_key,
            "PAGE_SIZE_DEFAULT": self.page_size_default,
            "PAGE_SIZE_MAX": self.page_size_max,
            # flask-smorest / OpenAPI
            "API_TITLE": "RepairOps API",
            "API_VERSION": "1.0.0",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "/docs",
            "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
            "OPENAPI_REDOC_PATH": "/redoc",
            "OPENAPI_REDOC_URL": "https://cdn.jsdelivr.net/npm/redoc/bundles/redoc.standalone.js",
            "JSON_SORT_KEYS": False,
        }
        cfg.update(self.extra)
        return cfg
