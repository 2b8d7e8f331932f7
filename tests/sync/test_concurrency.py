"""No missed change under concurrency: out-of-order commits (PostgreSQL) and many concurrent writers."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from backend.accounts.technicians import Technician
from backend.sync.horizon import feed_horizon
from backend.sync.models import SyncChange
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories
from tests.sync.helpers import assert_converged, pull_until_converged


def _event(order_id: str, message: str) -> WorkOrderEvent:
    return WorkOrderEvent(
        work_order_id=order_id, seq=1, kind="note", actor_role="dispatcher", message=message
    )


def _job_on_a_synced_phone(device: Any) -> tuple[WorkOrder, Any]:
    """A technician's job on site, and their phone after its first sync."""
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")
    phone = device(tech.user)
    phone.pull()
    return order, phone


def test_a_transaction_committing_after_a_newer_one_was_pulled_is_served_by_the_next_pull(
    app, db, device, backend_name
):
    if backend_name != "postgresql":
        pytest.skip("SQLite has one writer at a time: positions are in commit order")
    app.config["SYNC_HORIZON_WAIT_SECONDS"] = 0.1
    order, phone = _job_on_a_synced_phone(device)
    factory = app.extensions["repairops.session_factory"]
    slow, fast = factory(), factory()
    try:
        a = _event(order.id, "A: takes its position first, commits last")
        slow.add(a)
        slow.flush()
        b = _event(order.id, "B: takes a later position, commits first")
        fast.add(b)
        fast.commit()
        positions = dict(
            db.execute(sa.select(SyncChange.row_id, SyncChange.pos).where(SyncChange.row_id == b.id)).all()
        )

        phone.pull()
        assert a.id not in phone.replica.get("work_order_events", {})

        slow.commit()
        app.config["SYNC_HORIZON_WAIT_SECONDS"] = 5  # other sessions on the cluster may hold the horizon
        phone.pull()
    finally:
        slow.close()
        fast.close()

    a_pos = db.scalar(sa.select(SyncChange.pos).where(SyncChange.row_id == a.id))
    assert a_pos < positions[b.id]  # a position-only cursor would have stepped over A
    assert {a.id, b.id} <= set(phone.replica["work_order_events"])
    assert_converged(app, phone, order.assignee_id)


def test_twenty_concurrent_writers_with_random_delays_leave_every_device_equal_to_its_scope(app, db, device):
    rng = random.Random(4)
    techs = [factories.TechnicianFactory() for _ in range(3)]
    tech_ids = [t.id for t in techs]
    orders = [factories.WorkOrderFactory(assignee=techs[i % 3], status="assigned") for i in range(9)]
    order_ids = [o.id for o in orders]
    phones = [device(t.user) for t in techs]
    for phone in phones:
        phone.pull()
    factory = app.extensions["repairops.session_factory"]
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        local = random.Random(n)
        for step in range(6):
            session = factory()
            try:
                order = session.get(WorkOrder, local.choice(order_ids))
                roll = local.random()
                if roll < 0.5:
                    session.add(_event(order.id, f"w{n}-{step}"))
                elif roll < 0.75:
                    order.fault_description = f"updated by writer {n} step {step}"
                elif roll < 0.9:
                    order.assignee_id = local.choice(tech_ids)
                    order.status = "assigned"
                else:
                    order.status = local.choice(["cancelled", "assigned"])
                session.flush()
                time.sleep(local.random() * 0.03)  # hold the transaction open: commits interleave
                session.commit()
            except (StaleDataError, DBAPIError):
                session.rollback()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                session.close()

    def puller(phone) -> None:
        while not stop.is_set():
            try:
                phone.pull()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
            time.sleep(rng.random() * 0.02)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    pullers = [threading.Thread(target=puller, args=(p,)) for p in phones]
    for t in writers + pullers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in pullers:
        t.join()

    assert not errors, errors
    assert db.scalar(sa.select(sa.func.count()).select_from(SyncChange)) > 9
    for phone, tech in zip(phones, techs, strict=True):
        pull_until_converged(app, phone, tech.id)
        assert phone.resyncs == [], "the checksums never disagreed"
    assert db.get(Technician, tech_ids[0]) is not None


def test_transactions_that_write_no_feed_rows_do_not_hold_pulls_back(app, db, device, backend_name):
    if backend_name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    # A pull may wait for writers of ours (another test's lingering session, say); the strangers below
    # stay open for longer than that, so only leaving them out of the horizon lets the note through.
    app.config["SYNC_HORIZON_WAIT_SECONDS"] = 5
    order, phone = _job_on_a_synced_phone(device)
    engine = app.extensions["repairops.engine"]
    other_database = sa.create_engine(engine.url.set(database="postgres"))
    # A report in this database and a job in another one, each holding a transaction id, open.
    with engine.connect() as report, other_database.connect() as elsewhere:
        xids = [
            stranger.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
            for stranger in (report, elsewhere)
        ]
        note = _event(order.id, "written while both strangers are still open")
        db.add(note)
        db.commit()

        phone.pull()

        assert note.id in phone.replica["work_order_events"]
        with engine.connect() as reader:
            assert feed_horizon(reader)[0] not in xids
    other_database.dispose()


def test_a_transaction_that_ended_after_the_snapshot_holds_pulls_back_only_if_it_wrote_feed_rows(
    app, db, backend_name
):
    """The horizon reads who holds what after the page's snapshot: a transaction of the snapshot that
    ended meanwhile is looked up in the feed (its rows, if any, are invisible to the page)."""
    if backend_name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    order = factories.WorkOrderFactory(assignee=factories.TechnicianFactory(), status="on_site")
    engine = app.extensions["repairops.engine"]
    xid = sa.text("SELECT pg_current_xact_id()::text::bigint")

    def horizon_after(*ending: Any) -> tuple[int, int]:
        with engine.begin() as later:  # a later id completes: the snapshot lists the earlier ones as running
            later.execute(xid)
        with engine.connect() as reader:
            reader.execution_options(isolation_level="REPEATABLE READ")
            reader.execute(sa.text("SELECT 1"))  # the snapshot, taken while they run
            for transaction in ending:
                transaction.commit()
            return feed_horizon(reader)

    with engine.connect() as stranger:
        stranger_xid = stranger.execute(xid).scalar_one()
        horizon, xmax = horizon_after(stranger)
    assert stranger_xid < xmax
    assert horizon > stranger_xid, "a report that ended meanwhile holds nothing back"

    writer = app.extensions["repairops.session_factory"]()
    writer.add(_event(order.id, "committed after the page's snapshot"))
    writer.flush()
    writer_xid = writer.execute(xid).scalar_one()
    with engine.connect() as stranger:
        stranger.execute(xid)
        horizon, _ = horizon_after(stranger, writer)
    writer.close()
    assert horizon <= writer_xid, "the writer's rows are invisible to the page: not final yet"
