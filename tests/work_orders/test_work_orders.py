"""Work orders over HTTP: the lifecycle walked by the people who do it, assignment, decline, illegal moves."""

from __future__ import annotations

import sqlalchemy as sa

from backend.kernel.roles import Role
from backend.work_orders.models import WorkOrderEvent
from backend.work_orders.states import Status
from tests import factories

PROBLEM = "application/problem+json"


def move(client, headers, order_id, to, **extra):
    return client.post(f"/work-orders/{order_id}/transitions", json={"to": to, **extra}, headers=headers)


def assign(client, headers, order_id, technician_id, **extra):
    body = {"technician_id": technician_id, **extra}
    return client.post(f"/work-orders/{order_id}/assign", json=body, headers=headers)


def decline(client, headers, order_id, reason):
    return client.post(f"/work-orders/{order_id}/decline", json={"reason": reason}, headers=headers)


def history(client, headers, order_id):
    return [
        e["to_status"] for e in client.get(f"/work-orders/{order_id}/events", headers=headers).json["items"]
    ]


def test_an_order_walks_its_whole_lifecycle_through_the_api_by_the_people_who_do_it(client, db, auth, staff):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory()
    dispatcher, desk = auth(staff(Role.DISPATCHER)), auth(staff(Role.CUSTOMER_SERVICE))
    as_tech, as_customer = auth(tech.user), auth(order.customer.user)

    resp = assign(client, dispatcher, order.id, tech.id)
    assert resp.status_code == 200, resp.json
    assert resp.json["work_order"]["assignee_id"] == tech.id
    version = resp.json["work_order"]["version"]
    assert version == 2

    resp = client.post(f"/work-orders/{order.id}/accept", headers=as_tech)
    assert resp.json["work_order"]["status"] == "accepted"
    assert resp.json["allowed_next"] == ["scheduled"]

    steps = [
        (as_tech, "scheduled"),
        (as_tech, "en_route"),
        (as_tech, "on_site"),
        (as_tech, "in_repair"),
        (as_tech, "awaiting_parts"),
        (as_tech, "in_repair"),
        (as_tech, "awaiting_approval"),
        (as_customer, "in_repair"),
        (as_tech, "completed"),
        (as_customer, "rejected_by_customer"),
        (desk, "rework"),
        (as_tech, "in_repair"),
        (as_tech, "completed"),
        (as_customer, "accepted_by_customer"),
        (desk, "closed"),
    ]
    version += 1
    for headers, to in steps:
        resp = move(client, headers, order.id, to, base_version=version)
        assert resp.status_code == 200, (to, resp.json)
        assert resp.json["work_order"]["status"] == to
        assert resp.json["work_order"]["version"] == version + 1
        assert resp.json["event"]["to_status"] == to
        version += 1

    events = client.get(f"/work-orders/{order.id}/events", headers=dispatcher).json["items"]
    assert [e["to_status"] for e in events] == ["assigned", "accepted"] + [to for _h, to in steps]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    roles = {e["to_status"]: e["actor_role"] for e in events}
    assert roles["assigned"] == "dispatcher" and roles["closed"] == "customer_service"
    final = client.get(f"/work-orders/{order.id}", headers=dispatcher).json
    assert final["status"] == "closed" and final["closed_at"] and final["completed_at"]


def test_an_illegal_move_is_a_409_naming_the_allowed_ones_and_changes_nothing(client, db, auth):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status=Status.ASSIGNED)

    resp = move(client, auth(tech.user), order.id, "completed")

    assert resp.status_code == 409
    assert resp.mimetype == PROBLEM
    body = resp.json
    assert body["code"] == "work_order.illegal_transition"
    assert body["allowed"] == ["accepted", "declined"]
    assert body["current_status"] == "assigned" and body["current_version"] == 1
    again = client.get(f"/work-orders/{order.id}", headers=auth(tech.user)).json
    assert (again["status"], again["version"]) == ("assigned", 1)
    assert db.scalar(sa.select(sa.func.count()).select_from(WorkOrderEvent)) == 0


def test_a_customer_may_cancel_a_new_order_but_not_close_it(client, db, auth):
    order = factories.WorkOrderFactory()
    headers = auth(order.customer.user)
    refused = move(client, headers, order.id, "closed")
    assert refused.status_code == 409 and refused.json["allowed"] == ["cancelled"]
    done = move(client, headers, order.id, "cancelled", reason="已自行修好")
    assert done.status_code == 200 and done.json["work_order"]["status"] == "cancelled"
    assert done.json["event"]["message"] == "已自行修好"
    assert done.json["allowed_next"] == []


def test_a_partner_may_cancel_the_order_it_sent(client, db, auth, partner_with_key):
    partner, key = partner_with_key
    order = factories.WorkOrderFactory(partner_id=partner.id)
    resp = move(client, auth(key), order.id, "cancelled")
    assert resp.status_code == 200 and resp.json["event"]["actor_role"] == "partner"


