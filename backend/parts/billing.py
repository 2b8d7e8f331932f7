"""Settlement: what a job costs (approved quotes + parts actually used), bills, payments, reconciliation.

`job_parts_used` and `job_charges` are the one derivation of a job's parts and price; the acceptance
summary, the settlement bill and the customer's view all call them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.customers import Customer
from backend.errors import Problem, conflict, not_found
from backend.kernel.base import utcnow
from backend.kernel.china_time import china_day_bounds
from backend.parts import pricing
from backend.parts.billing_models import (
    ONLINE_METHODS,
    Bill,
    BillLine,
    LineKind,
    Payment,
    PaymentMethod,
    Quote,
    QuoteLine,
    QuoteStatus,
)
from backend.parts.models import PartUsage
from backend.parts.money import ChargeLine, JobCharges, line_amount, total_charges
from backend.policy import Principal
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import next_number
from backend.work_orders.states import Status

__all__ = [
    "ChargeLine",
    "JobCharges",
    "PartUse",
    "bill_balance",
    "bill_for_update",
    "get_bill",
    "issue_bill",
    "job_charges",
    "job_parts_used",
    "payment_for_refund",
    "reconciliation",
    "record_payment",
    "record_refund",
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


def job_parts_used(*, session: Session, work_order_id: str) -> list[PartUse]:
    """Parts fitted on the job, priced as quoted (else at the catalog price when used), sorted by SKU."""
    order = _order(session, work_order_id)
    cover = pricing.warranty_cover(session=session, order=order)
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


def job_charges(*, session: Session, work_order_id: str) -> JobCharges:
    """The bill of a job: labour and travel as approved (else from the fee schedule), parts as used,
    warranty cover, and the contract discount applied once."""
    order = _order(session, work_order_id)
    cover = pricing.warranty_cover(session=session, order=order)
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
        for use in job_parts_used(session=session, work_order_id=work_order_id)
    ]
    lines += _travel_lines(session, order, approved)
    return total_charges(
        lines, discount_bp=contract_discount_bp(session=session, customer_id=order.customer_id)
    )


def contract_discount_bp(*, session: Session, customer_id: str) -> int:
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
            session=session,
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
        fee = pricing.travel_fee_fen(session=session, region_id=order.region_id)
        if fee is None:
            return []
        price = fee
    return [
        ChargeLine(kind="travel", description="上门费", quantity=1, unit_price_fen=price, amount_fen=price)
    ]


# --- settlement bills -----------------------------------------------------------------------------

BILLABLE = frozenset({Status.COMPLETED, Status.ACCEPTED_BY_CUSTOMER, Status.CLOSED})


@dataclass(frozen=True)
class BillBalance:
    paid_fen: int
    refunded_fen: int
    outstanding_fen: int
    state: str  # unpaid | partially_paid | paid | void


def bill_balance(bill: Bill) -> BillBalance:
    paid = sum(p.amount_fen for p in bill.payments if p.kind == PAYMENT)
    refunded = sum(p.amount_fen for p in bill.payments if p.kind == REFUND)
    net = paid - refunded
    outstanding = bill.total_fen - net
    if bill.status == "void":
        state = "void"
    elif outstanding <= 0:
        state = "paid"
    elif net > 0:
        state = "partially_paid"
    else:
        state = "unpaid"
    return BillBalance(paid, refunded, outstanding, state)


def current_bill(*, session: Session, work_order_id: str) -> Bill | None:
    return session.scalars(
        sa.select(Bill).where(Bill.work_order_id == work_order_id, Bill.open_key.is_not(None))
    ).one_or_none()


def get_bill(*, session: Session, bill_id: str) -> Bill:
    bill = session.get(Bill, bill_id)
    if bill is None:
        raise not_found("bill")
    return bill


def bill_for_update(*, session: Session, bill_id: str) -> Bill:
    """The bill, locked until commit: payments against one bill are recorded one at a time."""
    bill = session.get(Bill, bill_id, with_for_update=True)
    if bill is None:
        raise not_found("bill")
    return bill


def payment_for_refund(*, session: Session, payment_id: str) -> Payment:
    """The payment, with its bill locked until commit so that two refunds cannot both fit."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise not_found("payment")
    session.get(Bill, payment.bill_id, with_for_update=True)
    return payment


def issue_bill(*, session: Session, order: WorkOrder, actor: Principal) -> Bill:
    """Freeze `job_charges` into the job's settlement bill. Reissuing replaces an unpaid bill whose
    figures changed; a bill with payments on it is never silently replaced."""
    if order.status not in BILLABLE:
        raise conflict(
            "bill.job_not_finished",
            f"A job is billed once the repair is completed, not in '{order.status}'.",
            current_status=order.status,
        )
    charges = job_charges(session=session, work_order_id=order.id)
    existing = current_bill(session=session, work_order_id=order.id)
    if existing is not None:
        if _same_figures(existing, charges):
            return existing
        if existing.payments:
            raise conflict(
                "bill.has_payments",
                "The job's charges changed but its bill has payments; refund them before reissuing.",
                bill_id=existing.id,
            )
        existing.status, existing.open_key = "void", None
        session.flush()
    bill = Bill(
        work_order_id=order.id,
        customer_id=order.customer_id,
        number=next_number(session=session, prefix="BL"),
        status="open",
        open_key=order.id,
        labour_fen=charges.labour_fen,
        parts_fen=charges.parts_fen,
        travel_fen=charges.travel_fen,
        discount_fen=charges.discount_fen,
        total_fen=charges.total_fen,
        issued_by_user_id=actor.user_id,
    )
    for position, line in enumerate(charges.lines, start=1):
        bill.lines.append(
            BillLine(
                position=position,
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
                covered_by_warranty=line.covered_by_warranty,
            )
        )
    session.add(bill)
    session.flush()
    return bill


