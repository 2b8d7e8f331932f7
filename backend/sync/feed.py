"""The change feed: every insert, update and delete of a synced row is recorded in the same transaction.

Session events do it (`after_flush` for the unit of work, `do_orm_execute` for ORM bulk UPDATE/DELETE),
so no service can forget. Each change row carries its position (`pos`, a sequence) and, on PostgreSQL,
the writing transaction's id (`txid`); the pull serves rows in `(txid, pos)` order and only below the
oldest transaction still running, so a slow transaction that commits late is never skipped.

Scope moves are recorded explicitly, as markers addressed to a technician: when a job changes hands
(assignment, reassignment, cancel, close) the old technician's pull turns the marker into tombstones for
the job, everything scoped to it and the customers, products and addresses their other jobs no longer
reference; the new technician's pull turns it into the whole job. Expanding at read time (below the
horizon) is what makes a dependent row written concurrently with the move impossible to miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from backend.kernel.base import utcnow
from backend.kernel.sync_spec import Scope
from backend.sync import entities as _entities
from backend.sync import horizon as _horizon  # noqa: F401  (marks every transaction as a feed writer)
from backend.sync.models import SyncChange
from backend.sync.scope import scope_owner

UPSERT = "upsert"
DELETE = "delete"
_TABLE: sa.Table = SyncChange.__table__  # type: ignore[assignment]
_PG_TXID = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)
# Built once: the statement cache then finds their compiled form without rebuilding a cache key tree.
_INSERT = sa.insert(_TABLE)
_INSERT_PG = sa.insert(_TABLE).values(txid=_PG_TXID)


class ChangeRecorder:
    """Collects the change rows of one flush and writes them with one INSERT."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.now = utcnow()
        self.rows: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str, str, str | None, str | None]] = set()

    def add(
        self,
        entity: _entities.SyncedEntity,
        row_id: Any,
        op: str,
        scope_key: str | None,
        audience: str | None = None,
    ) -> None:
        key = (entity.name, str(row_id), op, scope_key, audience)
        if key in self._seen:
            return
        self._seen.add(key)
        self.rows.append(
            {
                "entity": entity.name,
                "row_id": str(row_id),
                "op": op,
                "scope": entity.scope.value,
                "scope_key": scope_key,
                "audience": audience,
                "created_at": self.now,
            }
        )

    def write(self) -> None:
        if not self.rows:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_INSERT_PG, self.rows)
        else:
            for row in self.rows:
                row["txid"] = 0
            self.conn.execute(_INSERT, self.rows)
        self.rows = []

    # -- scope moves -------------------------------------------------------------------------------
    # Recorded as markers addressed to one technician and expanded by the pull, at read time, into the
    # job's rows as they are then: a dependent written concurrently with the move is never left out.

    def job_enters(self, job_id: str, technician_id: str, refs: dict[str, str | None]) -> None:
        """The job arrives whole at the technician (the pull sends it with its rows and references)."""
        self.add(_root(), job_id, UPSERT, job_id, audience=technician_id)

    def job_leaves(self, job_id: str, technician_id: str, refs: dict[str, str | None]) -> None:
        """Tombstones for the job and its rows; its references go unless the technician still needs them
        (decided by the pull against the technician's scope at that time)."""
        self.add(_root(), job_id, DELETE, job_id, audience=technician_id)
        self.refs_dropped(technician_id, refs)

    def refs_dropped(self, technician_id: str, refs: dict[str, str | None]) -> None:
        entities = _entities.synced_entities()
        for name, ref_id in refs.items():
            if ref_id is not None:
                self.add(entities[name], ref_id, DELETE, None, audience=technician_id)


def _root() -> _entities.SyncedEntity:
    return _entities.root_entity()


def _referenced_entities() -> list[_entities.SyncedEntity]:
    return [e for e in _entities.synced_entities().values() if e.scope == Scope.REFERENCED]


def _refs_of(values: dict[str, Any]) -> dict[str, str | None]:
    """Referenced row ids of a job given its column values (`customer_id`...)."""
    out: dict[str, str | None] = {}
    for entity in _referenced_entities():
        out[entity.name] = values.get(entity.via_key)
    return out


