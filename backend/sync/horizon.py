"""The feed's horizon on PostgreSQL: the oldest transaction that may still write feed rows.

Feed rows carry their transaction's id (`txid`); a pull serves rows below the horizon only, so a
transaction that took an early id and commits late is never stepped over. The horizon is the oldest
transaction in progress, but only among those that can write feed rows: a long transaction in another
database of the cluster, or a psql session or report in this one, does not hold pulls back.

How a feed writer is recognised: every ORM session transaction of the app takes a shared
transaction-level advisory lock on the feed (keyed by the feed table's oid, so two schemas of one
database do not mix; 0 before the schema exists) as its first statement, before it can have a
transaction id. A transaction in
progress is left out of the horizon only on positive evidence that it is not ours: its backend is in
another database, or it holds a transaction id but not the lock. The lock holders are read before the
backends, and a transaction takes the lock before its id, so a writer of ours is never taken for a
stranger; anything uncertain (a prepared transaction, a backend that just finished) counts.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

# Advisory lock key: "REPA" in the upper 32 bits, the feed table's oid in the lower ones. pg_locks shows
# a bigint key as classid (upper), objid (lower) and objsubid 1.
_CLASS = 0x52455041
_MARK = sa.text(
    "SELECT pg_advisory_xact_lock_shared("
    "(CAST(:class AS bigint) << 32) | coalesce(to_regclass('sync_changes')::oid::bigint, 0))"
).bindparams(**{"class": _CLASS})
_SNAPSHOT = sa.text(
    "SELECT pg_snapshot_xmax(s)::text::bigint, "
    "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) "
    "FROM (SELECT pg_current_snapshot() AS s) AS snap"
)
_WRITERS = sa.text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = CAST(:class AS oid) AND objsubid = 1 "
    "AND objid = coalesce(to_regclass('sync_changes')::oid, 0)"
).bindparams(**{"class": _CLASS})
_FRESH_ACTIVITY = sa.text("SELECT pg_stat_clear_snapshot()")
_BACKENDS = sa.text(
    "SELECT pid, backend_xid::text::bigint, datname = current_database() "
    "FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
)
_XID32 = 2**32


@event.listens_for(Session, "after_begin")
def _mark_feed_writer(session: Session, transaction: SessionTransaction, connection: sa.Connection) -> None:
    """Every app transaction on PostgreSQL says it may write feed rows, before it has an id."""
    if connection.dialect.name == "postgresql":
        connection.execute(_MARK)


def feed_horizon(conn: sa.Connection) -> tuple[int, int]:
    """(horizon, xmax) for the connection's current snapshot: feed rows with `txid < horizon` are final
    (every transaction that could still add one below it has ended); `xmax` is the first id not yet
    assigned when the snapshot was taken."""
    xmax, in_progress = conn.execute(_SNAPSHOT).one()
    if not in_progress:
        return int(xmax), int(xmax)
    candidates = [int(x) for x in in_progress]
    strangers = _strangers(conn)
    ours = [x for x in candidates if x % _XID32 not in strangers]
    return (min(ours) if ours else int(xmax)), int(xmax)


def _strangers(conn: sa.Connection) -> set[int]:
    """32-bit ids of transactions in progress that certainly write no feed rows of ours. Order matters:
    lock holders first, then a fresh read of the backends."""
    writers = set(conn.execute(_WRITERS).scalars())
    conn.execute(_FRESH_ACTIVITY)
    out: set[Any] = set()
    for pid, xid, same_database in conn.execute(_BACKENDS):
        if not same_database or pid not in writers:
            out.add(int(xid))
    return out
