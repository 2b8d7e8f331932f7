"""Parts and consent through the real sync endpoints: one batch, in the device's order, exactly once."""

from __future__ import annotations

import sqlalchemy as sa

from backend.kernel.base import new_id
from backend.parts import stock
from backend.parts.models import StockBalance
from tests import factories
from tests.mutations import PROTOCOL_HEADERS, envelope, push_over_http


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
    headers = {**auth(tech.user), **PROTOCOL_HEADERS}
    consume = envelope(
        "parts.consume", {"id": new_id(), "work_order_id": order.id, "sku": part.sku, "quantity": 1}
    )

    [refused] = push_over_http(client, headers, consume)
    assert refused["status"] == "conflict" and refused["problem"]["code"] == "quote.consent_required"

    quote_id = new_id()
    propose = envelope(
        "quote.propose",
        {
            "id": quote_id,
            "work_order_id": order.id,
            "lines": [{"kind": "labour"}, {"kind": "part", "sku": part.sku}],
        },
    )
    [proposed] = push_over_http(client, headers, propose)
    shown = proposed["result"]["quote"]["content_hash"]
    consent = envelope(
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
    results = push_over_http(client, headers, consent, retry)

    assert [r["status"] for r in results] == ["applied", "applied"]
    assert results[1]["result"]["van_stock"] == {"sku": part.sku, "quantity": 0}
    assert [r["status"] for r in push_over_http(client, headers, consent, retry)] == [
        "duplicate",
        "duplicate",
    ]
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
    headers = {**auth(tech.user), **PROTOCOL_HEADERS}

    [result] = push_over_http(
        client,
        headers,
        envelope(
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
