"""`push_mutations`: apply a device's mutations exactly once, in order, each in its own savepoint.

Exactly once: the mutation's device-generated id is the primary key of its `SyncMutation` record,
inserted (for the whole batch, in one statement) before any handler runs. A retry (lost response,
restart) finds the record and gets the original result back as `duplicate`; a concurrent duplicate
request blocks on the same key until the first commits, then does the same. The device row is locked
for the batch, so one device's pushes apply one after another in the order sent. Each handler runs in
its own savepoint; the records' outcomes and the flags are written together after the last one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import Problem
from backend.models.base import new_id, utcnow
from backend.models.sync import SyncDevice, SyncFlag, SyncMutation
from backend.policy import Principal
from backend.sync.devices import device_for, mark_seen, record_error
from backend.sync.field_facts import lock_work_orders
from backend.sync.handlers import load_handlers
from backend.sync.registry import MUTATIONS, MutationContext

MAX_BATCH = 500
APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"
PENDING = "pending"
_MUTATIONS: sa.Table = SyncMutation.__table__  # type: ignore[assignment]
_FLAGS: sa.Table = SyncFlag.__table__  # type: ignore[assignment]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushedMutation:
    id: str
    name: str
    args: dict[str, Any]
    base_version: int | None = None
    client_time: datetime | None = None


def push_mutations(
    session: Session,
    *,
    principal: Principal,
    device_id: str,
    mutations: list[PushedMutation],
    protocol: int,
    settings: Mapping[str, Any],
    app_version: str | None = None,
) -> list[dict[str, Any]]:
    """Apply the batch; one result per mutation, in order. `settings` is the app's configuration,
    handed to each handler as `ctx.settings`."""
    if len(mutations) > MAX_BATCH:
        raise Problem(
            "sync.batch_too_large",
            f"A push carries at most {MAX_BATCH} mutations; send the rest in the next push.",
            status=413,
            title="Batch too large",
            extra={"max_batch": MAX_BATCH, "received": len(mutations)},
        )
    load_handlers()
    device = device_for(session, principal, device_id, protocol=protocol, app_version=app_version, lock=True)
    mark_seen(device, pushed=True)
    # A real transaction is open before the first SAVEPOINT (SQLite would otherwise commit on RELEASE).
    session.flush()
    claimed = _claim(session, principal, device, mutations)
    earlier = _recorded(session, {m.id for m in mutations} - claimed)
    lock_work_orders(
        session, _work_order_ids(m for m in mutations if m.id in claimed), principal.technician_id
    )
    results: list[dict[str, Any]] = []
    outcomes: dict[str, dict[str, Any]] = {}  # this batch's applied ids (a repeated id is a duplicate)
    flags: list[dict[str, Any]] = []
    for m in mutations:
        if m.id in outcomes or m.id not in claimed:
            first = outcomes.get(m.id)
            original = (principal.user_id, first) if first is not None else earlier[m.id]
            results.append(_duplicate(original, principal, m.id))
            continue
        result, raised = _run(session, principal, device, m, settings)
        outcomes[m.id] = result
        results.append(result)
        flags.extend(_flag_row(device, principal, m.id, flag) for flag in raised)
    _record_outcomes(session, outcomes, flags)
    failed = [r for r in results if r["status"] == REJECTED]
    if failed:
        problem = failed[-1]["problem"]
        record_error(device, problem["code"], problem["detail"])
    return results


def _claim(
    session: Session, principal: Principal, device: SyncDevice, mutations: list[PushedMutation]
) -> set[str]:
    """Insert the exactly-once record of every mutation not seen before, in one statement, before any
    handler runs; returns the ids this request now owns. An id another request holds uncommitted
    makes the insert wait for it, then count as taken (its result is read back as `duplicate`). Rows
    go in id order, so two requests claiming overlapping ids lock them in the same order."""
    rows = {
        m.id: {
            "id": m.id,
            "device_id": device.id,
            "user_id": principal.user_id,
            "technician_id": principal.technician_id,
            "name": m.name[:64],
            "args": m.args,
            "base_version": m.base_version,
            "client_time": m.client_time,
            "received_at": utcnow(),
            "status": PENDING,
            "result": {},
        }
        for m in reversed(mutations)  # a repeated id keeps its first occurrence
    }
    if not rows:
        return set()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_MUTATIONS).on_conflict_do_nothing(index_elements=["id"]).returning(_MUTATIONS.c.id)
    conn = session.connection()
    return set(conn.execute(stmt, [rows[k] for k in sorted(rows)]).scalars())


def _recorded(session: Session, ids: set[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Mutations recorded by earlier requests: id -> (user id, result)."""
    if not ids:
        return {}
    stmt = sa.select(_MUTATIONS.c.id, _MUTATIONS.c.user_id, _MUTATIONS.c.result).where(
        _MUTATIONS.c.id.in_(sorted(ids))
    )
    found = {row.id: (row.user_id, row.result) for row in session.connection().execute(stmt)}
    missing = ids - found.keys()
    if missing:
        raise RuntimeError(f"mutations neither claimed nor recorded: {sorted(missing)[:5]}")
    return found


