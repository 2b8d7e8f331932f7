"""Fixtures for parts, stock and money tests: principals for each role and a mutation runner."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import backend.parts.mutations  # noqa: F401 - registers the handlers
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.kernel.roles import Role
from backend.policy import Principal
from tests import factories
from tests.mutations import MutationOutcome, run_mutation


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


@pytest.fixture
def push(db: Session, app: Flask) -> Any:
    """`push(principal, name, args)` runs one device mutation as `POST /sync/push` does."""

    def run(principal: Principal, name: str, args: dict[str, Any]) -> MutationOutcome:
        return run_mutation(db, app, principal, name, args)

    return run
