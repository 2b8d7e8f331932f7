"""Convergence checksums: PostgreSQL sums a scope's row hashes itself, with the Python arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.models.base import UTCDateTime
from backend.sync.entities import (
    CHECKSUM_MODULUS,
    row_hash,
    row_hash_sql,
    version_number,
    version_number_sql,
)

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
