"""Completion: the server checks what arrived before an attachment becomes `verified`.

Checks, cheapest first: the bytes came with this attachment's ticket, before it expired; the size; the
type sniffed from the bytes (never the declared one); the sha256; images must decode. A mismatch
rejects the upload with its own code, deletes the object and hands out a new ticket. Stores may not
enforce presigned-policy conditions (moto doesn't), so this is the guard.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from backend.errors import conflict
from backend.evidence.backends import META_PREFIX_ATTACHMENT, ObjectInfo, PartInfo
from backend.evidence.images import (
    ALLOWED_TYPES,
    IMAGE_TYPES,
    SNIFF_BYTES,
    ImageFacts,
    UnreadableImage,
    process_image,
    sniff_type,
)
from backend.evidence.models import Attachment, AttachmentState
from backend.evidence.service import Storage
from backend.evidence.tickets import describe_ticket, evidence_key, refresh_ticket
from backend.kernel.base import utcnow

# Object stores stamp their own clock; allow for a little skew against ours.
CLOCK_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str


@dataclass
class Completion:
    attachment: Attachment
    rejection: Rejection | None = None
    ticket: dict[str, Any] | None = None


def complete_attachment(*, session: Session, storage: Storage, attachment: Attachment) -> Completion:
    """Verify the uploaded bytes; `verified` (idempotent) or `rejected` with a new ticket.

    Raises a 409 problem when there is nothing to check yet (`attachment.not_uploaded`) or parts of a
    multipart upload are missing (`attachment.parts_missing`): the device keeps uploading."""
    if attachment.state == AttachmentState.VERIFIED:
        return Completion(attachment)
    multipart = attachment.upload_id is not None
    rejection = _assemble_parts(storage, attachment) if multipart else None
    if rejection is not None:
        return _reject(session, storage, attachment, rejection)
    source = _locate_upload(storage, attachment)
    rejection, facts = _inspect(storage, attachment, source, multipart=multipart)
    if rejection is not None:
        return _reject(session, storage, attachment, rejection)
    _accept(storage, attachment, source, facts)
    session.flush()
    return Completion(attachment)


def _locate_upload(storage: Storage, attachment: Attachment) -> ObjectInfo:
    info = storage.store.head(attachment.upload_key)
    if info is None:
        # A previous completion may have moved the bytes and then failed to commit.
        info = storage.store.head(evidence_key(attachment.id, "original"))
    if info is None:
        raise conflict(
            "attachment.not_uploaded",
            "No bytes have arrived for this attachment; upload them with the ticket, then complete.",
            state=attachment.state,
        )
    return info


def _assemble_parts(storage: Storage, attachment: Attachment) -> Rejection | None:
    config, store = storage.config, storage.store
    assert attachment.upload_id is not None
    parts = store.list_parts(key=attachment.upload_key, upload_id=attachment.upload_id)
    if parts is None:
        if store.head(attachment.upload_key) is not None:  # assembled by an earlier, uncommitted try
            attachment.upload_id = None
            return None
        raise conflict(
            "attachment.not_uploaded",
            "The multipart upload is gone (expired and swept); ask for a new ticket and upload again.",
            state=attachment.state,
        )
    total = config.parts_for(attachment.size)
    have = {p.number: p for p in parts}
    missing = [n for n in range(1, total + 1) if n not in have]
    if missing:
        raise conflict(
            "attachment.parts_missing",
            f"{len(missing)} of {total} parts have not arrived; upload them, then complete again.",
            missing_parts=missing,
            uploaded_parts=sorted(have),
        )
    expected = [
        min(config.part_size, attachment.size - (n - 1) * config.part_size) for n in range(1, total + 1)
    ]
    if len(have) != total or any(have[n].size != expected[n - 1] for n in range(1, total + 1)):
        received = sum(p.size for p in parts)
        return Rejection(
            "attachment.size_mismatch", f"The parts hold {received} bytes; {attachment.size} were declared."
        )
    if _after_ticket(attachment, max(p.last_modified for p in parts)):
        return _expired()
    store.complete_multipart(key=attachment.upload_key, upload_id=attachment.upload_id, parts=_ordered(have))
    attachment.upload_id = None
    return None


def _ordered(parts: dict[int, PartInfo]) -> list[PartInfo]:
    return [parts[n] for n in sorted(parts)]


def _after_ticket(attachment: Attachment, uploaded_at: Any) -> bool:
    expires = attachment.ticket_expires_at
    return expires is not None and uploaded_at > expires + CLOCK_SKEW


def _expired() -> Rejection:
    return Rejection(
        "attachment.ticket_expired", "The bytes arrived after the upload ticket expired; upload again."
    )


def _inspect(
    storage: Storage, attachment: Attachment, info: ObjectInfo, *, multipart: bool
) -> tuple[Rejection | None, ImageFacts | None]:
    uploaded = info.key == attachment.upload_key  # not a copy already moved under evidence/
    if uploaded and info.metadata is not None and info.metadata.get(META_PREFIX_ATTACHMENT) != attachment.id:
        return Rejection(
            "attachment.ticket_mismatch", "The bytes were sent with another attachment's upload ticket."
        ), None
    if uploaded and not multipart and _after_ticket(attachment, info.last_modified):
        return _expired(), None
    if info.size != attachment.size:
        return Rejection(
            "attachment.size_mismatch", f"{info.size} bytes arrived; {attachment.size} were declared."
        ), None
    digest, head, kept = hashlib.sha256(), bytearray(), []
    is_image = attachment.content_type in IMAGE_TYPES
    sniffed = False
    for chunk in storage.store.iter_chunks(info.key):
        if not sniffed:
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) >= SNIFF_BYTES:
                sniffed = True
                if rejection := _check_type(attachment, bytes(head)):
                    return rejection, None
        digest.update(chunk)
        if is_image:
            kept.append(chunk)
    if not sniffed and (rejection := _check_type(attachment, bytes(head))):
        return rejection, None
    if digest.hexdigest() != attachment.sha256:
        return Rejection(
            "attachment.checksum_mismatch", "The bytes' sha256 differs from the one declared; upload again."
        ), None
    if not is_image:
        return None, None
    try:
        return None, process_image(b"".join(kept))
    except UnreadableImage as exc:
        return Rejection("attachment.image_unreadable", f"The image cannot be decoded ({exc})."), None


def _check_type(attachment: Attachment, head: bytes) -> Rejection | None:
    detected = sniff_type(head)
    if detected == attachment.content_type and detected in ALLOWED_TYPES[attachment.kind]:
        attachment.detected_type = detected
        return None
    return Rejection(
        "attachment.type_mismatch",
        f"The bytes are {detected or 'of an unknown type'}, not the declared {attachment.content_type}.",
    )


def _accept(storage: Storage, attachment: Attachment, source: ObjectInfo, facts: ImageFacts | None) -> None:
    store = storage.store
    original = evidence_key(attachment.id, "original")
    content_type = attachment.detected_type or attachment.content_type
    if source.key != original:
        store.copy(source.key, original, content_type=content_type)
    if facts is not None:
        thumbnail = evidence_key(attachment.id, "thumbnail.jpg")
        display = evidence_key(
            attachment.id, "display." + ("png" if facts.display_type == "image/png" else "jpg")
        )
        store.put(thumbnail, facts.thumbnail, content_type="image/jpeg")
        store.put(display, facts.display, content_type=facts.display_type)
        attachment.thumbnail_key, attachment.display_key = thumbnail, display
        attachment.width, attachment.height = facts.width, facts.height
        attachment.exif_taken_at, attachment.exif_lat, attachment.exif_lng = (
            facts.taken_at,
            facts.lat,
            facts.lng,
        )
    attachment.object_key = original
    attachment.state = AttachmentState.VERIFIED
    attachment.verified_at = utcnow()
    attachment.rejection_code = attachment.rejection_detail = None
    attachment.ticket_expires_at = None
    if source.key != original:
        store.delete(source.key)


def _reject(session: Session, storage: Storage, attachment: Attachment, rejection: Rejection) -> Completion:
    store = storage.store
    store.delete(attachment.upload_key)
    if attachment.upload_id is not None:
        store.abort_multipart(key=attachment.upload_key, upload_id=attachment.upload_id)
        attachment.upload_id = None
    attachment.state = AttachmentState.REJECTED
    attachment.rejection_code = rejection.code
    attachment.rejection_detail = rejection.detail
    attachment.rejections += 1
    refresh_ticket(store, storage.config, attachment)
    session.flush()
    return Completion(attachment, rejection, describe_ticket(store, storage.config, attachment))
