"""Upload tickets: what the device needs to send an attachment's bytes straight to the store.

A ticket is a form POST (small files) or a list of part PUTs (files over the multipart threshold),
with an expiry. Issuing a new one bumps `ticket_generation`, which retires the local backend's older
tokens; S3's presigned URLs carry their own expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from backend.errors import Problem
from backend.evidence.backends import BlobStore
from backend.evidence.config import StorageConfig
from backend.evidence.models import Attachment
from backend.kernel.base import utcnow

_SIGNING_NAMESPACE = "repairops.upload-ticket"


def upload_key(attachment_id: str) -> str:
    """Where the device's bytes land; moved to `evidence/…` once verified, so late uploads can't
    overwrite verified evidence."""
    return f"uploads/{attachment_id}"


def evidence_key(attachment_id: str, name: str) -> str:
    return f"evidence/{attachment_id}/{name}"


def upload_token(secret: str, attachment_id: str, generation: int) -> str:
    return URLSafeSerializer(secret, salt=_SIGNING_NAMESPACE).dumps({"a": attachment_id, "g": generation})


def read_upload_token(secret: str, token: str) -> tuple[str, int]:
    """(attachment id, ticket generation) from a local-backend upload token, or a 403 problem."""
    try:
        data = URLSafeSerializer(secret, salt=_SIGNING_NAMESPACE).loads(token)
        return str(data["a"]), int(data["g"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise Problem(
            "attachment.ticket_invalid", "The upload ticket is not valid.", status=403, title="Forbidden"
        ) from None


def ticket_is_live(attachment: Attachment, now: datetime | None = None) -> bool:
    expires = attachment.ticket_expires_at
    return expires is not None and expires > (now or utcnow())


def refresh_ticket(store: BlobStore, config: StorageConfig, attachment: Attachment) -> None:
    """Start a new ticket period (new generation and expiry; a multipart upload if the size needs one).

    An unfinished multipart upload is kept, so that a renewed ticket resumes it."""
    attachment.ticket_generation += 1
    attachment.ticket_expires_at = utcnow() + config.ticket_ttl
    if config.is_multipart(attachment.size) and attachment.upload_id is None:
        attachment.upload_id = store.start_multipart(
            key=attachment.upload_key, content_type=attachment.content_type, attachment_id=attachment.id
        )


def describe_ticket(store: BlobStore, config: StorageConfig, attachment: Attachment) -> dict[str, Any]:
    """The ticket as the device receives it (presigned now, valid until `expires_at`)."""
    expires_at = attachment.ticket_expires_at
    assert expires_at is not None, "refresh_ticket first"
    expires_in = max(1, int((expires_at - utcnow()).total_seconds()))
    token = upload_token(config.secret_key, attachment.id, attachment.ticket_generation)
    ticket: dict[str, Any] = {
        "attachment_id": attachment.id,
        "expires_at": expires_at,
        "size": attachment.size,
        "content_type": attachment.content_type,
    }
    if attachment.upload_id is None:
        url, fields = store.presign_post(
            key=attachment.upload_key,
            content_type=attachment.content_type,
            size=attachment.size,
            attachment_id=attachment.id,
            token=token,
            expires_in=expires_in,
        )
        ticket.update(mode="single", method="POST", url=url, fields=fields, file_field="file")
        return ticket
    parts = []
    for number in range(1, config.parts_for(attachment.size) + 1):
        url = store.presign_part(
            key=attachment.upload_key,
            upload_id=attachment.upload_id,
            part_number=number,
            attachment_id=attachment.id,
            token=token,
            expires_in=expires_in,
        )
        first = (number - 1) * config.part_size
        size = min(config.part_size, attachment.size - first)
        parts.append({"part_number": number, "method": "PUT", "url": url, "offset": first, "size": size})
    ticket.update(mode="multipart", method="PUT", part_size=config.part_size, parts=parts)
    return ticket
