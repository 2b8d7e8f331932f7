"""The customer's acceptance: the job's canonical summary (defined once, here), signatures bound to its
hash, the server's seal over each signature, and rework when the customer rejects.

The device computes the same summary offline; `mobile_contracts/acceptance.md` states the algorithm
and `mobile_contracts/acceptance_vectors.json` pins it with test vectors checked against this module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.acceptance.models import Acceptance, AcceptanceOutcome, AcceptanceStatus, Rating, SignerRole
from backend.errors import Problem, conflict, not_found
from backend.evidence.models import Attachment
from backend.kernel.base import utcnow
from backend.kernel.canonical import canonical_hash, canonical_json, sha256_hex
from backend.kernel.permissions import Permission
from backend.kernel.roles import SYSTEM_ROLE
from backend.onsite.models import ServiceRecord
from backend.parts.billing import JobCharges, PartUse, job_charges, job_parts_used
from backend.policy import Principal, can, owns_work_order
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import (
    add_event,
    next_number,
    sla_due,
    transition_work_order,
)
from backend.work_orders.states import Status

SUMMARY_VERSION = 1
# Signers who speak for the customer: their signature decides acceptance or rework.
CUSTOMER_SIDE = frozenset({SignerRole.CUSTOMER, SignerRole.GUARDIAN})
ACCEPTANCE_ACTOR = Principal(role=SYSTEM_ROLE, display_name="acceptance seal")
# A rework counts as done once its customer accepted it.
REWORK_DONE = frozenset({Status.ACCEPTED_BY_CUSTOMER, Status.CLOSED})


# --- the canonical summary --------------------------------------------------------------------------


def summary_hash(summary: dict[str, Any]) -> str:
    return canonical_hash(summary)


def build_summary(
    *,
    order: WorkOrder,
    record: ServiceRecord | None,
    parts: list[PartUse],
    charges: JobCharges,
) -> dict[str, Any]:
    """What the customer signs: the job, the device, the work done, parts, prices, total, warranty."""
    product = order.product
    return {
        "version": SUMMARY_VERSION,
        "currency": "CNY",
        "work_order": {"id": order.id, "number": order.number, "rework_of_id": order.rework_of_id},
        "product": None
        if product is None
        else {
            "category": product.category,
            "brand": product.brand,
            "model": product.model,
            "serial": product.serial,
        },
        "work_done": None if record is None else _work_done(record),
        "parts": [
            {
                "sku": use.sku,
                "name": use.name,
                "serial": use.serial,
                "quantity": use.quantity,
                "unit_price_fen": use.unit_price_fen,
                "warranty_months": use.warranty_months,
                "covered_by_warranty": use.covered_by_warranty,
            }
            for use in parts
        ],
        "charges": {
            "lines": [
                {
                    "kind": line.kind,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price_fen": line.unit_price_fen,
                    "amount_fen": line.amount_fen,
                    "covered_by_warranty": line.covered_by_warranty,
                }
                for line in charges.lines
            ],
            "labour_fen": charges.labour_fen,
            "parts_fen": charges.parts_fen,
            "travel_fen": charges.travel_fen,
            "discount_fen": charges.discount_fen,
            "total_fen": charges.total_fen,
        },
    }


def _work_done(record: ServiceRecord) -> dict[str, Any]:
    return {
        "cause": record.cause,
        "method": record.method,
        "items": list(record.items_done),
        "function_tests": [{"name": t["name"], "passed": bool(t["passed"])} for t in record.function_tests],
        "findings": [
            {"description": f["description"], "consent_id": f.get("consent_id")} for f in record.findings
        ],
    }


def job_summary(*, session: Session, order: WorkOrder) -> dict[str, Any]:
    """The job's summary as the server sees it now."""
    record = session.scalars(
        sa.select(ServiceRecord).where(ServiceRecord.work_order_id == order.id)
    ).one_or_none()
    return build_summary(
        order=order,
        record=record,
        parts=job_parts_used(session=session, work_order_id=order.id),
        charges=job_charges(session=session, work_order_id=order.id),
    )


# --- the seal ----------------------------------------------------------------------------------------


def seal_key(settings: Mapping[str, Any]) -> bytes:
    """The HMAC key that seals acceptance records (`ACCEPTANCE_SEAL_KEY` in the app's settings)."""
    key: str = settings["ACCEPTANCE_SEAL_KEY"]
    return key.encode()


