"""Fixtures for parts, stock and money tests: principals for each role and a mutation runner."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from sqlalchemy.orm import Session

import backend.services.parts_mutations  # noqa: F401 - registers the handlers
from backend.errors import Problem
from backend.models import Role, Technician, User, new_id
from backend.policy import Principal
from backend.sync.registry import MUTATIONS, Flag, MutationContext
from tests import factories


def technician_principal(technician: Technician) -> Principal:
    return Principal(
        role=Role.TECHNICIAN,
        user_id=technician.user_id,
        technician_id=technician.id,
        display_name=technician.user.display_name,
    )


def staff_principal(user: User) -> Principal:
    return Principal(role=user.role, user_id=user.id, display_name=user.display_name)


@pytest.fixture
def warehouse_user(db: Session) -> User:
    """A warehouse clerk."""
    return factories.UserFactory(role=Role.WAREHOUSE, display_name="王仓管")


@pytest.fixture
def clerk(warehouse_user: User) -> Principal:
    """The warehouse clerk as a principal, for calling services directly."""
    return staff_principal(warehouse_user)


class MutationOutcome:
    def __init__(self, result: dict[str, Any] | None, problem: Problem | None, flags: list[Flag]) -> None:
        self.result, self.problem, self.flags = result, problem, flags

    @property
    def status(self) -> str:
        if self.problem is None:
            return "applied"
        return "conflict" if self.problem.status == 409 else "rejected"


@pytest.fixture
def push(db: Session, app: Flask) -> Any:
    """`push(principal, name, args)` runs one device mutation the way the push endpoint does: args
    loaded by the mutation's schema, the handler in a savepoint, committed or rolled back."""

    def run(principal: Principal, name: str, args: dict[str, Any]) -> MutationOutcome:
        registered = MUTATIONS[name]
        ctx = MutationContext(
            session=db,
            principal=principal,
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
            return MutationOutcome(None, problem, ctx.flags)
        db.commit()
        return MutationOutcome(result, None, ctx.flags)

    return run