def test_a_stale_base_version_is_refused_with_the_current_one(client, db, auth):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status=Status.ASSIGNED)
    resp = move(client, auth(tech.user), order.id, "accepted", base_version=7)
    assert resp.status_code == 409
    assert resp.json["code"] == "work_order.version_mismatch" and resp.json["current_version"] == 1


def test_moving_to_assigned_by_hand_is_refused_assignment_names_a_technician(client, db, auth, staff):
    order = factories.WorkOrderFactory()
    resp = move(client, auth(staff(Role.DISPATCHER)), order.id, "assigned")
    assert resp.status_code == 409 and resp.json["code"] == "work_order.assignee_required"


def test_a_declined_order_returns_to_the_queue_without_an_assignee_and_can_be_reassigned(
    client, db, auth, staff
):
    first, second = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory()
    dispatcher = auth(staff(Role.DISPATCHER))
    assign(client, dispatcher, order.id, first.id)

    resp = decline(client, auth(first.user), order.id, "今日工单已满")

    assert resp.status_code == 200
    assert resp.json["work_order"]["status"] == "declined"
    assert resp.json["work_order"]["assignee_id"] is None
    queue = client.get("/work-orders?unassigned=true", headers=dispatcher).json["items"]
    assert [o["id"] for o in queue] == [order.id]
    assert client.get(f"/work-orders/{order.id}", headers=auth(first.user)).status_code == 404

    again = assign(client, dispatcher, order.id, second.id)
    assert again.status_code == 200
    assert again.json["work_order"]["status"] == "assigned"
    assert again.json["work_order"]["assignee_id"] == second.id
    events = client.get(f"/work-orders/{order.id}/events", headers=dispatcher).json["items"]
    declined = next(e for e in events if e["to_status"] == "declined")
    assert declined["message"] == "今日工单已满"
    assert declined["data"]["declined_by_technician_id"] == first.id


def test_reassignment_moves_an_accepted_order_to_another_technician_who_must_accept_it(
    client, db, auth, staff
):
    first, second = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=first, status=Status.ACCEPTED)
    dispatcher = auth(staff(Role.DISPATCHER))

    resp = client.post(
        f"/work-orders/{order.id}/assign",
        json={"technician_id": second.id, "reason": "就近改派", "base_version": 1},
        headers=dispatcher,
    )

    assert resp.status_code == 200, resp.json
    assert resp.json["work_order"]["status"] == "assigned"
    assert resp.json["work_order"]["version"] == 2
    assert resp.json["event"]["kind"] == "reassigned"
    assert resp.json["event"]["data"] == {"technician_id": second.id, "previous_technician_id": first.id}
    assert client.get(f"/work-orders/{order.id}", headers=auth(first.user)).status_code == 404
    assert client.post(f"/work-orders/{order.id}/accept", headers=auth(second.user)).status_code == 200


def test_assignment_refuses_orders_past_the_point_of_no_return_and_unknown_technicians(
    client, db, auth, staff
):
    tech = factories.TechnicianFactory()
    dispatcher = auth(staff(Role.DISPATCHER))
    busy = factories.WorkOrderFactory(assignee=tech, status=Status.IN_REPAIR)
    other = factories.TechnicianFactory()
    resp = assign(client, dispatcher, busy.id, other.id)
    assert resp.status_code == 409 and resp.json["code"] == "work_order.not_assignable"
    queued = factories.WorkOrderFactory()
    resp = assign(client, dispatcher, queued.id, "nobody")
    assert resp.status_code == 404 and resp.json["code"] == "technician.not_found"
    inactive = factories.TechnicianFactory(active=False)
    resp = assign(client, dispatcher, queued.id, inactive.id)
    assert resp.status_code == 409 and resp.json["code"] == "technician.inactive"


def test_only_dispatchers_and_admins_assign(client, db, auth, staff):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory()
    for role in (Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE, Role.QUALITY):
        resp = client.post(
            f"/work-orders/{order.id}/assign", json={"technician_id": tech.id}, headers=auth(staff(role))
        )
        assert resp.status_code == 403 and resp.json["code"] == "auth.forbidden", role
    resp = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": tech.id}, headers=auth(staff(Role.ADMIN))
    )
    assert resp.status_code == 200


def test_technicians_see_internal_history_customers_only_the_customer_visible_lines(client, db, auth, staff):
    first, second = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory()
    dispatcher = auth(staff(Role.DISPATCHER))
    assign(client, dispatcher, order.id, first.id)
    decline(client, auth(first.user), order.id, "车辆故障")
    assign(client, dispatcher, order.id, second.id)

    staff_view = history(client, dispatcher, order.id)
    customer_view = history(client, auth(order.customer.user), order.id)
    tech_view = history(client, auth(second.user), order.id)

    assert staff_view == ["assigned", "declined", "assigned"]
    assert customer_view == ["assigned", "assigned"]
    assert tech_view == staff_view
