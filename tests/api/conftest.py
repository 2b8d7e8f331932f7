"""Fixtures for API tests: staff users by role, and row counts for 'nothing was written' assertions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.users import User
from backend.work_orders.models import RepairRequest, WorkOrder, WorkOrderEvent
from tests import factories


@pytest.fixture
def staff(db: Session) -> Any:
    """`staff("dispatcher")` -> a user of that role (one per role per test)."""
    made: dict[str, User] = {}

    def make(role: str) -> User:
        if role not in made:
            made[role] = factories.UserFactory(role=role)
        return made[role]

    return make


@pytest.fixture
def row_counts(db: Session) -> Any:
    """`row_counts()` -> how many requests, work orders and events exist (to prove nothing was written)."""

    def count() -> dict[str, int]:
        db.expire_all()
        return {
            model.__tablename__: db.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (RepairRequest, WorkOrder, WorkOrderEvent)
        }

    return count
