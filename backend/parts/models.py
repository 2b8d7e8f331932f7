"""Parts and stock: the catalog, stock locations, the append-only stock ledger and what hangs off it.

The ledger (`StockMove`) is the truth. `StockBalance` and `SerialUnit` are caches of it kept by exactly
one function, `backend.parts.stock.post_move`; nothing else writes them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.kernel.base import Base, IdMixin, TimestampMixin, utcnow
from backend.kernel.sync_spec import Scope, SyncSpec


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    SERVICE_CENTRE = "service_centre"
    VAN = "van"


class MoveKind(StrEnum):
    RECEIVE = "receive"  # from a supplier into a warehouse or service centre
    TRANSFER = "transfer"  # between locations (issuing to a van is a transfer to it); rows come in pairs
    CONSUME = "consume"  # out of a van into a customer's machine, against a work order
    RETURN = "return"  # back from a job into the van, or from a van to a warehouse (a pair)
    WRITE_OFF = "write_off"  # damaged, lost, expired: with a reason
    ADJUSTMENT = "adjustment"  # an inventory count's difference, with the counter's name


class SerialStatus(StrEnum):
    IN_STOCK = "in_stock"
    INSTALLED = "installed"
    WRITTEN_OFF = "written_off"


class Part(IdMixin, TimestampMixin, Base):
    """A catalog entry. Prices are integer fen; `warranty_months` is the warranty on the fitted part."""

    __tablename__ = "parts"
    __sync__ = SyncSpec(entity="parts", scope=Scope.GLOBAL)

    sku: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(50), index=True)
    product_category: Mapped[str | None] = mapped_column(sa.String(50))
    unit_price_fen: Mapped[int]
    genuine: Mapped[bool] = mapped_column(default=True)
    serialized: Mapped[bool] = mapped_column(default=False)
    warranty_months: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class StockLocation(IdMixin, TimestampMixin, Base):
    """A warehouse, a service centre or a technician's van (one van per technician)."""

    __tablename__ = "stock_locations"

    kind: Mapped[str] = mapped_column(sa.String(16), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"), unique=True)
    region_id: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)


class StockMove(IdMixin, Base):
    """One line of the ledger: a signed quantity of a part at one location. Never updated or deleted."""

    __tablename__ = "stock_moves"
    __table_args__ = (
        sa.Index("ix_stock_moves_location_part", "location_id", "part_id"),
        sa.CheckConstraint("quantity <> 0", name="nonzero_quantity"),
    )

    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    quantity: Mapped[int]
    serial: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    # Both rows of a transfer (or a van-to-warehouse return) share it; the other row's location.
    transfer_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    counterpart_location_id: Mapped[str | None] = mapped_column(sa.ForeignKey("stock_locations.id"))
    work_order_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    count_session_id: Mapped[str | None] = mapped_column(sa.ForeignKey("stock_count_sessions.id"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    actor_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    balance_after: Mapped[int]
    device_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockBalance(IdMixin, Base):
    """The cached sum of a location's moves of one part (written only by `stock.post_move`).

    Van rows carry the van's `technician_id` so each technician's device receives its own van stock.
    """

    __tablename__ = "stock_balances"
    __table_args__ = (sa.UniqueConstraint("location_id", "part_id"),)
    __sync__ = SyncSpec(entity="van_stock", scope=Scope.TECHNICIAN)

    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"))
    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    part: Mapped[Part] = relationship(lazy="joined")


class SerialUnit(IdMixin, Base):
    """Where one serialized unit is now (written only by `stock.post_move`)."""

    __tablename__ = "serial_units"
    __table_args__ = (sa.UniqueConstraint("part_id", "serial"),)

    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"))
    serial: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(16))
    location_id: Mapped[str | None] = mapped_column(sa.ForeignKey("stock_locations.id"), index=True)
    work_order_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartUsage(IdMixin, Base):
    """A part used on (quantity > 0) or taken back from (quantity < 0) a job: the field fact the bill
    and the acceptance summary are built from. The id is the device's."""

    __tablename__ = "part_usages"
    __sync__ = SyncSpec(entity="part_usages", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"), index=True)
    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"))
    sku: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int]
    serial: Mapped[str | None] = mapped_column(sa.String(100))
    unit_price_fen: Mapped[int]
    warranty_months: Mapped[int]
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"))
    stock_move_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_moves.id"))
    quote_id: Mapped[str | None] = mapped_column(sa.ForeignKey("quotes.id"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    mutation_id: Mapped[str | None] = mapped_column(sa.String(64))
    device_time: Mapped[datetime | None]
    flagged: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockDiscrepancy(IdMixin, Base):
    """Something the warehouse must look at: a van driven below zero, a serial that was elsewhere."""

    __tablename__ = "stock_discrepancies"

    kind: Mapped[str] = mapped_column(sa.String(32))
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"), index=True)
    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"))
    stock_move_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_moves.id"))
    work_order_id: Mapped[str | None] = mapped_column(sa.ForeignKey("work_orders.id"))
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"))
    balance_after: Mapped[int]
    detail: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    resolution: Mapped[str | None] = mapped_column(sa.String(500))
    resolved_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SafetyStock(IdMixin, TimestampMixin, Base):
    """Below `minimum` at this location, procurement is asked for `reorder_quantity` more."""

    __tablename__ = "safety_stocks"
    __table_args__ = (sa.UniqueConstraint("location_id", "part_id"),)

    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"))
    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"))
    minimum: Mapped[int]
    reorder_quantity: Mapped[int]


class ProcurementRequest(IdMixin, TimestampMixin, Base):
    """At most one open request per part and location: `open_key` is unique while open, NULL after."""

    __tablename__ = "procurement_requests"

    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"))
    quantity: Mapped[int]
    balance_at_request: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    open_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    closed_at: Mapped[datetime | None]


class StockNotification(IdMixin, Base):
    """A message for a team (procurement, warehouse) with what it is about."""

    __tablename__ = "stock_notifications"

    audience: Mapped[str] = mapped_column(sa.String(32), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    message: Mapped[str] = mapped_column(sa.String(500))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CountSession(IdMixin, TimestampMixin, Base):
    """An inventory count at one location; posting turns each difference into an adjustment move."""

    __tablename__ = "stock_count_sessions"

    location_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_locations.id"), index=True)
    counter_name: Mapped[str] = mapped_column(sa.String(100))
    opened_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    posted_at: Mapped[datetime | None]
    lines: Mapped[list[CountLine]] = relationship(
        back_populates="session", cascade="all, delete-orphan", lazy="selectin", order_by="CountLine.sku"
    )


class CountLine(IdMixin, Base):
    __tablename__ = "stock_count_lines"
    __table_args__ = (sa.UniqueConstraint("session_id", "part_id"),)

    session_id: Mapped[str] = mapped_column(sa.ForeignKey("stock_count_sessions.id", ondelete="CASCADE"))
    part_id: Mapped[str] = mapped_column(sa.ForeignKey("parts.id"))
    sku: Mapped[str] = mapped_column(sa.String(64))
    counted: Mapped[int]
    expected: Mapped[int | None]  # the ledger balance when the count was posted
    difference: Mapped[int | None]
    session: Mapped[CountSession] = relationship(back_populates="lines")
