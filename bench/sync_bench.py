"""Sync benchmark: pull and push against raw SQL baselines measured in the same run.

    python bench/sync_bench.py                       # SQLite (temporary file)
    SYNC_BENCH_DATABASE_URL=postgresql+psycopg://... python bench/sync_bench.py

Prints:
- pull of 1,000 changed rows (GET /sync/pull, limit 1000) vs a raw SQL SELECT of the same rows +
  json.dumps (target <= 3x);
- push of 500 mutations (`work_order.note`, one POST /sync/push) vs plain SQL writing the same rows in
  one transaction: per mutation its exactly-once record, the note and its feed row, and the device's
  last push (target <= 3x; see "push" below for what both sides write and how that is checked).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_jwt_extended import create_access_token  # noqa: E402

from backend import create_app  # noqa: E402
from backend.accounts.customers import Customer, Product
from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.config import Settings  # noqa: E402
from backend.db import make_engine  # noqa: E402
from backend.domains import metadata
from backend.kernel.base import Base, utcnow
from backend.sync.models import SyncChange, SyncDevice, SyncMutation
from backend.work_orders.models import WorkOrder, WorkOrderEvent

ROWS = 1000
MUTATIONS = 500
REPEAT = 7


def _database_url(tmp: str) -> tuple[str, str | None]:
    url = os.environ.get("SYNC_BENCH_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp}/bench.db", None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


@contextmanager
def bench_app() -> Iterator[tuple[Flask, str | None]]:
    """The app on a fresh database: a temporary SQLite file, or a schema of SYNC_BENCH_DATABASE_URL
    (returned, and dropped afterwards)."""
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = _database_url(tmp)
        engine = make_engine(url)
        metadata().create_all(engine)
        engine.dispose()
        app = create_app(Settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef"))
        try:
            yield app, schema
        finally:
            app.extensions["repairops.engine"].dispose()
            if schema:
                admin = sa.create_engine(os.environ["SYNC_BENCH_DATABASE_URL"])
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def analyze(app: Flask) -> None:
    """PostgreSQL plans with statistics, as autovacuum keeps them on a live database."""
    engine = app.extensions["repairops.engine"]
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def changed_events(jobs: list[str], n: int) -> list[WorkOrderEvent]:
    """`n` notes spread over the jobs (new rows: add and commit them)."""
    return [
        WorkOrderEvent(
            work_order_id=jobs[i % len(jobs)],
            seq=i + 1,
            kind="note",
            actor_role="technician",
            message=f"记录 {i}",
            data={"i": i},
            created_at=utcnow(),
        )
        for i in range(n)
    ]


def _arrange(session) -> tuple[User, Technician, list[str]]:
    region = Region(code="B1", name="bench", city="郑州市", center_lat=34.7, center_lng=113.6)
    user = User(username="bench-tech", password_hash="x", role="technician", display_name="师傅")
    session.add_all([region, user])
    session.flush()
    tech = Technician(
        user_id=user.id, employee_no="B0001", region_id=region.id, home_lat=34.7, home_lng=113.6
    )
    session.add(tech)
    session.flush()
    jobs = _jobs(session, tech, "BENCH")
    session.commit()
    return user, tech, jobs


def _jobs(session, tech: Technician, tag: str, n: int = 10) -> list[str]:
    """`n` on-site jobs of the technician, each with its customer and product."""
    jobs = []
    for i in range(n):
        customer = Customer(name=f"客户{i}", phone=f"1390000{i:04d}")
        session.add(customer)
        session.flush()
        product = Product(customer_id=customer.id, category="air_conditioner", model="KFR-35GW")
        session.add(product)
        session.flush()
        order = WorkOrder(
            number=f"WO-{tag}-{i:04d}",
            customer_id=customer.id,
            product_id=product.id,
            product_category="air_conditioner",
            fault_description="空调不制冷",
            status="on_site",
            assignee_id=tech.id,
        )
        session.add(order)
        session.flush()
        jobs.append(order.id)
    return jobs


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _paired(api, baseline, repeat: int = REPEAT) -> tuple[float, float, float]:
    """Median seconds of each, and the median of the per-pair ratios. The two run alternately, after
    one warm-up each, so that a busy neighbour on the machine slows both sides alike."""
    api()
    baseline()
    pairs = [(_once(api), _once(baseline)) for _ in range(repeat)]
    return (
        statistics.median(a for a, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(a / b for a, b in pairs),
    )


# -- push ------------------------------------------------------------------------------------------
# What one `work_order.note` push records, and so what the plain SQL baseline writes, row for row:
# - sync_mutations: the exactly-once record (device, user, technician, name, args as sent,
#   client_time, status `applied` and the result the device was told, returned again on a retry);
# - work_order_events: the note (seq = the job's last seq + 1; data names the device and mutation);
# - sync_changes: one feed row (a work_order_events upsert scoped to the job; on PostgreSQL the
#   writing transaction's id);
# - sync_devices: last_seen_at / last_push_at / protocol of the pushing device, once per push.
# A note is history, not a change to the job: neither side bumps the work order's version (the
# check asserts it). The baseline does no validation, no savepoints and no duplicate detection; it is
# one INSERT per row (one grouped SELECT for the jobs' last seq, one UPDATE of the device) in one
# transaction. A reference line (no target) writes the same rows with one `executemany` per table:
# on PostgreSQL psycopg pipelines it, so it saves the round trips the per-row baseline pays.
# `_Pusher.check_same_facts` runs the push and each baseline on identical fresh jobs and asserts that
# they leave the same rows (ids, timestamps and feed positions aside) and the same row counts in every
# table.

_SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Note:
    mutation_id: str
    event_id: str
    work_order_id: str
    text: str
    client_time: datetime


def _notes(jobs: list[str], client_time: datetime | None = None) -> list[Note]:
    now = client_time or datetime.now(UTC)
    return [
        Note(str(uuid.uuid4()), str(uuid.uuid4()), jobs[i % len(jobs)], f"备注 {i}", now)
        for i in range(MUTATIONS)
    ]


def _note_args(n: Note) -> dict[str, str]:
    return {"id": n.event_id, "work_order_id": n.work_order_id, "text": n.text}


class _Pusher:
    def __init__(self, app, client, headers, device: str, *, user_id: str, technician_id: str) -> None:
        self.engine = app.extensions["repairops.engine"]
        self.client = client
        self.headers = headers
        self.device = device
        self.user_id = user_id
        self.technician_id = technician_id

    def via_api(self, notes: list[Note]) -> None:
        """One POST /sync/push of `work_order.note` mutations."""
        body = {
            "device_id": self.device,
            "mutations": [
                {
                    "id": n.mutation_id,
                    "name": "work_order.note",
                    "args": _note_args(n),
                    "client_time": n.client_time.isoformat(),
                }
                for n in notes
            ],
        }
        resp = self.client.post("/sync/push", json=body, headers=self.headers)
        assert resp.status_code == 200, resp.json
        assert {r["status"] for r in resp.json["results"]} == {"applied"}

    def plain_sql(self, notes: list[Note], *, many: bool = False) -> None:
        """The same facts with plain SQL (DB-API) in one transaction: one statement per row, or with
        `many` each table's rows in one `executemany` (psycopg pipelines them; the reference line)."""
        pg = self.engine.dialect.name == "postgresql"
        mark = "%s" if pg else "?"

        def stamp(value: datetime) -> Any:
            return value if pg else value.astimezone(UTC).strftime(_SQLITE_STAMP)

        def insert(table: str, columns: str, extra: str = "") -> str:
            n = len(columns.split(","))
            values = ", ".join([mark] * n) + extra
            return f"INSERT INTO {table} ({columns}{', txid' if extra else ''}) VALUES ({values})"

        mutation_sql = insert(
            "sync_mutations",
            "id, device_id, user_id, technician_id, name, args, client_time, received_at, status, result",
        )
        event_sql = insert(
            "work_order_events",
            "id, work_order_id, seq, kind, actor_user_id, actor_role, message, data, customer_visible, "
            "device_time, created_at",
        )
        change_sql = insert(
            "sync_changes",
            "entity, row_id, op, scope, scope_key, created_at",
            ", pg_current_xact_id()::text::bigint" if pg else ", 0",
        )
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            job_ids = sorted({n.work_order_id for n in notes})
            cur.execute(
                "SELECT work_order_id, max(seq) FROM work_order_events "
                f"WHERE work_order_id IN ({', '.join([mark] * len(job_ids))}) GROUP BY work_order_id",
                job_ids,
            )
            last = dict(cur.fetchall())
            now = stamp(utcnow())
            mutations, events, changes = [], [], []
            for n in notes:
                seq = last.get(n.work_order_id, 0) + 1
                last[n.work_order_id] = seq
                result = {
                    "id": n.mutation_id,
                    "status": "applied",
                    "result": {"work_order_events": [{"id": n.event_id, "seq": seq}]},
                    "flags": [],
                }
                mutations.append(
                    (
                        n.mutation_id,
                        self.device,
                        self.user_id,
                        self.technician_id,
                        "work_order.note",
                        json.dumps(_note_args(n)),
                        stamp(n.client_time),
                        now,
                        "applied",
                        json.dumps(result),
                    )
                )
                data = {"device_id": self.device, "mutation_id": n.mutation_id}
                events.append(
                    (
                        n.event_id,
                        n.work_order_id,
                        seq,
                        "note",
                        self.user_id,
                        "technician",
                        n.text,
                        json.dumps(data),
                        False,
                        stamp(n.client_time),
                        now,
                    )
                )
                changes.append(
                    ("work_order_events", n.event_id, "upsert", "work_order", n.work_order_id, now)
                )
            if many:
                cur.executemany(mutation_sql, mutations)
                cur.executemany(event_sql, events)
                cur.executemany(change_sql, changes)
            else:
                for mutation, event, change in zip(mutations, events, changes, strict=True):
                    cur.execute(mutation_sql, mutation)
                    cur.execute(event_sql, event)
                    cur.execute(change_sql, change)
            cur.execute(
                f"UPDATE sync_devices SET last_seen_at = {mark}, last_push_at = {mark}, protocol = {mark} "
                f"WHERE id = {mark}",
                (now, now, 2, self.device),
            )
            conn.commit()
        finally:
            conn.close()

    # -- both sides write the same rows --------------------------------------------------------------

    def check_same_facts(self, api_jobs: list[str], sql_jobs: list[str], baseline) -> None:
        client_time = datetime.now(UTC)
        api = self._written(_notes(api_jobs, client_time), api_jobs, self.via_api)
        sql = self._written(_notes(sql_jobs, client_time), sql_jobs, baseline)
        if api != sql:
            diff = [(a, b) for a, b in zip(api[2], sql[2], strict=True) if a != b][:1]
            raise AssertionError(
                f"the baseline must write the rows a push writes: {api[:2]} {sql[:2]} {diff}"
            )

    def _written(self, notes: list[Note], jobs: list[str], push) -> tuple[Any, ...]:
        counts, versions, device = self._state(jobs)
        push(notes)
        counts_after, versions_after, device_after = self._state(jobs)
        assert device_after[0] > (device[0] or datetime.min.replace(tzinfo=UTC)), "last_push_at moves"
        delta = {t: counts_after[t] - counts[t] for t in counts}
        assert versions_after == versions, "a note leaves the work order's version as it was"
        return delta, device_after[1], self._facts(notes, jobs)

    def _state(self, jobs: list[str]) -> tuple[dict[str, int], list[int], tuple[Any, ...]]:
        with self.engine.connect() as conn:
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
            }
            wo = WorkOrder.__table__
            versions = list(
                conn.scalars(sa.select(wo.c.version).where(wo.c.id.in_(jobs)).order_by(wo.c.number))
            )
            dev = SyncDevice.__table__
            device = conn.execute(
                sa.select(dev.c.last_push_at, dev.c.protocol).where(dev.c.id == self.device)
            ).one()
        return counts, versions, tuple(device)

    def _facts(self, notes: list[Note], jobs: list[str]) -> list[str]:
        """Each mutation's rows with ids, times and feed positions replaced by what they stand for."""
        m_t, e_t, c_t = SyncMutation.__table__, WorkOrderEvent.__table__, SyncChange.__table__
        with self.engine.connect() as conn:
            mutations = {
                r.id: r._asdict()
                for r in conn.execute(sa.select(m_t).where(m_t.c.id.in_([n.mutation_id for n in notes])))
            }
            events = {
                r.id: r._asdict()
                for r in conn.execute(sa.select(e_t).where(e_t.c.id.in_([n.event_id for n in notes])))
            }
            changes: dict[str, list[dict[str, Any]]] = {}
            for r in conn.execute(
                sa.select(c_t).where(c_t.c.row_id.in_([n.event_id for n in notes])).order_by(c_t.c.pos)
            ):
                changes.setdefault(r.row_id, []).append(r._asdict())
        out = []
        for n in notes:
            m = {k: v for k, v in mutations[n.mutation_id].items() if k not in ("id", "received_at")}
            e = {k: v for k, v in events[n.event_id].items() if k not in ("id", "created_at")}
            c = [
                {**{k: v for k, v in row.items() if k not in ("pos", "created_at")}, "txid": row["txid"] > 0}
                for row in changes[n.event_id]
            ]
            text = repr((m, e, c))
            for token, value in [
                ("<mutation>", n.mutation_id),
                ("<event>", n.event_id),
                (f"<job {jobs.index(n.work_order_id)}>", n.work_order_id),
            ]:
                text = text.replace(value, token)
            out.append(text)
        return out


