"""Which stock locations a caller sees: staff every location, a technician only their own van."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import not_found
from backend.parts.models import StockLocation
from backend.policy import Principal


def visible_stock_locations(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_staff:
        return sa.true()
    if principal.technician_id:
        return StockLocation.technician_id == principal.technician_id
    return sa.false()


def get_visible_stock_location(*, session: Session, principal: Principal, location_id: str) -> StockLocation:
    location = session.scalars(
        sa.select(StockLocation).where(StockLocation.id == location_id, visible_stock_locations(principal))
    ).one_or_none()
    if location is None:
        raise not_found("stock_location")
    return location
