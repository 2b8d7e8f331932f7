"""`pull_changes`: one page of a device's changes, from a cursor or from a consistent first snapshot.

Order and completeness: feed rows are served in `(txid, pos)` order and only below the *horizon*: on
PostgreSQL the oldest transaction still running that may write feed rows (`backend.sync.horizon`),
so every row below it is final and a transaction that took an early position but commits late is
served by a later pull; on SQLite (one writer at a time, positions in commit order) everything
committed.

Rows travel as their current server state, read with the device's current scope, so a page never
carries a row the technician may no longer see; tombstones follow for rows that left.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.kernel.base import utcnow
from backend.kernel.sync_spec import Scope
from backend.policy import Principal
from backend.sync import horizon, scope
from backend.sync.cursor import Cursor, CursorCodec, FeedKey, Snapshot, resync_required
from backend.sync.devices import device_for, mark_seen
from backend.sync.entities import (
    CHECKSUM_MODULUS,
    SyncedEntity,
    content_version,
    device_rows,
    fetched_version,
    row_hash,
    row_hash_sql,
    synced_entities,
    version_number_sql,
)
from backend.sync.models import SyncChange, SyncDeployment
from backend.sync.scope import load_scope, scope_predicate

LIMIT_DEFAULT = 500
LIMIT_MAX = 2000
NO_HORIZON = 2**62
_ID_CHUNK = LIMIT_MAX  # ids per statement (one parameter: see `scope.among`)
_C = SyncChange.__table__.c


@dataclass
class PullPage:
    cursor: Cursor
    has_more: bool
    changes: dict[str, dict[str, list[Any]]]
    checksums: dict[str, dict[str, Any]] | None


@dataclass
class _Builder:
    """Accumulates a page as the set of rows it touches. What the device receives for each is decided
    by the row's current state: its server row if in the device's scope, else a tombstone. That makes a
    page independent of the order writers took their positions in."""

    root: str
    snapshot_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    touched: dict[str, set[str]] = field(default_factory=dict)
    moved_jobs: set[str] = field(default_factory=set)

    def deltas(self, feed_rows: Sequence[Any]) -> None:
        """Feed rows `(txid, pos, entity, row_id, op, audience)`."""
        touched = self.touched
        for _, _, entity, row_id, _, audience in feed_rows:
            if audience is not None and entity == self.root:
                self.moved_jobs.add(row_id)  # a scope move: the job and everything scoped to it
            ids = touched.get(entity)
            if ids is None:
                ids = touched[entity] = set()
            ids.add(row_id)


def deployment(session: Session) -> SyncDeployment:
    """The deployment's identity row, created on first use (safe under concurrent first pulls)."""
    row = session.get(SyncDeployment, 1)
    if row is None:
        try:
            with session.begin_nested():
                session.add(SyncDeployment(id=1, deployment_id=str(uuid.uuid4())))
        except IntegrityError:
            pass
        row = session.get(SyncDeployment, 1, populate_existing=True)
    assert row is not None
    return row


def feed_horizon(conn: sa.Connection) -> tuple[int, int]:
    """(horizon, xmax) of the current snapshot: rows with txid < horizon are final (see
    `backend.sync.horizon`); SQLite has one writer at a time, so everything committed is."""
    if conn.dialect.name != "postgresql":
        return NO_HORIZON, NO_HORIZON
    return horizon.feed_horizon(conn)


_MAX_POS = sa.select(sa.func.coalesce(sa.func.max(_C.pos), 0))


# -- statements ------------------------------------------------------------------------------------
# Built once per dialect (and entity) with the scope, the cursor and the ids as parameters: SQLAlchemy
# then neither rebuilds nor re-keys them, which took much of a page's time.


