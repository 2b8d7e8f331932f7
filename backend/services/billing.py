"""Settlement: what a job costs (approved quotes + parts actually used), bills, payments, reconciliation.

`job_parts_used` and `job_charges` are the one derivation of a job's parts and price; the acceptance
summary, the settlement bill and the customer's view all call them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import not_found
from backend.models import (
    Customer,
    LineKind,
    PartUsage,
    Quote,
    QuoteLine,
    QuoteStatus,
    WorkOrder,
)
from backend.services import pricing
from backend.services.money import ChargeLine, JobCharges, line_amount, total_charges

__all__ = [
    "ChargeLine",
    "JobCharges",
    "PartUse",
    "job_charges",
    "job_parts_used",
]


@dataclass(frozen=True)
class PartUse:
    """Net parts fitted on a job (consumed minus taken back), one row per SKU and serial."""

    sku: str
    name: str
    quantity: int
    unit_price_fen: int
    warranty_months: int
    serial: str | None
    covered_by_warranty: bool


def _approved_lines(session: Session, work_order_id: str) -> list[QuoteLine]:
    return list(
        session.scalars(
            sa.select(QuoteLine)
            .join(Quote, Quote.id == QuoteLine.quote_id)
            .where(Quote.work_order_id == work_order_id, Quote.status == QuoteStatus.APPROVED)
            .order_by(Quote.created_at, Quote.id, QuoteLine.position)
        )
    )


def _order(session: Session, work_order_id: str) -> WorkOrder:
    order = session.get(WorkOrder, work_order_id)
    if order is None:
        raise not_found("work_order")
    return order


def job_parts_used(session: Session, work_order_id: str) -> list[PartUse]:
    """Parts fitted on the job, priced as quoted (else at the catalog price when used), sorted by SKU."""
    order = _order(session, work_order_id)
    cover = pricing.warranty_cover(session, order)
    quoted = {line.sku: line.unit_price_fen for line in _approved_lines(session, work_order_id) if line.sku}
    usages = session.scalars(
        sa.select(PartUsage)
        .where(PartUsage.work_order_id == work_order_id)
        .order_by(PartUsage.created_at, PartUsage.id)
    )
    net: dict[tuple[str, str | None], int] = defaultdict(int)
    latest: dict[tuple[str, str | None], PartUsage] = {}
    for usage in usages:
        key = (usage.sku, usage.serial)
        net[key] += usage.quantity
        if usage.quantity > 0:
            latest[key] = usage
    uses = [
        PartUse(
            sku=sku,
            name=latest[(sku, serial)].name,
            quantity=quantity,
            unit_price_fen=quoted.get(sku, latest[(sku, serial)].unit_price_fen),
            warranty_months=latest[(sku, serial)].warranty_months,
            serial=serial,
            covered_by_warranty=cover.part_covered(sku),
        )
        for (sku, serial), quantity in net.items()
        if quantity > 0 and (sku, serial) in latest
    ]
    return sorted(uses, key=lambda use: (use.sku, use.serial or ""))


def job_charges(session: Session, work_order_id: str) -> JobCharges:
    """The bill of a job: labour and travel as approved (else from the fee schedule), parts as used,
    warranty cover, and the contract discount applied once."""
    order = _order(session, work_order_id)
    cover = pricing.warranty_cover(session, order)
    approved = _approved_lines(session, work_order_id)
    lines = _labour_lines(session, order, approved, cover.labour_covered)
    lines += [
        ChargeLine(
            kind="part",
            description=f"{use.name} ({use.sku})" + (f" SN {use.serial}" if use.serial else ""),
            quantity=use.quantity,
            unit_price_fen=use.unit_price_fen,
            amount_fen=line_amount(use.quantity, use.unit_price_fen, covered=use.covered_by_warranty),
            covered_by_warranty=use.covered_by_warranty,
        )
        for use in job_parts_used(session, work_order_id)
    ]
    lines += _travel_lines(session, order, approved)
    return total_charges(lines, discount_bp=contract_discount_bp(session, order.customer_id))


def contract_discount_bp(session: Session, customer_id: str) -> int:
    customer = session.get(Customer, customer_id)
    if customer is None or not customer.is_contract:
        return 0
    return max(customer.contract_discount_bp, 0)


def _labour_lines(
    session: Session, order: WorkOrder, approved: list[QuoteLine], covered: bool
) -> list[ChargeLine]:
    quoted = [line for line in approved if line.kind == LineKind.LABOUR]
    if quoted:
        items = [(line.description, line.quantity, line.unit_price_fen) for line in quoted]
    else:
        rate = pricing.labour_rate(
            session,
            product_category=order.product_category,
            fault_type=order.fault_type,
            difficulty=pricing.difficulty_of(order),
        )
        items = [(rate.description, 1, rate.amount_fen)] if rate else []
    return [
        ChargeLine(
            kind="labour",
            description=description,
            quantity=quantity,
            unit_price_fen=price,
            amount_fen=line_amount(quantity, price, covered=covered),
            covered_by_warranty=covered,
        )
        for description, quantity, price in items
    ]


def _travel_lines(session: Session, order: WorkOrder, approved: list[QuoteLine]) -> list[ChargeLine]:
    quoted = next((line for line in approved if line.kind == LineKind.TRAVEL), None)
    if quoted is not None:
        price = quoted.unit_price_fen
    else:
        fee = pricing.travel_fee_fen(session, order.region_id)
        if fee is None:
            return []
        price = fee
    return [
        ChargeLine(kind="travel", description="上门费", quantity=1, unit_price_fen=price, amount_fen=price)
    ]
