"""The pull's fast paths agree with the reference ones: PostgreSQL sums a scope's row hashes with the
Python arithmetic, and rows read with their timestamps as text are what `serialize` gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.kernel.base import UTCDateTime
from backend.sync.entities import (
    CHECKSUM_MODULUS,
    device_rows,
    row_hash,
    row_hash_sql,
    synced_entities,
    version_number,
    version_number_sql,
)
from backend.work_orders.models import WorkOrderEvent
from tests import factories

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _awkward_times() -> list[datetime | None]:
    """Times whose `timestamp() * 10^6` in doubles is not their exact microsecond count (a run of them
    a few days after 1970), before 1970, on whole seconds, and none."""
    candidates = (EPOCH + timedelta(microseconds=273_955_657_000 + i) for i in range(1000))
    rounded_off = [at for at in candidates if version_number(at) != (at - EPOCH) // timedelta(microseconds=1)]
    assert len(rounded_off) >= 10
    return [
        *rounded_off[:20],
        EPOCH - timedelta(microseconds=1_234_567),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 23, 21, 46, 48, 659949, tzinfo=UTC),
        EPOCH,
        None,
    ]


def test_postgresql_row_hashes_and_versions_are_the_python_ones(db, backend_name):
    if backend_name != "postgresql":
        pytest.skip("only PostgreSQL sums checksums in SQL")
    rows = [
        (f"row-{i}-é", at, number)
        for i, (at, number) in enumerate(
            zip(_awkward_times(), [1, 2**62 + 12345, None, 7] * 10, strict=False)
        )
    ]
    values = sa.values(
        sa.column("id", sa.String), sa.column("at", UTCDateTime()), sa.column("n", sa.BigInteger), name="v"
    ).data(rows)
    stmt = sa.select(
        values.c.id,
        row_hash_sql(values.c.id, version_number_sql(values.c.at)),
        row_hash_sql(values.c.id, version_number_sql(values.c.n)),
    )

    got = {row_id: (by_time, by_number) for row_id, by_time, by_number in db.execute(stmt)}

    for row_id, at, number in rows:
        by_time, by_number = got[row_id]
        assert by_time % CHECKSUM_MODULUS == row_hash(row_id, version_number(at)), (row_id, at)
        assert by_number % CHECKSUM_MODULUS == row_hash(row_id, version_number(number)), (row_id, number)


def test_rows_read_with_timestamps_as_text_are_what_serialize_gives(db):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(
        assignee=tech, status="assigned", appointment_start=datetime(2026, 3, 1, 8, tzinfo=UTC)
    )
    times = _awkward_times()
    db.add_all(
        WorkOrderEvent(
            work_order_id=order.id,
            seq=i + 1,
            kind="note",
            actor_role="technician",
            message=f"n{i}",
            data={"i": i},
            device_time=at,
            created_at=at or datetime(2026, 5, 1, tzinfo=UTC),
        )
        for i, at in enumerate(times)
    )
    db.commit()
    conn = db.connection()
    dialect = conn.dialect.name

    for entity in synced_entities().values():
        fast = device_rows(entity, dialect)
        expected = {
            r[entity.pk_index]: entity.serialize(r) for r in conn.execute(sa.select(*entity.selectable()))
        }
        got = {r[entity.pk_index]: fast.read(r) for r in conn.execute(sa.select(*fast.columns))}
        assert got == expected, entity.name
    events = synced_entities()["work_order_events"]
    assert len(list(conn.execute(sa.select(*device_rows(events, dialect).columns)))) == len(times)
