"""The parts catalog: what the warehouse stocks and technicians fit, priced in integer fen."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, conflict, not_found
from backend.parts.models import Part
from backend.parts.pricing import catalog_part


def catalog_query(*, category: str | None = None, text: str | None = None) -> sa.Select[Part]:
    """Active parts, optionally of one category or with `text` in their SKU or name (unordered: the
    caller pages it)."""
    stmt = sa.select(Part).where(Part.active.is_(True))
    if category is not None:
        stmt = stmt.where(Part.category == category)
    if text:
        like = f"%{text}%"
        stmt = stmt.where(sa.or_(Part.sku.ilike(like), Part.name.ilike(like)))
    return stmt


def active_part_by_sku(*, session: Session, sku: str) -> Part:
    """The active part with this SKU; an unknown or retired SKU is a 422 on the `sku` field."""
    part = catalog_part(session=session, sku=sku)
    if part is None:
        raise Problem(
            "part.unknown_sku",
            f"No active part with SKU {sku!r}.",
            status=422,
            errors={"sku": ["Unknown SKU."]},
        )
    return part


def get_part(*, session: Session, part_id: str) -> Part:
    part = session.get(Part, part_id)
    if part is None:
        raise not_found("part")
    return part


@dataclass(frozen=True)
class NewPart:
    """A catalog entry as the warehouse enters it (prices in fen)."""

    sku: str
    name: str
    category: str
    unit_price_fen: int
    product_category: str | None = None
    genuine: bool = True
    serialized: bool = False
    warranty_months: int = 0


@dataclass(frozen=True)
class PartChanges:
    """What changes on a part; a field left None stays as it is."""

    name: str | None = None
    unit_price_fen: int | None = None
    genuine: bool | None = None
    warranty_months: int | None = None
    active: bool | None = None


def add_part(*, session: Session, new: NewPart) -> Part:
    """A new catalog entry; SKUs are unique (a second one is a 409)."""
    if session.scalar(sa.select(Part.id).where(Part.sku == new.sku)):
        raise conflict("part.duplicate_sku", f"SKU {new.sku} exists already.")
    part = Part(**asdict(new))
    session.add(part)
    session.flush()
    return part


def update_part(*, session: Session, part_id: str, changes: PartChanges) -> Part:
    """Change a part's name, price, warranty or retire it; past quotes keep the prices they quoted."""
    part = get_part(session=session, part_id=part_id)
    for key, value in asdict(changes).items():
        if value is not None:
            setattr(part, key, value)
    session.flush()
    return part
