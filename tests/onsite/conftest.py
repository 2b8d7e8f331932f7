"""Fixtures for on-site and acceptance tests: a device-mutation runner and jobs at the door."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.kernel.roles import Role
from backend.policy import Principal
from backend.work_orders.models import WorkOrder
from tests import factories
from tests.mutations import MutationOutcome, run_mutation


def tech_principal(technician: Technician) -> Principal:
    return Principal(
        role=Role.TECHNICIAN,
        user_id=technician.user_id,
        technician_id=technician.id,
        display_name=technician.user.display_name,
    )


Pushed = MutationOutcome


@pytest.fixture
def push(db: Session, app: Flask) -> Any:
    """`push(technician, name, args)` runs one device mutation as `POST /sync/push` does."""

    def run(technician: Technician, name: str, args: dict[str, Any]) -> MutationOutcome:
        return run_mutation(db, app, tech_principal(technician), name, args)

    return run


@pytest.fixture
def technician(db: Session) -> Technician:
    """A technician holding valid electrician, gas and height certificates."""
    tech = factories.TechnicianFactory(user__display_name="李师傅")
    for kind in ("electrician", "gas", "height"):
        factories.CertificateFactory(technician=tech, type=kind)
    return tech


@pytest.fixture
def job(db: Session, technician: Technician) -> Any:
    """`job(status, hazards=[...])` -> a work order of the technician's at the customer's address."""

    def make(status: str = "on_site", hazards: list[str] | None = None, **kwargs: Any) -> WorkOrder:
        customer = kwargs.pop("customer", None) or factories.CustomerFactory(name="张女士")
        address = factories.AddressFactory(customer=customer)
        return factories.WorkOrderFactory(
            customer=customer,
            address_id=address.id,
            assignee=technician,
            status=status,
            hazards=hazards or [],
            **kwargs,
        )

    return make


def days_from_today(days: int) -> date:
    return date.today() + timedelta(days=days)