def _routes(dialect: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The ways a feed row reaches the scope's device (parameters: `TechnicianScope.params`), each one
    a range of a feed index after the cursor: scope moves addressed to the technician (`audience`),
    reference data (`global`), the technician's own rows, their jobs' rows, and the rows their jobs
    reference. No row takes two routes (an addressed row has an audience, the others one scope each)."""
    technician = sa.bindparam(scope.TECHNICIAN, type_=sa.String)
    plain = _C.audience.is_(None)
    return (
        _C.audience == technician,
        sa.and_(_C.scope == Scope.GLOBAL.value, _C.scope_key.is_(None), plain),
        sa.and_(_C.scope == Scope.TECHNICIAN.value, _C.scope_key == technician, plain),
        sa.and_(_C.scope == Scope.WORK_ORDER.value, scope.among(_C.scope_key, scope.JOBS, dialect), plain),
        sa.and_(_C.scope == Scope.REFERENCED.value, scope.among(_C.row_id, scope.REFS, dialect), plain),
    )


_AFTER_TXID = sa.bindparam("after_txid", type_=sa.BigInteger)
_AFTER_POS = sa.bindparam("after_pos", type_=sa.BigInteger)


def _after_key(dialect: str) -> sa.ColumnElement[bool]:
    """Feed rows after the cursor's `(txid, pos)`. SQLite writes every row with txid 0 (one writer at a
    time: positions are in commit order), so there the key is the position alone, a range of the
    table's rowid: a `(txid, pos)` row comparison would range over every row with txid 0, the whole
    feed, on each pull."""
    if dialect == "sqlite":
        return sa.and_(_AFTER_TXID == 0, _C.pos > _AFTER_POS)
    return sa.tuple_(_C.txid, _C.pos) > sa.tuple_(_AFTER_TXID, _AFTER_POS)


_HORIZON = sa.bindparam("horizon", type_=sa.BigInteger)
_LIMIT = sa.bindparam("limit", type_=sa.Integer)
_FEED_COLUMNS = (_C.txid, _C.pos, _C.entity, _C.row_id, _C.op, _C.audience)


def _after(key: FeedKey) -> dict[str, int]:
    return {"after_txid": key.txid, "after_pos": key.pos}


def _routed(dialect: str, *where: sa.ColumnElement[bool], limit: Any) -> sa.Select[Any]:
    """The first `limit` feed rows after the cursor matching `where` for the scope's device, in
    `(txid, pos)` order.

    PostgreSQL: the first `limit` of each route's (each an ordered range of a route index), then the
    first `limit` of those; a page costs the device's rows, not everyone's written since its cursor.
    SQLite: the rowid range after the cursor, filtered by route. Its planner, without statistics, took
    a route's `audience IS NULL` for the better index and ranged over everyone's rows all the same;
    an embedded single-node deployment keeps a feed small enough for the scan."""
    if dialect != "postgresql":
        return (
            sa.select(*_FEED_COLUMNS)
            .where(sa.or_(*_routes(dialect)), _after_key(dialect), *where)
            .order_by(_C.pos)
            .limit(limit)
        )
    parts = []
    for route in _routes(dialect):
        part = (
            sa.select(*_FEED_COLUMNS)
            .where(route, _after_key(dialect), *where)
            .order_by(_C.txid, _C.pos)
            .limit(limit)
            .subquery()
        )
        parts.append(sa.select(*part.c))
    routed = sa.union_all(*parts).subquery()
    return sa.select(*routed.c).order_by(routed.c.txid, routed.c.pos).limit(limit)


@functools.cache
def _feed_page(dialect: str) -> sa.Select[Any]:
    return _routed(dialect, _C.txid < _HORIZON, limit=_LIMIT)


@functools.cache
def _feed_held_back(dialect: str) -> sa.Select[Any]:
    return _routed(dialect, _C.txid >= _HORIZON, limit=1)


@functools.cache
def _feed_unserved(dialect: str) -> sa.Select[Any]:
    return _routed(dialect, limit=1)


@functools.cache
def _rows_in_scope(entity: SyncedEntity, dialect: str, *, after: bool) -> sa.Select[Any]:
    """The entity's rows in scope in id order, `limit` of them (after the id `after`)."""
    stmt = sa.select(*device_rows(entity, dialect).columns).where(scope_predicate(entity, dialect))
    if after:
        stmt = stmt.where(entity.pk > sa.bindparam("after", type_=entity.pk.type))
    return stmt.order_by(entity.pk).limit(_LIMIT)


@functools.cache
def _rows_by_id(entity: SyncedEntity, dialect: str) -> sa.Select[Any]:
    """The entity's rows in scope among `ids`."""
    return sa.select(*device_rows(entity, dialect).columns).where(
        scope.among(entity.pk, "ids", dialect), scope_predicate(entity, dialect)
    )


