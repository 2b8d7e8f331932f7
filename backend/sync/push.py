"""`push_mutations`: apply a device's mutations exactly once, in order, each in its own savepoint.

Exactly once: the mutation's device-generated id is the primary key of its `SyncMutation` record,
inserted before the handler runs. A retry (lost response, restart) finds the record and gets the
original result back as `duplicate`; a concurrent duplicate request blocks on the same key until the
first commits, then does the same. The device row is locked for the batch, so one device's pushes
apply one after another in the order sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import Problem
from backend.models.sync import SyncDevice, SyncFlag, SyncMutation
from backend.policy import Principal
from backend.sync.devices import device_for, mark_seen, record_error
from backend.sync.handlers import load_handlers
from backend.sync.registry import MUTATIONS, MutationContext

MAX_BATCH = 500
APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"

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
    app_version: str | None = None,
) -> list[dict[str, Any]]:
    """Apply the batch; one result per mutation, in order."""
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
    results = [_apply_once(session, principal, device, m) for m in mutations]
    failed = [r for r in results if r["status"] == REJECTED]
    if failed:
        problem = failed[-1]["problem"]
        record_error(device, problem["code"], problem["detail"])
    return results


def _apply_once(
    session: Session, principal: Principal, device: SyncDevice, m: PushedMutation
) -> dict[str, Any]:
    existing = session.get(SyncMutation, m.id)
    if existing is not None:
        return _duplicate(existing, principal, m.id)
    record = SyncMutation(
        id=m.id,
        device_id=device.id,
        user_id=principal.user_id,
        technician_id=principal.technician_id,
        name=m.name[:64],
        args=m.args,
        base_version=m.base_version,
        client_time=m.client_time,
        status="pending",
        result={},
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        # Another request holds (and has now committed) the same mutation id: report its result.
        existing = session.get(SyncMutation, m.id, populate_existing=True)
        if existing is None:
            raise
        return _duplicate(existing, principal, m.id)
    result, flags = _run(session, principal, device, m)
    record.status = result["status"]
    record.result = result
    for flag in flags:
        session.add(
            SyncFlag(
                mutation_id=m.id,
                device_id=device.id,
                technician_id=principal.technician_id,
                work_order_id=flag.work_order_id,
                code=flag.code,
                detail=flag.detail,
                data=_jsonable(flag.data),
            )
        )
    session.flush()
    return result


def _duplicate(existing: SyncMutation, principal: Principal, mutation_id: str) -> dict[str, Any]:
    if existing.user_id != principal.user_id:
        return _outcome(
            mutation_id,
            REJECTED,
            problem=Problem(
                "mutation.id_taken",
                "Another client already used this mutation id; generate ids with UUIDv7 or ULID.",
                status=409,
            ),
        )
    return {"id": mutation_id, "status": DUPLICATE, "original": existing.result}


def _run(
    session: Session, principal: Principal, device: SyncDevice, m: PushedMutation
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
        args = spec.schema().load(m.args)
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
