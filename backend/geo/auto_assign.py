"""Auto-assignment by per-region rules, and the job that re-queues declined or unaccepted orders.

A new order in a region whose rule is on goes to the nearest (or least loaded) eligible technician
within the rule's radius. An order not accepted within the rule's timeout is declined by the system;
every decline (by the technician or by the timeout) notifies the region's team lead and the order goes
back through the queue, emergencies first, never again to a technician who gave it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.geo.candidates import Candidate, search_candidates
from backend.geo.eligibility import job_facts
from backend.geo.models import AssignmentStrategy, AutoAssignRule, DispatchNotification, NotificationKind
from backend.geo.settings import DispatchSettings
from backend.kernel.base import utcnow
from backend.kernel.roles import SYSTEM_ROLE
from backend.policy import Principal
from backend.work_orders.models import Priority, WorkOrder, WorkOrderEvent
from backend.work_orders.service import assign_work_order, transition_work_order
from backend.work_orders.states import Status

DISPATCHER_BOT = Principal(role=SYSTEM_ROLE, display_name="自动派单")
QUEUED = (Status.NEW, Status.DECLINED)
# Emergencies jump the queue; then the earliest response deadline.
PRIORITY_ORDER = sa.case(
    (WorkOrder.priority == Priority.EMERGENCY, 0),
    (WorkOrder.priority == Priority.HIGH, 1),
    (WorkOrder.priority == Priority.NORMAL, 2),
    else_=3,
)
AUTO_CANDIDATES = 50


def rule_for(*, session: Session, region_id: str | None) -> AutoAssignRule | None:
    if region_id is None:
        return None
    return session.scalars(
        sa.select(AutoAssignRule).where(AutoAssignRule.region_id == region_id)
    ).one_or_none()


def returned_by(*, session: Session, order: WorkOrder) -> frozenset[str]:
    """Technicians who declined this order or let it time out: never offered it again automatically."""
    rows = session.scalars(
        sa.select(WorkOrderEvent.data).where(
            WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.to_status == Status.DECLINED
        )
    )
    out = set()
    for data in rows:
        for key in ("declined_by_technician_id", "timed_out_technician_id"):
            if data and data.get(key):
                out.add(data[key])
    return frozenset(out)


def _pick(candidates: list[Candidate], strategy: str) -> Candidate:
    if strategy == AssignmentStrategy.LEAST_LOADED:
        return min(
            candidates,
            key=lambda c: (c.facts.load / max(c.facts.daily_capacity, 1), c.distance_km, c.technician_id),
        )
    return min(candidates, key=lambda c: (c.distance_km, -c.score, c.technician_id))


def auto_assign(
    *,
    session: Session,
    order: WorkOrder,
    settings: DispatchSettings | None = None,
    now: datetime | None = None,
) -> WorkOrderEvent | None:
    """Apply the region's rule to a queued order; None when no rule applies or nobody is eligible."""
    settings = settings or DispatchSettings.from_config()
    rule = rule_for(session=session, region_id=order.region_id)
    if rule is None or not rule.enabled or order.status not in QUEUED or order.lat is None:
        return None
    job = job_facts(order, now)
    result = search_candidates(
        session=session,
        job=job,
        settings=settings,
        limit=AUTO_CANDIDATES,
        max_radius_km=rule.radius_km,
        exclude_ids=returned_by(session=session, order=order),
        now=now,
        rank="distance" if rule.strategy == AssignmentStrategy.NEAREST else "score",
    )
    if not result.candidates:
        _notify_no_candidate(session, order, rule)
        return None
    pick = _pick(result.candidates, rule.strategy)
    technician = session.get(Technician, pick.technician_id)
    assert technician is not None
    event = assign_work_order(
        session=session,
        order=order,
        technician=technician,
        actor=DISPATCHER_BOT,
        reason=f"自动派单（{'就近' if rule.strategy == AssignmentStrategy.NEAREST else '负载最低'}）",
    )
    event.data = {
        **event.data,
        "auto": True,
        "strategy": rule.strategy,
        "distance_km": round(pick.distance_km, 3),
        "score": pick.score,
    }
    return event


def _notify(
    session: Session,
    order: WorkOrder,
    kind: str,
    message: str,
    rule: AutoAssignRule | None,
    event: WorkOrderEvent | None = None,
) -> DispatchNotification:
    note = DispatchNotification(
        kind=kind,
        work_order_id=order.id,
        region_id=order.region_id,
        recipient_user_id=rule.team_lead_user_id if rule else None,
        event_id=event.id if event else None,
        message=message,
    )
    session.add(note)
    session.flush()
    return note


