"""Who sees which attachment, built from the policy's row scopes (`backend.policy`).

Staff see all; a technician the evidence of their jobs (and of the requests those jobs came from);
customers and partners their own orders' and requests' verified evidence; an uploader their own
uploads in every state. Everything else is "not found".
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import not_found
from backend.evidence.models import Attachment, AttachmentState
from backend.kernel.permissions import Permission
from backend.policy import (
    Principal,
    adds_evidence_to_job,
    adds_evidence_to_requests,
    can,
    sees_unverified_evidence,
)
from backend.work_orders.access import (
    get_visible_request,
    get_visible_work_order,
    visible_requests,
    visible_work_orders,
)
from backend.work_orders.models import RepairRequest, WorkOrder


def visible_attachments(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_staff:
        return sa.true()
    orders = sa.select(WorkOrder.id).where(visible_work_orders(principal))
    order_requests = sa.select(WorkOrder.request_id).where(
        visible_work_orders(principal), WorkOrder.request_id.is_not(None)
    )
    clauses: list[sa.ColumnElement[bool]] = [
        Attachment.work_order_id.in_(orders),
        Attachment.request_id.in_(order_requests),
    ]
    if can(principal, Permission.REQUEST_READ):
        clauses.append(
            Attachment.request_id.in_(sa.select(RepairRequest.id).where(visible_requests(principal)))
        )
    own = Attachment.uploaded_by_user_id == principal.user_id if principal.user_id else sa.false()
    shared = sa.or_(*clauses)
    if not sees_unverified_evidence(principal):
        shared = sa.and_(shared, Attachment.state == AttachmentState.VERIFIED)
    return sa.or_(own, shared)


def get_visible_attachment(*, session: Session, principal: Principal, attachment_id: str) -> Attachment:
    row = session.scalars(
        sa.select(Attachment).where(Attachment.id == attachment_id, visible_attachments(principal))
    ).one_or_none()
    if row is None:
        raise not_found("attachment")
    return row


def get_own_attachment(*, session: Session, principal: Principal, attachment_id: str) -> Attachment:
    """Uploads are finished (tickets, completion) by whoever registered them, nobody else."""
    row = session.scalars(
        sa.select(Attachment).where(Attachment.id == attachment_id).with_for_update()
    ).one_or_none()
    if row is None or principal.user_id is None or row.uploaded_by_user_id != principal.user_id:
        raise not_found("attachment")
    return row


def check_evidence_owner(
    *, session: Session, principal: Principal, work_order_id: str | None, request_id: str | None
) -> None:
    """404 unless the caller may add evidence to the job or the request (exactly one is given)."""
    if request_id is not None:
        if not adds_evidence_to_requests(principal):
            raise not_found("repair_request")
        get_visible_request(session=session, principal=principal, request_id=request_id)
        return
    assert work_order_id is not None
    order = get_visible_work_order(
        session=session, principal=principal, work_order_id=work_order_id, lock=True
    )
    if not adds_evidence_to_job(principal, order):
        raise not_found("work_order")
