"""The feed's horizon on PostgreSQL: the oldest transaction that may still add feed rows a pull cannot see.

Feed rows carry their transaction's id (`txid`); a pull serves rows below the horizon only, so a
transaction that took an early id and commits late is never stepped over. The horizon is the oldest
transaction in progress in the pull's snapshot, among those that may write feed rows: a long
transaction in another database of the cluster, or a psql session or report in this one, does not
hold pulls back.

How a feed writer is recognised: every ORM session transaction of the app takes a shared
transaction-level advisory lock on the feed (keyed by the feed table's oid, so two schemas of one
database do not mix; 0 before the schema exists) as its first statement, before it can have a
transaction id, and keeps it to its end. After the snapshot, one read of `pg_locks` (all of it at one
instant) says, for each transaction of the snapshot still running, which backend holds its id and
whether that backend holds the feed lock: it is ours exactly when it does.

A transaction of the snapshot that has ended by that read may have committed feed rows the snapshot
does not show. Those ids are looked up in the feed on a fresh snapshot (they have ended, so it shows
whatever they committed): one with rows is a writer of ours and holds the horizon back; one without
wrote nothing for any device.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import NullPool

from backend.sync.models import SyncChange

# Advisory lock key: "REPA" in the upper 32 bits, the feed table's oid in the lower ones. pg_locks shows
# a bigint key as classid (upper), objid (lower) and objsubid 1.
_CLASS = 0x52455041
_MARK = sa.text(
    "SELECT pg_advisory_xact_lock_shared("
    "(CAST(:class AS bigint) << 32) | coalesce(to_regclass('sync_changes')::oid::bigint, 0))"
).bindparams(**{"class": _CLASS})
# One statement: its snapshot is the one `pg_current_snapshot` reports (the transaction's under
# REPEATABLE READ), and pg_locks is read once (a materialized CTE: all of it at one instant) right after,
# only when some transaction of the snapshot is running. For each id held then (a transaction's own
# ExclusiveLock on its id), whether its holder holds the feed lock; a prepared transaction's locks have
# no pid and count as ours.
_HORIZON = sa.text(
    "WITH snap AS (SELECT pg_current_snapshot() AS s), "
    "locks AS MATERIALIZED ("
    "  SELECT locktype, pid, transactionid, database, classid, objid, objsubid, mode "
    "  FROM pg_locks WHERE granted), "
    "feed AS MATERIALIZED ("
    "  SELECT pid FROM locks WHERE locktype = 'advisory' AND objsubid = 1 "
    "  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "  AND classid = CAST(:class AS oid) AND objid = coalesce(to_regclass('sync_changes')::oid, 0)) "
    "SELECT pg_snapshot_xmax(s)::text::bigint, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x), "
    "  CASE WHEN pg_snapshot_xmin(s) = pg_snapshot_xmax(s) THEN NULL ELSE ARRAY("
    "    SELECT ARRAY[transactionid::text::bigint, "
    "      CASE WHEN pid IS NULL OR pid IN (SELECT pid FROM feed) THEN 1 ELSE 0 END] "
    "    FROM locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock') END "
    "FROM snap"
).bindparams(**{"class": _CLASS})
_TXID = SyncChange.__table__.c.txid
_WROTE = sa.select(_TXID).where(_TXID.in_(sa.bindparam("ids", expanding=True))).group_by(_TXID)
_XID32 = 2**32


@event.listens_for(Session, "after_begin")
def _mark_feed_writer(session: Session, transaction: SessionTransaction, connection: sa.Connection) -> None:
    """Every app transaction on PostgreSQL says it may write feed rows, before it has an id."""
    if connection.dialect.name == "postgresql":
        connection.execute(_MARK)


def feed_horizon(conn: sa.Connection) -> tuple[int, int]:
    """(horizon, xmax) for the connection's current snapshot: feed rows with `txid < horizon` are final
    (every transaction that could still add one below it has ended and is visible); `xmax` is the first
    id not yet assigned when the snapshot was taken. Read it first in a REPEATABLE READ transaction:
    the later its locks are read after the snapshot, the more of the snapshot's transactions have ended
    and need a look in the feed."""
    xmax, in_progress, held = conn.execute(_HORIZON).one()
    xmax = int(xmax)
    if not in_progress:
        return xmax, xmax
    held_by_writer = {int(xid): bool(flag) for xid, flag in held or ()}  # 32-bit id -> its holder's lock
    writers = [x for x in in_progress if held_by_writer.get(x % _XID32)]
    ended = [x for x in in_progress if x % _XID32 not in held_by_writer]
    if ended:
        writers.extend(_wrote_feed_rows(conn.engine, ended))
    return (min(writers) if writers else xmax), xmax


def _wrote_feed_rows(engine: sa.Engine, ended: list[int]) -> list[int]:
    """Which of these ended transactions committed feed rows, read on a fresh snapshot, which shows
    whatever they committed. Its own connection (not pooled: the caller already holds one or two of
    the pool's, and this is rare) so a busy pool cannot deadlock on it."""
    with _fresh_engine(engine.url.render_as_string(hide_password=False)).connect() as fresh:
        return [int(x) for x in fresh.execute(_WROTE, {"ids": ended}).scalars()]


@functools.lru_cache(maxsize=8)
def _fresh_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)
