"""Logging in, refreshing and asking who I am; every kind of bad credential is a 401 problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from backend.kernel.roles import Role
from tests import factories
from tests.factories import PASSWORD


def login(client, username, password=PASSWORD):
    return client.post("/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_tokens_and_the_profile_they_are_bound_to(client, db):
    tech = factories.TechnicianFactory()
    resp = login(client, tech.user.username)
    assert resp.status_code == 200
    body = resp.json
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    assert body["principal"] == {
        "role": "technician",
        "user_id": tech.user_id,
        "partner_id": None,
        "technician_id": tech.id,
        "customer_id": None,
        "display_name": tech.user.display_name,
    }
    me = client.get("/auth/me", headers=bearer(body["access_token"])).json
    assert me == body["principal"]


def test_a_customer_login_carries_the_customer_profile(client, db):
    customer = factories.CustomerFactory()
    body = login(client, customer.user.username).json
    assert (body["principal"]["role"], body["principal"]["customer_id"]) == ("customer", customer.id)


def test_a_partner_key_identifies_the_partner(client, db, auth, partner_with_key):
    partner, key = partner_with_key
    me = client.get("/auth/me", headers=auth(key)).json
    assert (me["role"], me["partner_id"], me["display_name"]) == ("partner", partner.id, partner.name)


def test_refresh_gives_a_working_new_pair_and_an_access_token_cannot_refresh(client, db):
    user = factories.UserFactory(role=Role.DISPATCHER)
    tokens = login(client, user.username).json
    fresh = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert fresh.status_code == 200
    assert client.get("/auth/me", headers=bearer(fresh.json["access_token"])).json["user_id"] == user.id
    wrong = client.post("/auth/refresh", headers=bearer(tokens["access_token"]))
    assert wrong.status_code == 401 and wrong.json["code"] == "auth.required"
    misuse = client.get("/work-orders", headers=bearer(tokens["refresh_token"]))
    assert misuse.status_code == 401


@pytest.mark.parametrize(
    ("username", "password"), [("nobody", PASSWORD), ("{user}", "wrong"), ("{user}", PASSWORD + " ")]
)
def test_wrong_credentials_are_one_401_that_does_not_say_which_part_was_wrong(client, db, username, password):
    user = factories.UserFactory()
    resp = login(client, username.format(user=user.username), password)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert resp.json["code"] == "auth.invalid_credentials"


def test_a_disabled_account_cannot_log_in_or_use_an_old_token(client, db, auth):
    user = factories.UserFactory()
    headers = auth(user)
    user.active = False
    db.commit()
    assert login(client, user.username).status_code == 401
    resp = client.get("/auth/me", headers=headers)
    assert resp.status_code == 401 and resp.json["code"] == "auth.account_disabled"


def test_a_token_minted_for_another_role_is_refused_after_a_role_change(client, db, auth):
    user = factories.UserFactory(role=Role.DISPATCHER)
    headers = auth(user)
    user.role = Role.WAREHOUSE
    db.commit()
    resp = client.get("/auth/me", headers=headers)
    assert resp.status_code == 401 and resp.json["code"] == "auth.stale_token"


def test_expired_garbage_missing_and_foreign_tokens_are_401_problems(app, client, db):
    user = factories.UserFactory()
    with app.app_context():
        expired = create_access_token(
            identity=user.id, additional_claims={"role": user.role}, expires_delta=timedelta(seconds=-5)
        )
        expired_refresh = create_refresh_token(identity=user.id, expires_delta=timedelta(seconds=-5))
    cases = {
        "auth.token_expired": [bearer(expired)],
        "auth.required": [
            bearer("garbage"),
            {},
            bearer(_foreign_token(user.id)),
            {"Authorization": "Basic eDp5"},
        ],
    }
    for code, header_sets in cases.items():
        for headers in header_sets:
            resp = client.get("/work-orders", headers=headers)
            assert resp.status_code == 401, headers
            assert resp.mimetype == "application/problem+json"
            assert resp.json["code"] == code
    resp = client.post("/auth/refresh", headers=bearer(expired_refresh))
    assert resp.status_code == 401 and resp.json["code"] == "auth.token_expired"


def test_a_wrong_api_key_is_a_401(client, db):
    resp = client.get("/work-orders", headers={"X-API-Key": "rk_not_a_key"})
    assert resp.status_code == 401 and resp.json["code"] == "auth.invalid_api_key"


def _foreign_token(user_id: str) -> str:
    """A well-formed token signed by another deployment's secret."""
    import jwt

    return jwt.encode(
        {"sub": user_id, "type": "access", "role": "admin"}, "another-secret-" + "x" * 40, "HS256"
    )
