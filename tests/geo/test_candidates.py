"""GET /dispatch/work-orders/{id}/candidates: who is offered, in which order, and why."""

from __future__ import annotations

from datetime import date, timedelta

from backend.kernel.roles import Role
from tests import factories
from tests.geo.helpers import ERQI_TOWER, km_from


def _tech(region, km, bearing=0.0, **kwargs):
    lat, lng = km_from(ERQI_TOWER, km, bearing)
    return factories.on_duty_technician(region=region, home_lat=lat, home_lng=lng, **kwargs)


def _order(region, **kwargs):
    kwargs.setdefault("lat", ERQI_TOWER[0])
    kwargs.setdefault("lng", ERQI_TOWER[1])
    return factories.WorkOrderFactory(region_id=region.id, **kwargs)


def _candidates(client, auth, order, **query):
    dispatcher = factories.UserFactory(role=Role.DISPATCHER)
    resp = client.get(
        f"/dispatch/work-orders/{order.id}/candidates", query_string=query, headers=auth(dispatcher)
    )
    assert resp.status_code == 200, resp.json
    return resp.json


def test_technician_1_km_away_with_expired_certificate_is_not_offered_for_electrical_job(client, db, auth):
    region = factories.RegionFactory()
    near = _tech(region, 1.0, categories=["water_heater"])
    factories.CertificateFactory(
        technician=near,
        type="electrician",
        issued_on=date(2020, 1, 1),
        expires_on=date.today() - timedelta(days=1),
    )
    farther = _tech(region, 3.0, categories=["water_heater"])
    factories.CertificateFactory(technician=farther, type="electrician")
    order = _order(region, product_category="water_heater", fault_type="no_heating", hazards=["electrical"])

    body = _candidates(client, auth, order)

    assert [c["technician_id"] for c in body["candidates"]] == [farther.id]
    assert abs(body["candidates"][0]["distance_km"] - 3.0) < 0.01
    excluded = {e["technician_id"]: e for e in body["excluded"]}
    assert excluded[near.id]["reasons"] == ["certificate_missing:electrician"]
    assert abs(excluded[near.id]["distance_km"] - 1.0) < 0.01


def test_technician_at_daily_capacity_is_not_offered(client, db, auth):
    region = factories.RegionFactory()
    busy = _tech(region, 0.5, daily_capacity=2)
    for _ in range(2):
        factories.WorkOrderFactory(assignee=busy, status="accepted", region_id=region.id)
    free = _tech(region, 4.0, daily_capacity=2)
    order = _order(region)

    body = _candidates(client, auth, order)

    assert [c["technician_id"] for c in body["candidates"]] == [free.id]
    assert {e["technician_id"]: e["reasons"] for e in body["excluded"]}[busy.id] == ["at_capacity"]


def test_expert_outranks_a_closer_junior_for_a_high_end_product(client, db, auth):
    region = factories.RegionFactory()
    junior = _tech(region, 1.0, skill_level="junior")
    expert = _tech(region, 1.3, bearing=90, skill_level="expert")
    senior = _tech(region, 1.2, bearing=180, skill_level="senior")
    customer = factories.CustomerFactory()
    product = factories.ProductFactory(customer=customer, high_end=True)
    order = _order(region, customer=customer, product=product)

    body = _candidates(client, auth, order)

    assert body["candidates"][0]["technician_id"] == expert.id
    assert body["candidates"][0]["skill_level"] == "expert"
    reasons = {e["technician_id"]: e["reasons"] for e in body["excluded"]}
    assert reasons[junior.id] == ["expert_required"]
    assert reasons[senior.id] == ["expert_required"]


def test_at_equal_distance_the_expert_scores_above_the_junior_on_skill(client, db, auth):
    region = factories.RegionFactory()
    junior = _tech(region, 2.0, skill_level="junior")
    expert = _tech(region, 2.05, bearing=90, skill_level="expert")
    order = _order(region)

    body = _candidates(client, auth, order)

    ranked = [c["technician_id"] for c in body["candidates"]]
    assert ranked == [expert.id, junior.id]
    by_id = {c["technician_id"]: c for c in body["candidates"]}
    assert by_id[expert.id]["breakdown"]["skill"]["points"] > by_id[junior.id]["breakdown"]["skill"]["points"]


