"""Quotes: itemized offers priced from the catalog and fee schedule, and the customer's consent.

A quote's `content_hash` is sha256 over its canonical JSON (`quote_document`: sorted keys, no
whitespace, UTF-8, integers for money). The device computes the same hash offline from its synced
catalog, fee schedule and billing policy, shows the quote, and sends the hash with the consent; a
consent for a quote that differs from what the server holds is a conflict, never silently accepted.

Consent is required (conflict `quote.consent_required`):
- before fitting a part whose unit price is at or above the policy's threshold and that the customer
  pays for (not covered by warranty): an approved quote must include enough of that SKU;
- before working on a new finding: a part used for a finding's quote needs that quote approved, and the
  job cannot resume repair (from awaiting approval) or complete while a finding awaits the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, conflict, not_found
from backend.kernel.base import new_id, utcnow
from backend.kernel.canonical import canonical_hash
from backend.kernel.roles import SYSTEM_ROLE
from backend.parts import pricing
from backend.parts.billing import contract_discount_bp
from backend.parts.billing_models import LineKind, Quote, QuoteConsent, QuoteLine, QuoteStatus
from backend.parts.models import Part, PartUsage
from backend.parts.money import ChargeLine, line_amount, total_charges, yuan_text
from backend.policy import Principal
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import (
    add_event,
    next_number,
    transition_work_order,
)
from backend.work_orders.states import Status

CONSENT_REQUIRED = "quote.consent_required"
SYSTEM = Principal(role=SYSTEM_ROLE, display_name="system")


def invalid(code: str, detail: str, field_name: str) -> Problem:
    return Problem(code, detail, status=422, errors={field_name: [detail]})


# --- pricing a quote ------------------------------------------------------------------------------


def _price_line(
    session: Session, order: WorkOrder, request: LineRequest, cover: pricing.WarrantyCover
) -> tuple[ChargeLine, Part | None]:
    kind = request.kind
    quantity = request.quantity
    if quantity <= 0:
        raise invalid("quote.invalid_quantity", "Quantity must be a positive whole number.", "lines")
    if kind == LineKind.PART:
        part = pricing.catalog_part(session=session, sku=request.sku or "")
        if part is None:
            raise invalid("part.unknown_sku", f"No active part with SKU {request.sku!r}.", "lines")
        covered = cover.part_covered(part.sku)
        price = part.unit_price_fen
        description = f"{part.name} ({part.sku})"
        return ChargeLine(
            "part", description, quantity, price, line_amount(quantity, price, covered=covered), covered
        ), part
    if kind == LineKind.LABOUR:
        difficulty = request.difficulty or pricing.difficulty_of(order)
        rate = pricing.labour_rate(
            session=session,
            product_category=order.product_category,
            fault_type=order.fault_type,
            difficulty=difficulty,
        )
        if rate is None:
            raise invalid(
                "quote.no_labour_rate",
                f"No labour rate for {order.product_category}/{order.fault_type}/{difficulty}.",
                "lines",
            )
        covered = cover.labour_covered
        price = rate.amount_fen
        return ChargeLine(
            "labour",
            rate.description,
            quantity,
            price,
            line_amount(quantity, price, covered=covered),
            covered,
        ), None
    if kind == LineKind.TRAVEL:
        fee = pricing.travel_fee_fen(session=session, region_id=order.region_id)
        if fee is None:
            raise invalid("quote.no_travel_fee", "No travel fee is set for this region.", "lines")
        return ChargeLine("travel", "上门费", 1, fee, fee), None
    raise invalid(
        "quote.invalid_line_kind", f"A quote line is labour, part or travel, not {kind!r}.", "lines"
    )


@dataclass(frozen=True)
class LineRequest:
    """A line the technician asks to quote: labour (at a difficulty), a part by SKU, or travel."""

    kind: str
    quantity: int = 1
    sku: str | None = None
    difficulty: str | None = None


def create_quote(
    *,
    session: Session,
    order: WorkOrder,
    actor: Principal,
    lines: list[LineRequest],
    finding: str | None = None,
    quote_id: str | None = None,
    now: datetime | None = None,
) -> Quote:
    """Price the requested lines (catalog, fee schedule, warranty, contract discount) into a quote."""
    if not lines:
        raise invalid("quote.empty", "A quote needs at least one line.", "lines")
    if order.status in (Status.CLOSED, Status.CANCELLED):
        raise conflict("quote.job_closed", f"The job is {order.status}.", current_status=order.status)
    cover = pricing.warranty_cover(session=session, order=order)
    priced = [_price_line(session, order, request, cover) for request in lines]
    discount_bp = contract_discount_bp(session=session, customer_id=order.customer_id)
    charges = total_charges([line for line, _ in priced], discount_bp=discount_bp)
    moment = now or utcnow()
    policy = pricing.billing_policy(session=session)
    quote = Quote(
        id=quote_id or new_id(),
        work_order_id=order.id,
        number=next_number(session=session, prefix="QT", day=moment),
        status=QuoteStatus.PROPOSED,
        finding=finding,
        in_warranty=cover.product_in_warranty,
        discount_bp=discount_bp,
        subtotal_fen=charges.labour_fen + charges.parts_fen + charges.travel_fen,
        covered_fen=charges.covered_fen,
        discount_fen=charges.discount_fen,
        total_fen=charges.total_fen,
        content_hash="",
        expires_at=moment + timedelta(hours=policy.quote_valid_hours),
        created_by_user_id=actor.user_id,
    )
    parts = [part for _, part in priced] + [None]  # the discount line has no part
    for position, (line, part) in enumerate(zip(charges.lines, parts, strict=False), start=1):
        quote.lines.append(
            QuoteLine(
                work_order_id=order.id,
                position=position,
                kind=line.kind,
                part_id=part.id if part else None,
                sku=part.sku if part else None,
                description=line.description,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
                covered_by_warranty=line.covered_by_warranty,
            )
        )
    quote.content_hash = quote_hash(quote)
    session.add(quote)
    session.flush()
    add_event(
        session=session,
        order=order,
        kind="quote.proposed",
        actor=actor,
        message=f"报价 {quote.number}: ¥{yuan_text(quote.total_fen)}",
        data={"quote_id": quote.id, "total_fen": quote.total_fen, "finding": finding},
    )
    return quote


def quote_document(quote: Quote) -> dict[str, Any]:
    """What the customer is shown and consents to; the input of `content_hash`."""
    return {
        "currency": "CNY",
        "finding": quote.finding,
        "id": quote.id,
        "lines": [
            {
                "amount_fen": line.amount_fen,
                "covered_by_warranty": line.covered_by_warranty,
                "description": line.description,
                "kind": line.kind,
                "quantity": line.quantity,
                "sku": line.sku,
                "unit_price_fen": line.unit_price_fen,
            }
            for line in sorted(quote.lines, key=lambda line: line.position)
        ],
        "covered_fen": quote.covered_fen,
        "discount_fen": quote.discount_fen,
        "subtotal_fen": quote.subtotal_fen,
        "total_fen": quote.total_fen,
        "work_order_id": quote.work_order_id,
    }


def quote_hash(quote: Quote) -> str:
    return canonical_hash(quote_document(quote))


# --- states and consent ---------------------------------------------------------------------------


def quotes_of(*, order: WorkOrder) -> sa.Select[Quote]:
    """A job's quotes (listed oldest first)."""
    return sa.select(Quote).where(Quote.work_order_id == order.id)