def _notify_no_candidate(session: Session, order: WorkOrder, rule: AutoAssignRule) -> None:
    """Once until read: the lead already knows the order waits for a human decision."""
    unread = session.scalar(
        sa.select(sa.func.count()).where(
            DispatchNotification.work_order_id == order.id,
            DispatchNotification.kind == NotificationKind.NO_CANDIDATE,
            DispatchNotification.read_at.is_(None),
        )
    )
    if not unread:
        _notify(
            session,
            order,
            NotificationKind.NO_CANDIDATE,
            f"工单 {order.number} 在 {rule.radius_km:g} 公里内没有可派的师傅，请人工派单。",
            rule,
        )


def time_out_unaccepted(*, session: Session, settings: DispatchSettings, now: datetime) -> list[WorkOrder]:
    """Assigned orders nobody accepted within their region's timeout are declined by the system."""
    rules = {r.region_id: r for r in session.scalars(sa.select(AutoAssignRule))}
    shortest = min([settings.accept_timeout_minutes, *(r.accept_timeout_minutes for r in rules.values())])
    stale = session.scalars(
        sa.select(WorkOrder)
        .where(
            WorkOrder.status == Status.ASSIGNED, WorkOrder.assigned_at <= now - timedelta(minutes=shortest)
        )
        .order_by(WorkOrder.assigned_at)
        .with_for_update(skip_locked=True)
    ).all()
    timed_out = []
    for order in stale:
        rule = rules.get(order.region_id or "")
        minutes = rule.accept_timeout_minutes if rule else settings.accept_timeout_minutes
        if order.assigned_at is None or order.assigned_at > now - timedelta(minutes=minutes):
            continue
        technician_id = order.assignee_id
        event = transition_work_order(
            session=session,
            order=order,
            to_status=Status.DECLINED,
            actor=DISPATCHER_BOT,
            reason=f"{minutes} 分钟内未接单，退回派单队列",
        )
        event.customer_visible = False
        event.data = {**event.data, "timed_out_technician_id": technician_id, "timeout_minutes": minutes}
        timed_out.append(order)
    session.flush()
    return timed_out


def notify_declines(*, session: Session) -> int:
    """One notification per decline event (technician's or timeout), addressed to the region's lead."""
    noted = sa.select(DispatchNotification.event_id).where(DispatchNotification.event_id.is_not(None))
    rows = session.execute(
        sa.select(WorkOrderEvent, WorkOrder)
        .join(WorkOrder, WorkOrder.id == WorkOrderEvent.work_order_id)
        .where(
            WorkOrderEvent.to_status == Status.DECLINED,
            WorkOrder.status == Status.DECLINED,
            WorkOrderEvent.id.not_in(noted),
        )
        .order_by(WorkOrderEvent.created_at)
    ).all()
    for event, order in rows:
        timed_out = bool(event.data and event.data.get("timed_out_technician_id"))
        kind = NotificationKind.ACCEPT_TIMEOUT if timed_out else NotificationKind.DECLINED
        why = "超时未接单" if timed_out else f"师傅拒单：{event.message or ''}"
        _notify(
            session,
            order,
            kind,
            f"工单 {order.number} 已退回派单队列（{why}）。",
            rule_for(session=session, region_id=order.region_id),
            event,
        )
    return len(rows)


def drain_queue(*, session: Session, settings: DispatchSettings, now: datetime, limit: int = 200) -> int:
    """Offer queued orders of auto-assigning regions again, emergencies first."""
    enabled = sa.select(AutoAssignRule.region_id).where(AutoAssignRule.enabled.is_(True))
    queued = session.scalars(
        sa.select(WorkOrder)
        .where(WorkOrder.status.in_(QUEUED), WorkOrder.region_id.in_(enabled))
        .order_by(PRIORITY_ORDER, WorkOrder.respond_due_at.asc().nulls_last(), WorkOrder.created_at)
        .limit(limit)
    ).all()
    assigned = 0
    for order in queued:
        if auto_assign(session=session, order=order, settings=settings, now=now) is not None:
            assigned += 1
    return assigned


def run_dispatch_timeouts(
    *, session: Session, settings: DispatchSettings | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The periodic job (`repairops dispatch-timeouts`, every minute): time out, notify, re-dispatch."""
    settings = settings or DispatchSettings.from_config()
    now = now or utcnow()
    timed_out = time_out_unaccepted(session=session, settings=settings, now=now)
    notified = notify_declines(session=session)
    reassigned = drain_queue(session=session, settings=settings, now=now)
    return {"timed_out": len(timed_out), "notified": notified, "reassigned": reassigned}
