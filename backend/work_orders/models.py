"""Repair requests (what came in), work orders (what we do about it) and their event history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.accounts.customers import Customer, Product
from backend.accounts.technicians import Technician
from backend.kernel.base import Base, IdMixin, TimestampMixin, utcnow
from backend.kernel.sync_spec import Scope, SyncSpec
from backend.work_orders.states import DEVICE_HELD


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    HOTLINE = "hotline"
    EMAIL = "email"
    WALK_IN = "walk_in"
    PARTNER = "partner"


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"  # waiting for customer service to complete and confirm
    CONFIRMED = "confirmed"  # a work order exists
    REJECTED = "rejected"  # not a job for us (spam, duplicate, out of area)


class ServiceMode(StrEnum):
    ON_SITE = "on_site"
    CARRY_IN = "carry_in"
    RETURN_TO_FACTORY = "return_to_factory"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    EMERGENCY = "emergency"


class Hazard(StrEnum):
    ELECTRICAL = "electrical"
    GAS = "gas"
    HEIGHT = "height"


class RepairRequest(IdMixin, TimestampMixin, Base):
    __tablename__ = "repair_requests"
    __table_args__ = (sa.UniqueConstraint("partner_id", "partner_reference"),)

    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=RequestStatus.SUBMITTED, index=True)
    customer_id: Mapped[str | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(sa.ForeignKey("products.id"))
    address_id: Mapped[str | None] = mapped_column(sa.ForeignKey("addresses.id"))
    partner_id: Mapped[str | None] = mapped_column(sa.ForeignKey("partners.id"), index=True)
    partner_reference: Mapped[str | None] = mapped_column(sa.String(100))
    submitted_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    contact_name: Mapped[str] = mapped_column(sa.String(100))
    contact_phone: Mapped[str] = mapped_column(sa.String(32))
    address_text: Mapped[str | None] = mapped_column(sa.String(300))
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    product_category: Mapped[str | None] = mapped_column(sa.String(50))
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    product_serial: Mapped[str | None] = mapped_column(sa.String(100))
    purchase_date: Mapped[datetime | None] = mapped_column(sa.Date)
    fault_type: Mapped[str | None] = mapped_column(sa.String(50))
    fault_description: Mapped[str] = mapped_column(sa.String(2000))
    photos_expected: Mapped[int] = mapped_column(default=0)
    preferred_start: Mapped[datetime | None]
    preferred_end: Mapped[datetime | None]
    emergency: Mapped[bool] = mapped_column(default=False)
    rejection_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # The order made from this request (WorkOrder.request_id is the one stored link).
    work_order: Mapped[WorkOrder | None] = relationship(
        primaryjoin="WorkOrder.request_id == RepairRequest.id", viewonly=True, uselist=False
    )

    @property
    def work_order_id(self) -> str | None:
        return self.work_order.id if self.work_order is not None else None


class WorkOrder(IdMixin, TimestampMixin, Base):
    __tablename__ = "work_orders"
    __sync__ = SyncSpec(
        entity="work_orders",
        scope=Scope.WORK_ORDER,
        scope_column="id",
        holder_column="assignee_id",
        state_column="status",
        held_states=frozenset(DEVICE_HELD),
    )

    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    request_id: Mapped[str | None] = mapped_column(sa.ForeignKey("repair_requests.id"), index=True)
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(sa.ForeignKey("products.id"), index=True)
    address_id: Mapped[str | None] = mapped_column(sa.ForeignKey("addresses.id"))
    region_id: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)
    partner_id: Mapped[str | None] = mapped_column(sa.ForeignKey("partners.id"), index=True)
    rework_of_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    service_mode: Mapped[str] = mapped_column(sa.String(24), default=ServiceMode.ON_SITE)
    priority: Mapped[str] = mapped_column(sa.String(16), default=Priority.NORMAL, index=True)
    hazards: Mapped[list[Any]] = mapped_column(default=list)
    product_category: Mapped[str] = mapped_column(sa.String(50))
    fault_type: Mapped[str | None] = mapped_column(sa.String(50))
    fault_description: Mapped[str] = mapped_column(sa.String(2000))
    complex_job: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    assignee_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    assigned_at: Mapped[datetime | None]
    appointment_start: Mapped[datetime | None]
    appointment_end: Mapped[datetime | None]
    respond_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    eta_at: Mapped[datetime | None]  # reserved for the geo module's estimate, shown to the customer
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    customer: Mapped[Customer] = relationship()
    product: Mapped[Product | None] = relationship()
    assignee: Mapped[Technician | None] = relationship()
    events: Mapped[list[WorkOrderEvent]] = relationship(
        back_populates="work_order", order_by="WorkOrderEvent.seq", lazy="raise_on_sql"
    )

    __mapper_args__ = {"version_id_col": version}


class WorkOrderEvent(IdMixin, Base):
    """One line of a work order's history; `customer_visible` decides what tracking shows."""

    __tablename__ = "work_order_events"
    # History lines are appended, never edited: their creation time is their version.
    __sync__ = SyncSpec(entity="work_order_events", scope=Scope.WORK_ORDER, version_column="created_at")
    __table_args__ = (sa.Index("ix_work_order_events_order_seq", "work_order_id", "seq"),)

    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(32))
    to_status: Mapped[str | None] = mapped_column(sa.String(32))
    actor_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(sa.String(32))
    message: Mapped[str | None] = mapped_column(sa.String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    customer_visible: Mapped[bool] = mapped_column(default=True)
    device_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    work_order: Mapped[WorkOrder] = relationship(back_populates="events")


class Counter(Base):
    """Named counters for human numbers (e.g. `WO-20261123` → last number used that day)."""

    __tablename__ = "counters"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
