"""The dispatch console's rules: what a batch plans, with whom, the re-check on confirmation, region
rules and their team lead, and paged notices."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.geo.dispatching import BATCH_ASSIGN_REASON
from backend.geo.models import AutoAssignRule, DispatchNotification
from backend.kernel.base import utcnow
from backend.kernel.roles import Role
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from backend.work_orders.states import Status
from tests import factories
from tests.geo.helpers import ERQI_TOWER, km_from


def _tech(region, km, bearing=0.0, **kwargs):
    lat, lng = km_from(ERQI_TOWER, km, bearing)
    return factories.on_duty_technician(region=region, home_lat=lat, home_lng=lng, **kwargs)


def _dispatcher():
    return factories.UserFactory(role=Role.DISPATCHER)


def _planned(resp):
    return {p["work_order_id"]: p["technician_id"] for p in resp.json["assignments"]}


# --- which orders a batch plans ---------------------------------------------------------------------


def test_a_batch_plans_only_queued_located_orders_of_its_region(client, db, auth):
    region, elsewhere = factories.RegionFactory(), factories.RegionFactory()
    tech = _tech(region, 1.0)
    new = factories.WorkOrderFactory(region_id=region.id)
    declined = factories.WorkOrderFactory(region_id=region.id, status=Status.DECLINED)
    factories.WorkOrderFactory(region_id=region.id, status=Status.ASSIGNED, assignee=tech)
    factories.WorkOrderFactory(region_id=region.id, lat=None, lng=None)
    factories.WorkOrderFactory(region_id=elsewhere.id)

    resp = client.post("/dispatch/batch", json={"region_id": region.id}, headers=auth(_dispatcher()))

    assert resp.status_code == 200, resp.json
    assert resp.json["stats"]["orders"] == 2
    assert _planned(resp) == {new.id: tech.id, declined.id: tech.id}
    versions = {p["work_order_id"]: p["work_order_version"] for p in resp.json["assignments"]}
    db.expire_all()
    assert versions == {o.id: db.get(WorkOrder, o.id).version for o in (new, declined)}


# --- the technician pool ----------------------------------------------------------------------------


def test_the_pool_is_the_orders_region_unless_any_region_is_asked(client, db, auth):
    region, elsewhere = factories.RegionFactory(), factories.RegionFactory()
    outsider = _tech(elsewhere, 0.5)
    local = _tech(region, 3.0)
    order = factories.WorkOrderFactory(region_id=region.id, lat=ERQI_TOWER[0], lng=ERQI_TOWER[1])
    headers = auth(_dispatcher())

    default = client.post("/dispatch/batch", json={"work_order_ids": [order.id]}, headers=headers)
    wide = client.post(
        "/dispatch/batch", json={"work_order_ids": [order.id], "any_region": True}, headers=headers
    )

    assert default.json["stats"]["technicians"] == 1
    assert _planned(default) == {order.id: local.id}
    assert wide.json["stats"]["technicians"] == 2
    assert _planned(wide) == {order.id: outsider.id}


def test_listed_technicians_are_the_whole_pool_and_inactive_ones_never_join(client, db, auth):
    region = factories.RegionFactory()
    nearest = _tech(region, 0.5, active=False)
    near = _tech(region, 1.0)
    listed = _tech(region, 4.0)
    order = factories.WorkOrderFactory(region_id=region.id, lat=ERQI_TOWER[0], lng=ERQI_TOWER[1])
    headers = auth(_dispatcher())

    resp = client.post(
        "/dispatch/batch",
        json={"work_order_ids": [order.id], "technician_ids": [nearest.id, listed.id]},
        headers=headers,
    )
    unlisted = client.post("/dispatch/batch", json={"work_order_ids": [order.id]}, headers=headers)

    assert resp.json["stats"]["technicians"] == 1
    assert _planned(resp) == {order.id: listed.id}
    assert _planned(unlisted) == {order.id: near.id}


# --- confirming a plan ------------------------------------------------------------------------------


def test_a_confirmed_line_is_rechecked_and_a_no_longer_eligible_technician_is_skipped(client, db, auth):
    region = factories.RegionFactory()
    kept, retired = _tech(region, 1.0, bearing=90), _tech(region, 1.0, bearing=270)
    a = factories.WorkOrderFactory(region_id=region.id)
    b = factories.WorkOrderFactory(region_id=region.id)
    lines = [
        {"work_order_id": a.id, "technician_id": kept.id, "work_order_version": a.version},
        {"work_order_id": b.id, "technician_id": retired.id, "work_order_version": b.version},
    ]
    db.get(type(retired), retired.id).active = False  # left the company after the plan was made
    db.commit()

    resp = client.post("/dispatch/batch/apply", json={"assignments": lines}, headers=auth(_dispatcher()))

    assert resp.status_code == 200, resp.json
    assert [(x["work_order_id"], x["technician_id"]) for x in resp.json["applied"]] == [(a.id, kept.id)]
    problem = resp.json["skipped"][0]["problem"]
    assert (resp.json["skipped"][0]["work_order_id"], problem["code"], problem["status"]) == (
        b.id,
        "dispatch.not_eligible",
        409,
    )
    assert "inactive" in problem["reasons"]
    db.expire_all()
    assert db.get(WorkOrder, b.id).status == "new"
    event = db.get(WorkOrderEvent, resp.json["applied"][0]["event_id"])
    assert (event.work_order_id, event.to_status, event.message) == (a.id, "assigned", BATCH_ASSIGN_REASON)


def test_a_line_naming_an_unknown_technician_is_skipped_as_not_found(client, db, auth):
    order = factories.WorkOrderFactory()
    line = {"work_order_id": order.id, "technician_id": "nobody", "work_order_version": order.version}

    resp = client.post("/dispatch/batch/apply", json={"assignments": [line]}, headers=auth(_dispatcher()))

    assert resp.json["applied"] == []
    assert resp.json["skipped"][0]["problem"]["code"] == "technician.not_found"


# --- region rules -----------------------------------------------------------------------------------


def _rule(db, region_id):
    db.expire_all()
    return db.scalars(sa.select(AutoAssignRule).where(AutoAssignRule.region_id == region_id)).one_or_none()


def test_putting_a_rule_creates_it_then_updates_it_keeping_an_unmentioned_lead(client, db, auth):
    region = factories.RegionFactory()
    lead = factories.UserFactory(role=Role.ADMIN)
    headers = auth(_dispatcher())
    url = f"/dispatch/rules/{region.id}"

    created = client.put(url, json={"enabled": True, "team_lead_user_id": lead.id}, headers=headers)
    changes = {"enabled": False, "radius_km": 8, "strategy": "least_loaded"}
    updated = client.put(url, json=changes, headers=headers)

    assert created.status_code == 200, created.json
    assert (created.json["radius_km"], created.json["accept_timeout_minutes"]) == (15.0, 30)
    assert updated.json["team_lead_user_id"] == lead.id
    rule = _rule(db, region.id)
    assert (rule.enabled, rule.radius_km, rule.strategy, rule.team_lead_user_id) == (
        False,
        8.0,
        "least_loaded",
        lead.id,
    )
    listed = client.get("/dispatch/rules", headers=headers)
    assert [(r["region_id"], r["strategy"]) for r in listed.json] == [(region.id, "least_loaded")]


def test_a_null_lead_clears_it(client, db, auth):
    region = factories.RegionFactory()
    lead = factories.UserFactory(role=Role.DISPATCHER)
    factories.AutoAssignRuleFactory(region_id=region.id, team_lead_user_id=lead.id)

    resp = client.put(
        f"/dispatch/rules/{region.id}",
        json={"enabled": True, "team_lead_user_id": None},
        headers=auth(_dispatcher()),
    )

    assert resp.json["team_lead_user_id"] is None
    assert _rule(db, region.id).team_lead_user_id is None


def test_a_team_lead_who_may_not_lead_is_refused_and_the_rule_is_unchanged(client, db, auth):
    region = factories.RegionFactory()
    factories.AutoAssignRuleFactory(region_id=region.id, radius_km=5.0)
    technician = factories.TechnicianFactory()
    headers = auth(_dispatcher())

    for lead_id in (technician.user.id, "no-such-user"):
        resp = client.put(
            f"/dispatch/rules/{region.id}",
            json={"enabled": True, "radius_km": 50, "team_lead_user_id": lead_id},
            headers=headers,
        )
        assert resp.status_code == 422
        assert resp.json["code"] == "dispatch.bad_team_lead"
        assert resp.json["errors"] == {"team_lead_user_id": ["Not a dispatcher or admin."]}
    rule = _rule(db, region.id)
    assert (rule.radius_km, rule.team_lead_user_id) == (5.0, None)


def test_a_rule_for_an_unknown_region_is_404_and_nothing_is_written(client, db, auth):
    resp = client.put("/dispatch/rules/nowhere", json={"enabled": True}, headers=auth(_dispatcher()))

    assert (resp.status_code, resp.json["code"]) == (404, "region.not_found")
    assert db.scalar(sa.select(sa.func.count()).select_from(AutoAssignRule)) == 0


# --- notices ----------------------------------------------------------------------------------------


def test_notifications_come_a_page_at_a_time_newest_first(client, db, auth):
    lead = factories.UserFactory(role=Role.DISPATCHER)
    order = factories.WorkOrderFactory()
    now = utcnow()
    notes = [
        DispatchNotification(
            kind="declined",
            work_order_id=order.id,
            recipient_user_id=lead.id,
            message=f"n{i}",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(3)
    ]
    notes[0].read_at = now
    db.add_all(notes)
    db.commit()
    headers = auth(lead)

    first = client.get("/dispatch/notifications", query_string={"limit": 2}, headers=headers).json
    second = client.get(
        "/dispatch/notifications", query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json
    unread = client.get("/dispatch/notifications", query_string={"unread": "true"}, headers=headers).json

    assert ([n["message"] for n in first["items"]], first["has_more"]) == (["n0", "n1"], True)
    assert ([n["message"] for n in second["items"]], second["has_more"], second["next_cursor"]) == (
        ["n2"],
        False,
        None,
    )
    assert [n["message"] for n in unread["items"]] == ["n1", "n2"]


def test_marking_a_notification_read_keeps_the_first_read_time(client, db, auth):
    lead = factories.UserFactory(role=Role.DISPATCHER)
    note = DispatchNotification(kind="declined", work_order_id=factories.WorkOrderFactory().id, message="x")
    db.add(note)
    db.commit()

    first = client.post(f"/dispatch/notifications/{note.id}/read", headers=auth(lead))
    again = client.post(f"/dispatch/notifications/{note.id}/read", headers=auth(lead))

    assert first.json["read_at"] is not None
    assert again.json["read_at"] == first.json["read_at"]
