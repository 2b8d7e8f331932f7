"""Stock over HTTP: the warehouse runs the ledger; technicians see their own van and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.kernel.roles import Role
from backend.parts.models import StockMove
from tests import factories


@pytest.fixture
def clerk_headers(auth: Any, warehouse_user: Any) -> dict[str, str]:
    return auth(warehouse_user)


def ledger_size(db: Session) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(StockMove)) or 0


def test_warehouse_receives_and_issues_to_a_van_and_the_technician_sees_it(client, db, auth, clerk_headers):
    part = factories.PartFactory(sku="CAP-35UF")
    warehouse = factories.WarehouseFactory()
    tech = factories.TechnicianFactory()
    van = client.get(f"/technicians/{tech.id}/van", headers=auth(tech.user)).get_json()["location"]

    received = client.post(
        "/stock/receipts",
        json={"location_id": warehouse.id, "sku": "CAP-35UF", "quantity": 10, "reason": "PO-2026-118"},
        headers=clerk_headers,
    )
    issued = client.post(
        "/stock/transfers",
        json={"source_id": warehouse.id, "destination_id": van["id"], "sku": "CAP-35UF", "quantity": 4},
        headers=clerk_headers,
    )

    assert received.status_code == 201 and received.get_json()[0]["balance_after"] == 10
    assert issued.status_code == 201
    assert [(m["quantity"], m["balance_after"]) for m in issued.get_json()] == [(-4, 6), (4, 4)]
    mine = client.get(f"/technicians/{tech.id}/van", headers=auth(tech.user)).get_json()
    assert [(b["sku"], b["quantity"]) for b in mine["balances"]] == [("CAP-35UF", 4)]
    moves = client.get(f"/stock/moves?location_id={warehouse.id}", headers=clerk_headers).get_json()["items"]
    assert [(m["kind"], m["quantity"], m["actor_name"]) for m in moves][-1] == ("receive", 10, "王仓管")
    assert part.id == moves[0]["part_id"]


def test_another_technicians_van_is_not_found(client, db, auth, clerk_headers) -> None:
    mine, theirs = factories.TechnicianFactory(), factories.TechnicianFactory()
    their_van = client.get(f"/technicians/{theirs.id}/van", headers=auth(theirs.user)).get_json()["location"]

    by_technician = client.get(f"/technicians/{theirs.id}/van", headers=auth(mine.user))
    by_location = client.get(f"/stock/locations/{their_van['id']}/balances", headers=auth(mine.user))
    by_ledger = client.get(f"/stock/moves?location_id={their_van['id']}", headers=auth(mine.user))
    listed = client.get("/stock/locations", headers=auth(mine.user)).get_json()["items"]

    assert by_technician.status_code == by_location.status_code == by_ledger.status_code == 404
    assert by_location.mimetype == "application/problem+json"
    assert their_van["id"] not in [location["id"] for location in listed]


def test_invalid_stock_moves_are_problems_and_leave_the_ledger_unchanged(client, db, auth, clerk_headers):
    factories.PartFactory(sku="FAN-01")
    warehouse = factories.WarehouseFactory()
    tech = factories.TechnicianFactory()
    client.post(
        "/stock/receipts",
        json={"location_id": warehouse.id, "sku": "FAN-01", "quantity": 2},
        headers=clerk_headers,
    )
    their_van = client.get(f"/technicians/{tech.id}/van", headers=auth(tech.user)).get_json()["location"]
    before = ledger_size(db)
    receipt = {"location_id": warehouse.id, "sku": "FAN-01", "quantity": 1}

    cases = {
        "negative": (clerk_headers, "/stock/receipts", {**receipt, "quantity": -3}, 422, "request.invalid"),
        "fraction": (clerk_headers, "/stock/receipts", {**receipt, "quantity": 1.5}, 422, "request.invalid"),
        "unknown_sku": (
            clerk_headers,
            "/stock/receipts",
            {**receipt, "sku": "NOPE"},
            422,
            "part.unknown_sku",
        ),
        "more_than_held": (
            clerk_headers,
            "/stock/transfers",
            {"source_id": warehouse.id, "destination_id": their_van["id"], "sku": "FAN-01", "quantity": 3},
            409,
            "stock.insufficient",
        ),
        "write_off_without_reason": (
            clerk_headers,
            "/stock/write-offs",
            {"location_id": warehouse.id, "sku": "FAN-01", "quantity": 1},
            422,
            "request.invalid",
        ),
        "technician_moves_stock": (
            auth(tech.user),
            "/stock/transfers",
            {"source_id": warehouse.id, "destination_id": their_van["id"], "sku": "FAN-01", "quantity": 1},
            403,
            "auth.forbidden",
        ),
        "unknown_location": (
            clerk_headers,
            "/stock/receipts",
            {**receipt, "location_id": "x" * 36},
            404,
            None,
        ),
    }
    for name, (headers, url, body, status, code) in cases.items():
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == status, name
        assert response.mimetype == "application/problem+json", name
        if code:
            assert response.get_json()["code"] == code, name
    assert ledger_size(db) == before


def test_count_over_http_posts_the_difference_in_the_counters_name(client, db, clerk_headers) -> None:
    factories.PartFactory(sku="PCB-7")
    warehouse = factories.WarehouseFactory()
    client.post(
        "/stock/receipts",
        json={"location_id": warehouse.id, "sku": "PCB-7", "quantity": 5},
        headers=clerk_headers,
    )
    count = client.post(
        "/stock/counts", json={"location_id": warehouse.id, "counter_name": "赵盘点"}, headers=clerk_headers
    ).get_json()
    client.put(
        f"/stock/counts/{count['id']}/lines", json={"sku": "PCB-7", "counted": 6}, headers=clerk_headers
    )

    posted = client.post(f"/stock/counts/{count['id']}/post", headers=clerk_headers).get_json()

    assert posted["status"] == "posted"
    assert posted["lines"] == [
        {
            "part_id": posted["lines"][0]["part_id"],
            "sku": "PCB-7",
            "counted": 6,
            "expected": 5,
            "difference": 1,
        }
    ]
    balances = client.get(f"/stock/locations/{warehouse.id}/balances", headers=clerk_headers).get_json()[
        "items"
    ]
    assert [(b["sku"], b["quantity"]) for b in balances] == [("PCB-7", 6)]
    moves = client.get(f"/stock/moves?location_id={warehouse.id}", headers=clerk_headers).get_json()["items"]
    assert (moves[0]["kind"], moves[0]["quantity"], moves[0]["actor_name"]) == ("adjustment", 1, "赵盘点")


def test_safety_stock_and_discrepancies_are_listed_for_the_warehouse(client, db, auth, clerk_headers) -> None:
    factories.PartFactory(sku="VALVE-2")
    warehouse = factories.WarehouseFactory()
    other = factories.WarehouseFactory()
    client.put(
        "/stock/safety-levels",
        json={"location_id": warehouse.id, "sku": "VALVE-2", "minimum": 3, "reorder_quantity": 10},
        headers=clerk_headers,
    )
    client.post(
        "/stock/receipts",
        json={"location_id": warehouse.id, "sku": "VALVE-2", "quantity": 4},
        headers=clerk_headers,
    )
    client.post(
        "/stock/transfers",
        json={"source_id": warehouse.id, "destination_id": other.id, "sku": "VALVE-2", "quantity": 2},
        headers=clerk_headers,
    )

    requests = client.get("/stock/procurement-requests", headers=clerk_headers).get_json()["items"]
    assert [(r["location_id"], r["quantity"], r["balance_at_request"]) for r in requests] == [
        (warehouse.id, 10, 2)
    ]
    tech = factories.TechnicianFactory()
    assert client.get("/stock/procurement-requests", headers=auth(tech.user)).status_code == 403
    assert client.get("/stock/discrepancies", headers=clerk_headers).get_json()["items"] == []


def test_catalog_is_managed_by_the_warehouse_and_read_by_technicians(client, db, auth, clerk_headers) -> None:
    tech = factories.TechnicianFactory()
    created = client.post(
        "/parts",
        json={
            "sku": "COMP-1",
            "name": "压缩机",
            "category": "compressor",
            "unit_price_fen": 98_000,
            "serialized": True,
            "warranty_months": 24,
        },
        headers=clerk_headers,
    )
    fraction = client.post(
        "/parts",
        json={"sku": "X", "name": "x", "category": "c", "unit_price_fen": 10.5},
        headers=clerk_headers,
    )
    by_tech = client.post(
        "/parts",
        json={"sku": "Y", "name": "y", "category": "c", "unit_price_fen": 1},
        headers=auth(tech.user),
    )

    assert created.status_code == 201 and created.get_json()["genuine"] is True
    assert fraction.status_code == 422 and "unit_price_fen" in fraction.get_json()["errors"]
    assert by_tech.status_code == 403
    catalog = client.get("/parts?category=compressor", headers=auth(tech.user)).get_json()["items"]
    assert [(p["sku"], p["unit_price_fen"], p["warranty_months"]) for p in catalog] == [
        ("COMP-1", 98_000, 24)
    ]
    assert (
        factories.UserFactory(role=Role.CUSTOMER)
        and client.get("/parts", headers=auth(factories.UserFactory(role=Role.CUSTOMER))).status_code == 403
    )