def _old_and_new(obj: Any, key: str) -> tuple[Any, Any]:
    history = sa.inspect(obj).attrs[key].history
    new = getattr(obj, key)
    if history.deleted:
        return history.deleted[0], new
    return new, new


def _job_values(obj: Any, keys: Iterable[str], *, old: bool) -> dict[str, Any]:
    return {k: _old_and_new(obj, k)[0 if old else 1] for k in keys}


def _job_keys() -> tuple[str, str]:
    """The root's holder and state columns (who holds the job, and whether they still do)."""
    spec = _root().spec
    assert spec.holder_column is not None and spec.state_column is not None
    return spec.holder_column, spec.state_column


def _ref_keys() -> list[str]:
    return [e.via_key for e in _referenced_entities()]


def _record_job(rec: ChangeRecorder, entity: _entities.SyncedEntity, obj: Any, *, inserted: bool) -> None:
    holder, state = _job_keys()
    keys = [holder, state, *_ref_keys()]
    new = _job_values(obj, keys, old=False)
    old = {k: None for k in keys} if inserted else _job_values(obj, keys, old=True)
    rec.add(entity, obj.id, UPSERT, obj.id)
    old_owner = scope_owner(old[holder], old[state])
    new_owner = scope_owner(new[holder], new[state])
    if old_owner != new_owner:
        if old_owner:
            rec.job_leaves(obj.id, old_owner, _refs_of(old))
        if new_owner:
            rec.job_enters(obj.id, new_owner, _refs_of(new))
    elif new_owner and _refs_of(old) != _refs_of(new):
        changed_new = {k: v for k, v in _refs_of(new).items() if _refs_of(old)[k] != v}
        changed_old = {k: v for k, v in _refs_of(old).items() if _refs_of(new)[k] != v}
        entities = _entities.synced_entities()
        for name, ref_id in changed_new.items():
            if ref_id is not None:
                rec.add(entities[name], ref_id, UPSERT, None, audience=new_owner)
        rec.refs_dropped(new_owner, changed_old)


def _record_row(rec: ChangeRecorder, entity: _entities.SyncedEntity, obj: Any, op: str) -> None:
    row_id = sa.inspect(obj).identity[0] if op == DELETE else getattr(obj, entity.pk_key)
    if entity.scope_key is None:
        rec.add(entity, row_id, op, None)
        return
    old_key, new_key = _old_and_new(obj, entity.scope_key)
    if op == DELETE:
        rec.add(entity, row_id, DELETE, None if old_key is None else str(old_key))
        return
    if old_key != new_key and old_key is not None:
        rec.add(entity, row_id, DELETE, str(old_key))
    rec.add(entity, row_id, UPSERT, None if new_key is None else str(new_key))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    rec = ChangeRecorder(session.connection())
    for obj in session.new:
        entity = _entities.entity_for(type(obj))
        if entity is None:
            continue
        if entity.is_root:
            _record_job(rec, entity, obj, inserted=True)
        else:
            _record_row(rec, entity, obj, UPSERT)
    for obj in session.dirty:
        entity = _entities.entity_for(type(obj))
        if entity is None or not session.is_modified(obj, include_collections=False):
            continue
        if entity.is_root:
            _record_job(rec, entity, obj, inserted=False)
        else:
            _record_row(rec, entity, obj, UPSERT)
    for obj in session.deleted:
        entity = _entities.entity_for(type(obj))
        if entity is None:
            continue
        _record_row(rec, entity, obj, DELETE)
        if entity.is_root:
            owner = scope_owner(*[_old_and_new(obj, k)[0] for k in _job_keys()])
            if owner:
                rec.job_leaves(obj.id, owner, _refs_of(_job_values(obj, _ref_keys(), old=True)))
    rec.write()


