"""Bad input of every class is a 4xx problem+json with a stable code and per-field errors, and nothing is
written: missing fields, wrong types, unknown enum values, oversized strings, unknown fields, malformed
JSON, the wrong content type and bodies over the size limit."""

from __future__ import annotations

import json

import pytest

from backend.kernel.roles import Role
from backend.work_orders.states import Status
from tests import factories

PROBLEM = "application/problem+json"
VALID = {
    "contact_name": "王女士",
    "contact_phone": "13812345678",
    "address_text": "河南省郑州市金水区花园路100号",
    "lat": 34.78,
    "lng": 113.68,
    "product_category": "air_conditioner",
    "fault_description": "空调不制冷",
}


def assert_problem(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.json
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return body


@pytest.fixture
def customer_headers(db, auth):
    return auth(factories.CustomerFactory().user)


FIELD_CASES = {
    "missing fields": ({}, {"contact_name", "contact_phone", "fault_description"}),
    "wrong types": (
        {**VALID, "lat": "north", "emergency": "maybe", "photos_expected": "three", "contact_name": 7},
        {"lat", "emergency", "photos_expected", "contact_name"},
    ),
    "unknown enum values": (
        {**VALID, "product_category": "spaceship", "fault_type": "gremlins", "channel": "pigeon"},
        {"product_category", "fault_type", "channel"},
    ),
    "oversized strings": (
        {**VALID, "fault_description": "坏" * 2001, "contact_name": "名" * 101, "address_text": "路" * 301},
        {"fault_description", "contact_name", "address_text"},
    ),
    "unknown fields": ({**VALID, "colour": "red", "is_admin": True}, {"colour", "is_admin"}),
    "out of range": (
        {**VALID, "lat": 91, "lng": -181, "photos_expected": -1},
        {"lat", "lng", "photos_expected"},
    ),
    "naive or backwards times": (
        {**VALID, "preferred_start": "2026-11-24T09:00:00", "preferred_end": "2026-11-24T08:00:00+08:00"},
        {"preferred_start"},
    ),
    "lat without lng": ({**VALID, "lng": None}, {"lng"}),
}


@pytest.mark.parametrize("case", list(FIELD_CASES), ids=str)
def test_invalid_fields_are_a_422_listing_each_field_and_nothing_is_written(
    client, customer_headers, row_counts, case
):
    body, fields = FIELD_CASES[case]
    body = {k: v for k, v in body.items() if v is not None}
    resp = client.post("/requests", json=body, headers=customer_headers)
    problem = assert_problem(resp, 422, "request.invalid")
    assert set(problem["errors"]) == fields
    assert all(isinstance(msgs, list) and msgs for msgs in problem["errors"].values())
    assert row_counts() == {"repair_requests": 0, "work_orders": 0, "work_order_events": 0}


def test_a_valid_body_passes_the_same_checks(client, customer_headers, row_counts):
    assert client.post("/requests", json=VALID, headers=customer_headers).status_code == 201
    assert row_counts()["repair_requests"] == 1


def test_malformed_json_is_a_400(client, customer_headers, row_counts):
    resp = client.post(
        "/requests",
        data='{"contact_name": "王',
        headers={**customer_headers, "Content-Type": "application/json"},
    )
    assert_problem(resp, 400, "request.malformed_json")
    assert row_counts()["repair_requests"] == 0


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
)
def test_a_body_that_is_not_json_is_a_415(client, customer_headers, row_counts, content_type):
    resp = client.post(
        "/requests", data="contact_name=x", headers={**customer_headers, "Content-Type": content_type}
    )
    assert_problem(resp, 415, "request.unsupported_media_type")
    assert row_counts()["repair_requests"] == 0


def test_a_json_body_that_is_not_an_object_is_a_422(client, customer_headers, row_counts):
    resp = client.post("/requests", json=[VALID], headers=customer_headers)
    assert_problem(resp, 422, "request.invalid")
    assert row_counts()["repair_requests"] == 0


def test_a_body_over_the_size_limit_is_a_413(app, client, customer_headers, row_counts):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({**VALID, "fault_description": "x" * limit})
    resp = client.post(
        "/requests", data=body, headers={**customer_headers, "Content-Type": "application/json"}
    )
    assert_problem(resp, 413, "request.too_large")
    assert row_counts()["repair_requests"] == 0


def test_partner_pushes_are_validated_the_same_way(client, db, auth, partner_with_key, row_counts):
    _partner, key = partner_with_key
    resp = client.post(
        "/partner/requests",
        json={**VALID, "partner_reference": "R" * 101, "customer_id": "someone", "product_category": "ufo"},
        headers=auth(key),
    )
    problem = assert_problem(resp, 422, "request.invalid")
    assert set(problem["errors"]) == {"partner_reference", "customer_id", "product_category"}
    assert row_counts()["repair_requests"] == 0


def test_a_transition_to_an_unknown_status_or_with_a_bad_version_changes_nothing(
    client, db, auth, row_counts
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status=Status.ASSIGNED)
    headers = auth(tech.user)
    url = f"/work-orders/{order.id}/transitions"
    assert set(
        assert_problem(client.post(url, json={"to": "teleported"}, headers=headers), 422, "request.invalid")[
            "errors"
        ]
    ) == {"to"}
    bad = client.post(url, json={"to": "accepted", "base_version": "one", "note": "x"}, headers=headers)
    assert set(assert_problem(bad, 422, "request.invalid")["errors"]) == {"base_version", "note"}
    assert set(
        assert_problem(client.post(url, json={}, headers=headers), 422, "request.invalid")["errors"]
    ) == {"to"}
    assert row_counts()["work_order_events"] == 0
    assert client.get(f"/work-orders/{order.id}", headers=headers).json["version"] == 1


def test_assignment_and_decline_bodies_are_validated(client, db, auth, staff):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status=Status.ASSIGNED)
    dispatcher = auth(staff(Role.DISPATCHER))
    resp = client.post(f"/work-orders/{order.id}/assign", json={"technician_id": ""}, headers=dispatcher)
    assert set(assert_problem(resp, 422, "request.invalid")["errors"]) == {"technician_id"}
    resp = client.post(f"/work-orders/{order.id}/decline", json={}, headers=auth(tech.user))
    assert set(assert_problem(resp, 422, "request.invalid")["errors"]) == {"reason"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("created_from=yesterday", "created_from"),
        ("unassigned=perhaps", "unassigned"),
        ("priority=urgentest", "priority"),
    ],
)
def test_bad_list_parameters_are_a_422_naming_the_parameter(client, db, auth, staff, query, field):
    resp = client.get(f"/work-orders?{query}", headers=auth(staff(Role.DISPATCHER)))
    assert set(assert_problem(resp, 422, "request.invalid")["errors"]) == {field}


def test_login_with_missing_or_extra_fields_is_a_422(client, db):
    resp = client.post("/auth/login", json={"username": "x", "role": "admin"})
    assert set(assert_problem(resp, 422, "request.invalid")["errors"]) == {"password", "role"}


def test_unknown_routes_and_methods_are_problems_too(client, db):
    assert_problem(client.get("/no-such-thing"), 404, "route.not_found")
    assert_problem(client.delete("/auth/login"), 405, "request.method_not_allowed")
