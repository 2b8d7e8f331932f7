"""Feed backlog benchmark: a phone behind a large backlog of other technicians' changes.

    python bench/feed_backlog_bench.py                       # SQLite (temporary file)
    SYNC_BENCH_DATABASE_URL=postgresql+psycopg://... python bench/feed_backlog_bench.py

Two technicians, ten jobs each. Phone A pulls, then BACKLOG feed rows of other technicians' jobs are
written, then phone B pulls (its cursor is after them), then each technician's jobs get ten notes.
Prints phone A's pull (its ten notes behind the backlog) against phone B's (the same ten notes, no
backlog), run alternately: a pull should cost the device's rows, not everyone's written since its
cursor. Target on PostgreSQL (the route indexes): <= 2x. SQLite reads the rowid range after the cursor
(see backend/models/sync.py) and is printed without a target.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from flask_jwt_extended import create_access_token  # noqa: E402
from sync_bench import _jobs, _paired, analyze, bench_app, changed_events  # noqa: E402

from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.kernel.base import utcnow
from backend.sync.models import SyncChange

BACKLOG = int(os.environ.get("FEED_BACKLOG", "200000"))
OWN = 10


def _technician(session, region: Region, n: int) -> tuple[User, Technician]:
    user = User(username=f"backlog-tech-{n}", password_hash="x", role="technician", display_name="师傅")
    session.add(user)
    session.flush()
    tech = Technician(
        user_id=user.id, employee_no=f"BL{n:04d}", region_id=region.id, home_lat=34.7, home_lng=113.6
    )
    session.add(tech)
    session.flush()
    return user, tech


def _backlog(engine: sa.Engine, rows: int) -> None:
    """`rows` feed rows of 5,000 jobs nobody here holds, written as the feed writes them."""
    now = utcnow()
    values = [
        {
            "entity": "work_order_events",
            "row_id": str(uuid.uuid4()),
            "op": "upsert",
            "scope": "work_order",
            "scope_key": f"another-job-{i % 5000}",
            "audience": None,
            "created_at": now,
        }
        for i in range(rows)
    ]
    table = SyncChange.__table__
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            txid = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)
            conn.execute(sa.insert(table).values(txid=txid), values)
        else:
            conn.execute(sa.insert(table), [{**v, "txid": 0} for v in values])


def main() -> None:
    with bench_app() as (app, schema):
        session = app.extensions["repairops.session_factory"]()
        region = Region(code="BL", name="backlog", city="郑州市", center_lat=34.7, center_lng=113.6)
        session.add(region)
        session.flush()
        phones = []
        for n in (1, 2):
            user, tech = _technician(session, region, n)
            phones.append((user, _jobs(session, tech, f"BL{n}")))
        session.commit()
        client = app.test_client()
        engine = app.extensions["repairops.engine"]

        def headers(user: User) -> dict[str, str]:
            with app.app_context():
                token = create_access_token(identity=user.id, additional_claims={"role": user.role})
            return {"Authorization": f"Bearer {token}", "X-Sync-Protocol": "2"}

        def first_cursor(user: User) -> str:
            resp = client.get(
                "/sync/pull", query_string={"device_id": user.id, "limit": 2000}, headers=headers(user)
            )
            assert resp.status_code == 200, resp.json
            return resp.json["cursor"]

        (user_a, jobs_a), (user_b, jobs_b) = phones
        cursor_a = first_cursor(user_a)
        _backlog(engine, BACKLOG)
        cursor_b = first_cursor(user_b)
        for jobs in (jobs_a, jobs_b):
            session.add_all(changed_events(jobs, OWN))
        session.commit()
        analyze(app)

        def pull(user: User, cursor: str):
            auth = headers(user)

            def run() -> None:
                resp = client.get(
                    "/sync/pull",
                    query_string={"device_id": user.id, "cursor": cursor, "limit": 500},
                    headers=auth,
                )
                assert resp.status_code == 200, resp.json
                assert len(resp.json["changes"]["work_order_events"]["upserts"]) == OWN, resp.json
                assert resp.json["has_more"] is False

            return run

        behind_s, baseline_s, ratio = _paired(pull(user_a, cursor_a), pull(user_b, cursor_b))
        session.close()

    backend = "postgresql" if schema else "sqlite"
    target = "(target <= 2x)" if schema else "(no target: SQLite ranges over the rows after the cursor)"
    print(f"feed backlog bench ({backend}, {BACKLOG} other jobs' changes; alternating pairs)")
    print(
        f"pull of {OWN} own changes behind the backlog: {behind_s * 1000:7.1f} ms"
        f"   without it: {baseline_s * 1000:6.1f} ms   ratio {ratio:5.2f}x {target}"
    )


if __name__ == "__main__":
    main()