def refresh_expiry(quote: Quote, now: datetime | None = None) -> Quote:
    """A proposed quote past its validity is expired (checked whenever a quote is read or decided)."""
    if quote.status == QuoteStatus.PROPOSED and (now or utcnow()) >= quote.expires_at:
        quote.status = QuoteStatus.EXPIRED
    return quote


def record_consent(
    *,
    session: Session,
    quote: Quote,
    decision: str,
    quote_hash_shown: str,
    signer_name: str,
    channel: str,
    actor: Principal,
    consent_id: str | None = None,
    device_id: str | None = None,
    mutation_id: str | None = None,
    device_time: datetime | None = None,
    signature_sha256: str | None = None,
) -> QuoteConsent:
    """The customer approves or declines exactly the quote they were shown (matched by hash)."""
    refresh_expiry(quote)
    if quote.status == QuoteStatus.EXPIRED:
        raise conflict("quote.expired", "The quote has expired; ask for a new one.", **_state(quote))
    if quote.status != QuoteStatus.PROPOSED:
        raise conflict("quote.already_decided", f"The quote was already {quote.status}.", **_state(quote))
    if quote_hash_shown != quote.content_hash:
        raise conflict(
            "quote.hash_mismatch", "The quote shown differs from the quote on record.", **_state(quote)
        )
    if decision not in (QuoteStatus.APPROVED, QuoteStatus.DECLINED):
        raise invalid("quote.invalid_decision", "Decision is approved or declined.", "decision")
    consent = QuoteConsent(
        id=consent_id or new_id(),
        quote_id=quote.id,
        work_order_id=quote.work_order_id,
        decision=decision,
        quote_hash=quote_hash_shown,
        signer_name=signer_name,
        channel=channel,
        user_id=actor.user_id,
        technician_id=actor.technician_id,
        device_id=device_id,
        mutation_id=mutation_id,
        signature_sha256=signature_sha256,
        device_time=device_time,
    )
    quote.consents.append(consent)
    quote.status, quote.decided_at = decision, utcnow()
    session.flush()
    order = session.get(WorkOrder, quote.work_order_id, with_for_update=True)
    assert order is not None
    add_event(
        session=session,
        order=order,
        kind=f"quote.{decision}",
        actor=actor,
        message=f"{signer_name} {'同意' if decision == QuoteStatus.APPROVED else '拒绝'}报价 {quote.number}",
        data={
            "quote_id": quote.id,
            "consent_id": consent.id,
            "quote_hash": quote_hash_shown,
            "channel": channel,
        },
    )
    if order.status == Status.AWAITING_APPROVAL and not _pending_findings(session, order.id):
        transition_work_order(session=session, order=order, to_status=Status.IN_REPAIR, actor=SYSTEM)
    return consent


