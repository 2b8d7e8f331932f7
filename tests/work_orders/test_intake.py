"""Repair-request intake: auto-confirmation of complete requests, customer service completing the rest,
partner pushes that are safe to retry (also concurrently), and what the customer then tracks."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.accounts.regions import Region
from backend.kernel.roles import Role
from backend.work_orders import intake
from backend.work_orders.models import RepairRequest, WorkOrder
from backend.work_orders.service import CHINA_TZ
from tests import factories


def complete_request(**overrides):
    body = {
        "contact_name": "王女士",
        "contact_phone": "13812345678",
        "address_text": "河南省郑州市金水区花园路100号",
        "lat": 34.781,
        "lng": 113.684,
        "product_category": "air_conditioner",
        "product_model": "KFR-35GW",
        "product_serial": "GR123456",
        "fault_type": "no_cooling",
        "fault_description": "空调开机后不制冷",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def due_after_creation(order: dict, field: str) -> timedelta:
    return datetime.fromisoformat(order[field]) - datetime.fromisoformat(order["created_at"])


def hours(n: float):
    return pytest.approx(timedelta(hours=n), abs=timedelta(seconds=5))


def order_of(client, headers, filed) -> dict:
    return client.get(f"/work-orders/{filed.json['work_order_id']}", headers=headers).json


def test_a_complete_customer_request_becomes_a_numbered_work_order_at_once(client, db, auth, staff):
    customer = factories.CustomerFactory()
    region = factories.RegionFactory(name="金水区", center_lat=34.78, center_lng=113.68)
    factories.RegionFactory(name="二七区", center_lat=34.72, center_lng=113.64)

    resp = client.post("/requests", json=complete_request(), headers=auth(customer.user))

    assert resp.status_code == 201, resp.json
    assert resp.json["status"] == "confirmed" and resp.json["missing"] == []
    assert resp.json["channel"] == "app" and resp.json["customer_id"] == customer.id
    order = order_of(client, auth(staff(Role.DISPATCHER)), resp)
    today = datetime.now(CHINA_TZ).strftime("%Y%m%d")
    assert re.fullmatch(rf"WO-{today}-\d{{4}}", order["number"])
    assert (order["status"], order["version"], order["assignee_id"]) == ("new", 1, None)
    assert order["customer_id"] == customer.id and order["region_id"] == region.id
    assert order["priority"] == "normal"
    assert due_after_creation(order, "respond_due_at") == hours(24)
    assert due_after_creation(order, "resolve_due_at") == hours(72)
    assert order["hazards"] == ["electrical", "height"]
    events = client.get(f"/work-orders/{order['id']}/events", headers=auth(customer.user)).json["items"]
    assert [(e["kind"], e["to_status"], e["actor_role"]) for e in events] == [("created", "new", "system")]


def test_an_emergency_gets_the_emergency_sla_and_gas_work_is_flagged_hazardous(client, db, auth, staff):
    customer = factories.CustomerFactory()
    body = complete_request(product_category="gas_water_heater", fault_type="leak", emergency=True)
    resp = client.post("/requests", json=body, headers=auth(customer.user))
    order = order_of(client, auth(staff(Role.DISPATCHER)), resp)
    assert order["priority"] == "emergency" and order["hazards"] == ["gas"]
    assert due_after_creation(order, "respond_due_at") == hours(1)
    assert due_after_creation(order, "resolve_due_at") == hours(8)


def test_consecutive_orders_of_a_day_are_numbered_in_sequence(client, db, auth):
    customer = factories.CustomerFactory()
    mine = auth(customer.user)
    numbers = [
        order_of(client, mine, client.post("/requests", json=complete_request(), headers=mine))["number"]
        for _ in range(3)
    ]
    assert [int(n[-4:]) for n in numbers] == [1, 2, 3]


def test_customers_file_from_the_app_or_web_and_staff_default_to_the_hotline(client, db, auth, staff):
    customer, other = factories.CustomerFactory(), factories.CustomerFactory()

    by_customer = client.post(
        "/requests",
        json=complete_request(channel="hotline", customer_id=other.id),
        headers=auth(customer.user),
    )
    from_web = client.post("/requests", json=complete_request(channel="web"), headers=auth(customer.user))
    by_desk = client.post(
        "/requests",
        json=complete_request(customer_id=customer.id),
        headers=auth(staff(Role.CUSTOMER_SERVICE)),
    )

    assert (by_customer.json["channel"], by_customer.json["customer_id"]) == ("app", customer.id)
    assert from_web.json["channel"] == "web"
    assert (by_desk.json["channel"], by_desk.json["customer_id"]) == ("hotline", customer.id)


def test_an_incomplete_request_waits_until_customer_service_completes_and_confirms_it(
    client, db, auth, staff, row_counts
):
    desk = auth(staff(Role.CUSTOMER_SERVICE))
    customer = factories.CustomerFactory()
    body = complete_request(
        lat=None, lng=None, product_category=None, channel="hotline", customer_id=customer.id
    )

    filed = client.post("/requests", json=body, headers=desk)

    assert filed.status_code == 201, filed.json
    assert filed.json["status"] == "submitted" and filed.json["work_order_id"] is None
    assert sorted(filed.json["missing"]) == ["address", "product_category"]
    assert filed.json["channel"] == "hotline"
    assert row_counts()["work_orders"] == 0

    half = client.post(
        f"/requests/{filed.json['id']}/confirm", json={"lat": 34.78, "lng": 113.68}, headers=desk
    )
    assert half.status_code == 422 and half.json["code"] == "repair_request.incomplete"
    assert list(half.json["errors"]) == ["product_category"]
    assert row_counts()["work_orders"] == 0

    done = client.post(
        f"/requests/{filed.json['id']}/confirm",
        json={"lat": 34.78, "lng": 113.68, "product_category": "washing_machine", "priority": "high"},
        headers=desk,
    )
    assert done.status_code == 200, done.json
    assert done.json["status"] == "confirmed"
    order = client.get(f"/work-orders/{done.json['work_order_id']}", headers=desk).json
    assert (order["product_category"], order["priority"], order["customer_id"]) == (
        "washing_machine",
        "high",
        customer.id,
    )
    again = client.post(f"/requests/{filed.json['id']}/confirm", json={}, headers=desk)
    assert again.status_code == 409 and again.json["code"] == "repair_request.not_pending"
    assert again.json["work_order_id"] == order["id"]


def test_customer_service_can_reject_a_request_which_then_cannot_be_confirmed(client, db, auth, staff):
    desk = auth(staff(Role.CUSTOMER_SERVICE))
    filed = client.post("/requests", json=complete_request(lat=None, lng=None), headers=desk).json
    rejected = client.post(f"/requests/{filed['id']}/reject", json={"reason": "重复报修"}, headers=desk)
    assert rejected.status_code == 200
    assert (rejected.json["status"], rejected.json["rejection_reason"]) == ("rejected", "重复报修")
    late = client.post(f"/requests/{filed['id']}/confirm", json={"lat": 34.7, "lng": 113.6}, headers=desk)
    assert late.status_code == 409
    assert db.scalar(sa.select(sa.func.count()).select_from(WorkOrder)) == 0


def test_customers_cannot_confirm_requests_or_file_for_someone_else(client, db, auth):
    me, other = factories.CustomerFactory(), factories.CustomerFactory()
    filed = client.post(
        "/requests", json=complete_request(lat=None, lng=None, customer_id=other.id), headers=auth(me.user)
    )
    assert filed.status_code == 201 and filed.json["customer_id"] == me.id
    confirm = client.post(f"/requests/{filed.json['id']}/confirm", json={}, headers=auth(me.user))
    assert confirm.status_code == 403


def test_the_customer_tracks_progress_in_plain_words_with_the_technicians_name(client, db, auth, staff):
    customer = factories.CustomerFactory()
    mine = auth(customer.user)
    order_id = client.post("/requests", json=complete_request(), headers=mine).json["work_order_id"]

    tracked = client.get(f"/tracking/orders/{order_id}", headers=mine).json
    assert (tracked["status"], tracked["status_label"], tracked["technician_name"]) == ("new", "已受理", None)
    assert "eta_at" in tracked

    first, second = factories.TechnicianFactory(), factories.TechnicianFactory()
    dispatcher = auth(staff(Role.DISPATCHER))
    client.post(f"/work-orders/{order_id}/assign", json={"technician_id": first.id}, headers=dispatcher)
    client.post(f"/work-orders/{order_id}/decline", json={"reason": "不熟悉该型号"}, headers=auth(first.user))
    client.post(f"/work-orders/{order_id}/assign", json={"technician_id": second.id}, headers=dispatcher)
    client.post(f"/work-orders/{order_id}/accept", headers=auth(second.user))

    tracked = client.get(f"/tracking/orders/{order_id}", headers=mine).json
    assert (tracked["status_label"], tracked["technician_name"]) == ("已接单", second.user.display_name)
    assert [e["to_status"] for e in tracked["events"]] == ["new", "assigned", "assigned", "accepted"]
    assert "不熟悉该型号" not in str(tracked)
    listed = client.get("/tracking/orders", headers=mine).json["items"]
    assert [(o["id"], o["technician_name"]) for o in listed] == [(order_id, second.user.display_name)]


# Partner platforms --------------------------------------------------------------------------------


def partner_body(reference: str | None = "JD-0001", **overrides):
    body = complete_request(**overrides)
    if reference is not None:
        body["partner_reference"] = reference
    return body


def test_a_partner_request_sent_twice_with_the_same_reference_is_one_request(
    client, db, auth, partner_with_key, row_counts
):
    partner, key = partner_with_key
    first = client.post("/partner/requests", json=partner_body(), headers=auth(key))
    counts = row_counts()
    second = client.post("/partner/requests", json=partner_body(), headers=auth(key))

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["id"] == first.json["id"]
    assert second.json["work_order_id"] == first.json["work_order_id"] is not None
    assert first.json["channel"] == "partner" and first.json["partner_reference"] == "JD-0001"
    assert row_counts() == counts
    order = client.get(f"/work-orders/{first.json['work_order_id']}", headers=auth(key)).json
    assert order["status"] == "new"


def test_the_idempotency_key_header_alone_makes_retries_safe(client, db, auth, partner_with_key, row_counts):
    _partner, key = partner_with_key
    headers = {**auth(key), "Idempotency-Key": "JD-KEY-7"}
    first = client.post("/partner/requests", json=partner_body(None), headers=headers)
    second = client.post("/partner/requests", json=partner_body(None), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["partner_reference"] == "JD-KEY-7" and second.json["id"] == first.json["id"]
    assert row_counts()["repair_requests"] == 1


def test_an_idempotency_key_that_differs_from_the_reference_is_refused_and_writes_nothing(
    client, db, auth, partner_with_key, row_counts
):
    _partner, key = partner_with_key
    resp = client.post(
        "/partner/requests", json=partner_body("JD-1"), headers={**auth(key), "Idempotency-Key": "JD-2"}
    )
    assert resp.status_code == 422 and resp.json["code"] == "partner.idempotency_key_mismatch"
    assert "partner_reference" in resp.json["errors"]
    assert row_counts() == {"repair_requests": 0, "work_orders": 0, "work_order_events": 0}


def test_a_partner_request_needs_a_reference_somewhere(client, db, auth, partner_with_key, row_counts):
    _partner, key = partner_with_key
    resp = client.post("/partner/requests", json=partner_body(None), headers=auth(key))
    assert resp.status_code == 422 and resp.json["code"] == "request.invalid"
    assert list(resp.json["errors"]) == ["partner_reference"]
    assert row_counts()["repair_requests"] == 0


def test_references_are_per_partner(client, db, auth):
    (_a, key_a), (_b, key_b) = factories.partner_with_key(), factories.partner_with_key()
    a = client.post("/partner/requests", json=partner_body("SAME"), headers=auth(key_a))
    b = client.post("/partner/requests", json=partner_body("SAME"), headers=auth(key_b))
    assert (a.status_code, b.status_code) == (201, 201) and a.json["id"] != b.json["id"]


def test_concurrent_duplicate_partner_sends_make_one_request_and_both_get_it(
    app, db, auth, partner_with_key, monkeypatch
):
    """Both requests pass the lookup before either inserts; the unique key and a savepoint settle it."""
    _partner, key = partner_with_key
    lookup = intake.find_partner_request
    both_looked = threading.Barrier(2, timeout=20)
    seen = threading.local()

    def racing_lookup(*, session, partner_id, reference):
        found = lookup(session=session, partner_id=partner_id, reference=reference)
        if found is None and not getattr(seen, "done", False):
            seen.done = True
            both_looked.wait()
        return found

    monkeypatch.setattr(intake, "find_partner_request", racing_lookup)
    results: list = [None, None]

    def send(i: int) -> None:
        with app.test_client() as c:
            resp = c.post("/partner/requests", json=partner_body("RACE-1"), headers=auth(key))
            results[i] = (resp.status_code, resp.json)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    codes = sorted(r[0] for r in results)
    assert codes == [200, 201], results
    assert results[0][1]["id"] == results[1][1]["id"]
    db.expire_all()
    rows = db.scalars(sa.select(RepairRequest).where(RepairRequest.partner_reference == "RACE-1")).all()
    assert len(rows) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(WorkOrder)) == 1


def test_partner_requests_land_in_the_nearest_region(client, db, auth, partner_with_key):
    _partner, key = partner_with_key
    near = factories.RegionFactory(center_lat=34.80, center_lng=113.55)
    factories.RegionFactory(center_lat=34.72, center_lng=113.76)
    resp = client.post("/partner/requests", json=partner_body(lat=34.81, lng=113.56), headers=auth(key))
    order = client.get(f"/work-orders/{resp.json['work_order_id']}", headers=auth(key)).json
    assert order["region_id"] == near.id
    assert db.get(Region, near.id) is not None
