"""Batch plans, day routes, map layers and the location.report mutation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from backend.geo.coords import wgs84_to_gcj02
from backend.geo.models import TechnicianPosition
from backend.geo.routing import RouteJob, plan_day_route
from backend.geo.settings import DispatchSettings
from backend.kernel.roles import Role
from backend.sync.registry import MutationContext, mutations_by_name
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import CHINA_TZ
from tests import factories
from tests.geo.helpers import ERQI_TOWER, km_from


def _tech(region, km, bearing=0.0, **kwargs):
    lat, lng = km_from(ERQI_TOWER, km, bearing)
    return factories.on_duty_technician(region=region, home_lat=lat, home_lng=lng, **kwargs)


def _dispatcher():
    return factories.UserFactory(role=Role.DISPATCHER)


def test_batch_plan_minimizes_total_distance_and_respects_capacity(client, db, auth):
    region = factories.RegionFactory()
    west = _tech(region, 5.0, bearing=270, daily_capacity=1)
    east = _tech(region, 5.0, bearing=90, daily_capacity=1)
    # Greedy takes the first order's nearest (west, 0.1 km closer) and sends the second one far away.
    a = factories.WorkOrderFactory(
        region_id=region.id, lat=ERQI_TOWER[0], lng=km_from(ERQI_TOWER, 0.1, 270)[1]
    )
    b_lat, b_lng = km_from(ERQI_TOWER, 4.0, 270)
    b = factories.WorkOrderFactory(region_id=region.id, lat=b_lat, lng=b_lng)

    resp = client.post("/dispatch/batch", json={"region_id": region.id}, headers=auth(_dispatcher()))

    assert resp.status_code == 200, resp.json
    plan = {p["work_order_id"]: p["technician_id"] for p in resp.json["assignments"]}
    assert plan == {a.id: east.id, b.id: west.id}
    assert resp.json["total_distance_km"] < resp.json["greedy_total_distance_km"]
    # Nothing assigned until confirmed.
    db.expire_all()
    assert db.get(WorkOrder, a.id).status == "new"


def test_applying_a_plan_assigns_and_skips_lines_that_went_stale(client, db, auth):
    region = factories.RegionFactory()
    tech = _tech(region, 1.0)
    a = factories.WorkOrderFactory(region_id=region.id)
    b = factories.WorkOrderFactory(region_id=region.id)
    headers = auth(_dispatcher())
    plan = client.post("/dispatch/batch", json={"work_order_ids": [a.id, b.id]}, headers=headers).json
    lines = [
        {k: p[k] for k in ("work_order_id", "technician_id", "work_order_version")}
        for p in plan["assignments"]
    ]
    b_row = db.get(WorkOrder, b.id)
    b_row.priority = "high"  # someone changed b after the plan was made
    db.commit()

    resp = client.post("/dispatch/batch/apply", json={"assignments": lines}, headers=headers)

    assert resp.status_code == 200, resp.json
    assert [x["work_order_id"] for x in resp.json["applied"]] == [a.id]
    assert resp.json["skipped"][0]["problem"]["code"] == "work_order.version_mismatch"
    db.expire_all()
    assert (db.get(WorkOrder, a.id).status, db.get(WorkOrder, a.id).assignee_id) == ("assigned", tech.id)
    assert db.get(WorkOrder, b.id).status == "new"


def test_batch_needs_a_scope_and_dispatch_rights(client, db, auth):
    tech = factories.TechnicianFactory()
    assert client.post("/dispatch/batch", json={}, headers=auth(_dispatcher())).status_code == 422
    assert client.post("/dispatch/batch", json={"region_id": "x"}, headers=auth(tech.user)).status_code == 403


def _appointment(day: date, hour: int) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(hour), tzinfo=CHINA_TZ)
    return start, start + timedelta(hours=2)


def test_day_route_respects_appointment_windows_with_etas(client, db, auth):
    region = factories.RegionFactory()
    tech = _tech(region, 0.0)
    day = date.today() + timedelta(days=1)
    far_lat, far_lng = km_from(ERQI_TOWER, 6.0, 90)
    near_lat, near_lng = km_from(ERQI_TOWER, 1.0, 0)
    # The near job is only possible in the afternoon: nearest-first would arrive too early and wait.
    s1, e1 = _appointment(day, 9)
    s2, e2 = _appointment(day, 14)
    early = factories.WorkOrderFactory(
        assignee=tech, status="accepted", lat=far_lat, lng=far_lng, appointment_start=s1, appointment_end=e1
    )
    late = factories.WorkOrderFactory(
        assignee=tech, status="accepted", lat=near_lat, lng=near_lng, appointment_start=s2, appointment_end=e2
    )

    resp = client.get(
        f"/technicians/{tech.id}/route", query_string={"date": day.isoformat()}, headers=auth(tech.user)
    )

    assert resp.status_code == 200, resp.json
    stops = resp.json["stops"]
    assert [s["work_order_id"] for s in stops] == [early.id, late.id]
    assert resp.json["late_minutes"] == 0
    for stop in stops:
        eta = datetime.fromisoformat(stop["service_start"])
        assert (
            datetime.fromisoformat(stop["window_start"]) <= eta <= datetime.fromisoformat(stop["window_end"])
        )
    assert resp.json["baseline"]["order"] == [late.id, early.id]
    assert resp.json["baseline"]["late_minutes"] > 0


def test_a_technician_cannot_read_another_technicians_route(client, db, auth):
    mine, theirs = factories.TechnicianFactory(), factories.TechnicianFactory()

    resp = client.get(f"/technicians/{theirs.id}/route", headers=auth(mine.user))

    assert resp.status_code == 404
    assert resp.json["code"] == "technician.not_found"


def test_vrp_route_of_twelve_jobs_is_no_longer_than_nearest_neighbour():
    settings = DispatchSettings()
    start = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    jobs = [
        RouteJob(f"j{i}", *km_from(ERQI_TOWER, 1.0 + (i * 7) % 9, (i * 137) % 360), None, None)
        for i in range(12)
    ]
    route = plan_day_route(
        jobs, start_point=ERQI_TOWER, end_point=ERQI_TOWER, start_time=start, settings=settings
    )
    assert sorted(s.job.id for s in route.stops) == sorted(j.id for j in jobs)
    assert route.total_km <= route.baseline["total_km"] + 1e-6


def test_map_layers_are_geojson_in_lng_lat_order(client, db, auth):
    region = factories.RegionFactory()
    tech = _tech(region, 1.0)
    order = factories.WorkOrderFactory(region_id=region.id)
    factories.WorkOrderFactory(region_id=region.id, status="closed", assignee=tech)
    headers = auth(_dispatcher())

    orders = client.get(
        "/dispatch/map/work-orders", query_string={"region_id": region.id}, headers=headers
    ).json
    techs = client.get(
        "/dispatch/map/technicians", query_string={"bbox": "113.5,34.6,113.8,34.9"}, headers=headers
    ).json

    assert orders["type"] == "FeatureCollection"
    assert [f["id"] for f in orders["features"]] == [order.id]
    assert orders["features"][0]["geometry"] == {"type": "Point", "coordinates": [order.lng, order.lat]}
    assert [f["id"] for f in techs["features"]] == [tech.id]
    assert techs["features"][0]["properties"]["position"] == "home_base"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"bbox": "-180,-90,180,90"}, "geo.bbox_too_large"),
        ({"bbox": "113.5,91,113.8,92"}, "geo.invalid_coordinates"),
        ({"bbox": "a,b,c,d"}, "geo.invalid_coordinates"),
        ({"bbox": "113.5,34.6,113.8,34.9", "coord_system": "utm"}, "geo.unknown_coord_system"),
        ({}, "geo.map_scope_required"),
    ],
)
def test_bad_map_queries_are_4xx_problems(client, db, auth, query, code):
    resp = client.get("/dispatch/map/work-orders", query_string=query, headers=auth(_dispatcher()))
    assert 400 <= resp.status_code < 500
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code


def _report(db, tech, args):
    from backend.api.security import principal_for_user

    handler = mutations_by_name()["location.report"]
    loaded = handler.schema().load(args)
    with db.begin_nested():
        principal = principal_for_user(tech.user)
        ctx = MutationContext(
            session=db,
            principal=principal,
            device_id="dev-1",
            mutation_id="m1",
            client_time=None,
            base_version=None,
        )
        return handler.handler(ctx, loaded)


def test_location_report_in_gcj02_is_stored_as_wgs84(app, db):
    tech = factories.TechnicianFactory()
    gcj = wgs84_to_gcj02(*ERQI_TOWER)
    with app.test_request_context():
        _report(db, tech, {"lat": gcj[0], "lng": gcj[1], "coord_system": "gcj02", "accuracy_m": 12})
    db.commit()
    row = db.get(TechnicianPosition, tech.id)
    assert abs(row.lat - ERQI_TOWER[0]) < 1e-7 and abs(row.lng - ERQI_TOWER[1]) < 1e-7
    assert row.accuracy_m == 12 and row.device_id == "dev-1"


@pytest.mark.parametrize(
    "args",
    [{"lat": 91, "lng": 113}, {"lat": float("nan"), "lng": 113}, {"lat": "north", "lng": 113}],
)
def test_location_report_with_bad_coordinates_is_rejected_and_nothing_written(app, db, args):
    from marshmallow import ValidationError

    from backend.errors import Problem

    tech = factories.TechnicianFactory()
    with app.test_request_context(), pytest.raises((Problem, ValidationError)):
        _report(db, tech, args)
    db.rollback()
    assert db.get(TechnicianPosition, tech.id) is None


def test_location_report_with_unknown_coord_system_is_rejected(app, db):
    from marshmallow import ValidationError

    tech = factories.TechnicianFactory()
    with app.test_request_context(), pytest.raises(ValidationError):
        _report(db, tech, {"lat": 34.7, "lng": 113.6, "coord_system": "wgs72"})
