"""Warehouse administration around the ledger: locations and what they hold, a location's move history,
safety levels, and the procurement and discrepancy queues the warehouse works through."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.directory import get_technician
from backend.errors import conflict, not_found
from backend.kernel.base import utcnow
from backend.parts.access import visible_stock_locations
from backend.parts.models import (
    Part,
    ProcurementRequest,
    SafetyStock,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMove,
)
from backend.parts.stock import van_for
from backend.policy import Principal

OPEN = "open"
RESOLVED = "resolved"


# --- locations ------------------------------------------------------------------------------------


def visible_locations(*, principal: Principal) -> sa.Select[StockLocation]:
    """Locations the caller may see (staff all, a technician their van); listed by kind then code."""
    return sa.select(StockLocation).where(visible_stock_locations(principal))


@dataclass(frozen=True)
class NewLocation:
    """A warehouse or a service centre (vans are made with their technician's first stock)."""

    kind: str
    name: str
    code: str
    region_id: str | None = None


def add_location(*, session: Session, new: NewLocation) -> StockLocation:
    """A new warehouse or service centre; location codes are unique (a second one is a 409)."""
    if session.scalar(sa.select(StockLocation.id).where(StockLocation.code == new.code)):
        raise conflict("stock_location.duplicate_code", f"Code {new.code} is taken.")
    location = StockLocation(**asdict(new))
    session.add(location)
    session.flush()
    return location


def balances_query(*, location: StockLocation) -> sa.Select[StockBalance]:
    """What a location holds, one row per part (listed by SKU: the part is joined)."""
    return (
        sa.select(StockBalance)
        .join(Part, Part.id == StockBalance.part_id)
        .where(StockBalance.location_id == location.id)
    )


def balances_at(*, session: Session, location: StockLocation) -> list[StockBalance]:
    """Every balance of a location, by SKU (a van: the few parts a technician carries)."""
    return list(session.scalars(balances_query(location=location).order_by(Part.sku)))


def technician_van(*, session: Session, technician_id: str) -> StockLocation:
    """A technician's van, created with their first look at it; an unknown technician is a 404."""
    technician = get_technician(session=session, technician_id=technician_id)
    return van_for(session=session, technician=technician)


def move_history_query(*, location: StockLocation, part: Part | None = None) -> sa.Select[StockMove]:
    """A location's ledger lines, of one part if given (unordered: the caller pages it)."""
    stmt = sa.select(StockMove).where(StockMove.location_id == location.id)
    if part is not None:
        stmt = stmt.where(StockMove.part_id == part.id)
    return stmt


# --- safety stock and procurement -----------------------------------------------------------------


def set_safety_stock(
    *, session: Session, location: StockLocation, part: Part, minimum: int, reorder_quantity: int
) -> SafetyStock:
    """Set (or create) a part's safety level at a location; the ledger raises procurement requests when a
    move takes the balance below it."""
    level = session.scalars(
        sa.select(SafetyStock).where(SafetyStock.location_id == location.id, SafetyStock.part_id == part.id)
    ).one_or_none()
    if level is None:
        level = SafetyStock(location_id=location.id, part_id=part.id, minimum=0, reorder_quantity=1)
        session.add(level)
    level.minimum, level.reorder_quantity = minimum, reorder_quantity
    session.flush()
    return level


def procurement_requests(*, status: str) -> sa.Select[ProcurementRequest]:
    """Procurement requests in `status` (listed oldest first)."""
    return sa.select(ProcurementRequest).where(ProcurementRequest.status == status)


# --- discrepancies --------------------------------------------------------------------------------


def discrepancies(*, status: str) -> sa.Select[StockDiscrepancy]:
    """Stock discrepancies in `status` (listed oldest first)."""
    return sa.select(StockDiscrepancy).where(StockDiscrepancy.status == status)


def resolve_discrepancy(
    *, session: Session, discrepancy_id: str, by: Principal, resolution: str
) -> StockDiscrepancy:
    """Close an open discrepancy with what was done about it, once: resolving it again is a 409 and
    leaves the first resolution in place."""
    record = session.get(StockDiscrepancy, discrepancy_id)
    if record is None:
        raise not_found("stock_discrepancy")
    if record.status != OPEN:
        raise conflict("stock_discrepancy.resolved", "Already resolved.")
    record.status, record.resolution = RESOLVED, resolution
    record.resolved_by_user_id, record.resolved_at = by.user_id, utcnow()
    session.flush()
    return record
