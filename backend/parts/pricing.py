"""Prices and warranty: the fee schedule lookups and who pays for a line. Quotes and bills both ask here.

Warranty rules:
- the product is in warranty on the day the job was opened (`Product.warranty_end`, China date) →
  labour and every part line are covered;
- a rework of an earlier job → labour is covered (we redo our own work for free);
- a part of the same SKU fitted to the same product on an earlier job, less than the part's
  `warranty_months` before this job was opened → that part line is covered (the repaired part's warranty).
Travel is always charged (the issue's rule: in-warranty *parts and labour* at zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.customers import Product
from backend.kernel.china_time import china_day
from backend.parts.billing_models import BillingPolicy, Difficulty, LabourRate, TravelFee
from backend.parts.models import Part, PartUsage
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import Status

ANY_FAULT = "*"
ANY_REGION = "*"
DEFAULT_CONSENT_THRESHOLD_FEN = 50_000  # ¥500: parts at or above need the customer's consent
DEFAULT_QUOTE_VALID_HOURS = 72


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month_first = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_month_first - timedelta(days=1)).day))


def billing_policy(*, session: Session) -> BillingPolicy:
    """The money settings row, with the embedded defaults until finance changes them."""
    policy = session.get(BillingPolicy, "default")
    if policy is None:
        policy = BillingPolicy(
            id="default",
            consent_threshold_fen=DEFAULT_CONSENT_THRESHOLD_FEN,
            quote_valid_hours=DEFAULT_QUOTE_VALID_HOURS,
        )
    return policy


def difficulty_of(order: WorkOrder) -> Difficulty:
    return Difficulty.COMPLEX if order.complex_job else Difficulty.STANDARD


def labour_rate(
    *, session: Session, product_category: str, fault_type: str | None, difficulty: str
) -> LabourRate | None:
    """The rate for the exact fault type, else the category's `*` rate for that difficulty."""
    candidates = [fault_type, ANY_FAULT] if fault_type else [ANY_FAULT]
    rows = {
        rate.fault_type: rate
        for rate in session.scalars(
            sa.select(LabourRate).where(
                LabourRate.product_category == product_category,
                LabourRate.difficulty == difficulty,
                LabourRate.fault_type.in_(candidates),
            )
        )
    }
    return next((rows[c] for c in candidates if c in rows), None)


def travel_fee_fen(*, session: Session, region_id: str | None) -> int | None:
    keys = [region_id, ANY_REGION] if region_id else [ANY_REGION]
    rows = {
        fee.region_key: fee.amount_fen
        for fee in session.scalars(sa.select(TravelFee).where(TravelFee.region_key.in_(keys)))
    }
    return next((rows[k] for k in keys if k in rows), None)


@dataclass(frozen=True)
class WarrantyCover:
    product_in_warranty: bool
    labour_covered: bool
    covered_skus: frozenset[str]  # parts covered by an earlier repair's part warranty

    def part_covered(self, sku: str) -> bool:
        return self.product_in_warranty or sku in self.covered_skus


def warranty_cover(*, session: Session, order: WorkOrder) -> WarrantyCover:
    opened = china_day(order.created_at)
    product = session.get(Product, order.product_id) if order.product_id else None
    in_warranty = product is not None and product.in_warranty_on(opened)
    return WarrantyCover(
        product_in_warranty=in_warranty,
        labour_covered=in_warranty or order.rework_of_id is not None,
        covered_skus=_skus_under_part_warranty(session, order, opened),
    )


def _skus_under_part_warranty(session: Session, order: WorkOrder, opened: date) -> frozenset[str]:
    if order.product_id is None:
        return frozenset()
    earlier = session.execute(
        sa.select(PartUsage.sku, PartUsage.warranty_months, PartUsage.created_at)
        .join(WorkOrder, WorkOrder.id == PartUsage.work_order_id)
        .where(
            WorkOrder.product_id == order.product_id,
            WorkOrder.id != order.id,
            WorkOrder.status != Status.CANCELLED,
            PartUsage.quantity > 0,
            PartUsage.warranty_months > 0,
            PartUsage.created_at < order.created_at,
        )
    )
    return frozenset(sku for sku, months, fitted in earlier if opened < add_months(china_day(fitted), months))


def catalog_part(*, session: Session, sku: str) -> Part | None:
    return session.scalars(sa.select(Part).where(Part.sku == sku, Part.active.is_(True))).one_or_none()