@functools.cache
def _ids_of_jobs(entity: SyncedEntity, dialect: str) -> sa.Select[Any]:
    """Ids of the entity's rows (in scope or not) belonging to the jobs `ids`."""
    assert entity.scope_column is not None
    return sa.select(entity.pk).where(scope.among(entity.scope_column, "ids", dialect))


@functools.cache
def _referenced_by_jobs(entity: SyncedEntity, root: SyncedEntity, dialect: str) -> sa.Select[Any]:
    """Ids of the entity's rows the jobs `ids` point at."""
    assert entity.via is not None
    return sa.select(entity.via).where(scope.among(root.pk, "ids", dialect), entity.via.isnot(None))


# One statement per set of entities a page carries rows of: a few in practice, bounded all the same.
_SERVED_VARIANTS = 64


@functools.lru_cache(maxsize=_SERVED_VARIANTS)
def _sums_in_database(
    entities: tuple[SyncedEntity, ...], dialect: str, served: frozenset[str]
) -> sa.CompoundSelect[Any]:
    """PostgreSQL: per entity, (name, rows in scope, signed sum of their `row_hash_sql`; 0 for the
    entities without a version column, whose rows are hashed whole in Python), leaving out the page's
    rows of the entities named in `served`."""
    selects = []
    for e in entities:
        select = sa.select(
            sa.literal(e.name, sa.String),
            sa.func.count(),
            sa.literal(0)
            if e.version is None
            else sa.func.coalesce(sa.func.sum(row_hash_sql(e.pk, version_number_sql(e.version))), 0),
        ).where(_rest_of_scope(e, dialect, served))
        selects.append(select)
    return sa.union_all(*selects)


def _served(entity: str) -> str:
    """Parameter name: ids of the entity's rows the page carries."""
    return f"served_{entity}"


def _rest_of_scope(entity: SyncedEntity, dialect: str, served: frozenset[str]) -> sa.ColumnElement[bool]:
    """The entity's rows in scope, but the page's if it carries some (`served` names those entities)."""
    if entity.name not in served:
        return scope_predicate(entity, dialect)
    return sa.and_(
        scope_predicate(entity, dialect), sa.not_(scope.among(entity.pk, _served(entity.name), dialect))
    )


@functools.lru_cache(maxsize=_SERVED_VARIANTS)
def _versions(
    entities: tuple[SyncedEntity, ...], dialect: str, served: frozenset[str]
) -> tuple[tuple[sa.Select[Any] | sa.CompoundSelect[Any], Callable[[Any], int]], ...]:
    """(name, id, version as fetched) of the rows in scope but not among the page's rows of the
    entities named in `served`, and how a fetched version becomes the number: entities whose versions
    are fetched alike in one UNION ALL (one round trip instead of one per entity)."""
    by_conversion: dict[Callable[[Any], int], list[sa.Select[Any]]] = {}
    for e in entities:
        if e.version is not None:
            version, version_of = fetched_version(e, dialect)
            select = sa.select(sa.literal(e.name, sa.String), e.pk, version).where(
                _rest_of_scope(e, dialect, served)
            )
            by_conversion.setdefault(version_of, []).append(select)
    return tuple(
        (sa.union_all(*group) if len(group) > 1 else group[0], version_of)
        for version_of, group in by_conversion.items()
    )


