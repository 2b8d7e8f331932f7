"""Which work orders and repair requests a caller sees: the policy's row scope on this domain's columns.

A row outside the scope is not found (404), never forbidden, so ids cannot be probed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, not_found
from backend.policy import Principal, row_scope, sees_internal_events
from backend.work_orders.models import RepairRequest, WorkOrder, WorkOrderEvent


def visible_work_orders(principal: Principal) -> sa.ColumnElement[bool]:
    """A WHERE clause limiting work orders to the caller's scope."""
    scope = row_scope(principal)
    if scope.everything:
        return sa.true()
    # A missing profile id must match nothing: `column == None` would render IS NULL and match plenty.
    if scope.technician_id:
        return WorkOrder.assignee_id == scope.technician_id
    if scope.customer_id:
        return WorkOrder.customer_id == scope.customer_id
    if scope.partner_id:
        return WorkOrder.partner_id == scope.partner_id
    return sa.false()


def visible_requests(principal: Principal) -> sa.ColumnElement[bool]:
    """Requests are read by staff, the customer who filed them and the partner that sent them."""
    scope = row_scope(principal, system_sees_all=False)
    if scope.everything:
        return sa.true()
    if scope.customer_id:
        return RepairRequest.customer_id == scope.customer_id
    if scope.partner_id:
        return RepairRequest.partner_id == scope.partner_id
    return sa.false()


def get_visible_work_order(
    *, session: Session, principal: Principal, work_order_id: str, lock: bool = False
) -> WorkOrder:
    stmt = sa.select(WorkOrder).where(WorkOrder.id == work_order_id, visible_work_orders(principal))
    if lock:
        stmt = stmt.with_for_update()
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise not_found("work_order")
    return order


def get_visible_request(*, session: Session, principal: Principal, request_id: str) -> RepairRequest:
    row = session.scalars(
        sa.select(RepairRequest).where(RepairRequest.id == request_id, visible_requests(principal))
    ).one_or_none()
    if row is None:
        raise not_found("repair_request")
    return row


def history_of(*, order: WorkOrder, principal: Principal) -> sa.Select[WorkOrderEvent]:
    """The job's events the caller may read: staff and technicians every line, customers and partners
    the customer-visible ones (listed oldest first, by `seq`)."""
    stmt = sa.select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order.id)
    if not sees_internal_events(principal):
        stmt = stmt.where(WorkOrderEvent.customer_visible.is_(True))
    return stmt


def get_visible_work_order_of(
    *, session: Session, principal: Principal, work_order_id: str, what: str
) -> WorkOrder:
    """For a row hanging off a job (a quote, a bill): its job if visible, else `what` is not found."""
    try:
        return get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
    except Problem:
        raise not_found(what) from None
