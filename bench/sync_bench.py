"""Sync benchmark: pull and push against raw SQL baselines measured in the same run.

    python bench/sync_bench.py                       # SQLite (temporary file)
    SYNC_BENCH_DATABASE_URL=postgresql+psycopg://... python bench/sync_bench.py

Prints:
- pull of 1,000 changed rows (GET /sync/pull, limit 1000) vs a raw SQL SELECT of the same rows +
  json.dumps (target <= 3x);
- push of 500 mutations (`work_order.note`, one POST /sync/push) vs 500 plain SQL INSERTs of the same
  events in one transaction (target <= 3x).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_jwt_extended import create_access_token  # noqa: E402

from backend import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.db import make_engine  # noqa: E402
from backend.models import (  # noqa: E402
    Base,
    Customer,
    Product,
    Region,
    Technician,
    User,
    WorkOrder,
    WorkOrderEvent,
    utcnow,
)

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


def _arrange(session) -> tuple[User, list[str]]:
    region = Region(code="B1", name="bench", city="郑州市", center_lat=34.7, center_lng=113.6)
    user = User(username="bench-tech", password_hash="x", role="technician", display_name="师傅")
    session.add_all([region, user])
    session.flush()
    tech = Technician(
        user_id=user.id, employee_no="B0001", region_id=region.id, home_lat=34.7, home_lng=113.6
    )
    session.add(tech)
    session.flush()
    jobs = []
    for i in range(10):
        customer = Customer(name=f"客户{i}", phone=f"1390000{i:04d}")
        session.add(customer)
        session.flush()
        product = Product(customer_id=customer.id, category="air_conditioner", model="KFR-35GW")
        session.add(product)
        session.flush()
        order = WorkOrder(
            number=f"WO-BENCH-{i:04d}",
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
    session.commit()
    return user, jobs


def _time(fn, repeat: int = REPEAT) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = _database_url(tmp)
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        app = create_app(Settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef"))
        session = app.extensions["repairops.session_factory"]()
        user, jobs = _arrange(session)
        with app.app_context():
            token = create_access_token(identity=user.id, additional_claims={"role": user.role})
        headers = {"Authorization": f"Bearer {token}", "X-Sync-Protocol": "2"}
        client = app.test_client()
        device = "bench-phone"
        first = client.get("/sync/pull", query_string={"device_id": device, "limit": 2000}, headers=headers)
        cursor = first.json["cursor"]

        # 1,000 changed rows after the cursor
        events = [
            WorkOrderEvent(
                work_order_id=jobs[i % len(jobs)],
                seq=i + 1,
                kind="note",
                actor_role="technician",
                message=f"记录 {i}",
                data={"i": i},
                created_at=utcnow(),
            )
            for i in range(ROWS)
        ]
        session.add_all(events)
        session.commit()
        ids = [e.id for e in events]

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

        pull_s = _time(pull)
        raw_pull_s = _time(raw_pull)

        def push_batch() -> list[dict]:
            now = datetime.now(UTC).isoformat()
            return [
                {
                    "id": str(uuid.uuid4()),
                    "name": "work_order.note",
                    "args": {
                        "id": str(uuid.uuid4()),
                        "work_order_id": jobs[i % len(jobs)],
                        "text": f"备注 {i}",
                    },
                    "client_time": now,
                }
                for i in range(MUTATIONS)
            ]

        batches = [push_batch() for _ in range(REPEAT)]

        def push() -> None:
            body = {"device_id": device, "mutations": batches.pop()}
            resp = client.post("/sync/push", json=body, headers=headers)
            assert resp.status_code == 200, resp.json
            assert {r["status"] for r in resp.json["results"]} == {"applied"}

        insert_cols = [
            "id",
            "work_order_id",
            "seq",
            "kind",
            "actor_role",
            "message",
            "data",
            "customer_visible",
        ]
        insert_sql = (
            f"INSERT INTO work_order_events ({', '.join(insert_cols)}, created_at) "
            f"VALUES ({', '.join(['?'] * len(insert_cols))}, ?)"
        )

        def raw_push() -> None:
            with raw_engine.connect() as conn:
                dbapi = conn.connection.dbapi_connection
                cur = dbapi.cursor()
                sql = insert_sql if raw_engine.dialect.name == "sqlite" else insert_sql.replace("?", "%s")
                now = utcnow()
                for i in range(MUTATIONS):
                    cur.execute(
                        sql,
                        (
                            str(uuid.uuid4()),
                            jobs[i % len(jobs)],
                            100000 + i,
                            "note",
                            "technician",
                            f"备注 {i}",
                            "{}",
                            False,
                            now if raw_engine.dialect.name != "sqlite" else now.isoformat(),
                        ),
                    )
                dbapi.commit()

        push_s = _time(push)
        raw_push_s = _time(raw_push)
        session.close()
        app.extensions["repairops.engine"].dispose()
        if schema:
            admin = sa.create_engine(os.environ["SYNC_BENCH_DATABASE_URL"])
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    backend = "postgresql" if schema else "sqlite"
    print(f"sync bench ({backend}, median of {REPEAT})")
    print(
        f"pull {ROWS} changed rows: {pull_s * 1000:8.1f} ms   raw SQL + JSON: {raw_pull_s * 1000:7.1f} ms"
        f"   ratio {pull_s / raw_pull_s:5.2f}x (target <= 3x)"
    )
    print(
        f"push {MUTATIONS} mutations:     {push_s * 1000:8.1f} ms"
        f"   plain SQL inserts: {raw_push_s * 1000:7.1f} ms"
        f"   ratio {push_s / raw_push_s:5.2f}x (target <= 3x)"
    )


if __name__ == "__main__":
    main()
