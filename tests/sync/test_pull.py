"""Pull: first sync, deltas, scope moves, paging, cursors and convergence checksums."""

from __future__ import annotations

from tests import factories


def _assigned(tech, **kwargs):
    return factories.WorkOrderFactory(assignee=tech, status="assigned", **kwargs)


def test_first_sync_brings_the_technicians_jobs_whole_and_nobody_elses(db, device):
    tech = factories.TechnicianFactory()
    mine = _assigned(tech)
    others = _assigned(factories.TechnicianFactory())
    phone = device(tech.user)

    phone.pull()

    assert set(phone.replica["work_orders"]) == {mine.id}
    assert set(phone.replica["customers"]) == {mine.customer_id}
    assert set(phone.replica["products"]) == {mine.product_id}
    assert others.customer_id not in phone.replica.get("customers", {})
    customer = phone.replica["customers"][mine.customer_id]
    # Whom to call and the contract discount for offline pricing; never email, account or addresses book.
    assert set(customer) == {
        "id",
        "name",
        "phone",
        "is_contract",
        "contract_discount_bp",
        "updated_at",
        "sync_version",
    }
    assert phone.replica["work_orders"][mine.id]["status"] == "assigned"
    assert phone.resyncs == []


def _event(order, n=1, kind="note"):
    session = factories.current_session()
    from backend.work_orders.models import WorkOrderEvent

    rows = [
        WorkOrderEvent(
            work_order_id=order.id, seq=100 + i, kind=kind, actor_role="dispatcher", message=f"n{i}"
        )
        for i in range(n)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def _staff():
    return factories.UserFactory(role="dispatcher")


def test_changes_after_the_first_sync_arrive_as_deltas(db, device, client, auth):
    tech = factories.TechnicianFactory()
    order = _assigned(tech)
    phone = device(tech.user)
    phone.pull()

    resp = client.post(f"/work-orders/{order.id}/accept", headers=auth(tech.user))
    assert resp.status_code == 200, resp.json
    phone.pull()

    assert phone.replica["work_orders"][order.id]["status"] == "accepted"
    assert phone.replica["work_orders"][order.id]["version"] == resp.json["work_order"]["version"]
    kinds = sorted(e["kind"] for e in phone.replica["work_order_events"].values())
    assert "status" in kinds


def test_reassigned_job_disappears_from_old_technicians_next_pull_with_everything_scoped_to_it(
    db, device, client, auth
):
    old, new = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = _assigned(old)
    kept = _assigned(old, customer=order.customer, product=factories.ProductFactory(customer=order.customer))
    _event(order, 3)
    old_phone, new_phone = device(old.user), device(new.user)
    old_phone.pull()
    new_phone.pull()
    assert order.id in old_phone.replica["work_orders"]
    assert len(old_phone.replica["work_order_events"]) == 3

    resp = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": new.id}, headers=auth(_staff())
    )
    assert resp.status_code == 200, resp.json
    old_phone.pull()
    new_phone.pull()

    assert set(old_phone.replica["work_orders"]) == {kept.id}
    assert not [e for e in old_phone.replica["work_order_events"].values() if e["work_order_id"] == order.id]
    # the customer still has another job with this technician; the product does not
    assert set(old_phone.replica["customers"]) == {order.customer_id}
    assert set(old_phone.replica["products"]) == {kept.product_id}
    assert set(new_phone.replica["work_orders"]) == {order.id}
    assert len([e for e in new_phone.replica["work_order_events"].values()]) >= 4
    assert set(new_phone.replica["customers"]) == {order.customer_id}
    assert set(new_phone.replica["products"]) == {order.product_id}
    assert old_phone.resyncs == [] and new_phone.resyncs == []


def test_cancelled_job_is_deleted_from_the_device(db, device):
    tech = factories.TechnicianFactory()
    order = _assigned(tech)
    phone = device(tech.user)
    phone.pull()

    order.status = "cancelled"
    db.commit()
    phone.pull()

    assert phone.replica["work_orders"] == {}
    assert phone.replica["customers"] == {} and phone.replica["products"] == {}


def test_has_more_is_exact_at_the_page_boundary(db, device, app, sync_headers, client):
    tech = factories.TechnicianFactory()
    order = _assigned(tech)
    phone = device(tech.user)
    phone.pull()
    phone.pull()  # PostgreSQL: drain what other sessions' transactions held back during the first sync
    _event(order, 4)
    params = {"device_id": phone.device_id, "cursor": phone.cursor}

    exact = client.get("/sync/pull", query_string={**params, "limit": 4}, headers=sync_headers(tech.user))
    short = client.get("/sync/pull", query_string={**params, "limit": 3}, headers=sync_headers(tech.user))

    assert exact.status_code == 200, exact.json
    assert exact.json["has_more"] is False
    assert len(exact.json["changes"]["work_order_events"]["upserts"]) == 4
    assert exact.json["checksums"]["work_order_events"]["count"] == 4
    assert short.json["has_more"] is True
    assert short.json["checksums"] is None
    rest = client.get(
        "/sync/pull",
        query_string={"device_id": phone.device_id, "cursor": short.json["cursor"], "limit": 3},
        headers=sync_headers(tech.user),
    )
    assert rest.json["has_more"] is False
    assert len(rest.json["changes"]["work_order_events"]["upserts"]) == 1


