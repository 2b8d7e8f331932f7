"""Dispatch: technicians' last reported positions, per-region auto-assignment rules, team-lead notices."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, IdMixin, TimestampMixin, utcnow


class TechnicianPosition(Base):
    """The latest `location.report` of a technician (WGS-84); one row each, overwritten by newer reports.

    Indexed on (lat, lng) so that candidate search can range-scan a bounding box.
    """

    __tablename__ = "technician_positions"
    __table_args__ = (sa.Index("ix_technician_positions_lat_lng", "lat", "lng"),)

    technician_id: Mapped[str] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True
    )
    lat: Mapped[float]
    lng: Mapped[float]
    accuracy_m: Mapped[float | None]
    # Server receive time orders reports (device clocks are not trusted); device time is kept for audit.
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    device_time: Mapped[datetime | None]
    device_id: Mapped[str | None] = mapped_column(sa.String(100))


class AssignmentStrategy:
    NEAREST = "nearest"
    LEAST_LOADED = "least_loaded"
    ALL = (NEAREST, LEAST_LOADED)


class AutoAssignRule(IdMixin, TimestampMixin, Base):
    """How new work orders of a region are assigned without a dispatcher (seed 000: preset rules)."""

    __tablename__ = "auto_assign_rules"

    region_id: Mapped[str] = mapped_column(sa.ForeignKey("regions.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    radius_km: Mapped[float] = mapped_column(default=15.0)
    strategy: Mapped[str] = mapped_column(sa.String(16), default=AssignmentStrategy.NEAREST)
    accept_timeout_minutes: Mapped[int] = mapped_column(default=30)
    # The dispatcher who leads the region's team and hears about declines and timeouts; None = all.
    team_lead_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))


class NotificationKind:
    DECLINED = "declined"
    ACCEPT_TIMEOUT = "accept_timeout"
    NO_CANDIDATE = "no_candidate"


class DispatchNotification(IdMixin, Base):
    """Something a team lead must look at: a job declined, not accepted in time, or nobody to send."""

    __tablename__ = "dispatch_notifications"

    kind: Mapped[str] = mapped_column(sa.String(32))
    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    region_id: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)
    recipient_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The history line that caused it: at most one notification per event (the job is idempotent).
    event_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_order_events.id"), unique=True)
    message: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    read_at: Mapped[datetime | None]
