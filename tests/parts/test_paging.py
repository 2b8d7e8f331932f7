"""The catalog and a location's ledger come in pages: walking every page gives each row exactly once, in
the list's order, and `has_more` is true on every page but the last."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from backend.parts import stock
from backend.parts.models import MoveKind, StockMove
from tests import factories
from tests.paging import ids, walk


@pytest.fixture
def clerk_headers(auth: Any, warehouse_user: Any) -> dict[str, str]:
    """Bearer headers of the warehouse clerk."""
    return auth(warehouse_user)


def test_the_catalog_walks_every_active_part_once_by_sku(client, db, auth) -> None:
    skus = [f"CAT-{n:02d}" for n in range(7)]
    for sku in reversed(skus):
        factories.PartFactory(sku=sku)
    factories.PartFactory(sku="CAT-RETIRED", active=False)
    tech = factories.TechnicianFactory()

    pages = walk(client, "/parts", auth(tech.user), limit=3)

    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert [item["sku"] for page in pages for item in page["items"]] == skus


def test_a_filtered_catalog_that_fits_one_page_says_there_is_no_more(client, db, auth) -> None:
    for n in range(4):
        factories.PartFactory(sku=f"FAN-{n}", category="fan")
    factories.PartFactory(sku="CAP-1", category="capacitor")
    tech = factories.TechnicianFactory()

    exact = client.get(
        "/parts", query_string={"category": "fan", "limit": 4}, headers=auth(tech.user)
    ).get_json()
    searched = walk(client, "/parts", auth(tech.user), q="fan-", limit=2)

    assert [p["sku"] for p in exact["items"]] == ["FAN-0", "FAN-1", "FAN-2", "FAN-3"]
    assert exact["has_more"] is False and exact["next_cursor"] is None
    assert [item["sku"] for page in searched for item in page["items"]] == [
        "FAN-0",
        "FAN-1",
        "FAN-2",
        "FAN-3",
    ]
    assert [page["has_more"] for page in searched] == [True, False]


def test_the_ledger_walks_every_move_once_newest_first(client, db, clerk, clerk_headers) -> None:
    part = factories.PartFactory(sku="PCB-1")
    warehouse = factories.WarehouseFactory()
    elsewhere = factories.WarehouseFactory()
    for n in range(9):
        stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=1, reason=f"PO-{n}")
    stock.receive(session=db, actor=clerk, location=elsewhere, part=part, quantity=1)
    db.commit()
    expected = list(
        db.scalars(
            sa.select(StockMove.id)
            .where(StockMove.location_id == warehouse.id)
            .order_by(StockMove.created_at.desc(), StockMove.id)
        )
    )

    pages = walk(client, "/stock/moves", clerk_headers, location_id=warehouse.id, limit=4)

    assert [len(page["items"]) for page in pages] == [4, 4, 1]
    assert ids(pages) == expected
    assert [item["reason"] for page in pages for item in page["items"]] == [
        f"PO-{n}" for n in range(8, -1, -1)
    ]


def test_moves_booked_at_the_same_instant_are_neither_lost_nor_repeated(client, db, clerk, clerk_headers):
    part = factories.PartFactory(sku="VALVE-9")
    warehouse = factories.WarehouseFactory()
    for _ in range(7):
        stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=2)
    db.execute(
        sa.update(StockMove)
        .where(StockMove.location_id == warehouse.id)
        .values(created_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC))
    )
    db.commit()
    expected = sorted(db.scalars(sa.select(StockMove.id).where(StockMove.location_id == warehouse.id)))

    pages = walk(client, "/stock/moves", clerk_headers, location_id=warehouse.id, sku="VALVE-9", limit=3)

    assert ids(pages) == expected
    assert [page["has_more"] for page in pages] == [True, True, False]


def test_the_ledger_keeps_its_default_page_of_200_and_allows_up_to_1000(client, db, clerk, clerk_headers):
    part = factories.PartFactory(sku="BELT-1")
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=3)
    db.commit()

    default = client.get("/stock/moves", query_string={"location_id": warehouse.id}, headers=clerk_headers)
    largest = client.get(
        "/stock/moves", query_string={"location_id": warehouse.id, "limit": 1000}, headers=clerk_headers
    )
    too_many = client.get(
        "/stock/moves", query_string={"location_id": warehouse.id, "limit": 1001}, headers=clerk_headers
    )

    assert len(default.get_json()["items"]) == 1 and default.get_json()["has_more"] is False
    assert largest.status_code == 200
    assert too_many.status_code == 422


def test_a_cursor_from_another_list_or_forged_is_refused(client, db, auth, clerk_headers) -> None:
    factories.PartFactory(sku="A-1")
    factories.PartFactory(sku="A-2")
    warehouse = factories.WarehouseFactory()
    catalog_cursor = client.get("/parts", query_string={"limit": 1}, headers=clerk_headers).get_json()[
        "next_cursor"
    ]

    reused = client.get(
        "/stock/moves",
        query_string={"location_id": warehouse.id, "cursor": catalog_cursor},
        headers=clerk_headers,
    )
    forged = client.get("/parts", query_string={"cursor": "not-a-cursor"}, headers=clerk_headers)

    assert reused.status_code == forged.status_code == 400
    assert reused.get_json()["code"] == forged.get_json()["code"] == "pagination.bad_cursor"


def test_a_technician_pages_only_their_own_vans_ledger(client, db, auth) -> None:
    mine, theirs = factories.TechnicianFactory(), factories.TechnicianFactory()
    their_van = client.get(f"/technicians/{theirs.id}/van", headers=auth(theirs.user)).get_json()["location"]
    my_van = client.get(f"/technicians/{mine.id}/van", headers=auth(mine.user)).get_json()["location"]

    own = client.get("/stock/moves", query_string={"location_id": my_van["id"]}, headers=auth(mine.user))
    other = client.get("/stock/moves", query_string={"location_id": their_van["id"]}, headers=auth(mine.user))

    assert own.status_code == 200 and own.get_json() == {"items": [], "next_cursor": None, "has_more": False}
    assert other.status_code == 404


def test_locations_and_a_locations_balances_walk_in_their_order(client, db, auth, clerk_headers) -> None:
    warehouses = [factories.WarehouseFactory(code=f"WH-{n:02d}") for n in reversed(range(5))]
    target = warehouses[0]
    skus = [f"BAL-{n:02d}" for n in range(5)]
    for sku in reversed(skus):
        part = factories.PartFactory(sku=sku)
        client.post(
            "/stock/receipts",
            json={"location_id": target.id, "sku": part.sku, "quantity": 2},
            headers=clerk_headers,
        )

    locations = walk(client, "/stock/locations", clerk_headers, limit=2)
    balances = walk(client, f"/stock/locations/{target.id}/balances", clerk_headers, limit=2)

    listed = [(item["kind"], item["code"]) for page in locations for item in page["items"]]
    assert listed == sorted(listed) and {w.code for w in warehouses} <= {code for _, code in listed}
    assert len(ids(locations)) == len(set(ids(locations)))
    assert [item["sku"] for page in balances for item in page["items"]] == skus
    assert [len(page["items"]) for page in balances] == [2, 2, 1]


def test_open_discrepancies_walk_oldest_first_and_leave_the_list_when_resolved(
    client, db, clerk, clerk_headers
):
    location = factories.WarehouseFactory()
    made = []
    for n in range(5):
        part = factories.PartFactory(sku=f"DISC-{n}")
        spec = stock.MoveSpec(part, location, MoveKind.ADJUSTMENT, -1, clerk, allow_negative=True)
        stock.post_move(session=db, spec=spec)
        made.extend(record.id for record in spec.discrepancies)
    db.commit()

    pages = walk(client, "/stock/discrepancies", clerk_headers, limit=2)
    client.post(
        f"/stock/discrepancies/{made[0]}/resolve", json={"resolution": "recounted"}, headers=clerk_headers
    )
    still_open = walk(client, "/stock/discrepancies", clerk_headers, limit=2)

    assert ids(pages) == made and [len(page["items"]) for page in pages] == [2, 2, 1]
    assert ids(still_open) == made[1:]
