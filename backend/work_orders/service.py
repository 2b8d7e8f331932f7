"""Work orders: numbering, SLA, assignment, the guarded status transitions and the event history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.errors import Problem, conflict, forbidden, not_found
from backend.kernel.base import utcnow
from backend.kernel.china_time import CHINA_TZ
from backend.kernel.registration import installed
from backend.policy import Principal, has_role_in, owns_work_order
from backend.work_orders.models import Counter, Priority, WorkOrder, WorkOrderEvent
from backend.work_orders.states import (
    ASSIGNERS,
    CUSTOMER_LABELS,
    REASSIGNABLE,
    Status,
    allowed_targets,
    is_allowed,
)

# Response and resolution targets by priority (seed 002: emergencies first).
SLA_BY_PRIORITY: dict[str, tuple[timedelta, timedelta]] = {
    Priority.EMERGENCY: (timedelta(hours=1), timedelta(hours=8)),
    Priority.HIGH: (timedelta(hours=4), timedelta(hours=24)),
    Priority.NORMAL: (timedelta(hours=24), timedelta(hours=72)),
    Priority.LOW: (timedelta(hours=48), timedelta(days=7)),
}

# A guard sees a requested transition before it happens and raises a Problem to stop it. Domains
# (safety checklists, quotes, acceptance) declare theirs in `register()`; every transition runs them all.
TransitionGuard = Callable[[Session, WorkOrder, Status, Principal], None]


def next_number(*, session: Session, prefix: str, day: datetime | None = None) -> str:
    """`WO-20261123-0001`: a per-day counter (China date), safe under concurrent writers."""
    local_day = (day or utcnow()).astimezone(CHINA_TZ).strftime("%Y%m%d")
    key = f"{prefix}-{local_day}"
    bump = (
        sa.update(Counter).where(Counter.key == key).values(value=Counter.value + 1).returning(Counter.value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.add(Counter(key=key, value=1))
            value = 1
        except IntegrityError:
            value = session.execute(bump).scalar_one()
    return f"{key}-{value:04d}"


def sla_due(priority: str, start: datetime) -> tuple[datetime, datetime]:
    respond, resolve = SLA_BY_PRIORITY[priority]
    return start + respond, start + resolve


def add_event(
    *,
    session: Session,
    order: WorkOrder,
    kind: str,
    actor: Principal,
    message: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
    customer_visible: bool = True,
    device_time: datetime | None = None,
) -> WorkOrderEvent:
    """Append one line to the order's history; every change to an order writes one.

    The order's pending changes and the event are flushed together, so one change is one version bump.
    """
    with session.no_autoflush:
        last = session.scalar(
            sa.select(sa.func.max(WorkOrderEvent.seq)).where(WorkOrderEvent.work_order_id == order.id)
        )
    event = WorkOrderEvent(
        work_order_id=order.id,
        seq=(last or 0) + 1,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor_user_id=actor.user_id,
        actor_role=actor.role,
        message=message,
        data=data or {},
        customer_visible=customer_visible,
        device_time=device_time,
    )
    session.add(event)
    order.updated_at = utcnow()
    session.flush()
    return event


def check_version(order: WorkOrder, base_version: int | None) -> None:
    if base_version is not None and base_version != order.version:
        raise conflict(
            "work_order.version_mismatch",
            f"The work order is at version {order.version}, not {base_version}; pull and retry.",
            current_version=order.version,
            current_status=order.status,
        )


def transition_work_order(
    *,
    session: Session,
    order: WorkOrder,
    to_status: str,
    actor: Principal,
    reason: str | None = None,
    base_version: int | None = None,
    device_time: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    """Move an order along the state machine, or raise a 409 problem naming the allowed moves."""
    if not owns_work_order(actor, order):
        # Same answer as the API gives for an id outside the caller's scope (sync calls this directly).
        raise not_found("work_order")
    check_version(order, base_version)
    try:
        target = Status(to_status)
    except ValueError:
        raise Problem(
            "work_order.unknown_status",
            f"'{to_status}' is not a work-order status.",
            status=422,
            errors={"to": [f"Must be one of: {', '.join(s.value for s in Status)}."]},
        ) from None
    if not is_allowed(order.status, target, actor.role):
        raise conflict(
            "work_order.illegal_transition",
            f"A {actor.role} cannot move a work order from '{order.status}' to '{target}'.",
            current_status=order.status,
            current_version=order.version,
            allowed=allowed_targets(order.status, actor.role),
        )
    if target == Status.ASSIGNED and order.assignee_id is None:
        raise conflict(
            "work_order.assignee_required",
            "An order is assigned to someone: use POST /work-orders/{id}/assign with the technician.",
            current_status=order.status,
            current_version=order.version,
        )
    for guard in installed().transition_guards:
        guard(session, order, target, actor)
    previous = order.status
    order.status = target
    now = utcnow()
    if target == Status.COMPLETED:
        order.completed_at = now
    elif target == Status.CLOSED:
        order.closed_at = now
    elif target == Status.DECLINED:
        order.assignee_id = None
    event = add_event(
        session=session,
        order=order,
        kind="status",
        actor=actor,
        message=reason or CUSTOMER_LABELS[target],
        from_status=previous,
        to_status=target,
        data=data,
        device_time=device_time,
    )
    return event


def assign_work_order(
    *,
    session: Session,
    order: WorkOrder,
    technician: Technician,
    actor: Principal,
    reason: str | None = None,
    base_version: int | None = None,
) -> WorkOrderEvent:
    """Assign a queued order, or hand an assigned one to another technician (who must accept it)."""
    if not has_role_in(actor, ASSIGNERS):
        raise forbidden("assign work orders")
    check_version(order, base_version)
    if not technician.active:
        raise conflict("technician.inactive", "That technician is not active.")
    previous_tech, previous_status, previous_at = order.assignee_id, order.status, order.assigned_at
    if order.status in (Status.NEW, Status.DECLINED):
        # First assignment (or after a decline): one status move that names the technician.
        order.assignee_id, order.assigned_at = technician.id, utcnow()
        try:
            return transition_work_order(
                session=session,
                order=order,
                to_status=Status.ASSIGNED,
                actor=actor,
                reason=reason,
                data={"technician_id": technician.id, "previous_technician_id": None},
            )
        except Problem:
            order.assignee_id, order.assigned_at = previous_tech, previous_at
            raise
    if order.status in REASSIGNABLE:
        if previous_tech == technician.id:
            raise conflict("work_order.already_assigned", "The order is already assigned to that technician.")
        # The new technician has not accepted yet; a rework stays a rework for whoever does it.
        if order.status != Status.REWORK:
            order.status = Status.ASSIGNED
    else:
        raise conflict(
            "work_order.not_assignable",
            f"An order in '{order.status}' cannot be (re)assigned.",
            current_status=order.status,
            allowed_from=sorted([Status.NEW, Status.DECLINED, *REASSIGNABLE]),
        )
    order.assignee_id = technician.id
    order.assigned_at = utcnow()
    return add_event(
        session=session,
        order=order,
        kind="reassigned" if previous_tech else "assigned",
        actor=actor,
        message=reason or "已改派师傅",
        from_status=previous_status,
        to_status=order.status,
        data={"technician_id": technician.id, "previous_technician_id": previous_tech},
        customer_visible=True,
    )


def decline_work_order(
    *, session: Session, order: WorkOrder, actor: Principal, reason: str
) -> WorkOrderEvent:
    """The technician gives the job back; it returns to the dispatch queue with the reason."""
    event = transition_work_order(
        session=session, order=order, to_status=Status.DECLINED, actor=actor, reason=reason
    )
    event.customer_visible = False
    event.data = {**event.data, "declined_by_technician_id": actor.technician_id}
    return event
