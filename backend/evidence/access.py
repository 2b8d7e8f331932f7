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
from backend.kernel.roles import PARTNER_ROLE, Role
from backend.policy import Principal, can
from backend.work_orders.access import visible_requests, visible_work_orders
from backend.work_orders.models import RepairRequest, WorkOrder


def sees_location(principal: Principal) -> bool:
    """Customers and partners get copies without GPS; staff and technicians see where a photo was taken."""
    return principal.is_staff or principal.role == Role.TECHNICIAN


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
    if principal.role in (Role.CUSTOMER, PARTNER_ROLE):
        shared = sa.and_(shared, Attachment.state == AttachmentState.VERIFIED)
    return sa.or_(own, shared)


def get_visible_attachment(session: Session, principal: Principal, attachment_id: str) -> Attachment:
    row = session.scalars(
        sa.select(Attachment).where(Attachment.id == attachment_id, visible_attachments(principal))
    ).one_or_none()
    if row is None:
        raise not_found("attachment")
    return row


def get_own_attachment(session: Session, principal: Principal, attachment_id: str) -> Attachment:
    """Uploads are finished (tickets, completion) by whoever registered them, nobody else."""
    row = session.scalars(
        sa.select(Attachment).where(Attachment.id == attachment_id).with_for_update()
    ).one_or_none()
    if row is None or principal.user_id is None or row.uploaded_by_user_id != principal.user_id:
        raise not_found("attachment")
    return row
