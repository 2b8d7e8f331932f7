"""Feed housekeeping: drop old change rows; cursors older than what is kept must resync."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.kernel.base import utcnow
from backend.sync.models import SyncChange
from backend.sync.pull import deployment

_C = SyncChange.__table__.c


def prune_feed(session: Session, *, keep_seconds: float = 30 * 86400) -> int:
    """Delete change rows older than `keep_seconds`; returns how many. Raises the pruned watermark so
    that a device whose cursor points into the removed part is told to resync."""
    state = deployment(session)
    cutoff = utcnow() - timedelta(seconds=keep_seconds)
    newest = session.execute(
        sa.select(_C.txid, _C.pos)
        .where(_C.created_at <= cutoff)
        .order_by(_C.txid.desc(), _C.pos.desc())
        .limit(1)
    ).first()
    if newest is None:
        return 0
    result = session.connection().execute(sa.delete(_C.pos.table).where(_C.created_at <= cutoff))
    count = result.rowcount
    if (newest.txid, newest.pos) > (state.pruned_txid, state.pruned_pos):
        state.pruned_txid, state.pruned_pos = newest.txid, newest.pos
    session.flush()
    return int(count or 0)