def seal_key_id(key: bytes) -> str:
    """Names the key without revealing it, so a seal made with a rotated-out key is recognisable."""
    return sha256_hex(b"acceptance-seal-key:" + key)[:12]


def _micro_degrees(value: float | None) -> int | None:
    return None if value is None else round(value * 1_000_000)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def seal_payload(acceptance: Acceptance) -> dict[str, Any]:
    """Everything the seal binds: the signed hash, the signer, the outcome, the image and the strokes."""
    return {
        "acceptance_id": acceptance.id,
        "work_order_id": acceptance.work_order_id,
        "summary_sha256": acceptance.summary_sha256,
        "outcome": acceptance.outcome,
        "reason": acceptance.reason,
        "signer_name": acceptance.signer_name,
        "signer_role": acceptance.signer_role,
        "signer_relation": acceptance.signer_relation,
        "signature_sha256": acceptance.signature_sha256,
        "strokes_sha256": sha256_hex(canonical_json(acceptance.strokes)),
        "technician_id": acceptance.technician_id,
        "device_id": acceptance.device_id,
        "device_time": _iso(acceptance.device_time),
        "lat_e6": _micro_degrees(acceptance.lat),
        "lng_e6": _micro_degrees(acceptance.lng),
        "recorded_at": _iso(acceptance.recorded_at),
    }