def _work_order_ids(mutations: Iterable[PushedMutation]) -> set[str]:
    return {
        job for m in mutations if isinstance(job := m.args.get("work_order_id"), str) and 0 < len(job) <= 36
    }


def _flag_row(device: SyncDevice, principal: Principal, mutation_id: str, flag: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "mutation_id": mutation_id,
        "device_id": device.id,
        "technician_id": principal.technician_id,
        "work_order_id": flag.work_order_id,
        "code": flag.code,
        "detail": flag.detail,
        "data": _jsonable(flag.data),
        "created_at": utcnow(),
    }


def _record_outcomes(
    session: Session, outcomes: dict[str, dict[str, Any]], flags: list[dict[str, Any]]
) -> None:
    """Each applied record's status and result (what a retry gets back), and the batch's flags."""
    if not outcomes:
        return
    conn = session.connection()
    conn.execute(
        _MUTATIONS.update()
        .where(_MUTATIONS.c.id == sa.bindparam("mutation_id"))
        .values(status=sa.bindparam("status"), result=sa.bindparam("result")),
        [{"mutation_id": k, "status": r["status"], "result": r} for k, r in outcomes.items()],
    )
    if flags:
        conn.execute(sa.insert(_FLAGS), flags)


def _duplicate(
    original: tuple[str | None, dict[str, Any]], principal: Principal, mutation_id: str
) -> dict[str, Any]:
    user_id, result = original
    if user_id != principal.user_id:
        return _outcome(
            mutation_id,
            REJECTED,
            problem=Problem(
                "mutation.id_taken",
                "Another client already used this mutation id; generate ids with UUIDv7 or ULID.",
                status=409,
            ),
        )
    return {"id": mutation_id, "status": DUPLICATE, "original": result}


def _run(
    session: Session, principal: Principal, device: SyncDevice, m: PushedMutation, settings: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    spec = MUTATIONS.get(m.name)
    if spec is None:
        problem = Problem(
            "mutation.unknown",
            f"No mutation named '{m.name}'.",
            status=422,
            extra={"known": sorted(MUTATIONS)},
        )
        return _outcome(m.id, REJECTED, problem=problem), []
    if principal.role not in spec.roles:
        problem = Problem("mutation.forbidden", f"A {principal.role} may not push '{m.name}'.", status=403)
        return _outcome(m.id, REJECTED, problem=problem), []
    try:
        args = _schema(spec.schema).load(m.args)
    except ma.ValidationError as exc:
        problem = Problem(
            "mutation.invalid_args",
            "The mutation's arguments are invalid; see `errors`.",
            status=422,
            errors=exc.normalized_messages(),
        )
        return _outcome(m.id, REJECTED, problem=problem), []
    ctx = MutationContext(
        session=session,
        principal=principal,
        device_id=device.id,
        mutation_id=m.id,
        client_time=m.client_time,
        base_version=m.base_version,
        settings=settings,
    )
    try:
        with session.begin_nested():
            result = spec.handler(ctx, args)
            session.flush()
    except Problem as exc:
        status = CONFLICT if exc.status == 409 else REJECTED
        return _outcome(m.id, status, problem=exc), []
    except StaleDataError:
        problem = Problem(
            "conflict.concurrent_update", "The row changed at the same time; pull and retry.", status=409
        )
        return _outcome(m.id, CONFLICT, problem=problem), []
    except IntegrityError as exc:
        log.info("mutation %s hit an integrity error: %s", m.id, exc.orig)
        problem = Problem(
            "mutation.integrity",
            "The mutation collides with existing data (a reused id or a missing reference).",
            status=422,
        )
        return _outcome(m.id, REJECTED, problem=problem), []
    except DBAPIError:
        raise  # deadlock, lost connection: the whole push fails and the device retries it
    except Exception:
        log.exception("mutation %s (%s) failed", m.id, m.name)
        problem = Problem("mutation.failed", "The server could not apply this mutation.", status=500)
        return _outcome(m.id, REJECTED, problem=problem), []
    outcome = _outcome(m.id, APPLIED, result=_jsonable(result))
    outcome["flags"] = [
        {"code": f.code, "detail": f.detail, "work_order_id": f.work_order_id} for f in ctx.flags
    ]
    return outcome, ctx.flags


_SCHEMAS: dict[type[ma.Schema], ma.Schema] = {}


def _schema(cls: type[ma.Schema]) -> ma.Schema:
    """One instance per argument schema: building a marshmallow schema costs more than a load."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _SCHEMAS[cls] = cls()
    return schema


def _outcome(
    mutation_id: str, status: str, *, problem: Problem | None = None, result: Any = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": mutation_id, "status": status}
    if problem is not None:
        out["problem"] = _jsonable(problem.to_dict())
    else:
        out["result"] = result
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
