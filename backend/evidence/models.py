"""Evidence attached to a job or a customer's request: photos, videos, signatures, documents.

The row is registered (often offline, with the device's id) before any byte arrives; its `state` shows
whether the bytes arrived and were verified, so a photo that never arrived is a visible fact.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, TimestampMixin
from backend.kernel.sync_spec import Scope, SyncSpec


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    SIGNATURE = "signature"
    DOCUMENT = "document"


class AttachmentState(StrEnum):
    PENDING = "pending"  # registered; no bytes seen yet
    UPLOADING = "uploading"  # bytes (or some parts) arrived; not completed
    VERIFIED = "verified"  # size, sniffed type and sha256 checked; stored under its final key
    REJECTED = "rejected"  # what arrived did not match; `rejection_code` says why; a new ticket is out


class Attachment(TimestampMixin, Base):
    __tablename__ = "attachments"
    __sync__ = SyncSpec(
        entity="attachments",
        scope=Scope.WORK_ORDER,
        fields=(
            "id",
            "work_order_id",
            "request_id",
            "kind",
            "state",
            "sha256",
            "size",
            "content_type",
            "filename",
            "taken_at",
            "lat",
            "lng",
            "exif_taken_at",
            "exif_lat",
            "exif_lng",
            "width",
            "height",
            "duration_seconds",
            "uploaded_by_user_id",
            "rejection_code",
            "rejection_detail",
            "verified_at",
            "created_at",
            "updated_at",
            "version",
        ),
    )
    __table_args__ = (
        sa.CheckConstraint("work_order_id IS NOT NULL OR request_id IS NOT NULL", name="has_owner"),
    )

    # Generated on the device, so that an offline registration retried later is the same row.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    work_order_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(sa.ForeignKey("repair_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), default=AttachmentState.PENDING, index=True)
    # What the device declared; verification compares the bytes with these.
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    filename: Mapped[str | None] = mapped_column(sa.String(200))
    taken_at: Mapped[datetime | None]
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    duration_seconds: Mapped[float | None]
    # What verification found in the bytes.
    detected_type: Mapped[str | None] = mapped_column(sa.String(100))
    exif_taken_at: Mapped[datetime | None]
    exif_lat: Mapped[float | None]
    exif_lng: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    uploaded_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(100))
    # Where the bytes are: `upload_key` while uploading; the other keys once verified.
    upload_key: Mapped[str] = mapped_column(sa.String(300))
    upload_id: Mapped[str | None] = mapped_column(sa.String(300))  # multipart upload in progress
    object_key: Mapped[str | None] = mapped_column(sa.String(300))
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(300))
    display_key: Mapped[str | None] = mapped_column(sa.String(300))  # GPS-stripped, browser-ready copy
    ticket_generation: Mapped[int] = mapped_column(default=0)
    ticket_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    rejection_code: Mapped[str | None] = mapped_column(sa.String(64))
    rejection_detail: Mapped[str | None] = mapped_column(sa.String(500))
    rejections: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
