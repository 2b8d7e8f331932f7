"""What a technician's device holds: the jobs they hold and everything hanging off them.

A job is in its holder's scope while its state is one of the root's `held_states` (declared by the root
model: for work orders, from assignment until closed or cancelled). The scope is a pure function of the
rows, so the snapshot, the checksum and the feed agree on it.

The WHERE clauses selecting a scope's rows are built once per entity and dialect with the scope's ids
as bound parameters (`TechnicianScope.params`): a pull runs the same few statements for everyone, so
SQLAlchemy neither rebuilds nor recompiles them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

from backend.kernel.sync_spec import Scope
from backend.sync import entities as _entities

# Parameter names of the scope predicates.
JOBS = "scope_jobs"
TECHNICIAN = "scope_technician"
REFS = "scope_refs"  # every referenced row (customers, products, addresses) of the scope's jobs


def refs_of(entity: str) -> str:
    """Parameter name: the referenced rows of one entity."""
    return f"scope_refs_{entity}"


def scope_owner(holder_id: str | None, state: str | None) -> str | None:
    """The technician whose device holds a job with this holder and state, if any."""
    spec = _entities.root_entity().spec
    return holder_id if holder_id and state in spec.held_states else None


class IdList(TypeDecorator[list[str]]):
    """A list of ids bound as one parameter: its JSON text (psycopg adapted a Python list of a thousand
    strings three times slower than orjson writes it)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Iterable[str] | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else orjson.dumps(list(value)).decode()


def among(column: sa.ColumnElement[Any], param: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column IN (:param)`, the list of ids bound as one parameter: a page's thousand ids are bound
    once instead of coerced and rendered one by one, and the statement's SQL does not depend on the
    list's length. The list is read as a table (`json_array_elements_text`, `json_each`): PostgreSQL's
    plan for a prepared statement then joins it, where `= ANY(:param)` compared each row with every id."""
    values = sa.bindparam(param, type_=IdList())
    if dialect == "postgresql":
        return column.in_(sa.select(sa.func.json_array_elements_text(sa.cast(values, postgresql.JSON))))
    return column.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(values)))


@functools.cache
def scope_predicate(entity: _entities.SyncedEntity, dialect: str) -> sa.ColumnElement[bool]:
    """WHERE clause selecting the entity's rows in a scope (parameters: `TechnicianScope.params`)."""
    if entity.is_root:
        return among(entity.pk, JOBS, dialect)
    if entity.scope == Scope.WORK_ORDER:
        assert entity.scope_column is not None
        return among(entity.scope_column, JOBS, dialect)
    if entity.scope == Scope.TECHNICIAN:
        assert entity.scope_column is not None
        return entity.scope_column == sa.bindparam(TECHNICIAN, type_=sa.String)
    if entity.scope == Scope.REFERENCED:
        return among(entity.pk, refs_of(entity.name), dialect)
    return sa.true()


@dataclass
class TechnicianScope:
    technician_id: str
    job_ids: list[str]
    refs: dict[str, set[str]] = field(default_factory=dict)

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """Values of the scope predicates' parameters."""
        params: dict[str, Any] = {
            JOBS: self.job_ids,
            TECHNICIAN: self.technician_id,
            REFS: sorted(set().union(*self.refs.values())),
        }
        for name, ids in self.refs.items():
            params[refs_of(name)] = sorted(ids)
        return params


def jobs_in_scope(technician_id: str) -> sa.ColumnElement[bool]:
    root = _entities.root_entity()
    columns = root.table.c
    assert root.spec.holder_column is not None and root.spec.state_column is not None
    return sa.and_(
        columns[root.spec.holder_column] == technician_id,
        columns[root.spec.state_column].in_(sorted(root.spec.held_states)),
    )


def load_scope(conn: Any, technician_id: str) -> TechnicianScope:
    """The technician's jobs and the customers/products/addresses they reference (one query)."""
    referenced = [e for e in _entities.synced_entities().values() if e.scope == Scope.REFERENCED]
    vias = [e.via for e in referenced]
    rows = conn.execute(
        sa.select(_entities.root_entity().pk, *vias).where(jobs_in_scope(technician_id))
    ).all()
    scope = TechnicianScope(technician_id, sorted(r[0] for r in rows))
    for i, entity in enumerate(referenced, start=1):
        scope.refs[entity.name] = {r[i] for r in rows if r[i] is not None}
    return scope
