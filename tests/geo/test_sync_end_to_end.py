"""Through the real sync endpoints: a position pushed in GCJ-02 steers auto-assignment, and the
auto-assigned job (and the timeout that takes it away) reach the technician's next pull."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from backend.geo.coords import wgs84_to_gcj02
from backend.geo.models import TechnicianPosition
from backend.kernel.base import utcnow
from backend.work_orders.models import WorkOrder
from tests import factories
from tests.geo.helpers import ERQI_TOWER, km_from
from tests.mutations import spy_on_batch

PROTOCOL = {"X-Sync-Protocol": "2"}


def _push(client, headers, device_id, *mutations):
    resp = client.post(
        "/sync/push", json={"device_id": device_id, "mutations": list(mutations)}, headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["results"]


def _report(lat, lng, coord_system="wgs84"):
    return {
        "id": str(uuid.uuid4()),
        "name": "location.report",
        "args": {"lat": lat, "lng": lng, "coord_system": coord_system, "accuracy_m": 10},
        "client_time": "2026-11-23T06:05:09+00:00",
    }


def _pull_ids(client, headers, device_id, cursor=None):
    query = {"device_id": device_id, **({"cursor": cursor} if cursor else {})}
    resp = client.get("/sync/pull", query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    orders = body["changes"].get("work_orders", {"upserts": [], "deletes": []})
    return [r["id"] for r in orders["upserts"]], orders["deletes"], body["cursor"]


def test_pushed_position_wins_auto_assignment_and_the_job_arrives_in_the_next_pull(client, db, auth, app):
    region = factories.RegionFactory(center_lat=ERQI_TOWER[0], center_lng=ERQI_TOWER[1])
    factories.AutoAssignRuleFactory(region_id=region.id, radius_km=10, accept_timeout_minutes=10)
    far_lat, far_lng = km_from(ERQI_TOWER, 8.0)
    roaming = factories.on_duty_technician(region=region, home_lat=far_lat, home_lng=far_lng)
    homebody = factories.on_duty_technician(
        region=region, home_lat=km_from(ERQI_TOWER, 3.0)[0], home_lng=ERQI_TOWER[1]
    )
    tech_headers = {**auth(roaming.user), **PROTOCOL}
    _, _, cursor = _pull_ids(client, tech_headers, "phone-r")  # first sync: nothing yet
    # The phone (AMap SDK) reports GCJ-02, 500 m from the tower.
    gcj = wgs84_to_gcj02(*km_from(ERQI_TOWER, 0.5, 180))
    [result] = _push(client, tech_headers, "phone-r", _report(gcj[0], gcj[1], "gcj02"))
    assert result["status"] == "applied", result
    db.expire_all()
    stored = db.get(TechnicianPosition, roaming.id)
    assert abs(stored.lat - km_from(ERQI_TOWER, 0.5, 180)[0]) < 1e-6

    customer = factories.CustomerFactory()
    filed = client.post(
        "/requests",
        json={
            "contact_name": "李女士",
            "contact_phone": "13900002222",
            "address_text": "郑州市二七区二七广场 2 号",
            "lat": ERQI_TOWER[0],
            "lng": ERQI_TOWER[1],
            "product_category": "washing_machine",
            "fault_type": "leak",
            "fault_description": "洗衣机漏水",
        },
        headers=auth(customer.user),
    )
    assert filed.status_code == 201, filed.get_json()
    order_id = filed.get_json()["work_order_id"]
    db.expire_all()
    assert db.get(WorkOrder, order_id).assignee_id == roaming.id  # nearer by its report than its home
    db.rollback()

    upserts, _, cursor = _pull_ids(client, tech_headers, "phone-r", cursor)
    assert order_id in upserts

    # Not accepted in time: the job leaves this phone and goes to the next technician.
    db.get(WorkOrder, order_id).assigned_at = utcnow() - timedelta(minutes=11)
    db.commit()
    assert app.test_cli_runner().invoke(args=["dispatch-timeouts"]).exit_code == 0
    db.expire_all()
    assert db.get(WorkOrder, order_id).assignee_id == homebody.id
    db.rollback()
    _, deletes, _ = _pull_ids(client, tech_headers, "phone-r", cursor)
    assert order_id in deletes


def test_location_report_with_bad_coordinates_is_rejected_per_mutation(client, db, auth):
    tech = factories.TechnicianFactory()
    headers = {**auth(tech.user), **PROTOCOL}

    results = _push(
        client, headers, "phone-x", _report(91, 113.6), _report(34.7, 113.6, "wgs72"), _report(34.7, 113.6)
    )

    assert [r["status"] for r in results] == ["rejected", "rejected", "applied"]
    db.expire_all()
    assert db.get(TechnicianPosition, tech.id).lat == 34.7


def test_a_backlog_of_positions_keeps_the_last_and_answers_each_with_its_own(client, db, auth, monkeypatch):
    tech = factories.TechnicianFactory()
    headers = {**auth(tech.user), **PROTOCOL}
    backlog = [_report(34.70 + i / 1000, 113.60) for i in range(20)]
    seen = spy_on_batch(monkeypatch, "location.report")

    results = _push(client, headers, "phone-b", *backlog)

    assert seen == ["applied"]
    assert [r["status"] for r in results] == ["applied"] * 20
    assert [r["result"]["technician_position"]["lat"] for r in results] == [m["args"]["lat"] for m in backlog]
    db.expire_all()
    stored = db.get(TechnicianPosition, tech.id)
    assert (stored.lat, stored.lng, stored.device_id) == (backlog[-1]["args"]["lat"], 113.60, "phone-b")
    assert db.scalar(sa.select(sa.func.count()).select_from(TechnicianPosition)) == 1