def test_first_sync_pages_a_snapshot_and_keeps_changes_made_meanwhile(db, device):
    tech = factories.TechnicianFactory()
    orders = [_assigned(tech) for _ in range(4)]
    phone = device(tech.user, page_limit=2)
    phone._pull_pages_once = None
    # first page only, then the office changes things while the phone is still paging
    page = phone._call("GET", "/sync/pull", params={"device_id": phone.device_id, "limit": 2})
    phone.apply(page["changes"])
    phone.cursor = page["cursor"]
    assert page["has_more"] is True
    orders[0].fault_description = "changed during first sync"
    db.commit()
    _event(orders[3], 2)

    phone.pull()

    assert set(phone.replica["work_orders"]) == {o.id for o in orders}
    assert phone.replica["work_orders"][orders[0].id]["fault_description"] == "changed during first sync"
    assert len(phone.replica["work_order_events"]) == 2
    assert phone.resyncs == []


def test_bulk_updates_and_deletes_are_recorded_too(db, device):
    import sqlalchemy as sa

    from backend.accounts.customers import Customer
    from backend.work_orders.models import WorkOrderEvent

    tech = factories.TechnicianFactory()
    order = _assigned(tech)
    events = _event(order, 2)
    phone = device(tech.user)
    phone.pull()

    db.execute(sa.update(Customer).where(Customer.id == order.customer_id).values(name="新名字"))
    db.execute(sa.delete(WorkOrderEvent).where(WorkOrderEvent.id == events[0].id))
    db.commit()
    phone.pull()

    assert phone.replica["customers"][order.customer_id]["name"] == "新名字"
    assert set(phone.replica["work_order_events"]) == {events[1].id}


def test_a_checksum_mismatch_resyncs_just_that_entity(db, device):
    tech = factories.TechnicianFactory()
    _assigned(tech)
    phone = device(tech.user)
    phone.pull()
    phone.replica["work_orders"]["ghost"] = {"id": "ghost", "sync_version": 1}

    phone.pull()

    assert phone.resyncs == ["work_orders"]
    assert "ghost" not in phone.replica["work_orders"]
    assert phone.mismatched(None) == []


def test_protocol_one_is_served_without_checksums_and_older_gets_426(db, client, auth):
    tech = factories.TechnicianFactory()
    v1 = client.get(
        "/sync/pull", query_string={"device_id": "d1"}, headers={**auth(tech.user), "X-Sync-Protocol": "1"}
    )
    v0 = client.get(
        "/sync/pull", query_string={"device_id": "d1"}, headers={**auth(tech.user), "X-Sync-Protocol": "0"}
    )
    junk = client.get(
        "/sync/pull", query_string={"device_id": "d1"}, headers={**auth(tech.user), "X-Sync-Protocol": "two"}
    )

    assert v1.status_code == 200 and "checksums" not in v1.json and v1.json["protocol"] == 1
    assert v1.headers["X-Sync-Protocol"] == "2"
    assert v0.status_code == 426
    assert v0.mimetype == "application/problem+json"
    assert v0.json["code"] == "sync.protocol_unsupported" and v0.json["minimum"] == 1
    assert junk.status_code == 400 and junk.json["code"] == "sync.protocol_invalid"


def test_on_sqlite_a_pull_reads_the_feed_from_its_cursor_not_from_the_start(db, backend_name):
    """SQLite writes every feed row with txid 0: a `(txid, pos)` comparison would scan the whole feed on
    every pull (a phone up to date paid for every change ever kept). The feed's statements must search
    the rowid range after the cursor's position."""
    import pytest

    from backend.sync import pull

    if backend_name != "sqlite":
        pytest.skip("PostgreSQL's (txid, pos) range is an index range")
    conn = db.connection()
    statements = (pull._feed_page("sqlite"), pull._feed_held_back("sqlite"), pull._feed_unserved("sqlite"))
    for statement in statements:
        sql = str(statement.compile(dialect=conn.dialect))
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("[]",) * sql.count("?"))]
        feed = [step for step in plan if "sync_changes" in step]
        assert feed == ["SEARCH sync_changes USING INTEGER PRIMARY KEY (rowid>?)"], plan


def test_pages_of_two_bring_every_route_in_feed_order_and_nobody_elses_rows(db, device, app, client):
    """A page is the first rows of the device's routes (scope moves addressed to it, its jobs' rows, the
    rows its jobs reference), merged in feed order: small pages across interleaved routes, with
    others' changes in between, still bring each change once and leave the replica equal to the scope."""
    from tests.sync.helpers import assert_converged

    tech = factories.TechnicianFactory()
    order = _assigned(tech)
    phone = device(tech.user, page_limit=2)
    phone.pull()
    elsewhere = _assigned(factories.TechnicianFactory())
    _event(order, 3)
    _event(elsewhere, 5)
    arriving = [_assigned(tech) for _ in range(2)]  # addressed to the device, with customers, products
    _event(elsewhere, 5)
    _event(arriving[0], 2)
    _event(order, 1)
    pages_before = phone.pages

    phone.pull()

    assert phone.pages - pages_before >= 5
    assert set(phone.replica["work_orders"]) == {order.id, arriving[0].id, arriving[1].id}
    events = phone.replica["work_order_events"].values()
    assert sorted(e["work_order_id"] for e in events) == sorted([order.id] * 4 + [arriving[0].id] * 2)
    assert {a.customer_id for a in arriving} <= set(phone.replica["customers"])
    assert phone.resyncs == [], "the checksums agreed: no entity had to be sent again"
    assert_converged(app, phone, tech.id)
