"""The sweeper (`repairops sweep-uploads`): frees what unfinished uploads left behind.

- Uploads whose ticket expired more than the retention ago and never completed: the staged bytes and
  open multipart uploads are deleted; the row stays (state `pending`) so the missing photo remains a
  visible fact and the device can ask for a new ticket.
- Objects (and multipart uploads) that no attachment references, older than `min_age`.
A verified attachment's objects are referenced by definition and never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.evidence.backends import ObjectInfo
from backend.evidence.models import Attachment, AttachmentState
from backend.evidence.service import Storage
from backend.kernel.base import utcnow

PREFIXES = ("uploads/", "evidence/")
BATCH = 500


@dataclass
class SweepReport:
    expired_uploads: int = 0
    orphan_objects: int = 0
    orphan_multipart: int = 0
    kept_objects: int = 0


def sweep_uploads(
    *,
    session: Session,
    storage: Storage,
    now: datetime | None = None,
    retention: timedelta | None = None,
    min_age: timedelta = timedelta(hours=1),
) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    _expire_unfinished(session, storage, now - (retention or storage.config.upload_retention), report)
    session.flush()
    for prefix in PREFIXES:
        for batch in _batches(storage.store.list_objects(prefix)):
            _sweep_objects(session, storage, batch, now - min_age, report)
    _sweep_multipart(session, storage, now - min_age, report)
    return report


def _expire_unfinished(session: Session, storage: Storage, cutoff: datetime, report: SweepReport) -> None:
    stale = session.scalars(
        sa.select(Attachment)
        .where(
            Attachment.state != AttachmentState.VERIFIED,
            Attachment.ticket_expires_at < cutoff,
        )
        .with_for_update(skip_locked=True)
    )
    for attachment in stale:
        found = storage.store.head(attachment.upload_key) is not None or attachment.upload_id is not None
        storage.store.delete(attachment.upload_key)
        if attachment.upload_id is not None:
            storage.store.abort_multipart(key=attachment.upload_key, upload_id=attachment.upload_id)
            attachment.upload_id = None
        if attachment.state == AttachmentState.UPLOADING:
            attachment.state = AttachmentState.PENDING
        report.expired_uploads += int(found)


def _batches(objects: Iterable[ObjectInfo]) -> Iterator[list[ObjectInfo]]:
    iterator = iter(objects)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _owner_id(key: str) -> str:
    return key.split("/")[1] if key.count("/") >= 1 else ""


def _referenced_keys(attachment: Attachment) -> set[str]:
    if attachment.state == AttachmentState.VERIFIED:
        return {k for k in (attachment.object_key, attachment.thumbnail_key, attachment.display_key) if k}
    return {attachment.upload_key}


def _sweep_objects(
    session: Session, storage: Storage, batch: list[ObjectInfo], older_than: datetime, report: SweepReport
) -> None:
    ids = {_owner_id(obj.key) for obj in batch}
    rows = session.scalars(sa.select(Attachment).where(Attachment.id.in_(ids)))
    referenced: set[str] = set()
    for row in rows:
        referenced |= _referenced_keys(row)
    for obj in batch:
        if obj.key in referenced or obj.last_modified > older_than:
            report.kept_objects += 1
            continue
        storage.store.delete(obj.key)
        report.orphan_objects += 1


def _sweep_multipart(session: Session, storage: Storage, older_than: datetime, report: SweepReport) -> None:
    for upload in storage.store.list_multipart_uploads("uploads/"):
        if upload.initiated > older_than:
            continue
        owner = session.get(Attachment, _owner_id(upload.key))
        if owner is not None and owner.upload_id == upload.upload_id:
            continue
        storage.store.abort_multipart(key=upload.key, upload_id=upload.upload_id)
        report.orphan_multipart += 1
