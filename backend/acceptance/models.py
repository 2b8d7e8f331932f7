"""Acceptance signatures bound to the job's canonical summary, sealed by the server; customer ratings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, IdMixin, utcnow
from backend.kernel.sync_spec import Scope, SyncSpec


class SignerRole(StrEnum):
    CUSTOMER = "customer"
    GUARDIAN = "guardian"  # signs for a customer who cannot (a minor, an elderly relative)
    TECHNICIAN = "technician"
    WITNESS = "witness"


class AcceptanceOutcome(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class AcceptanceStatus(StrEnum):
    SEALED = "sealed"  # the signed hash matched the server's summary; the seal binds the record
    STALE = "stale"  # the job changed after signing: kept as evidence, a new signature is needed


class Acceptance(IdMixin, Base):
    """One signature on the job's acceptance form (several per job: one per signer role)."""

    __tablename__ = "acceptances"
    __sync__ = SyncSpec(entity="acceptances", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    signer_name: Mapped[str] = mapped_column(sa.String(100))
    signer_role: Mapped[str] = mapped_column(sa.String(16))
    signer_relation: Mapped[str | None] = mapped_column(sa.String(50))
    summary_sha256: Mapped[str] = mapped_column(sa.String(64))  # what the device signed
    server_summary_sha256: Mapped[str] = mapped_column(sa.String(64))  # what the server had then
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the server's summary at recording
    strokes: Mapped[list[Any]] = mapped_column(default=list)
    signature_attachment_id: Mapped[str | None] = mapped_column(sa.String(36))
    signature_sha256: Mapped[str] = mapped_column(sa.String(64))
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    device_time: Mapped[datetime | None]
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    seal: Mapped[str | None] = mapped_column(sa.String(64))
    seal_key_id: Mapped[str | None] = mapped_column(sa.String(16))
    sealed_at: Mapped[datetime | None]
    rework_order_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"))


class Rating(IdMixin, Base):
    """The customer's rating after acceptance (seed 002 二.(六).2: attitude, quality, effect, speed)."""

    __tablename__ = "ratings"

    work_order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    attitude: Mapped[int]
    quality: Mapped[int]
    effect: Mapped[int]
    response_speed: Mapped[int]
    comment: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
