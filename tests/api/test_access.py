"""Cross-user access: technicians, customers and partners guessing each other's ids get 404, never 403,
and lists never carry another's rows. Each case is checked against the owner first (200), so the 404
comes from scoping, not from a wrong URL."""

from __future__ import annotations

import pytest

from backend.work_orders.states import Status
from tests import factories


@pytest.fixture
def pair(db, auth):
    """Two of each kind of outsider, each owning a work order (and, for customers and partners, a request)."""
    techs = [factories.TechnicianFactory(), factories.TechnicianFactory()]
    customers = [factories.CustomerFactory(), factories.CustomerFactory()]
    partners = [factories.partner_with_key(), factories.partner_with_key()]
    return {
        "technician": [
            {
                "headers": auth(t.user),
                "order": factories.WorkOrderFactory(assignee=t, status=Status.ASSIGNED),
                "technician": t,
            }
            for t in techs
        ],
        "customer": [
            {
                "headers": auth(c.user),
                "order": factories.WorkOrderFactory(customer=c),
                "request": _request(customer_id=c.id),
            }
            for c in customers
        ],
        "partner": [
            {
                "headers": auth(key),
                "order": factories.WorkOrderFactory(partner_id=p.id),
                "request": _request(partner_id=p.id, partner_reference="REF-1", channel="partner"),
            }
            for p, key in partners
        ],
    }


def _request(**fields):
    from backend.work_orders.models import RepairRequest

    session = factories.current_session()
    row = RepairRequest(
        channel=fields.pop("channel", "app"),
        contact_name="张三",
        contact_phone="13800000000",
        fault_description="空调不制冷",
        **fields,
    )
    session.add(row)
    session.commit()
    return row


# (method, url, body) per kind; {order} / {request} / {technician} are the victim's ids.
PROBES = {
    "technician": [
        ("GET", "/work-orders/{order}", None),
        ("GET", "/work-orders/{order}/events", None),
        ("POST", "/work-orders/{order}/transitions", {"to": "accepted"}),
        ("POST", "/work-orders/{order}/accept", None),
        ("POST", "/work-orders/{order}/decline", {"reason": "不去"}),
        ("GET", "/technicians/{technician}", None),
    ],
    "customer": [
        ("GET", "/work-orders/{order}", None),
        ("GET", "/work-orders/{order}/events", None),
        ("POST", "/work-orders/{order}/transitions", {"to": "cancelled"}),
        ("GET", "/tracking/orders/{order}", None),
        ("GET", "/requests/{request}", None),
    ],
    "partner": [
        ("GET", "/work-orders/{order}", None),
        ("GET", "/work-orders/{order}/events", None),
        ("POST", "/work-orders/{order}/transitions", {"to": "cancelled"}),
        ("GET", "/requests/{request}", None),
        ("GET", "/partner/requests/{request}", None),
    ],
}
CASES = [(kind, method, url, body) for kind, probes in PROBES.items() for method, url, body in probes]


def _url(template: str, victim: dict) -> str:
    ids = {
        "order": victim["order"].id,
        "request": victim["request"].id if "request" in victim else "",
        "technician": victim["technician"].id if "technician" in victim else "",
    }
    return template.format(**ids)


def _call(client, method, url, body, headers):
    if method == "GET":
        return client.get(url, headers=headers)
    return (
        client.post(url, json=body, headers=headers)
        if body is not None
        else client.post(url, headers=headers)
    )


@pytest.mark.parametrize(
    ("kind", "method", "url", "body"), CASES, ids=[f"{c[0]}:{c[1]} {c[2]}" for c in CASES]
)
def test_another_users_id_is_not_found_while_the_owner_gets_it(client, pair, kind, method, url, body):
    owner, stranger = pair[kind]
    target = _url(url, owner)

    denied = _call(client, method, target, body, stranger["headers"])
    assert denied.status_code == 404, denied.json
    assert denied.mimetype == "application/problem+json"
    assert denied.json["code"].endswith(".not_found")

    allowed = _call(client, method, target, body, owner["headers"])
    assert allowed.status_code == 200, allowed.json


@pytest.mark.parametrize("kind", ["technician", "customer", "partner"])
def test_work_order_lists_carry_only_the_callers_rows(client, pair, kind):
    for me in pair[kind]:
        listed = client.get("/work-orders?limit=200", headers=me["headers"]).json["items"]
        assert [o["id"] for o in listed] == [me["order"].id]


@pytest.mark.parametrize("kind", ["customer", "partner"])
def test_request_lists_carry_only_the_callers_rows(client, pair, kind):
    for me in pair[kind]:
        listed = client.get("/requests", headers=me["headers"]).json["items"]
        assert [r["id"] for r in listed] == [me["request"].id]


def test_tracking_lists_only_the_customers_own_orders(client, pair):
    for me in pair["customer"]:
        listed = client.get("/tracking/orders", headers=me["headers"]).json["items"]
        assert [o["id"] for o in listed] == [me["order"].id]


def test_filters_cannot_widen_a_technicians_view(client, pair):
    me, other = pair["technician"]
    url = f"/work-orders?technician_id={other['technician'].id}"
    assert client.get(url, headers=me["headers"]).json["items"] == []


def test_a_user_without_a_profile_sees_nothing_rather_than_everything_unowned(client, db, auth):
    factories.WorkOrderFactory()  # queued: no assignee
    orphan_tech = factories.UserFactory(role="technician")
    orphan_customer = factories.UserFactory(role="customer")
    _request()  # a request with no customer yet (e.g. from the hotline)
    assert client.get("/work-orders", headers=auth(orphan_tech)).json["items"] == []
    assert client.get("/work-orders", headers=auth(orphan_customer)).json["items"] == []
    assert client.get("/requests", headers=auth(orphan_customer)).json["items"] == []


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("technician", "/technicians"),
        ("customer", "/technicians"),
        ("technician", "/requests"),
        ("customer", "/regions"),
        ("warehouse", "/tracking/orders"),
    ],
)
def test_a_role_without_the_permission_gets_403(client, db, auth, role, path):
    user = factories.UserFactory(role=role)
    resp = client.get(path, headers=auth(user))
    assert resp.status_code == 403 and resp.json["code"] == "auth.forbidden"


def test_a_partner_key_cannot_reach_bearer_only_resources(client, pair):
    partner = pair["partner"][0]
    assert client.get("/tracking/orders", headers=partner["headers"]).status_code == 403
    assert client.get("/technicians", headers=partner["headers"]).status_code == 403
