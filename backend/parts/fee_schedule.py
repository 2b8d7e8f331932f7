"""The published fee schedule: finance sets labour rates, travel fees and the billing policy here, and
everyone reads the whole schedule from here. `pricing` answers "what does this line cost" from it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.parts import pricing
from backend.parts.billing_models import BillingPolicy, LabourRate, TravelFee


@dataclass(frozen=True)
class FeeSchedule:
    labour: list[LabourRate]
    travel: list[TravelFee]
    policy: BillingPolicy


@dataclass(frozen=True, kw_only=True)
class LabourRateInput:
    """The labour price of a product category × fault type (`*` = any fault) × difficulty."""

    product_category: str
    difficulty: str
    amount_fen: int
    description: str
    fault_type: str = pricing.ANY_FAULT


@dataclass(frozen=True, kw_only=True)
class TravelFeeInput:
    """The call-out fee of a region id, or of `*` for every region without its own fee."""

    region_key: str
    amount_fen: int


@dataclass(frozen=True, kw_only=True)
class BillingPolicyInput:
    consent_threshold_fen: int
    quote_valid_hours: int


def fee_schedule(*, session: Session) -> FeeSchedule:
    """Labour rates by category, fault type and difficulty; travel fees by region; the policy."""
    labour = session.scalars(
        sa.select(LabourRate).order_by(
            LabourRate.product_category, LabourRate.fault_type, LabourRate.difficulty
        )
    )
    travel = session.scalars(sa.select(TravelFee).order_by(TravelFee.region_key))
    policy = pricing.billing_policy(session=session)
    return FeeSchedule(labour=list(labour), travel=list(travel), policy=policy)


def set_labour_rate(*, session: Session, rate: LabourRateInput) -> LabourRate:
    """Create or reprice the one rate of that category × fault type × difficulty."""
    row = session.scalars(
        sa.select(LabourRate).where(
            LabourRate.product_category == rate.product_category,
            LabourRate.fault_type == rate.fault_type,
            LabourRate.difficulty == rate.difficulty,
        )
    ).one_or_none()
    if row is None:
        row = LabourRate(
            product_category=rate.product_category, fault_type=rate.fault_type, difficulty=rate.difficulty
        )
        session.add(row)
    row.amount_fen, row.description = rate.amount_fen, rate.description
    session.flush()
    return row


def set_travel_fee(*, session: Session, fee: TravelFeeInput) -> TravelFee:
    """Create or reprice the one fee of that region key."""
    row = session.scalars(sa.select(TravelFee).where(TravelFee.region_key == fee.region_key)).one_or_none()
    if row is None:
        row = TravelFee(region_key=fee.region_key)
        session.add(row)
    row.amount_fen = fee.amount_fen
    session.flush()
    return row


def set_billing_policy(*, session: Session, policy: BillingPolicyInput) -> BillingPolicy:
    """Replace the embedded defaults (or finance's last settings) in the one `default` row."""
    row = session.get(BillingPolicy, "default")
    if row is None:
        row = BillingPolicy(id="default")
        session.add(row)
    row.consent_threshold_fen, row.quote_valid_hours = policy.consent_threshold_fen, policy.quote_valid_hours
    session.flush()
    return row