def _state(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.id,
        "current_status": quote.status,
        "current_hash": quote.content_hash,
        "current_version": quote.version,
    }


def get_quote(*, session: Session, quote_id: str) -> Quote:
    quote = session.get(Quote, quote_id)
    if quote is None:
        raise not_found("quote")
    return refresh_expiry(quote)


# --- consent rules --------------------------------------------------------------------------------


def require_consent_for_part(
    *, session: Session, order: WorkOrder, part: Part, quantity: int, quote_id: str | None = None
) -> None:
    """Raise `quote.consent_required` unless the customer has approved fitting this part."""
    if quote_id is not None:
        quote = session.get(Quote, quote_id)
        if quote is None or quote.work_order_id != order.id:
            raise not_found("quote")
        refresh_expiry(quote)
        if quote.finding and quote.status != QuoteStatus.APPROVED:
            raise conflict(
                CONSENT_REQUIRED,
                "Work on a new finding needs the customer's approval of its quote first.",
                **_state(quote),
            )
    threshold = pricing.billing_policy(session=session).consent_threshold_fen
    if part.unit_price_fen < threshold or pricing.warranty_cover(session=session, order=order).part_covered(
        part.sku
    ):
        return
    approved = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(QuoteLine.quantity), 0))
        .join(Quote, Quote.id == QuoteLine.quote_id)
        .where(
            Quote.work_order_id == order.id,
            Quote.status == QuoteStatus.APPROVED,
            QuoteLine.part_id == part.id,
        )
    )
    used = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PartUsage.quantity), 0)).where(
            PartUsage.work_order_id == order.id, PartUsage.part_id == part.id
        )
    )
    if int(used or 0) + quantity > int(approved or 0):
        raise conflict(
            CONSENT_REQUIRED,
            f"{part.name} ({part.sku}) costs ¥{yuan_text(part.unit_price_fen)}, at or above the "
            f"¥{yuan_text(threshold)} threshold: the customer must approve a quote for it first.",
            sku=part.sku,
            approved_quantity=int(approved or 0),
            used_quantity=int(used or 0),
            threshold_fen=threshold,
        )


def _pending_findings(session: Session, work_order_id: str) -> list[Quote]:
    pending = session.scalars(
        sa.select(Quote).where(
            Quote.work_order_id == work_order_id,
            Quote.status == QuoteStatus.PROPOSED,
            Quote.finding.is_not(None),
        )
    )
    return [quote for quote in pending if refresh_expiry(quote).status == QuoteStatus.PROPOSED]


def findings_need_a_decision(session: Session, order: WorkOrder, target: Status, actor: Principal) -> None:
    """No resuming repair after a new finding, nor completing, while its quote awaits the customer."""
    resuming = order.status == Status.AWAITING_APPROVAL and target == Status.IN_REPAIR
    if not (resuming or target == Status.COMPLETED):
        return
    pending = _pending_findings(session, order.id)
    if pending:
        raise conflict(
            CONSENT_REQUIRED,
            "A new finding's quote awaits the customer's decision.",
            pending_quote_ids=[quote.id for quote in pending],
        )
