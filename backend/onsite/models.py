"""The visit on site: appointment confirmation, check-in/out, safety checklists, stop-work reports,
consents (device data, new findings) and the technician's service record."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, IdMixin, TimestampMixin, utcnow
from backend.kernel.sync_spec import Scope, SyncSpec


class ConsentKind(StrEnum):
    DATA_ACCESS = "data_access"  # touching data on the customer's device (seed 001 §1.5)
    NEW_FINDING = "new_finding"  # work on a problem found on site (seed 002 三.4)


class AppointmentConfirmation(IdMixin, Base):
    """A time window agreed with the customer: who agreed, through which channel, when."""

    __tablename__ = "appointment_confirmations"
    __sync__ = SyncSpec(entity="appointment_confirmations", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"))
    confirmed_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    agreed_with: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    device_time: Mapped[datetime | None]
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Visit(IdMixin, TimestampMixin, Base):
    """One stay at the job address, from check-in to check-out (GPS at both ends, WGS-84)."""

    __tablename__ = "visits"
    __sync__ = SyncSpec(entity="visits", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[str] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)
    check_in_device_time: Mapped[datetime | None]
    check_in_lat: Mapped[float]
    check_in_lng: Mapped[float]
    check_in_accuracy_m: Mapped[float | None]
    # Distance from the job address; None when the job has no coordinates.
    check_in_distance_m: Mapped[int | None]
    far_from_job: Mapped[bool] = mapped_column(default=False)
    checked_out_at: Mapped[datetime | None]
    check_out_device_time: Mapped[datetime | None]
    check_out_lat: Mapped[float | None]
    check_out_lng: Mapped[float | None]


class ChecklistTemplate(IdMixin, TimestampMixin, Base):
    """What a technician confirms before hazardous work of one kind (items: code, label, required)."""

    __tablename__ = "checklist_templates"
    __table_args__ = (sa.UniqueConstraint("hazard", "version"),)
    __sync__ = SyncSpec(entity="checklist_templates", scope=Scope.GLOBAL)

    hazard: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(sa.String(100))
    required_certificate: Mapped[str] = mapped_column(sa.String(32))
    items: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)


class ChecklistSubmission(IdMixin, Base):
    """A filled safety checklist; `passed` is true when every required item was confirmed."""

    __tablename__ = "checklist_submissions"
    __sync__ = SyncSpec(entity="checklist_submissions", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[str] = mapped_column(sa.ForeignKey("checklist_templates.id"))
    hazard: Mapped[str] = mapped_column(sa.String(16))
    technician_id: Mapped[str] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    certificate_id: Mapped[str] = mapped_column(sa.ForeignKey("certificates.id"))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    passed: Mapped[bool]
    missing_items: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    device_time: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class StopWorkReport(IdMixin, Base):
    """A major hazard: work stops until a dispatcher resolves it (seed 002 五.(三).2)."""

    __tablename__ = "stop_work_reports"
    __sync__ = SyncSpec(entity="stop_work_reports", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[str] = mapped_column(sa.ForeignKey("technicians.id"))
    hazard: Mapped[str | None] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.String(2000))
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    device_time: Mapped[datetime | None]
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(sa.String(2000))


class Consent(IdMixin, Base):
    """The customer's yes or no to touching their device's data or to work on a new finding."""

    __tablename__ = "consents"
    __sync__ = SyncSpec(entity="consents", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[str] = mapped_column(sa.ForeignKey("technicians.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.String(1000))
    granted: Mapped[bool]
    signer_name: Mapped[str] = mapped_column(sa.String(100))
    method: Mapped[str] = mapped_column(sa.String(16))
    # Data access: what happens to the data afterwards (restore, wipe temporary data; seed 001 §1.5.3).
    data_handling: Mapped[str | None] = mapped_column(sa.String(500))
    device_time: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceRecord(IdMixin, TimestampMixin, Base):
    """What was done on the job (one per order; the latest write wins, each revision is an event).

    Parts replaced are not copied here: they come from the stock ledger (billing.job_parts_used).
    """

    __tablename__ = "service_records"
    __sync__ = SyncSpec(entity="service_records", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    technician_id: Mapped[str] = mapped_column(sa.ForeignKey("technicians.id"))
    cause: Mapped[str] = mapped_column(sa.String(2000))
    method: Mapped[str] = mapped_column(sa.String(2000))
    items_done: Mapped[list[Any]] = mapped_column(default=list)
    function_tests: Mapped[list[Any]] = mapped_column(default=list)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    touched_customer_data: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=1)
    device_time: Mapped[datetime | None]