def compute_seal(acceptance: Acceptance, key: bytes) -> str:
    return hmac.new(key, canonical_json(seal_payload(acceptance)), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SealCheck:
    intact: bool
    problems: list[str]


@dataclass(frozen=True)
class Verification:
    """A seal check as a reader sees it: `signed_details` only for those who may see the job."""

    acceptance: Acceptance
    check: SealCheck
    order: WorkOrder | None
    signature_image: Attachment | None
    signed_details: bool


def verify_acceptance_for(
    *, session: Session, acceptance_id: str, viewer: Principal | None, key: bytes
) -> Verification:
    """Anyone holding the id learns whether the seal is intact; the job's people also what was signed."""
    acceptance = session.get(Acceptance, acceptance_id)
    if acceptance is None:
        raise not_found("acceptance")
    check = verify_acceptance(acceptance, key)
    image = session.get(Attachment, acceptance.signature_attachment_id or "")
    if image is not None and image.sha256 != acceptance.signature_sha256:
        check = SealCheck(False, [*check.problems, "signature_image_mismatch"])
    order = session.get(WorkOrder, acceptance.work_order_id)
    return Verification(
        acceptance=acceptance,
        check=check,
        order=order,
        signature_image=image,
        signed_details=order is not None and viewer is not None and may_read_acceptance(viewer, order),
    )


def may_read_acceptance(principal: Principal, order: WorkOrder) -> bool:
    return can(principal, Permission.ACCEPTANCE_READ) and owns_work_order(principal, order)


def verify_acceptance(acceptance: Acceptance, key: bytes) -> SealCheck:
    """Recompute the seal over the record as stored now; any edit to a bound field breaks it."""
    if acceptance.status != AcceptanceStatus.SEALED or acceptance.seal is None:
        return SealCheck(False, ["not_sealed"])
    problems = []
    if acceptance.seal_key_id != seal_key_id(key):
        problems.append("unknown_key")
    elif not hmac.compare_digest(acceptance.seal, compute_seal(acceptance, key)):
        problems.append("seal_mismatch")
    if summary_hash(acceptance.summary) != acceptance.summary_sha256:
        problems.append("summary_altered")
    return SealCheck(not problems, problems)


# --- recording a signature ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptanceInput:
    """A signature as the device recorded it: who signed which summary hash, and the ink."""

    id: str
    summary_sha256: str
    signer_name: str
    signer_role: str
    outcome: str
    strokes: list[Any]
    signature_attachment_id: str
    signature_sha256: str
    signer_relation: str | None = None
    reason: str | None = None
    device_time: datetime | None = None
    lat: float | None = None
    lng: float | None = None


@dataclass(frozen=True)
class Recorded:
    acceptance: Acceptance
    current_summary: dict[str, Any]
    current_hash: str
    rework: WorkOrder | None


def record_acceptance(
    *,
    session: Session,
    order: WorkOrder,
    actor: Principal,
    signature: AcceptanceInput,
    seal_key: bytes,
    device_id: str | None = None,
) -> Recorded:
    """Keep the signature; seal it when the signed hash is the server's, else keep it as `stale`.

    A sealed customer-side signature moves a completed order to accepted or rejected (with rework).
    """
    existing = session.get(Acceptance, signature.id)
    if existing is not None:
        if existing.work_order_id != order.id:
            raise conflict("acceptance.id_taken", "That acceptance id belongs to another work order.")
        summary = job_summary(session=session, order=order)
        rework = session.get(WorkOrder, existing.rework_order_id) if existing.rework_order_id else None
        return Recorded(existing, summary, summary_hash(summary), rework)
    outcome = signature.outcome
    if outcome == AcceptanceOutcome.REJECT and not (signature.reason or "").strip():
        raise Problem(
            "acceptance.reason_required",
            "A rejection carries the customer's reason.",
            status=422,
            errors={"reason": ["Required when the outcome is reject."]},
        )
    summary = job_summary(session=session, order=order)
    server_hash = summary_hash(summary)
    matches = hmac.compare_digest(signature.summary_sha256, server_hash)
    acceptance = Acceptance(
        id=signature.id,
        work_order_id=order.id,
        technician_id=actor.technician_id,
        status=AcceptanceStatus.SEALED if matches else AcceptanceStatus.STALE,
        outcome=outcome,
        reason=signature.reason,
        signer_name=signature.signer_name,
        signer_role=signature.signer_role,
        signer_relation=signature.signer_relation,
        summary_sha256=signature.summary_sha256,
        server_summary_sha256=server_hash,
        summary=summary,
        strokes=signature.strokes,
        signature_attachment_id=signature.signature_attachment_id,
        signature_sha256=signature.signature_sha256,
        device_id=device_id,
        device_time=signature.device_time,
        lat=signature.lat,
        lng=signature.lng,
        recorded_at=utcnow(),
    )
    if matches:
        acceptance.seal_key_id = seal_key_id(seal_key)
        acceptance.seal = compute_seal(acceptance, seal_key)
        acceptance.sealed_at = acceptance.recorded_at
    session.add(acceptance)
    session.flush()
    add_event(
        session=session,
        order=order,
        kind="acceptance" if matches else "acceptance_stale",
        actor=actor,
        message=_event_message(acceptance),
        data={"acceptance_id": acceptance.id, "status": acceptance.status, "outcome": outcome},
        customer_visible=matches,
        device_time=acceptance.device_time,
    )
    rework = _apply_outcome(session, order, acceptance) if matches else None
    return Recorded(acceptance, summary, server_hash, rework)


def _event_message(acceptance: Acceptance) -> str:
    if acceptance.status == AcceptanceStatus.STALE:
        return f"{acceptance.signer_name} 的签名对应的验收单已变更，需重新签名"
    verb = "验收通过" if acceptance.outcome == AcceptanceOutcome.ACCEPT else "验收不通过"
    return f"{acceptance.signer_name}（{acceptance.signer_role}）签名：{verb}"


def _apply_outcome(session: Session, order: WorkOrder, acceptance: Acceptance) -> WorkOrder | None:
    if acceptance.signer_role not in CUSTOMER_SIDE or order.status != Status.COMPLETED:
        return None
    if acceptance.outcome == AcceptanceOutcome.ACCEPT:
        transition_work_order(
            session=session,
            order=order,
            to_status=Status.ACCEPTED_BY_CUSTOMER,
            actor=ACCEPTANCE_ACTOR,
            device_time=acceptance.device_time,
            data={"acceptance_id": acceptance.id},
        )
        return None
    transition_work_order(
        session=session,
        order=order,
        to_status=Status.REJECTED_BY_CUSTOMER,
        actor=ACCEPTANCE_ACTOR,
        reason=f"验收不通过：{acceptance.reason}",
        device_time=acceptance.device_time,
        data={"acceptance_id": acceptance.id},
    )
    rework = open_rework(session=session, original=order, reason=acceptance.reason or "")
    acceptance.rework_order_id = rework.id
    return rework


def open_rework(*, session: Session, original: WorkOrder, reason: str) -> WorkOrder:
    """A new order linked to the rejected one, back to the same technician (a dispatcher may reassign)."""
    now = utcnow()
    respond_due, resolve_due = sla_due(original.priority, now)
    rework = WorkOrder(
        number=next_number(session=session, prefix="WO", day=now),
        customer_id=original.customer_id,
        product_id=original.product_id,
        address_id=original.address_id,
        region_id=original.region_id,
        partner_id=original.partner_id,
        rework_of_id=original.id,
        service_mode=original.service_mode,
        priority=original.priority,
        hazards=list(original.hazards),
        product_category=original.product_category,
        fault_type=original.fault_type,
        fault_description=f"返修（原单 {original.number}）：{reason}"[:2000],
        complex_job=original.complex_job,
        status=Status.REWORK if original.assignee_id else Status.NEW,
        assignee_id=original.assignee_id,
        assigned_at=now if original.assignee_id else None,
        respond_due_at=respond_due,
        resolve_due_at=resolve_due,
        lat=original.lat,
        lng=original.lng,
    )
    session.add(rework)
    session.flush()
    add_event(
        session=session,
        order=rework,
        kind="created",
        actor=ACCEPTANCE_ACTOR,
        message=f"返修单：原单 {original.number} 验收未通过",
        to_status=rework.status,
        data={"rework_of_id": original.id, "reason": reason},
    )
    add_event(
        session=session,
        order=original,
        kind="rework_opened",
        actor=ACCEPTANCE_ACTOR,
        message=f"已创建返修单 {rework.number}",
        data={"rework_order_id": rework.id},
    )
    return rework


def close_only_after_rework_accepted(
    session: Session, order: WorkOrder, target: Status, actor: Principal
) -> None:
    """An order whose customer rejected it closes only once its rework was accepted."""
    if target != Status.CLOSED:
        return
    reworks = list(session.scalars(sa.select(WorkOrder).where(WorkOrder.rework_of_id == order.id)))
    pending = [r for r in reworks if r.status not in REWORK_DONE]
    if pending:
        raise conflict(
            "acceptance.rework_pending",
            "The rework of this order has not been accepted by the customer yet.",
            rework_order_ids=[r.id for r in pending],
        )
    if order.status == Status.REJECTED_BY_CUSTOMER and not reworks:
        raise conflict(
            "acceptance.rework_required", "The customer rejected this order; it closes through a rework."
        )


def signatures_of(*, work_order_id: str) -> sa.Select[Acceptance]:
    """Every signature on a job, sealed or stale (listed oldest first)."""
    return sa.select(Acceptance).where(Acceptance.work_order_id == work_order_id)


def acceptances_of(*, session: Session, work_order_id: str) -> list[Acceptance]:
    """Every signature on a job, oldest first (the report shows the sealed ones)."""
    stmt = signatures_of(work_order_id=work_order_id).order_by(Acceptance.recorded_at, Acceptance.id)
    return list(session.scalars(stmt))


# --- the customer's rating ---------------------------------------------------------------------------

# A rating follows the customer's acceptance.
RATEABLE = frozenset({Status.ACCEPTED_BY_CUSTOMER, Status.CLOSED})


@dataclass(frozen=True)
class RatingInput:
    """The customer's marks, 1 to 5 each, and an optional comment."""

    attitude: int
    quality: int
    effect: int
    response_speed: int
    comment: str | None = None


def rate_service(*, session: Session, order: WorkOrder, rating: RatingInput) -> Rating:
    """Keep the customer's rating: only once they accepted the job, and only once per job."""
    if order.status not in RATEABLE:
        raise conflict(
            "rating.not_accepted_yet",
            "Rate the service after you accepted it.",
            current_status=order.status,
        )
    if rating_of(session=session, order=order) is not None:
        raise conflict("rating.already_rated", "This order was already rated.")
    row = Rating(
        work_order_id=order.id,
        customer_id=order.customer_id,
        technician_id=order.assignee_id,
        attitude=rating.attitude,
        quality=rating.quality,
        effect=rating.effect,
        response_speed=rating.response_speed,
        comment=rating.comment,
    )
    session.add(row)
    session.flush()
    return row


def rating_of(*, session: Session, order: WorkOrder) -> Rating | None:
    return session.scalars(sa.select(Rating).where(Rating.work_order_id == order.id)).one_or_none()
