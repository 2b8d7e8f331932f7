"""Parts used on site, pushed from the device: recorded even without van stock, gated by consent."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

import backend.parts.mutations  # noqa: F401 - registers the handlers
from backend.accounts.technicians import Technician
from backend.kernel.base import new_id
from backend.parts import stock
from backend.parts.billing_models import Quote
from backend.parts.models import (
    PartUsage,
    ProcurementRequest,
    SafetyStock,
    StockDiscrepancy,
    StockMove,
    StockNotification,
)
from backend.policy import Principal
from backend.sync.registry import MutationContext, mutations_by_name
from backend.work_orders.service import assign_work_order, transition_work_order
from tests import factories
from tests.parts.conftest import staff_principal, technician_principal

EXPENSIVE = 120_000  # ¥1,200: above the default ¥500 consent threshold


@pytest.fixture
def tech(db: Session) -> Technician:
    return factories.TechnicianFactory()


@pytest.fixture
def job(db: Session, tech: Technician) -> Any:
    return factories.WorkOrderFactory(
        assignee=tech, status="in_repair", product__warranty_end=None, customer__is_contract=False
    )


def stocked_van(db: Session, clerk: Principal, tech: Technician, part: Any, quantity: int) -> Any:
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=quantity)
    van = stock.van_for(session=db, technician=tech)
    stock.transfer(session=db, actor=clerk, source=warehouse, destination=van, part=part, quantity=quantity)
    db.commit()
    return van


def ledger_size(db: Session) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(StockMove)) or 0


def consume_args(job: Any, part: Any, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "work_order_id": job.id, "sku": part.sku, "quantity": quantity, **extra}


def test_consumption_takes_the_part_out_of_the_technicians_van(db, push, clerk, tech, job) -> None:
    part = factories.PartFactory()
    van = stocked_van(db, clerk, tech, part, 3)

    outcome = push(technician_principal(tech), "parts.consume", consume_args(job, part, 2))

    assert outcome.status == "applied" and outcome.flags == []
    assert outcome.result["van_stock"] == {"sku": part.sku, "quantity": 1}
    usage = db.get(PartUsage, outcome.result["part_usage"]["id"])
    assert (usage.work_order_id, usage.quantity, usage.unit_price_fen) == (job.id, 2, part.unit_price_fen)
    assert stock.balance_of(session=db, location_id=van.id, part_id=part.id) == 1


def test_consumption_beyond_van_stock_is_recorded_and_flagged_for_the_warehouse(db, push, clerk, tech, job):
    part = factories.PartFactory()
    van = stocked_van(db, clerk, tech, part, 1)

    outcome = push(technician_principal(tech), "parts.consume", consume_args(job, part, 3))

    assert outcome.status == "applied"
    assert [flag.code for flag in outcome.flags] == ["stock.negative_balance"]
    assert (
        stock.balance_of(session=db, location_id=van.id, part_id=part.id)
        == -2
        == stock.ledger_sum(session=db, location_id=van.id, part_id=part.id)
    )
    [discrepancy] = db.scalars(sa.select(StockDiscrepancy)).all()
    assert (discrepancy.location_id, discrepancy.work_order_id, discrepancy.balance_after) == (
        van.id,
        job.id,
        -2,
    )
    assert db.scalars(sa.select(StockNotification).where(StockNotification.audience == "warehouse")).one()
    assert db.get(PartUsage, outcome.result["part_usage"]["id"]).flagged


def test_concurrent_consumption_of_the_last_unit_records_both_and_flags_one(
    app: Flask, db: Session, clerk: Principal, tech: Technician, job: Any, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("two writers at once need PostgreSQL's row locks")
    part = factories.PartFactory()
    van = stocked_van(db, clerk, tech, part, 1)

    handler = mutations_by_name()["parts.consume"]
    principal = technician_principal(tech)
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def device(device_id: str) -> None:
        session = app.extensions["repairops.session_factory"]()
        try:
            ctx = MutationContext(session, principal, device_id, new_id(), None, None)
            args = handler.schema().load(consume_args(job, part))
            barrier.wait()
            with session.begin_nested():
                results.append({"result": handler.handler(ctx, args), "flags": [f.code for f in ctx.flags]})
            session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=device, args=(f"phone-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(len(r["flags"]) for r in results) == [0, 1]
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(PartUsage)) == 2
    assert (
        stock.balance_of(session=db, location_id=van.id, part_id=part.id)
        == -1
        == stock.ledger_sum(session=db, location_id=van.id, part_id=part.id)
    )
    assert db.scalar(sa.select(sa.func.count()).select_from(StockDiscrepancy)) == 1


def test_expensive_part_needs_consent_which_the_device_collects_offline_and_pushes_first(
    db, push, clerk, tech, job
) -> None:
    factories.LabourRateFactory()
    part = factories.PartFactory(unit_price_fen=EXPENSIVE)
    van = stocked_van(db, clerk, tech, part, 1)
    device = technician_principal(tech)
    before = ledger_size(db)

    refused = push(device, "parts.consume", consume_args(job, part))
    assert refused.status == "conflict" and refused.problem.code == "quote.consent_required"
    assert ledger_size(db) == before and db.scalar(sa.select(sa.func.count()).select_from(PartUsage)) == 0

    # The same batch, later in order: the quote shown, the customer's consent, the consumption again.
    quote_id = new_id()
    proposed = push(
        device,
        "quote.propose",
        {
            "id": quote_id,
            "work_order_id": job.id,
            "lines": [{"kind": "labour"}, {"kind": "part", "sku": part.sku}],
        },
    )
    assert proposed.status == "applied"
    shown_hash = proposed.result["quote"]["content_hash"]
    consent = push(
        device,
        "quote.consent",
        {
            "id": new_id(),
            "quote_id": quote_id,
            "decision": "approved",
            "quote_hash": shown_hash,
            "signer_name": "张女士",
            "signed_at": "2026-11-23T10:15:00+08:00",
        },
    )
    applied = push(device, "parts.consume", consume_args(job, part))

    assert consent.status == "applied" and applied.status == "applied"
    quote = db.get(Quote, quote_id)
    assert quote.status == "approved"
    [record] = quote.consents
    assert (record.signer_name, record.quote_hash, record.channel) == ("张女士", shown_hash, "device")
    assert record.device_time is not None and record.technician_id == tech.id
    assert stock.balance_of(session=db, location_id=van.id, part_id=part.id) == 0


def test_consent_for_a_quote_other_than_the_one_on_record_is_a_conflict(db, push, tech, job) -> None:
    factories.LabourRateFactory()
    device = technician_principal(tech)
    quote_id = new_id()
    push(device, "quote.propose", {"id": quote_id, "work_order_id": job.id, "lines": [{"kind": "labour"}]})

    outcome = push(
        device,
        "quote.consent",
        {
            "id": new_id(),
            "quote_id": quote_id,
            "decision": "approved",
            "quote_hash": "0" * 64,
            "signer_name": "张",
        },
    )

    assert outcome.status == "conflict" and outcome.problem.code == "quote.hash_mismatch"
    assert outcome.problem.extra["current_hash"] == db.get(Quote, quote_id).content_hash
    assert db.get(Quote, quote_id).status == "proposed"


def test_work_on_a_new_finding_waits_for_the_customers_decision(db, push, clerk, tech, job) -> None:
    part = factories.PartFactory()
    stocked_van(db, clerk, tech, part, 2)
    device = technician_principal(tech)
    quote_id = new_id()
    push(
        device,
        "quote.propose",
        {
            "id": quote_id,
            "work_order_id": job.id,
            "finding": "外机风扇电容鼓包",
            "lines": [{"kind": "part", "sku": part.sku}],
        },
    )

    early = push(device, "parts.consume", consume_args(job, part, quote_id=quote_id))
    assert early.status == "conflict" and early.problem.code == "quote.consent_required"
    server_row = early.problem.extra["server_state"]["row"]
    assert (server_row["id"], server_row["status"]) == (quote_id, "proposed")
    with pytest.raises(Exception) as blocked:
        transition_work_order(session=db, order=job, to_status="completed", actor=device)
    assert blocked.value.code == "quote.consent_required"
    db.rollback()

    quote = db.get(Quote, quote_id)
    push(
        device,
        "quote.consent",
        {
            "id": new_id(),
            "quote_id": quote_id,
            "decision": "approved",
            "quote_hash": quote.content_hash,
            "signer_name": "张",
        },
    )
    later = push(device, "parts.consume", consume_args(job, part, quote_id=quote_id))
    assert later.status == "applied"


def test_parts_recorded_on_a_job_taken_from_the_technician_are_kept_and_flagged(db, push, clerk, tech, job):
    part = factories.PartFactory()
    stocked_van(db, clerk, tech, part, 1)
    dispatcher = staff_principal(factories.UserFactory(role="dispatcher"))
    transition_work_order(session=db, order=job, to_status="awaiting_parts", actor=technician_principal(tech))
    job.status = "assigned"
    assign_work_order(session=db, order=job, technician=factories.TechnicianFactory(), actor=dispatcher)
    db.commit()

    outcome = push(technician_principal(tech), "parts.consume", consume_args(job, part))

    assert outcome.status == "applied"
    assert [flag.code for flag in outcome.flags] == ["work_order.reassigned_meanwhile"]
    usage = db.get(PartUsage, outcome.result["part_usage"]["id"])
    assert (usage.work_order_id, usage.quantity) == (job.id, 1)
    assert outcome.result["van_stock"] == {"sku": part.sku, "quantity": 0}


def test_bad_consumption_is_rejected_and_leaves_the_ledger_unchanged(db, push, clerk, tech, job) -> None:
    part = factories.PartFactory()
    stocked_van(db, clerk, tech, part, 2)
    stranger_job = factories.WorkOrderFactory(assignee=factories.TechnicianFactory(), status="in_repair")
    device = technician_principal(tech)
    before = ledger_size(db)

    cases = {
        "negative": consume_args(job, part, -1),
        "zero": consume_args(job, part, 0),
        "fraction": consume_args(job, part, 1.5),
        "unknown_sku": {**consume_args(job, part), "sku": "NO-SUCH-SKU"},
        "another_technicians_job": consume_args(stranger_job, part),
        "unknown_field": {**consume_args(job, part), "price_fen": 1},
    }
    outcomes = {name: push(device, "parts.consume", args) for name, args in cases.items()}

    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(cases, "rejected")
    assert outcomes["unknown_sku"].problem.code == "part.unknown_sku"
    assert outcomes["another_technicians_job"].problem.status == 404
    assert ledger_size(db) == before
    assert db.scalar(sa.select(sa.func.count()).select_from(PartUsage)) == 0


def test_returned_part_goes_back_into_the_van_and_off_the_job(db, push, clerk, tech, job) -> None:
    from backend.parts.billing import job_parts_used

    part = factories.PartFactory()
    van = stocked_van(db, clerk, tech, part, 2)
    device = technician_principal(tech)
    push(device, "parts.consume", consume_args(job, part, 2))

    back = push(device, "parts.return", {**consume_args(job, part, 1), "reason": "型号不符，未安装"})
    too_many = push(device, "parts.return", {**consume_args(job, part, 5), "reason": "x"})

    assert back.status == "applied" and stock.balance_of(session=db, location_id=van.id, part_id=part.id) == 1
    assert too_many.status == "conflict" and too_many.problem.code == "stock.return_exceeds_used"
    assert [(use.sku, use.quantity) for use in job_parts_used(session=db, work_order_id=job.id)] == [
        (part.sku, 1)
    ]


def test_falling_below_safety_stock_raises_one_procurement_request(db, clerk) -> None:
    part = factories.PartFactory()
    warehouse = factories.WarehouseFactory()
    db.add(SafetyStock(location_id=warehouse.id, part_id=part.id, minimum=5, reorder_quantity=20))
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=8)
    other = factories.WarehouseFactory(kind="service_centre")

    for _ in range(3):  # 8 -> 6 -> 4 (crosses) -> 2 (still below): one request
        stock.transfer(session=db, actor=clerk, source=warehouse, destination=other, part=part, quantity=2)
    db.commit()

    [request] = db.scalars(sa.select(ProcurementRequest)).all()
    assert (request.status, request.quantity, request.balance_at_request) == ("open", 20, 4)
    [note] = db.scalars(sa.select(StockNotification).where(StockNotification.audience == "procurement")).all()
    assert note.data["procurement_request_id"] == request.id

    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=20)
    db.commit()
    assert db.get(ProcurementRequest, request.id).status == "fulfilled"
