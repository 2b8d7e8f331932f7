"""Helpers for mutation handlers: the job a field fact belongs to, and a row's server state.

Field facts (notes, parts used and returned, quotes and consents, photos, check-ins, checklists,
service records, signatures) are never lost: a technician who was assigned the job keeps pushing facts
about it after it moved on; they are applied and flagged for the dispatcher with one of two codes:

- `work_order.reassigned_meanwhile`: the job is no longer theirs (reassigned, or they declined it);
- `work_order.no_longer_active`: still theirs but closed or cancelled (out of their device's scope).

A job that was never theirs is not found (404). `work_order_for_field_fact` is the one place every
field-fact handler finds its job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import not_found
from backend.policy import Principal
from backend.sync.entities import entity_for
from backend.sync.models import SyncChange
from backend.sync.registry import MutationContext
from backend.sync.scope import scope_owner
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from backend.work_orders.states import Status

REASSIGNED_MEANWHILE = "work_order.reassigned_meanwhile"
NO_LONGER_ACTIVE = "work_order.no_longer_active"
ASSIGNMENT_EVENTS = ("assigned", "reassigned")
# The event data keys that name a technician a job was handed to, taken from, or given back by.
_HANDOVER_KEYS = ("technician_id", "previous_technician_id", "declined_by_technician_id")
_LOCKED = "repairops.sync.locked_work_orders"


def lock_work_orders(*, session: Session, work_order_ids: Iterable[str], technician_id: str | None) -> None:
    """Row-lock, in id order and in one query, the technician's jobs among `work_order_ids` (a push
    does it for the jobs its batch names): `work_order_for_field_fact` then finds them locked and
    loaded instead of asking again per mutation. Held until the transaction ends."""
    ids = sorted(set(work_order_ids))
    if not ids or technician_id is None:
        return
    stmt = (
        sa.select(WorkOrder)
        .where(WorkOrder.id.in_(ids), WorkOrder.assignee_id == technician_id)
        .order_by(WorkOrder.id)
        .with_for_update()
    )
    _locked(session).update((order.id, order) for order in session.scalars(stmt))


def lock_pushed_jobs(session: Session, principal: Principal, pushed_args: list[dict[str, Any]]) -> None:
    """Before a push applies: row-lock the pushing technician's jobs its mutations name."""
    ids = {
        job
        for args in pushed_args
        if isinstance(job := args.get("work_order_id"), str) and 0 < len(job) <= 36
    }
    lock_work_orders(session=session, work_order_ids=ids, technician_id=principal.technician_id)


def _locked(session: Session) -> dict[str, WorkOrder]:
    """Work orders row-locked by `lock_work_orders` in the session's current transaction (held here
    too: the session's identity map alone would let them go)."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, {})
    locked: dict[str, WorkOrder] = held[1]
    return locked


def locked_in_scope(ctx: MutationContext, work_order_id: str) -> WorkOrder | None:
    """The job if this push locked it and it is in the technician's scope (a field fact about it needs
    no flag); None otherwise (then `work_order_for_field_fact` decides)."""
    order = _locked(ctx.session).get(work_order_id)
    if order is None or not sa.inspect(order).persistent:
        return None
    if scope_owner(order.assignee_id, order.status) != ctx.principal.technician_id:
        return None
    return order


def job_version(order: WorkOrder) -> dict[str, Any]:
    """How a mutation's result names the job it touched: its id, new version and status (echo)."""
    return {"id": order.id, "version": order.version, "status": order.status}


def work_order_for_field_fact(ctx: MutationContext, work_order_id: str) -> WorkOrder:
    """The job (row-locked), flagged when it is no longer in the pushing technician's scope."""
    technician_id = ctx.principal.technician_id
    session = ctx.session
    order = _locked(session).get(work_order_id)
    if order is None or not sa.inspect(order).persistent:
        order = session.scalars(
            sa.select(WorkOrder).where(WorkOrder.id == work_order_id).with_for_update()
        ).one_or_none()
    if order is None or technician_id is None:
        raise not_found("work_order")
    if scope_owner(order.assignee_id, order.status) == technician_id:
        return order
    if order.assignee_id != technician_id and not was_assigned_to(
        session=session, work_order_id=order.id, technician_id=technician_id
    ):
        raise not_found("work_order")
    reassigned = order.assignee_id != technician_id
    ctx.flag(
        REASSIGNED_MEANWHILE if reassigned else NO_LONGER_ACTIVE,
        (
            "Field data arrived from a technician who no longer holds the job; kept, please review."
            if reassigned
            else f"Field data arrived for a job already '{order.status}'; kept, please review."
        ),
        work_order_id=order.id,
        status=order.status,
        assignee_id=order.assignee_id,
    )
    return order


def was_assigned_to(*, session: Any, work_order_id: str, technician_id: str) -> bool:
    """Was the job ever this technician's? The feed (a scope move to them) or the job's history says
    so: a first assignment (a status event to `assigned`), an assignment or reassignment naming them
    as the new or the previous technician, or their own decline. The history outlives a pruned feed,
    and names a technician who held the job without an assignment event (a rework order keeps the
    original's technician) once it is handed on."""
    moved_to_them = session.scalar(
        sa.select(SyncChange.pos)
        .where(
            SyncChange.entity == WorkOrder.__sync__.entity,
            SyncChange.row_id == work_order_id,
            SyncChange.audience == technician_id,
        )
        .limit(1)
    )
    if moved_to_them is not None:
        return True
    events = session.scalars(
        sa.select(WorkOrderEvent.data).where(
            WorkOrderEvent.work_order_id == work_order_id,
            sa.or_(
                WorkOrderEvent.kind.in_(ASSIGNMENT_EVENTS),
                sa.and_(
                    WorkOrderEvent.kind == "status",
                    WorkOrderEvent.to_status.in_((Status.ASSIGNED, Status.DECLINED)),
                ),
            ),
        )
    )
    return any(technician_id in _named_technicians(data) for data in events)


def _named_technicians(data: dict[str, Any] | None) -> set[Any]:
    return {(data or {}).get(key) for key in _HANDOVER_KEYS}


def server_state(*, session: Any, obj: Any) -> dict[str, Any] | None:
    """A synced row as a device receives it (for conflict results): `{"entity": ..., "row": {...}}`."""
    entity = entity_for(type(obj))
    if entity is None:
        return None
    session.flush()
    row_id = getattr(obj, entity.pk_key)
    row = session.connection().execute(sa.select(*entity.selectable()).where(entity.pk == row_id)).first()
    return None if row is None else {"entity": entity.name, "row": entity.serialize(row)}
