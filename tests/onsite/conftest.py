"""Fixtures for on-site and acceptance tests: a device-mutation runner and jobs at the door."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.models import Role, Technician, WorkOrder, new_id
from backend.policy import Principal
from backend.sync.handlers import load_handlers
from backend.sync.registry import MUTATIONS, Flag, MutationContext
from tests import factories


def tech_principal(technician: Technician) -> Principal:
    return Principal(
        role=Role.TECHNICIAN,
        user_id=technician.user_id,
        technician_id=technician.id,
        display_name=technician.user.display_name,
    )


class Pushed:
    """One mutation's outcome as the push endpoint reports it."""

    def __init__(self, result: dict[str, Any] | None, problem: Problem | None, flags: list[Flag]) -> None:
        self.result, self.problem, self.flags = result, problem, flags

    @property
    def status(self) -> str:
        if self.problem is None:
            return "applied"
        return "conflict" if self.problem.status == 409 else "rejected"

    @property
    def flag_codes(self) -> list[str]:
        return [flag.code for flag in self.flags]


@pytest.fixture
def push(db: Session, app: Flask) -> Any:
    """`push(technician, name, args)` runs one device mutation as `POST /sync/push` does: args loaded
    by the mutation's schema, the handler in a savepoint, committed, or rolled back on a problem."""
    load_handlers()

    def run(technician: Technician, name: str, args: dict[str, Any]) -> Pushed:
        registered = MUTATIONS[name]
        ctx = MutationContext(
            session=db,
            principal=tech_principal(technician),
            device_id="device-1",
            mutation_id=new_id(),
            client_time=None,
            base_version=None,
            settings=app.config,
        )
        try:
            try:
                loaded = registered.schema().load(args)
            except ma.ValidationError as exc:
                raise Problem(
                    "mutation.invalid_args", "Invalid arguments.", status=422, errors=exc.messages
                ) from None
            with db.begin_nested():
                result = registered.handler(ctx, loaded)
        except Problem as problem:
            db.commit()
            return Pushed(None, problem, ctx.flags)
        db.commit()
        db.expire_all()
        return Pushed(result, None, ctx.flags)

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