def main() -> None:
    with bench_app() as (app, schema):
        session = app.extensions["repairops.session_factory"]()
        user, tech, jobs = _arrange(session)
        check_jobs = [_jobs(session, tech, tag) for tag in ("API", "SQL", "API-2", "SQL-many")]
        session.commit()
        with app.app_context():
            token = create_access_token(identity=user.id, additional_claims={"role": user.role})
        headers = {"Authorization": f"Bearer {token}", "X-Sync-Protocol": "2"}
        client = app.test_client()
        device = "bench-phone"
        first = client.get("/sync/pull", query_string={"device_id": device, "limit": 2000}, headers=headers)
        cursor = first.json["cursor"]

        # 1,000 changed rows after the cursor
        events = changed_events(jobs, ROWS)
        session.add_all(events)
        session.commit()
        ids = [e.id for e in events]
        analyze(app)

        def pull() -> None:
            resp = client.get(
                "/sync/pull",
                query_string={"device_id": device, "cursor": cursor, "limit": ROWS},
                headers=headers,
            )
            assert resp.status_code == 200, resp.json
            assert len(resp.json["changes"]["work_order_events"]["upserts"]) == ROWS

        table = WorkOrderEvent.__table__
        cols = [c.name for c in table.columns]
        raw_sql = f"SELECT {', '.join(cols)} FROM work_order_events WHERE id IN ({', '.join(['?'] * ROWS)})"
        raw_engine = app.extensions["repairops.engine"]

        def raw_pull() -> None:
            with raw_engine.connect() as conn:
                dbapi = conn.connection.dbapi_connection
                cur = dbapi.cursor()
                sql = raw_sql if raw_engine.dialect.name == "sqlite" else raw_sql.replace("?", "%s")
                cur.execute(sql, ids)
                rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
                for row in rows:  # the same document the device gets: JSON columns as objects
                    if isinstance(row["data"], str):
                        row["data"] = json.loads(row["data"])
                body = json.dumps(
                    rows, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)
                )
                assert len(rows) == ROWS and body

        pull_s, raw_pull_s, pull_ratio = _paired(pull, raw_pull)

        pusher = _Pusher(app, client, headers, device, user_id=user.id, technician_id=tech.id)
        pusher.check_same_facts(check_jobs[0], check_jobs[1], pusher.plain_sql)
        pusher.check_same_facts(
            check_jobs[2], check_jobs[3], lambda notes: pusher.plain_sql(notes, many=True)
        )
        push_s, raw_push_s, push_ratio = _paired(
            lambda: pusher.via_api(_notes(jobs)), lambda: pusher.plain_sql(_notes(jobs))
        )
        _, many_push_s, many_ratio = _paired(
            lambda: pusher.via_api(_notes(jobs)), lambda: pusher.plain_sql(_notes(jobs), many=True)
        )
        session.close()

    backend = "postgresql" if schema else "sqlite"
    print(f"sync bench ({backend}, {REPEAT} alternating pairs: medians and the median ratio)")
    print(
        f"pull {ROWS} changed rows: {pull_s * 1000:8.1f} ms   raw SQL + JSON: {raw_pull_s * 1000:7.1f} ms"
        f"   ratio {pull_ratio:5.2f}x (target <= 3x)"
    )
    print(
        f"push {MUTATIONS} mutations:     {push_s * 1000:8.1f} ms"
        f"   plain SQL, same rows: {raw_push_s * 1000:7.1f} ms"
        f"   ratio {push_ratio:5.2f}x (target <= 3x)"
    )
    print(
        f"  the same, baseline with executemany:  plain SQL, batched: {many_push_s * 1000:7.1f} ms"
        f"   ratio {many_ratio:5.2f}x (reference)"
    )


if __name__ == "__main__":
    main()
