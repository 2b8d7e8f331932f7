"""Quotes, consent in the app, warranty, contract discounts, bills, payments and reconciliation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from backend.kernel.base import new_id, utcnow
from backend.kernel.roles import Role
from backend.parts import stock
from backend.parts.billing import job_charges, job_parts_used
from backend.parts.money import basis_points_of
from backend.parts.pricing import china_day
from backend.parts.quotes import LineRequest, create_quote
from tests import factories
from tests.parts.conftest import technician_principal


@pytest.fixture
def fees(db: Session) -> None:
    """Labour ¥80 for any air-conditioner fault of standard difficulty; travel ¥30 everywhere."""
    factories.LabourRateFactory(amount_fen=8_000)
    factories.TravelFeeFactory(amount_fen=3_000)


@pytest.fixture
def finance(auth: Any, db: Session) -> dict[str, str]:
    return auth(factories.UserFactory(role=Role.FINANCE, display_name="钱会计"))


def fit(db: Session, clerk: Any, order: Any, part: Any, quantity: int = 1) -> None:
    """The assigned technician fits `quantity` of `part` from a stocked van."""
    technician = order.assignee
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=quantity)
    stock.transfer(
        session=db,
        actor=clerk,
        source=warehouse,
        destination=stock.van_for(session=db, technician=technician),
        part=part,
        quantity=quantity,
    )
    stock.consume_on_job(
        session=db,
        usage_id=new_id(),
        actor=technician_principal(technician),
        technician=technician,
        order=order,
        part=part,
        quantity=quantity,
        unit_price_fen=part.unit_price_fen,
    )
    db.commit()


def test_in_warranty_job_charges_nothing_for_labour_and_parts(db, clerk, fees, client, finance) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(
        assignee=tech, status="completed", product__warranty_end=date.today() + timedelta(days=30)
    )
    part = factories.PartFactory(unit_price_fen=45_000)
    fit(db, clerk, order, part, 2)

    charges = job_charges(session=db, work_order_id=order.id)
    bill = client.post(f"/work-orders/{order.id}/bill", headers=finance).get_json()

    covered = [line for line in charges.lines if line.covered_by_warranty]
    assert [(line.kind, line.amount_fen) for line in covered] == [("labour", 0), ("part", 0)]
    assert (charges.labour_fen, charges.parts_fen, charges.travel_fen) == (0, 0, 3_000)
    assert charges.covered_fen == 8_000 + 2 * 45_000
    assert bill["total_fen"] == 3_000
    assert [(b["kind"], b["amount_fen"], b["covered_by_warranty"]) for b in bill["lines"]] == [
        ("labour", 0, True),
        ("part", 0, True),
        ("travel", 3_000, False),
    ]


def test_a_part_refitted_within_its_own_warranty_is_covered_after_the_product_warranty_ended(db, clerk, fees):
    tech = factories.TechnicianFactory()
    first = factories.WorkOrderFactory(assignee=tech, status="closed", product__warranty_end=None)
    part = factories.PartFactory(warranty_months=6, unit_price_fen=20_000)
    fit(db, clerk, first, part)
    again = factories.WorkOrderFactory(
        assignee=tech, status="in_repair", customer=first.customer, product=first.product
    )
    fit(db, clerk, again, part)

    [use] = job_parts_used(session=db, work_order_id=again.id)

    assert (use.sku, use.quantity, use.covered_by_warranty, use.warranty_months) == (part.sku, 1, True, 6)
    assert job_charges(session=db, work_order_id=again.id).parts_fen == 0
    assert not job_parts_used(session=db, work_order_id=first.id)[0].covered_by_warranty


def test_contract_discount_is_applied_once_on_quote_and_bill_and_rounds_half_up(
    db, clerk, fees, client, auth, finance
) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(
        assignee=tech,
        status="in_repair",
        product__warranty_end=None,
        customer__is_contract=True,
        customer__contract_discount_bp=1_500,
    )
    part = factories.PartFactory(unit_price_fen=3_333)
    quote = client.post(
        f"/work-orders/{order.id}/quotes",
        json={"lines": [{"kind": "labour"}, {"kind": "part", "sku": part.sku}, {"kind": "travel"}]},
        headers=auth(tech.user),
    ).get_json()
    subtotal = 8_000 + 3_333 + 3_000
    discount = basis_points_of(subtotal, 1_500)  # 2,149.95 fen rounds half up to 2,150
    assert discount == 2_150
    assert (quote["subtotal_fen"], quote["discount_fen"], quote["total_fen"]) == (
        subtotal,
        2_150,
        subtotal - 2_150,
    )
    assert [line["kind"] for line in quote["lines"]] == ["labour", "part", "travel", "discount"]

    customer = auth(order.customer.user)
    approved = client.post(
        f"/quotes/{quote['id']}/consent",
        json={"decision": "approved", "quote_hash": quote["content_hash"]},
        headers=customer,
    ).get_json()
    fit(db, clerk, order, part)
    db.refresh(order)
    order.status = "completed"
    db.commit()
    bill = client.post(f"/work-orders/{order.id}/bill", headers=finance).get_json()

    assert approved["status"] == "approved" and approved["consents"][0]["channel"] == "app"
    assert [line["kind"] for line in bill["lines"]].count("discount") == 1
    assert (bill["discount_fen"], bill["total_fen"]) == (2_150, subtotal - 2_150)


def test_customers_see_and_decide_only_their_own_quotes(db, fees, client, auth) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="awaiting_approval", product__warranty_end=None)
    quote = client.post(
        f"/work-orders/{order.id}/quotes",
        json={"finding": "冷凝器漏氟", "lines": [{"kind": "labour", "difficulty": "standard"}]},
        headers=auth(tech.user),
    ).get_json()
    stranger = auth(factories.CustomerFactory().user)
    body = {"decision": "approved", "quote_hash": quote["content_hash"]}

    assert client.get(f"/quotes/{quote['id']}", headers=stranger).status_code == 404
    assert client.get(f"/work-orders/{order.id}/quotes", headers=stranger).status_code == 404
    assert client.post(f"/quotes/{quote['id']}/consent", json=body, headers=stranger).status_code == 404
    stale = client.post(
        f"/quotes/{quote['id']}/consent",
        json={**body, "quote_hash": "f" * 64},
        headers=auth(order.customer.user),
    )
    assert stale.status_code == 409 and stale.get_json()["code"] == "quote.hash_mismatch"
    by_technician = client.post(f"/quotes/{quote['id']}/consent", json=body, headers=auth(tech.user))
    assert by_technician.status_code == 403

    own = client.post(f"/quotes/{quote['id']}/consent", json=body, headers=auth(order.customer.user))

    assert own.status_code == 200 and own.get_json()["status"] == "approved"
    db.refresh(order)
    assert order.status == "in_repair", "approving the finding lets the repair resume"


def test_a_quote_past_its_validity_expires_and_cannot_be_approved(db, fees, client, auth) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="in_repair", product__warranty_end=None)
    quote = create_quote(
        session=db,
        order=order,
        actor=technician_principal(tech),
        lines=[LineRequest(kind="labour")],
        now=utcnow() - timedelta(days=10),
    )
    db.commit()

    shown = client.get(f"/quotes/{quote.id}", headers=auth(order.customer.user)).get_json()
    late = client.post(
        f"/quotes/{quote.id}/consent",
        json={"decision": "approved", "quote_hash": quote.content_hash},
        headers=auth(order.customer.user),
    )

    assert shown["status"] == "expired"
    assert late.status_code == 409 and late.get_json()["code"] == "quote.expired"


def test_partial_payments_refunds_and_the_daily_reconciliation_add_up(db, clerk, fees, client, auth, finance):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="completed", product__warranty_end=None)
    part = factories.PartFactory(unit_price_fen=12_000)
    fit(db, clerk, order, part)
    bill = client.post(f"/work-orders/{order.id}/bill", headers=finance).get_json()
    assert bill["total_fen"] == 8_000 + 12_000 + 3_000 == 23_000

    def pay(body: dict[str, Any]) -> Any:
        return client.post(f"/bills/{bill['id']}/payments", json=body, headers=finance)

    wechat = pay({"method": "wechat_pay", "amount_fen": 10_000, "reference": "4200001234202611230001"})
    assert wechat.status_code == 201 and wechat.get_json()["payment_state"] == "partially_paid"
    assert pay({"method": "alipay", "amount_fen": 500}).get_json()["code"] == "payment.reference_required"
    assert pay({"method": "cash", "amount_fen": 99.5}).status_code == 422
    assert pay({"method": "cash", "amount_fen": 13_001}).get_json()["code"] == "payment.exceeds_outstanding"
    dup = pay({"method": "wechat_pay", "amount_fen": 1, "reference": "4200001234202611230001"})
    assert dup.get_json()["code"] == "payment.duplicate_reference"
    paid = pay({"method": "cash", "amount_fen": 13_000}).get_json()
    assert (paid["payment_state"], paid["outstanding_fen"]) == ("paid", 0)

    wechat_id = paid["payments"][0]["id"]
    refund = client.post(
        f"/payments/{wechat_id}/refunds",
        json={"amount_fen": 2_500, "reason": "上门费退还", "reference": "50300001"},
        headers=finance,
    )
    too_much = client.post(
        f"/payments/{wechat_id}/refunds", json={"amount_fen": 7_501, "reason": "x"}, headers=finance
    )
    assert refund.status_code == 201 and refund.get_json()["method"] == "wechat_pay"
    assert too_much.status_code == 409 and too_much.get_json()["code"] == "refund.exceeds_payment"

    report = client.get(f"/reconciliation?day={china_day(utcnow()).isoformat()}", headers=finance).get_json()
    by_method = {m["method"]: m for m in report["methods"]}
    entries = report["entries"]
    assert report["payments_fen"] == sum(e["amount_fen"] for e in entries if e["kind"] == "payment") == 23_000
    assert report["refunds_fen"] == 2_500 and report["net_fen"] == 20_500
    assert (by_method["wechat_pay"]["payments_fen"], by_method["wechat_pay"]["refunds_fen"]) == (
        10_000,
        2_500,
    )
    assert by_method["cash"]["net_fen"] == 13_000 and by_method["alipay"]["payments_count"] == 0
    assert [(e["kind"], e["refund_of_id"]) for e in entries if e["kind"] == "refund"] == [
        ("refund", wechat_id)
    ]
    assert sum(m["net_fen"] for m in report["methods"]) == report["net_fen"]


def test_bills_are_private_to_their_customer_and_money_is_finances(db, fees, client, auth, finance) -> None:
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="completed", product__warranty_end=None)
    bill = client.post(f"/work-orders/{order.id}/bill", headers=finance).get_json()
    owner, stranger = auth(order.customer.user), auth(factories.CustomerFactory().user)

    assert client.get(f"/bills/{bill['id']}", headers=owner).get_json()["total_fen"] == 11_000
    assert client.get(f"/bills/{bill['id']}", headers=stranger).status_code == 404
    assert client.get(f"/work-orders/{order.id}/bill", headers=stranger).status_code == 404
    assert client.get(f"/work-orders/{order.id}/charges", headers=stranger).status_code == 404
    other_tech = auth(factories.TechnicianFactory().user)
    assert client.get(f"/bills/{bill['id']}", headers=other_tech).status_code == 404
    payment = {"method": "cash", "amount_fen": 100}
    assert client.post(f"/bills/{bill['id']}/payments", json=payment, headers=owner).status_code == 403
    assert client.get("/reconciliation?day=2026-11-23", headers=owner).status_code == 403


def test_a_job_still_in_repair_cannot_be_billed(db, fees, client, finance) -> None:
    order = factories.WorkOrderFactory(assignee=factories.TechnicianFactory(), status="in_repair")

    response = client.post(f"/work-orders/{order.id}/bill", headers=finance)

    assert response.status_code == 409 and response.get_json()["code"] == "bill.job_not_finished"


def test_fee_schedule_is_published_read_only_to_technicians(db, client, auth, finance) -> None:
    tech = auth(factories.TechnicianFactory().user)
    rate = {
        "product_category": "washing_machine",
        "difficulty": "complex",
        "amount_fen": 15_000,
        "description": "洗衣机大修",
    }

    assert client.put("/fee-schedule/labour-rates", json=rate, headers=tech).status_code == 403
    assert client.put("/fee-schedule/labour-rates", json=rate, headers=finance).status_code == 200
    assert (
        client.put(
            "/fee-schedule/labour-rates", json={**rate, "amount_fen": 1.5}, headers=finance
        ).status_code
        == 422
    )
    schedule = client.get("/fee-schedule", headers=tech).get_json()
    assert [(r["product_category"], r["fault_type"], r["amount_fen"]) for r in schedule["labour"]] == [
        ("washing_machine", "*", 15_000)
    ]
    assert schedule["policy"]["consent_threshold_fen"] == 50_000
