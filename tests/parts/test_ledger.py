"""The stock ledger: balances are the sum of moves, whatever sequence of moves happens."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.kernel.base import new_id
from backend.parts import stock
from backend.parts.models import StockBalance, StockLocation, StockMove
from backend.policy import Principal
from tests import factories
from tests.parts.conftest import technician_principal

MOVES = st.lists(
    st.tuples(
        st.sampled_from(["receive", "transfer", "write_off", "consume", "return_to_warehouse"]),
        st.integers(min_value=0, max_value=2),  # which location
        st.integers(min_value=0, max_value=2),  # which other location
        st.integers(min_value=1, max_value=7),  # quantity
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=MOVES, counted=st.integers(min_value=0, max_value=30))
def test_any_sequence_of_moves_keeps_every_balance_equal_to_the_sum_of_its_moves(
    db: Session, clerk: Principal, moves: list[tuple[str, int, int, int]], counted: int
) -> None:
    part = factories.PartFactory()
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status="in_repair")
    locations = [factories.WarehouseFactory(), factories.WarehouseFactory(kind="service_centre")]
    locations.append(stock.van_for(session=db, technician=technician))
    tech = technician_principal(technician)
    expected = {location.id: 0 for location in locations}

    for kind, i, j, quantity in moves:
        here, there = locations[i], locations[j]
        ledger_before = db.scalar(sa.select(sa.func.count()).select_from(StockMove))
        try:
            if kind == "receive":
                stock.receive(session=db, actor=clerk, location=here, part=part, quantity=quantity)
                expected[here.id] += quantity
            elif kind == "transfer":
                stock.transfer(
                    session=db, actor=clerk, source=here, destination=there, part=part, quantity=quantity
                )
                expected[here.id] -= quantity
                expected[there.id] += quantity
            elif kind == "write_off":
                stock.write_off(
                    session=db, actor=clerk, location=here, part=part, quantity=quantity, reason="受潮"
                )
                expected[here.id] -= quantity
            elif kind == "consume":
                stock.consume_on_job(
                    session=db,
                    usage_id=new_id(),
                    actor=tech,
                    technician=technician,
                    order=order,
                    part=part,
                    quantity=quantity,
                    unit_price_fen=part.unit_price_fen,
                )
                expected[locations[2].id] -= quantity
            else:
                stock.transfer(
                    session=db,
                    actor=tech,
                    source=locations[2],
                    destination=locations[0],
                    part=part,
                    quantity=quantity,
                )
                expected[locations[2].id] -= quantity
                expected[locations[0].id] += quantity
        except Problem as problem:
            # Refused warehouse moves leave the ledger exactly as it was.
            assert problem.code in {"stock.insufficient", "stock.same_location", "stock.receive_into_van"}
            assert db.scalar(sa.select(sa.func.count()).select_from(StockMove)) == ledger_before
        db.commit()

    for location in locations:
        assert stock.balance_of(session=db, location_id=location.id, part_id=part.id) == stock.ledger_sum(
            session=db, location_id=location.id, part_id=part.id
        )
        assert stock.balance_of(session=db, location_id=location.id, part_id=part.id) == expected[location.id]
        if location.kind != "van":
            assert expected[location.id] >= 0, "warehouse moves never drive a location below zero"

    count = stock.open_count(session=db, actor=clerk, location=locations[0], counter_name="李盘点")
    stock.record_count(session=db, count=count, part=part, counted=counted)
    stock.post_count(session=db, actor=clerk, count=count)
    db.commit()
    assert stock.balance_of(session=db, location_id=locations[0].id, part_id=part.id) == counted
    assert stock.ledger_sum(session=db, location_id=locations[0].id, part_id=part.id) == counted


def test_count_difference_is_posted_as_an_adjustment_in_the_counters_name(
    db: Session, clerk: Principal
) -> None:
    part = factories.PartFactory()
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=10)
    count = stock.open_count(session=db, actor=clerk, location=warehouse, counter_name="李盘点")
    stock.record_count(session=db, count=count, part=part, counted=7)
    [adjustment] = stock.post_count(session=db, actor=clerk, count=count)
    db.commit()

    assert (adjustment.kind, adjustment.quantity, adjustment.balance_after) == ("adjustment", -3, 7)
    assert adjustment.actor_name == "李盘点"
    assert count.lines[0].expected == 10 and count.lines[0].difference == -3
    with pytest.raises(Problem) as exc:
        stock.record_count(session=db, count=count, part=part, counted=1)
    assert exc.value.code == "stock.count_closed"


def test_serials_travel_with_their_unit_through_issue_and_consumption(db: Session, clerk: Principal) -> None:
    part = factories.PartFactory(serialized=True, unit_price_fen=20_000)
    warehouse = factories.WarehouseFactory()
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status="in_repair")
    van = stock.van_for(session=db, technician=technician)
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=2, serials=["C-1", "C-2"])
    stock.transfer(
        session=db, actor=clerk, source=warehouse, destination=van, part=part, quantity=1, serials=["C-2"]
    )
    result = stock.consume_on_job(
        session=db,
        usage_id=new_id(),
        actor=technician_principal(technician),
        technician=technician,
        order=order,
        part=part,
        quantity=1,
        unit_price_fen=part.unit_price_fen,
        serial="C-2",
    )
    db.commit()

    moves = db.scalars(sa.select(StockMove).where(StockMove.serial == "C-2").order_by(StockMove.created_at))
    assert [(m.kind, m.quantity) for m in moves] == [
        ("receive", 1),
        ("transfer", -1),
        ("transfer", 1),
        ("consume", -1),
    ]
    assert result.discrepancies == []
    with pytest.raises(Problem) as exc:
        stock.transfer(
            session=db, actor=clerk, source=warehouse, destination=van, part=part, quantity=1, serials=["C-2"]
        )
    assert exc.value.code == "stock.serial_not_here"


def test_balances_are_written_only_through_the_ledger(db: Session, clerk: Principal) -> None:
    part = factories.PartFactory()
    warehouse = factories.WarehouseFactory()
    stock.receive(session=db, actor=clerk, location=warehouse, part=part, quantity=4)
    stock.write_off(session=db, actor=clerk, location=warehouse, part=part, quantity=1, reason="运输损坏")
    db.commit()
    balance = db.scalars(sa.select(StockBalance).where(StockBalance.part_id == part.id)).one()
    assert balance.quantity == 3
    assert balance.technician_id is None
    assert db.get(StockLocation, warehouse.id) is not None
    with pytest.raises(Problem) as exc:
        stock.write_off(session=db, actor=clerk, location=warehouse, part=part, quantity=1, reason="  ")
    assert exc.value.code == "stock.reason_required"
