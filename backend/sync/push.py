"""`push_mutations`: apply a device's mutations exactly once, in order, each in its own savepoint.

Exactly once: the mutation's device-generated id is the primary key of its `SyncMutation` record,
written with its outcome in the push's transaction. The device row is locked first, so one device's
pushes apply one after another in the order sent: a retry (lost response, restart, a duplicate request
sent concurrently) waits for the push before it, finds the records and gets the original results back
as `duplicate`. Each handler runs in its own savepoint (or a run of them in one, through its batch
form); the records, with their outcomes, and the flags are inserted together after the last one. An id
that another device's push recorded meanwhile makes that insert find it taken: the push is undone and
answered `sync.concurrent_push` (retry it; the id then reads as a duplicate).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import Problem
from backend.kernel.base import new_id, utcnow
from backend.kernel.registration import installed
from backend.policy import Principal, has_role_in
from backend.sync.devices import device_for, mark_seen, record_error
from backend.sync.models import SyncDevice, SyncFlag, SyncMutation
from backend.sync.registry import Flag, Mutation, MutationContext, NotBatchable, mutations_by_name

MAX_BATCH = 500
APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"
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
    registered = mutations_by_name()
    device = device_for(session, principal, device_id, protocol=protocol, app_version=app_version, lock=True)
    mark_seen(device, pushed=True)
    # A real transaction is open before the first SAVEPOINT (SQLite would otherwise commit on RELEASE).
    session.flush()
    earlier = _recorded(session, {m.id for m in mutations})
    # The domains' preparations for the new mutations (work orders: row-lock the jobs they name).
    for prepare in installed().push_preparers:
        prepare(session, principal, [m.args for m in mutations if m.id not in earlier])
    results, ready, repeated = _sort_out(principal, mutations, earlier, registered)
    outcomes = {
        m.id: r for m, r in zip(mutations, results, strict=True) if r is not None and m.id not in earlier
    }
    flags: list[dict[str, Any]] = []
    for run in _runs(ready):
        applied = _apply(session, principal, device, run, settings)
        for item, (result, raised) in zip(run, applied, strict=True):
            results[item.index] = outcomes[item.mutation.id] = result
            flags.extend(_flag_row(device, principal, item.mutation.id, flag) for flag in raised)
    for index, mutation_id in repeated.items():
        results[index] = _duplicate((principal.user_id, outcomes[mutation_id]), principal, mutation_id)
    _record(session, principal, device, [m for m in mutations if m.id in outcomes], outcomes, flags)
    done = [r for r in results if r is not None]
    assert len(done) == len(mutations), "every mutation has its result"
    failed = [r for r in done if r["status"] == REJECTED]
    if failed:
        problem = failed[-1]["problem"]
        record_error(device, problem["code"], problem["detail"])
    return done


def _sort_out(
    principal: Principal,
    mutations: list[PushedMutation],
    earlier: dict[str, tuple[str, dict[str, Any]]],
    registered: Mapping[str, Mutation],
) -> tuple[list[dict[str, Any] | None], list[_Ready], dict[int, str]]:
    """Each mutation's result where it is known without running a handler (a duplicate of an earlier
    push, a rejection), the mutations ready to apply, and those sent twice in this push (index -> id:
    a duplicate of the first once it is applied)."""
    results: list[dict[str, Any] | None] = []
    ready: list[_Ready] = []
    repeated: dict[int, str] = {}
    seen: set[str] = set()
    for index, m in enumerate(mutations):
        if m.id in earlier:
            results.append(_duplicate(earlier[m.id], principal, m.id))
            continue
        if m.id in seen:
            results.append(None)
            repeated[index] = m.id
            continue
        seen.add(m.id)
        prepared = _prepare(principal, m, registered)
        if isinstance(prepared, dict):
            results.append(prepared)
        else:
            results.append(None)
            ready.append(_Ready(index, m, *prepared))
    return results, ready, repeated


def _recorded(session: Session, ids: set[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Mutations recorded by earlier pushes: id -> (user id, result)."""
    if not ids:
        return {}
    stmt = sa.select(_MUTATIONS.c.id, _MUTATIONS.c.user_id, _MUTATIONS.c.result).where(
        _MUTATIONS.c.id.in_(sorted(ids))
    )
    return {row.id: (row.user_id, row.result) for row in session.connection().execute(stmt)}


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


