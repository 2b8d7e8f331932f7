"""Device mutations on the job itself: `work_order.transition` and `work_order.note`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from backend.errors import Problem, conflict
from backend.kernel.base import utcnow
from backend.sync.feed import RecordedInsert, insert_recorded
from backend.sync.registry import MutationContext, NotBatchable, batch_of, mutation
from backend.validation import StrictSchema
from backend.work_orders.access import get_visible_work_order
from backend.work_orders.field_facts import (
    job_version,
    locked_in_scope,
    server_state,
    work_order_for_field_fact,
)
from backend.work_orders.models import WorkOrderEvent
from backend.work_orders.service import transition_work_order
from backend.work_orders.states import Status

ID = ma.validate.Length(min=1, max=36)
_EVENTS: sa.Table = WorkOrderEvent.__table__  # type: ignore[assignment]
_INSERT_NOTE = RecordedInsert(
    WorkOrderEvent,
    columns=(
        "id",
        "work_order_id",
        "kind",
        "actor_user_id",
        "actor_role",
        "message",
        "data",
        "customer_visible",
        "device_time",
        "created_at",
    ),
    expressions={
        "seq": sa.select(sa.func.coalesce(sa.func.max(_EVENTS.c.seq), 0) + 1)
        .where(_EVENTS.c.work_order_id == sa.bindparam("job"))
        .scalar_subquery()
    },
    returning=("seq",),
)
STATUSES = [s.value for s in Status]


class TransitionArgs(StrictSchema):
    work_order_id = ma.fields.String(required=True, validate=ID)
    from_status = ma.fields.String(
        data_key="from",
        validate=ma.validate.OneOf(STATUSES),
        metadata={"description": "The status the device saw; a different server status is a conflict."},
    )
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))
    reason = ma.fields.String(validate=ma.validate.Length(max=500))


class NoteArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ID, metadata={"description": "Device-generated event id."})
    work_order_id = ma.fields.String(required=True, validate=ID)
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


@mutation(
    "work_order.transition",
    TransitionArgs,
    description="Move the job along the state machine (from -> to); a move the server no longer allows "
    "is a conflict carrying the job's server state.",
)
def transition(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    order = get_visible_work_order(
        session=session, principal=ctx.principal, work_order_id=args["work_order_id"], lock=True
    )
    seen = args.get("from_status")
    if seen is not None and seen != order.status:
        raise conflict(
            "work_order.status_changed",
            f"The job is '{order.status}' on the server, not '{seen}'.",
            current_status=order.status,
            current_version=order.version,
            server_state=server_state(session=session, obj=order),
        )
    try:
        event = transition_work_order(
            session=session,
            order=order,
            to_status=args["to"],
            actor=ctx.principal,
            reason=args.get("reason"),
            base_version=ctx.base_version,
            device_time=ctx.client_time,
            data={"device_id": ctx.device_id, "mutation_id": ctx.mutation_id},
        )
    except Problem as problem:
        if problem.status == 409:
            problem.extra["server_state"] = server_state(session=session, obj=order)
        raise
    session.flush()
    return {
        "work_orders": [job_version(order)],
        "work_order_events": [{"id": event.id, "seq": event.seq}],
    }


@mutation(
    "work_order.note",
    NoteArgs,
    description="Append a technician's note to the job's history (a field fact: kept even if the job "
    "moved on, and flagged).",
)
def note(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    if identity_key(WorkOrderEvent, args["id"]) in session.identity_map:
        raise _event_id_taken()
    session.flush()  # what autoflush would do (the insert below is plain Core)
    # A note is history, not a change to the job: the order's version stays, so the device's
    # base_version for its next move still matches. Its seq follows the job's last one (read in the
    # same statement) and its feed row is written with it.
    try:
        (seq,) = _INSERT_NOTE.execute(
            session.connection(), {**_note_row(ctx, args, utcnow()), "job": order.id}
        )
    except IntegrityError:
        # The id is the only key the insert can collide on (the job is locked and exists): an event
        # written earlier or by a transaction that committed meanwhile.
        raise _event_id_taken() from None
    return {"work_order_events": [{"id": args["id"], "seq": seq}]}


@batch_of("work_order.note")
def notes(run: list[tuple[MutationContext, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A run of notes with one read and two writes. The plain case only: every job locked by this push
    and in the technician's scope, else `NotBatchable`; an event id already taken fails the insert
    (and the push applies the run one by one, which rejects that note)."""
    ctx = run[0][0]
    session = ctx.session
    jobs = sorted({args["work_order_id"] for _, args in run})
    if any(locked_in_scope(ctx, job) is None for job in jobs):
        raise NotBatchable
    ids = [args["id"] for _, args in run]
    if any(identity_key(WorkOrderEvent, event_id) in session.identity_map for event_id in ids):
        raise NotBatchable
    session.flush()
    conn = session.connection()
    last_seq: dict[str, int] = {
        job: seq
        for job, seq in conn.execute(
            sa.select(_EVENTS.c.work_order_id, sa.func.max(_EVENTS.c.seq))
            .where(_EVENTS.c.work_order_id.in_(jobs))
            .group_by(_EVENTS.c.work_order_id)
        )
    }
    now = utcnow()
    rows = []
    for ctx, args in run:
        job = args["work_order_id"]
        last_seq[job] = seq = last_seq.get(job, 0) + 1
        rows.append({**_note_row(ctx, args, now), "seq": seq, "from_status": None, "to_status": None})
    insert_recorded(conn, WorkOrderEvent, rows)
    return [{"work_order_events": [{"id": row["id"], "seq": row["seq"]}]} for row in rows]


def _note_row(ctx: MutationContext, args: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A note's event row (but its seq): the one shape both the handler and the batch form write."""
    return {
        "id": args["id"],
        "work_order_id": args["work_order_id"],
        "kind": "note",
        "actor_user_id": ctx.principal.user_id,
        "actor_role": ctx.principal.role,
        "message": args["text"],
        "data": {"device_id": ctx.device_id, "mutation_id": ctx.mutation_id},
        "customer_visible": False,
        "device_time": ctx.client_time,
        "created_at": now,
    }


def _event_id_taken() -> Problem:
    return Problem(
        "work_order_event.id_taken", "An event with this id exists; generate a new id.", status=422
    )
