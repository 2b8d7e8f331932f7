"""Parts and consent through the real sync endpoints: one batch, in the device's order, exactly once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from backend.kernel.base import new_id
from backend.parts import stock
from backend.parts.models import StockBalance
from tests import factories

PROTOCOL = {"X-Sync-Protocol": "2"}


def _push(client: FlaskClient, headers: dict[str, str], *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(
        "/sync/push", json={"device_id": "phone-1", "mutations": list(mutations)}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def _mutation(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id(), "name": name, "args": args, "client_time": "2026-11-23T10:00:00+08:00"}


def test_offline_consent_pushed_before_the_expensive_part_lets_it_apply_in_one_batch(db, client, auth, clerk):
    factories.LabourRateFactory()
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="in_repair", product__warranty_end=None)
    part = factories.PartFactory(unit_price_fen=98_000)
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=1)
    van = stock.van_for(session=db, technician=tech)
    stock.transfer(session=db, actor=clerk, source=warehouse, destination=van, part=part, quantity=1)
    db.commit()
    headers = {**auth(tech.user), **PROTOCOL}
    consume = _mutation(
        "parts.consume", {"id": new_id(), "work_order_id": order.id, "sku": part.sku, "quantity": 1}
    )

    [refused] = _push(client, headers, consume)
    assert refused["status"] == "conflict" and refused["problem"]["code"] == "quote.consent_required"

    quote_id = new_id()
    propose = _mutation(
        "quote.propose",
        {
            "id": quote_id,
            "work_order_id": order.id,
            "lines": [{"kind": "labour"}, {"kind": "part", "sku": part.sku}],
        },
    )
    [proposed] = _push(client, headers, propose)
    shown = proposed["result"]["quote"]["content_hash"]
    consent = _mutation(
        "quote.consent",
        {
            "id": new_id(),
            "quote_id": quote_id,
            "decision": "approved",
            "quote_hash": shown,
            "signer_name": "张女士",
        },
    )
    retry = {**consume, "id": new_id()}
    results = _push(client, headers, consent, retry)

    assert [r["status"] for r in results] == ["applied", "applied"]
    assert results[1]["result"]["van_stock"] == {"sku": part.sku, "quantity": 0}
    assert [r["status"] for r in _push(client, headers, consent, retry)] == ["duplicate", "duplicate"]
    assert (
        stock.balance_of(session=db, location_id=van.id, part_id=part.id)
        == 0
        == stock.ledger_sum(session=db, location_id=van.id, part_id=part.id)
    )

    db_balance_id = db.scalars(sa.select(StockBalance.id).where(StockBalance.location_id == van.id)).one()
    pulled = client.get("/sync/pull?device_id=phone-1", headers=headers).get_json()
    changes = pulled["changes"]
    assert {(row["id"], row["quantity"]) for row in changes["van_stock"]["upserts"]} == {
        (db_balance_id, 0)
    }, changes["van_stock"]
    assert [row["id"] for row in changes["quotes"]["upserts"]] == [quote_id]
    assert {row["sku"] for row in changes["parts"]["upserts"]} == {part.sku}
    assert [row["quantity"] for row in changes["part_usages"]["upserts"]] == [1]
    assert changes["fee_schedule"]["upserts"][0]["amount_fen"] == 8_000


def test_consumption_beyond_van_stock_comes_back_applied_with_a_flag(db, client, auth) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="in_repair")
    part = factories.PartFactory()
    headers = {**auth(tech.user), **PROTOCOL}

    [result] = _push(
        client,
        headers,
        _mutation(
            "parts.consume", {"id": new_id(), "work_order_id": order.id, "sku": part.sku, "quantity": 2}
        ),
    )

    assert result["status"] == "applied"
    assert [flag["code"] for flag in result["flags"]] == ["stock.negative_balance"]
    assert (
        stock.balance_of(
            session=db, location_id=stock.van_for(session=db, technician=tech).id, part_id=part.id
        )
        == -2
    )
