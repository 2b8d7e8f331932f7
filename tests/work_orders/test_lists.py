"""Work-order lists: filters (status, region, technician, dates, the unassigned queue) and cursor pages
that never repeat or skip a row, even when many rows share a timestamp; a tampered cursor is a 400."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from backend.kernel.base import utcnow
from backend.kernel.roles import Role
from backend.work_orders.states import Status
from tests import factories


@pytest.fixture
def dispatcher(db, auth, staff):
    return auth(staff(Role.DISPATCHER))


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.json
    return [o["id"] for o in resp.json["items"]]


def test_filters_select_by_status_region_technician_priority_and_the_queue(client, db, dispatcher):
    north, south = factories.RegionFactory(), factories.RegionFactory()
    tech = factories.TechnicianFactory()
    queued = factories.WorkOrderFactory(region_id=north.id)
    declined = factories.WorkOrderFactory(region_id=south.id, status=Status.DECLINED, priority="high")
    assigned = factories.WorkOrderFactory(region_id=north.id, assignee=tech, status=Status.ASSIGNED)
    repairing = factories.WorkOrderFactory(region_id=south.id, assignee=tech, status=Status.IN_REPAIR)

    assert set(ids(client.get("/work-orders?status=new&status=declined", headers=dispatcher))) == {
        queued.id,
        declined.id,
    }
    assert set(ids(client.get(f"/work-orders?region_id={north.id}", headers=dispatcher))) == {
        queued.id,
        assigned.id,
    }
    assert set(ids(client.get(f"/work-orders?technician_id={tech.id}", headers=dispatcher))) == {
        assigned.id,
        repairing.id,
    }
    assert set(ids(client.get("/work-orders?unassigned=true", headers=dispatcher))) == {
        queued.id,
        declined.id,
    }
    assert ids(client.get("/work-orders?priority=high", headers=dispatcher)) == [declined.id]
    both = f"/work-orders?region_id={south.id}&technician_id={tech.id}&status=in_repair"
    assert ids(client.get(both, headers=dispatcher)) == [repairing.id]


def test_a_date_range_keeps_orders_created_inside_it(client, db, dispatcher):
    now = utcnow()
    old = factories.WorkOrderFactory(created_at=now - timedelta(days=10))
    recent = factories.WorkOrderFactory(created_at=now - timedelta(days=2))
    today = factories.WorkOrderFactory(created_at=now)
    start, end = quote((now - timedelta(days=3)).isoformat()), quote((now - timedelta(hours=1)).isoformat())
    assert ids(client.get(f"/work-orders?created_from={start}&created_to={end}", headers=dispatcher)) == [
        recent.id
    ]
    assert ids(client.get(f"/work-orders?created_from={start}", headers=dispatcher)) == [today.id, recent.id]
    assert ids(client.get(f"/work-orders?created_to={end}", headers=dispatcher)) == [recent.id, old.id]


def test_cursor_pages_cover_every_row_once_newest_first_even_with_equal_timestamps(client, db, dispatcher):
    now = utcnow()
    same = now - timedelta(hours=1)
    orders = [factories.WorkOrderFactory(created_at=same) for _ in range(5)]
    orders += [factories.WorkOrderFactory(created_at=now - timedelta(minutes=m)) for m in range(6)]
    expected = [o.id for o in sorted(orders, key=lambda o: (o.created_at, o.id), reverse=True)]

    seen: list[str] = []
    url = "/work-orders?limit=3"
    pages = 0
    while True:
        page = client.get(url, headers=dispatcher).json
        seen += [o["id"] for o in page["items"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        url = f"/work-orders?limit=3&cursor={page['next_cursor']}"
    assert seen == expected
    assert pages == 4


def test_a_tampered_or_foreign_cursor_is_a_400_problem(client, db, dispatcher):
    for _ in range(3):
        factories.WorkOrderFactory()
    cursor = client.get("/work-orders?limit=1", headers=dispatcher).json["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "not-a-cursor", "W10.x"):
        resp = client.get(f"/work-orders?cursor={bad}", headers=dispatcher)
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
        assert resp.json["code"] == "pagination.bad_cursor"


def test_request_lists_filter_by_status_and_page_too(client, db, auth, staff):
    desk = auth(staff(Role.CUSTOMER_SERVICE))
    body = {"contact_name": "李先生", "contact_phone": "13900000000", "fault_description": "电视无法开机"}
    made = [client.post("/requests", json=body, headers=desk).json["id"] for _ in range(3)]
    client.post(f"/requests/{made[0]}/reject", json={"reason": "重复报修"}, headers=desk)
    submitted = ids(client.get("/requests?status=submitted", headers=desk))
    assert sorted(submitted) == sorted(made[1:])
    first = client.get("/requests?limit=2", headers=desk).json
    second = client.get(f"/requests?limit=2&cursor={first['next_cursor']}", headers=desk).json
    assert sorted(o["id"] for o in first["items"] + second["items"]) == sorted(made)
    assert second["has_more"] is False