def test_each_candidate_carries_its_score_breakdown_and_eta(client, db, auth):
    region = factories.RegionFactory()
    tech = _tech(region, 2.0)
    factories.TechnicianPositionFactory(
        technician_id=tech.id, lat=km_from(ERQI_TOWER, 1.0)[0], lng=ERQI_TOWER[1]
    )
    order = _order(region, priority="emergency")

    cand = _candidates(client, auth, order)["candidates"][0]

    b = cand["breakdown"]
    assert set(b) == {"distance", "workload", "skill", "history", "urgency"}
    assert b["distance"]["position"] == "report"
    assert abs(cand["distance_km"] - 1.0) < 0.01  # the reported position wins over the home base
    assert b["distance"]["eta_minutes"] > 0
    assert b["urgency"]["value"] == 1.0
    assert cand["score"] == round(sum(part["points"] for part in b.values()), 2)


def test_a_stale_position_scores_below_a_fresh_one_at_the_same_distance(client, db, auth):
    region = factories.RegionFactory()
    fresh = _tech(region, 1.0)
    stale = _tech(region, 1.0, bearing=180)
    from backend.kernel.base import utcnow

    factories.TechnicianPositionFactory(technician_id=fresh.id, lat=fresh.home_lat, lng=fresh.home_lng)
    factories.TechnicianPositionFactory(
        technician_id=stale.id,
        lat=stale.home_lat,
        lng=stale.home_lng,
        reported_at=utcnow() - timedelta(hours=3),
    )
    order = _order(region)

    body = _candidates(client, auth, order)

    assert [c["technician_id"] for c in body["candidates"]] == [fresh.id, stale.id]
    assert body["candidates"][1]["breakdown"]["distance"]["position_stale"] is True


def test_previous_visits_to_the_customer_add_points(client, db, auth):
    region = factories.RegionFactory()
    regular = _tech(region, 2.0)
    stranger = _tech(region, 2.0, bearing=180)
    customer = factories.CustomerFactory()
    factories.WorkOrderFactory(customer=customer, assignee=regular, status="closed")
    order = _order(region, customer=customer)

    body = _candidates(client, auth, order)

    assert body["candidates"][0]["technician_id"] == regular.id
    assert body["candidates"][0]["breakdown"]["history"]["previous_visits"] == 1
    assert body["candidates"][1]["technician_id"] == stranger.id


def test_off_shift_other_skill_and_inactive_technicians_are_not_offered(client, db, auth):
    region = factories.RegionFactory()
    no_shift = factories.TechnicianFactory(region=region, home_lat=ERQI_TOWER[0], home_lng=ERQI_TOWER[1])
    plumber = _tech(region, 0.3, categories=["plumbing"])
    _tech(region, 0.2, active=False)
    order = _order(region)

    body = _candidates(client, auth, order)

    assert body["candidates"] == []
    reasons = {e["technician_id"]: e["reasons"] for e in body["excluded"]}
    assert reasons == {no_shift.id: ["off_shift"], plumber.id: ["no_skill"]}


def test_technicians_of_another_region_are_offered_only_when_asked(client, db, auth):
    region, other = factories.RegionFactory(), factories.RegionFactory()
    neighbour = _tech(other, 1.0)
    order = _order(region)

    assert _candidates(client, auth, order)["candidates"] == []
    wide = _candidates(client, auth, order, any_region="true")
    assert [c["technician_id"] for c in wide["candidates"]] == [neighbour.id]


def test_a_technician_may_not_ask_for_candidates(client, db, auth):
    region = factories.RegionFactory()
    tech = _tech(region, 1.0)
    order = _order(region)

    resp = client.get(f"/dispatch/work-orders/{order.id}/candidates", headers=auth(tech.user))

    assert resp.status_code == 403
    assert resp.json["code"] == "auth.forbidden"


def test_candidates_for_an_unknown_order_are_404(client, db, auth):
    dispatcher = factories.UserFactory(role=Role.DISPATCHER)

    resp = client.get("/dispatch/work-orders/nope/candidates", headers=auth(dispatcher))

    assert resp.status_code == 404
    assert resp.json["code"] == "work_order.not_found"


def test_an_order_without_coordinates_is_a_409_problem(client, db, auth):
    order = factories.WorkOrderFactory(lat=None, lng=None)
    dispatcher = factories.UserFactory(role=Role.DISPATCHER)

    resp = client.get(f"/dispatch/work-orders/{order.id}/candidates", headers=auth(dispatcher))

    assert resp.status_code == 409
    assert resp.json["code"] == "dispatch.order_not_located"
