"""First contact: log in, see your own work orders, nobody else's."""

from __future__ import annotations

from tests import factories
from tests.factories import PASSWORD


def test_login_returns_tokens_that_open_the_work_order_list(client, db):
    tech = factories.TechnicianFactory()
    mine = factories.WorkOrderFactory(assignee=tech, status="assigned")
    factories.WorkOrderFactory(assignee=factories.TechnicianFactory(), status="assigned")

    login = client.post("/auth/login", json={"username": tech.user.username, "password": PASSWORD})
    assert login.status_code == 200, login.json
    token = login.json["access_token"]
    listing = client.get("/work-orders", headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200
    assert [o["id"] for o in listing.json["items"]] == [mine.id]


def test_wrong_password_is_a_problem(client, db):
    user = factories.UserFactory()
    resp = client.post("/auth/login", json={"username": user.username, "password": "nope"})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == "auth.invalid_credentials"
