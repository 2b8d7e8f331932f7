"""A stock discrepancy is closed once, by a named warehouse user, with what was done about it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.parts import stock, warehouse
from backend.parts.models import MoveKind, StockDiscrepancy
from backend.policy import Principal
from tests import factories


def open_discrepancy(db: Session, clerk: Principal) -> StockDiscrepancy:
    """A warehouse adjusted below zero: the ledger raises a negative-balance discrepancy."""
    part = factories.PartFactory(sku="RELAY-3")
    location = factories.WarehouseFactory()
    spec = stock.MoveSpec(part, location, MoveKind.ADJUSTMENT, -2, clerk, allow_negative=True)
    stock.post_move(session=db, spec=spec)
    db.commit()
    (record,) = spec.discrepancies
    return record


def test_resolving_records_who_when_and_what(db, clerk) -> None:
    record = open_discrepancy(db, clerk)

    resolved = warehouse.resolve_discrepancy(
        session=db, discrepancy_id=record.id, by=clerk, resolution="late transfer booked"
    )

    assert (resolved.status, resolved.resolution) == ("resolved", "late transfer booked")
    assert resolved.resolved_by_user_id == clerk.user_id and resolved.resolved_at is not None


def test_a_resolved_discrepancy_cannot_be_resolved_again_and_keeps_its_first_resolution(db, clerk) -> None:
    record = open_discrepancy(db, clerk)
    warehouse.resolve_discrepancy(session=db, discrepancy_id=record.id, by=clerk, resolution="count posted")
    db.commit()

    with pytest.raises(Problem) as again:
        warehouse.resolve_discrepancy(session=db, discrepancy_id=record.id, by=clerk, resolution="other")

    assert (again.value.code, again.value.status) == ("stock_discrepancy.resolved", 409)
    db.expire_all()
    assert db.get(StockDiscrepancy, record.id).resolution == "count posted"


def test_an_unknown_discrepancy_is_not_found(db, clerk) -> None:
    with pytest.raises(Problem) as missing:
        warehouse.resolve_discrepancy(session=db, discrepancy_id="nope", by=clerk, resolution="x")

    assert (missing.value.code, missing.value.status) == ("stock_discrepancy.not_found", 404)


def test_the_warehouse_resolves_over_http_and_the_lists_move_it(
    client, db, auth, clerk, warehouse_user
) -> None:
    record = open_discrepancy(db, clerk)
    headers: dict[str, Any] = auth(warehouse_user)

    first = client.post(
        f"/stock/discrepancies/{record.id}/resolve", json={"resolution": "recounted"}, headers=headers
    )
    second = client.post(
        f"/stock/discrepancies/{record.id}/resolve", json={"resolution": "again"}, headers=headers
    )
    by_technician = client.post(
        f"/stock/discrepancies/{record.id}/resolve",
        json={"resolution": "mine"},
        headers=auth(factories.TechnicianFactory().user),
    )

    assert first.status_code == 200 and first.get_json()["resolution"] == "recounted"
    assert second.status_code == 409 and second.get_json()["code"] == "stock_discrepancy.resolved"
    assert by_technician.status_code == 403
    assert client.get("/stock/discrepancies", headers=headers).get_json()["items"] == []
    resolved = client.get(
        "/stock/discrepancies", query_string={"status": "resolved"}, headers=headers
    ).get_json()["items"]
    assert [(d["id"], d["resolution"]) for d in resolved] == [(record.id, "recounted")]