class Puller:
    """Reads one page on `conn`, which should hold one snapshot for the whole page (see `read_snapshot`):
    the scope, the feed, the rows and the checksums then agree with each other."""

    def __init__(self, conn: sa.Connection, *, technician_id: str) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        # First: the horizon's statement takes the page's snapshot (see `feed_horizon`).
        self.horizon = feed_horizon(conn)
        self.scope = load_scope(self.conn, technician_id)
        self.entities = synced_entities()

    def first_cursor(self) -> Cursor:
        """Where a first sync starts: a snapshot of every entity, then the feed from a key before
        everything not yet final (the horizon on PostgreSQL, the last position on SQLite)."""
        if self.dialect == "postgresql":
            key = FeedKey(self.horizon[0], 0)
        else:
            key = FeedKey(0, self.conn.execute(_MAX_POS).scalar_one())
        names = list(self.entities)
        return Cursor(key, Snapshot(names[0], None, False) if names else None)

    def _run(self, stmt: sa.Executable, **params: Any) -> sa.CursorResult[*tuple[Any, ...]]:
        return self.conn.execute(stmt, {**self.scope.params, **params})

    # -- cursor checks ------------------------------------------------------------------------------

    def check_cursor(self, cursor: Cursor, state: SyncDeployment) -> None:
        if cursor.key < FeedKey(state.pruned_txid, state.pruned_pos):
            raise resync_required("expired", "The cursor is older than the changes this server keeps.")
        max_pos = self.conn.execute(_MAX_POS).scalar_one()
        _, xmax = self.horizon
        last_txid = 0 if self.dialect == "sqlite" else xmax  # SQLite writes every feed row with txid 0
        if cursor.key.pos > max(max_pos, state.pruned_pos) or cursor.key.txid > last_txid:
            raise resync_required("ahead_of_feed", "The cursor is ahead of this server's changes.")
        if cursor.snapshot is not None and cursor.snapshot.entity not in self.entities:
            raise resync_required("schema_changed", "The cursor names an entity this server no longer syncs.")

    # -- the page -----------------------------------------------------------------------------------

    def page(self, cursor: Cursor, limit: int, *, with_checksums: bool) -> PullPage:
        build = _Builder(root=next(iter(self.entities)))
        remaining = limit
        has_more = False
        snapshot = cursor.snapshot
        while snapshot is not None:
            entity = self.entities[snapshot.entity]
            rows = self._snapshot_rows(entity, snapshot.after, remaining + 1)
            if len(rows) > remaining:
                rows = rows[:remaining]
                has_more = True
            if rows:
                read = device_rows(entity, self.dialect).read
                build.snapshot_rows.setdefault(entity.name, []).extend(read(r) for r in rows)
                remaining -= len(rows)
            if has_more:
                last = rows[-1][entity.pk_index] if rows else snapshot.after
                snapshot = Snapshot(entity.name, str(last) if last is not None else None, snapshot.only)
                break
            snapshot = None if snapshot.only else self._next_snapshot(entity.name)
        key = cursor.key
        if not has_more:
            feed_rows, has_more = self._feed_rows(key, remaining)
            build.deltas(feed_rows)
            if feed_rows:
                key = FeedKey(feed_rows[-1].txid, feed_rows[-1].pos)
        changes = self._changes(build)
        checksums = None
        if not has_more and with_checksums:
            checksums = self.checksums(changes)
            if self._unserved_exists(key):
                checksums = None  # something committed meanwhile; the next pull will carry them
        return PullPage(Cursor(key, snapshot), has_more, changes, checksums)

    def _next_snapshot(self, name: str) -> Snapshot | None:
        names = list(self.entities)
        i = names.index(name)
        return Snapshot(names[i + 1], None, False) if i + 1 < len(names) else None

    def _snapshot_rows(self, entity: SyncedEntity, after: Any, limit: int) -> Sequence[Any]:
        if after is None:
            return self._run(_rows_in_scope(entity, self.dialect, after=False), limit=limit).all()
        return self._run(_rows_in_scope(entity, self.dialect, after=True), after=after, limit=limit).all()

    def _feed_rows(self, key: FeedKey, remaining: int) -> tuple[Sequence[Any], bool]:
        """Feed rows after `key` below the horizon, in `(txid, pos)` order."""
        xmin, _ = self.horizon
        rows = self._run(_feed_page(self.dialect), **_after(key), horizon=xmin, limit=remaining + 1).all()
        return rows[:remaining], len(rows) > remaining

    def _unserved_exists(self, key: FeedKey) -> bool:
        """Is a committed change for this device beyond `key` (whatever the horizon)?"""
        return self._run(_feed_unserved(self.dialect), **_after(key)).first() is not None

    def _changes(self, build: _Builder) -> dict[str, dict[str, list[Any]]]:
        touched = {name: set(ids) for name, ids in build.touched.items() if name in self.entities}
        jobs = sorted(build.moved_jobs)
        if jobs:
            root = self.entities[build.root]
            for entity in self.entities.values():
                if (
                    entity.scope == Scope.WORK_ORDER
                    and not entity.is_root
                    and entity.scope_column is not None
                ):
                    found = self._run(_ids_of_jobs(entity, self.dialect), ids=jobs)
                    touched.setdefault(entity.name, set()).update(str(r[0]) for r in found)
                if entity.scope == Scope.REFERENCED and entity.via is not None:
                    refs = self._run(_referenced_by_jobs(entity, root, self.dialect), ids=jobs)
                    touched.setdefault(entity.name, set()).update(str(r[0]) for r in refs)
        out: dict[str, dict[str, list[Any]]] = {}
        for name, rows in build.snapshot_rows.items():
            out.setdefault(name, {"upserts": [], "deletes": []})["upserts"].extend(rows)
        for name, ids in touched.items():
            bucket = out.setdefault(name, {"upserts": [], "deletes": []})
            current = self._current_rows(self.entities[name], sorted(ids))
            bucket["upserts"].extend(current)
            pk = self.entities[name].pk_key
            present = {str(row[pk]) for row in current}
            bucket["deletes"].extend(sorted(ids - present))
        return out

    def _current_rows(self, entity: SyncedEntity, ids: list[str]) -> list[dict[str, Any]]:
        stmt = _rows_by_id(entity, self.dialect)
        read = device_rows(entity, self.dialect).read
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), _ID_CHUNK):
            out.extend(read(row) for row in self._run(stmt, ids=ids[start : start + _ID_CHUNK]).all())
        return out

    # -- convergence --------------------------------------------------------------------------------

    def checksums(self, changes: dict[str, dict[str, list[Any]]] | None = None) -> dict[str, dict[str, Any]]:
        """Per entity: the count and the order-independent checksum of the device's scope. `changes`,
        this page's (read in the same snapshot), spares reading again the versions it carries."""
        totals = dict.fromkeys(self.entities, (0, 0))
        for name, count, total in self._sums(changes or {}):
            totals[name] = (count, total)
        return {
            name: {"count": count, "checksum": f"{total % CHECKSUM_MODULUS:016x}"}
            for name, (count, total) in totals.items()
        }

    def _sums(self, changes: dict[str, dict[str, list[Any]]]) -> Iterator[tuple[str, int, int]]:
        """(entity, row count, sum of row hashes) of the scope. The page's upserts are the scope's
        current rows with their ids (read in the same snapshot): they are summed as sent, and the
        rest of the scope is read. PostgreSQL sums the rest of the versioned entities itself and
        counts the others (one query, no rows travel); elsewhere their (id, version) pairs are streamed.
        Rows without a version column are read whole (their version is a hash of the row)."""
        totals: dict[str, list[int]] = {}
        params = dict(self.scope.params)
        for entity in self.entities.values():
            upserts = changes.get(entity.name, {}).get("upserts")
            if upserts and entity.version is not None:
                pk = entity.pk_key
                sent = {str(row[pk]): row["sync_version"] for row in upserts}
                totals[entity.name] = [len(sent), sum(row_hash(i, v) for i, v in sent.items())]
                params[_served(entity.name)] = list(sent)
        served = frozenset(totals)
        if self.dialect == "postgresql":
            entities = tuple(self.entities.values())
            for name, count, total in self.conn.execute(
                _sums_in_database(entities, self.dialect, served), params
            ):
                entity = self.entities[name]
                if not count:
                    continue
                if entity.version is None:
                    yield self._sum_of_rows(entity)
                else:
                    sums = totals.setdefault(name, [0, 0])
                    sums[0] += count
                    sums[1] += int(total)
        else:
            for entity in self.entities.values():
                if entity.version is None:
                    yield self._sum_of_rows(entity)
            versioned = tuple(e for e in self.entities.values() if e.version is not None)
            self._add_versions(totals, versioned, served, params)
        for name, (count, total) in totals.items():
            yield name, count, total

    def _sum_of_rows(self, entity: SyncedEntity, batch: int = 1000) -> tuple[str, int, int]:
        """Read `batch` rows at a time in id order: memory stays bounded, a small table costs one query."""
        count = total = 0
        after = None
        while True:
            rows = self._snapshot_rows(entity, after, batch)
            for row in rows:
                total += row_hash(str(row[entity.pk_index]), content_version(row))
            count += len(rows)
            if len(rows) < batch:
                return entity.name, count, total
            after = rows[-1][entity.pk_index]

    def _add_versions(
        self,
        totals: dict[str, list[int]],
        entities: tuple[SyncedEntity, ...],
        served: frozenset[str],
        params: dict[str, Any],
    ) -> None:
        """Streams the (id, version) pairs of the scope but the page's rows into `totals`."""
        for union, version_of in _versions(entities, self.dialect, served):
            streamed = self.conn.execute(union, params, execution_options={"yield_per": 1000})
            for name, row_id, version in streamed:
                sums = totals.get(name)
                if sums is None:
                    sums = totals[name] = [0, 0]
                sums[0] += 1
                sums[1] += row_hash(str(row_id), version_of(version))