def _same_figures(bill: Bill, charges: JobCharges) -> bool:
    ours = [(x.kind, x.description, x.quantity, x.unit_price_fen, x.amount_fen) for x in bill.lines]
    theirs = [(x.kind, x.description, x.quantity, x.unit_price_fen, x.amount_fen) for x in charges.lines]
    return ours == theirs and bill.total_fen == charges.total_fen


# --- payments and refunds -------------------------------------------------------------------------

PAYMENT = "payment"
REFUND = "refund"


def record_payment(
    *,
    session: Session,
    bill: Bill,
    method: str,
    amount_fen: int,
    actor: Principal,
    reference: str | None = None,
    received_at: datetime | None = None,
) -> Payment:
    """Money received against a bill, in full or in part; never more than is outstanding."""
    if method not in PaymentMethod.__members__.values():
        raise _invalid("payment.invalid_method", f"Unknown payment method {method!r}.", "method")
    if amount_fen <= 0:
        raise _invalid("payment.invalid_amount", "The amount must be a positive number of fen.", "amount_fen")
    if (method in ONLINE_METHODS or method == PaymentMethod.BANK_TRANSFER) and not reference:
        raise _invalid(
            "payment.reference_required",
            "Online payments and bank transfers need the provider's or bank's reference.",
            "reference",
        )
    if bill.status == "void":
        raise conflict("bill.void", "This bill was replaced; pay the job's current bill.")
    outstanding = bill_balance(bill).outstanding_fen
    if amount_fen > outstanding:
        raise conflict(
            "payment.exceeds_outstanding",
            f"Only {outstanding} fen are outstanding on this bill.",
            outstanding_fen=outstanding,
        )
    _unique_reference(session, method, reference)
    payment = Payment(
        bill_id=bill.id,
        work_order_id=bill.work_order_id,
        kind=PAYMENT,
        method=method,
        amount_fen=amount_fen,
        reference=reference,
        recorded_by_user_id=actor.user_id,
        received_at=received_at or utcnow(),
    )
    bill.payments.append(payment)
    session.flush()
    return payment


def record_refund(
    *,
    session: Session,
    payment: Payment,
    amount_fen: int,
    reason: str,
    actor: Principal,
    reference: str | None = None,
    refunded_at: datetime | None = None,
) -> Payment:
    """Money back to the customer, by the original method, never more than that payment still holds."""
    if payment.kind != PAYMENT:
        raise conflict("refund.not_a_payment", "Refunds are made against a payment.")
    if amount_fen <= 0:
        raise _invalid("payment.invalid_amount", "The amount must be a positive number of fen.", "amount_fen")
    already = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_fen), 0)).where(
            Payment.refund_of_id == payment.id
        )
    )
    refundable = payment.amount_fen - int(already or 0)
    if amount_fen > refundable:
        raise conflict(
            "refund.exceeds_payment",
            f"Only {refundable} fen of this payment can still be refunded.",
            refundable_fen=refundable,
        )
    _unique_reference(session, payment.method, reference)
    refund = Payment(
        bill_id=payment.bill_id,
        work_order_id=payment.work_order_id,
        kind=REFUND,
        method=payment.method,
        amount_fen=amount_fen,
        reference=reference,
        refund_of_id=payment.id,
        reason=reason,
        recorded_by_user_id=actor.user_id,
        received_at=refunded_at or utcnow(),
    )
    payment.bill.payments.append(refund)
    session.flush()
    return refund


def _unique_reference(session: Session, method: str, reference: str | None) -> None:
    if reference and session.scalar(
        sa.select(Payment.id).where(Payment.method == method, Payment.reference == reference)
    ):
        raise conflict(
            "payment.duplicate_reference", f"A {method} record with reference {reference} exists already."
        )


def _invalid(code: str, detail: str, field_name: str) -> Problem:
    return Problem(code, detail, status=422, errors={field_name: [detail]})


# --- reconciliation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodTotals:
    method: str
    payments_count: int
    payments_fen: int
    refunds_count: int
    refunds_fen: int
    net_fen: int


@dataclass(frozen=True)
class Reconciliation:
    day: date
    methods: list[MethodTotals]
    payments_fen: int
    refunds_fen: int
    net_fen: int
    entries: list[Payment]


def reconciliation(*, session: Session, day: date) -> Reconciliation:
    """Money in and out on one business day (China time), per payment method, with every entry."""
    start, end = china_day_bounds(day)
    entries = list(
        session.scalars(
            sa.select(Payment)
            .where(Payment.received_at >= start, Payment.received_at < end)
            .order_by(Payment.received_at, Payment.id)
        )
    )
    methods = []
    for method in PaymentMethod:
        mine = [p for p in entries if p.method == method]
        paid = [p.amount_fen for p in mine if p.kind == PAYMENT]
        refunded = [p.amount_fen for p in mine if p.kind == REFUND]
        methods.append(
            MethodTotals(
                method, len(paid), sum(paid), len(refunded), sum(refunded), sum(paid) - sum(refunded)
            )
        )
    payments_fen = sum(m.payments_fen for m in methods)
    refunds_fen = sum(m.refunds_fen for m in methods)
    return Reconciliation(day, methods, payments_fen, refunds_fen, payments_fen - refunds_fen, entries)
