"""Devices: registered to the technician whose token first used them, with their sync health."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import Problem, not_found
from backend.kernel.base import utcnow
from backend.policy import Principal, sees_every_device
from backend.sync.models import SyncDevice, SyncMutation


def device_for(
    session: Session,
    principal: Principal,
    device_id: str,
    *,
    protocol: int | None = None,
    app_version: str | None = None,
    platform: str | None = None,
    lock: bool = False,
) -> SyncDevice:
    """The caller's device, registered on first use; someone else's device id is not found (404)."""
    if principal.user_id is None or principal.technician_id is None:
        raise Problem("sync.not_a_technician", "Only technicians' devices sync.", status=403)
    device = session.get(SyncDevice, device_id, with_for_update=lock)
    if device is None:
        try:
            with session.begin_nested():
                session.add(
                    SyncDevice(id=device_id, user_id=principal.user_id, technician_id=principal.technician_id)
                )
        except IntegrityError:
            pass  # registered concurrently by another request
        device = session.get(SyncDevice, device_id, with_for_update=lock, populate_existing=True)
        assert device is not None
    if device.user_id != principal.user_id:
        raise not_found("sync_device")
    if device.technician_id != principal.technician_id:
        device.technician_id = principal.technician_id
    if protocol is not None:
        device.protocol = protocol
    if app_version is not None:
        device.app_version = app_version
    if platform is not None:
        device.platform = platform
    return device


def mark_seen(device: SyncDevice, *, pulled: bool = False, pushed: bool = False) -> None:
    now = utcnow()
    device.last_seen_at = now
    if pulled:
        device.last_pull_at = now
    if pushed:
        device.last_push_at = now


def record_error(device: SyncDevice, code: str, detail: str) -> None:
    device.last_error_code = code
    device.last_error_detail = detail[:500]
    device.last_error_at = utcnow()


def quarantined_counts(session: Session, device_ids: list[str]) -> dict[str, int]:
    """Open (unresolved) rejected mutations per device."""
    if not device_ids:
        return {}
    rows = session.execute(
        sa.select(SyncMutation.device_id, sa.func.count())
        .where(
            SyncMutation.device_id.in_(device_ids),
            SyncMutation.status == "rejected",
            SyncMutation.resolved_at.is_(None),
        )
        .group_by(SyncMutation.device_id)
    ).all()
    return {device_id: count for device_id, count in rows}


def silent_since(hours: float, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """Devices not heard from for `hours` (or never)."""
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    return sa.or_(SyncDevice.last_seen_at.is_(None), SyncDevice.last_seen_at < cutoff)


def devices_query(
    *, principal: Principal, technician_id: str | None = None, silent_hours: float | None = None
) -> sa.Select[SyncDevice]:
    """The devices the caller may watch (see `sees_every_device`), of one technician or silent for
    `silent_hours` if given (unordered: the caller pages it)."""
    stmt = sa.select(SyncDevice)
    if not sees_every_device(principal):
        stmt = stmt.where(SyncDevice.user_id == principal.user_id)
    if technician_id is not None:
        stmt = stmt.where(SyncDevice.technician_id == technician_id)
    if silent_hours is not None:
        stmt = stmt.where(silent_since(silent_hours))
    return stmt


def count_quarantined(*, session: Session, devices: list[SyncDevice]) -> None:
    """Set each device's `quarantined`: how many of its rejected mutations are not yet resolved."""
    counts = quarantined_counts(session, [device.id for device in devices])
    for device in devices:
        device.quarantined = counts.get(device.id, 0)  # type: ignore[attr-defined]