@contextmanager
def read_snapshot(session: Session) -> Iterator[sa.Connection]:
    """A read-only connection seeing one snapshot of the database for the whole page: REPEATABLE READ
    on PostgreSQL, an explicit read transaction on SQLite (whose driver would otherwise run each
    SELECT on its own)."""
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        else:
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def _wait_for_older_writers(conn: sa.Connection, technician_id: str, key: FeedKey, seconds: float) -> None:
    """PostgreSQL: when committed changes for this device are held back by an older transaction still
    running, give it a moment to finish so the page carries them (never needed for correctness)."""
    if conn.dialect.name != "postgresql" or seconds <= 0:
        return
    xmin, xmax = feed_horizon(conn)
    if xmin >= xmax:
        return  # no writer of ours in progress: nothing is held back
    params = {**load_scope(conn, technician_id).params, **_after(key)}
    stmt = _feed_held_back(conn.dialect.name)
    deadline = time.monotonic() + seconds
    while conn.execute(stmt, {**params, "horizon": xmin}).first() is not None:
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)
        xmin, _ = feed_horizon(conn)


def resync_cursor(cursor: Cursor, entity: str) -> Cursor:
    """Re-send one entity whole, then continue the feed from where the device is."""
    return Cursor(cursor.key, Snapshot(entity, None, True))


