"""Auto-assignment on creation, the accept timeout, declines back to the queue, and team-lead notices."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.geo.models import DispatchNotification
from backend.kernel.base import utcnow
from backend.kernel.roles import Role
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories
from tests.geo.helpers import ERQI_TOWER, km_from


def _tech(region, km, bearing=0.0, **kwargs):
    lat, lng = km_from(ERQI_TOWER, km, bearing)
    return factories.on_duty_technician(region=region, home_lat=lat, home_lng=lng, **kwargs)


def _file_request(client, auth, *, emergency=False):
    customer = factories.CustomerFactory()
    resp = client.post(
        "/requests",
        json={
            "contact_name": "王先生",
            "contact_phone": "13900001111",
            "address_text": "郑州市二七区二七广场 1 号",
            "lat": ERQI_TOWER[0],
            "lng": ERQI_TOWER[1],
            "product_category": "washing_machine",
            "fault_type": "leak",
            "fault_description": "洗衣机漏水",
            "emergency": emergency,
        },
        headers=auth(customer.user),
    )
    assert resp.status_code == 201, resp.json
    return resp.json["work_order_id"]


def _run_job(app):
    result = app.test_cli_runner().invoke(args=["dispatch-timeouts"])
    assert result.exit_code == 0, result.output
    return result.output


def _order(db, order_id):
    db.expire_all()
    return db.get(WorkOrder, order_id)


def test_new_order_in_a_region_with_rule_on_goes_to_the_nearest_eligible_technician(client, db, auth):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    factories.AutoAssignRuleFactory(region_id=region.id, radius_km=10, strategy="nearest")
    _tech(region, 0.8, categories=["refrigerator"])  # nearest, but not for washing machines
    nearest = _tech(region, 2.0)
    _tech(region, 5.0)

    order_id = _file_request(client, auth)

    order = _order(db, order_id)
    assert order.status == "assigned"
    assert order.assignee_id == nearest.id
    event = db.scalars(
        sa.select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == order_id, WorkOrderEvent.to_status == "assigned"
        )
    ).one()
    assert event.actor_role == "system"
    assert event.data["auto"] is True
    assert abs(event.data["distance_km"] - 2.0) < 0.01


def test_least_loaded_strategy_prefers_the_technician_with_the_emptier_day(client, db, auth):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    factories.AutoAssignRuleFactory(region_id=region.id, strategy="least_loaded")
    busy = _tech(region, 1.0)
    factories.WorkOrderFactory(assignee=busy, status="accepted")
    idle = _tech(region, 4.0)

    order_id = _file_request(client, auth)

    assert _order(db, order_id).assignee_id == idle.id


def test_without_a_rule_the_order_waits_in_the_queue(client, db, auth):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    _tech(region, 1.0)
    factories.AutoAssignRuleFactory(region_id=region.id, enabled=False)

    order_id = _file_request(client, auth)

    order = _order(db, order_id)
    assert (order.status, order.assignee_id) == ("new", None)


def test_nobody_within_the_radius_leaves_the_order_queued_and_tells_the_lead_once(client, db, auth, app):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    lead = factories.UserFactory(role=Role.DISPATCHER)
    factories.AutoAssignRuleFactory(region_id=region.id, radius_km=2, team_lead_user_id=lead.id)
    _tech(region, 8.0)

    order_id = _file_request(client, auth)
    _run_job(app)

    assert _order(db, order_id).status == "new"
    notes = db.scalars(
        sa.select(DispatchNotification).where(DispatchNotification.work_order_id == order_id)
    ).all()
    assert [(n.kind, n.recipient_user_id) for n in notes] == [("no_candidate", lead.id)]


def test_unaccepted_job_times_out_back_to_the_queue_and_goes_to_the_next_technician(client, db, auth, app):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    lead = factories.UserFactory(role=Role.DISPATCHER)
    factories.AutoAssignRuleFactory(region_id=region.id, accept_timeout_minutes=15, team_lead_user_id=lead.id)
    first = _tech(region, 1.0)
    second = _tech(region, 3.0)
    order_id = _file_request(client, auth)
    assert _order(db, order_id).assignee_id == first.id

    _run_job(app)  # not yet due
    assert _order(db, order_id).assignee_id == first.id
    _order(db, order_id).assigned_at = utcnow() - timedelta(minutes=16)
    db.commit()
    _run_job(app)

    order = _order(db, order_id)
    assert (order.status, order.assignee_id) == ("assigned", second.id)
    history = db.scalars(
        sa.select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order_id).order_by(WorkOrderEvent.seq)
    ).all()
    timeout = next(e for e in history if e.to_status == "declined")
    assert timeout.actor_role == "system"
    assert timeout.data["timed_out_technician_id"] == first.id
    assert timeout.customer_visible is False
    notes = db.scalars(
        sa.select(DispatchNotification).where(DispatchNotification.work_order_id == order_id)
    ).all()
    assert [(n.kind, n.recipient_user_id, n.event_id) for n in notes] == [
        ("accept_timeout", lead.id, timeout.id)
    ]
    # The lead reads it through the API.
    listed = client.get("/dispatch/notifications", query_string={"unread": "true"}, headers=auth(lead))
    assert [n["kind"] for n in listed.json["items"]] == ["accept_timeout"]
    assert listed.json["has_more"] is False


def test_a_declined_job_notifies_the_lead_and_is_never_offered_back_to_the_decliner(client, db, auth, app):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    factories.AutoAssignRuleFactory(region_id=region.id)
    first = _tech(region, 1.0)
    second = _tech(region, 6.0)
    order_id = _file_request(client, auth)

    resp = client.post(
        f"/work-orders/{order_id}/decline", json={"reason": "车坏了"}, headers=auth(first.user)
    )
    assert resp.status_code == 200, resp.json
    _run_job(app)
    _run_job(app)  # idempotent: one notice per decline

    order = _order(db, order_id)
    assert order.assignee_id == second.id
    notes = db.scalars(
        sa.select(DispatchNotification).where(DispatchNotification.work_order_id == order_id)
    ).all()
    assert [n.kind for n in notes] == ["declined"]
    assert "车坏了" in notes[0].message
    assert notes[0].recipient_user_id is None  # no named lead: every dispatcher sees it


def test_emergencies_jump_the_queue_when_it_is_drained(client, db, auth, app):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    rule = factories.AutoAssignRuleFactory(region_id=region.id, enabled=False)
    normal_id = _file_request(client, auth)
    emergency_id = _file_request(client, auth, emergency=True)
    _tech(region, 1.0, daily_capacity=1)  # one slot left today: who gets it?
    rule.enabled = True
    db.commit()

    _run_job(app)

    assert _order(db, emergency_id).status == "assigned"
    assert _order(db, normal_id).status == "new"


def test_notifications_of_another_lead_are_not_visible_or_markable(client, db, auth, app):
    region = factories.RegionFactory()
    lead = factories.UserFactory(role=Role.DISPATCHER)
    other = factories.UserFactory(role=Role.DISPATCHER)
    order = factories.WorkOrderFactory(region_id=region.id)
    note = DispatchNotification(
        kind="declined", work_order_id=order.id, region_id=region.id, recipient_user_id=lead.id, message="x"
    )
    db.add(note)
    db.commit()

    resp = client.post(f"/dispatch/notifications/{note.id}/read", headers=auth(other))

    assert resp.status_code == 404
    db.expire_all()
    assert db.get(DispatchNotification, note.id).read_at is None
