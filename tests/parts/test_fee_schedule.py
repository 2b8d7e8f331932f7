"""Finance sets the fee schedule (labour rates, travel fees, billing policy); everyone reads it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.kernel.roles import Role
from backend.parts.billing_models import BillingPolicy, LabourRate, TravelFee
from tests import factories

RATE = {
    "product_category": "washing_machine",
    "fault_type": "drum",
    "difficulty": "complex",
    "amount_fen": 15_000,
    "description": "洗衣机换滚筒",
}


@pytest.fixture
def finance(auth: Any, db: Session) -> dict[str, str]:
    """Headers of a finance clerk, who may change the fee schedule."""
    return auth(factories.UserFactory(role=Role.FINANCE, display_name="钱会计"))


@pytest.fixture
def technician(auth: Any, db: Session) -> dict[str, str]:
    """Headers of a technician, who may read the fee schedule but not change it."""
    return auth(factories.TechnicianFactory().user)


def rows(db: Session, model: type[Any]) -> list[Any]:
    db.expire_all()
    return list(db.scalars(sa.select(model)))


def test_setting_a_labour_rate_twice_reprices_the_one_row(db, client, finance, technician) -> None:
    first = client.put("/fee-schedule/labour-rates", json=RATE, headers=finance)
    second = client.put(
        "/fee-schedule/labour-rates",
        json={**RATE, "amount_fen": 18_000, "description": "洗衣机换滚筒(含轴承)"},
        headers=finance,
    )

    assert first.status_code == second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["version"] == first.get_json()["version"] + 1
    [rate] = rows(db, LabourRate)
    assert (rate.amount_fen, rate.description) == (18_000, "洗衣机换滚筒(含轴承)")
    schedule = client.get("/fee-schedule", headers=technician).get_json()
    assert [(r["fault_type"], r["amount_fen"], r["description"]) for r in schedule["labour"]] == [
        ("drum", 18_000, "洗衣机换滚筒(含轴承)")
    ]


def test_a_labour_rate_for_another_difficulty_is_a_row_of_its_own(db, client, finance) -> None:
    client.put("/fee-schedule/labour-rates", json=RATE, headers=finance)
    client.put("/fee-schedule/labour-rates", json={**RATE, "difficulty": "standard"}, headers=finance)

    assert sorted(rate.difficulty for rate in rows(db, LabourRate)) == ["complex", "standard"]


def test_setting_a_travel_fee_twice_reprices_the_one_row(db, client, finance, technician) -> None:
    region = factories.RegionFactory()

    first = client.put(
        "/fee-schedule/travel-fees", json={"region_key": region.id, "amount_fen": 5_000}, headers=finance
    )
    second = client.put(
        "/fee-schedule/travel-fees", json={"region_key": region.id, "amount_fen": 6_000}, headers=finance
    )

    assert first.status_code == second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    [fee] = rows(db, TravelFee)
    assert fee.amount_fen == 6_000
    schedule = client.get("/fee-schedule", headers=technician).get_json()
    assert [(f["region_key"], f["amount_fen"]) for f in schedule["travel"]] == [(region.id, 6_000)]


def test_setting_the_billing_policy_twice_keeps_the_one_default_row(db, client, finance, technician) -> None:
    first = client.put(
        "/fee-schedule/policy",
        json={"consent_threshold_fen": 30_000, "quote_valid_hours": 48},
        headers=finance,
    )
    second = client.put(
        "/fee-schedule/policy",
        json={"consent_threshold_fen": 40_000, "quote_valid_hours": 24},
        headers=finance,
    )

    assert first.status_code == second.status_code == 200
    assert second.get_json() == {"consent_threshold_fen": 40_000, "quote_valid_hours": 24}
    [policy] = rows(db, BillingPolicy)
    assert (policy.id, policy.consent_threshold_fen, policy.quote_valid_hours) == ("default", 40_000, 24)
    schedule = client.get("/fee-schedule", headers=technician).get_json()
    assert schedule["policy"] == {"consent_threshold_fen": 40_000, "quote_valid_hours": 24}


def test_a_technician_cannot_change_the_fee_schedule_and_nothing_changes(db, client, technician) -> None:
    factories.LabourRateFactory(**{**RATE, "amount_fen": 8_000})
    factories.TravelFeeFactory(region_key="*", amount_fen=3_000)
    before = client.get("/fee-schedule", headers=technician).get_json()

    refused = [
        client.put("/fee-schedule/labour-rates", json=RATE, headers=technician),
        client.put(
            "/fee-schedule/travel-fees", json={"region_key": "*", "amount_fen": 9_000}, headers=technician
        ),
        client.put(
            "/fee-schedule/policy",
            json={"consent_threshold_fen": 1, "quote_valid_hours": 1},
            headers=technician,
        ),
    ]

    assert [(r.status_code, r.get_json()["code"]) for r in refused] == [(403, "auth.forbidden")] * 3
    assert client.get("/fee-schedule", headers=technician).get_json() == before
    assert [rate.amount_fen for rate in rows(db, LabourRate)] == [8_000]
    assert [fee.amount_fen for fee in rows(db, TravelFee)] == [3_000]
    assert rows(db, BillingPolicy) == []