def _record(
    session: Session,
    principal: Principal,
    device: SyncDevice,
    mutations: list[PushedMutation],
    outcomes: dict[str, dict[str, Any]],
    flags: list[dict[str, Any]],
) -> None:
    """The exactly-once records of this push's new mutations, with their outcomes (what a retry gets
    back), in id order and one statement; then the flags raised on them."""
    if not mutations:
        return
    received_at = utcnow()
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
            "received_at": received_at,
            "status": outcomes[m.id]["status"],
            "result": outcomes[m.id],
        }
        for m in reversed(mutations)  # a repeated id keeps its first occurrence
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_MUTATIONS).on_conflict_do_nothing(index_elements=["id"]).returning(_MUTATIONS.c.id)
    conn = session.connection()
    written = set(conn.execute(stmt, [rows[k] for k in sorted(rows)]).scalars())
    if written != rows.keys():
        raise Problem(
            "sync.concurrent_push",
            "Another device recorded some of these mutation ids at the same time; nothing of this push "
            "was applied. Send it again.",
            status=409,
            extra={"mutation_ids": sorted(rows.keys() - written)[:20]},
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


@dataclass(frozen=True)
class _Ready:
    """A new mutation whose handler may run: known, allowed, its args loaded."""

    index: int
    mutation: PushedMutation
    spec: Mutation
    args: dict[str, Any]


def _prepare(
    principal: Principal, m: PushedMutation, registered: Mapping[str, Mutation]
) -> tuple[Mutation, dict[str, Any]] | dict[str, Any]:
    """The mutation's spec and loaded args, or its rejection (unknown, not the caller's, invalid)."""
    spec = registered.get(m.name)
    if spec is None:
        problem = Problem(
            "mutation.unknown",
            f"No mutation named '{m.name}'.",
            status=422,
            extra={"known": sorted(registered)},
        )
        return _outcome(m.id, REJECTED, problem=problem)
    if not has_role_in(principal, spec.roles):
        problem = Problem("mutation.forbidden", f"A {principal.role} may not push '{m.name}'.", status=403)
        return _outcome(m.id, REJECTED, problem=problem)
    try:
        return spec, _schema(spec.schema).load(m.args)
    except ma.ValidationError as exc:
        problem = Problem(
            "mutation.invalid_args",
            "The mutation's arguments are invalid; see `errors`.",
            status=422,
            errors=exc.normalized_messages(),
        )
        return _outcome(m.id, REJECTED, problem=problem)


def _runs(ready: list[_Ready]) -> Iterator[list[_Ready]]:
    """Consecutive ready mutations of one name with a batch form go together; others alone. (What lies
    between them in the push, duplicates and rejections, wrote nothing.)"""
    run: list[_Ready] = []
    for item in ready:
        if run and (item.spec is not run[-1].spec or item.spec.batch is None):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


Outcome = tuple[dict[str, Any], list[Flag]]


def _apply(
    session: Session,
    principal: Principal,
    device: SyncDevice,
    run: list[_Ready],
    settings: Mapping[str, Any],
) -> list[Outcome]:
    """Apply a run: through its batch form in one savepoint, or, when there is none or it declines or
    fails, one mutation per savepoint."""
    contexts = [_context(session, principal, device, item.mutation, settings) for item in run]
    batch = run[0].spec.batch
    if batch is not None and len(run) > 1:
        try:
            with session.begin_nested():
                applied = batch([(ctx, item.args) for ctx, item in zip(contexts, run, strict=True)])
                session.flush()
        except DBAPIError as exc:
            if not isinstance(exc, IntegrityError):
                raise  # deadlock, lost connection: the whole push fails and the device retries it
        except (NotBatchable, Problem, StaleDataError):
            pass
        except Exception:
            log.exception("batch form of %s failed; applying the run one by one", run[0].spec.name)
        else:
            return [_applied(ctx, result) for ctx, result in zip(contexts, applied, strict=True)]
        contexts = [_context(session, principal, device, item.mutation, settings) for item in run]
    return [_apply_one(session, ctx, item) for ctx, item in zip(contexts, run, strict=True)]


def _context(
    session: Session, principal: Principal, device: SyncDevice, m: PushedMutation, settings: Mapping[str, Any]
) -> MutationContext:
    return MutationContext(
        session=session,
        principal=principal,
        device_id=device.id,
        mutation_id=m.id,
        client_time=m.client_time,
        base_version=m.base_version,
        settings=settings,
    )


def _apply_one(session: Session, ctx: MutationContext, item: _Ready) -> Outcome:
    m = item.mutation
    try:
        with session.begin_nested():
            result = item.spec.handler(ctx, item.args)
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
    return _applied(ctx, result)


def _applied(ctx: MutationContext, result: dict[str, Any]) -> Outcome:
    outcome = _outcome(ctx.mutation_id, APPLIED, result=_jsonable(result))
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


_JSONABLE = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _jsonable(value: Any) -> Any:
    """The value as the device will read it (JSON types only; anything else as its `str`)."""
    return orjson.loads(orjson.dumps(value, default=str, option=_JSONABLE))
