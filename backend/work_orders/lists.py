"""The lists of work orders and requests people read: the dispatch queue, a technician's jobs, a
customer's orders; each limited to the caller's scope (`access`) before any filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from backend.accounts.technicians import Technician
from backend.errors import not_found
from backend.policy import Principal
from backend.work_orders.access import visible_requests, visible_work_orders
from backend.work_orders.models import RepairRequest, WorkOrder


@dataclass(frozen=True)
class OrderFilter:
    """What a list of work orders is narrowed to; a field left None (or empty) does not filter."""

    statuses: tuple[str, ...] = ()
    region_id: str | None = None
    technician_id: str | None = None
    priority: str | None = None
    unassigned: bool = False
    created_from: datetime | None = None
    created_to: datetime | None = None


def work_orders_query(*, principal: Principal, narrowed: OrderFilter) -> sa.Select[WorkOrder]:
    """The work orders the caller may see, narrowed (listed newest first by the caller's pager)."""
    stmt = sa.select(WorkOrder).where(visible_work_orders(principal))
    if narrowed.statuses:
        stmt = stmt.where(WorkOrder.status.in_(narrowed.statuses))
    if narrowed.region_id is not None:
        stmt = stmt.where(WorkOrder.region_id == narrowed.region_id)
    if narrowed.technician_id is not None:
        stmt = stmt.where(WorkOrder.assignee_id == narrowed.technician_id)
    if narrowed.priority is not None:
        stmt = stmt.where(WorkOrder.priority == narrowed.priority)
    if narrowed.unassigned:
        stmt = stmt.where(WorkOrder.assignee_id.is_(None))
    if narrowed.created_from is not None:
        stmt = stmt.where(WorkOrder.created_at >= narrowed.created_from)
    if narrowed.created_to is not None:
        stmt = stmt.where(WorkOrder.created_at < narrowed.created_to)
    return stmt


def requests_query(*, principal: Principal, status: str | None = None) -> sa.Select[RepairRequest]:
    """The repair requests the caller may see, optionally in one status."""
    stmt = sa.select(RepairRequest).where(visible_requests(principal))
    if status is not None:
        stmt = stmt.where(RepairRequest.status == status)
    return stmt


def tracked_orders(*, principal: Principal) -> sa.Select[WorkOrder]:
    """A customer's orders with their technician loaded (the tracking page names who is coming)."""
    return (
        sa.select(WorkOrder)
        .where(visible_work_orders(principal))
        .options(selectinload(WorkOrder.assignee).joinedload(Technician.user))
    )


def tracked_order(*, session: Session, principal: Principal, work_order_id: str) -> WorkOrder:
    """One of the caller's orders with its history loaded; anyone else's is not found."""
    stmt = (
        tracked_orders(principal=principal)
        .where(WorkOrder.id == work_order_id)
        .options(selectinload(WorkOrder.events))
    )
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise not_found("work_order")
    return order