class RecordedInsert:
    """A one-row Core INSERT of a synced (non-root) model that records its feed row too: on PostgreSQL in
    the same statement (a data-modifying CTE, one round trip), elsewhere right after it. For hot paths
    (a push's field facts) where the unit of work costs more than the write; build it once.

    `columns` come as execute parameters, `expressions` are SQL (e.g. a scalar subquery, whose own
    parameters come with the others); `execute` returns the `returning` columns of the new row.
    """

    def __init__(
        self,
        model: type[Any],
        *,
        columns: tuple[str, ...],
        expressions: dict[str, Any] | None = None,
        returning: tuple[str, ...] = (),
    ) -> None:
        entity = _entities.entity_for(model)
        if entity is None or entity.is_root:
            raise RuntimeError(f"{model.__name__}: only synced rows other than work orders")
        self.entity = entity
        table = entity.table
        values = {name: sa.bindparam(name, type_=table.c[name].type) for name in columns}
        insert = sa.insert(table).values({**values, **(expressions or {})})
        row_id = sa.cast(entity.pk, sa.String).label("row_id")
        key = (
            sa.cast(entity.scope_column, sa.String) if entity.scope_column is not None else sa.null()
        ).label("scope_key")
        out = [table.c[name] for name in returning]
        self._plain = insert.returning(row_id, key, *out)
        inserted = insert.returning(row_id, key, *out).cte("inserted")
        feed = sa.insert(_TABLE).from_select(
            ["txid", "entity", "row_id", "op", "scope", "scope_key", "audience", "created_at"],
            sa.select(
                _PG_TXID,
                sa.literal(entity.name, sa.String),
                inserted.c.row_id,
                sa.literal(UPSERT, sa.String),
                sa.literal(entity.scope.value, sa.String),
                inserted.c.scope_key,
                sa.null(),
                sa.bindparam("feed_created_at", type_=_TABLE.c.created_at.type),
            ),
        )
        self._pg = sa.select(*[inserted.c[name] for name in returning]).add_cte(feed.cte("recorded"))

    def execute(self, conn: sa.Connection, params: dict[str, Any]) -> tuple[Any, ...]:
        if conn.dialect.name == "postgresql":
            return tuple(conn.execute(self._pg, {**params, "feed_created_at": utcnow()}).one())
        row = conn.execute(self._plain, params).one()
        rec = ChangeRecorder(conn)
        rec.add(self.entity, row[0], UPSERT, row[1])
        rec.write()
        return tuple(row[2:])


def insert_recorded(conn: sa.Connection, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert many rows of a synced (non-root) model with one executemany and record their feed rows
    with another: the set-based form of `RecordedInsert`, for a push's batch forms."""
    entity = _entities.entity_for(model)
    if entity is None or entity.is_root:
        raise RuntimeError(f"{model.__name__}: only synced rows other than work orders")
    if not rows:
        return
    conn.execute(sa.insert(entity.table), rows)
    rec = ChangeRecorder(conn)
    key = entity.scope_key
    for row in rows:
        scope_key = row.get(key) if key is not None else None
        rec.add(entity, row[entity.pk_key], UPSERT, None if scope_key is None else str(scope_key))
    rec.write()


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state: Any) -> Any:
    """ORM bulk UPDATE/DELETE on a synced model: record the rows it touches, before and after. (An ORM
    bulk INSERT is refused: add the objects, or use `RecordedInsert`.)"""
    if not (state.is_update or state.is_delete or state.is_insert) or state.bind_mapper is None:
        return None
    entity = _entities.entity_for(state.bind_mapper.class_)
    if entity is None:
        return None
    if state.is_insert:
        raise RuntimeError(f"{entity.name}: insert synced rows through the unit of work or RecordedInsert.")
    if entity.is_root:
        raise RuntimeError("Change work orders through the unit of work: scope moves are recorded there.")
    conn = state.session.connection()
    key_col = entity.scope_column if entity.scope_column is not None else sa.null()
    where = state.statement.whereclause
    before = conn.execute(
        sa.select(entity.pk, key_col).where(where if where is not None else sa.true())
    ).all()
    result = state.invoke_statement()
    rec = ChangeRecorder(conn)
    old_keys = {r[0]: r[1] for r in before}
    if state.is_delete:
        for row_id, key in old_keys.items():
            rec.add(entity, row_id, DELETE, None if key is None else str(key))
    elif old_keys:
        after = conn.execute(sa.select(entity.pk, key_col).where(entity.pk.in_(list(old_keys)))).all()
        for row_id, key in after:
            old = old_keys.get(row_id)
            if old is not None and old != key:
                rec.add(entity, row_id, DELETE, str(old))
            rec.add(entity, row_id, UPSERT, None if key is None else str(key))
    rec.write()
    return result
