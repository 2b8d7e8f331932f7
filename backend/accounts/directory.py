"""The company directory: service regions and technicians with their skills, certificates and shifts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.errors import not_found


def regions(*, session: Session) -> list[Region]:
    """Every service region, by code (a city's handful of districts)."""
    return list(session.scalars(sa.select(Region).order_by(Region.code)))


def technicians_query(*, region_id: str | None = None, active: bool | None = None) -> sa.Select[Technician]:
    """Technicians, optionally of one region and/or by whether they are active (listed by employee no.)."""
    stmt = sa.select(Technician)
    if region_id is not None:
        stmt = stmt.where(Technician.region_id == region_id)
    if active is not None:
        stmt = stmt.where(Technician.active.is_(active))
    return stmt


def get_technician(*, session: Session, technician_id: str) -> Technician:
    technician = session.get(Technician, technician_id)
    if technician is None:
        raise not_found("technician")
    return technician
