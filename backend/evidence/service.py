"""Attachments: registration with limits, tickets, upload progress, download links; no Flask here.

`storage_for(app)` gives the configured store; services take it as `storage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, conflict, not_found
from backend.evidence.access import visible_attachments
from backend.evidence.backends import BlobStore, LocalBlobStore, PartInfo, make_store
from backend.evidence.config import StorageConfig
from backend.evidence.images import ALLOWED_TYPES, normalize_type
from backend.evidence.models import Attachment, AttachmentKind, AttachmentState
from backend.evidence.tickets import (
    describe_ticket,
    read_upload_token,
    refresh_ticket,
    ticket_is_live,
    upload_key,
)
from backend.kernel.base import utcnow
from backend.policy import Principal, sees_field_locations
from backend.work_orders.models import WorkOrder

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/heic": "heic",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
}
# Fields a re-registration of the same id must repeat exactly (a retry, not a different file).
_IDENTITY = ("work_order_id", "request_id", "kind", "sha256", "size", "content_type")
VARIANTS = ("original", "display", "thumbnail")


@dataclass(frozen=True, kw_only=True)
class AttachmentDeclaration:
    """What a client declares about a file before uploading it; the bytes are checked against it.

    Exactly one of `work_order_id` and `request_id` names what the file is evidence for."""

    id: str
    kind: str
    sha256: str
    size: int
    content_type: str
    work_order_id: str | None = None
    request_id: str | None = None
    filename: str | None = None
    taken_at: datetime | None = None
    lat: float | None = None
    lng: float | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True)
class Storage:
    store: BlobStore
    config: StorageConfig


def storage_for(app: Any) -> Storage:
    """The configured store. For a Flask app (or anything with `.config`), built once per app
    (`app.extensions`); for a settings mapping (a device mutation's `ctx.settings`), built once per
    distinct storage configuration, so a push of many photos makes one S3 client, not one each."""
    extensions = getattr(app, "extensions", None)
    if extensions is not None and "repairops.storage" in extensions:
        cached: Storage = extensions["repairops.storage"]
        return cached
    config = StorageConfig.from_mapping(app.config if hasattr(app, "config") else app)
    if extensions is not None:
        storage = extensions["repairops.storage"] = Storage(make_store(config), config)
        return storage
    return _storage_by_config(config)


_BY_CONFIG: dict[tuple[Any, ...], Storage] = {}
_BY_CONFIG_MAX = 8


def _storage_by_config(config: StorageConfig) -> Storage:
    key = tuple(
        tuple(sorted(value.items())) if isinstance(value, Mapping) else value
        for value in (getattr(config, f.name) for f in fields(config))
    )
    storage = _BY_CONFIG.get(key)
    if storage is None:
        if len(_BY_CONFIG) >= _BY_CONFIG_MAX:
            _BY_CONFIG.clear()
        storage = _BY_CONFIG[key] = Storage(make_store(config), config)
    return storage


def read_blob(app_or_config: Any, key: str) -> bytes:
    """The bytes of a stored object (e.g. a verified photo's `thumbnail_key` for the service report)."""
    if isinstance(app_or_config, Mapping):
        return make_store(StorageConfig.from_mapping(app_or_config)).read(key)
    return storage_for(app_or_config).store.read(key)


def get_verified_attachment(*, session: Session, attachment_id: str) -> Attachment | None:
    """The attachment if its bytes were verified (its sha256 is then a fact, not a claim)."""
    return session.scalars(
        sa.select(Attachment).where(
            Attachment.id == attachment_id, Attachment.state == AttachmentState.VERIFIED
        )
    ).one_or_none()


def adopt_request_attachments(*, session: Session, request_id: str, work_order_id: str) -> list[Attachment]:
    """Hand a request's photos to the job made from it, so that they sync to its technician's device.

    Call when a work order is created from a request (confirmation)."""
    rows = list(
        session.scalars(
            sa.select(Attachment).where(
                Attachment.request_id == request_id, Attachment.work_order_id.is_(None)
            )
        )
    )
    for row in rows:
        row.work_order_id = work_order_id
    session.flush()
    return rows


# -- registration


def register_attachment(
    *,
    session: Session,
    storage: Storage,
    uploader: Principal,
    declaration: AttachmentDeclaration,
    device_id: str | None = None,
) -> tuple[Attachment, dict[str, Any] | None]:
    """Record a device's (or customer's) attachment and hand out its upload ticket.

    The caller has checked that `work_order_id` / `request_id` is one the uploader may add evidence to.
    Registering the same id again with the same declaration is a retry: same row, a live ticket."""
    declared = declaration
    existing = session.get(Attachment, declared.id, with_for_update=True)
    if existing is not None:
        return _retry_registration(storage, existing, uploader, declared)
    _check_declaration(storage.config, declared)
    _check_job_limits(session, storage.config, declared)
    attachment = Attachment(
        id=declared.id,
        work_order_id=declared.work_order_id,
        request_id=declared.request_id,
        kind=declared.kind,
        state=AttachmentState.PENDING,
        sha256=declared.sha256.lower(),
        size=declared.size,
        content_type=normalize_type(declared.content_type),
        filename=declared.filename,
        taken_at=declared.taken_at,
        lat=declared.lat,
        lng=declared.lng,
        duration_seconds=declared.duration_seconds,
        uploaded_by_user_id=uploader.user_id,
        device_id=device_id,
        upload_key=upload_key(declared.id),
        ticket_generation=0,
        rejections=0,
    )
    refresh_ticket(storage.store, storage.config, attachment)
    session.add(attachment)
    session.flush()
    return attachment, describe_ticket(storage.store, storage.config, attachment)


def _retry_registration(
    storage: Storage, existing: Attachment, uploader: Principal, declaration: AttachmentDeclaration
) -> tuple[Attachment, dict[str, Any] | None]:
    declared = replace(
        declaration,
        sha256=declaration.sha256.lower(),
        content_type=normalize_type(declaration.content_type),
    )
    # A request's photo keeps its identity after it was handed to the job made from the request.
    identity = [n for n in _IDENTITY if not (n == "work_order_id" and declared.request_id is not None)]
    same = existing.uploaded_by_user_id == uploader.user_id and all(
        getattr(existing, name) == getattr(declared, name) for name in identity
    )
    if not same:
        raise conflict(
            "attachment.id_conflict",
            "Another attachment already has this id; generate a new id for a different file.",
        )
    if existing.state == AttachmentState.VERIFIED:
        return existing, None
    if not ticket_is_live(existing):
        refresh_ticket(storage.store, storage.config, existing)
    return existing, describe_ticket(storage.store, storage.config, existing)


def _check_declaration(config: StorageConfig, declared: AttachmentDeclaration) -> None:
    kind, content_type = declared.kind, normalize_type(declared.content_type)
    if content_type not in ALLOWED_TYPES[kind]:
        raise Problem(
            "attachment.type_not_allowed",
            f"A {kind} cannot be {content_type}.",
            status=422,
            errors={"content_type": [f"Must be one of: {', '.join(sorted(ALLOWED_TYPES[kind]))}."]},
        )
    limit = config.max_bytes[kind]
    if declared.size > limit:
        raise Problem(
            "attachment.too_large",
            f"A {kind} may be at most {limit} bytes; this one is {declared.size}.",
            status=422,
            errors={"size": [f"At most {limit} bytes for a {kind}."]},
            extra={"limit": limit},
        )
    if kind == AttachmentKind.VIDEO:
        seconds = declared.duration_seconds
        if seconds is None:
            raise Problem(
                "attachment.duration_required",
                "Say how long the video is (duration_seconds).",
                status=422,
                errors={"duration_seconds": ["Required for a video."]},
            )
        if seconds > config.max_video_seconds:
            raise Problem(
                "attachment.video_too_long",
                f"A video may be at most {config.max_video_seconds} seconds; this one is {seconds:g}.",
                status=422,
                errors={"duration_seconds": [f"At most {config.max_video_seconds} seconds."]},
                extra={"limit": config.max_video_seconds},
            )


def usage(
    *, session: Session, work_order_id: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """How many attachments of each kind, and how many bytes, a job (or a request) holds."""
    owner = (
        Attachment.work_order_id == work_order_id
        if work_order_id is not None
        else Attachment.request_id == request_id
    )
    rows = session.execute(
        sa.select(Attachment.kind, sa.func.count(), sa.func.coalesce(sa.func.sum(Attachment.size), 0))
        .where(owner)
        .group_by(Attachment.kind)
    ).all()
    counts = {kind.value: 0 for kind in AttachmentKind}
    total = 0
    for kind, count, size in rows:
        counts[kind] = int(count)
        total += int(size)
    return {"counts": counts, "bytes": total}


def limits(config: StorageConfig) -> dict[str, Any]:
    return {"counts": {str(k): v for k, v in config.max_per_job.items()}, "bytes": config.max_bytes_per_job}


def job_evidence(
    *, session: Session, storage: Storage, principal: Principal, order: WorkOrder
) -> dict[str, Any]:
    """The job's attachments `principal` may see, with the photos of the request it came from, and
    the job's usage against its limits."""
    owner = Attachment.work_order_id == order.id
    if order.request_id is not None:
        owner = owner | (Attachment.request_id == order.request_id)
    counted = usage(session=session, work_order_id=order.id)
    return _listing(session, storage, principal, owner, counted)


def request_evidence(
    *, session: Session, storage: Storage, principal: Principal, request_id: str
) -> dict[str, Any]:
    """A repair request's attachments `principal` may see, with its usage against the limits."""
    counted = usage(session=session, request_id=request_id)
    return _listing(session, storage, principal, Attachment.request_id == request_id, counted)


def _listing(
    session: Session,
    storage: Storage,
    principal: Principal,
    owner: sa.ColumnElement[bool],
    counted: dict[str, Any],
) -> dict[str, Any]:
    rows = session.scalars(
        sa.select(Attachment)
        .where(owner, visible_attachments(principal))
        .order_by(Attachment.created_at, Attachment.id)
    )
    return {
        "items": [attachment_view(row, principal) for row in rows],
        "usage": counted,
        "limits": limits(storage.config),
    }


def _check_job_limits(session: Session, config: StorageConfig, declared: AttachmentDeclaration) -> None:
    used = usage(session=session, work_order_id=declared.work_order_id, request_id=declared.request_id)
    kind = declared.kind
    allowed = config.max_per_job[kind]
    if used["counts"][kind] >= allowed:
        raise Problem(
            "attachment.too_many",
            f"This job already has {used['counts'][kind]} of at most {allowed} {kind} attachments.",
            status=422,
            extra={"kind": kind, "limit": allowed, "used": used["counts"][kind]},
        )
    if used["bytes"] + declared.size > config.max_bytes_per_job:
        raise Problem(
            "attachment.job_quota_exceeded",
            f"This job's attachments would exceed {config.max_bytes_per_job} bytes "
            f"({used['bytes']} used, {declared.size} more asked).",
            status=422,
            extra={"limit": config.max_bytes_per_job, "used": used["bytes"]},
        )


# -- tickets and progress


def renew_ticket(*, storage: Storage, attachment: Attachment) -> dict[str, Any]:
    """A fresh ticket, e.g. after the old one expired while the device was offline; a multipart upload
    that is still open is kept so the device resumes it."""
    if attachment.state == AttachmentState.VERIFIED:
        raise conflict("attachment.already_verified", "This attachment is already verified.")
    if attachment.upload_id is not None and (
        storage.store.list_parts(key=attachment.upload_key, upload_id=attachment.upload_id) is None
    ):
        attachment.upload_id = None
    refresh_ticket(storage.store, storage.config, attachment)
    return describe_ticket(storage.store, storage.config, attachment)


def upload_progress(*, storage: Storage, attachment: Attachment) -> dict[str, Any]:
    """Which bytes arrived, so that a device resumes after a dropped connection."""
    config, store = storage.config, storage.store
    progress: dict[str, Any] = {"attachment_id": attachment.id, "state": attachment.state}
    if attachment.upload_id is None:
        info = store.head(attachment.upload_key) if attachment.state != AttachmentState.VERIFIED else None
        received = info.size if info else (attachment.size if attachment.state == "verified" else 0)
        progress.update(mode="single", received_bytes=received, uploaded_parts=[], missing_parts=[])
    else:
        parts = store.list_parts(key=attachment.upload_key, upload_id=attachment.upload_id) or []
        have = {p.number: p.size for p in parts}
        total = config.parts_for(attachment.size)
        progress.update(
            mode="multipart",
            part_size=config.part_size,
            parts_total=total,
            uploaded_parts=[{"part_number": n, "size": have[n]} for n in sorted(have)],
            missing_parts=[n for n in range(1, total + 1) if n not in have],
            received_bytes=sum(have.values()),
        )
    if progress["received_bytes"] and attachment.state == AttachmentState.PENDING:
        attachment.state = AttachmentState.UPLOADING
        progress["state"] = attachment.state
    return progress


# -- the local store's uploads (STORAGE_BACKEND=local; with S3 the device uploads to S3 directly)


def attachment_for_upload(*, session: Session, secret: str, attachment_id: str, token: str) -> Attachment:
    """The attachment a local upload is for, if the token is this attachment's current, live ticket."""
    token_attachment, generation = read_upload_token(secret, token)
    if token_attachment != attachment_id:
        raise Problem(
            "attachment.ticket_mismatch",
            "This upload ticket belongs to another attachment.",
            status=403,
            title="Forbidden",
        )
    attachment = session.get(Attachment, attachment_id, with_for_update=True)
    if attachment is None:
        raise not_found("attachment")
    if attachment.state == AttachmentState.VERIFIED:
        raise Problem("attachment.already_verified", "This attachment is already verified.", status=409)
    if generation != attachment.ticket_generation:
        raise Problem(
            "attachment.ticket_superseded",
            "A newer ticket was issued; use that one.",
            status=403,
            title="Forbidden",
        )
    expires = attachment.ticket_expires_at
    if expires is None or expires <= utcnow():
        raise Problem(
            "attachment.ticket_expired",
            "The upload ticket has expired; ask for a new one (POST /attachments/{id}/ticket).",
            status=403,
            title="Forbidden",
        )
    return attachment


def receive_single_upload(*, store: LocalBlobStore, attachment: Attachment, stream: IO[bytes] | None) -> None:
    """Store a small file sent in one piece (`stream` is None when the form carried no file)."""
    if attachment.upload_id is not None:
        raise Problem(
            "attachment.multipart_required", "Upload this file in parts (see the ticket).", status=409
        )
    if stream is None:
        raise Problem("attachment.file_missing", "Send the file in the `file` form field.", status=400)
    store.put_stream(attachment.upload_key, stream, limit=attachment.size)
    _mark_uploading(attachment)


def receive_part(
    *, storage: Storage, store: LocalBlobStore, attachment: Attachment, part_number: int, stream: IO[bytes]
) -> PartInfo:
    """Store one part of a multipart upload, if the ticket has that part."""
    config = storage.config
    if attachment.upload_id is None or not 1 <= part_number <= config.parts_for(attachment.size):
        raise Problem("attachment.part_unknown", "The ticket has no such part.", status=409)
    part = store.write_part(attachment.upload_id, part_number, stream, limit=config.part_size)
    _mark_uploading(attachment)
    return part


def _mark_uploading(attachment: Attachment) -> None:
    if attachment.state == AttachmentState.PENDING:
        attachment.state = AttachmentState.UPLOADING


# -- reading


def attachment_view(attachment: Attachment, principal: Principal) -> dict[str, Any]:
    """The attachment's metadata as `principal` may see it (no coordinates for customers/partners)."""
    view = {column: getattr(attachment, column) for column in _VIEW_FIELDS}
    if not sees_field_locations(principal):
        for column in ("lat", "lng", "exif_lat", "exif_lng"):
            view[column] = None
    return view


# What a user's view shows: every column the device receives, plus the server's verification details.
_VIEW_FIELDS: tuple[str, ...] = (
    *(Attachment.__sync__.fields or ()),
    "detected_type",
    "rejections",
    "ticket_expires_at",
)


def download_link(
    *, storage: Storage, attachment: Attachment, principal: Principal, variant: str
) -> dict[str, Any]:
    """A short-lived link to the bytes; customers and partners always get the GPS-stripped copy."""
    if attachment.state != AttachmentState.VERIFIED or attachment.object_key is None:
        raise conflict(
            "attachment.not_verified",
            f"The attachment is {attachment.state}; it can be downloaded once verified.",
            state=attachment.state,
        )
    if variant == "original" and not sees_field_locations(principal):
        variant = "display"
    key, content_type = _variant(attachment, variant)
    extension = _EXTENSIONS.get(content_type, "bin")
    filename = f"{attachment.id}-{variant}.{extension}"
    expires_in = int(storage.config.download_ttl.total_seconds())
    url = storage.store.download_url(key, expires_in=expires_in, content_type=content_type, filename=filename)
    expires_at: datetime = utcnow() + storage.config.download_ttl
    return {"url": url, "variant": variant, "content_type": content_type, "expires_at": expires_at}


def _variant(attachment: Attachment, variant: str) -> tuple[str, str]:
    original_type = attachment.detected_type or attachment.content_type
    assert attachment.object_key is not None
    if variant == "thumbnail":
        if attachment.thumbnail_key is None:
            raise conflict(
                "attachment.no_thumbnail", f"A {attachment.kind} of {original_type} has no thumbnail."
            )
        return attachment.thumbnail_key, "image/jpeg"
    if variant == "display" and attachment.display_key is not None:
        return attachment.display_key, "image/png" if attachment.display_key.endswith(
            ".png"
        ) else "image/jpeg"
    return attachment.object_key, original_type
