"""The demo data set `make run` loads: a city's worth of consistent data, and every demo login works."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from geopy.distance import great_circle

from backend.accounts.customers import Address, Customer
from backend.accounts.regions import Region
from backend.accounts.technicians import Certificate, Technician
from backend.accounts.users import User
from backend.demo.core import DEMO_PARTNER_KEY, DEMO_PASSWORDS, DEMO_STAFF
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from backend.work_orders.service import CHINA_TZ
from backend.work_orders.states import TRANSITIONS, Status


def test_the_demo_loads_a_consistent_city_once_and_every_role_can_log_in(app, db, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "500 work_orders" in result.output

    count = lambda model: db.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    assert (count(Region), count(Technician), count(Customer), count(WorkOrder)) == (8, 50, 300, 500)
    statuses = dict(db.execute(sa.select(WorkOrder.status, sa.func.count()).group_by(WorkOrder.status)).all())
    assert set(statuses) == {s.value for s in Status}, "orders in every status of the state machine"
    assert (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(Certificate)
            .where(Certificate.expires_on < sa.func.current_date())
        )
        > 0
    )

    regions = db.scalars(sa.select(Region)).all()
    for address in db.scalars(sa.select(Address)):
        nearest = min(
            great_circle((address.lat, address.lng), (r.center_lat, r.center_lng)).km for r in regions
        )
        assert nearest <= 8.0 and "郑州市" in address.text

    events = defaultdict(list)
    for event in db.scalars(
        sa.select(WorkOrderEvent).order_by(WorkOrderEvent.work_order_id, WorkOrderEvent.seq)
    ):
        events[event.work_order_id].append(event)
    for order in db.scalars(sa.select(WorkOrder)):
        history = events[order.id]
        assert [e.seq for e in history] == list(range(1, len(history) + 1))
        assert history[0].kind == "created" and history[0].to_status == Status.NEW
        status = Status.NEW
        for event in history[1:]:
            if event.to_status is None:
                continue  # a fact on the job (a checklist, a part used), not a status line
            assert event.from_status == status, (order.number, event.kind)
            if event.kind == "status":
                assert (Status(event.from_status), Status(event.to_status)) in TRANSITIONS
                assert event.actor_role in TRANSITIONS[(Status(event.from_status), Status(event.to_status))]
            status = Status(event.to_status)
        assert status == order.status, order.number
        times = [e.created_at for e in history]
        assert times == sorted(times) and times[0] == order.created_at
        assert order.number.startswith(f"WO-{order.created_at.astimezone(CHINA_TZ):%Y%m%d}-")
        if order.status in (Status.NEW, Status.DECLINED, Status.CANCELLED) and order.assignee_id is None:
            continue
        assert order.assignee_id is not None or order.status == Status.CANCELLED, order.number

    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "nothing loaded" in again.output
    assert count(WorkOrder) == 500

    usernames = [(u, role) for u, role, _n in DEMO_STAFF] + [
        ("tech01", "technician"),
        ("cust001", "customer"),
    ]
    for username, role in usernames:
        resp = client.post("/auth/login", json={"username": username, "password": DEMO_PASSWORDS[role]})
        assert resp.status_code == 200, username
        assert resp.json["principal"]["role"] == role
    assert client.get("/work-orders", headers={"X-API-Key": DEMO_PARTNER_KEY}).json["items"]
    customer = client.post(
        "/auth/login", json={"username": "cust001", "password": DEMO_PASSWORDS["customer"]}
    )
    tracked = client.get(
        "/tracking/orders", headers={"Authorization": f"Bearer {customer.json['access_token']}"}
    )
    assert len(tracked.json["items"]) >= 4, "the README's example customer has orders to track"
    assert db.scalar(sa.select(sa.func.count()).select_from(User)) == len(DEMO_STAFF) + 50 + 300
