"""What staff work through after a push: rejected mutations kept in quarantine, and flags raised on field
data that was applied with a remark. Both are listed by state and closed once, by a named person."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, not_found
from backend.kernel.base import utcnow
from backend.policy import Principal
from backend.sync.models import SyncFlag, SyncMutation

REJECTED = "rejected"
STATES = ("open", "resolved", "all")


def quarantine_query(
    *, state: str, device_id: str | None = None, technician_id: str | None = None
) -> sa.Select[SyncMutation]:
    """Rejected mutations in `state` (open, resolved or all), of one device or technician if given
    (unordered: the caller pages it)."""
    stmt = sa.select(SyncMutation).where(SyncMutation.status == REJECTED)
    if state == "open":
        stmt = stmt.where(SyncMutation.resolved_at.is_(None))
    elif state == "resolved":
        stmt = stmt.where(SyncMutation.resolved_at.is_not(None))
    if device_id is not None:
        stmt = stmt.where(SyncMutation.device_id == device_id)
    if technician_id is not None:
        stmt = stmt.where(SyncMutation.technician_id == technician_id)
    return stmt


def resolve_quarantined(
    *, session: Session, mutation_id: str, by: Principal, resolution: str, note: str | None = None
) -> SyncMutation:
    """Close a quarantined mutation with what was done about it. Only rejected mutations are in the
    quarantine (any other id is a 404); a second resolution is a 409 and keeps the first."""
    row = session.get(SyncMutation, mutation_id, with_for_update=True)
    if row is None or row.status != REJECTED:
        raise not_found("quarantined_mutation")
    if row.resolved_at is not None:
        raise Problem("quarantine.already_resolved", "This mutation was already resolved.", status=409)
    row.resolved_at = utcnow()
    row.resolved_by_user_id = by.user_id
    row.resolution = resolution
    row.resolution_note = note
    session.flush()
    return row


def flags_query(
    *, state: str, work_order_id: str | None = None, technician_id: str | None = None
) -> sa.Select[SyncFlag]:
    """Flags in `state` (open, resolved or all), on one work order or of one technician if given
    (unordered: the caller pages it)."""
    stmt = sa.select(SyncFlag)
    if state == "open":
        stmt = stmt.where(SyncFlag.resolved_at.is_(None))
    elif state == "resolved":
        stmt = stmt.where(SyncFlag.resolved_at.is_not(None))
    if work_order_id is not None:
        stmt = stmt.where(SyncFlag.work_order_id == work_order_id)
    if technician_id is not None:
        stmt = stmt.where(SyncFlag.technician_id == technician_id)
    return stmt


def resolve_flag(*, session: Session, flag_id: str, by: Principal, note: str | None = None) -> SyncFlag:
    """Mark a flag handled. Resolving it again succeeds and changes nothing: the first note stays."""
    flag = session.get(SyncFlag, flag_id, with_for_update=True)
    if flag is None:
        raise not_found("sync_flag")
    if flag.resolved_at is None:
        flag.resolved_at = utcnow()
        flag.resolved_by_user_id = by.user_id
        flag.resolution_note = note
        session.flush()
    return flag
