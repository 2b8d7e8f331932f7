"""What a technician's device holds: their jobs in a scope status and everything hanging off them.

A job is in its assignee's scope from assignment until it is closed or cancelled (so completed and
customer-accepted jobs stay on the phone until the service desk closes them). The scope is a pure
function of the rows, so the snapshot, the checksum and the feed agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from backend.models.work_orders import WorkOrder
from backend.services.states import ACTIVE, Status
from backend.sync import entities as _entities
from backend.sync.spec import Scope

IN_SCOPE_STATUSES = frozenset(ACTIVE | {Status.ACCEPTED_BY_CUSTOMER})


def scope_owner(assignee_id: str | None, status: str | None) -> str | None:
    """The technician whose device holds a job in this state, if any."""
    return assignee_id if assignee_id and status in IN_SCOPE_STATUSES else None


@dataclass
class TechnicianScope:
    technician_id: str
    job_ids: list[str]
    refs: dict[str, set[str]] = field(default_factory=dict)

    def predicate(self, entity: _entities.SyncedEntity) -> sa.ColumnElement[bool]:
        """WHERE clause selecting the entity's rows in this scope."""
        if entity.is_root:
            return entity.pk.in_(self.job_ids)
        if entity.scope == Scope.WORK_ORDER:
            assert entity.scope_column is not None
            return entity.scope_column.in_(self.job_ids)
        if entity.scope == Scope.TECHNICIAN:
            assert entity.scope_column is not None
            return entity.scope_column == self.technician_id
        if entity.scope == Scope.REFERENCED:
            return entity.pk.in_(sorted(self.refs.get(entity.name, ())))
        return sa.true()


def jobs_in_scope(technician_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(WorkOrder.assignee_id == technician_id, WorkOrder.status.in_(sorted(IN_SCOPE_STATUSES)))


def load_scope(conn: Any, technician_id: str) -> TechnicianScope:
    """The technician's jobs and the customers/products/addresses they reference (one query)."""
    referenced = [e for e in _entities.synced_entities().values() if e.scope == Scope.REFERENCED]
    vias = [e.via for e in referenced]
    rows = conn.execute(sa.select(WorkOrder.id, *vias).where(jobs_in_scope(technician_id))).all()
    scope = TechnicianScope(technician_id, sorted(r[0] for r in rows))
    for i, entity in enumerate(referenced, start=1):
        scope.refs[entity.name] = {r[i] for r in rows if r[i] is not None}
    return scope
