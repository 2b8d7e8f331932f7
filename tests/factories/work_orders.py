"""Factories for work orders (each commits what it builds)."""

from __future__ import annotations

from datetime import timedelta

import factory

from backend.kernel.base import utcnow
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import Status
from tests.factories.accounts import CustomerFactory, ProductFactory
from tests.factories.base import Base


class WorkOrderFactory(Base):
    """A work order in any status; pass `assignee=technician` for statuses past `new`."""

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory, customer=factory.SelfAttribute("..customer"))
    number = factory.Sequence(lambda n: f"WO-20261123-{n + 1:04d}")
    service_mode = "on_site"
    priority = "normal"
    hazards = factory.LazyFunction(list)
    product_category = "air_conditioner"
    fault_type = "no_cooling"
    fault_description = "空调不制冷"
    status = Status.NEW
    assignee = None
    lat = 34.77
    lng = 113.66
    respond_due_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=24))
    resolve_due_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=72))

    class Meta:
        model = WorkOrder
