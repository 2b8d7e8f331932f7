"""Factories for geo dispatch: positions and auto-assignment rules (each commits what it builds)."""

from __future__ import annotations

from datetime import time as _time

import factory

from backend.accounts.technicians import Technician
from backend.geo.models import AutoAssignRule, TechnicianPosition
from backend.kernel.base import utcnow
from tests.factories.accounts import RegionFactory, ShiftFactory, TechnicianFactory
from tests.factories.base import Base


def on_duty_technician(**kwargs: object) -> Technician:
    """A technician with a round-the-clock shift every day of the week (so shifts never get in the way)."""
    tech = TechnicianFactory(**kwargs)
    for weekday in range(7):
        ShiftFactory(technician=tech, weekday=weekday, starts_at=_time(0, 0), ends_at=_time(0, 0))
    return tech


class TechnicianPositionFactory(Base):
    class Meta:
        model = TechnicianPosition

    technician_id = factory.LazyFunction(lambda: TechnicianFactory().id)
    lat = 34.75
    lng = 113.63
    accuracy_m = 15.0
    reported_at = factory.LazyFunction(utcnow)


class AutoAssignRuleFactory(Base):
    class Meta:
        model = AutoAssignRule

    region_id = factory.LazyFunction(lambda: RegionFactory().id)
    enabled = True
    radius_km = 15.0
    strategy = "nearest"
    accept_timeout_minutes = 30