def server_time() -> str:
    return utcnow().isoformat()


def pull_changes(
    session: Session,
    *,
    principal: Principal,
    device_id: str,
    cursor: str | None,
    limit: int,
    protocol: int,
    secret: str,
    resync: str | None = None,
    horizon_wait_seconds: float = 1.0,
) -> dict[str, Any]:
    """One page for the caller's device: `{cursor, has_more, server_time, protocol, changes[, checksums]}`."""
    if principal.user_id is None or principal.technician_id is None:
        raise Problem("sync.not_a_technician", "Only technicians' devices sync.", status=403)
    state = deployment(session)
    codec = CursorCodec(secret, state.deployment_id)
    current = codec.loads(cursor, user_id=principal.user_id, device_id=device_id) if cursor else None
    if current is not None:
        _wait_for_older_writers(
            session.connection(), principal.technician_id, current.key, horizon_wait_seconds
        )
    with read_snapshot(session) as conn:
        puller = Puller(conn, technician_id=principal.technician_id)
        if current is not None:
            puller.check_cursor(current, state)
        else:
            current = puller.first_cursor()
        if resync is not None:
            if resync not in puller.entities:
                raise Problem(
                    "sync.unknown_entity",
                    f"No synced entity named '{resync}'.",
                    status=422,
                    errors={"resync": [f"Must be one of: {', '.join(puller.entities)}."]},
                )
            current = resync_cursor(current, resync)
        page = puller.page(current, limit, with_checksums=protocol >= 2)
    # Registered (or checked) after the page is read: a write first would hold back our own horizon.
    device = device_for(session, principal, device_id, protocol=protocol)
    mark_seen(device, pulled=True)
    body: dict[str, Any] = {
        "cursor": codec.dumps(page.cursor, user_id=principal.user_id, device_id=device_id),
        "has_more": page.has_more,
        "server_time": server_time(),
        "protocol": protocol,
        "changes": page.changes,
    }
    if protocol >= 2:
        body["checksums"] = page.checksums
    return body


def scope_view(session: Session, technician_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Everything a technician's device should hold right now, as the device would store it
    (entity -> id -> row). For support and for tests: compare with a device's replica."""
    conn = session.connection()
    dialect = conn.dialect.name
    params = load_scope(conn, technician_id).params
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entity in synced_entities().values():
        stmt = sa.select(*entity.selectable()).where(scope_predicate(entity, dialect))
        table = {str(r[entity.pk_index]): entity.serialize(r) for r in conn.execute(stmt, params)}
        if table:
            out[entity.name] = table
    return out
